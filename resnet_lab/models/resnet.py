"""CIFAR ResNets: conv1, three stages of residual units, global average pooling, linear head.

Depth counts weighted layers: 6n+2 with basic units (two 3x3 convs), 9n+2 with bottleneck units
(1x1, 3x3, 1x1), 3n+2 with one-layer units (one 3x3 conv), n units per stage; stages have width,
2*width, 4*width channels (times 4 at the output of bottleneck units), the second and third
starting with a stride-2 unit.

Neighbours of the papers, as options: ``shortcut=none`` gives the plain nets of ResNet Fig. 6,
``model.widen_factor`` (k) and ``model.dropout`` the Wide ResNets (Zagoruyko & Komodakis 2016:
stage widths k times wider, dropout between the convolutions), ``model.survival_last`` stochastic
depth (Huang et al. 2016: unit l of L keeps its branch with p_l = 1 - l/L * (1 - p_L)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from resnet_lab.config import AfterAddCfg, ModelCfg, ShortcutCfg
from resnet_lab.errors import ConfigError
from resnet_lab.models.shortcuts import (
    DOWNSAMPLES,
    SHORTCUTS,
    ShortcutSite,
    init_gate_biases,
)
from resnet_lab.models.units import (
    AFTER_ADD,
    BRANCH_LAYOUTS,
    BranchLayout,
    ConvSpec,
    ResidualUnit,
    activation_ops,
)
from resnet_lab.registry import Registry


@dataclass(frozen=True)
class Block:
    """A unit's convolutions: ``convs(in, out, stride)``; ``expansion`` = output / stage width."""

    convs: Callable[[int, int, int], list[ConvSpec]]
    expansion: int
    layers: int  # weighted layers per unit (for the depth formula)
    default_downsample: str


