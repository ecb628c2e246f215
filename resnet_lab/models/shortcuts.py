"""What sits on the shortcut (Identity Mappings, Table 1), one small class per variant.

A shortcut combines the unit's input x with the residual branch's output F(x) into the sum that
the after-addition function receives. Variants that weight F(x) too (constant scaling, exclusive
gating) do it here, so the unit stays variant-free. ``residual=None`` means the branch is deleted
(a lesion, Veit et al. 2016): only the shortcut path remains.

Where a unit changes the shape (stride 2 or more channels), the identity is reshaped by the
``downsample`` module: zero-padding ("option A") or a 1x1 projection ("option B").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_lab.config import ShortcutCfg
from resnet_lab.registry import Registry

SHORTCUTS: Registry[type[Shortcut]] = Registry("shortcut")


class ZeroPadDownsample(nn.Module):
    """Option A: subsample by striding and zero-pad the new channels; adds no parameters."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        return zero_pad_identity(x, self.out_channels, self.stride)


def zero_pad_identity(x: Tensor, out_channels: int, stride: int) -> Tensor:
    """x subsampled by ``stride``, its channels padded with zeros (half before, half after) to
    ``out_channels``."""
    if stride > 1:
        x = x[:, :, ::stride, ::stride]
    extra = out_channels - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class Projection(nn.Sequential):
    """Option B: a strided 1x1 convolution (+ BN, except where the unit's head normalises its
    input: full pre-activation nets, as in the authors' pre-activation code). The ReLU-only
    pre-activation unit puts a BN after each of its weight layers and reads the ReLU of an
    unnormalised sum past its first unit: its projection keeps its BN, as in the original unit."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)]
        if norm:
            layers.append(nn.BatchNorm2d(out_channels))
        super().__init__(*layers)


class GateActivation(nn.Sigmoid):
    """The sigmoid of a gate g(x); a type of its own so the trainer can find and log gate values."""


@dataclass(frozen=True)
class ShortcutSite:
    """Where a shortcut sits: the unit's channels and stride, and how its identity is reshaped
    when they change the shape (``downsample``: zero_pad or projection; ``norm``: the
    projection's BN, absent where the unit's input is already normalised)."""

    in_channels: int
    out_channels: int
    stride: int = 1
    downsample: str = "zero_pad"
    norm: bool = True

    @property
    def changes_shape(self) -> bool:
        return self.stride != 1 or self.in_channels != self.out_channels


# model.downsample: how the identity path is reshaped where a unit changes the shape
DOWNSAMPLES: Registry[Callable[[ShortcutSite], nn.Module]] = Registry("downsample")


@DOWNSAMPLES.register("zero_pad")
def _zero_pad(site: ShortcutSite) -> nn.Module:
    if site.out_channels < site.in_channels:
        raise ValueError("zero-padding cannot reduce the number of channels")
    return ZeroPadDownsample(site.out_channels, site.stride)


@DOWNSAMPLES.register("projection")
def _projection(site: ShortcutSite) -> nn.Module:
    return Projection(site.in_channels, site.out_channels, site.stride, site.norm)


def make_downsample(site: ShortcutSite) -> nn.Module:
    """The identity path's reshaping: nothing when the shape is kept."""
    if not site.changes_shape:
        return nn.Identity()
    return DOWNSAMPLES.get(site.downsample)(site)


class Shortcut(nn.Module):
    """Base class: ``forward(x, residual)`` returns what is added before the after-add function.

    Variants that keep the identity path get it as ``self.downsample`` (reshaped where the unit
    changes the shape); those that replace it (``reshapes_identity = False``) build nothing."""

    uses: ClassVar[tuple[str, ...]] = ()  # the ShortcutCfg fields this variant reads
    reshapes_identity: ClassVar[bool] = True  # False: model.downsample has no meaning
    carries_input: bool = True  # False: nothing of x reaches the sum (a plain net's unit)

    def __init__(self, site: ShortcutSite, cfg: ShortcutCfg) -> None:
        super().__init__()
        self.site = site
        self.carries_input = self.carries_input_with(cfg)
        if self.reshapes_identity:
            self.downsample = make_downsample(site)

    @classmethod
    def carries_input_with(cls, cfg: ShortcutCfg) -> bool:
        """Whether the variant, with these options, passes anything of x on (stochastic depth
        needs it: a dropped branch leaves the shortcut alone)."""
        return cls.carries_input

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        raise NotImplementedError

    def without_branch(self, x: Tensor) -> Tensor:
        """What reaches the sum when the unit's branch is deleted at test time (a lesion,
        Veit et al. 2016): the shortcut path alone. A shortcut that carries nothing of x (a
        plain net's unit) would pass zeros on, which no net survives; Veit et al. delete a
        plain net's layer as y' = y_{i-1}, so x itself passes, subsampled and zero-padded as
        option A does where the unit changes the shape."""
        if self.carries_input:
            return self.forward(x, None)
        return zero_pad_identity(x, self.site.out_channels, self.site.stride)


