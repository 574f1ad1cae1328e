"""The device a model runs on, and the speed settings that pay there.

Training and the per-epoch validation take their precision and memory format
from here (bf16 where the device has it, measured in bench/README.md). Every
prediction a person sees or a file records runs in true float32
(`exact_float32`), so the same image gets the same answer on every path,
whatever its batch or neighbours, and an exported model reproduces it.
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch

from cinic.errors import CinicError


class DeviceError(CinicError):
    """A device that was asked for and is not there; the message says what to use instead."""


def choose_device(requested: str = "auto") -> torch.device:
    """CUDA when present, else Apple MPS, else CPU; an explicit request must be available."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda", "mps"):  # meta, xla, ...: nothing trains there
        raise DeviceError(f"unknown device {requested!r}: use auto, cpu, cuda, cuda:N or mps")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError("CUDA was asked for but this machine has no usable CUDA GPU; "
                          "use --device cpu (or auto)")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise DeviceError(f"{requested} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DeviceError("Apple MPS was asked for but is not available here; use --device cpu")
    return device


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads{', bf16' if cpu_has_native_bf16() else ''})"
    return str(device)


def cpu_has_native_bf16() -> bool:
    """bf16 in hardware (AMX or AVX512-BF16); elsewhere bf16 is emulated and slower than fp32."""
    try:
        capabilities = torch.cpu.get_capabilities()
    except (AttributeError, RuntimeError):
        return False
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


def uses_bf16(device: torch.device, enabled: bool) -> bool:
    """bf16 autocast (no loss scaling needed) on CUDA, and on CPUs with bf16 in hardware, where
    `python -m cinic bench --knobs amp` measured best's epoch 2.1x faster (bench/README.md)
    and evaluation 1.8x faster with channels_last."""
    return enabled and (device.type == "cuda" or (device.type == "cpu" and cpu_has_native_bf16()))


def uses_channels_last(device: torch.device) -> bool:
    """NHWC convolutions: faster on CUDA (cuDNN) and on the CPU (oneDNN), measured by the bench."""
    return device.type in ("cuda", "cpu")


def autocast_for(device: torch.device, enabled: bool):
    if uses_bf16(device, enabled):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


@contextmanager
def exact_float32(device: torch.device):
    """True float32 for one block: no autocast is entered here, and on CUDA cuDNN's TF32
    convolutions (its default) are off, since their rounding depends on the algorithm picked
    for each batch shape. bf16 autocast rounds per batch too: a borderline image could flip
    class between a batch of 1 and a batch of 256."""
    if torch.device(device).type != "cuda":
        yield
        return
    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv.fp32_precision = before
