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
    """Random horizontal flips and random crops (zero padding) applied to a batch at once."""
    n = x.shape[0]
    if flip:
        mask = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(mask.view(-1, 1, 1, 1), x.flip(3), x)
    if crop_pad > 0:
        h, w = x.shape[2], x.shape[3]
        padded = F.pad(x, (crop_pad,) * 4)
        # Every image gets its own offset: gather rows and columns by index.
        dy = torch.randint(0, 2 * crop_pad + 1, (n,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * crop_pad + 1, (n,), device=x.device, generator=generator)
        rows = (dy.view(n, 1) + torch.arange(h, device=x.device).view(1, h))
        cols = (dx.view(n, 1) + torch.arange(w, device=x.device).view(1, w))
        c = x.shape[1]
        idx_r = rows.view(n, 1, h, 1).expand(n, c, h, padded.shape[3])
        padded = padded.gather(2, idx_r)
        idx_c = cols.view(n, 1, 1, w).expand(n, c, h, w)
        x = padded.gather(3, idx_c)
    return x


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
