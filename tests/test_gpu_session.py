"""benchmarks/gpu_session.sh, the runbook for a session lent a GPU, run on CPU with tiny nets so
that it cannot rot between the sessions that have a GPU."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from resnet_lab import bench

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_session.sh"
TINY_BENCH = ["--depth", "8", "--width", "4", "--batch-size", "16", "--steps", "2", "--warmup", "1"]
TINY_BENCH += ["--rounds", "1", "--threads", "1", "data.synthetic_train_size=64"]


def stage(
    tmp_path: Path, *args: str, cwd: Path = ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        # a tree other than ROOT (cwd) runs ROOT's lab
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "DEVICE": "cpu",
        "OUT": str(tmp_path / "out"),
        "CIFAR": str(tmp_path / "cifar"),
        "RUNS": str(tmp_path / "runs"),
        **env,
    }
    return subprocess.run(  # a timeout: a hung stage fails its test, not the whole CI run
        ["bash", str(SCRIPT), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


# each runs the script in processes of its own: seconds to tens of seconds
pytestmark = [pytest.mark.skipif(not shutil.which("bash"), reason="needs bash"), pytest.mark.slow]


def test_bench_stage_saves_the_json_and_the_printed_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GPU machine's tree has no .git: the commit carried in .carry/git_commit is the one
    the log and the JSON record."""
    tree = tmp_path / "tree"  # ROOT's lab, without its .git
    shutil.copytree(
        ROOT / "resnet_lab", tree / "resnet_lab", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tree / ".carry").mkdir()
    (tree / ".carry" / "git_commit").write_text("abc123\n")
    monkeypatch.delenv("RESNET_LAB_GIT_COMMIT", raising=False)
    done = stage(tmp_path, "bench", *TINY_BENCH, cwd=tree, VARIANTS="none", PYTHONPATH=str(tree))
    assert done.returncode == 0, done.stderr + done.stdout
    report = json.loads((tmp_path / "out" / next_name(tmp_path, ".json")).read_text())
    assert report["settings"]["depth"] == 8 and report["git_commit"] == "abc123"
    assert [r["name"] for r in report["results"]][:2] == [
        "plain PyTorch loop",
        "lab step (trainer config)",
    ]
    printed = (tmp_path / "out" / next_name(tmp_path, ".txt")).read_text()
    assert "python -m resnet_lab.bench --device cpu" in printed and "lab step / plain" in printed
    assert printed.splitlines()[0].endswith(  # the stage as given, run alone or under `all`
        f"gpu_session.sh bench {' '.join(TINY_BENCH)} (DEPTH=110 DEVICE=cpu VARIANTS=none MPS=0, "
        "commit abc123)"
    )


def test_run_stage_stops_in_time_and_continues(tmp_path: Path) -> None:
    overrides = ["data=synthetic", "model.depth=8", "model.width=4", "trainer.batch_size=16"]
    overrides += ["trainer.log_every=1"]
    commit = {"RESNET_LAB_GIT_COMMIT": "abc123"}
    cut = stage(
        tmp_path, "run", "r", *overrides, "trainer.max_steps=100000", LIMIT_S="20", **commit
    )
    assert cut.returncode == 124, cut.stderr + cut.stdout  # timeout's code: the run was stopped
    log = (tmp_path / "out" / "r-log.txt").read_text().splitlines()
    assert log[0].endswith(  # the command as given, for the record in benchmarks/results/
        f"gpu_session.sh run r {' '.join(overrides)} trainer.max_steps=100000 (LIMIT_S=20 "
        "DEVICE=cpu, commit abc123)"
    )
    first = json.loads((tmp_path / "out" / "r-result.json").read_text())
    assert first["status"] == "interrupted" and first["step"] > 0
    rest = stage(tmp_path, "run", "r", *overrides, f"trainer.max_steps={first['step'] + 2}")
    assert rest.returncode == 0, rest.stderr + rest.stdout
    final = json.loads((tmp_path / "out" / "r-result.json").read_text())
    assert final["status"] == "completed" and final["step"] == first["step"] + 2
    assert final["started_at"] == first["started_at"]  # continued, not trained again from 0
    # the record of the command that comes back is this launch's
    overrides_back = (tmp_path / "out" / "r-overrides.yaml").read_text()
    assert f"trainer.max_steps={first['step'] + 2}" in overrides_back


def test_seeds_stage_times_stacked_models(tmp_path: Path) -> None:
    # --processes 0 keeps it cheap: concurrent processes are timed in test_speed.py
    done = stage(
        tmp_path, "seeds", *TINY_BENCH, "--models", "2", "--processes", "0", TAG="cpu-test"
    )
    assert done.returncode == 0, done.stderr + done.stdout
    (saved,) = (tmp_path / "out").glob("*-resnet110-seeds.json")
    report = json.loads(saved.read_text())
    assert report["stacked"]["models"] == 2 and report["processes"] is None  # 0: none


