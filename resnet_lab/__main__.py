"""``python -m resnet_lab`` is the ``resnet-lab`` command."""

from resnet_lab.cli import command

command()
