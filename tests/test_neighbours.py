"""The papers' neighbours: plain nets, highway gates, stochastic depth, Wide ResNets, DenseNet-BC,
their experiment files and the gate-statistics tool."""

from __future__ import annotations

import csv
import json
import logging
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

import resnet_lab
from resnet_lab.api import build_model, compose_config
from resnet_lab.checkpoint import save_checkpoint
from resnet_lab.config import ShortcutCfg
from resnet_lab.errors import ConfigError
from resnet_lab.gates import main as gates_main
from resnet_lab.models import (
    AFTER_ADD,
    BRANCH_LAYOUTS,
    SHORTCUTS,
    DenseNet,
    ResidualUnit,
    build_network,
)
from resnet_lab.models.resnet import _init_weights
from resnet_lab.models.shortcuts import GateActivation, ShortcutSite
from resnet_lab.models.units import ConvSpec
from resnet_lab.train import Trainer

TINY = ["model.width=4", "model.depth=8"]
TINY_DENSENET = ["model=densenet", "model.depth=10", "model.growth_rate=4", "model.width=8"]
X = torch.randn(2, 8, 16, 16)


def _grads_finite(net: nn.Module, train: bool = True) -> dict[str, torch.Tensor | None]:
    net.train(train)
    out = net(torch.randn(4, 3, 32, 32))
    assert out.shape == (4, 10)
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3])).backward()
    grads = {name: p.grad for name, p in net.named_parameters()}
    for name, grad in grads.items():
        assert grad is None or torch.isfinite(grad).all(), f"{name} has a non-finite gradient"
    return grads


@pytest.mark.parametrize(
    "overrides",
    [
        ["shortcut=none"],
        ["shortcut=none", "after_add=identity"],
        ["shortcut=none", "model.block=bottleneck", "model.depth=11"],
        ["shortcut=highway"],
        ["shortcut=highway", "after_add=identity", "model.block=bottleneck", "model.depth=11"],
        ["model.widen_factor=2", "model.dropout=0.3", "after_add=identity"],
        ["model.widen_factor=2", "model.downsample=projection"],
        TINY_DENSENET,
        [*TINY_DENSENET, "model.block=basic", "model.depth=7", "model.compression=1.0"],
        [*TINY_DENSENET, "model.dropout=0.2"],
    ],
)
def test_new_variants_train(overrides: list[str]) -> None:
    grads = _grads_finite(build_model([*TINY, *overrides]))
    missing = [name for name, grad in grads.items() if grad is None]
    assert not missing, f"no gradient for {missing}"


def test_stochastic_depth_net_trains() -> None:
    """Its units dropped at random, the net still learns: 40 steps on 16 images more than
    halve its loss (the gradients finite and reaching the stem and the head)."""
    torch.manual_seed(3)
    net = build_model([*TINY, "model.depth=20", "model.survival_last=0.5"])
    grads = _grads_finite(net)
    assert grads["stem.0.weight"] is not None and grads["fc.weight"] is not None
    images, labels = torch.randn(16, 3, 32, 32), torch.arange(16) % 10
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(images), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert sum(losses[-5:]) < 0.5 * sum(losses[:5]), losses


# -- unit math --------------------------------------------------------------------------------


def _unit(
    shortcut: ShortcutCfg, fn: str = "relu", survival: float = 1.0, out: int = 8, stride: int = 1
) -> ResidualUnit:
    torch.manual_seed(0)
    unit = ResidualUnit(
        [ConvSpec(8, out, 3, stride), ConvSpec(out, out, 3)],
        BRANCH_LAYOUTS.get("post_act"),
        SHORTCUTS.get(shortcut.name)(ShortcutSite(8, out, stride), shortcut),
        AFTER_ADD.get(fn)(out),
        share_head=False,
        survival=survival,
    )
    _init_weights(unit)
    return unit.eval()


def test_plain_unit_is_after_add_of_the_branch() -> None:
    unit = _unit(ShortcutCfg(name="none"))
    torch.testing.assert_close(unit(X), torch.relu(unit.branch(X)))
    assert not list(unit.shortcut.parameters())


def test_plain_unit_changing_shape_needs_nothing_on_the_shortcut() -> None:
    unit = _unit(ShortcutCfg(name="none"), out=16, stride=2)
    torch.testing.assert_close(unit(X), torch.relu(unit.branch(X)))
    assert unit(X).shape == (2, 16, 8, 8)
    net = build_model(  # auto: a bottleneck net's option B (projection)
        ["model.width=4", "model.depth=11", "model.block=bottleneck", "shortcut=none"]
    )
    assert sum(p.numel() for u in net.units for p in u.shortcut.parameters()) == 0


def test_a_lesioned_plain_unit_passes_its_input_on() -> None:
    """Veit et al. delete a plain net's layer as y' = y_{i-1} (zeros were chance by
    construction); where the shape changes, as option A reshapes it."""
    unit = _unit(ShortcutCfg(name="none"), out=16, stride=2)
    unit.lesioned = True
    pad = (16 - X.shape[1]) // 2
    expected = torch.relu(F.pad(X[:, :, ::2, ::2], (0, 0, 0, 0, pad, pad)))
    torch.testing.assert_close(unit(X), expected)


def test_highway_closed_transform_gate_carries_only() -> None:
    unit = _unit(ShortcutCfg(name="highway", gate_bias=-100.0), fn="identity")
    torch.testing.assert_close(unit(X), X)


def test_highway_math_and_gate() -> None:
    unit = _unit(ShortcutCfg(name="highway", gate_bias=-2.0), fn="identity")
    gate = unit.shortcut.gate_conv
    assert gate.kernel_size == (3, 3) and gate.bias.eq(-2.0).all()
    assert isinstance(unit.shortcut.gate_act, GateActivation)  # found and logged by the trainer
    t = torch.sigmoid(gate(X))
    torch.testing.assert_close(unit(X), t * unit.branch(X) + (1 - t) * X)
    exclusive = _unit(ShortcutCfg(name="gate", gate_bias=-2.0))
    assert exclusive.shortcut.gate_conv.kernel_size == (1, 1)  # Identity Mappings' gate unchanged


def test_highway_defaults_and_net() -> None:
    cfg = compose_config(["shortcut=highway"])
    assert (cfg.shortcut.name, cfg.shortcut.gate_bias) == ("highway", -2.0)
    net = build_model([*TINY, "shortcut=highway", "shortcut.gate_bias=-3"])
    gates = [m for m in net.modules() if isinstance(m, GateActivation)]
    assert len(gates) == len(net.units)
    assert all(u.shortcut.gate_conv.bias.eq(-3.0).all() for u in net.units)


# -- stochastic depth ---------------------------------------------------------------------------


def test_stochastic_depth_off_is_the_plain_unit_and_draws_nothing() -> None:
    default = build_model(TINY)
    off = build_model([*TINY, "model.survival_last=1.0"])
    off.load_state_dict(default.state_dict())
    x = torch.randn(2, 3, 32, 32)
    state = torch.get_rng_state()
    torch.testing.assert_close(off.train()(x), default.train()(x))
    assert torch.equal(torch.get_rng_state(), state)  # existing runs stay bit-exact


