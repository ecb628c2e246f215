"""DenseNets for CIFAR (Huang et al. 2017, arXiv:1608.06993), the papers' strongest neighbour.

A 3x3 convolution with ``model.width`` channels (DenseNet-BC: 2k), three dense blocks of n layers
joined by transitions, then BN-ReLU, global average pooling and a linear head. Each layer adds
k = ``model.growth_rate`` channels to everything before it in its block:

    bottleneck (DenseNet-B)   BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k)   depth = 6n+4
    basic                     BN-ReLU-conv3x3(k)                       depth = 3n+4
    transition                BN-ReLU-conv1x1(floor(theta * m))-avgpool2, theta = compression

DenseNet-BC (L=100, k=12): ``model=densenet``, 0.77M parameters (the paper's 0.8M).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from resnet_lab.config import ModelCfg
from resnet_lab.errors import ConfigError
from resnet_lab.models.resnet import _init_weights

LAYERS_PER_DEPTH = {"bottleneck": 6, "basic": 3}  # weighted layers per dense-layer in 3 blocks


def _conv(in_channels: int, out_channels: int, kernel_size: int, dropout: float) -> list[nn.Module]:
    """BN-ReLU-conv (+ dropout, which the paper uses only without data augmentation)."""
    layers: list[nn.Module] = [
        nn.BatchNorm2d(in_channels),
        nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
    ]
    return [*layers, nn.Dropout(dropout)] if dropout > 0 else layers


class DenseLayer(nn.Module):
    """Computes k new feature maps from all earlier ones and appends them: [x, H(x)]."""

    def __init__(
        self, in_channels: int, growth_rate: int, bottleneck: bool, dropout: float
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        if bottleneck:
            layers += _conv(channels, 4 * growth_rate, 1, dropout)
            channels = 4 * growth_rate
        layers += _conv(channels, growth_rate, 3, dropout)
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, self.body(x)], 1)


class DenseNet(nn.Module):
    """DenseNet(-B/-C/-BC) on 32x32 images, as in the authors' CIFAR code."""

    def __init__(self, model: ModelCfg) -> None:
        super().__init__()
        step = LAYERS_PER_DEPTH.get(model.block)
        if step is None:
            raise ConfigError(
                f"model.block={model.block} for model.arch=densenet: choose bottleneck "
                "(DenseNet-B layers) or basic"
            )
        if model.depth < step + 4 or (model.depth - 4) % step:
            examples = ", ".join(str(step * n + 4) for n in (1, 6, 16, 31, 41))
            raise ConfigError(
                f"model.depth={model.depth} does not fit a DenseNet with {model.block} layers: "
                f"depth must be {step}n+4 (e.g. {examples})"
            )
        if model.growth_rate < 1 or model.width < 1:
            raise ConfigError("model.growth_rate and model.width must be positive")
        if not 0.0 < model.compression <= 1.0:
            raise ConfigError(f"model.compression={model.compression} must be in (0, 1]")
        if not 0.0 <= model.dropout < 1.0:
            raise ConfigError(f"model.dropout={model.dropout} must be in [0, 1)")
        n = (model.depth - 4) // step
        k = model.growth_rate
        channels = model.width
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1, bias=False)]  # RGB
        for block in range(3):
            for _ in range(n):
                layers.append(DenseLayer(channels, k, model.block == "bottleneck", model.dropout))
                channels += k
            if block < 2:
                out = math.floor(model.compression * channels)
                if out < 1:  # a conv of no channels: torch's trace at the first step
                    raise ConfigError(
                        f"model.compression={model.compression} leaves no channel after dense "
                        f"block {block + 1} (floor of it x {channels}): give a larger one"
                    )
                layers += [*_conv(channels, out, 1, model.dropout), nn.AvgPool2d(2)]
                channels = out
        layers += [nn.BatchNorm2d(channels), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, model.num_classes)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))
