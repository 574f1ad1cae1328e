"""The bare loop: the limit the project's training loop is measured against.

The same network, on the training split already decoded, normalised once and laid
out as the convolution wants it, in memory on the device; Adam, batch 64,
cross-entropy, the same precision and memory format as the project's loop, and
nothing else: no shuffling, no augmentation, no schedule, no metrics, no checks.

`GapLoop` adds back, one by one, what the project's loop does beyond that
(`PARTS`); with every part on it computes what `cinic.training.loop.train_epoch` computes,
so switching one part off alone tells what that part costs. The bench times
both against `train_epoch` itself (`python -m cinic bench --gap`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from cinic.model.lenet import ModelSpec, build_model
from cinic.runs.config import TrainConfig, lr_at
from cinic.model.device import autocast_for
from cinic.training.loader import DeviceData, augment_batch, normalize
from cinic.training.loop import LOG_EVERY, SpeedSettings, make_optimizer

# What the project's loop does beyond the bare loop, each switched off alone by the bench.
PARTS = {
    "batches": "shuffled batches gathered and normalised from uint8 each step",
    "augment": "on-device flips and crops",
    "input_norm": "the model's input normalisation (contrast)",
    "lr_per_step": "the learning rate set at every step from the schedule",
    "recipe_math": "AdamW's weight decay and label smoothing",
    "bookkeeping": "loss and accuracy sums, the stop-file check and the metrics record every 10 steps",
}


@dataclass
class GapLoop:
    """One model's loop with the `parts` of the project's loop that are on."""

    config: TrainConfig
    parts: frozenset
    device: torch.device
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    data: DeviceData            # uint8 on the device, for the "batches" part
    normalised: torch.Tensor    # the split normalised once, for the bare loop
    labels: torch.Tensor
    steps: int
    run: object = None          # the RunFolder bookkeeping checks and records into

    @property
    def images(self) -> int:
        return len(self.labels)


def build_loop(config: TrainConfig, images: torch.Tensor, labels: torch.Tensor, device: torch.device,
               speed: SpeedSettings, parts=()) -> GapLoop:
    """The loop of `config`'s model with `parts` on (() is the bare loop, PARTS all of them)."""
    parts = frozenset(parts)
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f"unknown loop parts {sorted(unknown)}: use {', '.join(PARTS)}")
    spec = ModelSpec.from_dict(config.model)
    if "input_norm" not in parts:
        spec = dataclasses.replace(spec, input_norm="none")
    torch.manual_seed(config.seed)
    model = build_model(spec).to(device)
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if "recipe_math" in parts:
        optimizer = make_optimizer(model, config)
    else:
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    data = DeviceData(images, labels, device, config.mean, config.std, speed.channels_last)
    normalised = normalize(data.images, data.mean, data.std, speed.channels_last)
    generator = torch.Generator(device=device if device.type == "cuda" else "cpu").manual_seed(config.seed)
    steps = -(-len(labels) // config.batch_size)
    return GapLoop(config, parts, device, model, optimizer, generator, data, normalised, data.labels, steps)


def _batches(b: GapLoop):
    """The loop's batches: as train_epoch draws them with "batches" (and "augment") on, else slices
    of the split normalised once (flipped and cropped with "augment" on)."""
    c = b.config
    if "batches" in b.parts:
        if "augment" in b.parts:
            yield from b.data.augmented_batches(c.batch_size, b.generator, c.flip, c.crop_pad)
        else:
            yield from b.data.batches(c.batch_size, b.generator, shuffle=True)
        return
    for start in range(0, b.images, c.batch_size):
        x, y = b.normalised[start:start + c.batch_size], b.labels[start:start + c.batch_size]
        yield (augment_batch(x, b.generator, c.flip, c.crop_pad) if "augment" in b.parts else x), y


def gap_epoch(b: GapLoop, epoch: int, run=None) -> None:
    """One epoch of the loop with its parts; bookkeeping checks and records into `run` (a RunFolder)."""
    c, parts, model, optimizer = b.config, b.parts, b.model, b.optimizer
    smoothing = c.label_smoothing if "recipe_math" in parts else 0.0
    model.train()
    loss_sum = torch.zeros((), device=b.device)
    correct = torch.zeros((), device=b.device, dtype=torch.long)
    for step, (x, y) in enumerate(_batches(b)):
        if "bookkeeping" in parts and step % LOG_EVERY == 0 and run.stop_requested():
            raise RuntimeError("stop requested")
        if "lr_per_step" in parts:
            for group in optimizer.param_groups:
                group["lr"] = lr_at(c, epoch - 1 + step / b.steps)
        with autocast_for(b.device, c.amp):
            logits = model(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if "bookkeeping" in parts:
            loss_sum += loss.detach() * y.shape[0]
            correct += (logits.argmax(1) == y).sum()
            if step % LOG_EVERY == 0:
                run.append_metrics(dict(kind="batch", epoch=epoch, step=(epoch - 1) * b.steps + step,
                                        loss=round(loss.item(), 5)))
    if "bookkeeping" in parts:
        loss_sum.item(), correct.item()


def timed_gap_epoch(b: GapLoop, epoch: int, run=None) -> float:
    started = time.perf_counter()
    gap_epoch(b, epoch, run)
    if b.device.type == "cuda":
        torch.cuda.synchronize(b.device)
    return time.perf_counter() - started