def test_survival_decays_linearly_to_p_last() -> None:
    net = build_model([*TINY, "model.depth=20", "model.survival_last=0.5"])
    survival = [u.survival for u in net.units]
    assert survival == pytest.approx([1 - (i + 1) / 9 * 0.5 for i in range(9)])
    assert survival[-1] == pytest.approx(0.5)


def test_stochastic_depth_scales_the_branch_at_test_time() -> None:
    unit = _unit(ShortcutCfg(), survival=0.7)
    torch.testing.assert_close(unit(X), torch.relu(X + 0.7 * unit.branch(X)))


class _CountingBranch(nn.Module):
    """A cheap residual branch F(x) = 2x that counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return 2 * x


def test_stochastic_depth_drops_the_whole_branch_with_probability_1_minus_p() -> None:
    unit = _unit(ShortcutCfg(), fn="identity", survival=0.7).train()
    unit.branch = _CountingBranch()
    torch.manual_seed(0)
    draws = 2000
    for _ in range(draws):
        calls = unit.branch.calls
        out = unit(X)
        kept = unit.branch.calls > calls
        torch.testing.assert_close(out, 3 * X if kept else X, rtol=0, atol=0)
    assert unit.branch.calls / draws == pytest.approx(0.7, abs=0.04)  # 4 standard deviations


def test_stochastic_depth_draws_for_each_unit_apart() -> None:
    """Huang et al.: each unit's branch survives its own Bernoulli(p_l) draw, per mini-batch:
    one draw shared by all units would keep them together (ResNet-8: p 5/6, 2/3, 1/2)."""
    net = build_model([*TINY, "model.survival_last=0.5"]).train()
    kept: list[list[int]] = []  # per forward, 1 where the unit's branch ran
    for i, unit in enumerate(net.units):
        unit.branch.register_forward_hook(lambda *_, i=i: kept[-1].__setitem__(i, 1))
    torch.manual_seed(0)
    draws, x = 1500, torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        for _ in range(draws):
            kept.append([0] * len(net.units))
            net(x)
    rates = [sum(k[i] for k in kept) / draws for i in range(3)]
    assert rates == pytest.approx([5 / 6, 2 / 3, 1 / 2], abs=0.05)  # 4 standard deviations
    both = sum(k[1] * k[2] for k in kept) / draws  # one shared draw: min(p), 1/2
    assert both == pytest.approx(2 / 3 * 1 / 2, abs=0.05)


def test_stochastic_depth_uses_the_global_generator() -> None:
    net = build_model([*TINY, "model.survival_last=0.5"]).train()
    x = torch.randn(2, 3, 32, 32)
    torch.manual_seed(5)
    first = [net(x) for _ in range(3)]
    torch.manual_seed(5)
    net(x)
    state = torch.get_rng_state()  # what a checkpoint saves
    torch.set_rng_state(state)
    for expected in first[1:]:
        torch.testing.assert_close(net(x), expected)


def test_a_dropped_unit_gets_weight_decay_from_the_first_step() -> None:
    """As in the papers' Torch code (flat, zero-filled gradients): a unit dropped at step 1 is
    still decayed, so runs do not depend on whether a unit happened to survive its first step."""
    overrides = [*TINY, "data=synthetic", "trainer.device=cpu", "model.survival_last=0.001"]
    # a decay step far above float32 tolerance
    cfg = compose_config([*overrides, "trainer.weight_decay=0.1"])
    trainer = Trainer(cfg, Path("unused"))
    trainer.build()
    last = trainer.model.units[-1]  # survives with probability 0.001
    before = last.branch[0].weight.detach().clone()
    calls = []
    last.branch.register_forward_hook(lambda *_: calls.append(1))
    trainer.advance()
    assert not calls  # dropped
    lr, wd = cfg.trainer.warmup_lr, cfg.trainer.weight_decay
    torch.testing.assert_close(last.branch[0].weight.detach(), before * (1 - lr * wd))


def test_lesions_still_work_with_stochastic_depth() -> None:
    unit = _unit(ShortcutCfg(), survival=0.5)
    unit.lesioned = True
    torch.testing.assert_close(unit(X), torch.relu(X))
    state = torch.get_rng_state()
    torch.testing.assert_close(unit.train()(X), torch.relu(X))
    assert torch.equal(torch.get_rng_state(), state)


# -- Wide ResNet and DenseNet -------------------------------------------------------------------


def test_widen_factor_multiplies_stage_widths() -> None:
    net = build_model(
        [*TINY, "model.depth=14", "model.widen_factor=3", "model.dropout=0.3", "after_add=identity"]
    )
    assert [u.branch[-1].out_channels for u in net.units] == [12, 12, 24, 24, 48, 48]
    assert net.stem[0].out_channels == 4 and net.fc.in_features == 48
    assert net.downsampling_units == [0, 2, 4]
    inner = [type(m).__name__ for m in net.units[1].branch]
    assert inner == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Dropout", "Conv2d"]
    dropouts = [m for m in net.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(dropouts) == 6 and all(m.p == 0.3 for m in dropouts)  # model.dropout as given


def _params(overrides: list[str]) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in build_model(overrides).parameters())


@pytest.mark.parametrize(
    ("overrides", "millions"),
    [
        (["model=densenet"], 0.8),
        (["model=densenet", "model.depth=250", "model.growth_rate=24", "model.width=48"], 15.3),
        (
            [
                "model.depth=26",
                "model.widen_factor=10",
                "model.downsample=projection",
                "after_add=identity",
            ],
            36.5,
        ),
    ],
)
def test_parameter_counts_match_the_papers(overrides: list[str], millions: float) -> None:
    assert abs(_params(overrides) / 1e6 - millions) / millions < 0.04


def test_wide_resnets_projections_are_counted_exactly() -> None:
    """WRN-28-10's 36.5M holds for zero padding too (36,220,634, within 1%): only the exact
    count shows the projection shortcuts its row asks for are built."""
    row = ["model.depth=26", "model.widen_factor=10", "after_add=identity"]
    assert _params([*row, "model.downsample=projection"]) == 36_479_194
    assert _params([*row, "model.downsample=zero_pad"]) == 36_220_634


def test_densenet_bc_structure() -> None:
    assert _params(["model=densenet"]) == 769_162  # the authors' CIFAR-10 count
    with torch.device("meta"):
        net = build_model(["model=densenet"])
    assert isinstance(net, DenseNet)
    layers = [m for m in net.features if type(m).__name__ == "DenseLayer"]
    assert len(layers) == 48  # (100 - 4) / 6 per block
    diagram = [type(m).__name__ for m in layers[0].body]
    assert diagram == ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]
    assert [layers[0].body[2].out_channels, layers[0].body[5].out_channels] == [48, 12]
    transitions = [m.out_channels for m in net.features[1:] if isinstance(m, nn.Conv2d)]
    assert transitions == [108, 150]  # floor(0.5 * (24 + 16 * 12)), floor(0.5 * (108 + 192))
    assert net.fc.in_features == 150 + 16 * 12


def test_a_dense_layer_passes_its_input_on_with_its_new_maps() -> None:
    """[x, H(x)]: every later layer reads every earlier one's maps, unchanged (a layer that
    dropped or altered its input would keep every count above)."""
    net = build_model(TINY_DENSENET).eval()
    layer = next(m for m in net.features if type(m).__name__ == "DenseLayer")
    x = torch.randn(2, layer.body[0].num_features, 8, 8)
    out = layer(x)
    assert torch.equal(out[:, : x.shape[1]], x)
    torch.testing.assert_close(out[:, x.shape[1] :], layer.body(x))
    assert out.shape[1] - x.shape[1] == 4  # the growth rate


def test_densenet_logits_are_the_classifier_of_the_spatial_mean() -> None:
    """Global average pooling (not max) after the final BN-ReLU, as the authors' code: no count
    or shape tells the two apart."""
    torch.manual_seed(0)
    net = build_model([*TINY_DENSENET, "data=cifar100"]).eval()
    seen: dict[str, torch.Tensor] = {}
    net.features.register_forward_hook(lambda module, inputs, out: seen.setdefault("out", out))
    logits = net(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, 100)
    torch.testing.assert_close(logits, net.fc(seen["out"].mean((2, 3))))


def test_densenet_is_initialised_as_the_resnets() -> None:
    """He fan-out convolutions, BN at 1/0 and a zero classifier bias (torch's defaults: a
    fan-in uniform conv, std 0.03 here, and a bias drawn)."""
    torch.manual_seed(0)
    net = build_model(
        ["model=densenet", "model.depth=10", "model.growth_rate=12", "model.width=24"]
    )
    layer = next(m for m in net.features if type(m).__name__ == "DenseLayer")
    weight = layer.body[5].weight  # the 3x3 conv, 4k = 48 -> k = 12 maps: fan_out 9 * 12
    assert weight.shape == (12, 48, 3, 3)
    assert weight.std().item() == pytest.approx((2 / (9 * 12)) ** 0.5, rel=0.05)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.weight.eq(1).all() and not m.bias.any() for m in norms)
    assert not net.fc.bias.any()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.arch=vgg"], "unknown architecture 'vgg'"),
        (["model.growth_rate=24"], "growth_rate.*model.arch=densenet"),
        (["model=densenet", "model.widen_factor=2"], "widen_factor.*model.arch=resnet"),
        (["model=densenet", "model.survival_last=0.5"], "survival_last"),
        (["model=densenet", "shortcut=gate"], "shortcut options have no meaning"),
        (["model=densenet", "after_add=identity"], "after_add options have no meaning"),
        (["model=densenet", "model.depth=101"], r"6n\+4.*100"),
        (["model=densenet", "model.block=basic", "model.depth=101"], r"3n\+4"),
        (["model=densenet", "model.compression=0"], "compression"),
        (  # a conv of no channels: torch's trace at the first step
            [
                "model=densenet",
                "model.depth=10",
                "model.width=8",
                "model.growth_rate=4",
                "model.compression=0.01",
            ],
            r"model.compression=0.01 leaves no channel after dense block 1 \(floor of it x 12\)",
        ),
        (["model.widen_factor=0"], "widen_factor"),
        (["model.dropout=1.0"], "dropout"),
        (["model.survival_last=0"], "survival_last"),
        (["model.survival_last=1.5"], r"must be in \(0, 1\]"),  # stochastic depth off, silently
        (["model.survival_last=0.5", "shortcut=none"], "needs a shortcut"),
        (  # a plain net too, whose dropped units passed zeros on
            ["model.survival_last=0.5", "shortcut=scale", "shortcut.scale=0"],
            "needs a shortcut carrying the input; shortcut.scale=0 would pass zeros on",
        ),
    ],
)
def test_meaningless_options_fail_clearly(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model(overrides)


# -- experiment files ---------------------------------------------------------------------------

EXPERIMENTS = Path(resnet_lab.__file__).parent / "conf" / "experiment"
GROUPS = {"plain": 10, "highway": 2, "neighbours": 5, "cifar100": 4}
PLAIN_NOTE = (
    "curves only (Fig. 6): deeper plain nets have higher training and test error; "
    "plain-110 above 60%"
)
BOTTLENECK = {"model.block": "bottleneck"}
PREACT = {"after_add.fn": "identity", "after_add.branch": "preact"}


def epochs(n: float, per_epoch: int = 391) -> int:
    """Epochs in iterations: 50k images at batch 128 are 391 (at batch 64, 782)."""
    return round(n * per_epoch)


# each neighbour's own paper: every trainer key that differs from the ResNet papers' recipe
SD_EPOCH = 352  # the authors' code: 45k training images at batch 128, the last batch smaller
SD_RECIPE = {
    "trainer.max_steps": 500 * SD_EPOCH,
    "trainer.milestones": [250 * SD_EPOCH, 375 * SD_EPOCH],
    "trainer.warmup_steps": 0,
    "trainer.nesterov": True,
    "trainer.eval_every": SD_EPOCH,  # an evaluation each epoch, the validation error choosing
    "trainer.test_at_best_val": True,
    "data.split": "val",
}
WRN_RECIPE = {
    "trainer.max_steps": epochs(200),
    "trainer.milestones": [epochs(60), epochs(120), epochs(160)],
    "trainer.lr_decay": 0.2,
    "trainer.weight_decay": 5e-4,
    "trainer.warmup_steps": 0,
    "trainer.nesterov": True,
    "data.normalization": "channel_mean_std",
    "data.pad_mode": "reflect",  # "filling missing pixels with reflections of original image"
}
DENSENET_RECIPE = {
    "trainer.batch_size": 64,
    "trainer.max_steps": epochs(300, 782),
    "trainer.milestones": [epochs(150, 782), epochs(225, 782)],
    "trainer.warmup_steps": 0,
    "trainer.nesterov": True,
    "data.normalization": "channel_mean_std",  # "channel means and standard deviations"
}
NO_WARMUP = {"trainer.warmup_steps": 0}


def warmup(depth: int) -> int:
    """Deep Residual Learning warmed up ResNet-110 only (Sec. 4.2)."""
    return 400 if depth == 110 else 0


# name -> (order, reported, statistic, config values)
ROWS: dict[str, tuple[int, str | None, str, dict[str, Any]]] = {
    **{
        f"plain/plain_{d}": (
            i,
            None,
            "curves only",
            {"shortcut.name": "none", "model.depth": d, "trainer.warmup_steps": warmup(d)},
        )
        for i, d in enumerate((20, 32, 44, 56, 110), 1)
    },
    **{
        f"plain/residual_{d}": (
            i,
            None,
            "curves only",
            {"shortcut.name": "identity", "model.depth": d, "trainer.warmup_steps": warmup(d)},
        )
        for i, d in enumerate((20, 32, 44, 56, 110), 6)
    },
    "highway/highway_19": (
        1,
        "7.54",
        "best (mean +- std)",
        {"shortcut.name": "highway", "shortcut.gate_bias": -2.0, "model.depth": 20, **NO_WARMUP},
    ),
    "highway/highway_32": (
        2,
        "8.80",
        "not stated",
        {"shortcut.name": "highway", "shortcut.gate_bias": -2.0, "model.depth": 32, **NO_WARMUP},
    ),
    "neighbours/stochastic_depth_110_baseline": (
        1,
        "6.41",
        "not stated",
        {"model.survival_last": 1.0, "model.depth": 110, **SD_RECIPE},
    ),
    "neighbours/stochastic_depth_110": (
        2,
        "5.23",
        "not stated",
        {"model.survival_last": 0.5, "model.depth": 110, **SD_RECIPE},
    ),
    "neighbours/densenet_bc_100_12": (
        3,
        "4.51",
        "not stated",
        {
            "model.arch": "densenet",
            "model.depth": 100,
            "model.growth_rate": 12,
            "model.width": 24,
            "model.block": "bottleneck",
            "model.compression": 0.5,
            **DENSENET_RECIPE,
        },
    ),
    "neighbours/densenet_bc_250_24": (
        4,
        "3.62",
        "not stated",
        {
            "model.arch": "densenet",
            "model.depth": 250,
            "model.growth_rate": 24,
            "model.width": 48,
            "model.block": "bottleneck",
            "model.compression": 0.5,
            **DENSENET_RECIPE,
        },
    ),
    "neighbours/wrn_28_10": (
        5,
        "3.89",  # the authors' README: WRN-28-10-dropout, meanstd, median of 5 runs
        "median of 5",
        {
            "model.depth": 26,
            "model.widen_factor": 10,
            "model.dropout": 0.3,
            "model.downsample": "projection",
            **WRN_RECIPE,
            **PREACT,
        },
    ),
    "cifar100/original_164": (1, "25.16", "median of 5", {"model.depth": 164, **BOTTLENECK}),
    "cifar100/preact_164": (
        2,
        "24.33",
        "median of 5",
        {"model.depth": 164, **BOTTLENECK, **PREACT},
    ),
    "cifar100/original_1001": (3, "27.82", "median of 5", {"model.depth": 1001, **BOTTLENECK}),
    "cifar100/preact_1001": (
        4,
        "22.71",
        "median of 5",  # every CIFAR figure of the paper (Section 3.1)
        {"model.depth": 1001, **BOTTLENECK, **PREACT},
    ),
}


def test_one_file_per_row() -> None:
    files = sorted(
        f"{group}/{p.stem}" for group in GROUPS for p in (EXPERIMENTS / group).glob("*.yaml")
    )
    assert files == sorted(ROWS)
    for group, count in GROUPS.items():
        orders = sorted(ROWS[n][0] for n in ROWS if n.startswith(f"{group}/"))
        assert orders == list(range(1, count + 1))


@pytest.mark.parametrize("name", sorted(ROWS))
def test_experiment_composes_and_builds(name: str) -> None:
    text = (EXPERIMENTS / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    cfg = compose_config([f"+experiment={name}"])
    order, reported, statistic, values = ROWS[name]
    e = cfg.experiment
    assert (e.name, e.order, e.reported, e.statistic) == (name, order, reported, statistic)
    assert e.reported is None or re.fullmatch(r"\d+\.\d\d", e.reported)
    assert e.source.startswith("arXiv:") and e.table and e.row
    assert {k: OmegaConf.select(cfg, k) for k in values} == values
    default = compose_config()  # the ResNet papers' net and recipe: nothing else may change
    for group in ("trainer", "model", "shortcut", "after_add", "data"):
        listed = {k.split(".", 1)[1] for k in values if k.startswith(f"{group}.")}
        listed |= {"name", "num_classes"} if group == "data" else set()  # checked below
        ours, theirs = (
            {k: v for k, v in OmegaConf.to_container(c[group]).items() if k not in listed}
            for c in (cfg, default)
        )
        assert ours == theirs, group
    assert cfg.data.name == ("cifar100" if name.startswith("cifar100/") else "cifar10")
    assert (cfg.seed, cfg.profile, cfg.data.num_classes) == (0, "paper", cfg.model.num_classes)
    if name.startswith("plain/"):
        assert e.note == PLAIN_NOTE
    if name.startswith("highway/"):
        assert "NOT the highway paper's architecture" in e.note
    if cfg.model.depth < 1000:  # ResNet-1001 is built in test_models.py
        with torch.device("meta"):
            build_network(cfg)


@pytest.mark.parametrize(
    ("row", "twin"),
    [
        *(
            (f"plain={kind}_{d}", f"table6=resnet{d}")
            for kind in ("plain", "residual")
            for d in (20, 32, 44, 56, 110)
        ),
        ("highway=highway_19", "table6=resnet20"),
        ("highway=highway_32", "table6=resnet32"),
    ],
)
def test_deep_residual_learning_rows_train_as_their_table6_twin(row: str, twin: str) -> None:
    """Fig. 6 curves and the highway rows compare with Table 6: the same recipe, to the letter."""
    trainer = compose_config([f"+experiment/{row}"]).trainer
    assert trainer == compose_config([f"+experiment/{twin}"]).trainer


def test_the_documented_wrn_command_by_hand_trains_the_row() -> None:
    """docs/neighbours.md gives WRN-28-10's row and its options by hand: the by-hand command
    left out the row's input pipeline (the report then set its runs apart as other settings)."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "neighbours.md").read_text()
    row, by_hand = re.search(
        r"resnet-lab (\+experiment=neighbours/wrn_28_10) +# or, by hand:\nresnet-lab (.*?)\n```",
        text,
        re.DOTALL,
    ).groups()
    composed = [compose_config(shlex.split(args.replace("\\\n", " "))) for args in (row, by_hand)]
    for cfg in composed:
        del cfg.experiment
    assert composed[0] == composed[1]