def _plus(shortcut: Tensor, residual: Tensor | None) -> Tensor:
    return shortcut if residual is None else shortcut + residual


@SHORTCUTS.register("identity")
class IdentityShortcut(Shortcut):
    """h(x) = x: the original unit."""

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        return _plus(self.downsample(x), residual)


@SHORTCUTS.register("scale")
class ScaleShortcut(Shortcut):
    """Constant scaling: scale * h(x) + branch_scale * F(x)."""

    uses = ("scale", "branch_scale")

    def __init__(self, site: ShortcutSite, cfg: ShortcutCfg) -> None:
        super().__init__(site, cfg)
        self.scale = cfg.scale
        self.branch_scale = cfg.branch_scale

    @classmethod
    def carries_input_with(cls, cfg: ShortcutCfg) -> bool:
        return cfg.scale != 0  # scale 0, branch_scale 1: a plain net

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        residual = None if residual is None else self.branch_scale * residual
        return _plus(self.scale * self.downsample(x), residual)


class Gated(Shortcut):
    """Holds g(x) = sigmoid(BN(W_g x)), W_g a (strided) convolution of the unit's input.

    Identity Mappings adopts BN "right after the weight layers" of every unit of Table 1, the
    gate's W_g among them: b_g is that BN's bias, so it starts at the value the table row sets
    (``gate_bias``) and learns as BN biases do. ``gate_norm=false``: no BN, b_g is W_g's own
    bias, sigmoid(W_g x + b_g), as the highway gate always is. Like every parameter, b_g gets weight
    decay, as in the authors' Torch code, which decays all parameters;
    ``shortcut.gate_bias_decay=false`` exempts it (the papers do not say, and decay alone would
    pull b_g = -6 most of the way to 0 by the first lr drop)."""

    uses = ("gate_bias", "gate_bias_decay", "gate_norm")
    gate_kernel: ClassVar[int] = 1  # Identity Mappings: W_g is a 1x1 convolution

    def __init__(self, site: ShortcutSite, cfg: ShortcutCfg) -> None:
        super().__init__(site, cfg)
        k = self.gate_kernel
        norm = cfg.gate_norm and "gate_norm" in self.uses
        self.gate_conv = nn.Conv2d(
            site.in_channels, site.out_channels, k, site.stride, k // 2, bias=not norm
        )
        self.gate_norm = nn.BatchNorm2d(site.out_channels) if norm else None
        self.gate_act = GateActivation()
        self.gate_bias_init = cfg.gate_bias
        self.gate_bias_decay = cfg.gate_bias_decay

    @property
    def gate_bias_name(self) -> str:
        """The name, within this shortcut, of the parameter b_g."""
        return "gate_conv.bias" if self.gate_norm is None else "gate_norm.bias"

    def gate(self, x: Tensor) -> Tensor:
        z = self.gate_conv(x)
        return self.gate_act(z if self.gate_norm is None else self.gate_norm(z))


@SHORTCUTS.register("gate")
class ExclusiveGateShortcut(Gated):
    """Exclusive gating: (1 - g(x)) * h(x) + g(x) * F(x)."""

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        g = self.gate(x)
        return _plus((1 - g) * self.downsample(x), None if residual is None else g * residual)


@SHORTCUTS.register("highway")
class HighwayShortcut(ExclusiveGateShortcut):
    """Highway gating (Srivastava et al. 2015): T(x) * F(x) + (1 - T(x)) * h(x).

    The same sum as exclusive gating, seen from the other side: T(x) = sigmoid(W_T x + b_T) is the
    *transform* gate on the branch, 1 - T(x) the carry gate. As in the highway paper's
    convolutional highway layers, W_T has the receptive field of a 3x3 convolution (the
    exclusive gate of Identity Mappings uses 1x1, and a BN), and b_T starts at small negative
    values (conf/shortcut/highway.yaml: -2) that favour carrying. F(x) stays a two-layer residual
    branch: the lab's highway nets are ResNets with highway gates, not the highway paper's plain
    layers.
    """

    uses = ("gate_bias", "gate_bias_decay")  # no BN on W_T: the highway papers' gate
    gate_kernel = 3


