"""The model zoo: every unit the papers define, their math, parameter counts and invalid options."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from conftest import REPO
from omegaconf import OmegaConf
from torch import Tensor, nn

import resnet_lab.conf
from resnet_lab import build_model
from resnet_lab.config import ShortcutCfg
from resnet_lab.errors import ConfigError
from resnet_lab.models import AFTER_ADD, BRANCH_LAYOUTS, SHORTCUTS, ResidualUnit
from resnet_lab.models.shortcuts import Projection, ShortcutSite, make_downsample
from resnet_lab.models.units import ConvSpec

CONF = Path(resnet_lab.conf.__file__).parent
# from the registry and the option files, so a new variant is tested without editing this file
SHORTCUT_OPTIONS = SHORTCUTS.names()
AFTER_ADD_OPTIONS = sorted(p.stem for p in (CONF / "after_add").glob("*.yaml"))
TINY = ["model.width=4"]


def test_every_registered_part_has_its_option_file_and_back() -> None:
    """`shortcut=NAME` picks conf/shortcut/NAME.yaml, whose `name` picks the class: the two
    lists must match; an after_add file names a registered function and branch layout."""
    files = {p.stem: OmegaConf.load(p) for p in (CONF / "shortcut").glob("*.yaml")}
    assert sorted(files) == SHORTCUTS.names()
    assert all(cfg.name == stem for stem, cfg in files.items())
    units = {name: OmegaConf.load(CONF / f"after_add/{name}.yaml") for name in AFTER_ADD_OPTIONS}
    for name, cfg in units.items():
        assert cfg.fn in AFTER_ADD.names() and cfg.branch in BRANCH_LAYOUTS.names(), name
    assert {cfg.fn for cfg in units.values()} == set(AFTER_ADD.names())  # each one reachable


@pytest.mark.parametrize(
    ("shortcut", "after_add", "block"),
    list(itertools.product(SHORTCUT_OPTIONS, AFTER_ADD_OPTIONS, ["basic", "bottleneck"])),
)
def test_every_combination_trains(shortcut: str, after_add: str, block: str) -> None:
    depth = 8 if block == "basic" else 11
    net = build_model(
        [
            *TINY,
            f"shortcut={shortcut}",
            f"after_add={after_add}",
            f"model.block={block}",
            f"model.depth={depth}",
        ]
    )
    net.train()
    x = torch.randn(4, 3, 32, 32)
    out = net(x)
    assert out.shape == (4, 10)
    nn.functional.cross_entropy(out, torch.tensor([0, 1, 2, 3])).backward()
    for name, p in net.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"


def _unit(shortcut: ShortcutCfg, fn: str = "relu", branch: str = "post_act") -> ResidualUnit:
    torch.manual_seed(0)
    convs = [ConvSpec(8, 8, 3), ConvSpec(8, 8, 3)]
    layout = BRANCH_LAYOUTS.get(branch)
    unit = ResidualUnit(
        convs,
        layout,
        SHORTCUTS.get(shortcut.name)(ShortcutSite(8, 8), shortcut),
        AFTER_ADD.get(fn)(8),
        share_head=False,
    )
    from resnet_lab.models.resnet import _init_weights

    _init_weights(unit)
    return unit.eval()


X = torch.randn(2, 8, 16, 16)


@pytest.mark.parametrize(("scale", "branch_scale"), [(0.0, 1.0), (0.5, 1.0), (0.5, 0.5)])
def test_constant_scaling_math(scale: float, branch_scale: float) -> None:
    """Table 1's rows: `scale` weighs the shortcut, `branch_scale` F(x); the asymmetric rows
    tell the two apart (0/1 is a plain net)."""
    unit = _unit(ShortcutCfg(name="scale", scale=scale, branch_scale=branch_scale))
    expected = torch.relu(scale * X + branch_scale * unit.branch(X))
    torch.testing.assert_close(unit(X), expected)


def test_identity_unit_math() -> None:
    unit = _unit(ShortcutCfg())
    torch.testing.assert_close(unit(X), torch.relu(X + unit.branch(X)))


def test_exclusive_gate_closed_is_identity_only() -> None:
    unit = _unit(ShortcutCfg(name="gate", gate_bias=-100.0), fn="identity")
    torch.testing.assert_close(unit(X), X)
    assert unit.shortcut.gate_norm.bias.eq(-100.0).all()


@pytest.mark.parametrize("name", ["gate", "shortcut_gate"])
def test_the_gate_is_a_sigmoid_of_bn_after_its_weight_layer(name: str) -> None:
    """Identity Mappings adopts BN right after every weight layer of Table 1's units: g(x) =
    sigmoid(BN(W_g x)), b_g the BN's bias; gate_norm=false: sigmoid(W_g x + b_g), no BN."""
    shortcut = _unit(ShortcutCfg(name=name, gate_bias=-1.0)).shortcut
    assert shortcut.gate_conv.bias is None and shortcut.gate_norm.bias.eq(-1.0).all()
    shortcut.train()  # BN over the batch: per channel mean 0, variance 1, then + b_g
    z = shortcut.gate_conv(X)
    mean, var = z.mean((0, 2, 3), keepdim=True), z.var((0, 2, 3), unbiased=False, keepdim=True)
    expected = torch.sigmoid((z - mean) / torch.sqrt(var + 1e-5) - 1.0)
    torch.testing.assert_close(shortcut.gate(X), expected)
    plain = _unit(ShortcutCfg(name=name, gate_bias=-1.0, gate_norm=False)).shortcut
    assert plain.gate_norm is None and plain.gate_conv.bias.eq(-1.0).all()
    torch.testing.assert_close(plain.gate(X), torch.sigmoid(plain.gate_conv(X)))


