"""docs/extending.md, run as written: its classes, option files and table row work together."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO
from omegaconf import OmegaConf
from torch import nn

from resnet_lab import build_model, report
from resnet_lab.api import compose_config
from resnet_lab.config import CONF_DIR, AfterAddCfg, ShortcutCfg
from resnet_lab.errors import ConfigError
from resnet_lab.models import AFTER_ADD, SHORTCUTS, shortcuts, units

GUIDE = (REPO / "docs/extending.md").read_text()
BLOCKS = re.findall(r"```(python|yaml)\n(.*?)```", GUIDE, flags=re.S)
(SHORTCUT_CODE, AFTER_ADD_CODE) = [code for kind, code in BLOCKS if kind == "python"]
(SHORTCUT_YAML, AFTER_ADD_YAML, ROW_YAML) = [code for kind, code in BLOCKS if kind == "yaml"]


@pytest.fixture
def guide_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The guide's code registered (in copies of the registries, restored after the test) and
    its files in a config folder searched before the package's; returns that override. The
    copies leave out the guide's names, so that a clone where a reader has pasted the guide into
    the package still tests the guide's code instead of failing as registered twice."""
    for registry, name in [(SHORTCUTS, "learnable_scalar"), (AFTER_ADD, "elu")]:
        others = {key: item for key, item in registry._items.items() if key != name}
        monkeypatch.setattr(registry, "_items", others)
    exec(SHORTCUT_CODE, dict(vars(shortcuts)))
    exec(AFTER_ADD_CODE, dict(vars(units)))
    for rel, text in [
        ("shortcut/learnable_scalar.yaml", SHORTCUT_YAML),
        ("after_add/elu.yaml", AFTER_ADD_YAML),
        ("experiment/mine/learnable_scalar.yaml", ROW_YAML),
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return [f"hydra.searchpath=[file://{tmp_path}]", "model.depth=8", "model.width=4"]


def _train_step(net: nn.Module) -> None:
    net.train()
    loss = nn.functional.cross_entropy(net(torch.randn(4, 3, 32, 32)), torch.arange(4))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_the_new_shortcut_starts_as_the_identity_and_learns_its_scalar(
    guide_conf: list[str],
) -> None:
    torch.manual_seed(0)
    net = build_model([*guide_conf, "shortcut=learnable_scalar"])
    torch.manual_seed(0)
    identity = build_model([*guide_conf, "shortcut=identity"])
    scalars = [p for name, p in net.named_parameters() if name.endswith("shortcut.a")]
    assert len(scalars) == 3  # one per unit of a depth-8 net
    net.eval()
    identity.eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(net(x), identity(x))  # a = 1 at the start: the same function
    _train_step(net)
    assert all(float(a.grad.abs()) > 0 for a in scalars)
    with pytest.raises(ConfigError, match=r"gate_bias.*shortcut=gate"):
        build_model([*guide_conf, "shortcut=learnable_scalar", "shortcut.gate_bias=-6"])


def test_the_new_after_addition_function(guide_conf: list[str]) -> None:
    net = build_model([*guide_conf, "after_add=elu"])
    assert sum(isinstance(m, nn.ELU) for m in net.modules()) == 3
    unit = net.units[0].eval()  # an identity unit: x -> conv-BN-ReLU-conv-BN -> (+x) -> ELU
    x = torch.randn(2, unit.branch[0].in_channels, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(unit(x), F.elu(x + unit.branch(x)))
    _train_step(net)
    with pytest.raises(ConfigError, match="pre-activation"):
        build_model([*guide_conf, "after_add=elu", "after_add.branch=preact"])


def test_the_option_files_fit_the_schemas() -> None:
    for schema, text in [(ShortcutCfg, SHORTCUT_YAML), (AfterAddCfg, AFTER_ADD_YAML)]:
        OmegaConf.merge(OmegaConf.structured(schema), OmegaConf.create(text))  # no unknown key


def test_the_row_composes_and_reports_without_a_figure(
    guide_conf: list[str], tmp_path: Path
) -> None:
    cfg = compose_config([*guide_conf, "+experiment=mine/learnable_scalar"])
    assert cfg.shortcut.name == "learnable_scalar" and cfg.experiment.reported is None
    # as the report reads a --config-dir's rows: its defaults' options there are found
    (row,) = report.load_experiments(tmp_path / "experiment", config_dirs=(CONF_DIR, tmp_path))
    assert (row.name, row.reported) == ("mine/learnable_scalar", None)


def test_a_name_registered_twice_is_refused_and_an_unknown_one_lists_every_choice() -> None:
    """Adding a variant under a taken name must fail loudly (the second would replace the
    first); asking for a missing one names all the choices."""
    from resnet_lab.registry import Registry

    blocks: Registry[int] = Registry("block")
    blocks.add("basic", 1)
    blocks.add("bottleneck", 2)
    with pytest.raises(ConfigError, match="block 'basic' is registered twice, by 1 and 3: give"):
        blocks.add("basic", 3)
    shortcuts: Registry[type] = Registry("shortcut")
    shortcuts.register("x")(int)
    with pytest.raises(ConfigError, match=r"by builtins\.int and builtins\.str: give the new"):
        shortcuts.register("x")(str)

    assert blocks.get("basic") == 1
    with pytest.raises(ConfigError) as unknown:
        blocks.get("wide")
    assert str(unknown.value) == "unknown block 'wide'; choose one of: basic, bottleneck"


def test_the_api_refuses_a_misspelt_key_and_composes_inside_hydra(tmp_path: Path) -> None:
    """build_model checks the keys as the command line does (an added '+model.dpeth' built the
    default net silently), and compose_config works inside an initialized Hydra (a notebook's
    or a test's), where initializing again raises."""
    from hydra import compose, initialize_config_dir, initialize_config_module

    with pytest.raises(ConfigError, match=r"model\.dpeth"):
        build_model(["+model.dpeth=20", "model.depth=8"])
    # the command line's one-line answers, not Hydra's (its advice of a '+', its search path,
    # "Error merging override" without the why)
    for overrides, message in [
        (["trainer.lrr=1"], "unknown key(s) trainer.lrr (did you mean trainer.lr?): not a "),
        (["shortcut=gates"], "shortcut=gates: there is no shortcut/gates; shortcut/ holds conv1x1"),
        (["model.depth=abc"], "model.depth=abc: Value 'abc' of type 'str' could not be converted"),
    ]:
        with pytest.raises(ConfigError) as refused:
            build_model(overrides)
        assert str(refused.value).startswith(message)
    with pytest.raises(ConfigError, match=r"^lesion\.samples=abc: Value 'abc' of type 'str'"):
        compose_config(["checkpoint=x", "lesion.samples=abc"], config_name="lesion")
    with pytest.raises(ConfigError, match=r"^unknown setting lesion\.samplez \(did you mean "):
        compose_config(["checkpoint=x", "lesion.samplez=3"], config_name="lesion")
    # a sweep, a word without '=', a dict: Hydra's exceptions ("add --multirun"), or its keys
    # read as overrides; an unknown config: Hydra's search path
    for overrides, message in [
        (["seed=0,1"], "seed=0,1 sweeps over values: the API composes one config, give one"),
        (["model.depth=8", "seed=0,1"], "seed=0,1 sweeps over values: the API composes one"),
        (["model.depth"], "model.depth: not a key=value setting"),
        (["model.depth=[20"], "model.depth=[20: Hydra cannot read it: no viable alternative"),
        # Hydra's and OmegaConf's exceptions (a trace of their own types): the API's one type
        (["-m"], "-m: the API composes one config from key=value overrides"),
        (["~trainer.lr"], "~trainer.lr: every run has this setting, it cannot be deleted"),
        (["hydra.run.dirr=x"], "unknown key hydra.run.dirr (did you mean hydra.run.dir?)"),
        (["shortcut@model=gate"], "shortcut@model=gate: the lab's config chooses the shortcut"),
        (["trainer.lr=${trainer.lrr}"], "trainer.lr: Interpolation key 'trainer.lrr' not found"),
    ]:
        with pytest.raises(ConfigError) as refused:
            build_model(overrides)
        assert str(refused.value).startswith(message)
    with pytest.raises(TypeError, match=r"\['model.depth=20'\], not a dict"):
        build_model({"model.depth": 20})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^overrides is a list of strings: \['model.depth=20'\], "):
        compose_config("model.depth=20")  # type: ignore[arg-type]  # one setting a character
    with pytest.raises(ValueError, match="config_name='lesions': choose config or lesion"):
        compose_config([], config_name="lesions")
    with pytest.raises(ConfigError, match=r"^config_dir is empty: give a folder of your own"):
        compose_config([], config_dir="")  # the current folder, silently
    with initialize_config_module(config_module="resnet_lab.conf", version_base="1.3"):
        assert compose_config(["seed=3"]).seed == 3
        study = compose_config(["checkpoint=x", "lesion.samples=3"], config_name="lesion")
        assert study.lesion.samples == 3 and "model" not in study
    # one's own Hydra app, of its own configs: the lab's config all the same (it gave the
    # app's), and the app's Hydra is left as it was
    (tmp_path / "config.yaml").write_text("seed: 99\nmine: 1\n")
    with initialize_config_dir(str(tmp_path), version_base="1.3"):
        labs = compose_config(["seed=3"])
        assert labs.seed == 3 and "model" in labs and "mine" not in labs
        assert len(build_model(["model.depth=8", "model.width=4"]).units) == 3
        assert compose("config").mine == 1


def test_the_api_takes_a_config_file_name_and_names_no_row_it_was_not_given() -> None:
    from resnet_lab.api import compose_config

    assert compose_config(["seed=3"], config_name="config.yaml").seed == 3
    with pytest.raises(ConfigError) as refused:  # experiment.name alone chooses no row
        build_model(["experiment.name=mine", "model.depth=21"])
    assert "+experiment" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"^model\.depth: not a key=value setting$"):
        build_model(["model.depth"])  # no '(see --help)': the API has none


def test_the_package_names_its_api_though_it_imports_it_when_first_asked() -> None:
    """``from resnet_lab import *`` and a notebook's completion (dir) find the functions that
    the package's ``__getattr__`` imports on first use."""
    import resnet_lab

    assert set(resnet_lab.__all__) == {"__version__", "build_model", "load_pretrained"}
    assert {"build_model", "load_pretrained"} <= set(dir(resnet_lab))
    namespace: dict[str, object] = {}
    exec("from resnet_lab import *", namespace)
    assert namespace["build_model"] is build_model
    assert callable(namespace["load_pretrained"])


def test_the_api_reads_a_folder_of_ones_own_configs_as_the_command_line_does(
    tmp_path: Path,
) -> None:
    """README: ``config_dir`` is the API's --config-dir (the API read the package's configs
    only); its mistakes are the command line's one-line answers."""
    (tmp_path / "experiment" / "ours").mkdir(parents=True)
    (tmp_path / "experiment" / "ours" / "deep8.yaml").write_text(
        "# @package _global_\nmodel:\n  depth: 8\n  width: 4\nexperiment:\n  name: ours/deep8\n"
    )
    row = ["+experiment=ours/deep8"]
    assert compose_config(row, config_dir=tmp_path).experiment.name == "ours/deep8"
    net = build_model(row, config_dir=str(tmp_path))
    assert len(net.units) == 3 and net.fc.in_features == 16  # depth 8: a unit a stage; width 4
    for overrides, config_dir, message in [
        (row, None, "+experiment=ours/deep8: there is no experiment/ours/deep8; experiment/ "),
        (["+experiment=ours/deep9"], tmp_path, "+experiment=ours/deep9: there is no experiment/"),
        (row, tmp_path / "nowhere", f"config_dir={tmp_path / 'nowhere'} does not exist"),
    ]:
        with pytest.raises(ConfigError) as refused:
            compose_config(overrides, config_dir=config_dir)
        assert str(refused.value).startswith(message)


def test_a_profile_of_ones_own_may_set_hydras_settings(tmp_path: Path) -> None:
    """The lab's config came after the profile in its defaults list, so a profile's hydra:
    settings (its log's name, a sweep's folders) were silently those of the lab's config."""
    from hydra import compose, initialize_config_module

    from resnet_lab.command_line import searchpath_override

    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "mine.yaml").write_text(
        "# @package _global_\nprofile: mine\nhydra:\n  job:\n    name: mine\n"
        "  sweep:\n    subdir: seed${seed}\n"
    )
    with initialize_config_module("resnet_lab.conf", version_base="1.3"):
        overrides = ["profile=mine", searchpath_override(tmp_path)]
        cfg = compose("config", overrides, return_hydra_config=True)
    assert cfg.hydra.job.name == "mine" and cfg.hydra.sweep.subdir == "seed0"
    run_dir = OmegaConf.to_container(cfg.hydra.run)["dir"]  # type: ignore[index]
    assert run_dir.startswith("${oc.env:RESNET_LAB_OUTPUTS")  # the lab's, still


