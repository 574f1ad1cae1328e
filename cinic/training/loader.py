"""Data resident on the training device, batches drawn by index.

A LeNet is tiny: with PNG decoding, ToTensor and a DataLoader per epoch most of
the time goes to moving pixels, not learning. Here the decoded uint8 images
move to the device once; each batch is an index into them, turned into
normalised floats (and flipped or cropped when asked) on the device itself.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cinic.model.classifier import normalize  # the arithmetic a trained model keeps with it


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
    padded = F.pad(x, (crop_pad,) * 4) if crop_pad > 0 else x
    pixels = padded.permute(0, 2, 3, 1).reshape(-1, c)  # a view when x is channels-last
    images = torch.arange(n, device=x.device)
    return pixels.index_select(0, _pixel_index(images, (h, w), crop_pad, generator, flip)).view(
        n, h, w, c).permute(0, 3, 1, 2)


def _pixel_index(images: torch.Tensor, size: tuple[int, int], crop_pad: int, generator: torch.Generator,
                 flip: bool) -> torch.Tensor:
    """Where each output pixel of these images lies among the pixels of their padded copies (all the
    images one after another, N x H' x W' rows): their random flips and crop offsets, drawn in that
    order, the column mirrored for a flipped image (column j of a padded mirror is column W'-1-j)."""
    n, (h, w), device = images.shape[0], size, images.device
    height, width = h + 2 * crop_pad, w + 2 * crop_pad
    flipped = torch.rand(n, device=device, generator=generator) < 0.5 if flip else None
    rows = torch.arange(h, device=device).view(1, h)
    cols = torch.arange(w, device=device).view(1, w)
    if crop_pad > 0:
        rows = rows + torch.randint(0, 2 * crop_pad + 1, (n, 1), device=device, generator=generator)
        cols = cols + torch.randint(0, 2 * crop_pad + 1, (n, 1), device=device, generator=generator)
    if flipped is not None:
        cols = torch.where(flipped.view(n, 1), width - 1 - cols, cols)
    return (images.view(n, 1, 1) * (height * width) + rows.view(-1, h, 1) * width + cols.view(-1, 1, w)).view(-1)


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
        self._padded = (None, None)  # (crop_pad, pixels) once augmented batches are drawn

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

    def augmented_batches(self, batch_size: int, generator: torch.Generator, flip: bool, crop_pad: int):
        """Shuffled batches, flipped and cropped: bit for bit what `batches(shuffle=True)` then
        `augment_batch` give, with the same draws. Held on the device, each batch is one gather from
        the split normalised and padded once (channels-last) instead of a gather, a normalisation, a
        pad and a gather per step."""
        if not self.on_device or (not flip and crop_pad <= 0) or not self._padded_fits(crop_pad):
            for x, y in self.batches(batch_size, generator, shuffle=True):
                yield augment_batch(x, generator, flip, crop_pad), y
            return
        pixels = self._padded_pixels(crop_pad)
        n, c, h, w = self.images.shape
        order = torch.randperm(n, generator=generator, device=generator.device)
        for start in range(0, n, batch_size):
            index = order[start:start + batch_size].to(self.device)
            picked = pixels.index_select(0, _pixel_index(index, (h, w), crop_pad, generator, flip))
            yield picked.view(-1, h, w, c).permute(0, 3, 1, 2), self.labels[index]

    def _padded_fits(self, crop_pad: int) -> bool:
        n, c, h, w = self.images.shape
        return self._padded[0] == crop_pad or fits_in_memory(n * c * (h + 2 * crop_pad) * (w + 2 * crop_pad) * 4,
                                                             self.device)

    def _padded_pixels(self, crop_pad: int) -> torch.Tensor:
        """The split normalised and zero-padded once, as (images x H' x W') rows of C values (float32:
        4.5x the uint8 images at pad 2, e.g. 1.9 GB for CINIC-10's train split plus 30,000 augmented)."""
        if self._padded[0] != crop_pad:
            x = F.pad(normalize(self.images, self.mean, self.std), (crop_pad,) * 4)
            self._padded = crop_pad, x.permute(0, 2, 3, 1).reshape(-1, x.shape[1])
        return self._padded[1]

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
    return fits_in_memory(images.numel() * images.element_size(), device)


def fits_in_memory(nbytes: int, device: torch.device) -> bool:
    """CPU always; CUDA when `nbytes` take at most half of the free memory."""
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= free // 2