def test_exclusive_gate_mixes_both_paths() -> None:
    unit = _unit(ShortcutCfg(name="gate", gate_bias=-1.0), fn="identity")
    g = unit.shortcut.gate(X)
    torch.testing.assert_close(unit(X), (1 - g) * X + g * unit.branch(X))


def test_shortcut_only_gate_closed_is_plain_shortcut() -> None:
    gated = _unit(ShortcutCfg(name="shortcut_gate", gate_bias=-100.0))
    torch.testing.assert_close(gated(X), torch.relu(X + gated.branch(X)))


def test_shortcut_only_gate_scales_only_the_shortcut() -> None:
    unit = _unit(ShortcutCfg(name="shortcut_gate", gate_bias=0.0), fn="identity")
    g = unit.shortcut.gate(X)
    torch.testing.assert_close(unit(X), (1 - g) * X + unit.branch(X))


def test_dropout_shortcut_scales_the_shortcut_by_one_minus_p_in_expectation() -> None:
    """Identity Mappings: dropout "imposes a scale of lambda with an expectation of 0.5 on the
    shortcut" (p = 0.5): classic dropout by default, inverted dropout opt-in."""
    unit = _unit(ShortcutCfg(name="dropout", dropout=0.25))
    torch.testing.assert_close(unit.shortcut(X, None), 0.75 * X)  # eval: (1-p) x
    torch.testing.assert_close(unit(X), torch.relu(0.75 * X + unit.branch(X)))
    unit.train()
    torch.manual_seed(1)
    dropped = unit.shortcut(X, None)
    kept = dropped != 0
    assert (~kept).float().mean().item() == pytest.approx(0.25, abs=0.05)
    torch.testing.assert_close(dropped[kept], X[kept])  # kept values unscaled in training
    inverted = _unit(ShortcutCfg(name="dropout", dropout=0.5, dropout_inverted=True))
    torch.testing.assert_close(inverted(X), torch.relu(X + inverted.branch(X)))  # eval: x
    inverted.train()
    dropped = inverted.shortcut(X, None)
    assert (dropped == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    kept = dropped != 0
    torch.testing.assert_close(dropped[kept], 2 * X[kept])  # inverted dropout scaling


def test_conv1x1_shortcut_projects_every_unit() -> None:
    net = build_model([*TINY, "model.depth=8", "shortcut=conv1x1"])
    assert all(hasattr(u.shortcut, "projection") for u in net.units)
    unit = _unit(ShortcutCfg(name="conv1x1"))  # where the shape stays too: not the identity
    projected = unit.shortcut.projection(X)
    assert not torch.allclose(projected, X)
    torch.testing.assert_close(unit(X), torch.relu(projected + unit.branch(X)))


@pytest.mark.parametrize(
    ("after_add", "diagram"),
    [
        ("relu", ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]),
        ("bn_relu", ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]),
        ("relu_before_add", ["Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU"]),
        ("relu_preact", ["ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d"]),
        ("identity", ["BatchNorm2d", "ReLU", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d"]),
    ],
)
def test_table2_unit_layouts(after_add: str, diagram: list[str]) -> None:
    net = build_model([*TINY, "model.depth=20", f"after_add={after_add}"])
    inner = net.units[1]  # an identity unit in the middle of stage 1
    assert [type(m).__name__ for m in inner.branch] == diagram
    layers = list(inner.after_add) if isinstance(inner.after_add, nn.Sequential) else []
    after = [type(m).__name__ for m in layers] or [type(inner.after_add).__name__]
    assert after == {"relu": ["ReLU"], "bn_relu": ["BatchNorm2d", "ReLU"]}.get(
        after_add, ["Identity"]
    )


def _diagram(unit: ResidualUnit) -> str:
    """The one-line diagram the docs use (``x -> conv-BN -> (+x) -> ReLU``), read off a unit."""
    short = {"Conv2d": "conv", "BatchNorm2d": "BN"}

    def names(modules: list[nn.Module]) -> str:
        return "-".join(short.get(type(m).__name__, type(m).__name__) for m in modules)

    after = unit.after_add
    after_mods = [] if isinstance(after, nn.Identity) else list(after.children()) or [after]
    return f"x -> {names(list(unit.branch))} -> (+x)" + (
        f" -> {names(after_mods)}" if after_mods else ""
    )


@pytest.mark.parametrize("after_add", AFTER_ADD_OPTIONS)
def test_unit_diagrams_in_the_docs_are_what_the_code_builds(after_add: str) -> None:
    """The README's unit table, the Units list of ``--help`` and the option file's comment show
    the diagram of the unit the option builds: prose that cannot drift from the code."""
    net = build_model([*TINY, "model.depth=20", f"after_add={after_add}"])
    diagram = _diagram(net.units[1])  # an identity unit in the middle of stage 1
    readme_rows = [
        line
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith(f"| `{after_add}`")
    ]
    assert len(readme_rows) == 1 and f"`{diagram}`" in readme_rows[0], (
        f"README.md needs one unit-table row starting '| `{after_add}`' that shows "
        f"`{diagram}`; found {readme_rows}"
    )
    footer = OmegaConf.load(CONF / "hydra/help/resnet_lab.yaml").footer
    units = footer.split("Units (after_add=...):")[1].split("\n\n")[0].splitlines()
    shown = [" ".join(line.split()[1:]) for line in units if line.split()[:1] == [after_add]]
    assert len(shown) == 1 and (shown[0] == diagram or shown[0].startswith(f"{diagram} (")), (
        f"the Units list in conf/hydra/help/resnet_lab.yaml needs one line '{after_add}  "
        f"{diagram}'; found {shown}"
    )
    comment = (CONF / f"after_add/{after_add}.yaml").read_text().splitlines()[0]
    assert comment.endswith(f":  {diagram}"), (
        f"conf/after_add/{after_add}.yaml's first line should end ':  {diagram}'; it is {comment!r}"
    )


def test_the_readme_names_every_shortcut() -> None:
    row = next(
        line
        for line in (REPO / "README.md").read_text().splitlines()
        if line.startswith("| `shortcut=`")
    )
    missing = [name for name in SHORTCUT_OPTIONS if f"`{name}`" not in row]
    assert not missing, f"README.md's '| `shortcut=`' row should name {missing}"


def test_pre_activation_net_structure() -> None:
    """First activation right after conv1 (shared), extra BN-ReLU after the last addition."""
    net = build_model([*TINY, "model.depth=20", "after_add=identity"])
    assert [type(m).__name__ for m in net.stem] == ["Conv2d"]
    first = net.units[0]
    assert [type(m).__name__ for m in first.shared_head] == ["BatchNorm2d", "ReLU"]
    assert type(first.branch[0]).__name__ == "Conv2d"
    assert [type(m).__name__ for m in net.final] == ["BatchNorm2d", "ReLU"]
    original = build_model([*TINY, "model.depth=20"])
    assert [type(m).__name__ for m in original.stem] == ["Conv2d", "BatchNorm2d", "ReLU"]
    assert len(original.final) == 0


def test_pre_activation_shares_the_head_at_unit_0_and_where_the_shape_changes() -> None:
    """As the authors' code ('both_preact'): there the shortcut sees BN-ReLU(x) too, elsewhere
    the raw sum. A lesioned unit outputs its shortcut alone (eval BN at init: x / sqrt(1+eps))."""
    net = build_model([*TINY, "model.depth=20", "after_add=identity"]).eval()
    assert net.downsampling_units == [3, 6]
    shared = [i for i, u in enumerate(net.units) if not isinstance(u.shared_head, nn.Identity)]
    assert shared == [0, 3, 6]
    for i, unit in enumerate(net.units):
        unit.lesioned = True
        conv = next(m for m in unit.branch if isinstance(m, nn.Conv2d))
        x = torch.randn(2, conv.in_channels, 8, 8)
        seen = torch.relu(x / (1 + 1e-5) ** 0.5) if i in (0, 3, 6) else x
        torch.testing.assert_close(unit(x), unit.shortcut.downsample(seen))


def test_a_pre_activation_units_shortcut_reads_the_shared_head_too() -> None:
    """Intact units too: where the head is shared (unit 0, the downsampling units) both paths
    read BN-ReLU(x), "before splitting into the two paths"; elsewhere both read the raw sum."""
    for block in (["model.depth=20"], ["model.depth=11", "model.block=bottleneck"]):
        net = build_model([*TINY, *block, "after_add=identity"]).eval()
        shared = [0, *net.downsampling_units]
        for i, unit in enumerate(net.units):
            conv = next(m for m in unit.branch if isinstance(m, nn.Conv2d))
            x = torch.randn(2, conv.in_channels, 8, 8)
            seen = torch.relu(x / (1 + 1e-5) ** 0.5) if i in shared else x
            with torch.no_grad():
                expected = unit.shortcut.downsample(seen) + unit.branch(seen)
                torch.testing.assert_close(unit(x), expected, msg=f"{block} unit {i}")


def test_each_stage_keeps_its_feature_map_size() -> None:
    """32x32 in stage 1 (the stem's 3x3 conv pads by 1), 16x16 and 8x8 after the strided units,
    as the papers' CIFAR nets; bottleneck and pre-activation nets alike."""
    for overrides in (
        ["model.depth=8"],
        ["model.depth=11", "model.block=bottleneck", "after_add=identity"],
        ["model.depth=8", "shortcut=none"],
    ):
        net = build_model([*TINY, *overrides]).eval()
        sizes: list[int] = []
        hooks = [
            u.register_forward_hook(lambda m, i, o, seen=sizes: seen.append(o.shape[-1]))
            for u in net.units
        ]
        with torch.no_grad():
            net(torch.randn(1, 3, 32, 32))
        for hook in hooks:
            hook.remove()
        assert sizes == [32, 16, 8], overrides


def test_every_bn_has_torchs_momentum_and_eps() -> None:
    """BN momentum 0.1 and eps 1e-5 (Torch7's defaults, which the authors' code keeps): the
    running statistics that evaluation uses depend on the momentum."""
    for overrides in (
        ["shortcut=gate"],
        ["model.depth=11", "model.block=bottleneck", "after_add=identity", "shortcut=conv1x1"],
        ["shortcut=highway"],
        ["model=densenet", "model.depth=10", "model.growth_rate=4", "model.width=8"],
    ):
        bns = [
            m for m in build_model([*TINY, *overrides]).modules() if isinstance(m, nn.BatchNorm2d)
        ]
        assert bns and all((m.momentum, m.eps) == (0.1, 1e-5) for m in bns), overrides


def test_pre_activation_projection_has_no_bn() -> None:
    """The authors' pre-activation code: a bare 1x1 conv on the already normalised input; the
    original unit's projection has its BN (option B), and so has the ReLU-only pre-activation
    unit's, whose input past the first unit is the ReLU of an unnormalised sum."""
    bottleneck = [*TINY, "model.depth=11", "model.block=bottleneck"]
    pre = build_model([*bottleneck, "after_add=identity"])
    relu_pre = build_model([*bottleneck, "after_add=relu_preact"])
    post = build_model(bottleneck)
    with_bn = ["Conv2d", "BatchNorm2d"]
    for net, layers in ((pre, ["Conv2d"]), (relu_pre, with_bn), (post, with_bn)):
        for i in net.downsampling_units:
            assert [type(m).__name__ for m in net.units[i].shortcut.downsample] == layers, i


def test_a_downsampling_unit_strides_on_its_first_conv() -> None:
    """The stride sits on a unit's first conv: the basic unit's first 3x3, so that its second
    runs at the halved size (a stride on the second is another net of the same parameters and
    shapes), and the bottleneck's first 1x1, as in the authors' resnet-pre-act.lua."""
    basic = build_model([*TINY, "model.depth=8"])
    convs = [m for m in basic.units[1].branch if isinstance(m, nn.Conv2d)]  # 4 -> 8, stride 2
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(3, 2), (3, 1)]
    net = build_model([*TINY, "model.depth=11", "model.block=bottleneck", "after_add=identity"])
    convs = [m for m in net.units[1].branch if isinstance(m, nn.Conv2d)]  # 16 -> 32, stride 2
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(1, 2), (3, 1), (1, 1)]