BLOCKS: Registry[Block] = Registry("block")
BLOCKS.add(
    "basic",
    Block(
        lambda i, o, s: [ConvSpec(i, o, 3, s), ConvSpec(o, o, 3)],
        expansion=1,
        layers=2,
        default_downsample="zero_pad",
    ),
)
BLOCKS.add(
    "bottleneck",
    Block(
        # stride on the first 1x1 convolution, as in the authors' pre-activation code
        lambda i, o, s: [
            ConvSpec(i, o // 4, 1, s),
            ConvSpec(o // 4, o // 4, 3),
            ConvSpec(o // 4, o, 1),
        ],
        expansion=4,
        layers=3,
        default_downsample="projection",
    ),
)

BLOCKS.add(
    "one_layer",
    # Identity Mappings Table 3, "ResNet-110 with 1-layer skip": one 3x3 conv per unit
    Block(
        lambda i, o, s: [ConvSpec(i, o, 3, s)], expansion=1, layers=1, default_downsample="zero_pad"
    ),
)

STEM_ACTIVATION = ("bn", "relu")


def units_per_stage(depth: int, block_name: str) -> int:
    """n from depth = 3 * layers * n + 2, or a ConfigError listing the valid depths."""
    step = 3 * BLOCKS.get(block_name).layers
    if not _fits(depth, step):
        examples = ", ".join(str(step * n + 2) for n in (1, 2, 3, 5, 7, 9, 18, 111, 200))
        others = [b for b in BLOCKS if b != block_name and _fits(depth, 3 * BLOCKS.get(b).layers)]
        hint = f"; depth {depth} fits model.block={' / '.join(others)}" if others else ""
        raise ConfigError(
            f"model.depth={depth} does not fit {block_name} units: depth must be {step}n+2 "
            f"(e.g. {examples}){hint}"
        )
    return (depth - 2) // step


def _fits(depth: int, step: int) -> bool:
    return depth >= step + 2 and (depth - 2) % step == 0


def check_shortcut_options(cfg: ShortcutCfg) -> None:
    """Reject options that the chosen shortcut would silently ignore."""
    options = vars(ShortcutCfg())
    del options["name"]
    SHORTCUTS.reject_ignored("shortcut", cfg.name, "shortcut", cfg, options, lambda cls: cls.uses)
    if not 0.0 <= cfg.dropout < 1.0:
        raise ConfigError(f"shortcut.dropout={cfg.dropout} must be in [0, 1)")
    if cfg.name == "scale" and cfg.scale == 0 and cfg.branch_scale == 0:
        raise ConfigError(  # it trained to chance, "completed"
            "shortcut.scale=0 with shortcut.branch_scale=0: every unit outputs 0 whatever its "
            "input, so the net answers one class for every image; give one of them a factor"
        )


def _check_model_options(
    model: ModelCfg,
    shortcut: ShortcutCfg,
    after_add: AfterAddCfg,
    block: Block,
    layout: BranchLayout,
) -> str:
    """Reject option combinations the net cannot honour; returns the downsampling option that
    ``model.downsample=auto`` stands for with this block."""
    if layout.pre_activation and after_add.fn != "identity":
        raise ConfigError(
            f"after_add.branch={after_add.branch} is a pre-activation layout: the next unit "
            f"activates the sum itself, so after_add.fn must be identity (got {after_add.fn})"
        )
    downsample = block.default_downsample if model.downsample == "auto" else model.downsample
    if downsample not in DOWNSAMPLES:
        raise ConfigError(
            f"model.downsample={model.downsample}: choose auto, {', '.join(DOWNSAMPLES)}"
        )
    variant = SHORTCUTS.get(shortcut.name)
    if model.downsample != "auto" and not variant.reshapes_identity:  # built nothing, silently
        raise ConfigError(
            f"model.downsample={model.downsample} reshapes the identity path, which "
            f"shortcut={shortcut.name} replaces in every unit: leave model.downsample=auto"
        )
    if model.width < 1 or model.width * block.expansion % 4:
        raise ConfigError(f"model.width={model.width} must be a positive multiple of 4")
    if model.widen_factor < 1:
        raise ConfigError(f"model.widen_factor={model.widen_factor} must be at least 1")
    if not 0.0 <= model.dropout < 1.0:
        raise ConfigError(f"model.dropout={model.dropout} must be in [0, 1)")
    if model.dropout > 0 and block.layers < 2:
        raise ConfigError(
            f"model.dropout={model.dropout} sits between a unit's convolutions; "
            f"{model.block} units have one"
        )
    if not 0.0 < model.survival_last <= 1.0:
        raise ConfigError(f"model.survival_last={model.survival_last} must be in (0, 1]")
    if model.survival_last < 1.0 and not variant.carries_input_with(shortcut):
        chosen = "shortcut.scale=0" if shortcut.name == "scale" else f"shortcut={shortcut.name}"
        raise ConfigError(
            "model.survival_last < 1 (stochastic depth) drops residual branches, which needs "
            f"a shortcut carrying the input; {chosen} would pass zeros on"
        )
    return downsample


class ResNet(nn.Module):
    """A CIFAR ResNet whose units are composed from named parts (see ``resnet_lab.models.units``).

    ``units`` is one flat list in forward order, so lesion studies can delete or reorder units.
    """

    def __init__(self, model: ModelCfg, shortcut: ShortcutCfg, after_add: AfterAddCfg) -> None:
        super().__init__()
        block = BLOCKS.get(model.block)
        n = units_per_stage(model.depth, model.block)
        layout = BRANCH_LAYOUTS.get(after_add.branch)
        make_after_add = AFTER_ADD.get(after_add.fn)
        shortcut_cls = SHORTCUTS.get(shortcut.name)
        check_shortcut_options(shortcut)
        downsample = _check_model_options(model, shortcut, after_add, block, layout)

        width = model.width
        # conv1 is always followed by BN-ReLU before the first split: the part of it that the
        # first unit's pre-activation head performs is left to that unit (shared by both paths).
        stem_ops = STEM_ACTIVATION[: len(STEM_ACTIVATION) - len(layout.head)]
        if STEM_ACTIVATION[len(stem_ops) :] != layout.head:
            raise ConfigError(f"branch layout {after_add.branch} has an unsupported head")
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False),  # RGB
            *activation_ops(stem_ops, width),
        )
        units: list[ResidualUnit] = []
        self.downsampling_units: list[int] = []  # units whose shortcut changes the shape
        channels = width
        for stage in range(3):
            out_channels = width * model.widen_factor * 2**stage * block.expansion
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                site = ShortcutSite(
                    channels, out_channels, stride, downsample, norm=not layout.normalises_input
                )
                if site.changes_shape:
                    self.downsampling_units.append(len(units))
                units.append(
                    ResidualUnit(
                        block.convs(channels, out_channels, stride),
                        layout,
                        shortcut_cls(site, shortcut),
                        make_after_add(out_channels),
                        share_head=layout.pre_activation and (not units or site.changes_shape),
                        dropout=model.dropout,
                        survival=1.0 - (len(units) + 1) / (3 * n) * (1.0 - model.survival_last),
                    )
                )
                channels = out_channels
        self.units = nn.ModuleList(units)
        # pre-activation nets: the last sum gets the activation a next unit would have given it
        self.final = nn.Sequential(*activation_ops(layout.head, channels))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, model.num_classes)
        _init_weights(self)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        for unit in self.units:
            x = unit(x)
        return self.fc(torch.flatten(self.pool(self.final(x)), 1))


def _init_weights(net: nn.Module) -> None:
    """He initialisation (fan-out, as the authors' code) of convolutions; BN at 1/0; zero biases."""
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            bound = 1 / math.sqrt(m.in_features)
            nn.init.uniform_(m.weight, -bound, bound)
            nn.init.zeros_(m.bias)
    init_gate_biases(net)
