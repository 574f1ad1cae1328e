"""Data resident on the training device, batches drawn by index.

A LeNet is tiny: with PNG decoding, ToTensor and a DataLoader per epoch most of
the time goes to moving pixels, not learning. Here the decoded uint8 images
move to the device once; each batch is an index into them, turned into
normalised floats (and flipped or cropped when asked) on the device itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalize(batch_uint8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              channels_last: bool = False) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float32 (x/255 - mean) / std, on the batch's device."""
    x = batch_uint8.float().div_(255.0).sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def augment_batch(x: torch.Tensor, generator: torch.Generator, flip: bool, crop_pad: int) -> torch.Tensor:
    """Random horizontal flips and random crops (zero padding) applied to a batch at once.

    One gather does both: each output pixel is read from the padded batch at its
    image's crop offset, its column mirrored where the image is flipped. The random
    draws (flips, then row and column offsets) and every value are those of flipping
    then cropping in turn (tests/test_loader.py checks it bit for bit); the one
    gather of whole pixels (all channels at once) measured 3x faster than the flip and two
    gathers it replaces, and leaves the batch channels-last (N x H x W x C in memory), as
    the convolutions want it on the CPU and with cuDNN (bench/README.md).
    """
    if not flip and crop_pad <= 0:
        return x
    n, c, h, w = x.shape
    device = x.device
    flipped = torch.rand(n, device=device, generator=generator) < 0.5 if flip else None
    rows = torch.arange(h, device=device).view(1, h)
    cols = torch.arange(w, device=device).view(1, w)
    if crop_pad > 0:
        rows = rows + torch.randint(0, 2 * crop_pad + 1, (n, 1), device=device, generator=generator)
        cols = cols + torch.randint(0, 2 * crop_pad + 1, (n, 1), device=device, generator=generator)
        x = F.pad(x, (crop_pad,) * 4)
    height, width = x.shape[2], x.shape[3]
    if flipped is not None:  # the mirror of the padded image: its column j is column width-1-j
        cols = torch.where(flipped.view(n, 1), width - 1 - cols, cols)
    # Every output pixel's place among all the batch's padded pixels, then one row gather.
    pixel = (torch.arange(n, device=device).view(n, 1, 1) * (height * width)
             + rows.view(-1, h, 1) * width + cols.view(-1, 1, w))
    pixels = x.permute(0, 2, 3, 1).reshape(n * height * width, c)  # a view when x is channels-last
    return pixels.index_select(0, pixel.view(-1)).view(n, h, w, c).permute(0, 3, 1, 2)


class DeviceData:
    """A split's images and labels on one device, served in batches by index.

    When the images do not fit the device (a free-memory check on CUDA), or
    `stream` asks for it, they stay in pinned host memory and each batch is
    copied over as it is drawn.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
                 mean, std, channels_last: bool = False, stream: bool = False):
        self.device = torch.device(device)
        self.on_device = not stream and fits_on_device(images, self.device)
        if self.on_device:
            self.images = images.to(self.device, non_blocking=True)
        else:
            self.images = images.pin_memory() if self.device.type == "cuda" else images
        self.labels = labels.to(self.device)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device)
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device)
        self.channels_last = channels_last

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batch(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised float images and labels for these indices."""
        if self.on_device:
            raw = self.images[index.to(self.device)]
        else:
            raw = self.images[index.cpu()].to(self.device, non_blocking=True)
        x = normalize(raw, self.mean, self.std, self.channels_last)
        return x, self.labels[index.to(self.device)]

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                shuffle: bool = False):
        """Yield (x, y) over the whole split; shuffled with `generator` when asked."""
        n = len(self)
        order = (torch.randperm(n, generator=generator, device=generator.device if generator else "cpu")
                 if shuffle else torch.arange(n))
        for start in range(0, n, batch_size):
            yield self.batch(order[start:start + batch_size])


def fits_on_device(images: torch.Tensor, device: torch.device) -> bool:
    """CPU always 'fits'; CUDA when the images take at most half of the free memory."""
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() <= free // 2