def test_downsampling_options() -> None:
    a = build_model([*TINY, "model.depth=8"])
    assert sum(p.numel() for u in a.units for p in u.shortcut.parameters()) == 0
    assert a.downsampling_units == [1, 2]
    b = build_model([*TINY, "model.depth=8", "model.downsample=projection"])
    assert sum(p.numel() for u in b.units for p in u.shortcut.parameters()) > 0
    bottleneck = build_model([*TINY, "model.depth=11", "model.block=bottleneck"])
    assert bottleneck.downsampling_units == [0, 1, 2]  # 4->16 channels, then two stride-2 units
    x = torch.zeros(1, 4, 8, 8)
    x[0, 0, 0, 0] = 1.0
    padded = make_downsample(ShortcutSite(4, 8, 2, norm=False))(x)
    assert padded.shape == (1, 8, 4, 4)
    assert padded[0, 2, 0, 0] == 1.0 and padded.sum() == 1.0


def test_shortcuts_replacing_the_identity_build_no_downsample() -> None:
    """Where the shape changes, a plain unit and a 1x1-conv shortcut build nothing for the identity
    they replace: no parameters, and no random draws that would shift the net's initialisation."""
    site = ShortcutSite(4, 8, 2, downsample="projection")

    def draw_after(build: Callable[[], object]) -> Tensor:
        torch.manual_seed(0)
        build()
        return torch.rand(4)

    for name, own_part in [("none", lambda: None), ("conv1x1", lambda: Projection(4, 8, 2, True))]:
        cls = SHORTCUTS.get(name)
        assert sum(p.numel() for p in cls(site, ShortcutCfg()).parameters()) == (
            0 if name == "none" else 4 * 8 + 2 * 8
        )
        assert torch.equal(
            draw_after(functools.partial(cls, site, ShortcutCfg())), draw_after(own_part)
        )

    # and the whole net: the option such a shortcut leaves unused is refused (a run recorded as
    # option B trained what option A does), its default taken
    for name in ("none", "conv1x1"):
        build_model([*TINY, f"shortcut={name}", "model.downsample=auto"])
        for option in ("zero_pad", "projection"):
            with pytest.raises(ConfigError, match=f"model.downsample={option} reshapes the "):
                build_model([*TINY, f"shortcut={name}", f"model.downsample={option}"])