@pytest.mark.parametrize(("group", "count"), sorted(GROUPS.items()))
def test_glob_sweep_covers_one_group(group: str, count: int) -> None:
    from hydra import initialize_config_module
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    with initialize_config_module(config_module="resnet_lab.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        parser = OverridesParser.create(config_loader=loader)
        (jobs,) = BasicSweeper.split_arguments(
            parser.parse_overrides([f"+experiment/{group}=glob(*)"]), max_batch_size=None
        )
        names = {compose_config(job).experiment.name for job in jobs}
    assert names == {n for n in ROWS if n.startswith(f"{group}/")} and len(jobs) == count


# -- the gate-statistics tool -------------------------------------------------------------------


def _run_folder(tmp_path: Path, shortcut: str, *overrides: str) -> tuple[Path, nn.Module, Any]:
    cfg = compose_config(
        [
            *TINY,
            f"shortcut={shortcut}",
            "data=synthetic",
            "data.synthetic_train_size=32",
            "data.synthetic_test_size=48",
            "trainer.eval_batch_size=20",
            "trainer.device=cpu",
            *overrides,
        ]
    )
    torch.manual_seed(0)
    net = build_network(cfg)
    for m in net.modules():  # gates that differ between inputs
        if isinstance(m, nn.Conv2d) and m.bias is not None:
            nn.init.normal_(m.weight, std=0.5)
    state = {
        "model": net.state_dict(),
        "config": OmegaConf.to_container(cfg, resolve=True),
        "train_state": {"step": 12},
    }
    run_dir = tmp_path / "run"
    save_checkpoint(state, run_dir / "ckpt", 12, keep=1)
    return run_dir, net, cfg


def test_gate_tool_measures_a_val_split_run_on_its_validation_images(tmp_path: Path) -> None:
    """A run trained with data.split=val is measured on its evaluation images, the last tenth
    of its training images (3 of 32), not the test set (a mutant that read the test set
    passed the suite)."""
    run_dir, _, _ = _run_folder(tmp_path, "gate", "data.split=val")
    assert gates_main([str(run_dir)]) == 0
    record = json.loads((run_dir / "gates" / "gates.json").read_text())
    assert (record["eval_split"], record["images"]) == ("val", 3)


@pytest.mark.parametrize("shortcut", ["highway", "gate", "shortcut_gate"])
def test_gate_tool_writes_means_per_unit_and_class(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    shortcut: str,
) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from resnet_lab.data import eval_batches, load_data

    run_dir, net, cfg = _run_folder(tmp_path, shortcut)
    monkeypatch.chdir(tmp_path)
    assert gates_main(["run"]) == 0
    out = run_dir / "gates"
    record = json.loads((out / "gates.json").read_text())
    assert (record["step"], record["images"], len(record["units"])) == (12, 48, 3)
    assert record["run_dir"] == str(run_dir)  # given relative, found from anywhere

    # independent computation: sigmoid of each gate convolution's output (after its BN, where
    # the gate has one: Table 1's gates), per image and class
    data = load_data(cfg.data, "cpu")
    outputs: dict[int, list[torch.Tensor]] = {i: [] for i in range(3)}
    values: dict[int, list[torch.Tensor]] = {i: [] for i in range(3)}  # every gate value

    def record_gate(k: int, output: torch.Tensor) -> None:
        outputs[k].append(torch.sigmoid(output).mean((1, 2, 3)))
        values[k].append(torch.sigmoid(output).flatten())

    hooks = [
        (u.shortcut.gate_norm or u.shortcut.gate_conv).register_forward_hook(
            lambda m, i, o, k=k: record_gate(k, o)
        )
        for k, u in enumerate(net.units)
    ]
    assert all((u.shortcut.gate_norm is None) == (shortcut == "highway") for u in net.units)
    batches = list(eval_batches(data, 20))
    with torch.no_grad():
        for x, _ in batches:
            net.eval()(x)
    for h in hooks:
        h.remove()
    labels = torch.cat([y for _, y in batches])
    assert [unit["unit"] for unit in record["units"]] == [0, 1, 2]
    for unit in record["units"]:
        per_image = torch.cat(outputs[unit["unit"]]).double()
        assert unit["module"].startswith(f"units.{unit['unit']}.shortcut")  # its own unit's
        assert unit["mean"] == pytest.approx(per_image.mean().item(), rel=1e-5)
        for c, name in enumerate(data.classes):
            chosen = per_image[labels == c]
            expected = chosen.mean().item() if len(chosen) else None
            assert unit["per_class"][name] == pytest.approx(expected, rel=1e-5)

    rows = list(csv.reader((out / "gates.csv").open()))
    assert rows[0] == ["unit", "module", "all", *data.classes] and len(rows) == 4
    for row, unit in zip(rows[1:], record["units"], strict=True):  # each row its unit's
        assert row[:2] == [str(unit["unit"]), unit["module"]]
        numbers = [unit["mean"], *(unit["per_class"][name] for name in data.classes)]
        for cell, number in zip(row[2:], numbers, strict=True):
            assert (cell == "") if number is None else float(cell) == pytest.approx(number)
    assert (out / "gates.png").stat().st_size > 0
    events = EventAccumulator(str(out))
    events.Reload()
    assert events.Tags()["histograms"] == [f"gate/unit_{i:03d}" for i in range(3)]
    assert len(values[2]) and torch.cat(values[2]).numel() == 48 * 16 * 8 * 8
    for k in range(3):  # each unit's own gate values
        histogram = events.Histograms(f"gate/unit_{k:03d}")[0]
        assert histogram.step == 12
        every = torch.cat(values[k]).double()
        assert histogram.histogram_value.num == every.numel()  # every value of the eval set
        assert histogram.histogram_value.min == pytest.approx(every.min().item(), rel=1e-5)
        assert histogram.histogram_value.max == pytest.approx(every.max().item(), rel=1e-5)
        assert histogram.histogram_value.sum == pytest.approx(every.sum().item(), rel=1e-4)

    # measured again: the histograms are replaced, as gates.json is; other event files stay
    foreign = out / "events.out.tfevents.1.host.1.0"  # e.g. a run's own, with --out RUN_DIR
    foreign.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="resnet_lab.gates"):  # synthetic: not read
        assert gates_main([str(run_dir), "--data-root", str(tmp_path / "nowhere")]) == 0
    assert f"--data-root {tmp_path / 'nowhere'} is not used: the run trained on synthetic" in (
        caplog.text
    )
    # a run stopped before its last step: its gates are not the trained net's, as
    # resnet-lab-eval and -lesion say (the checkpoint of step 12, of the default 64,000)
    assert "step 12 of 64,000: the run had not finished training (a partial net)" in caplog.text
    assert foreign.exists() and len(list(out.glob("events.out.tfevents.*.gates"))) == 1
    events = EventAccumulator(str(out))
    events.Reload()
    assert len(events.Histograms("gate/unit_002")) == 1


