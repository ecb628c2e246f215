"""resnet-lab: reproduce the deep-residual-network papers' CIFAR-10 ablations.

Public API: :func:`build_model` (same config and overrides as the ``resnet-lab`` command).
"""

from resnet_lab.config import register_configs

__version__ = "0.1.0"

register_configs()

from resnet_lab.api import build_model  # noqa: E402

__all__ = ["__version__", "build_model"]
