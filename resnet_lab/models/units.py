"""A residual unit: shortcut + residual branch + after-addition function, each chosen by name.

Branch layouts (Identity Mappings, Table 2) are described by the operations before the first
convolution (``head``) and after the last one (``tail``); between two convolutions there is
always BN-ReLU. The five units of the paper, as one-line diagrams:

    post_act         x -> conv-BN-ReLU-conv-BN       -> (+x) -> after-add   (original: ReLU)
    post_act_no_bn   x -> conv-BN-ReLU-conv          -> (+x) -> after-add   (BN after addition)
    relu_before_add  x -> conv-BN-ReLU-conv-BN-ReLU  -> (+x)                (ReLU before addition)
    relu_preact      x -> ReLU-conv-BN-ReLU-conv-BN  -> (+x)                (ReLU-only pre-act.)
    preact           x -> BN-ReLU-conv-BN-ReLU-conv  -> (+x)                (full pre-activation)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from resnet_lab.models.shortcuts import Shortcut
from resnet_lab.registry import Registry


@dataclass(frozen=True)
class BranchLayout:
    head: tuple[str, ...]  # applied to the unit's input before the first convolution
    tail: tuple[str, ...]  # applied after the last convolution, before the addition

    @property
    def pre_activation(self) -> bool:
        """Pre-activation layouts activate the *next* unit's input instead of the sum."""
        return bool(self.head)

    @property
    def normalises_input(self) -> bool:
        """Whether the head's BN normalises the unit's input, which its projection then reads."""
        return "bn" in self.head


BRANCH_LAYOUTS: Registry[BranchLayout] = Registry("branch layout")
BRANCH_LAYOUTS.add("post_act", BranchLayout((), ("bn",)))  # diagrams: module docstring
BRANCH_LAYOUTS.add("post_act_no_bn", BranchLayout((), ()))
BRANCH_LAYOUTS.add("relu_before_add", BranchLayout((), ("bn", "relu")))
BRANCH_LAYOUTS.add("relu_preact", BranchLayout(("relu",), ("bn",)))
BRANCH_LAYOUTS.add("preact", BranchLayout(("bn", "relu"), ()))

AFTER_ADD: Registry[Callable[[int], nn.Module]] = Registry("after-addition function")
AFTER_ADD.add("relu", lambda channels: nn.ReLU())
AFTER_ADD.add("bn_relu", lambda channels: nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU()))
AFTER_ADD.add("identity", lambda channels: nn.Identity())


def activation_ops(ops: Sequence[str], channels: int) -> list[nn.Module]:
    """Turn layout names ("bn", "relu") into layers."""
    make = {"bn": lambda: nn.BatchNorm2d(channels), "relu": nn.ReLU}
    return [make[op]() for op in ops]


@dataclass(frozen=True)
class ConvSpec:
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int = 1


def build_branch(
    convs: Sequence[ConvSpec], layout: BranchLayout, with_head: bool, dropout: float
) -> nn.Sequential:
    """The residual branch F: head, then convolutions joined by BN-ReLU (and dropout, as in Wide
    ResNets, when ``dropout`` > 0), then tail."""
    layers: list[nn.Module] = activation_ops(layout.head, convs[0].in_channels) if with_head else []
    for i, spec in enumerate(convs):
        if i > 0:
            layers += activation_ops(("bn", "relu"), spec.in_channels)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(
            nn.Conv2d(
                spec.in_channels,
                spec.out_channels,
                spec.kernel_size,
                spec.stride,
                padding=spec.kernel_size // 2,
                bias=False,
            )
        )
    layers += activation_ops(layout.tail, convs[-1].out_channels)
    return nn.Sequential(*layers)


class ResidualUnit(nn.Module):
    """out = after_add(shortcut(x, F(x))), with an optional shared pre-activation.

    ``share_head``: the layout's head (e.g. BN-ReLU) is applied *before* splitting into the two
    paths, so the shortcut sees the activated input too. Pre-activation nets do this in their
    first unit (right after conv1), as the paper describes, and where a unit changes dimensions,
    as the authors' code does (fb.resnet.torch preresnet.lua, 'both_preact').
    ``lesioned``: the residual branch is deleted at test time (Veit et al. 2016).
    ``survival``: stochastic depth (Huang et al. 2016). Below 1, training keeps the branch of the
    whole batch with this probability per step (one draw from the global torch generator, which
    checkpoints save) and drops it otherwise; evaluation scales the branch output by it.
    """

    def __init__(
        self,
        convs: Sequence[ConvSpec],
        layout: BranchLayout,
        shortcut: Shortcut,
        after_add: nn.Module,
        share_head: bool,
        dropout: float = 0.0,
        survival: float = 1.0,
    ) -> None:
        super().__init__()
        head = activation_ops(layout.head, convs[0].in_channels) if share_head else []
        self.shared_head = nn.Sequential(*head) if head else nn.Identity()
        self.branch = build_branch(convs, layout, with_head=not share_head, dropout=dropout)
        self.shortcut = shortcut
        self.after_add = after_add
        self.lesioned = False
        self.survival = survival
        self._draw = _uncompiled_draw() if survival < 1.0 else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.shared_head(x)
        if self.lesioned:
            return self.after_add(self.shortcut.without_branch(x))
        return self.after_add(self.shortcut(x, self._residual(x)))

    def _residual(self, x: Tensor) -> Tensor | None:
        if self.survival >= 1.0:
            return self.branch(x)
        if self.training:
            return self.branch(x) if self._draw() < self.survival else None
        return self.survival * self.branch(x)


def _draw_uniform() -> float:
    return torch.rand(()).item()


@functools.cache
def _uncompiled_draw() -> Callable[[], float]:
    """One uniform draw from the global CPU generator, kept out of compiled graphs so that eager
    and ``trainer.compile`` runs draw the same numbers and a resumed run continues the sequence.
    Wrapped on first use, not at import: ``torch.compiler.disable`` imports Dynamo (~1.7 s), which
    every command would otherwise pay at start-up."""
    return torch.compiler.disable(_draw_uniform)
