"""The command line as a user meets it: help, printed configs, clear errors, installed wheel."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import venv
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, TINY_RUN, InProcess, run_cli
from omegaconf import OmegaConf

from resnet_lab.command_line import check_command_line, no_job_would_train
from resnet_lab.errors import UserError
from resnet_lab.run_folder import RunLock

Lab = Callable[[list[str]], subprocess.CompletedProcess[str]]  # the lab fixture


def test_help_shows_groups_and_examples() -> None:
    out = run_cli(["--help"])
    assert out.returncode == 0
    groups = dict(
        line.split(": ", 1)
        for line in out.stdout.splitlines()
        if line.startswith(("shortcut: ", "after_add: ")) and ", " in line
    )
    assert {"identity", "scale", "gate", "shortcut_gate", "conv1x1", "dropout"} <= set(
        groups["shortcut"].split(", ")
    )
    options = sorted(p.stem for p in (REPO / "resnet_lab/conf/after_add").glob("*.yaml"))
    assert groups["after_add"] == ", ".join(options) and "relu_preact" in options
    for text in ("Examples:", "resume=true", "x -> BN-ReLU-conv-BN-ReLU-conv -> (+x)"):
        assert text in out.stdout, text
    assert "resnet-lab --version" in out.stdout  # it works, and no help had said so


def test_cfg_job_prints_the_resolved_config() -> None:
    out = run_cli(["--cfg", "job", "--resolve", "shortcut=gate", "shortcut.gate_bias=-7"])
    assert out.returncode == 0, out.stderr
    assert "name: gate" in out.stdout and "gate_bias: -7.0" in out.stdout
    assert "num_classes: 10" in out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.depth=100"], "model.depth=100 does not fit basic units"),
        (["shortcut=identity", "shortcut.gate_bias=-6"], "has no meaning for shortcut=identity"),
        (["data=synthetic", "trainer.precision=fp8"], "trainer.precision=fp8"),
        (["data.root=/nonexistent/cifar"], "/nonexistent/cifar"),
        # Hydra alone would ignore it
        (["+trainer.lrr=0.05"], "unknown key(s) trainer.lrr (did you mean trainer.lr?)"),
        (["trainer.device=gpu"], "choose auto, cpu, cuda or cuda:N"),
        # a device torch names but the lab is not built for: refused, not a torch traceback
        (["trainer.device=mps"], "trainer.device=mps: the lab trains and measures on cpu or cuda"),
    ],
)
def test_user_mistakes_exit_2_with_one_clear_message(
    args: list[str], message: str, tmp_path: Path, lab: Lab
) -> None:
    out = lab([*args, "model.width=4", f"hydra.run.dir={tmp_path / 'r'}"])
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stdout + out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    if not args[0].startswith("data.root"):  # missing data: where to get it, on more lines
        assert out.stderr.count("\n") == 1, out.stderr
    assert not (tmp_path / "r" / "ckpt").exists()  # refused: no run (its log stays, named)


def test_mistakes_a_fuzzer_found_are_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fuzz of the command line: an empty key was Hydra's ValueError trace; a '+' on a
    setting the config has, Hydra's six lines and exit 1; a list of shortcuts merged their
    files and blamed a setting never given; 2 for a flag trained as true. What Hydra does take
    is let through: a '+' on a setting whose default is null, a list added to a list, 1 or yes
    for true."""
    run = f"hydra.run.dir={tmp_path / 'run'}"
    for arg, said in [
        ("=1", "=1: a setting is key=value, and its key is missing"),
        ("+=1", "+=1: a setting is key=value, and its key is missing"),
        (
            "+trainer.lr=0.05",
            "+trainer.lr=0.05: trainer.lr is a setting already, a '+' adds "
            "one: write trainer.lr=0.05",
        ),
        ("+seed=3", "+seed=3: seed is a setting already, a '+' adds one: write seed=3"),
        (
            "shortcut=[gate,identity]",
            "shortcut=[gate,identity]: a run has one shortcut; to "
            "train each, a sweep: --multirun shortcut=gate,identity",
        ),
        ("trainer.nesterov=2", "trainer.nesterov=2: trainer.nesterov is true or false"),
        ("resume=3", "resume=3: resume is true or false"),
        # an unset variable, where the other tools refuse an empty path: trained without a word
        (
            "--config-dir=",
            "--config-dir is empty: give the folder of your own configs (an unset variable?)",
        ),
    ]:
        with pytest.raises(SystemExit) as stopped:
            check_command_line([arg, run], "resnet-lab", True)
        assert stopped.value.code == 2
        assert capsys.readouterr().err == f"resnet-lab: error: {said}\n"
    for taken in ("+experiment.reported=5", "+trainer.milestones=[5]", "trainer.nesterov=1"):
        check_command_line([taken, "trainer.nesterov=yes", run], "resnet-lab", True)
    check_command_line(["trainer.nesterov=0", run], "resnet-lab", True)  # OmegaConf: false
    with pytest.raises(SystemExit) as stopped:  # Hydra: a ValueError trace
        check_command_line(["--shell-completion"], "resnet-lab", True)
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "resnet-lab: error: --shell-completion installs, uninstalls or queries: add install=bash "
        "(or zsh, fish), uninstall=bash or query=...\n"
    )
    check_command_line(["-sc", "install=bash"], "resnet-lab", True)
    check_command_line(["-sc", "uninstall=bash"], "resnet-lab", True)  # as the message says
    check_command_line(["--shell-completion", "uninstall=zsh"], "resnet-lab", True)
    with pytest.raises(SystemExit):  # Hydra: its search path in lines, and exit 1
        check_command_line(["--config-name", "nope", run], "resnet-lab", True)
    assert capsys.readouterr().err.startswith(
        "resnet-lab: error: --config-name nope: there is no such config in "
    )
    check_command_line(["-cn", "config", run], "resnet-lab", True)
    check_command_line(["-cn", "config.yaml", run], "resnet-lab", True)  # Hydra drops .yaml
    # the other tool's config (Hydra: "Could not load 'resnet_lab_lesion_schema'"; the lesion
    # tool took a training run's settings)
    for tool, primary, name, other in (
        ("resnet-lab", "config", "lesion", "resnet-lab-lesion"),
        ("resnet-lab-lesion", "lesion", "config", "resnet-lab"),
    ):
        with pytest.raises(SystemExit):
            check_command_line(["-cn", name, run], tool, tool == "resnet-lab", config_name=primary)
        assert capsys.readouterr().err == (
            f"{tool}: error: --config-name {name}: that is {other}'s config; {tool} reads "
            f"{primary} (leave --config-name out)\n"
        )


def test_checks_leave_the_schema_they_share_as_built(capsys: pytest.CaptureFixture[str]) -> None:
    """The checks read one schema built once per process (make reproduce-table checks every
    job in one): none changes it, and a change is refused rather than seen by the next check."""
    from omegaconf.errors import ReadonlyConfigError

    from resnet_lab.config import structured_schema

    for args in (["trainer.lr=0.5", "seed=3", "+trainer.milestones=[5]"], ["trainer.lr=abc"]):
        with contextlib.suppress(SystemExit):
            check_command_line(args, "resnet-lab", True)
    schema = structured_schema()
    assert (schema.trainer.lr, schema.seed, list(schema.trainer.milestones)) == (
        0.1,
        0,
        [32000, 48000],
    )
    with pytest.raises(ReadonlyConfigError):
        OmegaConf.update(schema, "trainer.lr", 0.5)
    assert "trainer.lr=abc" in capsys.readouterr().err


def test_unknown_option_lists_the_choices() -> None:
    out = run_cli(["shortcut=gated"])
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "shortcut=gated: there is no shortcut/gated; shortcut/ holds conv1x1" in out.stderr
    assert "shortcut_gate" in out.stderr


def test_misspelled_key_is_named() -> None:
    out = run_cli(["model.dpeth=20"])
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert "model.dpeth (did you mean model.depth?)" in out.stderr


