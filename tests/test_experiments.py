"""The experiment files: one per paper table row, composable, with the papers' figures.

The expected tables are hard-coded from /work/shared/reference/papers.md so that a typo in a
reported figure or an override fails here, not months later in a report.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_module
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

import resnet_lab.conf
import resnet_lab.config  # registers the config schema, for Hydra's compose below

EXPERIMENTS = Path(resnet_lab.conf.__file__).parent / "experiment"
FILES = sorted(
    p.relative_to(EXPERIMENTS).with_suffix("").as_posix()
    for p in EXPERIMENTS.glob("table*/*.yaml")  # the other groups: tests/test_neighbours.py
)

TITLES = {
    "table1": "Identity Mappings, Table 1 (ResNet-110, CIFAR-10)",
    "table2": "Identity Mappings, Table 2 (ResNet-110 / ResNet-164)",
    "table3": "Identity Mappings, Table 3 (CIFAR-10)",
    "table6": "Deep Residual Learning, Table 6 (CIFAR-10)",
}
# Identity Mappings, Section 3.1: "Throughout this paper we report the median accuracy of 5 runs
# for each architecture on CIFAR"
STATISTICS = {
    "table1": "median of 5",
    "table2": "median of 5",
    "table3": "median of 5",
    "table6": "not stated",
}
# Table 6's caption: "For ResNet-110, we run it 5 times and show best (mean±std)"
ROW_STATISTICS = {"table6/resnet110": "best of 5"}
ROW_COUNTS = {"table1": 11, "table2": 10, "table3": 4, "table6": 6}
SOURCES = {  # Identity Mappings, Deep Residual Learning
    "table1": "arXiv:1603.05027, Table 1",
    "table2": "arXiv:1603.05027, Table 2",
    "table3": "arXiv:1603.05027, Table 3",
    "table6": "arXiv:1512.03385, Table 6",
}
PREACT = {
    "hydra.runtime.choices.after_add": "identity",
    "after_add.fn": "identity",
    "after_add.branch": "preact",
}

# name -> (order, reported, overrides relative to the default config)
ROWS: dict[str, tuple[int, str | None, dict[str, Any]]] = {
    "table1/original": (1, "6.61", {}),
    "table1/scale_0_1": (2, "fail", {"shortcut.name": "scale", "shortcut.scale": 0.0}),
    "table1/scale_05_1": (3, "fail", {"shortcut.name": "scale", "shortcut.scale": 0.5}),
    "table1/scale_05_05": (
        4,
        "12.35",
        {"shortcut.name": "scale", "shortcut.scale": 0.5, "shortcut.branch_scale": 0.5},
    ),
    "table1/gate_b0": (5, "fail", {"shortcut.name": "gate", "shortcut.gate_bias": 0.0}),
    "table1/gate_b6": (6, "8.70", {"shortcut.name": "gate", "shortcut.gate_bias": -6.0}),
    "table1/gate_b7": (7, "9.81", {"shortcut.name": "gate", "shortcut.gate_bias": -7.0}),
    "table1/shortcut_gate_b0": (
        8,
        "12.86",
        {"shortcut.name": "shortcut_gate", "shortcut.gate_bias": 0.0},
    ),
    "table1/shortcut_gate_b6": (
        9,
        "6.91",
        {"shortcut.name": "shortcut_gate", "shortcut.gate_bias": -6.0},
    ),
    "table1/conv1x1": (10, "12.22", {"shortcut.name": "conv1x1"}),
    "table1/dropout": (11, "fail", {"shortcut.name": "dropout", "shortcut.dropout": 0.5}),
    # Table 3's ResNet-164 rows are Table 2's (the same runs and figures): not repeated
    "table3/one_layer_110_original": (1, "9.90", {"model.block": "one_layer"}),
    "table3/one_layer_110_preact": (2, "8.91", {"model.block": "one_layer", **PREACT}),
    "table3/original_1001": (3, "7.61", {"model.depth": 1001, "model.block": "bottleneck"}),
    "table3/preact_1001": (4, "4.92", {"model.depth": 1001, "model.block": "bottleneck", **PREACT}),
    "table6/resnet20": (1, "8.75", {"model.depth": 20, "trainer.warmup_steps": 0}),
    "table6/resnet32": (2, "7.51", {"model.depth": 32, "trainer.warmup_steps": 0}),
    "table6/resnet44": (3, "7.17", {"model.depth": 44, "trainer.warmup_steps": 0}),
    "table6/resnet56": (4, "6.97", {"model.depth": 56, "trainer.warmup_steps": 0}),
    "table6/resnet110": (5, "6.43", {}),
    "table6/resnet1202": (6, "7.93", {"model.depth": 1202}),
}
# Table 2: unit -> (after_add option, after_add.fn, after_add.branch, ResNet-110, ResNet-164)
UNITS = {
    "original": ("relu", "relu", "post_act", "6.61", "5.93"),
    "bn_after_add": ("bn_relu", "bn_relu", "post_act_no_bn", "8.17", "6.50"),
    "relu_before_add": ("relu_before_add", "identity", "relu_before_add", "7.84", "6.14"),
    "relu_preact": ("relu_preact", "identity", "relu_preact", "6.71", "5.91"),
    "full_preact": ("identity", "identity", "preact", "6.37", "5.46"),
}


def _table2_rows() -> dict[str, tuple[int, str, dict[str, Any]]]:
    rows = {}
    bottleneck = {"model.depth": 164, "model.block": "bottleneck"}
    for order, (unit, (option, fn, branch, r110, r164)) in enumerate(UNITS.items(), 1):
        unit_keys = {"hydra.runtime.choices.after_add": option, "after_add.fn": fn}
        unit_keys["after_add.branch"] = branch
        rows[f"table2/{unit}_110"] = (order, r110, unit_keys)
        rows[f"table2/{unit}_164"] = (order + 5, r164, {**unit_keys, **bottleneck})
    return rows


ROWS.update(_table2_rows())

# the keys an experiment may change; everything else must stay as in the default config
ROW_KEYS = {
    "hydra.runtime.choices.shortcut": "identity",
    "hydra.runtime.choices.after_add": "relu",
    "shortcut.name": "identity",
    "shortcut.scale": 1.0,
    "shortcut.branch_scale": 1.0,
    "shortcut.gate_bias": 0.0,
    "shortcut.dropout": 0.5,
    "after_add.fn": "relu",
    "after_add.branch": "post_act",
    "model.depth": 110,
    "model.block": "basic",
}


@pytest.fixture(scope="module")
def hydra_conf() -> Iterator[None]:
    with initialize_config_module(config_module="resnet_lab.conf", version_base="1.3"):
        yield


@pytest.fixture(scope="module")
def default_cfg(hydra_conf: None) -> DictConfig:
    return compose("config")


def test_one_file_per_row() -> None:
    assert sorted(ROWS) == FILES
    for table, count in ROW_COUNTS.items():
        assert len([name for name in FILES if name.startswith(f"{table}/")]) == count


@pytest.mark.parametrize("name", FILES)
def test_file_format(name: str) -> None:
    """The header and the experiment block as docs/contracts.md writes them."""
    text = (EXPERIMENTS / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n")
    block = OmegaConf.load(EXPERIMENTS / f"{name}.yaml").experiment
    assert set(block) == {
        "name",
        "table",
        "row",
        "order",
        "reported",
        "statistic",
        "source",
        "note",
    }
    assert block.reported is None or re.fullmatch(r"fail|\d+\.\d\d", block.reported)
    assert block.source.startswith("arXiv:")


@pytest.mark.parametrize("name", FILES)
def test_composes_with_its_row(name: str, hydra_conf: None, default_cfg: DictConfig) -> None:
    cfg = compose("config", overrides=[f"+experiment={name}"], return_hydra_config=True)
    table = name.split("/")[0]
    order, reported, overrides = ROWS[name]
    e = cfg.experiment
    assert (e.name, e.table, e.order, e.reported, e.statistic, e.source) == (
        name,
        TITLES[table],
        order,
        reported,
        ROW_STATISTICS.get(name, STATISTICS[table]),
        SOURCES[table],
    )
    expected = {**ROW_KEYS, **overrides}
    if "shortcut.name" in overrides:  # chosen with `override /shortcut: <name>`
        expected["hydra.runtime.choices.shortcut"] = overrides["shortcut.name"]
    assert {key: OmegaConf.select(cfg, key) for key in expected} == expected
    # the recipe and the net change only where the row's paper did: against the default
    # config, or, for the net, the default config with the row's shortcut and unit chosen
    choices = cfg.hydra.runtime.choices
    chosen = compose(
        "config", overrides=[f"shortcut={choices.shortcut}", f"after_add={choices.after_add}"]
    )
    for group, base in (
        ("trainer", default_cfg),
        ("data", default_cfg),
        ("model", chosen),
        ("shortcut", chosen),
        ("after_add", chosen),
    ):
        changed = {k.split(".", 1)[1] for k in overrides if k.startswith(f"{group}.")}
        assert {k: v for k, v in cfg[group].items() if k not in changed} == {
            k: v for k, v in base[group].items() if k not in changed
        }, group
    assert (cfg.seed, cfg.profile, cfg.model.width) == (0, "paper", 16)


@pytest.mark.parametrize(
    ("shortcut", "row"),
    [
        ("scale", "table1/scale_05_1"),
        ("gate", "table1/gate_b6"),
        ("shortcut_gate", "table1/shortcut_gate_b6"),
        ("dropout", "table1/dropout"),
    ],
)
def test_a_shortcut_chosen_alone_is_its_table_1_row(
    shortcut: str, row: str, hydra_conf: None
) -> None:
    """`resnet-lab shortcut=scale` trains one of Table 1's shortcuts, as its group file says:
    the rows set their values themselves, so only this pins the group files' defaults."""
    alone = compose("config", overrides=[f"shortcut={shortcut}"]).shortcut
    assert alone == compose("config", overrides=[f"+experiment={row}"]).shortcut


