"""``python -m resnet_lab`` is the ``resnet-lab`` command."""

from resnet_lab.console import resnet_lab

resnet_lab()