@pytest.mark.slow
def test_console_script_from_a_built_wheel(tmp_path: Path) -> None:
    """The wheel ships the YAML configs: the installed command composes them from the package."""
    source = tmp_path / "source"  # build from the tracked files, never from a stale build/ folder
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    wheel = next(dist.glob("resnet_lab-*.whl"))
    with zipfile.ZipFile(wheel) as files:  # the lab's Slurm launcher, where Hydra finds plugins
        assert "hydra_plugins/resnet_lab_slurm/__init__.py" in files.namelist()
        assert "hydra_plugins/__init__.py" not in files.namelist()  # a namespace, others' too
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    wheel_only = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # not the checkout
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "-q",
            str(wheel),
        ]
        if _pip_has_python_option()
        else [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(_site_packages(python)),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
        env=wheel_only,
    )
    where = subprocess.run(
        [str(python), "-c", "import resnet_lab; print(resnet_lab.__file__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
        env=wheel_only,
    )
    assert str(env_dir) in where.stdout  # the wheel, not the editable checkout
    out = subprocess.run(
        [str(env_dir / "bin" / "resnet-lab"), "--cfg", "job", "+experiment=table1/gate_b6"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=wheel_only,
    )
    assert out.returncode == 0, out.stderr
    assert "gate_bias: -6.0" in out.stdout and "table1/gate_b6" in out.stdout


@pytest.mark.parametrize("module", ["resnet_lab", "resnet_lab.cli"])
def test_the_command_runs_as_a_module(module: str) -> None:
    """`python -m resnet_lab.cli ...` did nothing and exited 0 (no __main__ guard)."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.startswith("resnet-lab: reproduce"), out.stderr
    out = subprocess.run(  # the lab's version line (python -m resnet_lab.cli printed Hydra's)
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and out.stdout.startswith("resnet-lab 0."), out.stdout


@pytest.mark.parametrize(
    ("module", "prog"),
    [
        ("resnet_lab.evaluate", "resnet-lab-eval"),
        ("resnet_lab.lesion", "resnet-lab-lesion"),
        ("resnet_lab.lesion_cli", "resnet-lab-lesion"),  # it did nothing, exit 0
        ("resnet_lab.gates", "resnet-lab-gates"),
        ("resnet_lab.report", "resnet-lab-report"),
    ],
)
def test_a_tool_run_as_a_module_is_its_console_script(
    module: str, prog: str, tmp_path: Path
) -> None:
    """`python -m resnet_lab.evaluate` (lesion, gates, report), documented as the same as the
    command, imported torch before any signal hold: a Ctrl-C then was swallowed (the study ran
    to its end, exit 0) or gave a trace; --version was Hydra's or refused."""
    out = subprocess.run(
        [sys.executable, "-m", module, "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.startswith(f"{prog} 0."), out.stdout + out.stderr
    # a Ctrl-C as torch starts importing: held, then one line
    (tmp_path / "sitecustomize.py").write_text(
        "import importlib.abc, os, signal, sys\n"
        "class Kill(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'torch':\n"
        "            sys.meta_path.remove(self)\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.meta_path.insert(0, Kill())\n"
    )
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ['PYTHONPATH']}"}
    out = subprocess.run(
        [sys.executable, "-m", module, "checkpoint=nowhere"],  # past resnet-lab-lesion's checks
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 130, out.stdout + out.stderr
    assert out.stderr == f"{prog}: interrupted while starting: nothing was done\n"


def test_editable_console_script_runs() -> None:
    script = shutil.which("resnet-lab")
    assert script, "resnet-lab is not on PATH: run `make install`"
    out = subprocess.run(
        [script, "--cfg", "job", "shortcut=conv1x1"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and "name: conv1x1" in out.stdout


def _pip_has_python_option() -> bool:
    out = subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True, text=True)
    major, minor = (int(x) for x in out.stdout.split()[1].split(".")[:2])
    return (major, minor) >= (22, 3)


def _site_packages(python: Path) -> Path:
    out = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


@pytest.mark.slow
def test_resume_without_the_run_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lab: Lab
) -> None:
    """Without hydra.run.dir, Hydra makes a fresh folder: resume=true would start a new run. The
    refused launch's folder is removed (outputs/ holds runs), with the date folder and outputs/
    it made, and a folder the user named or made stays."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESNET_LAB_OUTPUTS", raising=False)
    out = lab(["profile=smoke", "resume=true"])
    assert out.returncode == 2
    # one line on stderr, as the checks before Hydra print theirs (it was a log line on stdout)
    assert out.stdout == "" and out.stderr == (
        "resnet-lab: error: resume=true continues the run in hydra.run.dir, and none was given: "
        "add hydra.run.dir=<the run's folder>, as in the run's log\n"
    )
    assert list(tmp_path.rglob("*")) == []
    own = tmp_path / "own"  # the user's empty outputs folder, made before the launch
    own.mkdir()
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(own))
    assert lab(["profile=smoke", "resume=true"]).returncode == 2
    assert list(tmp_path.rglob("*")) == [own]
    own.rmdir()
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(tmp_path / "made"))  # made by the launch: removed
    assert lab(["profile=smoke", "resume=true"]).returncode == 2
    assert list(tmp_path.rglob("*")) == []
    # with the folder above
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(tmp_path / "made" / "deeper"))
    assert lab(["profile=smoke", "resume=true"]).returncode == 2
    assert list(tmp_path.rglob("*")) == []
    # unless named as the run's folder (Hydra then writes nothing there with these options)
    quiet = ["hydra.output_subdir=null", "hydra/job_logging=disabled", "model.depth=100"]
    for key in ("hydra.run.dir", "++hydra.run.dir"):
        named = lab([*quiet, f"{key}={tmp_path / 'made'}"])
        assert named.returncode == 2 and list(tmp_path.rglob("*")) == [tmp_path / "made"]
        (tmp_path / "made").rmdir()
    # a run that trained keeps the outputs folder it made (only an empty one is removed)
    monkeypatch.delenv("RESNET_LAB_OUTPUTS")
    assert lab([*TINY_RUN, "trainer.max_steps=1"]).returncode == 0
    assert len(list((tmp_path / "outputs").glob("*/*/result.json"))) == 1
    named = tmp_path / "named"
    assert lab(["model.depth=100", f"hydra.run.dir={named}"]).returncode == 2
    assert "model.depth=100 does not fit" in (named / "resnet-lab.log").read_text()
    # the run's ckpt/ folder given for the run's folder: refused, not a new run inside it
    (tmp_path / "run" / "ckpt").mkdir(parents=True)
    (tmp_path / "run" / "ckpt" / "step_0000010.pt").write_bytes(b"")
    given = f"hydra.run.dir={tmp_path / 'run' / 'ckpt'}"
    out = lab(["profile=smoke", "resume=true", given])
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"give the run folder, hydra.run.dir={tmp_path / 'run'}" in out.stdout + out.stderr
    assert not (tmp_path / "run" / "ckpt" / "result.json").exists()
    out = lab(["profile=smoke", given])  # a new run into it: refused too
    assert out.returncode == 2 and "is a run's checkpoint folder" in out.stdout + out.stderr
    assert not (tmp_path / "run" / "ckpt" / "result.json").exists()
    # told before Hydra: no launch record or log of the refused launch among the checkpoints
    assert [p.name for p in (tmp_path / "run" / "ckpt").iterdir()] == ["step_0000010.pt"]


def test_a_lesion_studys_folder_is_refused_as_a_runs(tmp_path: Path) -> None:
    """resnet-lab-lesion refuses a run's folder; the trainer refuses a study's alike, before
    Hydra writes its record and log there (resume=true too: a study is no run to continue)."""
    study = tmp_path / "study"
    study.mkdir()
    (study / "lesion.json").write_text("{}")
    for extra in ([], ["resume=true"]):
        out = run_cli(["profile=smoke", f"hydra.run.dir={study}", *extra], cwd=tmp_path)
        assert out.returncode == 2, out.stdout + out.stderr
        assert f"hydra.run.dir={study} holds a lesion study (lesion.json)" in out.stderr
        assert [p.name for p in study.iterdir()] == ["lesion.json"]
    from resnet_lab.command_line import check_command_line

    for printing in (
        ["--cfg", "job"],
        ["-c", "job"],
        ["--help"],
        ["-h"],
        ["--info", "config"],
        ["-i", "config"],  # Hydra's short flags, kept as typed
    ):
        check_command_line([*printing, f"hydra.run.dir={study}"], "resnet-lab", True)
    # nor is a sweep, which writes in its hydra.sweep.dir, never in hydra.run.dir
    sweep = ["-m", "seed=0,1", f"hydra.run.dir={study}", f"hydra.sweep.dir={tmp_path / 's'}"]
    check_command_line(sweep, "resnet-lab", True)


def test_a_sweep_jobs_folder_holding_a_study_is_refused(tmp_path: Path) -> None:
    from resnet_lab.run_folder import run_folder_problem

    (tmp_path / "lesion.json").write_text("{}")
    problem = run_folder_problem(tmp_path, "hydra.sweep.dir", sweep=True)
    assert problem is not None and "holds a lesion study (lesion.json)" in problem


def test_a_run_or_sweep_inside_a_runs_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its TensorBoard events showed as the outer run's, and the report counted both; a sweep
    into a run's folder was refused job by job, after Hydra made each job's folder."""
    from resnet_lab.command_line import check_command_line
    from resnet_lab.run_folder import run_folder_problem

    run = tmp_path / "run"
    run.mkdir()
    (run / "result.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    for args, said in [
        (
            ["hydra.run.dir=run/inner"],
            "hydra.run.dir=run/inner lies inside the run in {}: give the run",
        ),
        (
            ["-m", "seed=0,1", "hydra.sweep.dir=run"],
            "hydra.sweep.dir=run is the run in {}: give the sweep",
        ),
        (
            ["-m", "hydra.sweep.dir=run/s"],
            "hydra.sweep.dir=run/s lies inside the run in {}: give the sweep",
        ),
    ]:
        with pytest.raises(SystemExit):
            check_command_line(args, "resnet-lab", True)
        assert (
            capsys.readouterr().err
            == f"resnet-lab: error: {said.format(run)} a folder of its own\n"
        )
    check_command_line(["resume=true", "hydra.run.dir=run"], "resnet-lab", True)  # its own
    problem = run_folder_problem(run / "0", "hydra.sweep.dir", sweep=True)  # a job's, resolved
    assert problem == (
        f"hydra.sweep.dir={run / '0'} lies inside the run in {run}: give the run a folder of "
        "its own"
    )


def test_the_folder_checks_read_a_quoted_folder_as_hydra_does_and_their_hints_paste_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder with an accent needs Hydra's quotes (``hydra.run.dir='/runs/r é'``). The checks
    read it as Hydra does: they had taken the quotes for part of the path, so a checkpoint given
    as the folder was Hydra's FileExistsError trace, and a folder inside a run was made before
    the run refused it. A folder a hint names pastes back as that folder: it was quoted twice
    (pasted, it made a tree of folders named after the quotes) or not at all (split at a space)."""
    import shlex

    from resnet_lab.command_line import check_command_line, parsed_overrides

    run = tmp_path / "my runs" / "r é"
    (run / "ckpt").mkdir(parents=True)
    (run / "ckpt" / "step_0000004.pt").write_bytes(b"")
    (run / "result.json").write_text("{}")

    def refusal(*args: str) -> str:
        with pytest.raises(SystemExit) as stopped:
            check_command_line(list(args), "resnet-lab", True)
        assert stopped.value.code == 2
        return capsys.readouterr().err

    def read_back(hint: str, key: str) -> object:
        """What Hydra reads from the hint, pasted into a shell."""
        (word,) = shlex.split(hint)
        ((_, override),) = parsed_overrides([word])
        assert override.key_or_group == key
        return override.value()

    said = refusal("resume=true", f"hydra.run.dir='{run}/ckpt/step_0000004.pt'")
    hint = said.split("give the run's folder, ")[1].split(" (resume=true")[0]
    assert read_back(hint, "hydra.run.dir") == str(run)
    said = refusal(f"hydra.run.dir='{run}/inner'")
    assert f"lies inside the run in {run}: give the run a folder of its own" in said
    said = refusal("-m", "seed=0,1", f"hydra.run.dir='{tmp_path}/sweep é'")
    assert read_back(said.split(": write ")[1].strip(), "hydra.sweep.dir") == f"{tmp_path}/sweep é"
    said = refusal(f"hydra.run.dir='{run}/ckpt'")
    assert read_back(said.split("give the run folder, ")[1].strip(), "hydra.run.dir") == str(run)


def test_a_folder_under_home_written_with_a_tilde_is_told_its_full_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra's grammar refuses a bare '~' and reads a quoted one as a name: the run had trained
    into a folder named '~' below the current one. The other tools' path options take '~' as home,
    in ``--out=~/x`` too, where the shell leaves it."""
    from resnet_lab.command_line import check_command_line
    from resnet_lab.console import given_path

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    for args, key in (
        (["hydra.run.dir='~/runs/r'"], "hydra.run.dir"),
        (["-m", "seed=0,1", "+hydra.sweep.dir='~/runs/s'"], "hydra.sweep.dir"),
        # bare, told its full path at once (told to quote it, it was refused again)
        (["hydra.run.dir=~/runs/r"], "hydra.run.dir"),
        (["-m", "seed=0,1", "+hydra.sweep.dir=~/runs/s"], "hydra.sweep.dir"),
    ):
        with pytest.raises(SystemExit) as stopped:
            check_command_line(args, "resnet-lab", True)
        assert stopped.value.code == 2
        folder = tmp_path / "home" / "runs" / key[6]
        assert capsys.readouterr().err == (
            f"resnet-lab: error: {args[-1]}: Hydra takes '~' for a folder's name, not for your "
            f"home folder: write {key}={folder}\n"
        )
    check_command_line(["hydra.run.dir='a~b'"], "resnet-lab", True)  # a '~' inside a name
    assert given_path("~/results") == tmp_path / "home" / "results"
    assert not (tmp_path / "~").exists()


def test_only_a_folder_holding_nothing_but_the_launchs_record_is_discarded(tmp_path: Path) -> None:
    """A run stopped by a signal discards its Hydra-made folder when nothing was saved: one that
    holds a checkpoint (or anything else) beside the launch record and log must stay."""
    from omegaconf import OmegaConf

    from resnet_lab.run_folder import discard_refused_folder

    hydra_cfg = OmegaConf.create(
        {"overrides": {"hydra": []}, "output_subdir": ".hydra", "job": {"name": "resnet-lab"}}
    )
    kept = tmp_path / "2026-01-01" / "12-00-00"
    for name in (".hydra/config.yaml", "resnet-lab.log", "ckpt/step_0000010.pt"):
        (kept / name).parent.mkdir(parents=True, exist_ok=True)
        (kept / name).write_text("x")
    discard_refused_folder(kept, hydra_cfg)
    assert (kept / "ckpt" / "step_0000010.pt").exists()
    (kept / "ckpt" / "step_0000010.pt").unlink()
    (kept / "ckpt").rmdir()
    discard_refused_folder(kept, hydra_cfg)  # the record and the log only: gone, date folder too
    assert not (tmp_path / "2026-01-01").exists()


def test_a_relaunch_never_rewrites_the_runs_config(tmp_path: Path, lab: Lab) -> None:
    """A refused re-launch into a finished run's folder (e.g. a sweep with a changed EXTRA)
    leaves the run's config as it trained; Hydra records each launch in a folder of its own."""
    # resume=true into a folder without a run starts one (a re-submitted job's first launch),
    # saying so: it may be a mistyped folder
    first = lab(["profile=smoke", "resume=true", f"hydra.run.dir={tmp_path}"])
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"resume=true, but {tmp_path} holds no run" in first.stdout + first.stderr
    config = (tmp_path / "config.yaml").read_text()
    refused = lab(["profile=smoke", "trainer.lr=0.05", "resume=true", f"hydra.run.dir={tmp_path}"])
    assert refused.returncode == 2 and (
        "(trainer.lr: 0.1 -> 0.05); continue it as it trained with trainer.lr=0.1, or start"
        in refused.stdout + refused.stderr
    )
    assert (tmp_path / "config.yaml").read_text() == config and "lr: 0.1\n" in config
    launches = sorted((tmp_path / ".hydra").iterdir())
    assert len(launches) == 2
    assert "trainer.lr=0.05" in (launches[1] / "overrides.yaml").read_text()


def test_a_run_chosen_on_validation_ends_with_its_test_figure(tmp_path: Path, lab: Lab) -> None:
    """The stochastic-depth rows (trainer.test_at_best_val): the last line gives the validation
    error and the test error of the evaluation the validation chose, the report's figure."""
    out = lab(
        [
            "+experiment=neighbours/stochastic_depth_110",
            "profile=smoke",
            f"hydra.run.dir={tmp_path}",
        ]
    )
    assert out.returncode == 0, out.stdout + out.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    selected, step = result["test_error_at_best_val"], result["best_step"]
    assert (
        f"completed: val error {result['final_test_error']:.2f}%; test error {selected:.2f}% at "
        f"step {step}, the lowest val error's, results in {tmp_path}" in out.stdout + out.stderr
    )


def test_the_smoke_profile_says_it_ignores_a_chosen_dataset(tmp_path: Path, lab: Lab) -> None:
    """So is each setting the command gives that the run's others leave unused."""
    out = lab(["profile=smoke", "data=cifar10", f"hydra.run.dir={tmp_path}/c"])
    assert out.returncode == 0, out.stderr
    assert "profile=smoke trains on synthetic data, not data=cifar10" in out.stdout + out.stderr
    out = lab(["profile=smoke", "data=synthetic", f"hydra.run.dir={tmp_path}/s"])
    assert out.returncode == 0, out.stderr
    assert "profile=smoke trains on synthetic data" not in out.stdout + out.stderr  # as chosen
    assert " is not used" not in out.stdout + out.stderr
    unused = ["data.root=/data", "data.verify=false", "data.download=true", "data.augment=false"]
    unused += ["data.pad_mode=reflect", "trainer.warmup_steps=0", "trainer.warmup_lr=0.5"]
    out = lab([*TINY_RUN, "trainer.max_steps=1", *unused, f"hydra.run.dir={tmp_path}/b"])
    assert out.returncode == 0, out.stderr
    for said in (
        "synthetic data are generated, not read: data.root is not used",
        "synthetic data are generated, not read: data.verify is not used",
        "synthetic data are generated, not read: data.download is not used",
        "data.augment=false pads no image: data.pad_mode is not used",
        "trainer.warmup_steps=0 warms up for no step: trainer.warmup_lr is not used",
    ):
        assert said in out.stdout + out.stderr
    assert (out.stdout + out.stderr).count(" is not used") == 5  # augment, warmup_steps: used
    from resnet_lab.api import compose_config
    from resnet_lab.cli import _unused_settings

    read_from_files = "data.name=cifar10 is read from its files"
    assert ("data.synthetic_train_size", read_from_files) in _unused_settings(compose_config([]))


def test_a_file_given_as_the_run_folder_names_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """E.g. a checkpoint to resume from: Hydra would fail making the folder (FileExistsError)."""
    from resnet_lab.cli import command

    checkpoint = tmp_path / "run" / "ckpt" / "step_0000010.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "resume=true", f"hydra.run.dir={checkpoint}"])
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2
    run = tmp_path / "run"
    said = f"is a file, not a folder: give the run's folder, hydra.run.dir={run} (resume=true"
    assert said in capsys.readouterr().err
    # written relative to a run folder of its own: the hint named the current folder, "."
    other = tmp_path / "other"
    (other / "ckpt").mkdir(parents=True)
    monkeypatch.chdir(other)
    given = os.path.relpath(checkpoint, other)  # ../run/ckpt/step_0000010.pt
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "resume=true", f"hydra.run.dir={given}"])
    with pytest.raises(SystemExit):
        command()
    assert f"give the run's folder, hydra.run.dir={run.resolve()} (" in capsys.readouterr().err


def test_a_row_of_a_misspelt_table_names_the_tables() -> None:
    """It said "unknown key(s) experiment/tabel1 (did you mean experiment?)", as though a key
    were wanted (the glob of a sweep named the groups already)."""
    from resnet_lab.command_line import override_problem

    for arg in ("+experiment/tabel1=original", "experiment/tabel1=original"):
        assert override_problem([arg]) == (
            f"{arg}: there is no config group experiment/tabel1; the groups in experiment/ are "
            "cifar100, highway, neighbours, plain, table1, table2, table3, table6"
        )
    assert override_problem(["+shortcut/foo=bar"]) == (
        "+shortcut/foo=bar: there is no config group shortcut/foo"
    )
    assert override_problem(["+experiment/table1=original"]) is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        # docs/report.md's pitfall: Hydra's glob lists only the files directly in a group
        (
            ["-m", "+experiment=glob(table1/*)"],
            "+experiment=glob(table1/*) matches no config of experiment: its configs lie in its "
            "subgroups, one glob each: write '+experiment/table1=glob(*)'",
        ),
        (  # without the '+', the glob that the hint gives needs it too
            ["-m", "experiment=glob(table1/*)"],
            "experiment=glob(table1/*) matches no config of experiment: its configs lie in its "
            "subgroups, one glob each: write '+experiment/table1=glob(*)'",
        ),
        (
            ["--multirun", "+experiment/tabel1=glob(*)", "seed=0,1"],
            "+experiment/tabel1=glob(*): there is no config group experiment/tabel1; the groups "
            "in experiment/ are cifar100, highway, ",  # and the others, rows of your own too
        ),
        (
            ["-m", "+experiment/table1=glob(Gate*)"],
            "+experiment/table1=glob(Gate*) matches no config of experiment/table1 (its configs: "
            "conv1x1, dropout, gate_b0,",
        ),
        (["-m", "model=glob(*,exclude=[densenet,resnet])"], "model=glob(*,exclude=[densenet,"),
        (
            ["-m", "+experiment=glob(foo*)"],
            "+experiment=glob(foo*) matches no config of experiment: it holds only the "
            "subgroups cifar100, highway, neighbours,",
        ),
        (
            ["-m", "seed=0,1", "--cfg", "job"],
            "-m and --cfg cannot be given together: Hydra runs one mode (--cfg and --info show "
            "one run: drop -m",
        ),
        # argparse takes a long flag's unambiguous prefix: Hydra's ValueError trace again
        (["-m", "--cf", "job", "seed=0,1"], "-m and --cf cannot be given together"),
        (["--multi", "+experiment=glob(foo*)"], "+experiment=glob(foo*) matches no config"),
        (["-m", "-r", "seed=0,1"], "-r and -m cannot be given together: Hydra runs one mode"),
        # a flag of resnet-lab-eval's (argparse's usage), one of its own making ("1: not a
        # key=value setting" blamed the value)
        (
            ["--data-root", "/my data"],
            "--data-root is no flag of this command: its settings are key=value: "
            "'data.root=/my data'",
        ),
        (["--seed=1"], "--seed is no flag of this command: its settings are key=value: seed=1"),
        (["--sed", "1"], "--sed is no flag of this command (--help lists them; settings are"),
        (  # Hydra advised the -m that is refused beside --cfg
            ["--cfg", "job", "seed=0,1"],
            "seed=0,1 sweeps over values, and a config shown is one run's: give one value",
        ),
        # sweeps Hydra's basic sweeper runs as no jobs (exit 0), or not at all (its trace)
        (["-m", "seed=range(5,0)"], "seed=range(5,0) gives no values, a sweep of no jobs"),
        (["-m", "seed=range(1,5,0)"], "seed=range(1,5,0): range() arg 3 must not be zero"),
        (  # a sweep of rows by interval(): the rows' own check gave a HydraException trace
            ["-m", "+experiment=interval(0,1)"],
            "+experiment=interval(0,1): interval() is sampled by an optimising sweeper",
        ),
        (
            ["trainer.lr=interval(0.01,0.1)"],  # told as no sweep of values, with -m or not
            "trainer.lr=interval(0.01,0.1): interval() is sampled by an optimising sweeper "
            "(Optuna, Nevergrad), not by Hydra's basic one: give the values, e.g. -m "
            "trainer.lr=0.01,0.05,0.1",
        ),
        # make reproduce-table's subdir with EXTRA=trainer.lr=0.1,0.05: two jobs in each folder,
        # the second refused as a changed resume of the first
        (
            [
                "-m",
                "+experiment/table1=glob(*)",
                "seed=0,1",
                "hydra.sweep.subdir=${experiment.name}/seed${seed}",
                "shortcut=gate,scale",
            ],
            "shortcut=gate,scale sweeps over values that hydra.sweep.subdir=${experiment.name}/seed"
            "${seed} leaves out of the jobs' folder names: its jobs would share folders; give one "
            "value per hydra.sweep.dir",
        ),
        (  # without a row: the jobs went to /seed0 and /seed1
            ["-m", "seed=0,1", "hydra.sweep.subdir=${experiment.name}/seed${seed}"],
            "hydra.sweep.subdir=${experiment.name}/seed${seed} names the jobs' folders by "
            "experiment.name, which only a row sets (+experiment=...): without one they would "
            "be made at the file system's root",
        ),
        # the other mode's folder: Hydra ignored it and wrote below outputs/ or multirun/
        (
            ["-m", "seed=0,1", "hydra.run.dir=my runs"],
            "hydra.run.dir=my runs is one run's folder, and -m runs a sweep, whose jobs go below "
            'hydra.sweep.dir: write "hydra.sweep.dir=my runs"',
        ),
        (
            ["seed=1", "hydra.sweep.dir=runs"],
            "hydra.sweep.dir=runs is a sweep's folder (-m), and this is one run: write "
            "hydra.run.dir=runs, or add -m",
        ),
        # a name the file system refuses: its OSError trace
        (
            ["hydra.run.dir=" + "x" * 300],
            f"hydra.run.dir={'x' * 300}: the file system refuses it (File name too long)",
        ),
        (["-cd", "x" * 300], f"--config-dir {'x' * 300}: the file system refuses it (File name"),
        (["--run", "--cfg", "job"], "--run and --cfg cannot be given together: Hydra runs one"),
        (["--info", "--multirun"], "--multirun and --info cannot be given together"),
        # --resolve alone was Hydra's ValueError trace; -p alone started a whole run
        (["--resolve", "seed=1"], "--resolve shows a config: give it with --cfg job"),
        (["-p", "trainer"], "-p shows a config: give it with --cfg job"),
        (["--package", "trainer"], "--package shows a config: give it with --cfg job"),
        (["--pack", "trainer"], "--package shows a config: give it with --cfg job"),
        # a flag's value missing or not one of its choices: argparse's seven lines of usage
        # (naming __main__.py under python -m) before its one
        (["--cfg", "bogus"], "--cfg bogus: choose job, hydra or all"),
        (["-c=jobs", "seed=1"], "-c=jobs: choose job, hydra or all"),
        (["--cf", "hydr"], "--cf hydr: choose job, hydra or all"),
        (["seed=1", "--cfg"], "--cfg needs a value: job, hydra or all"),
        (["--cfg", "job", "-p"], "-p needs a value: a config's package (e.g. trainer)"),
        (["-cd", "--cfg", "job"], "-cd needs a value: a folder of configs"),
        (["-m", "--config-dir"], "--config-dir needs a value: a folder of configs"),
        (["--info=plugin"], "--info=plugin: choose all, config, defaults, defaults-tree, plugins"),
        (
            ["--info", "seed=1"],
            "--info seed=1: --info reads seed=1 as what to show (all, config, defaults, "
            "defaults-tree, plugins or searchpath): give the overrides before --info",
        ),
        # an unset shell variable: the run filled the current folder
        (["hydra.run.dir="], "hydra.run.dir is empty: give a folder (an unset shell variable?)"),
        (["-m", "seed=0,1", "hydra.sweep.dir= "], "hydra.sweep.dir is empty: give a folder"),
        # a shell variable in single quotes: OmegaConf's 100-line InterpolationKeyError trace
        (
            ["hydra.run.dir=${HOME}/runs"],
            "hydra.run.dir=${HOME}/runs: ${HOME} reads a setting named HOME, and there is none: "
            "let the shell expand $HOME (no single quotes around it), or write ${oc.env:HOME}",
        ),
        (
            ["data.root=/d/${DATA_ROOT}"],
            "data.root=/d/${DATA_ROOT}: ${DATA_ROOT} reads a setting named DATA_ROOT",
        ),
        # a sweep asked for with hydra.mode, not -m
        (
            ["hydra.mode=MULTIRUN", "+experiment/tabel1=glob(*)"],
            "+experiment/tabel1=glob(*): there is no config group",
        ),
    ],
)
def test_a_sweep_of_nothing_or_two_modes_is_refused(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Hydra launched 0 jobs and exited 0 (as if the table had run), or raised a ValueError
    trace for -m with --cfg; both tools refuse before Hydra starts: nothing is written."""
    _refused_before_hydra(
        ["resnet-lab", "resnet-lab-lesion"], args, message, tmp_path, monkeypatch, capsys
    )


def test_flags_given_their_values_pass_the_check(tmp_path: Path) -> None:
    """The value check reads each flag as argparse does: --info without a value, and a value
    after '=' or joined to a short flag, are left to Hydra."""
    from resnet_lab.command_line import check_command_line

    for args in (
        ["--cfg", "job", "-p", "trainer"],
        ["--cfg=hydra", "--package=hydra.run"],
        ["-cjob", "seed=1"],
        ["seed=1", "--info"],
        ["--info", "defaults-tree", "seed=1"],
        ["-i"],
        ["--cfg", "all", "--resolve"],
        ["-cd", str(tmp_path), "--cfg", "job"],
    ):
        for tool in ("resnet-lab", "resnet-lab-lesion"):
            check_command_line(args, tool, outputs_into_the_run=tool == "resnet-lab")


def test_overrides_on_both_sides_of_m_are_told_where_m_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse reads the overrides as one run of words: Hydra said "unrecognized arguments:
    seed=0,1" without the why. The order of the command as given is kept in the hint; -m at
    either end is Hydra's to run (no exit here)."""
    from resnet_lab.command_line import check_command_line

    for flag in ("-m", "--multirun"):
        _refused_before_hydra(
            ["resnet-lab", "resnet-lab-lesion"],
            ["seed=1", flag, "seed=0,1", "trainer.lr=0.2"],
            f"{flag} goes before the overrides or after them all, not between: "
            f"{flag} seed=1 seed=0,1 trainer.lr=0.2",
            tmp_path,
            monkeypatch,
            capsys,
        )
    for args in (
        ["-m", "seed=0,1", "seed=2", "data=synthetic"],
        ["seed=0,1", "seed=2", "data=synthetic", "-m"],
    ):
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)
    _refused_before_hydra(  # the hint pastes into a shell as it reads
        ["resnet-lab"],
        ["profile=smoke", "-m", "+experiment/table1=glob(*)", "hydra.sweep.subdir=${seed}"],
        "-m goes before the overrides or after them all, not between: "
        "-m profile=smoke '+experiment/table1=glob(*)' 'hydra.sweep.subdir=${seed}'",
        tmp_path,
        monkeypatch,
        capsys,
    )
    for args in (["~trainer.warmup_lr", "-m", "seed=0,1"],):  # a deletion is an override too
        with pytest.raises(SystemExit):
            check_command_line(args, "resnet-lab", outputs_into_the_run=True)
        assert "-m goes before the overrides or after them all" in capsys.readouterr().err
    # a folder whose name holds '=' (as Hydra's override_dirname makes) given to a flag
    (tmp_path / "cd=1").mkdir()
    for flag in ("-cd", "--config-dir"):
        args = [flag, str(tmp_path / "cd=1"), "-m", "seed=0,1", "data=synthetic"]
        check_command_line(args, "resnet-lab", True)
    # a value starting with '-' with a space in it: argparse's value, not a flag
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-my configs").mkdir()
    check_command_line(["-cd", "-my configs", "seed=1"], "resnet-lab", True)
    # a flag right after -m is no override (argparse takes this); a flag joined to its value
    # takes nothing after it, so the override after it is one
    check_command_line(["seed=0,1", "-m", "--config-dir", str(tmp_path / "cd=1")], "resnet-lab")
    with pytest.raises(SystemExit):
        check_command_line([f"--config-dir={tmp_path}", "seed=1", "-m", "seed=0,1"], "resnet-lab")
    assert f"not between: -m --config-dir={tmp_path} seed=1 seed=0,1" in capsys.readouterr().err