def test_gate_tool_measures_a_bf16_run_as_it_logged_its_gates(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bf16 run evaluates, and logs its gate means, under bf16 autocast: the tool too."""
    from resnet_lab.train import train

    run = [*TINY, "shortcut=gate", "data=synthetic", "data.synthetic_train_size=32"]
    run += ["data.synthetic_test_size=48", "trainer.eval_batch_size=20", "trainer.device=cpu"]
    run += ["trainer.precision=bf16", "trainer.max_steps=3", "trainer.progress=none"]
    train(compose_config(run), tmp_path)
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    final = [r for r in logged if "gate/unit_000" in r][-1]
    with caplog.at_level(logging.WARNING, logger="resnet_lab.gates"):
        assert gates_main([str(tmp_path)]) == 0
    assert "computed under bf16 autocast, as the run evaluated" in caplog.text
    assert "partial net" not in caplog.text  # it trained its 3 steps
    units = json.loads((tmp_path / "gates" / "gates.json").read_text())["units"]
    for unit in units:
        assert unit["mean"] == pytest.approx(final[f"gate/unit_{unit['unit']:03d}"], rel=1e-5)


def test_a_diverged_gate_is_null_in_gates_json(tmp_path: Path) -> None:
    """A gate a diverged net made NaN was a bare NaN in gates.json, which strict JSON readers
    refuse; the lab writes such values as null elsewhere (result.json, metrics.jsonl)."""
    from resnet_lab.checkpoint import list_checkpoints, save_checkpoint
    from resnet_lab.train import train

    run = [*TINY, "shortcut=gate", "data=synthetic", "data.synthetic_train_size=32"]
    run += ["data.synthetic_test_size=16", "trainer.device=cpu", "trainer.max_steps=2"]
    train(compose_config([*run, "trainer.progress=none"]), tmp_path)
    newest = list_checkpoints(tmp_path / "ckpt")[-1]
    state = torch.load(newest, map_location="cpu", weights_only=False)
    (bias,) = [k for k in state["model"] if k.endswith("units.0.shortcut.gate_norm.bias")]
    state["model"][bias][:] = float("nan")  # every channel of unit 0's gate
    save_checkpoint(state, tmp_path / "ckpt", state["train_state"]["step"], keep=2)
    assert gates_main([str(tmp_path)]) == 0

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    record = json.loads((tmp_path / "gates" / "gates.json").read_text(), parse_constant=refuse)
    assert record["units"][0]["mean"] is None  # (the NaN flows on into the later units)


def test_gate_tool_refuses_training_images_other_than_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The gates are measured on the run's images normalised as it trained: training images
    whose mean is not the one its checkpoint saved are another dataset, refused."""
    from resnet_lab.data import load_data

    run_dir, _, cfg = _run_folder(tmp_path, "gate")
    own = load_data(cfg.data, "cpu").mean
    (step,) = (run_dir / "ckpt").glob("*.pt")
    state = torch.load(step, weights_only=False)
    for mean, code in ((own + 1e-3, 2), (own, 0)):
        state["input_statistics"] = {"mean": mean, "std": None}
        save_checkpoint(state, run_dir / "ckpt", 12, keep=1)
        assert gates_main([str(run_dir)]) == code
    assert (
        "are not those its run trained on (their mean differs from the one its checkpoint "
        "saved): give the run's data with --data-root DIR" in capsys.readouterr().err
    )


def test_gate_tool_stopped_by_a_signal_says_so(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import signal

    from resnet_lab import gates

    run_dir, _, _ = _run_folder(tmp_path, "gate")
    real_run = gates.run
    for signum in (signal.SIGINT, signal.SIGTERM):
        with monkeypatch.context() as patch:
            patch.setattr(gates, "run", lambda args, s=signum: os.kill(os.getpid(), s))
            assert gates_main([str(run_dir)]) == 128 + signum
        assert (
            f"resnet-lab-gates: interrupted by {signum.name} before writing anything (gates files "
            in capsys.readouterr().err
        )
    # a signal while the files are written: they are finished, and it says so
    real_heatmap = gates.plot_heatmap

    def signalled_heatmap(*args: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        real_heatmap(*args)

    monkeypatch.setattr(gates, "plot_heatmap", signalled_heatmap)
    assert real_run is gates.run and gates_main([str(run_dir)]) == 128 + signal.SIGTERM
    out = run_dir / "gates"
    assert (
        f"SIGTERM while writing: the statistics were finished first and are complete in {out}"
        in (capsys.readouterr().err)
    )
    assert (out / "gates.png").stat().st_size > 0 and json.loads((out / "gates.json").read_text())


def test_gate_tool_given_a_checkpoint_kept_outside_a_run_writes_beside_it(tmp_path: Path) -> None:
    """A run's gates/ lies beside its ckpt/; a checkpoint file in a folder of its own gets a
    gates/ in that folder, not in the one above it."""
    run_dir, _, _ = _run_folder(tmp_path, "gate")
    mine = tmp_path / "mine"
    (run_dir / "ckpt").rename(mine)
    (checkpoint,) = mine.glob("step_*.pt")
    assert gates_main([str(checkpoint)]) == 0
    assert (mine / "gates" / "gates.json").is_file() and not (tmp_path / "gates").exists()


def test_gate_tool_rejects_runs_without_gates(tmp_path: Path, capsys: Any) -> None:
    run_dir, _, _ = _run_folder(tmp_path, "identity")
    assert gates_main([str(run_dir)]) == 2
    assert "no gates; the tool needs shortcut=gate or highway or shortcut_gate" in (
        capsys.readouterr().err
    )
    # told before the data are looked for
    cifar_run, _, _ = _run_folder(tmp_path / "cifar", "identity", "data=cifar10")
    assert gates_main([str(cifar_run), "--data-root", str(tmp_path / "nowhere")]) == 2
    assert "no gates" in capsys.readouterr().err
    assert gates_main([str(tmp_path / "nowhere")]) == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_gate_tool_refuses_an_output_it_cannot_write_before_measuring(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resnet_lab import gates

    run_dir, _, _ = _run_folder(tmp_path, "gate")
    monkeypatch.setattr(gates, "measure", lambda *args: pytest.fail("measured first"))
    result = run_dir / "result.json"
    result.write_text("{}")
    assert gates_main([str(run_dir), "--out", str(result)]) == 2
    assert f"--out {result} is a file: give a folder" in capsys.readouterr().err
    assert gates_main([str(run_dir), "--out", str(result / "gates")]) == 2
    assert f"--out {result / 'gates'}: {result} is a file, not a folder" in capsys.readouterr().err
    link = tmp_path / "link"  # to a disk not mounted: "File exists", said Python
    link.symlink_to(tmp_path / "unmounted")
    assert gates_main([str(run_dir), "--out", str(link / "gates")]) == 2
    assert f"{link} is a link to {tmp_path}/unmounted, which does not exist" in (
        capsys.readouterr().err
    )
    # a run's folder (or a study's): the gates' TensorBoard events showed as that run's
    assert gates_main([str(run_dir), "--out", str(run_dir)]) == 2
    assert f"--out {run_dir} holds a run or a lesion study (result.json): give" in (
        capsys.readouterr().err
    )
    # its checkpoints' folder, or one inside it: files among those a live run prunes
    ckpt = run_dir / "ckpt"
    for out, where in ((ckpt, "is"), (ckpt / "g", "lies in")):
        assert gates_main([str(run_dir), "--out", str(out)]) == 2
        assert capsys.readouterr().err == (
            f"resnet-lab-gates: error: --out {out} {where} a run's checkpoint folder ({ckpt}): "
            "give the gate statistics a folder of their own (the default is the run's gates/)\n"
        )
    assert not (ckpt / "g").exists()


def test_gate_tool_on_a_full_disk_keeps_the_earlier_measurement_whole(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gates.json was cut at 4 KiB beside the earlier measurement's other files, with a trace;
    and a refused command left the empty folder it made."""
    import errno

    from resnet_lab import gates

    run_dir, _, _ = _run_folder(tmp_path, "gate")
    assert gates_main([str(run_dir)]) == 0
    out = run_dir / "gates"
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def full_disk(*args: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(gates, "plot_heatmap", full_disk)
    assert gates_main([str(run_dir)]) == 2
    assert capsys.readouterr().err == (
        f"resnet-lab-gates: error: cannot write the gate statistics into {out} (No space left "
        "on device): make room or give another --out; an earlier measurement there is kept\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # and nothing else
    new = tmp_path / "new"
    assert gates_main([str(run_dir), "--out", str(new / "a" / "b")]) == 2
    assert not new.exists()  # nor its parents, which the command made too
    assert gates_main([str(run_dir), "--out", str(new), "--device", "mps"]) == 2
    assert "--device" in capsys.readouterr().err and not new.exists()
    # a killed command's hidden folder goes at the next writing (TensorBoard lists it as a run)
    monkeypatch.undo()
    left = out / f"{gates.STAGING_PREFIX}killed"
    left.mkdir()
    (left / "events.out.tfevents.1.host.1.0.gates").write_bytes(b"")
    assert gates_main([str(run_dir)]) == 0
    names = sorted(p.name for p in out.iterdir())  # a new events file, as each writing makes
    assert not left.exists() and len(names) == len(before) == 4 and names[0].endswith(".gates")


def test_gate_tool_killed_while_moving_its_files_in_leaves_no_record_of_another_measurement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The earlier gates.json stayed beside the new gates.csv and gates.png, which disagreed
    with it, and nothing said so."""
    import os

    from resnet_lab import gates

    run_dir, _, _ = _run_folder(tmp_path, "gate")
    assert gates_main([str(run_dir)]) == 0
    out = run_dir / "gates"
    moved: list[str] = []
    replace = os.replace

    class Killed(BaseException):
        """A SIGKILL between two of the moves."""

    def killed_after_two(source: Any, target: Any) -> None:
        if len(moved) == 2:
            raise Killed
        moved.append(Path(target).name)
        replace(source, target)

    monkeypatch.setattr(gates.os, "replace", killed_after_two)
    with pytest.raises(Killed):
        gates_main([str(run_dir)])
    assert len(moved) == 2 and "gates.json" not in moved
    assert not (out / "gates.json").exists()  # the files there are one measurement's, unmarked
    monkeypatch.undo()
    assert gates_main([str(run_dir)]) == 0  # the next command writes them all
    assert {p.name for p in out.iterdir() if not p.name.startswith("events")} == {
        "gates.json",
        "gates.csv",
        "gates.png",
    }


def test_gate_tool_leaves_a_live_commands_files_alone(tmp_path: Path, capsys: Any) -> None:
    """Two commands into one --out: the second deleted the first's hidden folder as a killed
    command's, and the first failed, told to make room on the disk."""
    import os
    import subprocess

    from resnet_lab import gates

    run_dir, _, _ = _run_folder(tmp_path, "gate")
    out = run_dir / "gates"
    writing = out / f"{gates.STAGING_PREFIX}live"  # the first command's, still writing
    writing.mkdir(parents=True)
    first = subprocess.Popen(["sleep", "60"])
    try:
        (out / "resnet-lab-gates.lock").write_text(f"{os.uname().nodename} {first.pid}\n")
        assert gates_main([str(run_dir)]) == 2
    finally:
        first.kill()
        first.wait()
    assert (
        f"another resnet-lab-gates ({os.uname().nodename} {first.pid}) is writing into {out}; wait "
        "for it, or choose another folder (--out DIR)"
    ) in capsys.readouterr().err
    assert writing.exists() and not (out / "gates.json").exists()
    assert gates_main([str(run_dir)]) == 0  # gone: its lock taken over, its folder removed
    assert not writing.exists() and not (out / "resnet-lab-gates.lock").exists()


@pytest.mark.parametrize("name", ["neighbours/densenet_bc_100_12", "neighbours/wrn_28_10"])
def test_smoke_profile_shrinks_a_rows_own_recipe(name: str) -> None:
    """Recipes sit before the profile in the defaults list, so profile=smoke always wins."""
    cfg = compose_config([f"+experiment={name}", "profile=smoke"])
    assert (cfg.trainer.max_steps, list(cfg.trainer.milestones)) == (4, [2, 3])
    assert cfg.trainer.nesterov  # the rest of the row's recipe stays


def test_gate_stats_histogram_extremes_and_unseen_classes(tmp_path: Path) -> None:
    """Known gate values through GateStats: per-class means (None for a class without images),
    the CSV's per-class columns, and the TensorBoard histogram's buckets, min, max, sums."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from resnet_lab.gates import GateStats, summarize, write_csv, write_histograms

    stats = GateStats(1, 3, torch.device("cpu"))
    stats.add_labels(torch.tensor([0, 0, 2]))
    values = torch.tensor([[0.005, 0.5], [0.995, 0.5], [0.105, 0.295]])  # 3 images x 2 channels
    stats.hook(0)(nn.Identity(), (), values.view(3, 2, 1, 1))
    classes = ["cat", "airplane", "bird"]  # not sorted: the columns follow this order
    (unit,) = summarize(["units.0.shortcut.gate"], stats, classes)
    assert unit["mean"] == pytest.approx(0.4)  # image means 0.2525, 0.7475, 0.2
    per_class = {"cat": pytest.approx(0.5), "airplane": None, "bird": pytest.approx(0.2)}
    assert unit["per_class"] == per_class  # no image of class 1: None, not 0

    write_csv([unit], classes, tmp_path / "gates.csv")
    header, line = list(csv.reader((tmp_path / "gates.csv").open()))
    assert header == ["unit", "module", "all", *classes]
    assert line[:2] == ["0", "units.0.shortcut.gate"] and line[4] == ""
    assert [float(v) for v in (line[2], line[3], line[5])] == pytest.approx([0.4, 0.5, 0.2])

    write_histograms(stats, tmp_path, 7)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    (event,) = events.Histograms("gate/unit_000")
    h = event.histogram_value
    assert (event.step, h.num) == (7, 6)
    assert (h.min, h.max) == pytest.approx((0.005, 0.995))
    assert (h.sum, h.sum_squares) == pytest.approx((2.4, float((values.double() ** 2).sum())))
    # buckets of equal width in logit (0.2 from -10 to 10): bucket b holds the gates whose
    # logit lies in [-10 + 0.2 b, -10 + 0.2 (b + 1)), the last one up to 1
    limits = torch.sigmoid(torch.tensor([-9.8, -9.6, 0.0, 10.0], dtype=torch.float64))
    assert len(h.bucket_limit) == 100 and h.bucket[-1] >= 0
    assert [h.bucket_limit[i] for i in (0, 1, 49)] == pytest.approx(limits[:3].tolist())
    assert h.bucket_limit[-1] == 1.0
    logits = torch.logit(values.double().flatten())  # -5.29, 0, 5.29, -2.14, 0, -0.87
    expected = sorted(int((v + 10) / 0.2) for v in logits.tolist())
    counts = {b: int(c) for b, c in enumerate(h.bucket) if c}
    assert counts == {b: expected.count(b) for b in expected}
    assert counts == {23: 1, 39: 1, 45: 1, 50: 2, 76: 1}


def test_gate_histogram_buckets_resolve_a_nearly_closed_gate() -> None:
    """A b_g = -6 row's gates, about 0.0025 (sigmoid(-6)) with some spread: even buckets of
    0.01 held them all in the first one; in logit they spread over many."""
    from resnet_lab.gates import GateStats

    stats = GateStats(1, 1, torch.device("cpu"))
    stats.add_labels(torch.zeros(1000, dtype=torch.long))
    gates = torch.sigmoid(
        -6 + torch.randn(1000, 1, 1, 1, generator=torch.Generator().manual_seed(0))
    )
    stats.hook(0)(nn.Identity(), (), gates)
    assert (gates < 0.01).float().mean() > 0.9 and (stats.counts[0] > 0).sum() > 15
    assert int(stats.counts[0].sum()) == 1000
    # a diverged net's NaN gates: left out of the histogram (bucketize put them at the top, as
    # fully open gates) and of its extremes, and counted
    nan = torch.tensor([0.25, float("nan"), 0.75, float("inf")]).view(4, 1, 1, 1)
    stats = GateStats(1, 1, torch.device("cpu"))
    stats.add_labels(torch.zeros(4, dtype=torch.long))
    stats.hook(0)(nn.Identity(), (), nan)
    assert int(stats.counts[0].sum()) == 2 and int(stats.nonfinite) == 2
    assert (float(stats.mins[0]), float(stats.maxs[0])) == (0.25, 0.75)
    assert float(stats.sums[0]) == 1.0


def test_densenet_transitions_floor_and_halve() -> None:
    """floor(theta * m) with an odd m (docs/neighbours.md), and each transition halves the map:
    32 -> 16 -> 8 before the global pooling; the stem keeps 32x32."""
    net = build_model(["model=densenet", "model.depth=10", "model.growth_rate=3", "model.width=8"])
    transitions = [m.out_channels for m in net.features[1:] if isinstance(m, nn.Conv2d)]
    assert transitions == [5, 4]  # floor(0.5 * (8 + 3)), floor(0.5 * (5 + 3))
    assert net.fc.in_features == 4 + 3
    sizes = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: sizes.append(out.shape[-1]))
        for m in net.features
        if isinstance(m, nn.Conv2d | nn.AvgPool2d)
    ]
    out = net.eval().features(torch.randn(2, 3, 32, 32))
    for h in hooks:
        h.remove()
    assert sizes == [32, 32, 16, 16, 8]  # stem, transition conv, pool, conv, pool
    assert out.shape == (2, 7, 8, 8)


def test_densenet_ends_with_bn_relu() -> None:
    net = build_model(TINY_DENSENET).eval()
    assert [type(m).__name__ for m in net.features[-2:]] == ["BatchNorm2d", "ReLU"]
    assert (net.features(torch.randn(2, 3, 32, 32)) >= 0).all()


def test_densenet_dropout_follows_every_convolution_but_the_stem() -> None:
    """docs/neighbours.md: model.dropout is applied after each convolution (the authors' code:
    both convolutions of a bottleneck layer and the transition's)."""
    net = build_model([*TINY_DENSENET, "model.dropout=0.2"])
    layers = [m for m in net.features if type(m).__name__ == "DenseLayer"]
    for layer in layers:
        assert [type(m).__name__ for m in layer.body] == [
            "BatchNorm2d",
            "ReLU",
            "Conv2d",
            "Dropout",
            "BatchNorm2d",
            "ReLU",
            "Conv2d",
            "Dropout",
        ]
    flat = [m for m in net.features.modules() if isinstance(m, nn.Conv2d | nn.Dropout)]
    convs = [i for i, m in enumerate(flat) if isinstance(m, nn.Conv2d)]
    assert all(isinstance(flat[i + 1], nn.Dropout) for i in convs[1:])  # not the stem
    assert not isinstance(flat[1], nn.Dropout)
    assert {m.p for m in net.modules() if isinstance(m, nn.Dropout)} == {0.2}
    assert len([m for m in flat if isinstance(m, nn.Dropout)]) == 2 * len(layers) + 2


@pytest.mark.parametrize(
    ("depth", "growth", "millions"),
    [(40, 12, 1.0), (100, 12, 7.0), (100, 24, 27.2)],  # Huang et al., Table 2: DenseNet (no B/C)
)
def test_basic_densenet_matches_the_papers_counts(depth: int, growth: int, millions: float) -> None:
    overrides = [
        "model=densenet",
        "model.block=basic",
        f"model.depth={depth}",
        f"model.growth_rate={growth}",
        "model.width=16",
        "model.compression=1.0",
    ]
    assert abs(_params(overrides) / 1e6 - millions) / millions < 0.04
    with torch.device("meta"):
        net = build_model(overrides)
    layers = [m for m in net.features if type(m).__name__ == "DenseLayer"]
    assert len(layers) == depth - 4  # (L - 4) / 3 per block, 3 blocks
    assert [type(m).__name__ for m in layers[0].body] == ["BatchNorm2d", "ReLU", "Conv2d"]
    assert layers[0].body[2].kernel_size == (3, 3)


def test_gate_heat_map_does_not_blow_up_noise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Class deviations of a thousandth filled the whole colour scale, like strong stripes."""
    from matplotlib.figure import Figure

    from resnet_lab.gates import plot_heatmap

    units = [{"unit": 0, "mean": 0.2, "per_class": {"a": 0.201, "b": 0.199}}]
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    plot_heatmap(units, ["a", "b"], tmp_path / "gates.png", "title")
    deviations = drawn[0].axes[1].images[0]
    assert deviations.get_clim() == pytest.approx((-0.05, 0.05))
    units = [{"unit": 0, "mean": 0.5, "per_class": {"a": 0.8, "b": 0.2}}]  # real stripes stay
    plot_heatmap(units, ["a", "b"], tmp_path / "gates.png", "title")
    assert drawn[1].axes[1].images[0].get_clim() == pytest.approx((-0.3, 0.3))
    # left, the means themselves on the gate's whole range; right, their deviations
    means, deviations = (axes.images[0] for axes in drawn[1].axes[:2])
    assert means.get_clim() == (0, 1)
    assert means.get_array().tolist()[0] == pytest.approx([0.8, 0.2])
    assert deviations.get_array().tolist()[0] == pytest.approx([0.3, -0.3])
