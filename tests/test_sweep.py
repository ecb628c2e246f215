"""A real sweep: rows of a table on Hydra's joblib launcher, the report, and a safe re-run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest
from conftest import REPO, TINY_RUN, run_cli

from resnet_lab.checkpoint import list_checkpoints
from resnet_lab.report import main as report_main

ROWS = "+experiment/table6=resnet20,resnet32"


def _sweep(results: Path) -> None:
    """The documented sweep: resume=true, so that a re-launch continues what a stop cut short;
    a job's folder that holds no run yet is a first launch, not a mistyped folder: no warning."""
    out = run_cli(
        [
            "-m",
            ROWS,
            "profile=smoke",
            "seed=0,1",
            "resume=true",
            "hydra/launcher=parallel",
            "hydra.launcher.n_jobs=2",
            f"hydra.sweep.dir={results}",
            "hydra.sweep.subdir=${experiment.name}/seed${seed}",
        ]
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "holds no run" not in out.stdout + out.stderr


@pytest.mark.slow
def test_parallel_sweep_report_and_rerun(tmp_path: Path) -> None:
    results = tmp_path / "results"
    _sweep(results)
    runs = sorted(results.glob("table6/*/seed*/result.json"))
    assert [str(p.relative_to(results).parent) for p in runs] == [
        "table6/resnet20/seed0",
        "table6/resnet20/seed1",
        "table6/resnet32/seed0",
        "table6/resnet32/seed1",
    ]
    finished = {p: json.loads(p.read_text()) for p in runs}
    assert all(r["status"] == "completed" and r["profile"] == "smoke" for r in finished.values())
    assert finished[runs[0]]["config"]["model"]["depth"] == 20

    _sweep(results)  # everything completed: nothing is trained again
    for path, before in finished.items():
        assert json.loads(path.read_text())["finished_at"] == before["finished_at"]

    assert report_main(["--results", str(results), "--seeds", "2", "--tables", "table6"]) == 0
    report = (results / "report.md").read_text()
    assert "NOT comparable" in report or "not comparable" in report
    assert "ResNet-20" in report and "ResNet-32" in report
    assert "missing" in report  # ResNet-44 ... 1202 were not run
    assert "not counted" not in report  # the sweep's runs have their rows' settings


@pytest.mark.slow
def test_a_sweep_resumed_with_its_values_reordered_names_the_folder_of_the_run(
    tmp_path: Path,
) -> None:
    """seed=1,0 after seed=0,1: each job was refused as a changed resume of the other's run,
    told "continue it as it trained with seed=0", which the sweep gives already. The sweep is
    refused before any job starts, from Hydra's record of each folder's first launch; without
    that record (hydra.output_subdir=null), each job names the folder of its run."""
    sweep = ["-m", *TINY_RUN, "trainer.max_steps=1", f"hydra.sweep.dir={tmp_path}"]
    assert run_cli([*sweep, "seed=0,1"]).returncode == 0
    out = run_cli([*sweep, "seed=1,0", "resume=true"])
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr == (
        f"resnet-lab: error: seed=1,0: the sweep in {tmp_path} first ran its jobs in another "
        f"order, and job N continues the run in folder N: {tmp_path}/0 holds the run of seed=0, "
        "this command's job 1; give the values in the order they were first given (new ones "
        "after them)\n"
    )
    for record in tmp_path.glob("*/.hydra"):
        shutil.rmtree(record)
    out = run_cli([*sweep, "seed=1,0", "resume=true", "hydra.output_subdir=null"])
    assert out.returncode == 1, out.stderr[-3000:]
    assert (
        f"resume=true with a different config than the run in {tmp_path}/0 (seed: 0 -> 1); "
        f"continue it as it trained with seed=0, or start a new run (the run this job asks for "
        f"is in {tmp_path}/1: give the sweep's values in the order they were first given)"
        in out.stderr
    )
    changed = run_cli([*sweep, "seed=0,1", "trainer.lr=0.05", "resume=true"])  # no reorder
    assert "trainer.lr: 0.1 -> 0.05" in changed.stderr and "order" not in changed.stderr


def test_a_sweep_resumed_in_another_order_is_refused_before_any_job_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """trainer.max_steps=80,40 after 40,80 (a resume may change it): job 0 extended the 40-step
    run over its result; seed=1,0,2 after a seed=0,1,2 stopped in its first job: seed 0 trained
    again in folder 1. A sweep that extends each run, or adds values after the first ones, goes
    on."""
    from resnet_lab.command_line import check_command_line

    def launched(sweep: Path, *jobs: str) -> None:  # Hydra's record of each job's first launch
        for number, values in enumerate(jobs):
            record = sweep / str(number) / ".hydra" / "2026-12-07_10-00-00-000000"
            record.mkdir(parents=True)
            (record / "overrides.yaml").write_text(f"- data=synthetic\n- {values}\n")
            (sweep / str(number) / "result.json").write_text("{}")

    def resumed(sweep: Path, values: str) -> None:
        args = ["-m", f"hydra.sweep.dir={sweep}", values, "resume=true"]
        check_command_line(args, "resnet-lab", outputs_into_the_run=True)

    def refused(sweep: Path, values: str) -> str:
        with pytest.raises(SystemExit):
            resumed(sweep, values)
        return capsys.readouterr().err

    launched(tmp_path / "steps", "trainer.max_steps=40", "trainer.max_steps=80")
    said = refused(tmp_path / "steps", "trainer.max_steps=80,40")
    assert (
        f"{tmp_path}/steps/0 holds the run of trainer.max_steps=40, this command's job 1;" in said
    )
    resumed(tmp_path / "steps", "trainer.max_steps=80,160")
    resumed(tmp_path / "steps", "trainer.max_steps=40,80,160")
    launched(tmp_path / "seeds", "seed=0")
    assert f"{tmp_path}/seeds/0 holds the run of seed=0, this command's job 1;" in refused(
        tmp_path / "seeds", "seed=1,0,2"
    )


def test_a_job_asking_for_other_values_is_pointed_at_no_other_folder(tmp_path: Path) -> None:
    """Only a folder whose run has every value the job asks for is "the run this job asks for"
    (seed=1,0 trainer.lr=0.05: folder 1 has seed 1, but lr 0.1)."""
    from omegaconf import OmegaConf

    from resnet_lab.cli import _trained_as

    for seed in (0, 1):
        (tmp_path / str(seed)).mkdir()
        OmegaConf.save({"seed": seed, "trainer": {"lr": 0.1}}, tmp_path / str(seed) / "config.yaml")
    assert _trained_as({"seed": 1}, tmp_path / "0") == tmp_path / "1"
    assert _trained_as({"seed": 1, "trainer.lr": 0.05}, tmp_path / "0") is None


@pytest.mark.slow
def test_a_job_refused_for_a_changed_setting_is_not_sent_to_another_seeds_folder(
    tmp_path: Path,
) -> None:
    """A job compared only the setting that differed: seed 1's job, asked with the value
    seed 0's run trained with, was told its run was in folder 0 (seed 0), "give the sweep's
    values in the order they were first given"; the order was right."""
    sweep = ["-m", *TINY_RUN, "trainer.max_steps=1", f"hydra.sweep.dir={tmp_path}"]
    assert run_cli([*sweep, "seed=0"]).returncode == 0
    assert run_cli([*sweep, "seed=0,1", "trainer.eval_every=8", "resume=true"]).returncode == 1
    out = run_cli([*sweep, "seed=0,1", "resume=true"])  # job 1 trained with eval_every 8
    assert out.returncode == 1
    assert f"different config than the run in {tmp_path}/1 (trainer.eval_every: 8 -> " in (
        out.stderr
    )
    assert "order they were first given" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("launcher", ["basic", "parallel"])
def test_a_refused_job_of_a_sweep_is_one_message_and_the_others_run(
    launcher: str, tmp_path: Path
) -> None:
    """A mistake only one job makes: that job's message, without a trace (from a joblib worker
    Hydra printed the whole one), the other job trains, and the sweep exits 1."""
    out = run_cli(
        [
            "-m",
            *TINY_RUN,
            "trainer.max_steps=2",
            "trainer.lr=-1,0.1",
            f"hydra/launcher={launcher}",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )
    assert out.returncode == 1, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    assert out.stderr.count("resnet-lab: error: trainer.lr=-1.0 must be positive") == 1  # Hydra's
    assert json.loads((tmp_path / "1/result.json").read_text())["status"] == "completed"
    assert "must be positive" in (tmp_path / "0/resnet-lab.log").read_text()


def test_make_reproduce_table_runs_the_documented_sweep() -> None:
    """`make reproduce-table` expands to the sweep tested above, then the report of those tables."""
    out = subprocess.run(
        ["make", "-n", "reproduce-table", "PROFILE=smoke", "TABLES=table1 table6", "RESULTS=/x"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for text in (
        '"+experiment/$table=glob(*)" seed=0 profile=smoke resume=true',
        "hydra/launcher=basic hydra.sweep.dir=/x",
        "'hydra.sweep.subdir=${experiment.name}/seed${seed}'",
        "for table in table1 table6",
        "python3 -m resnet_lab.report --results /x --seed-list 0 --profile smoke",  # a run of
        "--tables table1,table6",  # another profile in RESULTS is left out, not refused later
    ):
        assert text in out, text
    assert "--accept" not in out and "--config-dir" not in out
    # the hint after a stop: the command again as typed (the defaults were another command)
    assert 'RESNET_LAB_CONTINUE="run make reproduce-table again with the same variables' in out
    told = subprocess.run(["make"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "make reproduce-table  train every row of TABLES" in told  # not pip install
    # the variables as given, whatever they hold (a shell read a quote or backtick there)
    extra = 'EXTRA=a="b c" `false` it\'s'
    told = subprocess.run(["make", extra], cwd=REPO, capture_output=True, text=True, check=True)
    assert f" EXTRA='{extra[6:]}' ACCEPT=''" in told.stdout, told.stdout + told.stderr
    repeated = subprocess.run(
        ["make", "-n", "report", "SEEDS=0,0,1"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert "--seed-list 0,1" in repeated  # seed=0,0 trains seed 0 once: not "partial (1 of 2)"
    repeated = subprocess.run(
        ["make", "-n", "reproduce-table", "SEEDS=0,0,1"], cwd=REPO, capture_output=True, text=True
    ).stdout
    assert " seed=0,1 " in repeated  # two jobs in one folder: the parallel launcher's lock fails
    accepting = subprocess.run(
        ["make", "-n", "report", "ACCEPT=trainer.precision"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--accept trainer.precision" in accepting
    # make report: the profile given, else the one found (smoke results after the default
    # PROFILE=paper reported nothing, over the smoke report); several RESULTS folders
    assert "--profile" not in accepting
    smoke = subprocess.run(
        ["make", "-n", "report", "PROFILE=smoke", "RESULTS=/a /b"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "--results /a /b --seed-list 0 --profile smoke" in smoke
    paper = subprocess.run(
        ["make", "-n", "reproduce-table"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert (
        "seed=0,1,2,3,4 profile=paper" in paper and "--seed-list 0,1,2,3,4 --profile paper" in paper
    )
    assert "for table in table1 table2 table6" in paper


def _dry_make(*args: str) -> str:
    return subprocess.run(
        ["make", "-n", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def test_make_targets_are_the_commands_the_docs_name() -> None:
    """README's `make install`/`test`/`lint` (a failed check fails lint), `make bench EXTRA=`,
    the wheels the GPU machine lacks; make report PROFILE=smoke reads results/smoke, as
    reproduce-table wrote; every ACCEPT key is passed, and CONFIG_DIR as an environment variable."""
    assert '-m pip install -e ".[dev]"' in _dry_make("install")
    assert "-m pytest -q -n auto" in _dry_make("test")
    assert "ruff check . && ruff format --check ." in _dry_make("lint")
    assert "-m resnet_lab.bench --steps 2 --variants" in _dry_make(
        "bench", "EXTRA=--steps 2 --variants"
    )
    wheels = _dry_make("gpu-wheels")
    for spec in ('"hydra-core==1.3.*"', '"omegaconf==2.3.*"', '"antlr4-python3-runtime==4.9.*"'):
        assert spec in wheels, spec
    assert "-m resnet_lab.report --results results/smoke --seed-list 0 --profile smoke" in (
        _dry_make("report", "PROFILE=smoke")
    )
    assert "hydra.sweep.dir=results/smoke " in _dry_make("reproduce-table", "PROFILE=smoke")
    out = _dry_make("reproduce-table", "ACCEPT=trainer.precision trainer.lr", "CONFIG_DIR=my conf")
    assert '--accept trainer.precision trainer.lr --config-dir "$RESNET_LAB_CONFIG_DIR"' in out
    assert 'python3 -m resnet_lab --multirun --config-dir "$RESNET_LAB_CONFIG_DIR" "+exp' in out
    # the tools of the Python given, which make install installed into (PATH's may be another's)
    venv = _dry_make("reproduce-table", "PYTHON=/venv/bin/python")
    assert "/venv/bin/python -m resnet_lab --multirun " in venv
    assert venv.count("/venv/bin/python -m resnet_lab.report --results") == 2  # --check, report
    assert "resnet-lab" not in venv  # no tool of PATH
    assert (
        "PYTHON=python3: the Python of"
        in subprocess.run(["make"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    )


def test_make_reproduce_table_refuses_a_results_folder_with_a_space(tmp_path: Path) -> None:
    """The runs' folder is a Hydra override: a space split it, and resnet-lab answered "s: not a
    key=value setting" about a word the user never gave as one."""
    out = subprocess.run(
        [
            "make",
            "-f",
            str(REPO / "Makefile"),
            "reproduce-table",
            "PROFILE=smoke",
            "TABLES=table6",
            f"RESULTS={tmp_path / 'r s'}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2
    assert out.stderr.startswith(f"RESULTS={tmp_path / 'r s'}: the runs go into one folder, "), (
        out.stderr
    )
    assert "==" not in out.stdout and list(tmp_path.iterdir()) == []  # before any table started


def _make_with_stand_ins(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``make reproduce-table ARGS`` whose ``$(PYTHON) -m resnet_lab[.report]`` runs the stand-in
    ``resnet-lab[-report]`` in ``bin_dir`` where there is one, else the real tool."""
    python = bin_dir / "python"
    python.write_text(
        "#!/bin/sh\n"
        'case "$2" in resnet_lab) tool=resnet-lab;; resnet_lab.report) tool=resnet-lab-report;;'
        ' *) echo "not a module of the lab: $*" >&2; exit 99;; esac\n'
        f'[ "$1" = -m ] && [ -x {bin_dir}/$tool ] && shift 2 && exec {bin_dir}/$tool "$@"\n'
        f'exec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    return subprocess.run(
        ["make", "reproduce-table", f"PYTHON={python}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_report_that_fails_after_the_runs_fails_the_target(tmp_path: Path) -> None:
    """Every run succeeded, the closing report failed (a full disk): the target exits non-zero."""
    bin_dir, results = tmp_path / "bin", tmp_path / "results"
    bin_dir.mkdir()
    (bin_dir / "resnet-lab").write_text(f"#!/bin/sh\nmkdir -p {results}\nexit 0\n")
    (bin_dir / "resnet-lab-report").write_text(  # --check passes, the report itself fails
        '#!/bin/sh\ncase "$*" in *--check*) exit 0;; esac\necho "report: disk full" >&2\nexit 1\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    out = _make_with_stand_ins(bin_dir, "PROFILE=smoke", "TABLES=table6", f"RESULTS={results}")
    assert "report: disk full" in out.stderr
    assert out.returncode != 0, out.stdout + out.stderr


def test_make_passes_a_folder_named_with_shell_characters_as_a_name(tmp_path: Path) -> None:
    """A CONFIG_DIR someone sent, named with quotes, a backtick and a $ (given to make as $$),
    reaches the tools whole; before, the recipes' shell read the name as code (ran the backtick,
    expanded the $)."""
    bin_dir, results = tmp_path / "bin", tmp_path / "results"
    bin_dir.mkdir()
    own = tmp_path / 'it\'s $HOME `touch ran` "x"'
    as_make = str(own).replace("$", "$$")
    (own / "experiment" / "mine").mkdir(parents=True)
    (own / "experiment" / "mine" / "deep8.yaml").write_text("# @package _global_\n")
    record = tmp_path / "argv"
    for tool in ("resnet-lab", "resnet-lab-report"):  # each writes its arguments, one a line
        (bin_dir / tool).write_text(
            f'#!/bin/sh\nmkdir -p {results}\nprintf "%s\\n" "$@" >> {record}\n'
        )
        (bin_dir / tool).chmod(0o755)
    out = _make_with_stand_ins(
        bin_dir, "PROFILE=smoke", "TABLES=mine", f"RESULTS={results}", f"CONFIG_DIR={as_make}"
    )
    assert out.returncode == 0, out.stdout + out.stderr
    given = record.read_text().splitlines()
    assert given.count("--config-dir") == 3 and given.count(str(own)) == 3  # check, run, report
    assert not (REPO / "ran").exists() and not (tmp_path / "ran").exists()
    wrong = tmp_path / 'no `rows` "here"'
    wrong.mkdir()
    refused = _make_with_stand_ins(bin_dir, "TABLES=mine", f"CONFIG_DIR={wrong}")
    assert refused.returncode == 2
    assert f"CONFIG_DIR={wrong} ({wrong}) holds no experiment/ folder" in refused.stderr


def test_make_gpu_cifar_copies_its_part_and_refuses_another(tmp_path: Path) -> None:
    """docs/speed.md: `make gpu-cifar PART=K` puts two CIFAR-10 files (part 1: and the labels)
    into .carry/cifar with the commit, -dirty where tracked files changed; a wrong PART keeps
    what was carried. Run in a scratch git tree, never in the repository."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("data_batch_1.bin", "data_batch_2.bin", "batches.meta.txt", "test_batch.bin"):
        (src / name).write_text(name)
    tree = tmp_path / "tree"
    tree.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(tree)]
    subprocess.run([*git, "init", "-q"], check=True)
    (tree / "f").write_text("1")
    subprocess.run([*git, "add", "f"], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    (tree / "f").write_text("2")
    make = ["make", "-f", str(REPO / "Makefile"), "gpu-cifar", f"CIFAR_SRC={src}"]
    done = subprocess.run([*make, "PART=1"], cwd=tree, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    carried = ["batches.meta.txt", "data_batch_1.bin", "data_batch_2.bin"]
    assert sorted(p.name for p in (tree / ".carry" / "cifar").iterdir()) == carried
    assert (tree / ".carry" / "git_commit").read_text().endswith("-dirty\n")
    wrong = subprocess.run([*make, "PART=4"], cwd=tree, capture_output=True, text=True)
    assert wrong.returncode == 2 and "PART=1, 2 or 3" in wrong.stderr
    assert sorted(p.name for p in (tree / ".carry" / "cifar").iterdir()) == carried
    # a part the folder lacks (raw cp errors, after the carried files were wiped); a folder
    # with a space, a backtick, quotes and $ in its name (shell errors, then "no such folder")
    lacking = subprocess.run([*make, "PART=3"], cwd=tree, capture_output=True, text=True)
    assert lacking.returncode == 2 and f"CIFAR_SRC={src} lacks data_batch_5.bin" in lacking.stderr
    assert sorted(p.name for p in (tree / ".carry" / "cifar").iterdir()) == carried
    spaced = tmp_path / 'c `src` "$HOME"'
    src.rename(spaced)
    make[-1] = "CIFAR_SRC=" + str(spaced).replace("$", "$$")
    done = subprocess.run([*make, "PART=1"], cwd=tree, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_make_reproduce_table_runs_and_reports_rows_of_ones_own_config_dir(
    tmp_path: Path,
) -> None:
    """docs/extending.md: rows kept outside the package, in a folder given as CONFIG_DIR (Hydra's
    --config-dir), train and report like the lab's, and so does a profile of one's own; a
    misspelt table or profile names them as choices."""
    row = tmp_path / "my_conf" / "experiment" / "mine" / "deep8.yaml"
    row.parent.mkdir(parents=True)
    row.write_text(
        "# @package _global_\nmodel:\n  depth: 8\nexperiment:\n  name: mine/deep8\n"
        "  table: My rows\n  row: ResNet-8\n  order: 1\n"
    )
    smoke = (REPO / "resnet_lab" / "conf" / "profile" / "smoke.yaml").read_text()
    (tmp_path / "my_conf" / "profile").mkdir()
    (tmp_path / "my_conf" / "profile" / "quick.yaml").write_text(
        smoke.replace("profile: smoke", "profile: quick")
    )
    make = ["make", "-f", str(REPO / "Makefile"), "reproduce-table", "CONFIG_DIR=my_conf"]
    args = ["PROFILE=quick", f"RESULTS={tmp_path / 'results'}"]
    wrong_profile = subprocess.run(
        [*make, "PROFILE=quik"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert wrong_profile.returncode == 2
    assert "unknown PROFILE quik: choose from paper quick smoke\n" in wrong_profile.stderr
    misspelt = subprocess.run(
        [*make, *args, "TABLES=mien"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert misspelt.returncode == 2
    assert "unknown table mien (TABLES): choose from cifar100" in misspelt.stderr
    assert "table6 mine\n" in misspelt.stderr
    no_rows = subprocess.run(
        [*make, *args, "CONFIG_DIR=elsewhere"], cwd=tmp_path, capture_output=True, text=True
    )
    assert no_rows.returncode == 2
    where = tmp_path.resolve() / "elsewhere"  # make -C: relative to the Makefile's folder
    assert (
        f"CONFIG_DIR=elsewhere ({where}) holds no experiment/ folder of rows nor profile/ folder"
        in no_rows.stderr
    )
    (tmp_path / "profiles_only" / "profile").mkdir(parents=True)  # a profile of one's own alone
    only = subprocess.run(
        [*make, *args, "CONFIG_DIR=profiles_only", "TABLES=mien"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert only.returncode == 2 and only.stderr.startswith("unknown table mien (TABLES): choose ")
    no_runs = subprocess.run(  # the report's own message named no RESULTS
        ["make", "-f", str(REPO / "Makefile"), "report", "RESULTS=nowhere"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert no_runs.returncode == 2
    assert no_runs.stderr.startswith(
        f"RESULTS: nowhere ({tmp_path.resolve() / 'nowhere'}) does not exist: make "
        "reproduce-table writes its runs there; give RESULTS=DIR\n"
    )
    out = subprocess.run(
        [*make, *args, "TABLES=mine"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "| 1 | ResNet-8 | `mine/deep8` | — |" in out.stdout
    assert "another definition" not in out.stdout and "not counted" not in out.stdout
    assert "**Profile `quick` is not the papers' recipe (profile `paper`)" in out.stdout


def test_a_misspelt_table_stops_the_target_before_any_run(tmp_path: Path) -> None:
    """Otherwise the tables before and after it would run (hours) and only the report refuse."""
    out = subprocess.run(
        ["make", "-f", str(REPO / "Makefile"), "reproduce-table", "TABLES=table6 tabel1"],
        cwd=tmp_path,  # the target finds the experiment groups beside the Makefile, not here
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert "unknown table tabel1 (TABLES): choose from cifar100 highway" in out.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("variable", "message"),
    [
        ("PROFILE=smok", "unknown PROFILE smok: choose from paper smoke"),
        ("SEEDS=0 1", "SEEDS=0 1: give the seeds as comma-separated integers, e.g. SEEDS=0,1,2"),
        ("SEEDS=range(0,2)", "SEEDS=range(0,2): give the seeds as comma-separated integers"),
        ("SEEDS=0'", "SEEDS=0': give the seeds as comma-separated integers"),  # a shell error
        ("TABLES=", "TABLES is empty: give the tables to train"),  # argparse's --tables
        ("RESULTS=", "RESULTS is empty: give the folder the runs go into"),
        ("RESULTS=~/r", "RESULTS=~/r: make leaves '~' to Hydra, which takes it for a folder's "),
        ("ACCEPT=model", "--accept model is a section: name its settings, e.g. model.arch"),
        # what the target sets (the last one won: EXTRA's seed for every job)
        ("EXTRA=seed=5", "EXTRA: seed=5: the target sets seed itself (from SEEDS)"),
        ("EXTRA=trainer.lr=0.05 +resume=false", "EXTRA: +resume=false: the target sets resume "),
    ],
)
def test_a_mistaken_variable_stops_the_target_before_any_run(
    tmp_path: Path, variable: str, message: str
) -> None:
    """Each used to surface only after hours of training (ACCEPT, in the report), or as a cascade
    of Hydra and shell errors per table (SEEDS)."""
    out = subprocess.run(
        ["make", "-f", str(REPO / "Makefile"), "reproduce-table", "TABLES=highway", variable],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert message in out.stderr
    assert "==" not in out.stdout  # no table started
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_a_failed_table_does_not_stop_the_others_or_the_report(tmp_path: Path) -> None:
    """A bad EXTRA fails every run; the target still tries each table and writes the report."""
    out = subprocess.run(
        [
            "make",
            "reproduce-table",
            "PROFILE=smoke",
            "TABLES=table3 table6",
            f"RESULTS={tmp_path}",
            "EXTRA=shortcut.gate_bias=-6",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode != 0
    for table in ("table3", "table6"):
        assert f"== {table}: a run failed" in out.stderr, out.stderr[-2000:]
    assert (tmp_path / "report.md").exists()


def test_a_target_in_which_no_table_started_a_run_says_so(tmp_path: Path) -> None:
    """No data where the rows look: each table exits 1 before any job starts, and the closing
    report refused with "results directory ... does not exist" (a stand-in resnet-lab exits as
    such a table does)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "resnet-lab").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "resnet-lab").chmod(0o755)
    results = tmp_path / "results"
    out = _make_with_stand_ins(
        bin_dir, "PROFILE=smoke", "TABLES=table3 table6", f"RESULTS={results}"
    )
    # the per-table line had said "a run failed" though none started
    said = "== table6: a run failed or was refused (exit 1, above)"
    assert out.returncode != 0 and said in out.stderr
    assert f"== no table started a run: nothing to report in {results}\n" in out.stderr
    assert "does not exist" not in out.stderr and not results.exists()


def test_a_table_stopped_by_a_signal_stops_the_target(tmp_path: Path) -> None:
    """Ctrl-C stops the whole target: no next table, no report (a resnet-lab that exits 130)."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    fake = bin_dir / "resnet-lab"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {calls}\nexit 130\n')
    fake.chmod(0o755)
    results = f"RESULTS={tmp_path / 'results'}"
    out = _make_with_stand_ins(bin_dir, "PROFILE=smoke", "TABLES=table3 table6", results)
    assert out.returncode != 0 and "Error 130" in out.stderr, out.stdout + out.stderr
    assert len(calls.read_text().splitlines()) == 1 and "+experiment/table3=" in calls.read_text()
    assert not (tmp_path / "results" / "report.md").exists()


def test_a_refused_command_stops_the_target_at_once(tmp_path: Path) -> None:
    """A mistake in EXTRA every job shares was said once per table, each with "a run failed",
    then the report failed on a results folder no run had made."""
    out = subprocess.run(
        [
            "make",
            "reproduce-table",
            "PROFILE=smoke",
            "TABLES=table3 table6",
            f"RESULTS={tmp_path / 'results'}",
            "EXTRA=+trainer.lrr=0.05",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("unknown key(s) trainer.lrr (did you mean trainer.lr?)") == 1
    assert "== table3: the command was refused (above), no run started" in out.stderr
    assert "== table6" not in out.stdout + out.stderr and "a run failed" not in out.stderr
    assert "resnet-lab-report" not in out.stderr and not (tmp_path / "results").exists()


def _children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # a zombie is gone too
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_parallel_sweep_stops_every_job_with_a_checkpoint(
    tmp_path: Path, signum: int
) -> None:
    """`kill <resnet-lab>` on a joblib sweep used to kill the launching process only: its
    workers trained on, orphaned, each holding its run's lock. Now every running job stops at
    its next step with a checkpoint (status interrupted) and no worker is left: SIGTERM is
    passed on to the workers, as is a Ctrl-C (SIGINT); after a SIGKILL, each worker sees its
    launcher gone."""
    results = tmp_path / "results"
    sweep = [sys.executable, "-m", "resnet_lab", "-m", ROWS, "profile=smoke", "model.depth=8"]
    sweep += ["trainer.ckpt_every=20", "trainer.eval_every=1000000", "hydra/launcher=parallel"]
    sweep += [f"hydra.sweep.dir={results}", "hydra.sweep.subdir=${experiment.name}"]
    proc = subprocess.Popen(
        [*sweep, "trainer.max_steps=1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, with its workers: killed at the end
    )
    try:
        runs = [results / "table6/resnet20", results / "table6/resnet32"]
        deadline = time.time() + 120
        while not all(list((run / "ckpt").glob("*.sha256")) for run in runs):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.time() < deadline, "the sweep's runs wrote no checkpoint"
            time.sleep(0.1)
        workers = _children(proc.pid)
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=60)
        if signum != signal.SIGKILL:
            assert proc.returncode == 128 + signum, out
            name = signal.Signals(signum).name
            assert f"{name}: the sweep stops; each running job saves a checkpoint" in out
            # each job's own hint names the sweep's folder, not its run folder
            assert f"resume=true hydra.sweep.dir={results}" in out, out
            assert "hydra.run.dir=" not in out
        else:
            assert "the sweep's launching process (pid " in out  # the workers' log
        assert (
            "leaked" not in out
        )  # loky's resource tracker frees the launcher's semaphores quietly
        deadline = time.time() + 60
        while any(_alive(pid) for pid in workers):
            assert time.time() < deadline, "workers left running"
            time.sleep(0.2)
        stopped = {}
        for run in runs:
            result = json.loads((run / "result.json").read_text())
            assert result["status"] == "interrupted", result["status"]
            assert list_checkpoints(run / "ckpt")[-1].name == f"step_{result['step']:07d}.pt"
            stopped[run] = result
        if signum == signal.SIGTERM:  # the hint it printed continues each job where it stopped
            end = max(r["step"] for r in stopped.values()) + 3
            again = subprocess.run(
                [*sweep, f"trainer.max_steps={end}", "resume=true"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert again.returncode == 0, again.stdout + again.stderr
            for run, before in stopped.items():
                result = json.loads((run / "result.json").read_text())
                assert (result["status"], result["step"]) == ("completed", end)
                assert result["started_at"] == before["started_at"]  # continued, not anew
    finally:  # an assert failed early: nothing of the sweep is left training
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_outputs_are_written_waits_and_a_second_acts_at_once(
    second: signal.Signals,
) -> None:
    """signals_deferred (a lesion study writing its files): the first Ctrl-C is recorded and
    waits for the block's end; the second, another Ctrl-C or a kill, goes to the handler from
    before, at once (a kill was held too: only a third signal stopped a hung plot write)."""
    from resnet_lab import stopping

    class Stopped(Exception):
        pass

    def stop_now(signum: int, frame: object) -> None:
        raise Stopped

    before = signal.signal(second, stop_now)
    try:
        with pytest.raises(Stopped), stopping.signals_deferred() as late:
            signal.raise_signal(signal.SIGINT)
            assert late == [signal.SIGINT]  # waited
            signal.raise_signal(second)
            raise AssertionError("the second signal waited too")
        assert late == [signal.SIGINT]
        assert signal.getsignal(second) is stop_now
    finally:
        signal.signal(second, before)


class _Exited(Exception):
    """os._exit(code), which ends a launcher or a worker, in a test's process."""


def _exit_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """os._exit raises _Exited instead; logging.shutdown() before it closes nothing."""
    import logging

    def exit_now(code: int) -> None:
        raise _Exited(code)

    monkeypatch.setattr(os, "_exit", exit_now)
    monkeypatch.setattr(logging, "shutdown", lambda: None)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_the_launcher_sends_each_worker_a_sigterm_and_ends_by_the_signal(
    signum: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each loky worker gets one SIGTERM (its run stops at its next step, with a checkpoint) at
    once, not when its watch sees the launcher gone (the killed-sweep test passed without it);
    the launcher ends 128 + N, its hint naming the sweep's folder."""
    import multiprocessing

    from resnet_lab import stopping

    loky = type("LokyProcess", (), {})  # the class's name marks a worker
    children = [loky(), loky(), type("Process", (), {"pid": 13})()]
    children[0].pid, children[1].pid = 11, 12
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(multiprocessing, "active_children", lambda: children)
    monkeypatch.setattr(stopping.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    _exit_raises(monkeypatch)
    monkeypatch.delenv(stopping.CONTINUE_ENV, raising=False)
    monkeypatch.setattr(stopping, "last_signal", signal.SIGINT)
    with pytest.raises(_Exited) as exited:
        stopping._stop_launcher(signum, None)
    assert exited.value.args == (128 + signum,) and stopping.last_signal == signum
    assert sent == [(11, signal.SIGTERM), (12, signal.SIGTERM)]
    err = capsys.readouterr().err
    assert err.startswith(f"resnet-lab: {signal.Signals(signum).name}: the sweep stops")
    assert err.endswith("plus resume=true and its hydra.sweep.dir\n"), err


def test_a_worker_sees_its_launcher_gone_within_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """After a SIGKILL of the launcher its workers stop their runs within a second, not train on
    orphaned (the killed-sweep test gives them a minute)."""
    from resnet_lab import stopping

    parents = iter([2, 2, 1])  # the launcher (pid 2), twice, then gone
    slept: list[float] = []
    monkeypatch.setattr(stopping.os, "getppid", lambda: next(parents))
    monkeypatch.setattr(stopping, "time", types.SimpleNamespace(sleep=slept.append))
    _exit_raises(monkeypatch)
    monkeypatch.setattr(stopping.training, "running", False)
    with pytest.raises(_Exited):
        stopping._watch(2)
    assert len(slept) == 2 and all(0 < seconds <= 1 for seconds in slept), slept


@pytest.mark.parametrize(
    ("already_stopping", "training"), [(False, True), (True, True), (False, False)]
)
def test_a_worker_whose_launcher_is_gone_stops_its_run_once(
    already_stopping: bool, training: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watch sends the run one SIGTERM (it stops at its next step, with a checkpoint), and
    none to a run a signal already reached: a second would stop it at once, without one. The
    worker exits when the job has ended; a job not training (loading its data, writing its
    results: whole files, written atomically) is not waited for."""
    from resnet_lab import stopping

    sent: list[int] = []
    monkeypatch.setattr(stopping.os, "getppid", lambda: 1)  # no longer the launcher, pid 2
    monkeypatch.setattr(stopping.os, "kill", lambda pid, signum: sent.append(signum))
    _exit_raises(monkeypatch)
    monkeypatch.setattr(stopping.training, "running", training)
    monkeypatch.setattr(stopping.training, "stopping", already_stopping)
    # the job saves and returns while the watch waits for it (a timer raced a busy machine)
    job_ends = types.SimpleNamespace(sleep=lambda seconds: stopping._job_running.clear())
    monkeypatch.setattr(stopping, "time", job_ends)
    stopping._job_running.set()
    try:
        with pytest.raises(_Exited):
            stopping._watch(2)
        assert stopping._job_running.is_set() != training  # it waited for a training job's end
    finally:
        stopping._job_running.clear()
    assert sent == ([signal.SIGTERM] if training and not already_stopping else [])


def test_a_worker_taking_job_after_job_watches_its_launcher_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loky worker reused for several jobs started a watch for each: two could both send the
    run a SIGTERM, and a second one stops it at once, without its checkpoint. Each job is
    marked running for its whole length, and no longer."""
    import multiprocessing

    from resnet_lab import stopping

    watches: list[int] = []
    monkeypatch.setattr(stopping, "_watch", watches.append)
    monkeypatch.setattr(stopping, "_watching", False)
    monkeypatch.setenv(stopping.LAUNCHER_ENV, str(os.getppid()))
    monkeypatch.setattr(multiprocessing.current_process(), "name", "LokyProcess-1")
    for fails in (False, False, True):
        with contextlib.suppress(RuntimeError), stopping.job_in_worker():
            assert stopping._job_running.is_set()  # the watch waits for its checkpoint
            if fails:
                raise RuntimeError
        assert not stopping._job_running.is_set()  # and exits at once after it, a failed one too
    for thread in threading.enumerate():  # the watches started have called _watch
        if thread.name == "watch":
            thread.join(timeout=30)
    assert watches == [os.getppid()]


def test_a_worker_whose_launcher_is_gone_before_its_job_exits_untrained(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A loky worker can take its job after the launcher died (SIGKILL at dispatch): it must
    not train orphaned. Its parent is then no longer the launcher, and it exits at once."""
    import logging
    import multiprocessing

    from resnet_lab import stopping

    exited = threading.Event()
    monkeypatch.setattr(os, "_exit", lambda code: exited.set())
    monkeypatch.setattr(logging, "shutdown", lambda: None)
    monkeypatch.setattr(stopping, "_watching", False)
    monkeypatch.setenv(stopping.LAUNCHER_ENV, str(os.getppid() + 1))  # not this one's parent
    monkeypatch.setattr(multiprocessing.current_process(), "name", "LokyProcess-1")
    with stopping.job_in_worker():
        assert exited.wait(5), "the worker went on with its job"