def test_an_output_folder_that_cannot_be_made_is_refused_before_hydra(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    in_process: InProcess,
) -> None:
    """A file on the way to the folder, or a folder this user cannot write in: Hydra's trace."""
    from resnet_lab.command_line import check_command_line

    (tmp_path / "notes").write_text("")
    with pytest.raises(SystemExit):
        check_command_line([f"hydra.run.dir={tmp_path}/notes/run"], "resnet-lab")
    assert f"{tmp_path}/notes is a file, not a folder" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)  # root reads all
    with pytest.raises(SystemExit):
        check_command_line(["-m", "seed=0,1", f"hydra.sweep.dir={locked}/sweep"], "resnet-lab")
    assert f"cannot write in {locked} (permission denied)" in capsys.readouterr().err
    check_command_line([f"hydra.run.dir={tmp_path}/new/run"], "resnet-lab")  # fine: made
    # a run's ckpt/ alone this user cannot write in (copied from another user's): the run
    # trained to its first save, then failed
    ckpt = tmp_path / "copied" / "ckpt"
    ckpt.mkdir(parents=True)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) not in (locked, ckpt))
    with pytest.raises(SystemExit):
        check_command_line([f"hydra.run.dir={ckpt.parent}", "resume=true"], "resnet-lab")
    assert f"hydra.run.dir={ckpt.parent}: cannot write in {ckpt} (permission denied)" in (
        capsys.readouterr().err
    )
    # names each short enough, a path too long for the files in it (a trace at the first one)
    path_max = os.pathconf("/", "PC_PATH_MAX")  # 4096 on Linux
    deep = tmp_path.joinpath(*["a" * 200] * (path_max // 200))
    with pytest.raises(SystemExit):
        check_command_line([f"hydra.run.dir={deep}"], "resnet-lab")
    assert capsys.readouterr().err.endswith(
        f": its path is {len(str(deep))} bytes, and the files written in it need up to 200 more "
        f"within the system's {path_max}: give a shorter one\n"
    )
    check_command_line([f"hydra.run.dir={tmp_path.joinpath(*['a' * 200] * 2)}"], "resnet-lab")
    # the default folder, below one the user cannot write in: Hydra's PermissionError trace
    monkeypatch.chdir(locked)
    for tool, config, args, default in [
        (
            "resnet-lab",
            "config",
            ["seed=1"],
            "outputs/): start from a folder you can write in, or give hydra.run.dir=DIR",
        ),
        (
            "resnet-lab",
            "config",
            ["-m", "seed=0,1"],
            "multirun/): start from a folder you can write in, or give hydra.sweep.dir=DIR",
        ),
    ]:
        with pytest.raises(SystemExit):
            check_command_line(args, tool, config_name=config)
        assert capsys.readouterr().err.startswith(
            f"{tool}: error: cannot write in {locked} (permission denied), where the outputs go "
            f"by default ({default}"
        )
    refused = in_process("resnet-lab-lesion", ["checkpoint=x"])  # its own default folder
    assert refused.returncode == 2 and refused.stderr.startswith(
        f"resnet-lab-lesion: error: cannot write in {locked} (permission denied), where the "
        "outputs go by default (lesions/): start from"
    )
    monkeypatch.setattr(os, "statvfs", lambda path: os.statvfs_result((0,) * 8 + (os.ST_RDONLY, 0)))
    with pytest.raises(SystemExit):
        check_command_line(["seed=1"], "resnet-lab")
    assert f"cannot write in {locked} (read-only), where" in capsys.readouterr().err
    check_command_line(["seed=1", f"hydra.run.dir={tmp_path}/run"], "resnet-lab")  # elsewhere
    check_command_line(["--cfg", "job"], "resnet-lab")  # prints only: writes nothing
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(tmp_path / "runs"))
    check_command_line(["seed=1"], "resnet-lab")  # the default moved, to a folder it can make
    # a blank variable: the runs went below / (Path("") is ".", then "/DATE/TIME"); a file
    for variable, args in [("RESNET_LAB_OUTPUTS", ["seed=1"]), ("RESNET_LAB_MULTIRUN", ["-m"])]:
        monkeypatch.setenv(variable, "")
        with pytest.raises(SystemExit):
            check_command_line(args, "resnet-lab")
        assert capsys.readouterr().err == (
            f"resnet-lab: error: {variable} is empty (an unset shell variable?): the outputs "
            "would go below /, the file system's root: give it a folder, or unset it\n"
        )
        folder = f"hydra.{'sweep' if args == ['-m'] else 'run'}.dir={tmp_path}/x"
        check_command_line([*args, folder], "resnet-lab")  # given: the variable is not read
        monkeypatch.delenv(variable)
    (tmp_path / "a_file").touch()
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(tmp_path / "a_file"))
    with pytest.raises(SystemExit):
        check_command_line(["seed=1"], "resnet-lab")
    assert capsys.readouterr().err == (
        f"resnet-lab: error: {tmp_path / 'a_file'} is a file, not a folder, where "
        f"RESNET_LAB_OUTPUTS puts the outputs ({tmp_path / 'a_file'}/): give it a folder\n"
    )


@pytest.mark.skipif(sys.platform != "linux", reason="file names are bytes in the C locale here")
def test_a_folder_the_c_locale_cannot_spell_is_refused_before_it_is_made(tmp_path: Path) -> None:
    """LC_ALL=C PYTHONUTF8=0: Python held a non-ASCII name's bytes as surrogates, which
    TensorBoard's writer could not encode: a trace once the run's folder was made."""
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0"}
    advice = (
        ": this locale (ascii) cannot spell its name, and TensorBoard cannot write there: run in "
        "a UTF-8 locale (e.g. LC_ALL=C.UTF-8), or give a folder named in ASCII\n"
    )
    out = run_cli(["profile=smoke", f"hydra.run.dir='{tmp_path}/r\u00e9'"], env=env)
    assert out.returncode == 2 and out.stderr.endswith(f"{tmp_path}/r\\xe9{advice}"), out.stderr
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "r\u00e9").mkdir()  # started in such a folder: its default outputs/ alike
    out = run_cli(["profile=smoke"], cwd=tmp_path / "r\u00e9", env=env)
    assert out.returncode == 2, out.stderr
    assert out.stderr == f"resnet-lab: error: {tmp_path}/r\\xe9/outputs{advice}"
    assert list(tmp_path.rglob("*")) == [tmp_path / "r\u00e9"]


def test_a_run_folder_without_write_permission_is_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refused)
    with pytest.raises(UserError, match=r"cannot write in the run folder .* \(Permission denied"):
        RunLock(tmp_path).acquire()


def test_an_output_folder_behind_a_link_to_nothing_is_told_not_traced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """outputs/ or a results folder linked to a disk not mounted: Hydra's trace making the
    folder, exit 1 (the check took the link for nothing there)."""
    from resnet_lab.command_line import check_command_line

    link = tmp_path / "results"
    link.symlink_to(tmp_path / "unmounted" / "results")
    gone = f"{link} is a link to {tmp_path}/unmounted/results, which does not exist"
    work = tmp_path / "work"
    work.mkdir()
    _refused_before_hydra(
        ["resnet-lab", "resnet-lab-lesion"],
        [f"hydra.run.dir={link}/run"],
        f"hydra.run.dir={link}/run: {gone}",
        work,
        monkeypatch,
        capsys,
    )
    monkeypatch.chdir(tmp_path)  # the default outputs/ (results/ standing in)
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", "results")
    with pytest.raises(SystemExit):
        check_command_line(["data=synthetic"], "resnet-lab", outputs_into_the_run=True)
    assert f"resnet-lab: error: results is a link to {tmp_path}/unmounted/results, which " in (
        capsys.readouterr().err
    )
    loop = tmp_path / "loop"  # not "a link to loop, which does not exist"
    loop.symlink_to(loop)
    with pytest.raises(SystemExit):
        check_command_line([f"hydra.run.dir={loop}/run"], "resnet-lab", outputs_into_the_run=True)
    assert f"{loop} is a link that leads nowhere (through {loop}: a loop of links?)" in (
        capsys.readouterr().err
    )


def _refused_before_hydra(
    tools: list[str],
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each tool's entry point exits 2 with ``message``, writing nothing in the folder."""
    from resnet_lab.cli import command
    from resnet_lab.lesion_cli import command as lesion_command

    entry_points = {"resnet-lab": command, "resnet-lab-lesion": lesion_command}
    monkeypatch.chdir(tmp_path)
    for tool in tools:
        monkeypatch.setattr(sys, "argv", [tool, *args])
        with pytest.raises(SystemExit) as stopped:
            entry_points[tool]()
        assert stopped.value.code == 2
        err = capsys.readouterr().err
        assert f"{tool}: error: {message}" in err
        assert err.count("\n") == 1, err  # one line: no trace, no Hydra report
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["-m", "+experiment/table6=glob(*)", "+trainer.lrr=0.05"],
            "unknown key(s) trainer.lrr (did you mean trainer.lr?): not a resnet-lab setting",
        ),
        (["-m", "seed=0,1", "++model.dpeth=8"], "unknown key(s) model.dpeth (did you mean model"),
        (
            ["-m", "+experiment/table6=glob(*)", "resume=true"],
            "resume=true continues the sweep in hydra.sweep.dir, and none was given",
        ),
        (["-m", "seed=0,1", "resume=yes"], "resume=true continues the sweep in hydra.sweep.dir"),
        (["-m", "seed=0,1", "resume=1"], "resume=true continues the sweep in hydra.sweep.dir"),
    ],
)
def test_a_mistake_every_job_of_a_sweep_makes_is_said_once(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`make reproduce-table EXTRA=+trainer.lrr=0.05` gave one error per job (dozens), each
    with a trace and a leftover folder; now one line before Hydra starts, nothing written."""
    _refused_before_hydra(["resnet-lab"], args, message, tmp_path, monkeypatch, capsys)


def test_a_sweep_without_its_data_is_refused_once_in_a_new_sweep_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make reproduce-table` with no data (a first try): each job said "cifar10 not found" in
    a folder of its own, and make went on to the next table. Once one job would train the sweep
    starts; a sweep folder holding runs already (a finished table's report rebuilt where its
    data are not) is left to its jobs, which skip their finished runs without reading data."""
    from resnet_lab.cli import command
    from resnet_lab.command_line import no_job_would_train
    from resnet_lab.preflight import every_job_refused

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "-m", "seed=0,1,2", "model.depth=21"])
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 1  # as the sweep's refused jobs would: make goes on
    assert capsys.readouterr().err == (
        "resnet-lab: error: every job of this sweep (3) would be refused, none started; the "
        "first (seed=0 model.depth=21): model.depth=21 does not fit basic units: depth must be "
        "6n+2 (e.g. 8, 14, 20, 32, 44, 56, 110, 668, 1202)\n"
    )
    missing = tmp_path / "nowhere"
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "-m", f"data.root={missing}", "seed=0,1"])
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 1
    assert capsys.readouterr().err.startswith(
        "resnet-lab: error: every job of this sweep (2) would be refused, none started; the "
        f"first (data.root={missing} seed=0): cifar10 not found (the data root {missing} does "
        "not exist). Looked in:\n"
    )
    assert list(tmp_path.iterdir()) == []
    assert every_job_refused(["data=synthetic", "model.depth=21,8"], None) is None
    refused = every_job_refused(["data=synthetic", "model.depth=21,22"], None)
    assert "the first (data=synthetic model.depth=21): model.depth=21 does" in str(refused)
    assert every_job_refused([f"data.root={missing}"], "out/${now:%H}") is None  # a job's own
    (tmp_path / "results" / "table1" / "original" / "seed0").mkdir(parents=True)
    assert every_job_refused([f"data.root={missing}"], str(tmp_path / "results")) is not None
    (tmp_path / "results" / "table1" / "original" / "seed0" / "result.json").write_text("{}")
    assert every_job_refused([f"data.root={missing}"], str(tmp_path / "results")) is None
    # where this machine cannot show what the jobs would see, they are left to say it
    for args in (
        ["++hydra.sweep.dir=results"],  # the finished sweep, however its folder is written
        ['hydra.sweep.dir="results"'],
        ["hydra/launcher=slurm"],  # its jobs run on nodes with their own GPUs and files
        [f"+hydra.job.env_set.RESNET_LAB_DATA={tmp_path}"],  # the jobs' environment
        ["data.root=${hydra:runtime.cwd}/data"],  # resolved in a job only
        ["data.root=${ hydra:runtime.cwd}/data"],
        ["hydra.searchpath=[file://rows]"],
        ["trainer.lr=${trainer.milestones.5}"],  # a job's own error: each says it
    ):
        assert no_job_would_train(["-m", f"data.root={missing}", "seed=0,1", *args]) is None, args
    # a Hydra setting naming ${hydra:...} is no job's config: the jobs are still checked
    subdir = "hydra.sweep.subdir=${hydra:job.override_dirname}"
    assert no_job_would_train(["-m", f"data.root={missing}", "seed=0,1", subdir]) is not None


