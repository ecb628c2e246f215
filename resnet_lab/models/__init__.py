"""The model zoo: shortcuts, branch layouts and after-addition functions composed into units."""

from resnet_lab.models.resnet import BLOCKS, ResNet, build_network
from resnet_lab.models.shortcuts import SHORTCUTS, Shortcut
from resnet_lab.models.units import AFTER_ADD, BRANCH_LAYOUTS, ResidualUnit

__all__ = [
    "AFTER_ADD",
    "BLOCKS",
    "BRANCH_LAYOUTS",
    "SHORTCUTS",
    "ResNet",
    "ResidualUnit",
    "Shortcut",
    "build_network",
]
