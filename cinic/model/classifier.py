"""A trained model as one thing: the network, the normalisation it was trained with, its classes
and where it came from, taking what a user has (uint8 pictures).

`cinic.runs.checkpoints.load_model` gives one; evaluation, prediction, explanations, feature
maps, the run diff and the export take one. The network is put in eval mode once, when the
Classifier is made, and no call changes it afterwards: the app shares one Classifier between
every browser tab, so a call that needs hooks (Grad-CAM, feature maps) puts them on its own
`view()`, a copy of the module tree over the same weight tensors.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from cinic.errors import CinicError
from cinic.model.lenet import ModelSpec


class PictureError(CinicError):
    """Pictures that are not uint8 RGB arrays; the message gives the shape and type received."""


def normalize(batch_uint8: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              channels_last: bool = False) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float32 (x/255 - mean) / std, on the batch's device: the one arithmetic
    of training, evaluation and the exported graph, so all three give the same floats."""
    x = batch_uint8.float().div_(255.0).sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def as_images(pictures) -> torch.Tensor:
    """uint8 H x W x 3 picture(s) (one array, an N x H x W x 3 array or a list of arrays, as
    `cinic.data.images.to_model_input` gives them) -> uint8 N x 3 x H x W tensor of its own."""
    array = np.asarray(pictures)
    if array.ndim == 3:
        array = array[None]
    if array.dtype != np.uint8 or array.ndim != 4 or array.shape[3] != 3:
        raise PictureError(f"pictures must be H x W x 3 uint8 arrays, got {array.shape} {array.dtype}")
    # torch refuses to wrap a read-only array (a picture may be one); contiguous() copies in any case
    return torch.from_numpy(array if array.flags.writeable else array.copy()).permute(0, 3, 1, 2).contiguous()


@dataclass(frozen=True, eq=False)
class Classifier:
    """A network with its normalisation and classes; `spec`, `epoch`, `best_valid_acc` and `run_path`
    say where it came from (None for a network that was not loaded from a run)."""

    network: nn.Module
    mean: tuple[float, ...]
    std: tuple[float, ...]
    classes: tuple[str, ...]
    spec: ModelSpec | None = None
    epoch: int | None = None
    best_valid_acc: float | None = None
    run_path: Path | None = None

    def __post_init__(self):
        for name in ("mean", "std", "classes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self.network.eval()  # once: no call flips it (a shared model's mode is every user's)

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters(), torch.empty(0)).device

    def normalise(self, images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """uint8 N x 3 x H x W (on any device) -> the normalised float32 the network reads, on its device."""
        device = self.device
        mean, std = (torch.tensor(v, dtype=torch.float32, device=device) for v in (self.mean, self.std))
        return normalize(images.to(device, non_blocking=True), mean, std, channels_last)

    def prepare(self, pictures) -> torch.Tensor:
        """uint8 H x W x 3 or N x H x W x 3 picture(s) -> N x 3 x H x W normalised float32 on the device."""
        return self.normalise(as_images(pictures))

    def forward(self, images: torch.Tensor, channels_last: bool = False) -> torch.Tensor:
        """Logits (on the device) of uint8 N x 3 x H x W images; the caller chooses grad and precision."""
        return self.network(self.normalise(images, channels_last))

    def view(self) -> nn.Module:
        """The network for one call: a copy of its module tree whose parameters and buffers are new
        tensor objects over the same memory. Hooks, requires_grad or a mode set on it stay with the
        call; the weights are shared, not copied."""
        shared = {id(t): (nn.Parameter(t.detach(), t.requires_grad) if isinstance(t, nn.Parameter) else t.detach())
                  for t in [*self.network.parameters(), *self.network.buffers()]}
        return copy.deepcopy(self.network, memo=shared)

    def with_preprocessing(self) -> "WithPreprocessing":
        """A module of its own (over a view) for the export: uint8 images in, logits and probabilities out."""
        return WithPreprocessing(self.view(), self.mean, self.std).eval()


class WithPreprocessing(nn.Module):
    """A network with its input handling inside: uint8 N x 3 x H x W in, logits and probabilities out."""

    def __init__(self, network: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.network = network
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.network(normalize(images, self.mean, self.std))
        return logits, logits.softmax(dim=1)