def test_hydras_free_keys_and_its_plugins_choices_are_left_to_it(tmp_path: Path) -> None:
    """Hydra leaves the launcher's settings and env_set free; a -cd folder may add choices."""
    from resnet_lab.command_line import check_command_line

    (tmp_path / "my_conf" / "hydra" / "launcher").mkdir(parents=True)
    (tmp_path / "my_conf" / "hydra" / "launcher" / "mine.yaml").write_text("")
    for args in (
        ["+hydra.job.env_set.A=1", "hydra/launcher=parallel", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=parallel", "hydra/job_logging=disabled", "hydra.output_subdir=null"],
        ["+hydra.job.env_set.A=1", "~hydra.job.env_set.A"],  # a key of a free dict: deleted
        ["-cd", str(tmp_path / "my_conf"), "hydra/launcher=mine", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=slurm", "+hydra.launcher.additional_parameters.x=1"],  # a free dict
        ["hydra.job.chdir=false"],
        ["data=synthetic", "seed=0,1", "++hydra.mode=MULTIRUN"],  # a sweep, -m or not
        ["hydra/job_logging=null"],  # no choice: Hydra's to read
    ):
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)


def test_the_lesion_tool_tells_how_to_quote_a_checkpoint_with_a_comma(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    message = (
        "checkpoint=/runs/a,b/last.pt sweeps over values, a job each, which takes -m "
        "(--multirun); a path with a comma in it is quoted: \"checkpoint='/runs/a,b/last.pt'\"\n"
    )
    args = ["checkpoint=/runs/a,b/last.pt"]
    _refused_before_hydra(["resnet-lab-lesion"], args, message, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("tool", ["resnet-lab", "resnet-lab-lesion"])
def test_dot_dot_after_a_link_is_refused_naming_both_folders(
    tool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """$PWD/../runs in a linked folder: the system made the folder below the link's target's
    parent, Hydra opened its log below the link's own: a 40-line trace and an empty folder."""
    from resnet_lab.cli import command
    from resnet_lab.lesion_cli import command as lesion_command

    (tmp_path / "real" / "sub").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real" / "sub")
    given = f"{tmp_path}/link/../r"
    entry_point = {"resnet-lab": command, "resnet-lab-lesion": lesion_command}[tool]
    args = ["checkpoint=x.pt"] if tool == "resnet-lab-lesion" else ["profile=smoke"]
    monkeypatch.setattr(sys, "argv", [tool, *args, f"hydra.run.dir={given}"])
    with pytest.raises(SystemExit) as stopped:
        entry_point()
    assert stopped.value.code == 2
    real = tmp_path.resolve()
    assert capsys.readouterr().err == (
        f"{tool}: error: hydra.run.dir={given}: '..' after a symbolic link: the system makes "
        f"{real}/real/r, Hydra writes into {real}/r; write the folder meant without '..', e.g. "
        f"hydra.run.dir={real}/real/r\n"
    )
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["link", "real", "sub"]
    # a '..' the system and Hydra read alike (no link before it) is the folder it names
    from resnet_lab.command_line import _read_two_ways

    assert _read_two_ways("hydra.run.dir", f"{tmp_path}/real/sub/../r") is None


@pytest.mark.parametrize(
    ("override", "said"),
    [
        (  # a list's item past its end (a name of no setting is told before Hydra runs)
            "trainer.lr=${trainer.milestones.5}",
            "trainer.lr: Interpolation key 'trainer.milestones.5' not found",
        ),
        (  # the resolver's exception not by its class's name
            "seed=${oc.env:RESNET_LAB_TEST_UNSET}",
            "seed: its ${...} cannot be resolved: \"Environment variable 'RESNET_LAB_TEST_UNSET'",
        ),
        ("model.depth=${trainer.lr}", "model.depth: While dereferencing interpolation"),
    ],
)
def test_an_interpolation_that_cannot_resolve_is_one_line(
    tmp_path: Path, override: str, said: str
) -> None:
    """A ``${...}`` naming no setting, an unset variable, a value of the wrong type: a trace of
    13 to 74 lines from whichever part of the run read it first."""
    out = run_cli(["profile=smoke", override, f"hydra.run.dir={tmp_path / 'r'}"])
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith(f"resnet-lab: error: {said}") and out.stderr.count("\n") == 1
    assert not (tmp_path / "r" / "ckpt").exists()


def test_a_lesion_study_is_refused_a_runs_checkpoint_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was written there, beside the checkpoints the run prunes and resumes from."""
    from resnet_lab.lesion_cli import command

    run = tmp_path / "run"
    (run / "ckpt").mkdir(parents=True)
    (run / "ckpt" / "step_0000001.pt").write_bytes(b"")
    argv = ["resnet-lab-lesion", f"checkpoint={run}", f"hydra.run.dir={run / 'ckpt'}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"resnet-lab-lesion: error: {run / 'ckpt'} is the checkpoint folder of the run in "
        f"{run.resolve()}: give the study a folder of its own, e.g. "
        f"hydra.run.dir={run.resolve() / 'lesion'}\n"
    )
    assert [p.name for p in (run / "ckpt").iterdir()] == ["step_0000001.pt"]
    # a folder to be made there: refused before Hydra made it, with its record and log
    argv[-1] = f"hydra.run.dir={run / 'ckpt' / 'x'}"
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2
    assert "x lies inside the checkpoint folder of the run in" in capsys.readouterr().err
    assert [p.name for p in (run / "ckpt").iterdir()] == ["step_0000001.pt"]


def test_the_lesion_tool_tells_a_word_without_its_equals_sign_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After its own check of a checkpoint's path given bare."""
    message = "lesion.samples 3: a setting is key=value, one word: lesion.samples=3"
    args = ["checkpoint=x.pt", "lesion.samples", "3"]
    _refused_before_hydra(["resnet-lab-lesion"], args, message, tmp_path, monkeypatch, capsys)


def test_a_slurm_sweep_without_slurm_is_refused_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make reproduce-table LAUNCHER=slurm` off a cluster: submitit's 25-line traceback for
    each table became one line; where srun exists, the sweep goes on to Hydra."""
    import shutil

    from resnet_lab.command_line import check_command_line

    args = ["-m", "seed=0,1", "hydra/launcher=slurm"]
    monkeypatch.setattr(shutil, "which", lambda name: None)
    message = "hydra/launcher=slurm submits each run to Slurm, and this machine has no srun"
    _refused_before_hydra(["resnet-lab"], args, message, tmp_path, monkeypatch, capsys)
    sweep = ["-m", "seed=0,1", "data=synthetic"]
    check_command_line([*sweep, "hydra/launcher=parallel"], "resnet-lab", True)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    check_command_line([*sweep, "hydra/launcher=slurm"], "resnet-lab", True)  # no exit


def test_a_slurm_job_that_ended_without_its_result_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """scancel (a node lost, out of requeues): the run saved its checkpoint and said how it
    continues, then submitit's UncompletedJobError printed a 25-line trace after it."""
    import shutil

    from hydra.core.plugins import Plugins
    from submitit.core.utils import UncompletedJobError

    from resnet_lab.cli import command

    # the class Hydra instantiates (its plugin scan loads the modules anew): submitit's under it
    plugins = Plugins.instance().class_name_to_class
    ours = plugins["hydra_plugins.resnet_lab_slurm.ResnetLabSlurmLauncher"]

    said = (  # as submitit 1.5 words it, the job's error stream last
        "Job 10521 (task: 0) with path /s/.submitit/10521/10521_0_result.pkl\n"
        "has not produced any output (state: CANCELLED)\nError stream produced:\n"
        + "-" * 40
        + "\nresnet-lab: warning: an earlier word\n"  # the run's last word is the one said
        + "resnet-lab: interrupted by SIGTERM (checkpoint saved); continue with the same "
        "command plus resume=true hydra.sweep.dir=/s\n"
    )

    def cancelled(self: object, *args: object) -> None:
        raise UncompletedJobError(said)

    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")  # srun is there
    monkeypatch.setattr(ours.__mro__[1], "launch", cancelled)
    sweep = tmp_path / "my sweep"  # pasted back as one word
    argv = ["resnet-lab", "-m", "seed=0,1", "hydra/launcher=slurm", f"hydra.sweep.dir={sweep}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 1
    err = capsys.readouterr().err  # Hydra's epilogue after it, as after a refused job's line
    assert "Traceback" not in err and err.split("\n\nSet the environment variable")[0] == (
        "resnet-lab: error: a Slurm job ended without its result (cancelled, its node lost, or "
        "out of requeues: Job 10521 (task: 0) with path /s/.submitit/10521/10521_0_result.pkl "
        "has not produced any output (state: CANCELLED)); its run: interrupted by SIGTERM "
        "(checkpoint saved); continue with the same command plus resume=true "
        "hydra.sweep.dir=/s; the sweep's other jobs go on in Slurm (squeue)"
    )
    monkeypatch.setattr(UncompletedJobError, "__str__", lambda self: said.split("Error")[0])
    with pytest.raises(SystemExit):
        command()  # the job said nothing: how a sweep's run continues
    hint = f'continue with the same command plus resume=true "hydra.sweep.dir={sweep}";'
    assert f"its run: {hint}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["model.detph=20"], "unknown key(s) model.detph (did you mean model.depth?)"),
        (["-m", "seeed=0,1"], "unknown key(s) seeed (did you mean seed?)"),
        (
            ["+experiment=table1/gate_b5"],
            "+experiment=table1/gate_b5: there is no experiment/table1/gate_b5; "
            "experiment/table1/ holds conv1x1, dropout, gate_b0, gate_b6,",
        ),
        (
            ["+experiment=tabel1/gate_b6"],
            "+experiment=tabel1/gate_b6: there is no experiment/tabel1/gate_b6; experiment/ holds "
            "cifar100/, highway/,",
        ),
        (
            ["+experiment=table6"],
            "+experiment=table6 names a group of configs: choose one (+experiment=table6/"
            "resnet110) or all (-m '+experiment/table6=glob(*)')",
        ),
        (["shortcut=gates"], "shortcut=gates: there is no shortcut/gates; shortcut/ holds conv1x1"),
        # each of a sweep's choices (Hydra: its search path, exit 1, an empty sweep folder)
        (["-m", "shortcut=gate,gat"], "shortcut=gate,gat: there is no shortcut/gat; shortcut/ "),
        (
            ["-m", "+experiment=table1/gate_b6,original"],
            "+experiment=table1/gate_b6,original: there is no experiment/original; experiment/ "
            "holds cifar100/,",
        ),
        (
            ["-m", "+experiment/table1=choice(gate_b6,gate_b5)"],
            "+experiment/table1=choice(gate_b6,gate_b5): there is no experiment/table1/gate_b5; ",
        ),
        (["model="], "model= chooses nothing: model/ holds densenet, resnet"),
        (
            ["experiment=table1/original"],
            "experiment=table1/original: an experiment is added to the run's settings: write "
            "+experiment=table1/original",
        ),
        # two rows: Hydra composed both (a gated net trained as table2's original unit)
        (
            ["+experiment=table1/gate_b6", "+experiment/table2=original_110"],
            "+experiment/table2=original_110: a run is one row, and +experiment=table1/gate_b6 "
            "chose one already: give one +experiment (the rows of several tables: make "
            "reproduce-table TABLES=...)",
        ),
        (
            ["-m", "+experiment/table1=glob(*)", "+experiment/table2=glob(*)"],
            "+experiment/table2=glob(*): a run is one row, and +experiment/table1=glob(*) chose",
        ),
        (  # Hydra: "Multiple values for experiment", three lines
            ["+experiment=table1/gate_b6", "+experiment=table1/original"],
            "+experiment=table1/original: +experiment=table1/gate_b6 chose a row already: give "
            "one, or choose again without the '+'",
        ),
        # a row of a subgroup and a sweep of rows without the '+': Hydra's four lines, exit 1
        (
            ["experiment/table2=original_110"],
            "experiment/table2=original_110: an experiment is added to the run's settings: write "
            "+experiment/table2=original_110",
        ),
        (
            ["-m", "experiment=table1/original,table1/dropout"],
            "experiment=table1/original,table1/dropout: an experiment is added to the run's "
            "settings: write +experiment=table1/original,table1/dropout",
        ),
        (
            ["-m", "experiment/table1=glob(*)"],
            "experiment/table1=glob(*): an experiment is added to the run's settings: write "
            "+experiment/table1=glob(*)",
        ),
        # a value of the wrong type: Hydra's five-line merge error, exit 1 (once per job)
        (["trainer.lr=abc"], "trainer.lr=abc: Value 'abc' of type 'str' could not be converted"),
        (["seed=1.5"], "seed=1.5: Value '1.5' of type 'float' could not be converted to Integer"),
        (
            ["trainer.milestones=5"],
            "trainer.milestones=5: Invalid value assigned: int is not a ListConfig, list or tuple:"
            " trainer.milestones takes a list, e.g. trainer.milestones=[5]\n",
        ),
        (  # a sweep of a list setting: the user meant a list
            ["-m", "trainer.milestones=5,7"],
            "trainer.milestones=5,7: Invalid value assigned: int is not a ListConfig, list or "
            "tuple: trainer.milestones takes a list, e.g. trainer.milestones=[5,7]\n",
        ),
        (["-m", "seed=0,x"], "seed=0,x: Value 'x' of type 'str' could not be converted to Int"),
        (  # past torch's range: the sweep's check of its jobs told it as every job's, none ran
            ["-m", "seed=0,18446744073709551616"],
            "seed=0,18446744073709551616: seed=18446744073709551616 must be in [-2**63, 2**64)\n",
        ),
        (["seed=-9223372036854775809"], "seed=-9223372036854775809 must be in [-2**63, 2**64)\n"),
        (["trainer.lr=null"], "trainer.lr=null: field 'trainer.lr' is not Optional"),
        (  # no list spelling of null ("e.g. trainer.milestones=[null]")
            ["trainer.milestones=null"],
            "trainer.milestones=null: field 'trainer.milestones' is not Optional\n",
        ),
        (["trainer.compile=maybe"], "trainer.compile=maybe: Value 'maybe' is not a valid bool"),
        # a word without '=' (Hydra: "missing EQUAL", exit 1)
        (
            ["data.root", "/data"],
            "data.root /data: a setting is key=value, one word: data.root=/data",
        ),
        (["seed=1", "data.root"], "data.root: not a key=value setting (see --help)"),
        # a sweep without -m (Hydra: "Ambiguous value" or "requires --multirun", several lines)
        (["seed=0,1"], "seed=0,1 sweeps over values, a job each, which takes -m (--multirun)\n"),
        (  # a list setting: its list spelling
            ["trainer.milestones=3,4"],
            "trainer.milestones=3,4 sweeps over values, a job each, which takes -m (--multirun); "
            "a list is written trainer.milestones=[3,4]",
        ),
        (
            ["+experiment/tabel1=glob(*)"],
            "+experiment/tabel1=glob(*) sweeps over values, a job each, which takes -m",
        ),
        (["shortcut=glob(*)", "seed=1"], "shortcut=glob(*) sweeps over values, a job each"),
        (
            ["+experiment/table1=choice(original,gate_b6)"],
            "+experiment/table1=choice(original,gate_b6) sweeps over values",
        ),
        # what Hydra's grammar cannot read (Hydra: its parse error in three lines, exit 1); a
        # character with no bare use, with the override in Hydra's quotes
        (
            ["data.root=/data/\u00e9"],
            "data.root=/data/\u00e9: Hydra's grammar has no bare '\u00e9' (character 17); in "
            "Hydra's quotes it is one value: \"data.root='/data/\u00e9'\"\n",
        ),
        (["a.b c=1"], "a.b c=1: Hydra's grammar has no bare ' ' (character 4)\n"),  # in the key
        (  # the lab reads a '~' in data.root as the home folder: Hydra's quotes alone are needed
            ["data.root=~/data"],
            "data.root=~/data: Hydra's grammar has no bare '~' (character 11); in Hydra's quotes "
            "it is one value: \"data.root='~/data'\"\n",
        ),
        (
            ["model.depth=[20"],
            "model.depth=[20: Hydra cannot read it: no viable alternative at input '[20'\n",
        ),
        # a setting deleted (Hydra: "TrainerCfg (DictConfig) does not support deletion" in five
        # lines; ~seed a trace once the run read it), a group's choice of nothing (a ValueError
        # trace); a group's choice deleted is Hydra's to do
        (
            ["~trainer.lr"],
            "~trainer.lr: every run has this setting, it cannot be deleted: give trainer.lr a "
            "value\n",
        ),
        (["~seed"], "~seed: every run has this setting, it cannot be deleted: give seed a value"),
        (  # none a run has (Hydra: "Could not delete from config", three lines, exit 1)
            ["~trainer.lrr"],
            "~trainer.lrr: a run has no setting trainer.lrr (did you mean trainer.lr?) to delete\n",
        ),
        (
            ["~hydra.output_subdir"],
            "~hydra.output_subdir: Hydra's settings cannot be deleted: give hydra.output_subdir a "
            "value\n",
        ),
        (
            ["shortcut=null"],
            "shortcut=null chooses nothing: shortcut/ holds conv1x1, dropout, gate, highway, "
            "identity, none, scale, shortcut_gate\n",
        ),
        (["+experiment=null"], "+experiment=null chooses nothing: experiment/ holds cifar100/..."),
        (  # a group the lab chooses, added (Hydra: "Multiple values for shortcut", three lines)
            ["+shortcut=gate"],
            "+shortcut=gate: the lab's config chooses a shortcut already: write shortcut=gate\n",
        ),
        (  # nor moved (Hydra: "Could not override 'shortcut@model'", four lines) or added
            ["shortcut@model=gate"],
            "shortcut@model=gate: the lab's config chooses the shortcut and where it goes (no "
            "@model): write shortcut=gate\n",
        ),
        (["+shortcut@foo=gate"], "+shortcut@foo=gate: the lab's config chooses the shortcut and"),
        (
            ["++profile=smoke"],
            "++profile=smoke: the lab's config chooses a profile already: write profile=smoke\n",
        ),
        (  # a sweep in a config's words (Hydra: a sweep of its own settings, or a trace)
            ["-m", "+hydra.sweeper.params.seed=0,1"],
            "+hydra.sweeper.params.seed=0,1: on the command line a sweep is given as its values "
            "with -m (seed=a,b); hydra.sweeper.params is for a config of one's own\n",
        ),
        (
            ["-m", "+hydra.sweeper.params.seed='0,1'"],
            "+hydra.sweeper.params.seed='0,1': on the command line a sweep is given as its",
        ),
        (  # a variable for the jobs without its '+' (Hydra: "not in struct", five lines)
            ["hydra.job.env_set.FOO=1"],
            "hydra.job.env_set.FOO=1: a variable for the jobs is added to Hydra's settings: "
            "write +hydra.job.env_set.FOO=1\n",
        ),
        (
            ["hydra.job.env_set={FOO:1}"],
            "hydra.job.env_set={FOO:1}: the variables for the jobs are added to Hydra's settings: "
            "write +hydra.job.env_set={FOO:1}\n",
        ),
        (  # a value of the wrong type for Hydra (its ValidationError, five lines)
            ["hydra.run.dir=null"],
            "hydra.run.dir=null: Hydra's hydra.run.dir takes a value, not null\n",
        ),
        (
            ["hydra.job.chdir=abc"],
            "hydra.job.chdir=abc: Value 'abc' is not a valid bool (type str)\n",
        ),
        (  # the job's log is <name>.log in the run folder: a '/' wrote it outside
            ["hydra.job.name=../x"],
            "hydra.job.name=../x: the job's name names its log file in the run folder: give a "
            "file's name (no '/', not '.' or '..')\n",
        ),
        (["hydra.job.name=.."], "hydra.job.name=..: the job's name names its log file in the "),
        # Hydra's record written over another run's (config.yaml, overrides.yaml), a job's
        # folder outside its sweep's (`${hydra.job.num}/../..`: into the folder of the command)
        (
            ["hydra.output_subdir=/runs/other"],
            "hydra.output_subdir=/runs/other: hydra.output_subdir is a folder inside the run's "
            "folder: give a relative path without '..'\n",
        ),
        (["hydra.output_subdir=../x"], "hydra.output_subdir=../x: hydra.output_subdir is a "),
        (
            ["-m", "seed=0,1", "hydra.sweep.subdir=${hydra.job.num}/../.."],
            "hydra.sweep.subdir=${hydra.job.num}/../..: hydra.sweep.subdir is a folder inside "
            "the sweep's folder: give a relative path without '..'\n",
        ),
        (["-m", "seed=0,1", "hydra.sweep.subdir=/j${seed}"], "hydra.sweep.subdir=/j${seed}: "),
        (["hydra.job.name=."], "hydra.job.name=.: the job's name names its log file in the "),
        # a comma in a folder's name (Hydra: "Sweeping over Hydra's configuration is not
        # supported", exit 1; a data folder: a sweep): how to quote it, pasteable
        (
            ["hydra.run.dir=/runs/a,b"],
            "hydra.run.dir=/runs/a,b: Hydra's own settings take one value, not a sweep; a path "
            "with a comma in it is quoted: \"hydra.run.dir='/runs/a,b'\"\n",
        ),
        (
            ["-m", "seed=0,1", "hydra.sweep.subdir=a,b"],
            "hydra.sweep.subdir=a,b: Hydra's own settings take one value, not a sweep; a path "
            "with a comma in it is quoted: \"hydra.sweep.subdir='a,b'\"\n",
        ),
        (
            ["hydra.output_subdir=a,b"],
            "hydra.output_subdir=a,b: Hydra's own settings take one value, not a sweep; a path "
            "with a comma in it is quoted: \"hydra.output_subdir='a,b'\"\n",
        ),
        (  # an added path setting, as the lab's own
            ["+checkpoint=/runs/a,b"],
            "+checkpoint=/runs/a,b sweeps over values, a job each, which takes -m (--multirun); "
            "a path with a comma in it is quoted: \"+checkpoint='/runs/a,b'\"\n",
        ),
        (  # the whole of the sweeper's params, as the keys in it
            ["-m", 'hydra.sweeper.params={seed:"0,1"}'],
            'hydra.sweeper.params={seed:"0,1"}: on the command line a sweep is given as its '
            "values with -m (KEY=a,b); hydra.sweeper.params is for a config of one's own\n",
        ),
        (  # given twice, the last is Hydra's
            [
                "-m",
                "hydra.sweep.subdir=${hydra.job.num}",
                "hydra.sweep.subdir=seed${seed}",
                "seed=0,1",
                "trainer.lr=0.1,0.05",
            ],
            "trainer.lr=0.1,0.05 sweeps over values that hydra.sweep.subdir=seed${seed} leaves "
            "out of the jobs' folder names: its jobs would share folders",
        ),
        (  # no folder: no quotes
            ["-m", "seed=0,1", "hydra.job.chdir=true,false"],
            "hydra.job.chdir=true,false: Hydra's own settings take one value, not a sweep\n",
        ),
        (
            ["-m", "seed=0", "hydra/launcher=basic,parallel"],
            "hydra/launcher=basic,parallel: Hydra's own settings take one value, not a sweep\n",
        ),
        (  # nor a glob of its groups (which come from plugins)
            ["-m", "hydra/job_logging=glob(*)", "data=synthetic"],
            "hydra/job_logging=glob(*): Hydra's own settings take one value, not a sweep\n",
        ),
        (
            ["data.root=/data/a,b"],
            "data.root=/data/a,b sweeps over values, a job each, which takes -m (--multirun); a "
            "path with a comma in it is quoted: \"data.root='/data/a,b'\"\n",
        ),
        # Hydra's own groups and keys (Hydra: its search path; or the '+' that is then ignored)
        (
            ["-m", "seed=0,1", "hydra/launcher=paralel"],
            "hydra/launcher=paralel: there is no hydra/launcher/paralel; hydra/launcher/ holds "
            "basic, joblib, parallel,",
        ),
        (
            ["hydra.run.dirr=x"],
            "unknown key hydra.run.dirr (did you mean hydra.run.dir?): not a setting of Hydra's "
            "(--hydra-help lists them)",
        ),
        (["+hydra.run.dirr=x"], "unknown key hydra.run.dirr (did you mean hydra.run.dir?)"),
        (["hydra.jb.chdir=true"], "unknown key hydra.jb (did you mean hydra.job?)"),
        # the launcher's options: Hydra's '+' (ignored by joblib, or failing), its six lines,
        # joblib's trace
        (
            ["-m", "seed=0", "hydra/launcher=parallel", "hydra.launcher.njobs=2"],
            "hydra.launcher.njobs=2: no option njobs (did you mean hydra.launcher.n_jobs?) in "
            "hydra/launcher=parallel",
        ),
        (
            ["-m", "seed=0", "+hydra.launcher.n_jobs=2"],
            "+hydra.launcher.n_jobs=2 is an option of hydra/launcher=parallel: add "
            "hydra/launcher=parallel",
        ),
        (
            ["-m", "seed=0", "hydra/launcher=parallel", "hydra.launcher.n_jobs=abc"],
            "hydra.launcher.n_jobs=abc: Value 'abc' of type 'str' could not be converted to Int",
        ),
        (
            ["-m", "seed=0", "hydra/launcher=parallel", "hydra.launcher.n_jobs=0"],
            "hydra.launcher.n_jobs=0 runs no job: give how many run at once (-1: one per CPU",
        ),
    ],
)
def test_a_mistyped_setting_or_row_is_told_with_the_choices(
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Hydra advised `+model.detph=20` (which the run then refuses as unknown), and answered a
    missing row with its search path rather than the table's rows; its own refusals came as
    several lines and exit 1, which make reproduce-table took for a failed run
    (LAUNCHER=paralel went on to every table)."""
    _refused_before_hydra(["resnet-lab"], args, message, tmp_path, monkeypatch, capsys)


def test_an_experiment_added_once_may_be_chosen_again_without_its_plus() -> None:
    from resnet_lab.command_line import override_problem

    assert override_problem(["+experiment=table1/original", "experiment=table1/dropout"]) is None
    assert override_problem(["-m", "+experiment/table1=glob(*)", "seed=0,1"]) is None


@pytest.mark.parametrize(
    ("tools", "arg", "message"),
    [
        (["resnet-lab", "resnet-lab-lesion"], "seed=x", "Value 'x' of type 'str' could not be"),
        (["resnet-lab-lesion"], "lesion.samples=abc", "Value 'abc' of type 'str' could not be"),
        (["resnet-lab-lesion"], "data.limit=1.5", "Value '1.5' of type 'float' could not be"),
        (
            ["resnet-lab-lesion"],
            "lesion.experiments=single",
            "Invalid value assigned: str is not a ListConfig, list or tuple: lesion.experiments "
            "takes a list, e.g. lesion.experiments=[single]\n",
        ),
    ],
)
def test_the_lesion_tool_tells_a_value_of_the_wrong_type_too(
    tools: list[str],
    arg: str,
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Its settings are checked against its own schema (Hydra's merge error, exit 1, before)."""
    _refused_before_hydra(tools, [arg], f"{arg}: {message}", tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(
    ("tools", "arg", "said"),
    [
        (["resnet-lab", "resnet-lab-lesion"], "hydra.run.dir=${oops}", "${oops} names no setting"),
        (
            ["resnet-lab"],
            "hydra.run.dir=runs/${trainer.lrr}",
            "${trainer.lrr} names no setting (did you mean trainer.lr?)",
        ),
        (
            ["resnet-lab-lesion"],
            "hydra.sweep.dir=l/${lesion.samplez}",
            "${lesion.samplez} names no setting (did you mean lesion.samples?)",
        ),
        (  # a sweep's every job failed on it, in four lines each
            ["resnet-lab", "resnet-lab-lesion"],
            "data.root=/d/${data.rot}",
            "${data.rot} names no setting (did you mean data.root?)",
        ),
        (  # a variable the machine lacks (a cluster's $SCRATCH): Hydra's trace, as above
            ["resnet-lab", "resnet-lab-lesion"],
            "hydra.run.dir=${oc.env:RESNET_LAB_TEST_UNSET}/r",
            "the environment variable RESNET_LAB_TEST_UNSET is not set (Hydra makes the folder "
            "as it starts; ${oc.env:RESNET_LAB_TEST_UNSET,DEFAULT} gives a default)",
        ),
        (
            ["resnet-lab"],
            "hydra.sweep.dir=${oc.env:RESNET_LAB_TEST_UNSET}",
            "the environment variable RESNET_LAB_TEST_UNSET is not set (Hydra makes the folder "
            "as it starts; ${oc.env:RESNET_LAB_TEST_UNSET,DEFAULT} gives a default)",
        ),
    ],
)
def test_a_reference_to_no_setting_is_one_line(
    tools: list[str],
    arg: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Hydra resolves its own settings: a reference to no key ended in about a hundred lines (an
    AssertionError in its exception formatting, and a trace). References to settings (a list's
    item too), to Hydra's own and to resolvers are left to it, as is an escaped one (text)."""
    _refused_before_hydra(tools, [arg], f"{arg}: {said}\n", tmp_path, monkeypatch, capsys)
    fine = ["runs/${seed}/${hydra.job.override_dirname}", "runs/${now:%H}", "${ seed }"]
    fine += ["runs/${trainer.milestones.0}", r"runs/\${oops}", "${oc.env:HOME}/r"]
    fine += ["${oc.env:RESNET_LAB_TEST_UNSET,runs}/r", r"\${oc.env:RESNET_LAB_TEST_UNSET}"]
    # a Slurm job's own variable, in what its job resolves
    check_command_line(["-m", "hydra.sweep.subdir=${oc.env:SLURM_JOB_ID}"], "resnet-lab", True)
    for value in fine:
        check_command_line([f"hydra.run.dir={value}"], "resnet-lab", True)
    run = f"hydra.run.dir={tmp_path / 'run'}"
    for setting in ("experiment.name=${shortcut.name}_${model.depth}", "data.root=${oc.env:X}"):
        check_command_line([setting, run], "resnet-lab", True)


@pytest.mark.parametrize(
    ("tools", "arg", "key"),
    [
        (["resnet-lab", "resnet-lab-lesion"], "+seed=3", "seed"),
        (["resnet-lab-lesion"], "+lesion.max_k=2", "lesion.max_k"),
    ],
)
def test_a_setting_added_with_a_plus_is_told_by_each_tool(
    tools: list[str],
    arg: str,
    key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A study's too (Hydra's "Could not append to config", four lines and exit 1, before)."""
    message = f"{arg}: {key} is a setting already, a '+' adds one: write {arg[1:]}\n"
    _refused_before_hydra(tools, [arg], message, tmp_path, monkeypatch, capsys)


def test_a_glob_that_matches_or_another_config_folder_is_left_to_hydra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from resnet_lab.command_line import check_command_line

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_conf" / "experiment" / "mine").mkdir(parents=True)
    (tmp_path / "my_conf" / "experiment" / "mine" / "row.yaml").write_text("")
    for args in (
        ["-m", "+experiment/table1=glob(gate*)", "seed=0,1", "data=synthetic"],
        ["-m", "+experiment/mine=glob(*)", "--config-dir", "my_conf"],  # the user's own rows
        ["-m", "+experiment=glob(table1/*)", "hydra.searchpath=[file://my_conf]"],
        # a config shown: --resolve and -p with their mode, also abbreviated (argparse's --cf)
        ["-c", "job", "--resolve"],
        ["-h", "-p", "trainer"],
        ["--cf", "job", "--resolve", "seed=3"],
        ["--cf", "job", "-p", "trainer"],
        ["--cfg", "job", "-c", "hydra"],  # one mode, given twice
        ["-m", "+experiment=table1/original", "shortcut=gate", "seed=0,1"],  # groups
        [
            "-m",
            "resume=true",
            "hydra.sweep.dir=results",
            "+hydra.job.env_set.A=1",
            "data=synthetic",
        ],
        ["+trainer.lrr=1", "resume=true"],  # one run: its own checks say so (and tidy up)
        [],  # the defaults
        ["trainer.milestones=[100,200]", "~shortcut", "+experiment/table1=original"],
        ["+experiment=table1/original", "shortcut=gate", "model.depth=8", "data=synthetic"],
        ["-sc", "install=bash"],  # shell completion's words are not overrides
        ["--shell", "install=bash"],
        ["+experiment=table1/original", "experiment=table1/dropout"],  # chosen again: no '+'
        ["data=cifar100.yaml", "+experiment=/table1/original"],  # spellings Hydra takes
        # another primary config, in a folder of its own (one Hydra cannot find is refused)
        ["-cp", "/my/configs", "-cn", "my_config", "experiment=table1/original"],
        # values the types take: Hydra converts them, or resolves them later
        ["trainer.lr='0.1'", "model.depth=20", "trainer.compile=yes", "data.limit=null"],
        ["-m", "trainer.lr=${trainer.momentum}", "seed=range(0,3)"],
    ):
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)


def test_a_long_flag_is_read_as_argparse_reads_it() -> None:
    """An unambiguous prefix is its flag; an ambiguous one (argparse refuses it) stays as typed,
    and so does a flag given in full or a short one. Two modes are named exactly, without the
    --cfg/--info hint where neither is given."""
    from resnet_lab.command_line import _two_modes, long_flag

    assert [long_flag(f) for f in ("--cf", "--multi", "--shell")] == [
        "--cfg",
        "--multirun",
        "--shell-completion",
    ]
    assert [long_flag(f) for f in ("--r", "--c", "--cfg", "-m", "seed=1")] == [
        "--r",
        "--c",
        "--cfg",
        "-m",
        "seed=1",
    ]
    assert _two_modes(["-m", "-r"]) == "-r and -m cannot be given together: Hydra runs one mode"


def test_the_checks_know_every_long_flag_of_hydra() -> None:
    """The abbreviations the checks expand (--cf: --cfg) are those Hydra's argparse takes."""
    from hydra._internal.utils import get_args_parser

    from resnet_lab.command_line import _FLAGS_WITH_VALUE, _LONG_FLAGS

    parser = get_args_parser()
    hydras = {o for action in parser._actions for o in action.option_strings if o[:2] == "--"}
    assert set(_LONG_FLAGS) == hydras
    # and those that take the next word as their value (a lesion study's bare-word check)
    valued = {o for a in parser._actions if a.nargs != 0 for o in a.option_strings}
    assert valued == _FLAGS_WITH_VALUE


def test_a_config_folder_given_with_config_dir_is_searched_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A glob over the user's own rows matching nothing launched 0 jobs and exited 0 (the check
    skipped any -cd); their own groups are groups, not unknown keys."""
    from resnet_lab.command_line import check_command_line

    mine = tmp_path / "my_conf"
    (mine / "experiment" / "mine").mkdir(parents=True)
    (mine / "experiment" / "mine" / "scaled.yaml").write_text("# @package _global_\n")
    (tmp_path / "empty").mkdir()
    for args in (
        ["-m", "-cd", str(mine), "+experiment/mine=glob(sc*)", "seed=0,1"],
        ["-m", f"--config-dir={mine}", "+experiment=mine/scaled", "seed=0,1"],
    ):
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)
    sweep = ["-m", "--config-dir", str(mine), "+experiment/mine=glob(gate*)", "seed=0,1"]
    _refused_before_hydra(
        ["resnet-lab"],
        sweep,
        "+experiment/mine=glob(gate*) matches no config of experiment/mine (its configs: scaled)",
        tmp_path / "empty",
        monkeypatch,
        capsys,
    )


def test_a_row_of_ones_own_without_the_global_package_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra put such a row's settings under experiment. and answered in five lines of
    ConfigKeyError (Key 'model' not in 'ExperimentCfg'); it reads the header only up to the
    first line that is no ``# @`` line. Chosen alone or by a sweep, it is one line naming it."""
    from resnet_lab.command_line import check_command_line
    from resnet_lab.config import row_problem

    mine = tmp_path / "my_conf"
    rows = mine / "experiment" / "mine"
    rows.mkdir(parents=True)
    (rows / "good.yaml").write_text("# @package _global_\n# my row\nmodel:\n  depth: 8\n")
    headers = {
        "bare": "",
        "below": "# my row\n# @package _global_\n",  # a comment above it ends the header
        "other": "# @package experiment\n",
    }
    for stem, header in headers.items():
        (rows / f"{stem}.yaml").write_text(f"{header}model:\n  depth: 8\n")
    (tmp_path / "empty").mkdir()
    for stem in headers:
        said = f"experiment file {rows / stem}.yaml does not begin with `# @package _global_`"
        for args in (
            ["-cd", str(mine), f"+experiment=mine/{stem}"],
            ["-m", "-cd", str(mine), f"+experiment=mine/good,mine/{stem}"],
            ["-m", "-cd", str(mine), "+experiment/mine=glob(*)"],
        ):
            if args[-1].endswith("glob(*)") and stem != "bare":
                continue  # the glob meets bare.yaml first
            _refused_before_hydra(
                ["resnet-lab"], args, said, tmp_path / "empty", monkeypatch, capsys
            )
    below = "without it Hydra reads the row's keys below experiment.mine., not as the run's"
    assert below in str(row_problem(rows / "bare.yaml", "experiment/mine"))
    (rows / "bare.yaml").write_text("# @package _global_ extra\n")
    unread = "its header cannot be read (Too many components"
    assert unread in str(row_problem(rows / "bare.yaml"))
    (rows / "bom.yaml").write_text("\ufeff# @package _global_\nmodel:\n  depth: 8\n")
    reads: list[str] = []  # the answer is of the bytes read once (not a later version's header)
    with monkeypatch.context() as patched:
        opened = Path.open  # read_bytes and read_text open the file with it too
        patched.setattr(Path, "open", lambda p, *a, **k: reads.append(p.name) or opened(p, *a, **k))
        assert "begins with a byte-order mark, which hides its header" in str(
            row_problem(rows / "bom.yaml")
        )
    assert reads == ["bom.yaml"]
    for stem in [*headers, "bom"]:
        (rows / f"{stem}.yaml").unlink()
    # a row of a defaults list alone sets nothing itself: Hydra composes it whatever its header
    (rows / "base.yaml").write_text("model:\n  depth: 8\n")  # included @_global_, not a row
    (rows / "on_base.yaml").write_text("defaults:\n  - /experiment/mine/base@_global_\n")
    (rows / "none.yaml").write_text("defaults: []\n")
    # nor one that only describes itself in experiment.'s package; and what a defaults list
    # leaves open is Hydra's: a choice to come (???), one interpolated, an optional one missing
    (rows / "told.yaml").write_text("# @package experiment\nname: mine/told\nreported: '5.0'\n")
    (rows / "open.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: ???\n"
        "  - override /recipe: ${data.name}_recipe\n  - optional /experiment/table1: tweaks\n"
    )
    for row in ("on_base", "none", "told", "open"):
        check_command_line(["-cd", str(mine), f"+experiment=mine/{row}"], "resnet-lab", True)
    # a defaults entry naming both a file and a folder: Hydra takes the file
    (rows / "sub").mkdir()
    (rows / "sub.yaml").write_text("# @package _global_\nmodel:\n  depth: 8\n")
    (rows / "on_sub.yaml").write_text("defaults:\n  - /experiment/mine@_global_: sub\n")
    check_command_line(["-cd", str(mine), "+experiment=mine/on_sub"], "resnet-lab", True)
    # keys meant for experiment.'s package: their own mistake, not the header's; Hydra 1.3
    # reads _group_ as a package of that name, and keeps what follows the last _global_
    for text, said in (
        ("name: mine/x\norder: abc\n", "could not be converted to Integer (experiment.order)"),
        ("# @package experiment\nnmae: x\n", "experiment.nmae (did you mean experiment.name?)"),
        ("# @package _group_\nmodel:\n  depth: 8\n", "keys below _group_., not as the run's"),
    ):
        (rows / "x.yaml").write_text(text)
        assert said in str(row_problem(rows / "x.yaml"))
    (rows / "x.yaml").write_text("# @package experiment._global_\nmodel:\n  depth: 8\n")
    assert row_problem(rows / "x.yaml") is None
    (rows / "x.yaml").write_text("# @package _global_.trainer\nlr: 0.05\n")  # trainer.'s keys
    assert row_problem(rows / "x.yaml") is None
    (rows / "x.yaml").write_text("# @package _global_.trainer\nlrr: 0.05\n")
    assert "trainer.lrr (did you mean trainer.lr?)" in str(row_problem(rows / "x.yaml"))
    # mended at the same size within the clock's tick (its time kept here): read anew
    written = (rows / "x.yaml").stat()
    (rows / "x.yaml").write_text("# @package _global_.trainer\nlr: 0.050\n")
    os.utime(rows / "x.yaml", ns=(written.st_atime_ns, written.st_mtime_ns))
    assert (rows / "x.yaml").stat().st_size == written.st_size
    assert row_problem(rows / "x.yaml") is None
    (rows / "x.yaml").unlink()
    (rows / "hydra_only.yaml").write_text("hydra:\n  job:\n    name: x\n")  # experiment.hydra
    said = f"experiment file {rows / 'hydra_only.yaml'} does not begin with `# @package _global_`"
    args = ["-cd", str(mine), "+experiment=mine/hydra_only"]
    _refused_before_hydra(["resnet-lab"], args, said, tmp_path / "empty", monkeypatch, capsys)


def test_a_mistake_in_an_option_file_of_ones_own_is_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An after_add (or shortcut, model, ...) option with a key its schema lacks: Hydra's
    ConfigKeyError in five lines, as a row's was."""
    options = tmp_path / "my_conf" / "after_add"
    options.mkdir(parents=True)
    (options / "relu_alpha.yaml").write_text("fn: relu\nbranch: post_act\nalpha: 1.0\n")
    (tmp_path / "empty").mkdir()
    said = f"after_add file {options / 'relu_alpha.yaml'}: unknown key(s) after_add.alpha"
    args = ["-cd", str(tmp_path / "my_conf"), "after_add=relu_alpha"]
    _refused_before_hydra(["resnet-lab"], args, said, tmp_path / "empty", monkeypatch, capsys)
    # its defaults list is not a row's: an entry without `override` composes there
    from resnet_lab.command_line import check_command_line

    (tmp_path / "my_conf" / "model").mkdir()
    (tmp_path / "my_conf" / "model" / "mine.yaml").write_text(
        "defaults:\n  - resnet\n  - /recipe: densenet\n"
    )
    check_command_line(["-cd", str(tmp_path / "my_conf"), "model=mine"], "resnet-lab", True)


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (
            "model:\n  detph: 8\n",
            ": unknown key(s) model.detph (did you mean model.depth?): not a resnet-lab setting",
        ),
        (
            "model:\n  depth: abc\n",
            ": Value 'abc' of type 'str' could not be converted to Integer (model.depth)",
        ),
        (
            "experiment:\n  order: first\n",
            ": Value 'first' of type 'str' could not be converted to Integer (experiment.order)",
        ),
        (
            "defaults:\n  - override /shortcut: gat\n",
            ", defaults: override /shortcut: gat: there is no shortcut/gat; shortcut/ holds "
            "conv1x1, ",
        ),
        (  # Hydra: "Multiple values for shortcut", three lines naming no file
            "defaults:\n  - /shortcut: gate\n",
            ", defaults: /shortcut: gate: the lab's config chooses shortcut already; a row "
            "changes its choice with `override /shortcut: gate`",
        ),
        (
            "defaults:\n  - /experiment: table1\n",
            ", defaults: /experiment: table1 names a group of configs: choose one of "
            "experiment/table1/",
        ),
        (
            "model: {depth: 8\n",
            " cannot be read: while parsing a flow mapping: expected ',' or '}', but got "
            "'<stream end>' (line 3, column 1)",
        ),
        ("- 1\n", ": a row is a mapping of settings (model:, trainer:, ...)"),
    ],
)
def test_a_mistake_in_a_row_of_ones_own_is_one_line_naming_the_file(
    body: str,
    said: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Hydra answered in five lines (ConfigKeyError, its search path), a YAML mistake with a
    trace; the report said nothing of it. Adding a row is one YAML file: its mistakes are told,
    each in its own file's name (the check is made once per content: a copy has the same)."""
    rows = tmp_path / "my_conf" / "experiment" / "mine"
    copied = rows.parent / "copied"
    for folder in (rows, copied):
        folder.mkdir(parents=True)
        (folder / "row.yaml").write_text(f"# @package _global_\n{body}")
    (tmp_path / "empty").mkdir()
    for chosen, folder in (
        ("+experiment=mine/row", rows),
        ("+experiment/mine=glob(*)", rows),
        ("+experiment=copied/row", copied),
    ):
        args = ["-m", "-cd", str(tmp_path / "my_conf"), chosen]
        message = f"experiment file {folder / 'row.yaml'}{said}"
        _refused_before_hydra(
            ["resnet-lab"], args, message, tmp_path / "empty", monkeypatch, capsys
        )
    from resnet_lab import report

    if "defaults" in body:  # the report reads no groups: the run's check is enough
        return
    with pytest.raises(report.ConfigError) as refused:  # the report: one line too
        report.load_experiments(tmp_path / "my_conf" / "experiment")
    assert str(refused.value).startswith(f"experiment file {copied / 'row.yaml'}")  # the first
    assert "\n" not in str(refused.value)


def test_a_row_this_user_may_not_read_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another user's row (mode 600) is refused as unreadable, not checked as an empty row and
    left to Hydra. The refused read is faked: the tests may run as root."""
    row = tmp_path / "my_conf" / "experiment" / "mine" / "row.yaml"
    row.parent.mkdir(parents=True)
    row.write_text("# @package _global_\nmodel:\n  depth: 8\n")
    read_bytes = Path.read_bytes

    def refused(path: Path) -> bytes:
        if path == row:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", refused)
    args = ["-cd", str(tmp_path / "my_conf"), "+experiment=mine/row"]
    said = f"experiment file {row} cannot be read: [Errno 13] Permission denied"
    (tmp_path / "empty").mkdir()
    _refused_before_hydra(["resnet-lab"], args, said, tmp_path / "empty", monkeypatch, capsys)


def test_a_row_of_ones_own_may_build_on_a_row_of_the_lab(tmp_path: Path) -> None:
    """Its defaults choose a row of the lab's, which the check finds where Hydra does."""
    from resnet_lab.command_line import check_command_line

    mine = tmp_path / "my_conf"
    (mine / "experiment" / "mine").mkdir(parents=True)
    (mine / "experiment" / "mine" / "b6.yaml").write_text(
        "# @package _global_\ndefaults:\n  - /experiment/table1: gate_b6\n  - _self_\n"
        "shortcut:\n  gate_bias_decay: false\nexperiment:\n  name: mine/b6\n"
    )
    check_command_line(["-cd", str(mine), "+experiment=mine/b6"], "resnet-lab", True)


def test_interval_is_left_to_a_sweeper_ones_own_configs_may_choose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra's Optuna example chooses its sweeper in the experiment's defaults, which may
    include other configs: interval() was refused whatever a user's configs chose. The lab's
    own choose none, and a sweeper chosen on the command line is the one."""
    from resnet_lab.command_line import check_command_line

    rows = tmp_path / "my_conf" / "experiment" / "mine"
    rows.mkdir(parents=True)
    (rows / "search.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /hydra/sweeper: optuna\n"
    )
    interval = ["-m", "trainer.lr=interval(0.01,0.1)"]
    for own in (
        ["-cd", str(tmp_path / "my_conf"), "+experiment=mine/search"],
        [f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]"],
    ):
        check_command_line([*interval, *own], "resnet-lab", True)
    # chosen twice, the last is the one (a sweeper file of one's own, then the basic one)
    sweepers = tmp_path / "my_conf" / "hydra" / "sweeper"
    sweepers.mkdir(parents=True)
    (sweepers / "mine.yaml").write_text(
        "_target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n"
    )
    cd = ["-cd", str(tmp_path / "my_conf")]
    mine_last = [*interval, *cd, "hydra/sweeper=basic", "hydra/sweeper=mine"]
    check_command_line(mine_last, "resnet-lab", True)
    (tmp_path / "empty").mkdir()
    said = "trainer.lr=interval(0.01,0.1): interval() is sampled by an optimising sweeper"
    for args in (
        interval,
        [*interval, *cd, "hydra/sweeper=basic"],
        [*interval, *cd, "hydra/sweeper=mine", "hydra/sweeper=basic"],
    ):
        _refused_before_hydra(["resnet-lab"], args, said, tmp_path / "empty", monkeypatch, capsys)


def test_every_spelling_of_config_dir_is_followed(tmp_path: Path) -> None:
    """argparse takes -cd=DIR, -cdDIR and prefixes of --config-dir: each must find the user's
    rows (a spelling not followed refused a valid row as missing)."""
    from resnet_lab.command_line import check_command_line

    mine = tmp_path / "my_conf"
    (mine / "experiment" / "mine").mkdir(parents=True)
    (mine / "experiment" / "mine" / "scaled.yaml").write_text("# @package _global_\n")
    for flags in (["-cd", str(mine)], [f"-cd={mine}"], [f"-cd{mine}"], ["--config-d", str(mine)]):
        for args in (["+experiment=mine/scaled"], ["-m", "+experiment/mine=glob(sc*)"]):
            check_command_line([*flags, *args], "resnet-lab", outputs_into_the_run=True)


def test_a_config_dir_that_is_no_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra's "Additional config directory ... not found" and its HYDRA_FULL_ERROR hint, exit 1;
    resnet-lab-report and make's CONFIG_DIR already said it in one line."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "a_file").write_text("")
    for folder, what in (("missing", "does not exist"), ("a_file", "is a file")):
        _refused_before_hydra(
            ["resnet-lab", "resnet-lab-lesion"],
            ["--config-dir", str(tmp_path / folder), "seed=1"],
            f"--config-dir {tmp_path / folder} {what}: give the folder of your own configs",
            tmp_path / "empty",
            monkeypatch,
            capsys,
        )
    # given twice, the last is the one Hydra reads (argparse's way)
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    check_command_line(["-cd", str(missing), "-cd", str(empty), "seed=1"], "resnet-lab", True)
    with pytest.raises(SystemExit):
        check_command_line(["-cd", str(empty), "-cd", str(missing), "seed=1"], "resnet-lab", True)
    assert f"--config-dir {missing} does not exist" in capsys.readouterr().err


def test_a_config_dir_file_the_lab_hides_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra reads the lab's config before one of the same name in --config-dir: the user's
    edited row ran as the lab's, silently."""
    mine = tmp_path / "my_conf"
    (mine / "experiment" / "table1").mkdir(parents=True)
    (mine / "experiment" / "table1" / "original.yaml").write_text("# @package _global_\n")
    (tmp_path / "empty").mkdir()
    hidden = (
        f"{mine}/experiment/table1/original.yaml has the name of the lab's config "
        "experiment/table1/original.yaml, which Hydra reads instead"
    )
    for args in (["-cd", str(mine), "+experiment=table1/original"], ["-m", "-cd", str(mine)]):
        _refused_before_hydra(
            ["resnet-lab", "resnet-lab-lesion"],
            args,
            hidden,
            tmp_path / "empty",
            monkeypatch,
            capsys,
        )


def test_a_file_given_as_the_lesion_output_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """resnet-lab-lesion got Hydra's FileExistsError trace; a run's checkpoint there is most
    likely the checkpoint= the user meant (its output folder is not the run's)."""
    from resnet_lab.lesion_cli import command

    checkpoint = tmp_path / "run" / "ckpt" / "step_0000010.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"")
    args = ["resnet-lab-lesion", f"checkpoint={tmp_path}", f"hydra.run.dir={checkpoint}"]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as stopped:
        command()
    assert stopped.value.code == 2
    assert (
        f"hydra.run.dir={checkpoint} is a file, not a folder (a checkpoint to read? give it as "
        f"checkpoint={checkpoint})" in capsys.readouterr().err
    )


@pytest.fixture
def lab(in_process: InProcess) -> Lab:
    """``resnet-lab ARGS`` run in this process (conftest's in_process)."""
    return functools.partial(in_process, "resnet-lab")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_between_a_sweeps_runs_says_how_to_go_on(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    own_signal_handlers: None,
    signum: int,
) -> None:
    """A run turns its own Ctrl-C into a checkpoint and a message; one that lands while Hydra
    sets up the next job (or skips completed ones) gave a 50-line KeyboardInterrupt trace, and a
    SIGTERM there killed the process without a word."""
    from resnet_lab import cli

    monkeypatch.delenv("RESNET_LAB_CONTINUE", raising=False)
    monkeypatch.setattr(cli, "main", lambda: os.kill(os.getpid(), signum))
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "-m", "seed=0,1", "data=synthetic"])
    with pytest.raises(SystemExit) as stopped:
        cli.command()
    assert stopped.value.code == 128 + signum
    assert capsys.readouterr().err == (  # resume=true alone would start a new dated sweep
        "resnet-lab: interrupted between runs, nothing lost: continue with the same command "
        "plus resume=true and its hydra.sweep.dir\n"
    )
    monkeypatch.setenv("RESNET_LAB_CONTINUE", "run make reproduce-table again")  # as make does
    with pytest.raises(SystemExit):
        cli.command()
    assert "nothing lost: run make reproduce-table again\n" in capsys.readouterr().err
    # a single run stopped before it began: there is nothing to resume (resume=true without
    # hydra.run.dir is refused besides)
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "seed=0"])
    with pytest.raises(SystemExit):
        cli.command()
    assert capsys.readouterr().err == (
        "resnet-lab: interrupted before the run began: run the command again\n"
    )