@pytest.mark.parametrize(
    ("overrides", "millions"),
    [
        (["model.depth=20"], 0.27),
        (["model.depth=32"], 0.46),
        (["model.depth=44"], 0.66),
        (["model.depth=56"], 0.85),
        (["model.depth=110"], 1.7),
        (["model.depth=1202"], 19.4),
        (["model.depth=164", "model.block=bottleneck", "after_add=identity"], 1.7),
        (["model.depth=1001", "model.block=bottleneck", "after_add=identity"], 10.2),
        (["model.depth=110", "model.block=one_layer"], 1.7),  # Identity Mappings Table 3
    ],
)
def test_parameter_counts_match_the_papers(overrides: list[str], millions: float) -> None:
    with torch.device("meta"):
        net = build_model(overrides)
    count = sum(p.numel() for p in net.parameters())
    assert abs(count / 1e6 - millions) / millions < 0.02, count


def test_resnet110_parameter_count_exact() -> None:
    with torch.device("meta"):
        net = build_model()
    assert sum(p.numel() for p in net.parameters()) == 1_727_962


def test_gate_bias_initialised_as_configured() -> None:
    net = build_model([*TINY, "model.depth=8", "shortcut=gate", "shortcut.gate_bias=-7"])
    biases = [u.shortcut.gate_norm.bias for u in net.units]
    assert all(b.eq(-7.0).all() for b in biases)
    net = build_model([*TINY, "model.depth=8", "shortcut=gate", "shortcut.gate_norm=false"])
    assert all(u.shortcut.gate_conv.bias.eq(-6.0).all() for u in net.units)


