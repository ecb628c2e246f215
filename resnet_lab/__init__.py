"""resnet-lab: reproduce the deep-residual-network papers' CIFAR-10 ablations.

Public API: :func:`build_model` (same config and overrides as the ``resnet-lab`` command) and
:func:`load_pretrained` (a trained resnet-lab run or a ``pytorch_resnet_cifar10`` checkpoint).
"""

from resnet_lab.config import register_configs

__version__ = "0.1.0"

register_configs()

from resnet_lab.api import build_model  # noqa: E402
from resnet_lab.pretrained import load_pretrained  # noqa: E402

__all__ = ["__version__", "build_model", "load_pretrained"]