@pytest.mark.parametrize(
    ("text", "said"),
    [("name: identity\n", "names the variant identity"), ("#\n", "names no variant")],
)
def test_a_variants_option_file_naming_another_is_refused(
    guide_conf: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    text: str,
    said: str,
) -> None:
    """identity.yaml copied for the new variant and left unedited (or without its name) trained
    the identity shortcut, silently; a preset of another name (gate_b2.yaml, name: gate) is fine."""
    from resnet_lab.cli import command

    option = tmp_path / "shortcut" / "learnable_scalar.yaml"
    option.write_text(text)
    (tmp_path / "shortcut" / "gate_b2.yaml").write_text("name: gate\ngate_bias: -2.0\n")
    tiny = ["--config-dir", str(tmp_path), "profile=smoke", "model.depth=8", "trainer.max_steps=1"]
    argv = ["resnet-lab", *tiny, "shortcut=learnable_scalar", f"hydra.run.dir={tmp_path / 'a'}"]
    monkeypatch.setattr("sys.argv", argv)
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2
    assert f"shortcut=learnable_scalar: its file {option} {said}" in capsys.readouterr().err
    # a sweep: refused before its first job trains (it was told in the second job)
    monkeypatch.chdir(tmp_path)
    sweep = ["shortcut=identity,learnable_scalar", "hydra.sweep.dir=sweep"]
    monkeypatch.setattr("sys.argv", ["resnet-lab", "-m", *tiny, *sweep])
    with pytest.raises(SystemExit):
        command()
    assert f"its file {option} {said}" in capsys.readouterr().err
    assert not (tmp_path / "sweep").exists()
    # a row choosing it: refused before Hydra, and by the report's check (which passed it)
    row_file = tmp_path / "experiment" / "mine" / "learnable_scalar.yaml"
    row = ["+experiment=mine/learnable_scalar", "hydra.run.dir=c"]
    monkeypatch.setattr("sys.argv", ["resnet-lab", *tiny, *row])
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2 and not (tmp_path / "c").exists()
    assert capsys.readouterr().err.startswith(
        f"resnet-lab: error: experiment file {row_file}, defaults: override /shortcut: "
        f"learnable_scalar: its file {option} {said}"
    )
    assert report.main(["--check", "--tables", "mine", "--config-dir", str(tmp_path)]) == 2
    assert f"override /shortcut: learnable_scalar: its file {option}" in capsys.readouterr().err
    # the command line choosing another shortcut: the row's file is never read, nor refused
    from resnet_lab.command_line import check_command_line

    check_command_line([*tiny, *row, "shortcut=identity"], "resnet-lab", True)
    monkeypatch.setattr("sys.argv", ["resnet-lab", *tiny, "shortcut=gate_b2", "hydra.run.dir=b"])
    command()
    trained = OmegaConf.load(tmp_path / "b" / "config.yaml").shortcut
    assert (trained.name, trained.gate_bias) == ("gate", -2.0)