def test_he_initialisation() -> None:
    """Fan-out, as the authors' code (std sqrt(2 / (k * k * out))): seen where in != out."""
    torch.manual_seed(0)
    net = build_model(["model.depth=20"])
    w = net.units[1].branch[0].weight  # 3x3 conv, 16 -> 16 channels: fan_out = 9 * 16
    assert w.std().item() == pytest.approx((2 / (9 * 16)) ** 0.5, rel=0.1)
    w = net.units[3].branch[0].weight  # 16 -> 32: fan_out 9 * 32, fan_in 9 * 16 (std 1.41x)
    assert w.shape == (32, 16, 3, 3)
    assert w.std().item() == pytest.approx((2 / (9 * 32)) ** 0.5, rel=0.05)
    # the classifier as Torch's nn.Linear (the authors' code zeroes its bias only): uniform in
    # +-1 / sqrt(fan_in), fan_in = 64 features
    bound = 1 / 64**0.5
    assert net.fc.weight.abs().max().item() == pytest.approx(bound, rel=0.01)
    assert net.fc.weight.abs().max().item() <= bound and not net.fc.bias.any()


# -- invalid inputs -------------------------------------------------------------------------


def test_unknown_shortcut_lists_choices() -> None:
    with pytest.raises(ConfigError) as err:  # the command line's one line (Hydra's before)
        build_model(["shortcut=gated"])
    for name in SHORTCUT_OPTIONS:
        assert name in str(err.value)