def test_orders_are_unique_per_table() -> None:
    for table in ROW_COUNTS:
        orders = [
            OmegaConf.load(EXPERIMENTS / f"{name}.yaml").experiment.order
            for name in FILES
            if name.startswith(f"{table}/")
        ]
        assert sorted(orders) == list(range(1, ROW_COUNTS[table] + 1))


def test_fail_row_and_representative_gate() -> None:
    note = OmegaConf.load(EXPERIMENTS / "table1/gate_b0.yaml").experiment.note
    assert "0 to -5" in note and "b_g = 0" in note
    assert OmegaConf.load(EXPERIMENTS / "table6/resnet110.yaml").experiment.note == (
        "mean +- std 6.61 +- 0.16"
    )


@pytest.mark.parametrize("table", sorted(ROW_COUNTS))
def test_glob_sweep_covers_one_table(table: str, hydra_conf: None) -> None:
    """`resnet-lab -m '+experiment/table1=glob(*)' seed=0,1` launches every row of Table 1.

    The jobs are expanded exactly as Hydra's basic sweeper does and composed, without training.
    """
    loader = GlobalHydra.instance().config_loader()
    parser = OverridesParser.create(config_loader=loader)
    overrides = parser.parse_overrides([f"+experiment/{table}=glob(*)", "seed=0,1"])
    (jobs,) = BasicSweeper.split_arguments(overrides, max_batch_size=None)
    assert len(jobs) == 2 * ROW_COUNTS[table]
    assert {job[1] for job in jobs} == {"seed=0", "seed=1"}
    names = set()
    for row in sorted({job[0] for job in jobs}):
        cfg = compose("config", overrides=[row])
        names.add(cfg.experiment.name)
        assert row.endswith("=" + cfg.experiment.name.split("/", 1)[1])
    assert names == {name for name in FILES if name.startswith(f"{table}/")}


def test_the_contracts_example_is_a_real_file() -> None:
    """docs/contracts.md shows table1/gate_b6 as it is (an invented example misled a user)."""
    docs = (Path(__file__).resolve().parents[1] / "docs/contracts.md").read_text()
    example = docs.split("one file per table row, e.g.\n```yaml\n", 1)[1].split("```", 1)[0]
    assert example == (EXPERIMENTS / "table1/gate_b6.yaml").read_text()
