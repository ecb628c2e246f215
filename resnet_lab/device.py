"""Choosing the compute device and how it computes float32, shared by the trainer and the
analysis tools."""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path

import torch

from resnet_lab.errors import ConfigError


def resolve_device(name: str, option: str = "trainer.device") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a user error. On CUDA,
    float32 is set to IEEE (see ``set_cuda_math``): the lab's tools compute as fp32 runs did
    (a bf16 run's net computes under bf16 autocast, as its run evaluated; a tf32 run's is told).

    ``option`` names the setting in error messages (``trainer.device`` or ``--device``).
    """
    device = parse_device(name, option)
    if device.type == "cuda":  # every tool computes fp32 as IEEE; a run may opt into TF32
        _set_tf32(False)
    return device


def parse_device(name: str, option: str) -> torch.device:
    """:func:`resolve_device` without touching process-wide settings (for library calls such as
    ``load_pretrained(map_location=...)``, whose caller owns them)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"{option}={name}: choose auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu" and device.index not in (None, 0):  # torch takes it, as cpu
        raise ConfigError(f"{option}={name}: choose auto, cpu, cuda or cuda:N")
    if device.type not in ("cpu", "cuda"):  # mps, xpu, meta: torch names them, the lab is
        raise ConfigError(  # neither built nor tested for them (a checkpoint read onto mps
            # failed as if damaged)
            f"{option}={name}: the lab trains and measures on cpu or cuda; choose auto, cpu, "
            "cuda or cuda:N"
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{option}={name} but CUDA is not available; use auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"{option}={name}: this machine has {torch.cuda.device_count()} GPU(s)")
    return device


def set_cuda_math(tf32: bool, cudnn_benchmark: bool) -> None:
    """How CUDA computes float32 convolutions and matrix products, for the whole process.

    ``tf32``: TensorFloat-32 (a 10-bit mantissa) on the matrix units instead of IEEE float32.
    PyTorch lets cuDNN convolutions use TF32 by default, which changes rounding; the lab makes it
    a recorded choice (``trainer.precision=tf32``), so ``fp32`` means IEEE float32.
    ``cudnn_benchmark``: cuDNN times its algorithms for each shape and keeps the fastest; they
    all compute the same convolution, each rounding its own way (the pick, by timing, may differ
    from run to run: GPU runs are not bitwise reproducible anyway, README).
    """
    torch.backends.cudnn.benchmark = cudnn_benchmark
    _set_tf32(tf32)


def _set_tf32(on: bool) -> None:
    # The flags every torch version has. Setting cuDNN's newer per-op ``fp32_precision`` to
    # "ieee" instead makes the getter of ``cudnn.allow_tf32`` raise (seen with torch 2.14), and
    # Inductor's convolution tuning reads that getter.
    torch.backends.cudnn.allow_tf32 = on
    torch.backends.cuda.matmul.allow_tf32 = on


def device_name(device: torch.device) -> str:
    """What result files record as the device: the GPU's name, or the CPU model and its core
    count (``platform.processor()`` says only "x86_64" on Linux)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{_cpu_model()} ({os.cpu_count()} cores)"


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()