@pytest.mark.parametrize("depth", [21, 100, 5, 2])  # 2: no unit at all
def test_invalid_depth_names_valid_depths(depth: int) -> None:
    with pytest.raises(ConfigError, match=r"6n\+2.*20, 32, 44"):
        build_model([f"model.depth={depth}"])


def test_basic_depth_on_bottleneck_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"9n\+2.*164.*1001.*fits model.block=basic / one_layer"):
        build_model(["model.depth=32", "model.block=bottleneck"])
    with pytest.raises(ConfigError, match=r"depth 29 fits model.block=bottleneck / one_layer$"):
        build_model(["model.depth=29"])


@pytest.mark.parametrize(
    ("after_add", "layers"),
    [("relu", ["Conv2d", "BatchNorm2d"]), ("identity", ["BatchNorm2d", "ReLU", "Conv2d"])],
)
def test_one_layer_units(after_add: str, layers: list[str]) -> None:
    """ "ResNet-110 with 1-layer skip" (Identity Mappings Table 3): 3n+2 layers, one 3x3 conv a
    unit, conv-BN before the addition (original) or BN-ReLU-conv (pre-activation)."""
    net = build_model([*TINY, "model.depth=11", "model.block=one_layer", f"after_add={after_add}"])
    assert len(net.units) == 9 and net.downsampling_units == [3, 6]
    unshared = [u for i, u in enumerate(net.units) if i not in (0, 3, 6)]  # 0, 3, 6: pre-act shared
    assert all([type(m).__name__ for m in u.branch] == layers for u in unshared)
    # option A, as the paper's other CIFAR nets: the shortcuts hold no parameters
    assert all(not list(u.shortcut.parameters()) for u in net.units)
    logits = net(torch.randn(2, 3, 32, 32))
    logits.sum().backward()
    assert logits.shape == (2, 10)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model.depth=abc", "model.depth"),
        ("model.dpeth=20", "dpeth"),
        ("shortcut.gate_bias=minus", "gate_bias"),
    ],
)
def test_bad_keys_and_types_name_the_key(override: str, message: str) -> None:
    """As the command line tells them, in a ConfigError (Hydra's exception before)."""
    with pytest.raises(ConfigError, match=message):
        build_model([override])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["shortcut=identity", "shortcut.gate_bias=-6"], "gate_bias.*shortcut=gate"),
        (["shortcut=scale", "shortcut.dropout=0.3"], "dropout"),
        (["shortcut=identity", "shortcut.dropout_inverted=true"], "dropout_inverted"),
        (["shortcut=dropout", "shortcut.dropout=1.5"], r"\[0, 1\)"),
        (["shortcut=dropout", "shortcut.dropout=1.0"], r"\[0, 1\)"),  # no shortcut at all
        (  # a net of constant output, which trained to chance, "completed"
            ["shortcut=scale", "shortcut.scale=0", "shortcut.branch_scale=0"],
            "every unit outputs 0 whatever its input",
        ),
        (["after_add.branch=preact"], "pre-activation"),
        (["after_add.fn=no_such_fn"], "after-addition function 'no_such_fn'"),
        (["model.downsample=option_c"], "model.downsample"),
        (["model.block=wide"], "unknown block 'wide'"),
        (["model.width=6"], "multiple of 4"),
        (["model.width=0"], "positive multiple of 4"),  # not a division by zero at init
        (["model.block=Basic"], "unknown block 'Basic'"),  # names are exact, as in the YAML
        (["model.block=one_layer", "model.dropout=0.3"], "one_layer units have one"),
    ],
)
def test_meaningless_combinations_fail_clearly(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_model([*overrides, "model.depth=20"])


@pytest.mark.parametrize(
    ("name", "scale"), [*((n, 1.0) for n in SHORTCUT_OPTIONS), ("scale", 0.0), ("scale", -0.5)]
)
def test_carries_input_says_whether_a_deleted_branch_leaves_anything(
    name: str, scale: float
) -> None:
    """The lesion tool's test of a plain net (lesion.plain): a unit whose branch is deleted
    passes on exactly zeros, at every shape change, when and only when carries_input is False."""
    cfg = ShortcutCfg(name=name, scale=scale)
    x = torch.randn(2, 4, 8, 8)
    for site in (ShortcutSite(4, 4), ShortcutSite(4, 8, 2)):
        shortcut = SHORTCUTS.get(name)(site, cfg).eval()
        assert bool(shortcut(x, None).any()) == shortcut.carries_input, site


def test_build_model_takes_a_list_not_one_string() -> None:
    with pytest.raises(TypeError, match=r"\['model.depth=8'\], not 'model.depth=8'"):
        build_model("model.depth=8")  # type: ignore[arg-type]


def test_an_option_a_row_set_is_told_with_the_row() -> None:
    """+experiment=table1/gate_b6 shortcut=identity blamed shortcut.gate_bias, which the user
    never typed: the row set it."""
    from resnet_lab.api import build_model

    with pytest.raises(ConfigError) as refused:
        build_model(["+experiment=table1/gate_b6", "shortcut=identity"])
    assert str(refused.value) == (
        "shortcut.gate_bias=-6.0 has no meaning for shortcut=identity; it is used by "
        "shortcut=gate / highway / shortcut_gate (+experiment=table1/gate_b6 sets its row's "
        "options, which another choice on the command line may contradict)"
    )


def _layer_names(modules: nn.Module) -> list[str]:
    return [type(m).__name__ for m in modules]


def test_relu_only_pre_activation_shares_its_relu_and_ends_with_one() -> None:
    """Table 2's ReLU-only pre-activation: the first unit and each downsampling unit take the
    ReLU before the split (conv1-BN in the stem), and the last sum gets a ReLU alone."""
    net = build_model(["model.width=4", "model.depth=20", "after_add=relu_preact"])
    assert _layer_names(net.stem) == ["Conv2d", "BatchNorm2d"]
    shared = [i for i, u in enumerate(net.units) if not isinstance(u.shared_head, nn.Identity)]
    assert shared == [0, 3, 6]
    assert all(_layer_names(net.units[i].shared_head) == ["ReLU"] for i in shared)
    assert _layer_names(net.final) == ["ReLU"]


@pytest.mark.parametrize("after_add", ["relu", "identity"])
def test_the_logits_are_the_classifier_of_the_spatial_mean_after_the_final_activation(
    after_add: str,
) -> None:
    """Global average pooling (not max), after a pre-activation net's last BN-ReLU (ReLU and
    the mean do not commute); the classifier's bias starts at zero, as the authors' code."""
    torch.manual_seed(0)
    net = build_model(["model.width=4", "model.depth=8", f"after_add={after_add}"]).eval()
    assert net.fc.bias.eq(0).all()
    for bn in (m for m in net.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.normal_()  # away from init: a BN in the wrong place shows
    seen: dict[str, Tensor] = {}
    net.units[-1].register_forward_hook(lambda module, inputs, out: seen.setdefault("out", out))
    logits = net(torch.randn(2, 3, 32, 32))
    torch.testing.assert_close(logits, net.fc(net.final(seen["out"]).mean((2, 3))))


def test_a_conv1x1_shortcut_keeps_its_bn_in_a_pre_activation_net() -> None:
    net = build_model(["model.width=4", "model.depth=8", "shortcut=conv1x1", "after_add=identity"])
    assert all(_layer_names(u.shortcut.projection) == ["Conv2d", "BatchNorm2d"] for u in net.units)


def test_densenet_refuses_a_resnet_downsampling_option() -> None:
    with pytest.raises(ConfigError, match="downsample"):
        build_model(["model=densenet", "model.downsample=projection"])


def test_the_description_names_the_unit_and_reads_a_config_from_before_model_arch() -> None:
    from resnet_lab.api import compose_config
    from resnet_lab.models.network import describe_network

    cfg = OmegaConf.to_container(compose_config(["model.depth=20"]), resolve=True)
    assert describe_network(cfg).endswith("unit=post_act+relu")
    del cfg["model"]["arch"]  # a run saved before the option
    assert describe_network(cfg).startswith("basic ResNet-20")
    densenet = OmegaConf.to_container(compose_config(["model=densenet"]), resolve=True)
    assert describe_network(densenet) == "densenet-100 (bottleneck, width 24)"


def test_a_refusal_names_the_row_only_when_a_row_chose_options() -> None:
    """A row's options may contradict a choice on the command line: the refusal says so. An
    experiment name without a row (an ad-hoc run named by its user) chose nothing."""
    with pytest.raises(ConfigError) as refused:
        build_model(["+experiment=table1/gate_b6", "model.width=6"])
    assert str(refused.value).endswith(
        "(+experiment=table1/gate_b6 sets its row's options, which another choice on the "
        "command line may contradict)"
    )
    with pytest.raises(ConfigError) as refused:
        build_model(["experiment.name=mine", "model.width=6"])
    assert str(refused.value) == "model.width=6 must be a positive multiple of 4"