@SHORTCUTS.register("none")
class NoShortcut(Shortcut):
    """No shortcut at all: the unit is two plain layers, out = f(F(x)) (a plain net, ResNet Fig. 6).

    A branch dropped in training (stochastic depth, refused for plain nets) would leave zeros; a
    lesion deletes the whole unit instead (:meth:`Shortcut.without_branch`).
    """

    reshapes_identity = False
    carries_input = False

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        if residual is not None:
            return residual
        n, _, h, w = x.shape
        s = self.site.stride
        return x.new_zeros(n, self.site.out_channels, (h + s - 1) // s, (w + s - 1) // s)


@SHORTCUTS.register("shortcut_gate")
class ShortcutOnlyGateShortcut(Gated):
    """Shortcut-only gating: (1 - g(x)) * h(x) + F(x)."""

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        return _plus((1 - self.gate(x)) * self.downsample(x), residual)


@SHORTCUTS.register("conv1x1")
class Conv1x1Shortcut(Shortcut):
    """A 1x1 convolution + BN on every unit's shortcut (replaces the identity everywhere)."""

    reshapes_identity = False

    def __init__(self, site: ShortcutSite, cfg: ShortcutCfg) -> None:
        super().__init__(site, cfg)
        self.projection = Projection(site.in_channels, site.out_channels, site.stride, norm=True)

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        return _plus(self.projection(x), residual)


@SHORTCUTS.register("dropout")
class DropoutShortcut(Shortcut):
    """Dropout with probability p on the output of the identity shortcut.

    Classic dropout by default: kept values stay x, so the shortcut carries (1-p)x in
    expectation and at test time, as Identity Mappings (Sec. 3.1) reads its row: dropout
    "statistically imposes a scale of lambda with an expectation of 0.5 on the shortcut", like
    constant scaling by 0.5. ``dropout_inverted=true``: torch's (and Torch7's) ``Dropout``, kept
    values scaled by 1/(1-p) in training, so the shortcut is x in expectation and at test time."""

    uses = ("dropout", "dropout_inverted")

    def __init__(self, site: ShortcutSite, cfg: ShortcutCfg) -> None:
        super().__init__(site, cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.keep = 1.0 if cfg.dropout_inverted else 1.0 - cfg.dropout

    def forward(self, x: Tensor, residual: Tensor | None) -> Tensor:
        h = self.downsample(x)
        if self.keep == 1.0:
            return _plus(self.drop(h), residual)
        return _plus(self.drop(h) * self.keep if self.training else h * self.keep, residual)


# Shortcut options whose default changed, with what a run recorded before the option existed
# had: such a run lacks the key, and the new default would describe another net
BEFORE_THE_OPTION = {
    "gate_norm": False,  # gates had no BN
    "dropout_inverted": True,  # torch's Dropout, inverted, was the dropout shortcut
}


def config_as_trained(config: Mapping[str, Any]) -> dict[str, Any]:
    """A run's saved config as the lab now reads it: the options of ``BEFORE_THE_OPTION`` its
    variant uses and its config lacks get what the run had; those its variant does not use get
    today's default (a run saved every option, so an old default, e.g. dropout_inverted=true
    of a gated run, would read as a setting it never used)."""
    shortcut = config.get("shortcut")
    name = str(shortcut.get("name")) if isinstance(shortcut, Mapping) else ""
    if name not in SHORTCUTS.names():
        return dict(config)
    uses = SHORTCUTS.get(name).uses
    completed = {k: v for k, v in BEFORE_THE_OPTION.items() if k in uses and k not in shortcut}
    today = {k: getattr(ShortcutCfg, k) for k in BEFORE_THE_OPTION if k not in uses}
    unused = {k: v for k, v in today.items() if k in shortcut and shortcut[k] != v}
    if not completed and not unused:
        return dict(config)
    return {**config, "shortcut": {**shortcut, **completed, **unused}}


def init_gate_biases(module: nn.Module) -> None:
    """Set every gate's b_g to its configured value (after the generic He initialisation)."""
    for m in module.modules():
        if isinstance(m, Gated):
            with torch.no_grad():
                m.get_parameter(m.gate_bias_name).fill_(m.gate_bias_init)


def no_weight_decay(module: nn.Module) -> set[str]:
    """Names (as ``named_parameters`` gives them) of the parameters the optimizer must not decay:
    the gate biases of shortcuts built with ``gate_bias_decay=false``."""
    return {
        f"{name}.{m.gate_bias_name}" if name else m.gate_bias_name
        for name, m in module.named_modules()
        if isinstance(m, Gated) and not m.gate_bias_decay
    }
