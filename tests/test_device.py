"""cinic/model/device.py: which device a request gives, and the speed settings chosen for it.

No GPU is needed: CUDA and MPS availability is patched, and the bf16 / channels_last
/ autocast decisions are taken for device objects, which exist without the hardware.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import pytest
import torch

from cinic.model import device as device_module
from cinic.model.device import (DeviceError, autocast_for, choose_device, cpu_has_native_bf16, describe_device,
                          exact_float32, uses_bf16, uses_channels_last)
from cinic.errors import CinicError

CPU, CUDA, MPS = torch.device("cpu"), torch.device("cuda"), torch.device("mps")


@pytest.fixture
def cpu_only(monkeypatch):
    """A machine with neither CUDA nor MPS, whatever this one has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


@pytest.fixture
def native_bf16(monkeypatch):
    """Set whether the CPU has bf16 in hardware: native_bf16(True) or native_bf16(False)."""
    return lambda present: monkeypatch.setattr(device_module, "cpu_has_native_bf16", lambda: present)


# --- choose_device --------------------------------------------------------------------------------
def test_auto_gives_the_cpu_on_a_machine_without_a_gpu(cpu_only):
    assert choose_device("auto") == CPU
    assert choose_device() == CPU  # auto is the default


def test_auto_prefers_cuda_then_mps(monkeypatch, cpu_only):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert choose_device("auto") == MPS
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert choose_device("auto") == CUDA


def test_an_explicit_cpu_is_the_cpu(cpu_only):
    assert choose_device("cpu") == CPU


def test_an_unknown_device_names_what_to_use():
    with pytest.raises(DeviceError, match=r"^unknown device 'gpu7': use auto, cpu, cuda, cuda:N or mps$"):
        choose_device("gpu7")


def test_cuda_without_cuda_says_to_use_the_cpu(cpu_only):
    for asked in ("cuda", "cuda:0"):
        with pytest.raises(DeviceError, match=r"^CUDA was asked for but this machine has no usable CUDA GPU; "
                                              r"use --device cpu \(or auto\)$"):
            choose_device(asked)


def test_a_gpu_number_past_the_last_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert choose_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(DeviceError, match=r"^cuda:1 does not exist: this machine has 1 GPU\(s\)$"):
        choose_device("cuda:1")


def test_mps_where_there_is_none_says_to_use_the_cpu(cpu_only):
    with pytest.raises(DeviceError, match=r"^Apple MPS was asked for but is not available here; use --device cpu$"):
        choose_device("mps")


def test_device_errors_are_user_errors():
    """The CLI and the pages catch CinicError: a device error shows as one line, not a traceback."""
    assert issubclass(DeviceError, CinicError)


# --- bf16 on the CPU ------------------------------------------------------------------------------
@pytest.mark.parametrize("capabilities, native", [
    ({"amx_bf16": True, "avx512_bf16": False}, True),
    ({"amx_bf16": False, "avx512_bf16": True}, True),
    ({"amx_bf16": False, "avx512_bf16": False, "avx2": True}, False),
    ({}, False),
], ids=["amx", "avx512-bf16", "avx2-only", "nothing-known"])
def test_native_bf16_means_amx_or_avx512_bf16(monkeypatch, capabilities, native):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: capabilities)
    assert cpu_has_native_bf16() is native


def test_a_torch_that_cannot_tell_counts_as_no_bf16(monkeypatch):
    def unknown():
        raise RuntimeError("cpuinfo failed")

    monkeypatch.setattr(torch.cpu, "get_capabilities", unknown)
    assert cpu_has_native_bf16() is False


# --- the speed settings each device gets ----------------------------------------------------------
@pytest.mark.parametrize("device, native, expected", [
    (CPU, True, True),     # AMX / AVX512-BF16: bf16 pays
    (CPU, False, False),   # emulated bf16 is slower than fp32
    (CUDA, False, True),   # the CPU's bf16 does not matter on a GPU
    (CUDA, True, True),
    (MPS, True, False),    # not measured there: fp32
], ids=["cpu-bf16", "cpu-fp32-only", "cuda", "cuda-on-a-bf16-cpu", "mps"])
def test_bf16_where_it_pays_and_only_when_enabled(native_bf16, device, native, expected):
    native_bf16(native)
    assert uses_bf16(device, enabled=True) is expected
    assert uses_bf16(device, enabled=False) is False


@pytest.mark.parametrize("device, expected", [(CPU, True), (CUDA, True), (MPS, False)], ids=str)
def test_channels_last_on_cpu_and_cuda(device, expected):
    assert uses_channels_last(device) is expected


def test_autocast_on_a_bf16_cpu_really_computes_in_bf16(native_bf16):
    native_bf16(True)
    a, b = torch.randn(4, 4), torch.randn(4, 4)
    with autocast_for(CPU, enabled=True):
        assert (a @ b).dtype == torch.bfloat16
    with autocast_for(CPU, enabled=False):
        assert (a @ b).dtype == torch.float32


def test_no_autocast_on_a_cpu_without_bf16(native_bf16):
    native_bf16(False)
    assert isinstance(autocast_for(CPU, enabled=True), nullcontext)
    with autocast_for(CPU, enabled=True):
        assert (torch.randn(4, 4) @ torch.randn(4, 4)).dtype == torch.float32


def test_autocast_decisions_for_gpu_devices(native_bf16):
    native_bf16(False)
    with warnings.catch_warnings():  # without CUDA, torch warns that it disables the context: fine here
        warnings.simplefilter("ignore")
        cuda = autocast_for(CUDA, enabled=True)
    assert isinstance(cuda, torch.autocast) and cuda.device == "cuda" and cuda.fast_dtype == torch.bfloat16
    assert isinstance(autocast_for(CUDA, enabled=False), nullcontext)
    assert isinstance(autocast_for(MPS, enabled=True), nullcontext)


def test_describe_the_cpu_says_threads_and_bf16(native_bf16):
    native_bf16(True)
    assert describe_device(CPU) == f"cpu ({torch.get_num_threads()} threads, bf16)"
    native_bf16(False)
    assert describe_device(CPU) == f"cpu ({torch.get_num_threads()} threads)"


# --- exact float32 for predictions -------------------------------------------------------------------
@pytest.fixture
def cudnn_conv_precision():
    """cuDNN's float32 convolution setting (settable without a GPU), put back after the test."""
    conv = torch.backends.cudnn.conv
    before = conv.fp32_precision
    conv.fp32_precision = "tf32"  # cuDNN's TF32 default, whose rounding depends on the batch shape
    yield conv
    conv.fp32_precision = before


def test_exact_float32_turns_tf32_convolutions_off_on_cuda_and_back(cudnn_conv_precision):
    with exact_float32(CUDA):
        assert cudnn_conv_precision.fp32_precision == "ieee"
    assert cudnn_conv_precision.fp32_precision == "tf32"
    with pytest.raises(ValueError), exact_float32(CUDA):
        raise ValueError("a failed prediction")
    assert cudnn_conv_precision.fp32_precision == "tf32"  # restored after a failure too


def test_exact_float32_leaves_the_cpu_as_it_is(cudnn_conv_precision, native_bf16):
    native_bf16(True)
    with exact_float32(CPU):
        assert cudnn_conv_precision.fp32_precision == "tf32"
        assert (torch.randn(4, 4) @ torch.randn(4, 4)).dtype == torch.float32
