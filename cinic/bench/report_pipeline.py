"""The course report's training pipeline, kept as the baseline `python -m cinic bench` measures against.

torchvision's ImageFolder, PIL decoding, ToTensor and Normalize in DataLoader
workers every epoch, Adam at 0.001, and a per-batch loop that reads the loss
and accuracy back with `.item()`, as the report's notebook did; only the model
is swapped for the preset under test, so both pipelines train the same network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cinic.data.dataset import CLASSES
from cinic.errors import CinicError
from cinic.model.lenet import build_model, get_preset

SEED_LR = 0.001  # the report's Adam learning rate


class SeedPipelineError(CinicError):
    """A folder the report's pipeline cannot read the way ours does."""


@dataclass
class SeedPipeline:
    loader: torch.utils.data.DataLoader
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    device: torch.device
    images: int


def build_seed(split_folder: Path, preset: str, mean, std, batch_size: int, workers: int,
               device: torch.device, seed: int) -> SeedPipeline:
    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
    dataset = datasets.ImageFolder(str(split_folder), transform=transform)
    if tuple(dataset.classes) != CLASSES:
        raise SeedPipelineError(f"{split_folder} has class folders {', '.join(dataset.classes)}; the seed "
                                f"pipeline needs exactly the CINIC-10 classes ({', '.join(CLASSES)}) so labels agree")
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers)
    torch.manual_seed(seed)
    model = build_model(get_preset(preset)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=SEED_LR)
    return SeedPipeline(loader, model, optimizer, device, len(dataset))


def seed_epoch(s: SeedPipeline) -> None:
    """One epoch of the report's loop (loss and accuracy read with .item() every batch)."""
    criterion = torch.nn.CrossEntropyLoss()
    s.model.train()
    running_loss, correct, total = 0.0, 0, 0
    for inputs, labels in s.loader:
        inputs, labels = inputs.to(s.device), labels.to(s.device)
        s.optimizer.zero_grad()
        outputs = s.model(inputs)
        loss = criterion(outputs, labels)
        loss.backward()
        s.optimizer.step()
        running_loss += loss.item()
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum().item()