def test_a_signal_after_the_run_ended_says_so_and_exits_0(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    own_signal_handlers: None,
    tmp_path: Path,
) -> None:
    """A SIGTERM just after a run completed (its last log line, Hydra's teardown) said the run
    had not begun, and exit 143 told a job script that a finished run had failed."""
    from resnet_lab import cli, train

    monkeypatch.setattr(train, "train", lambda cfg, run_dir: {"status": "completed"})
    hydra_main = cli.main

    def run_then_signal() -> None:
        hydra_main()  # the run trained to its end and recorded it
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cli, "main", run_then_signal)
    run_dir = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic", f"hydra.run.dir={run_dir}"])
    with pytest.raises(SystemExit) as stopped:
        cli.command()
    assert stopped.value.code == 0
    assert capsys.readouterr().err == (
        f"resnet-lab: interrupted by SIGTERM after the run ended; its results are in {run_dir}\n"
    )


def test_a_signal_after_a_sweeps_job_ended_is_between_its_runs(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    own_signal_handlers: None,
    tmp_path: Path,
) -> None:
    """A sweep whose first job ended is not over: exit 0 "after the run ended" would tell a job
    script that the sweep had finished."""
    from resnet_lab import cli, train

    hydra_main = cli.main

    def main_then_signal() -> None:
        hydra_main()
        os.kill(os.getpid(), signal.SIGTERM)

    def a_job_ended_then_signal() -> None:
        cli._ended.append(tmp_path / "0")
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(cli, "main", a_job_ended_then_signal)
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "-m", "seed=0,1", "data=synthetic"])
    with pytest.raises(SystemExit) as stopped:
        cli.command()
    assert stopped.value.code == 128 + signal.SIGTERM
    assert "interrupted between runs, nothing lost" in capsys.readouterr().err
    # once Hydra has started a job, the hint names the sweep's folder (by default a dated one
    # the user had to find in the log), pasteable
    monkeypatch.delenv("RESNET_LAB_CONTINUE", raising=False)
    monkeypatch.setattr(train, "train", lambda cfg, run_dir: {"status": "completed"})
    monkeypatch.setattr(cli, "main", main_then_signal)
    sweep_dir = tmp_path / "my sweep"
    monkeypatch.setattr(
        sys,
        "argv",
        ["resnet-lab", "-m", "seed=0,1", "data=synthetic", f"hydra.sweep.dir={sweep_dir}"],
    )
    with pytest.raises(SystemExit) as stopped:
        cli.command()
    assert stopped.value.code == 128 + signal.SIGTERM
    assert capsys.readouterr().err.endswith(
        "interrupted between runs, nothing lost: continue with the same command plus "
        f'resume=true "hydra.sweep.dir={sweep_dir}"\n'
    )


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_job_slurm_requeued_into_a_folder_without_a_run_starts_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A requeued job continues its run (resume=true); with no run there it starts one, told
    neither that its run continues nor refused as a resume without its folder."""
    from resnet_lab import cli, train
    from resnet_lab.run_folder import REQUEUED_ENV

    trained: list[Path] = []
    done = {"status": "completed"}
    monkeypatch.setattr(train, "train", lambda cfg, run_dir: trained.append(run_dir) or done)
    monkeypatch.setenv(REQUEUED_ENV, "1")
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic"])  # a dated folder
    cli.command()
    assert len(trained) == 1 and "resume=true" not in capsys.readouterr().err
    run_dir = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic", f"hydra.run.dir={run_dir}"])
    cli.command()
    log = (run_dir / "resnet-lab.log").read_text()
    assert len(trained) == 2 and "Slurm requeued" not in log and "holds no run" not in log


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_new_sweep_launched_resumable_and_a_cifar_data_root_are_not_warned_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resume=true on a sweep's first launch (docs: it makes the sweep resumable): no job is
    told its folder "holds no run (a mistyped hydra.run.dir?)"; data.root's "not used" is for
    synthetic data alone."""
    from resnet_lab import cli, train

    trained: list[Path] = []
    done = {"status": "completed"}
    monkeypatch.setattr(train, "train", lambda cfg, run_dir: trained.append(run_dir) or done)
    monkeypatch.setattr(train, "spread_over_gpus", lambda cfg, job: None)
    sweep = tmp_path / "sweep"
    argv = ["resnet-lab", "-m", "data=synthetic", "resume=true", "seed=0,1"]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.sweep.dir={sweep}"])
    cli.command()
    logs = [p.read_text() for p in sweep.rglob("*.log")]
    assert len(trained) == len(logs) == 2 and not [x for x in logs if "holds no run" in x]
    run_dir = tmp_path / "run"
    argv = ["resnet-lab", "data=cifar10", f"data.root={tmp_path}", f"hydra.run.dir={run_dir}"]
    monkeypatch.setattr(sys, "argv", argv)
    cli.command()
    assert "data.root is not used" not in (run_dir / "resnet-lab.log").read_text()


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_run_stopped_by_a_problem_is_an_error_and_keeps_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full disk stops a run as a signal does, but it is an error to say as one; before any
    checkpoint there is nothing to continue, but the folder keeps the log that says what
    stopped it (a signal there leaves none: the user's own stop)."""
    from resnet_lab import cli, train
    from resnet_lab.errors import RunStopped

    def stops(cfg: object, run_dir: Path) -> dict:
        if run_dir.name == "run":
            (run_dir / "ckpt").mkdir()  # it saved a checkpoint: a run to continue
        raise RunStopped("the disk is full")

    monkeypatch.setattr(train, "train", stops)
    monkeypatch.setenv("RESNET_LAB_OUTPUTS", str(tmp_path / "outputs"))
    monkeypatch.chdir(tmp_path)
    for folder, said in [  # a named folder; a dated one, which a refusal would not leave
        ([f"hydra.run.dir={tmp_path / 'run'}"], "plus resume=true hydra.run.dir="),
        ([], "; run the command again\n"),
    ]:
        monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic", *folder])
        with pytest.raises(SystemExit) as ended:
            cli.command()
        err = capsys.readouterr().err
        assert err.startswith("resnet-lab: error: the disk is full; ") and said in err, err
        assert ended.value.code == 1
    assert (tmp_path / "run" / "resnet-lab.log").is_file()
    assert len(list((tmp_path / "outputs").rglob("resnet-lab.log"))) == 1


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_refused_sweep_job_is_said_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra prints a failed job's error: the job says it in its log only."""
    from resnet_lab import cli, train

    monkeypatch.setattr(train, "train", lambda cfg, run_dir: {"status": "completed"})
    sweep = tmp_path / "sweep"
    (sweep / "0").mkdir(parents=True)
    (sweep / "0" / "lesion.json").write_text("{}")
    argv = ["resnet-lab", "-m", "seed=0,1", "data=synthetic", f"hydra.sweep.dir={sweep}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit):
        cli.command()
    assert capsys.readouterr().err.count("holds a lesion study (lesion.json)") == 1


def test_the_values_reordered_hint_compares_only_keys_both_configs_hold(tmp_path: Path) -> None:
    """A job's folder from an older lab lacks a newer key: still the folder pointed at."""
    from resnet_lab.cli import _trained_as

    for job, seed in (("0", 0), ("1", 1)):
        (tmp_path / job).mkdir()
        (tmp_path / job / "config.yaml").write_text(f"seed: {seed}\ntrainer:\n  lr: 0.1\n")
    wanted = {"seed": 1, "trainer.nesterov": False}
    assert _trained_as(wanted, tmp_path / "0") == tmp_path / "1"


def test_a_sweeps_job_stopped_before_it_saved_anything_says_continue_the_sweep(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    own_signal_handlers: None,
) -> None:
    """A job stopped while its data loaded has no run in its folder, but the sweep's other jobs
    may: "run the command again" trained a default-named sweep's finished jobs again in a new
    folder, and was refused in a named one."""
    from resnet_lab import cli, train
    from resnet_lab.errors import RunInterrupted

    def stopped(*args: object) -> None:
        raise RunInterrupted(signal.SIGINT, "before training started, nothing to save")

    monkeypatch.setattr(train, "train", stopped)
    sweep_dir = tmp_path / "sweep"
    argv = ["resnet-lab", "-m", "seed=0,1", "data=synthetic", f"hydra.sweep.dir={sweep_dir}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as ended:
        cli.command()
    assert ended.value.code == 130
    told = capsys.readouterr()
    assert (
        "nothing to save); continue with the same command plus resume=true "
        f"hydra.sweep.dir={sweep_dir}" in told.out + told.err
    )
    assert "run the command again" not in told.out + told.err


def test_a_sweep_job_whose_folder_holds_a_lesion_study_is_refused_and_the_others_run(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    own_signal_handlers: None,
) -> None:
    """A sweep job's folder is known once Hydra made it (the checks before Hydra see no one
    folder): the job checks it itself, or it trained into a study's folder."""
    from resnet_lab import cli, train

    trained: list[Path] = []
    monkeypatch.setattr(
        train, "train", lambda cfg, run_dir: trained.append(run_dir) or {"status": "completed"}
    )
    sweep_dir = tmp_path / "sweep"
    (sweep_dir / "0").mkdir(parents=True)
    (sweep_dir / "0" / "lesion.json").write_text("{}")
    argv = ["resnet-lab", "-m", "seed=0,1", "data=synthetic", f"hydra.sweep.dir={sweep_dir}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as ended:
        cli.command()
    assert ended.value.code == 1
    err = capsys.readouterr().err
    assert f"hydra.sweep.dir={sweep_dir / '0'} holds a lesion study (lesion.json)" in err
    assert trained == [sweep_dir / "1"]


def test_each_job_of_a_sweep_is_given_its_share_of_the_gpus(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    own_signal_handlers: None,
) -> None:
    """trainer.device=auto on a machine of several GPUs: job N trains on GPU N mod count (every
    job of a parallel sweep trained on cuda:0)."""
    import torch

    from resnet_lab import cli, train

    devices: list[str] = []
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(
        train,
        "train",
        lambda cfg, run_dir: devices.append(cfg.trainer.device) or {"status": "completed"},
    )
    argv = ["resnet-lab", "-m", "seed=0,1,2", "data=synthetic", f"hydra.sweep.dir={tmp_path}"]
    monkeypatch.setattr(sys, "argv", argv)
    cli.command()
    assert devices == ["cuda:0", "cuda:1", "cuda:0"]


def test_a_diverged_run_ends_with_its_line_not_a_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_signal_handlers: None
) -> None:
    """A diverged run (Table 1's "fail" rows) has no final error: its last line says n/a
    (formatting None as a number gave Hydra's trace and exit 1 for a run recorded as it ends)."""
    from resnet_lab import cli, train

    result = {"status": "diverged", "eval_split": "test", "final_test_error": None}
    monkeypatch.setattr(train, "train", lambda cfg, run_dir: dict(result))
    run_dir = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic", f"hydra.run.dir={run_dir}"])
    cli.command()
    log_text = (run_dir / "resnet-lab.log").read_text()
    assert f"diverged: test error n/a, results in {run_dir}" in log_text


def test_resuming_a_run_where_it_is_warns_of_no_mistyped_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_signal_handlers: None
) -> None:
    """resume=true with the run's own folder is the documented way on: not "holds no run (a
    mistyped hydra.run.dir?)", which a folder without a run is told."""
    from resnet_lab import cli, train

    monkeypatch.setattr(train, "train", lambda cfg, run_dir: {"status": "completed"})
    run_dir = tmp_path / "run"
    argv = ["resnet-lab", "data=synthetic", "resume=true", f"hydra.run.dir={run_dir}"]
    monkeypatch.setattr(sys, "argv", argv)
    cli.command()  # no run there yet: said
    assert "holds no run" in (run_dir / "resnet-lab.log").read_text()
    (run_dir / "resnet-lab.log").unlink()
    (run_dir / "ckpt").mkdir()  # the run's checkpoints: a run to continue
    cli.command()
    assert "holds no run" not in (run_dir / "resnet-lab.log").read_text()


def test_every_console_script_names_a_function() -> None:
    """pyproject's entry points: a wrong name fails only once the package is installed."""
    import importlib

    text = (REPO / "pyproject.toml").read_text()
    section = text.split("[project.scripts]\n", 1)[1].split("\n\n", 1)[0]
    lines = section.replace(" ", "").replace('"', "").splitlines()
    scripts = dict(line.split("=") for line in lines)
    assert set(scripts) >= {"resnet-lab", "resnet-lab-lesion", "resnet-lab-eval"}
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target
    from resnet_lab.console import TOOLS  # the functions the console scripts start

    assert set(TOOLS) == set(scripts)
    for target in TOOLS.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


@pytest.mark.usefixtures("own_signal_handlers")
def test_each_console_script_starts_its_own_tool(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """resnet-lab-eval must not start the gates tool, nor the report the lesion study: each
    script's function starts the command of its name, and that command's own help is shown."""
    from resnet_lab import console

    functions = [console.resnet_lab, console.report, console.gates, console.evaluate]
    started: list[str] = []
    with monkeypatch.context() as patched:
        patched.setattr(console, "_start", started.append)
        for function in [*functions, console.lesion]:
            function()
    assert started == list(console.TOOLS)
    for function, prog in zip(functions[1:], started[1:4], strict=True):
        monkeypatch.setattr(sys, "argv", [prog, "--help"])
        with pytest.raises(SystemExit) as done:
            function()
        shown = capsys.readouterr().out
        assert done.value.code == 0 and shown.startswith(f"usage: {prog} [-h] [--version] ")


@pytest.mark.usefixtures("own_signal_handlers")
@pytest.mark.parametrize(
    ("prog", "flag"),
    [
        ("resnet-lab", "--version"),
        ("resnet-lab", "--vers"),  # argparse's abbreviation, as Hydra reads it
        ("resnet-lab-lesion", "--version"),
        ("resnet-lab-lesion", "--vers"),  # a Hydra app too
        ("resnet-lab-report", "--version"),
        ("resnet-lab-eval", "--version"),
    ],
)
def test_version_names_the_lab_and_what_it_runs_on(
    prog: str, flag: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra's --version printed "Hydra 1.3.x", the argparse tools had none: a bug report
    needs the lab's version and torch's. The tool itself is not even imported."""
    import importlib.metadata
    import platform

    from resnet_lab import __version__, console

    monkeypatch.setattr(sys, "argv", [prog, "shortcut=gate", flag])
    monkeypatch.setattr(console.importlib, "import_module", pytest.fail)
    with pytest.raises(SystemExit) as done:
        console._start(prog)
    torch_version = importlib.metadata.version("torch")
    assert done.value.code == 0
    assert capsys.readouterr().out == (
        f"{prog} {__version__} (Python {platform.python_version()}, torch {torch_version}, "
        f"hydra-core {importlib.metadata.version('hydra-core')})\n"
    )


@pytest.mark.parametrize(
    ("prog", "args", "code"),
    [("resnet-lab-report", ["--help"], 0), ("resnet-lab", ["trainer.lr=abc"], 2)],
)
def test_a_stop_signal_during_a_finished_tools_exit_is_no_trace(
    prog: str, args: list[str], code: int, tmp_path: Path
) -> None:
    """A SIGTERM while the exit handlers ran raised KeyboardInterrupt in one of them: Python's
    "Exception ignored" and a trace after the tool's result. Now it ends the process at once,
    as by default, what the tool printed whole."""
    script = (
        "import atexit, os, signal, sys\n"
        "from resnet_lab import console\n"
        "atexit.register(lambda: os.kill(os.getpid(), signal.SIGTERM))\n"
        f"sys.argv = [{prog!r}, *{args!r}]\n"
        f"console._start({prog!r})\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == -signal.SIGTERM, out.stderr
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr
    if code == 0:  # the whole help, to its last option's
        assert out.stdout.startswith("usage: resnet-lab-report")
        assert out.stdout.endswith("before it trains)\n")
    else:
        assert out.stderr == (
            "resnet-lab: error: trainer.lr=abc: Value 'abc' of type 'str' could not be converted "
            "to Float\n"
        )


@pytest.mark.parametrize("prog", ["resnet-lab", "resnet-lab-report"])
def test_a_tool_started_in_a_removed_folder_says_so(tmp_path: Path, prog: str) -> None:
    """torch's import died there with "Intel oneMKL FATAL ERROR: Cannot load libtorch_cpu.so",
    as if the install were broken; Hydra with a trace from os.getcwd, whatever the run's folder."""
    start = f"from resnet_lab import console; console._start({prog!r})"
    script = 'mkdir gone && cd gone && rmdir "$PWD" && exec "$0" -c "$1" profile=smoke'
    out = subprocess.run(
        ["bash", "-c", script, sys.executable, start],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (out.returncode, out.stdout) == (2, "")
    assert out.stderr == f"{prog}: error: the current folder no longer exists: cd to one\n"


def test_a_flags_value_is_no_version_request() -> None:
    """``-cd --version`` names a config folder (refused as missing), it asks for no version."""
    from resnet_lab.console import _asks_for_version

    for prog in ("resnet-lab", "resnet-lab-lesion"):
        assert not _asks_for_version(prog, ["-cd", "--version"])
        assert _asks_for_version(prog, ["-cd", "conf", "--version"])


@pytest.mark.usefixtures("own_signal_handlers")
@pytest.mark.parametrize("status", [0, 2, 130])
def test_a_tools_return_value_is_the_scripts_exit_status(
    status: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """report, gates and eval return 2 for a mistake, 128 + N after a signal: a script or CI job
    must not see success."""
    from types import SimpleNamespace

    from resnet_lab import console

    tool = SimpleNamespace(main=lambda: status)
    monkeypatch.setattr(console.importlib, "import_module", lambda name: tool)
    monkeypatch.setattr(sys, "argv", ["resnet-lab-report"])
    with pytest.raises(SystemExit) as done:
        console.report()
    assert done.value.code == status


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_path_the_system_refuses_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path no check of the tool foresaw, refused by the system (report --config-dir or gates
    --out in another user's folder): a trace that read as a bug. An OSError naming no file is
    no path's refusal: its trace stays."""
    import errno
    from types import SimpleNamespace

    from resnet_lab import console

    folder = tmp_path / "theirs" / "gates"

    def refused(error: OSError) -> None:
        tool = SimpleNamespace(main=lambda: (_ for _ in ()).throw(error))
        monkeypatch.setattr(console.importlib, "import_module", lambda name: tool)
        monkeypatch.setattr(sys, "argv", ["resnet-lab-gates"])
        with pytest.raises(SystemExit) as done:
            console.gates()
        assert done.value.code == 2

    refused(PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder)))
    assert capsys.readouterr().err == (
        f"resnet-lab-gates: error: {folder}: this user may not read or write it, or a folder "
        "above it (permission denied)\n"
    )
    refused(OSError(errno.EROFS, os.strerror(errno.EROFS), str(folder), None, str(tmp_path)))
    assert capsys.readouterr().err == (  # os.replace's error names both
        f"resnet-lab-gates: error: {folder} -> {tmp_path}: the file system refuses it (Read-only "
        "file system)\n"
    )
    refused(FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(folder)))
    assert capsys.readouterr().err == (
        f"resnet-lab-gates: error: {folder}: not there (removed meanwhile?)\n"
    )
    with pytest.raises(OSError, match="no file"):
        refused(OSError(errno.EIO, "no file"))


def test_a_second_ctrl_c_stops_an_import_that_hangs() -> None:
    """The first signal is held until torch is imported; a second one stops at once. Signals
    sent while the process waits for the CPU arrive as one: Ctrl-C is pressed until it stops."""
    script = (
        "import sys, time; sys.argv = ['resnet-lab']; from resnet_lab import console; "
        "console.importlib.import_module = "
        "lambda name: (print('importing', flush=True), time.sleep(60)); console.resnet_lab()"
    )
    hung = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert hung.stdout is not None and hung.stdout.readline() == "importing\n"  # held now
        for _ in range(50):
            hung.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                hung.wait(timeout=0.2)
            if hung.returncode is not None:
                break
        _, err = hung.communicate(timeout=30)
    finally:
        hung.kill()  # no sleeper left behind when it fails
    assert hung.returncode == 130
    assert err == "resnet-lab: interrupted while starting: nothing was done\n"


@pytest.mark.usefixtures("own_signal_handlers")
def test_a_ctrl_c_while_a_tool_starts_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C in a command's first second or two (importing torch) gave a KeyboardInterrupt
    trace from inside torch, or an abort (raised in torch's C++), or was swallowed and the run
    went on; the package itself imports no torch, so the scripts hold the signal until the
    import ends. SIGTERM there ended the process without a word."""
    import types

    from resnet_lab import console

    def signalled(signum: int) -> Callable[[str], types.SimpleNamespace]:
        def import_module(name: str) -> types.SimpleNamespace:
            os.kill(os.getpid(), signum)  # handled before the import ends, or never
            return types.SimpleNamespace(command=pytest.fail, main=pytest.fail)

        return import_module

    tools = (console.resnet_lab, console.report, console.gates, console.evaluate, console.lesion)
    for signum in (signal.SIGINT, signal.SIGTERM):
        monkeypatch.setattr(console.importlib, "import_module", signalled(signum))
        for tool in tools:
            with pytest.raises(SystemExit) as stopped:
                tool()
            assert stopped.value.code == 128 + signum
    told = capsys.readouterr().err.splitlines()
    assert told[0] == "resnet-lab: interrupted while starting: nothing was done"
    assert "Any" not in dir(__import__("resnet_lab")) and "build_model" in dir(
        __import__("resnet_lab")
    )
    assert len(told) == 10 and all(
        line.endswith("while starting: nothing was done") for line in told
    )

    # imported, but stopped in its own checks, before it takes the signals: one line too, for
    # SIGTERM as well (it ended the process without a word)
    for signum in (signal.SIGINT, signal.SIGTERM):
        tool = types.SimpleNamespace(main=lambda signum=signum: os.kill(os.getpid(), signum))
        monkeypatch.setattr(console.importlib, "import_module", lambda name, tool=tool: tool)
        with pytest.raises(SystemExit) as stopped:
            console.report()
        assert stopped.value.code == 128 + signum
        assert capsys.readouterr().err == "resnet-lab-report: interrupted\n"
    # the window a Ctrl-C is not caught in stays short: neither torch nor Hydra (a 0.2 s
    # import, where a review's Ctrl-C gave a KeyboardInterrupt trace) comes before the hold
    ask = (
        "import sys, resnet_lab.console; print([m for m in ('torch', 'hydra') if m in sys.modules])"
    )
    bare = subprocess.run([sys.executable, "-c", ask], capture_output=True, text=True, check=True)
    assert bare.stdout.strip() == "[]"


def test_a_run_stopped_before_it_saved_anything_leaves_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Ctrl-C while the data loaded left outputs/DATE/TIME holding a log, and a hint to
    resume from it; a folder named with hydra.run.dir stays (its log tells the stop), and as it
    holds no run the hint is to run again (resume=true then warned of a mistyped folder)."""
    import signal

    from resnet_lab import cli, train
    from resnet_lab.train import RunInterrupted

    def stopped(*args: object) -> None:
        raise RunInterrupted(signal.SIGINT, "before training started, nothing to save")

    monkeypatch.setattr(train, "train", stopped)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic"])
    with pytest.raises(SystemExit) as ended:
        cli.command()
    assert ended.value.code == 130
    assert not (tmp_path / "outputs").exists()  # nor outputs/, which the launch made
    told = capsys.readouterr()
    assert "nothing to save); run the command again" in told.out + told.err
    named = tmp_path / "named"
    monkeypatch.setattr(sys, "argv", ["resnet-lab", "data=synthetic", f"hydra.run.dir={named}"])
    with pytest.raises(SystemExit):
        cli.command()
    assert named.is_dir()
    told = capsys.readouterr()
    assert "nothing to save); run the command again" in told.out + told.err
    assert "nothing to save); run the command again" in (named / "resnet-lab.log").read_text()
    assert "resume=true" not in told.out + told.err


@pytest.mark.slow
def test_a_refusal_imports_no_torch_and_a_signal_while_torch_imports_is_held(
    tmp_path: Path,
) -> None:
    """resnet-lab imports torch (1-2 s) only once its checks pass: the command line's refusals
    and the run folder's answer at once. A Ctrl-C while torch then imports is held until it
    ends (raised inside torch's C++ it aborted the process), then told in one line, and the
    launch leaves no folder."""
    start = "import sys; from resnet_lab.console import resnet_lab; sys.argv[0] = 'resnet-lab'; "
    ask = "import atexit; atexit.register(lambda: print('torch' in sys.modules)); "
    for refused in (["model.dept=20"], ["profile=smoke", "resume=true"]):
        out = subprocess.run(
            [sys.executable, "-c", start + ask + "resnet_lab()", *refused],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert out.returncode == 2 and out.stdout.splitlines()[-1] == "False", out.stderr
    lesion = start.replace("resnet_lab;", "lesion;") + ask + "lesion()"  # resnet-lab-lesion too
    for refused in (["lesion.samplez=3"], ["run/ckpt/step_1.pt"]):
        out = subprocess.run(
            [sys.executable, "-c", lesion, *refused], capture_output=True, text=True, cwd=tmp_path
        )
        assert out.returncode == 2 and out.stdout.splitlines()[-1] == "False", out.stderr
    # a finder that signals the process when the trainer's module is looked for, and lets it be
    signal_then_import = (
        "import os, signal, importlib.abc\n"
        "class Kill(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'resnet_lab.train':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "sys.meta_path.insert(0, Kill())\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", start + "\n" + signal_then_import + "resnet_lab()", *TINY_RUN],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 130, out.stderr
    assert out.stderr == (  # as the other tools tell a signal: no "error:"
        "resnet-lab: interrupted by SIGINT (while starting, nothing was done); run the command "
        "again\n"
    )
    assert "Traceback" not in out.stdout + out.stderr and list(tmp_path.iterdir()) == []
    # a folder named with hydra.run.dir stays (its log tells the stop); it holds no run: run
    # again, not "resume=true", which then warned of a mistyped folder. A SIGTERM (a job
    # scheduler's) is told as one, with its exit code
    named = [*TINY_RUN, f"hydra.run.dir={tmp_path / 'named'}"]
    sigterm = signal_then_import.replace("SIGINT", "SIGTERM")
    out = subprocess.run(
        [sys.executable, "-c", start + "\n" + sigterm + "resnet_lab()", *named],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 143 and out.stderr.endswith(
        "interrupted by SIGTERM (while starting, nothing was done); run the command again\n"
    ), out.stderr
    shutil.rmtree(tmp_path / "named")
    # a second signal ends the import at once, and the folder Hydra made goes with it
    kill = "os.kill(os.getpid(), signal.SIGINT)"
    twice = signal_then_import.replace(kill, f"{kill}; {kill}")
    out = subprocess.run(
        [sys.executable, "-c", start + "\n" + twice + "resnet_lab()", *TINY_RUN],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 130, out.stdout + out.stderr
    assert out.stderr == "resnet-lab: interrupted while starting: nothing was done\n"
    assert [p for p in tmp_path.rglob("*") if p.name != "outputs"] == []
    # a new sweep's checks import torch too (resnet_lab.preflight): held, then one line
    ask = "import atexit; atexit.register(lambda: print('resnet_lab.train' in sys.modules)); "
    sweep = ["-m", *TINY_RUN, "seed=0,1"]
    out = subprocess.run(
        [sys.executable, "-c", start + ask + "\n" + sigterm + "resnet_lab()", *sweep],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 143 and out.stderr == "resnet-lab: interrupted\n", out.stderr
    assert out.stdout.splitlines() == ["True"]  # the import ran to its end first


def test_signals_are_held_in_the_main_thread_only() -> None:
    """A threading launcher runs jobs outside the main thread, where no handler can be set
    (signal.signal raised ValueError): the import runs there unguarded, as the run does."""
    from resnet_lab.stopping import signals_held

    seen: list[object] = []

    def job() -> None:
        try:
            with signals_held("resnet-lab") as received:
                seen.append(received)
        except ValueError as e:
            seen.append(e)

    thread = threading.Thread(target=job)
    thread.start()
    thread.join()
    assert seen == [[]]
    before = signal.getsignal(signal.SIGINT)
    with signals_held("resnet-lab") as received:
        os.kill(os.getpid(), signal.SIGINT)
        assert received == [signal.SIGINT]
    assert signal.getsignal(signal.SIGINT) is before


def test_a_second_signal_while_held_removes_what_the_launch_made_and_ends_at_once(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An import that hangs still stops: the second signal runs on_second, then ends the
    process (os._exit, 128 + N) without waiting for the block's end."""
    from resnet_lab.stopping import signals_held

    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    removed: list[bool] = []
    with pytest.raises(SystemExit) as ended:
        with signals_held("resnet-lab", on_second=lambda: removed.append(True)) as received:
            signal.raise_signal(signal.SIGINT)
            assert received == [signal.SIGINT] and not removed  # the first one waits
            signal.raise_signal(signal.SIGTERM)
        raise AssertionError("the second signal waited for the block's end")
    assert ended.value.code == 128 + signal.SIGTERM and removed == [True]
    assert capsys.readouterr().err == "resnet-lab: interrupted while starting: nothing was done\n"


@pytest.mark.parametrize("tool", ["resnet_lab", "lesion"])
@pytest.mark.parametrize("flags", [["--help"], ["--cfg", "job"], ["--info"], ["--cf", "job"]])
def test_help_piped_into_a_reader_that_stops_is_no_trace(tool: str, flags: list[str]) -> None:
    """`resnet-lab --help | head -1` ended in a BrokenPipeError trace, and so did --cfg and
    --info, which Hydra prints inside its own error report. They end on SIGPIPE, as `cat` does."""
    start = f"import sys; from resnet_lab.console import {tool}; sys.argv[0] = '{tool}'; "
    proc = subprocess.Popen(
        [sys.executable, "-c", start + f"{tool}()", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the help is printed
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGPIPE and "Traceback" not in err, err


def test_the_report_piped_into_a_reader_that_stops_is_no_trace(tmp_path: Path) -> None:
    """`resnet-lab-report ... | head`: the table goes to stdout; a reader gone is not our error."""
    start = "import sys; from resnet_lab.console import report; sys.argv[0] = 'resnet-lab-report'; "
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            start + "report()",
            "--results",
            str(tmp_path),
            "--tables",
            "table1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert (tmp_path / "report.md").exists()  # the files are written all the same


def test_a_folder_above_runs_is_not_taken_for_a_run(tmp_path: Path, lab: Lab) -> None:
    """`resume=true hydra.run.dir=outputs/DATE` (the date folder, not the run's) trained a new
    run there, among the day's runs, with an info line; a new run into it did the same."""
    first = lab(["profile=smoke", f"hydra.run.dir={tmp_path / 'day' / '12-00-00'}"])
    assert first.returncode == 0, first.stdout + first.stderr
    for extra in (["resume=true"], []):
        out = lab(["profile=smoke", *extra, f"hydra.run.dir={tmp_path / 'day'}"])
        assert out.returncode == 2, out.stdout + out.stderr
        assert (
            f"hydra.run.dir={tmp_path / 'day'} holds other runs (e.g. {tmp_path / 'day'}/12-00-00)"
            in out.stdout + out.stderr  # the log line
        )
        assert not (tmp_path / "day" / "result.json").exists()
        assert not (tmp_path / "day" / "ckpt").exists()
        assert [p.name for p in (tmp_path / "day").iterdir()] == ["12-00-00"]  # nothing else


def test_a_refusal_is_said_with_hydras_job_logging_turned_off(tmp_path: Path) -> None:
    """hydra/job_logging=disabled disables the lab's logger: the refusal went nowhere, exit 2."""
    done = run_cli(["hydra/job_logging=disabled", "model.depth=7"], cwd=tmp_path)
    assert done.returncode == 2
    assert "resnet-lab: error: model.depth=7 does not fit basic units" in done.stderr


@pytest.mark.parametrize(
    "value",
    [
        *("/r/run1", "/r/sp ace", "/r/a,b", "/r/it's", "/r/x=$HOME", "/r/a:b", " /r/lead"),
        *("/r/a\\b", "/r/end\\", "/r/a,b\\", "/r/x'y\\'z", "/home/josé/run", "/r/a~b"),
        "/r/a;b#c&d!e`f",
        "/r/a b!x",  # in double quotes, an interactive shell expands '!x' (history)
        *("/r/new\nline", '/r/q"uote', "true", "12", "", "/r/${x}", "/r/\\${x}"),
        # a refused resume's other values: lists (a glob), dicts, numbers, null
        *([32000, 48000], ["x,y", "é"], {"a": "x y", "b": None}, 1e-05, float("inf"), True),
        *(["", "a\\", "true"], {"a": "", "b": "c\\"}, [[1, "a,b"], {"k": [None]}], 2, 0.5),
        *(float("-inf"), float("nan")),
    ],
)
def test_the_resume_hint_pastes_back_to_the_same_folder(value: object) -> None:
    """The hint said hydra.run.dir=/r/sp ace: the shell split it, and a comma made a sweep; an
    accent or '~' was no bare value for Hydra, an inner backslash came back doubled, '${'
    was resolved, and a list went to the shell's glob unquoted. Pasted into a real shell (that
    fails an unmatched glob), each hint now gives the value back as the run's config holds it
    (the hint of a resume with a different config writes the run's values the same way)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from resnet_lab.pasteable import pasteable_override

    hint = pasteable_override("hydra.run.dir", value)
    pasted = subprocess.run(
        ["bash", "-O", "failglob", "-c", f"printf '%s\\0' {hint}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (arg,) = pasted.split("\0")[:-1]  # one word for the shell
    assert "!" not in hint or not hint.startswith('"')  # bash -c expands no history
    (override,) = OverridesParser.create().parse_overrides([arg])
    assert override.key_or_group == "hydra.run.dir"
    config = OmegaConf.create({"value": override.value()})  # as composed: interpolations resolved
    back = OmegaConf.to_container(config, resolve=True)["value"]
    assert json.dumps(back) == json.dumps(value)  # of the same types too: 1 is no true, 2 no 2.0


def test_every_shipped_row_and_option_passes_the_checks() -> None:
    """The pre-Hydra checks refuse no config the lab ships, nor any setting of the schema."""
    from omegaconf import OmegaConf

    from resnet_lab.command_line import check_command_line
    from resnet_lab.config import CONF_DIR, Config, flatten_keys

    rows = sorted(CONF_DIR.glob("experiment/*/*.yaml"))
    assert len(rows) > 30
    args = [
        f"+experiment={row.relative_to(CONF_DIR / 'experiment').with_suffix('')}" for row in rows
    ]
    for group in ("model", "shortcut", "after_add", "data", "recipe", "profile"):
        args += [f"{group}={option.stem}" for option in sorted((CONF_DIR / group).glob("*.yaml"))]
    settings = flatten_keys(OmegaConf.to_container(OmegaConf.structured(Config)))

    def typed(value: object) -> str:  # the default, as Hydra's grammar writes it
        if isinstance(value, list):
            return f"[{','.join(typed(item) for item in value)}]"
        if isinstance(value, str):
            return f"'{value}'"
        return "null" if value is None else str(value).lower()

    args += [f"{key}={typed(value)}" for key, value in settings.items()]
    assert "data.limit=null" in args and "trainer.milestones=[32000,48000]" in args
    for arg in args:
        check_command_line([arg], "resnet-lab", outputs_into_the_run=True)


def test_every_single_run_command_of_the_readme_is_accepted() -> None:
    """Each `resnet-lab key=value ...` the README shows passes the checks before Hydra and
    composes to known settings (a renamed key or row would leave the README wrong)."""
    import re
    import shlex

    from resnet_lab.api import compose_config
    from resnet_lab.command_line import check_command_line
    from resnet_lab.config import check_known_keys

    text = (REPO / "README.md").read_text()
    commands = re.findall(r"^(resnet-lab [^#\n]*)", text, flags=re.M)
    commands += re.findall(r"`(resnet-lab [^`]*)`", text.replace("\n", " "))
    runs = [shlex.split(command)[1:] for command in commands]
    runs = [args for args in runs if args and not any(a.startswith("-") for a in args)]
    assert len(runs) >= 10
    for args in runs:
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)
        check_known_keys(compose_config(args))


def test_the_readme_layout_names_every_module_of_the_package() -> None:
    """A reader finds each module's part in the README's layout (two were left out)."""
    layout = (REPO / "README.md").read_text().split("## Project layout", 1)[1].split("```")[1]
    package = REPO / "resnet_lab"
    names = {p.name for p in [*package.glob("*.py"), *package.glob("models/*.py")]}
    assert len(names) > 25
    missing = sorted(n for n in names - {"__init__.py", "__main__.py"} if n not in layout)
    assert missing == []


def _refusal(
    check: Callable[[Any, Any], None], config_dir: Path, fine: list[list[str]], wrong: list[str]
) -> str:
    """``check`` (of resnet-lab's composed config and Hydra's) passes the configs composed with
    each of ``fine`` beside ``config_dir``'s files, and refuses ``wrong``'s: its message."""
    from hydra import compose, initialize_config_dir

    from resnet_lab.config import CONF_DIR

    search = f"hydra.searchpath=[file://{config_dir}]"
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        for overrides in fine:
            cfg = compose("config", [search, *overrides], return_hydra_config=True)
            check(cfg, cfg.hydra)
        cfg = compose("config", [search, *wrong], return_hydra_config=True)
        with pytest.raises(UserError) as refused:
            check(cfg, cfg.hydra)
    return str(refused.value)


def test_a_row_whose_name_is_not_its_path_is_refused(tmp_path: Path) -> None:
    """The report finds a row's runs by experiment.name: a row of one's own named otherwise
    trained, and was reported as another row, or none."""
    from resnet_lab.cli import _check_row_name

    rows = tmp_path / "experiment" / "ours"
    rows.mkdir(parents=True)
    for name, says in [("good", "ours/good"), ("bad", "ours/other")]:
        (rows / f"{name}.yaml").write_text(
            f"# @package _global_\nexperiment:\n  name: {says}\n  table: Mine\n"
        )
    (rows / "on_gate.yaml").write_text(  # a row built on one of the lab's, renamed
        "# @package _global_\ndefaults:\n  - /experiment/table1: gate_b6\nexperiment:\n"
        "  name: ours/on_gate\nshortcut:\n  gate_bias: -3\n"
    )
    fine = [
        ["+experiment=ours/good"],
        ["+experiment/ours=good"],
        ["+experiment=table1/dropout"],
        ["+experiment=ours/on_gate"],
        ["+experiment=table1/dropout", "experiment.name=mine"],  # the user's to give
    ]
    assert _refusal(_check_row_name, tmp_path, fine, ["+experiment=ours/bad"]) == (
        "the row experiment/ours/bad.yaml names itself experiment.name=ours/other: a row's name "
        "is its path, ours/bad; correct the file"
    )


def test_a_profile_that_does_not_name_itself_is_refused(tmp_path: Path) -> None:
    """The report keeps runs of one profile apart by the name a run records: a profile of one's
    own that said ``profile: paper`` had its runs reported as the papers' recipe."""
    from resnet_lab.cli import _check_profile_name

    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "quick.yaml").write_text("# @package _global_\nprofile: quick\n")
    (tmp_path / "profile" / "copied.yaml").write_text("# @package _global_\nprofile: paper\n")
    fine = [[], ["profile=smoke"], ["profile=quick"]]
    assert _refusal(_check_profile_name, tmp_path, fine, ["profile=copied"]) == (
        "profile=copied makes the run's profile paper: a profile file names itself (profile: "
        "copied in profile/copied.yaml); correct the file"
    )


def test_a_profile_of_ones_own_is_checked_as_a_row_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile without ``# @package _global_`` (Hydra: "ValidationError raised while
    composing config", five lines), with a misspelt key, or choosing an option not there."""
    profiles = tmp_path / "mine" / "profile"
    profiles.mkdir(parents=True)
    (profiles / "bare.yaml").write_text("profile: bare\ntrainer:\n  max_steps: 2\n")
    (profiles / "typo.yaml").write_text("# @package _global_\nprofile: typo\ntrainr: {}\n")
    (profiles / "gat.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /shortcut: gat\nprofile: gat\n"
    )
    (tmp_path / "empty").mkdir()
    mine = str(tmp_path / "mine")
    bare = (
        f"profile file {profiles / 'bare.yaml'} does not begin with `# @package _global_`: "
        "without it Hydra reads the profile's keys below profile., not as the run's"
    )
    typo = f"profile file {profiles / 'typo.yaml'}: unknown key(s) trainr (did you mean trainer?)"
    for args, said in (
        (["-cd", mine, "profile=bare"], bare),
        (["-m", "-cd", mine, "profile=smoke,bare"], bare),
        (["-cd", mine, "profile=typo"], typo),
        (
            ["-cd", mine, "profile=gat"],
            f"profile file {profiles / 'gat.yaml'}, defaults: override /shortcut: gat: there is "
            "no shortcut/gat",
        ),
    ):
        _refused_before_hydra(["resnet-lab"], args, said, tmp_path / "empty", monkeypatch, capsys)


def test_a_sweep_set_in_a_profile_of_ones_own_is_one_the_checks_see(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A profile's ``hydra.sweeper.params`` without -m: Hydra ran one job, silently; its
    ``hydra.mode: MULTIRUN``: a sweep folder was refused as one run's."""
    from resnet_lab.command_line import check_command_line, is_sweep

    profiles = tmp_path / "mine" / "profile"
    profiles.mkdir(parents=True)
    params = "hydra:\n  sweeper:\n    params:\n      seed: 0,1\n"
    (profiles / "seeds.yaml").write_text(f"# @package _global_\nprofile: seeds\n{params}")
    (profiles / "multi.yaml").write_text(
        f"# @package _global_\nprofile: multi\n{params}  mode: MULTIRUN\n"
    )
    (tmp_path / "empty").mkdir()
    mine = str(tmp_path / "mine")
    said = f"{profiles / 'seeds.yaml'} sweeps over seed (hydra.sweeper.params), a job each, which"
    _refused_before_hydra(
        ["resnet-lab"],
        ["-cd", mine, "profile=seeds"],
        said,
        tmp_path / "empty",
        monkeypatch,
        capsys,
    )
    sweep_dir = f"hydra.sweep.dir={tmp_path / 'sweep'}"
    for args in (
        ["-m", "-cd", mine, "profile=seeds", sweep_dir],
        ["-cd", mine, "profile=multi", sweep_dir],
        ["-cd", mine, "profile=seeds", "hydra.mode=RUN"],  # one job, as asked
    ):
        check_command_line(args, "resnet-lab", True)  # no exit
    assert is_sweep(["-cd", mine, "profile=multi"])
    assert not is_sweep(["-cd", mine, "profile=multi", "hydra.mode=RUN"])
    assert not is_sweep(["-cd", mine, "profile=seeds"])
    # through a defaults list too, as Hydra merges it: what it includes, then the file's own
    # keys, unless _self_ comes first (a profile on a sweeping one ran its sweep in the
    # default sweep folder, the run folder given ignored)
    for name, defaults, mode, sweeps in [
        ("on_multi", "[multi]", "", True),
        ("on_multi_run", "[multi, _self_]", "RUN", False),
        ("run_on_multi", "[_self_, /profile/multi]", "RUN", True),
        ("on_smoke", "[smoke]", "MULTIRUN", True),  # the lab's, by the group's name
    ]:
        own = f"hydra:\n  mode: {mode}\n" if mode else ""
        text = f"# @package _global_\ndefaults: {defaults}\nprofile: {name}\n{own}"
        (profiles / f"{name}.yaml").write_text(text)
        assert is_sweep(["-cd", mine, f"profile={name}"]) == sweeps, name
    # a defaults list that includes itself (Hydra's to refuse) ends the search, no recursion
    (profiles / "loop.yaml").write_text(
        "# @package _global_\ndefaults: [loop]\nprofile: loop\nhydra:\n  mode: MULTIRUN\n"
    )
    assert is_sweep(["-cd", mine, "profile=loop"])
    # the row's keys come after the profile's, whichever was typed first
    (tmp_path / "mine" / "experiment" / "mine").mkdir(parents=True)
    row = tmp_path / "mine" / "experiment" / "mine" / "one.yaml"
    row.write_text("# @package _global_\nhydra:\n  mode: RUN\n")
    for args in (
        ["profile=multi", "+experiment=mine/one"],
        ["+experiment=mine/one", "profile=multi"],
    ):
        assert not is_sweep(["-cd", mine, *args]), args


@pytest.mark.parametrize(
    ("module", "argv", "message"),
    [
        ("report", ["results"], "resnet-lab-report: error: unrecognized arguments: results"),
        ("evaluate", ["run", "--limit", "0"], "argument --limit: must be a positive integer"),
        (
            "evaluate",
            ["run", "--limit", "a"],
            "argument --limit: must be a positive integer, got a",
        ),
        ("evaluate", [""], "argument checkpoint: is empty: give a path (an unset shell variable?)"),
        ("gates", [], "the following arguments are required: run_dir"),
        ("gates", ["run", "--out", ""], "argument --out: is empty: give a path"),
        ("report", ["--out", " "], "argument --out: is empty: give a path"),
        ("report", ["--results", "runs", ""], "argument --results: is empty: give a path"),
        ("report", ["--config-dir", ""], "argument --config-dir: is empty: give a path"),
        ("bench", ["--models", "1"], "argument --models: must be at least 2"),
    ],
)
def test_the_argparse_tools_tell_a_mistake_in_one_line(
    module: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse printed its usage block before the error: one line, as the Hydra tools."""
    import importlib

    with pytest.raises(SystemExit) as stopped:
        importlib.import_module(f"resnet_lab.{module}").main(argv)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and message in err
    assert err.count("\n") == 1 and err.endswith(" (see --help)\n"), err


def test_what_the_new_checks_must_not_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A review of the day's checks found valid commands refused: folders read as typed ('..'
    from inside a run), a lesion study inside a run's folder, subdirs naming a group's setting,
    a resolver or a typed experiment.name, a config shown."""
    from resnet_lab.command_line import check_command_line

    run = tmp_path / "run"
    (run / "ckpt").mkdir(parents=True)
    (run / "result.json").write_text("{}")
    monkeypatch.chdir(run)
    accepted = [
        ["hydra.run.dir=../other"],
        ["-m", "seed=0,1", "hydra.sweep.dir=../sweep"],
        ["--cfg", "job", "hydra.run.dir=inner"],  # prints only
        [
            "-m",
            "shortcut=gate,identity",
            "hydra.sweep.subdir=${shortcut.name}",
            "hydra.sweep.dir=/x",
        ],
        ["-m", "seed=0,1", "hydra.sweep.subdir=${now:%H-%M-%S-%f}", "hydra.sweep.dir=/x"],
        # Hydra's own names of a job: each job's folder differs
        [
            "-m",
            "seed=0,1",
            "hydra.sweep.subdir=${hydra.job.override_dirname}",
            "hydra.sweep.dir=/x",
        ],
        ["-m", "seed=0,1", "hydra.sweep.subdir=${hydra.job.num}", "hydra.sweep.dir=/x"],
        ["-m", "+experiment/table6=resnet20,resnet32", "hydra.sweep.subdir=${model.depth}"],
        [
            "-m",
            "seed=0,1",
            "experiment.name=mine",
            "hydra.sweep.subdir=${experiment.name}/seed${seed}",
            "hydra.sweep.dir=/x",
        ],
    ]
    for args in accepted:
        check_command_line(args, "resnet-lab", True)
    check_command_line(["checkpoint=.", "hydra.run.dir=lesion"], "resnet-lab-lesion")  # a study
    for args, said in [
        (
            ["--seed", "-1"],
            "--seed is no flag of this command: its settings are key=value: seed=-1",
        ),
        (
            ["--resume"],
            "--resume is no flag of this command: its settings are key=value: resume=true",
        ),
        (["--batch-size", "64"], "its settings are key=value: trainer.batch_size=64"),
        (["-m", "trainer.lr=range(0.1,0.5,0.0)"], "trainer.lr=range(0.1,0.5,0.0): Invalid range"),
        (["hydra.run.dir=" + "a" * 300], "the file system refuses it (File name too long)"),
        (["-m", "hydra.sweep.dir=" + "a" * 300], "the file system refuses it (File name too long)"),
    ]:
        with pytest.raises(SystemExit):
            check_command_line(args, "resnet-lab", True)
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1, err


@pytest.mark.parametrize("tool", ["evaluate", "gates"])
def test_a_signal_as_a_tool_takes_the_signals_over_is_told_not_a_trace(
    tool: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A signal between the handler's setting and the ``with`` binding its list ended
    resnet-lab-eval and -gates with an UnboundLocalError trace."""
    import importlib

    from resnet_lab import stopping

    handing_over = stopping._stop_signals_to

    @contextlib.contextmanager
    def signal_at_once(*args: Any, **kwargs: Any) -> Iterator[None]:
        with handing_over(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGINT)  # the handler raises here, before the yield
            yield

    monkeypatch.setattr(stopping, "_stop_signals_to", signal_at_once)
    main = importlib.import_module(f"resnet_lab.{tool}").main
    assert main(["/nonexistent"]) == 128 + signal.SIGINT
    assert "interrupted by SIGINT" in capsys.readouterr().err


def _refused_in_one_line(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err


@pytest.mark.parametrize(
    "args",
    [
        # a group's choice spelt with its file's suffix: Hydra composes it
        ["-m", "seed=0,1", "data=synthetic", "hydra/launcher=parallel.yaml"],
        # the last launcher chosen is Hydra's (make reproduce-table's own hydra/launcher=basic,
        # then EXTRA's): its options are the ones checked
        [
            "-m",
            "seed=0,1",
            "hydra/launcher=basic",
            "hydra/launcher=parallel",
            "hydra.launcher.n_jobs=2",
        ],
        ["--", "seed=1", "data=synthetic"],  # argparse's end of flags
        ["-m", "seed=0,1", "resume=true", "resume=false"],  # the last resume is Hydra's
    ],
)
def test_what_hydra_accepts_is_accepted(
    args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    check_command_line(args, "resnet-lab", outputs_into_the_run=True)


def test_a_sweep_given_both_folders_is_accepted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep writes into hydra.sweep.dir, a run into hydra.run.dir: one given both is no
    mistake (it was told to add the hydra.sweep.dir it gave)."""
    monkeypatch.chdir(tmp_path)
    folders = [f"hydra.run.dir={tmp_path}/run", f"hydra.sweep.dir={tmp_path}/sweep"]
    check_command_line(["-m", "seed=0,1", "data=synthetic", *folders], "resnet-lab", True)
    check_command_line(["seed=1", "data=synthetic", *folders], "resnet-lab", True)


def test_a_launcher_dict_key_without_its_plus_is_told_to_add_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A key inside a launcher's free dict needs a '+' (Hydra: "Could not override", in lines)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")  # a Slurm login node
    arg = "hydra.launcher.additional_parameters.x=1"
    err = _refused_in_one_line(["-m", "seed=0,1", "hydra/launcher=slurm", arg], capsys)
    assert f"{arg}: not in hydra.launcher.additional_parameters: add it, +{arg}" in err


def test_a_folder_without_search_permission_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A folder one may write in but not enter cannot hold the run's (Hydra's PermissionError
    trace)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    monkeypatch.chdir(tmp_path)
    real_access = os.access
    monkeypatch.setattr(  # root passes every check: only X_OK is refused, on this folder
        os,
        "access",
        lambda path, mode: (
            not (Path(path) == locked and mode & os.X_OK) and real_access(path, mode)
        ),
    )
    err = _refused_in_one_line([f"hydra.run.dir={locked}/run", "data=synthetic"], capsys)
    assert f"cannot write in {locked} (permission denied)" in err


def test_a_search_path_given_with_plus_plus_is_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One's own rows on a search path given with '++' are found (refused as missing)."""
    mine = tmp_path / "my_conf"
    (mine / "experiment" / "mine").mkdir(parents=True)
    (mine / "experiment" / "mine" / "scaled.yaml").write_text("# @package _global_\n")
    monkeypatch.chdir(tmp_path)
    for plus in ("+", "++"):
        check_command_line(
            [f"{plus}hydra.searchpath=[file://{mine}]", "+experiment=mine/scaled"],
            "resnet-lab",
            outputs_into_the_run=True,
        )


def test_the_last_resume_given_decides_whether_a_sweep_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """resume=false resume=true resumes (Hydra's last value): without its folder every job was
    refused, one by one."""
    monkeypatch.chdir(tmp_path)
    err = _refused_in_one_line(["-m", "seed=0,1", "resume=false", "resume=true"], capsys)
    assert "resume=true continues the sweep in hydra.sweep.dir, and none was given" in err
    sweep = ["-m", "resume=false", "resume=true", f"hydra.sweep.dir={tmp_path}", "seed=0,1"]
    check_command_line(sweep, "resnet-lab", True)  # with its folder: continued


def test_a_sweep_asking_for_help_is_not_preflighted(tmp_path: Path) -> None:
    """`resnet-lab -m --help` shows the help, whatever its jobs would meet (it answered "every
    job of this sweep would be refused" where the data was missing)."""
    missing = tmp_path / "nowhere"
    for flag in ("--help", "--hydra-help", "--version"):
        assert no_job_would_train(["-m", flag, f"data.root={missing}", "seed=0,1"]) is None


def test_a_sweep_of_rows_named_by_the_seed_alone_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Job folders named by the seed alone put every row of a seed in one folder."""
    monkeypatch.chdir(tmp_path)
    args = ["-m", "+experiment/table1=glob(*)", "seed=0,1", "hydra.sweep.subdir=${seed}"]
    err = _refused_in_one_line([*args, f"hydra.sweep.dir={tmp_path}/s"], capsys)
    assert "+experiment/table1=glob(*) sweeps over values that hydra.sweep.subdir=${seed}" in err


def test_a_misspelt_section_is_told_as_an_unknown_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """trainr.lr=0.1 was left to Hydra, whose six lines advise +trainr.lr=0.1, which the run
    then refuses as an unknown key."""
    monkeypatch.chdir(tmp_path)
    err = _refused_in_one_line(["trainr.lr=0.1"], capsys)
    assert "unknown key(s) trainr.lr (did you mean trainer.lr?): not a resnet-lab setting" in err
    err = _refused_in_one_line(["shortcut.foo.bar=1"], capsys)  # no such section in a group
    assert "unknown key(s) shortcut.foo.bar: not a resnet-lab setting" in err


def test_a_rows_file_hydra_does_not_read_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fuzz of one's own config folders: a folder, a link to nothing or a .yml file where the
    row's .yaml should be was told "there is no experiment/ours/r; experiment/ours/ holds r"."""
    rows = tmp_path / "mine" / "experiment" / "ours"
    rows.mkdir(parents=True)
    (rows / "r.yaml").mkdir()
    (rows / "s.yaml").symlink_to(rows / "s.yaml")  # a loop
    (rows / "t.yml").write_text("# @package _global_\n")
    for choice, said in [
        ("r", f"{rows / 'r.yaml'} is a folder, not a config file"),
        ("s", f"{rows / 's.yaml'} is a link that leads to no file, not a config file"),
        ("t", f"{rows / 't.yml'} is not read: Hydra reads files ending .yaml"),
    ]:
        with pytest.raises(SystemExit):
            check_command_line(
                ["--config-dir", str(tmp_path / "mine"), f"+experiment=ours/{choice}"],
                "resnet-lab",
                True,
            )
        assert capsys.readouterr().err == f"resnet-lab: error: +experiment=ours/{choice}: {said}\n"
