"""resnet-lab: reproduce the deep-residual-network papers' CIFAR-10 ablations.

Public API: :func:`build_model` (same config and overrides as the ``resnet-lab`` command) and
:func:`load_pretrained` (a trained resnet-lab run or a ``pytorch_resnet_cifar10`` checkpoint).
"""

from typing import Any as _Any

__version__ = "0.1.0"

__all__ = ["__version__", "build_model", "load_pretrained"]


def __getattr__(name: str) -> _Any:
    """The API imports torch (and Hydra) when first asked for: importing the package stays
    quick, so a command's first moments (see resnet_lab.console) are short and a Ctrl-C there
    is caught."""
    if name == "build_model":
        from resnet_lab.api import build_model

        return build_model
    if name == "load_pretrained":
        from resnet_lab.pretrained import load_pretrained

        return load_pretrained
    raise AttributeError(f"module 'resnet_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "build_model", "load_pretrained"])