def test_all_stage_cuts_each_stage_at_its_limit_and_goes_on(tmp_path: Path) -> None:
    """The first call of a lease: a stage past its limit is stopped and said in the one log, the
    next stages still run, the command succeeds; stages past the overall deadline are skipped."""
    limits = {"TESTS_S": "1", "GRAPHS_S": "1", "SEEDS_S": "60", "ALL_S": "150"}
    # the seeds stage starts NVIDIA's MPS daemon: a stand-in notes each call
    fake = tmp_path / "bin" / "nvidia-cuda-mps-control"
    fake.parent.mkdir()
    fake.write_text(f'#!/usr/bin/env bash\necho "${{1:-stdin}}" >> {tmp_path / "mps.txt"}\n')
    fake.chmod(0o755)
    path = f"{fake.parent}{os.pathsep}{os.environ['PATH']}"
    done = stage(tmp_path, "all", *TINY_BENCH, VARIANTS="none", PATH=path, **limits)
    assert done.returncode == 0, done.stderr + done.stdout
    (log,) = (tmp_path / "out").glob("*-all.txt")
    text = log.read_text()
    # seeds: 4 processes with the step graph (refused on CPU) under MPS, started and stopped
    assert "trainer.step_graph=true needs CUDA" in text
    assert (tmp_path / "mps.txt").read_text().split() == ["stdin", "-d", "stdin"]  # quit first
    # tests, seeds, the compiled variant: stopped at 1 s, or failed first (the step graph, MPS
    # and compile need CUDA)
    cut = re.findall(r"== stage (\w+): (?:stopped at its 1 s limit|failed with status)", text)
    assert cut == ["tests", "seeds", "compile"]
    assert "lab step / plain" in text  # the bench stage, with its 90 s, finished
    assert [p.name.split("-", 4)[-1] for p in (tmp_path / "out").glob("*.json")] == [
        "resnet110.json"
    ]
    # the deadline counts from the script's start; the commit comes with the carried files (the
    # GPU machine's copy has no .git)
    tree = tmp_path / "tree"
    (tree / ".carry").mkdir(parents=True)
    (tree / ".carry" / "git_commit").write_text("abc123-dirty\n")
    # a preset TAG: the stages are skipped whatever the tag, and its torch import is spared
    late = stage(tmp_path / "late", "all", *TINY_BENCH, cwd=tree, ALL_S="5", TAG="cpu-test")
    assert late.returncode == 0 and late.stdout.count("skipped") == 4, late.stderr + late.stdout
    assert "(ALL_S=5 DEPTH=110 DEVICE=cpu, commit abc123-dirty)" in late.stdout.splitlines()[0]


def test_all_cuts_a_stage_at_the_overall_deadline(tmp_path: Path) -> None:
    """`all`: a stage's limit is its own or the time left before ALL_S, whichever is less, so
    that the command ends before the device tool's 600 s."""
    tree = tmp_path / "tree"
    (tree / "tests").mkdir(parents=True)
    (tree / "tests" / "test_speed.py").write_text(
        "import time\n\ndef test_cuda_slow():\n    time.sleep(120)\n"
    )
    # a preset TAG spares the start its torch import: the 10 s before the deadline's last 4,
    # when the tests stage may still start, must not go to a slow machine's import
    limits = {"ALL_S": "14", "MIN_STAGE_S": "4", "TAG": "cpu-test"}
    done = stage(tmp_path, "all", *TINY_BENCH, cwd=tree, **limits)
    (log,) = (tmp_path / "out").glob("*-all.txt")
    text = log.read_text()
    assert done.returncode == 0, done.stderr + text
    assert "== stage tests, at most 150 s" not in text
    assert "== stage tests: stopped at its" in text and text.count("skipped") == 3, text


@pytest.mark.parametrize("passes", [True, False])
def test_check_stage_fails_when_a_cuda_test_fails(tmp_path: Path, passes: bool) -> None:
    """docs/speed.md: `check` is the CUDA tests (both parts) and a short benchmark; the device
    tool shows only the status and the tail: a failed test fails the stage, before the bench."""
    tree = tmp_path / "tree"
    (tree / "tests").mkdir(parents=True)
    (tree / "tests" / "test_speed.py").write_text(
        f"def test_cuda_step():\n    assert {passes}\n\ndef test_cuda_compiled_step():\n    pass\n"
    )
    done = stage(tmp_path, "check", *TINY_BENCH, cwd=tree, VARIANTS="none", TAG="cpu-test")
    assert (done.returncode == 0) is passes, done.stderr + done.stdout
    assert "test_cuda_compiled_step PASSED" in done.stdout  # the second part ran all the same
    assert bool(list((tmp_path / "out").glob("*-smoke.json"))) is passes


def test_data_stage_moves_the_carried_files_out_of_the_tree(tmp_path: Path) -> None:
    carried = tmp_path / "tree" / ".carry" / "cifar"
    carried.mkdir(parents=True)
    (carried / "data_batch_1.bin").write_bytes(b"x")
    env = {"OUT": str(tmp_path / "out"), "CIFAR": str(tmp_path / "cifar"), "DEVICE": "cpu"}
    done = subprocess.run(
        ["bash", str(SCRIPT), "data", "1"],
        cwd=tmp_path / "tree",
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert (tmp_path / "cifar" / "cifar-10-batches-bin" / "data_batch_1.bin").read_bytes() == b"x"
    assert not list(carried.iterdir())
    assert "data_batch_1.bin" in (tmp_path / "out" / "data-part1.txt").read_text()


def test_every_default_variant_list_parses() -> None:
    """A misspelt lever in a default would stop a whole stage of a GPU lease."""
    cuda = torch.device("cuda")
    specs = re.findall(r"VARIANTS(?:=|:-)([a-z0-9+,]+)", SCRIPT.read_text())
    assert len(specs) == 4, specs  # all, check, bench, compile
    for spec in [*specs, bench.DEFAULT_VARIANTS["cuda"]]:
        for variant in spec.split(","):
            assert bench.Levers.parse(variant, cuda).name == variant


def test_unknown_stage_is_refused(tmp_path: Path) -> None:
    done = stage(tmp_path, "benchmark")
    assert done.returncode == 2 and "unknown stage benchmark" in done.stderr


def next_name(tmp_path: Path, suffix: str) -> str:
    (path,) = (tmp_path / "out").glob(f"*-resnet110{suffix}")
    return path.name
