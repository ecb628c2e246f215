"""The model zoo: shortcuts, branch layouts and after-addition functions composed into units;
the architecture registry chooses between ResNets and their neighbours (DenseNet)."""

from resnet_lab.models.densenet import DenseNet
from resnet_lab.models.network import ARCHS, build_network, describe_network
from resnet_lab.models.resnet import BLOCKS, ResNet
from resnet_lab.models.shortcuts import SHORTCUTS, Shortcut, config_as_trained
from resnet_lab.models.units import AFTER_ADD, BRANCH_LAYOUTS, ResidualUnit

__all__ = [
    "AFTER_ADD",
    "ARCHS",
    "BLOCKS",
    "BRANCH_LAYOUTS",
    "SHORTCUTS",
    "DenseNet",
    "ResNet",
    "ResidualUnit",
    "Shortcut",
    "build_network",
    "config_as_trained",
    "describe_network",
]