def test_a_tool_importing_a_name_registered_twice_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The registries fill as the package imports: a clash stopped every tool with a trace."""
    from resnet_lab import console

    (tmp_path / "clashing_variant.py").write_text(
        "from resnet_lab.registry import Registry\n"
        "parts = Registry('shortcut')\nparts.add('gate', 1)\nparts.add('gate', 2)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(console.TOOLS, "resnet-lab-report", "clashing_variant:main")
    monkeypatch.setattr("sys.argv", ["resnet-lab-report"])
    with pytest.raises(SystemExit) as stopped:
        console.report()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "resnet-lab-report: error: shortcut 'gate' is registered twice, by 1 and 2: give the new "
        "one a name of its own\n"
    )
    # resnet-lab-lesion imports the lab after its checks: the same line
    import importlib.abc

    import resnet_lab
    from resnet_lab import lesion_cli

    class Clash(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, *args: object) -> None:
            if name == "resnet_lab.lesion":  # as the registries fill on its import
                raise ConfigError("clash")

    monkeypatch.delitem(sys.modules, "resnet_lab.lesion", raising=False)
    monkeypatch.delattr(resnet_lab, "lesion", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Clash(), *sys.meta_path])
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["resnet-lab-lesion", "checkpoint=x.pt"])
    with pytest.raises(SystemExit) as stopped:
        lesion_cli.command()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == "resnet-lab-lesion: error: clash\n"
