"""Choosing the compute device, shared by the trainer and the analysis tools."""

from __future__ import annotations

import torch

from resnet_lab.errors import ConfigError


def resolve_device(name: str, option: str = "trainer.device") -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a user error.

    ``option`` names the setting in error messages (``trainer.device`` or ``--device``).
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"{option}={name}: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{option}={name} but CUDA is not available; use auto or cpu")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ConfigError(f"{option}={name}: this machine has {torch.cuda.device_count()} GPU(s)")
    return device
