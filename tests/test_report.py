"""resnet-lab-report on hand-written results trees: every figure and status is checked.

The rows come from the real experiment files, so the reported figures below are the papers'.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import as_saved_before_the_options

from resnet_lab import report

DEFINITIONS = {e.name: e for e in report.load_experiments()}


def write_run(
    root: Path,
    rel: str,
    name: str,
    seed: int,
    error: float | None = None,
    *,
    status: str = "completed",
    profile: str = "paper",
    drop: tuple[str, ...] = (),
    experiment: dict | None = None,
    curve: list[tuple[int, float]] | None = None,
    finished_at: str = "2025-01-01T12:00:00",
    alive: bool = True,
) -> Path:
    """A run folder as the trainer writes it (docs/contracts.md), with known numbers. A run
    whose status is running holds its lock: a live process, or (``alive=False``) one that was
    killed and left it behind."""
    run = root / rel
    run.mkdir(parents=True)
    if experiment is None:
        experiment = {"name": name}
        if name:
            d = DEFINITIONS[name]
            experiment.update(table=d.table, row=d.row, order=d.order, reported=d.reported)
            experiment.update(statistic=d.statistic, source=d.source, note=d.note)
    result = {
        "schema_version": 1,
        "status": status,
        "experiment": experiment,
        "seed": seed,
        "profile": profile,
        "step": 64000,
        "max_steps": 64000,
        "eval_split": "test",
        "final_test_error": error,
        "best_test_error": error,
        "best_step": 64000,
        "last_test_error": error,
        "final_train_error": 0.1,
        "final_train_loss": 0.01,
        "diverged_at_step": 1200 if status == "diverged" else None,
        "wall_time_s": 100.0,
        "images_per_s": 8000.0,
        "device": "cpu",
        "versions": {"python": "3.11.7"},
        "git_commit": None,
        "cpu_threads": 2,
        "precision": "fp32",
        "num_params": 1727962,
        "run_dir": str(run),
        "started_at": "2025-01-01T10:00:00",
        "finished_at": finished_at,
        "config": {"seed": seed, "profile": profile, "experiment": experiment},
    }
    for key in drop:
        del result[key]
    (run / "result.json").write_text(json.dumps(result))
    if status == "running":
        lock = run / "run.lock"
        lock.write_text(f"{socket.gethostname()} {_pid(alive)} heartbeat\n")
        if not alive:  # killed five minutes ago: its heartbeat stopped then
            os.utime(lock, (time.time() - 300, time.time() - 300))
    if curve is None:
        curve = [(2000, 60.0), (4000, 30.0)] + ([(64000, error)] if error is not None else [])
    lines = [json.dumps({"step": 100, "train/loss": 2.3, "lr": 0.01})]
    lines += [json.dumps({"step": step, "test/error": err}) for step, err in curve]
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run


def write_seeds(root: Path, name: str, errors: list[float | None], **kwargs) -> None:
    """One run per seed; None stands for a diverged run."""
    for seed, error in enumerate(errors):
        status = "diverged" if error is None else "completed"
        rel = f"multirun/{name.replace('/', '_')}/{seed}"
        write_run(root, rel, name, seed, error, status=status, **kwargs)


def read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="") as handle:
        return {line["name"]: line for line in csv.DictReader(handle)}


def _pid(alive: bool) -> int:
    """A live process (this test's parent), or one that has exited."""
    if alive:
        return os.getppid()
    ended = subprocess.Popen(["true"])
    ended.wait()
    return ended.pid


@pytest.fixture(scope="module")
def paper(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, dict[str, str]]]:
    """A half-finished paper sweep with every situation the report must handle."""
    root = tmp_path_factory.mktemp("results")
    write_seeds(root, "table1/original", [6.50, 6.70, 6.40, 6.90, 6.60])
    write_seeds(root, "table1/gate_b6", [8.0, 9.0, 10.0])
    write_run(root, "multirun/gate_b6_live/3", "table1/gate_b6", 3, status="running")
    write_seeds(root, "table1/gate_b0", [90.0, 85.0, 30.0, 25.0, 88.0])  # paper: fail
    write_seeds(root, "table1/dropout", [7.0, 8.0, 9.0, 10.0, 11.0])  # paper: fail
    write_seeds(root, "table1/scale_0_1", [None, None, None, 50.0, 60.0])
    write_seeds(root, "table1/conv1x1", [12.0, 12.5, 13.0, 13.5, None])
    for seed in (0, 1):  # crashed mid-way: result.json still says running
        write_run(
            root, f"old/gate_b7/{seed}", "table1/gate_b7", seed, status="running", alive=False
        )
    # an older lab: no schema_version / profile / best_test_error, another reported figure
    old_block = {"name": "table1/shortcut_gate_b6", "reported": "6.9", "order": 9}
    write_run(
        root,
        "old/sg6",
        "table1/shortcut_gate_b6",
        0,
        7.25,
        drop=("schema_version", "profile", "best_test_error"),
        experiment=old_block,
    )
    # older still: no final_test_error; the last eval line of metrics.jsonl stands in
    write_run(
        root,
        "old/s0505",
        "table1/scale_05_05",
        0,
        drop=("final_test_error",),
        curve=[(2000, 40.0), (64000, 12.0)],
    )
    write_seeds(root, "table6/resnet110", [6.3, 6.5, 6.6, 6.7, 6.8])
    # seed 0 of ResNet-20 twice: the finished run counts, the stale running one does not,
    # though it started after the other finished (the latest run would be the wrong one)
    write_run(root, "a/resnet20/0", "table6/resnet20", 0, 8.5, finished_at="2025-01-02")
    stale = write_run(
        root, "b/resnet20/0", "table6/resnet20", 0, status="running", finished_at="", alive=False
    )
    _edit_result(stale, started_at="2025-01-03T10:00:00")
    write_run(root, "adhoc/try", "", 0, 9.99)
    broken = root / "broken" / "result.json"
    broken.parent.mkdir()
    broken.write_text('{"status": "completed", "final_te')
    with (root / "multirun/table1_original/0/metrics.jsonl").open("a") as metrics:
        metrics.write('{"step": 6')  # a crash cut the last line short

    assert report.main(["--results", str(root)]) == 0
    return root, (root / "report.md").read_text(), read_csv(root / "report.csv")


# name: median, mean, std, best, diff, n, status
EXPECTED = {
    "table1/original": ("6.60", "6.62", "0.19", "6.40", "-0.01", "5", "ok"),
    "table1/gate_b6": (
        "9.00",
        "9.00",
        "1.00",
        "8.00",
        "0.30",
        "3",
        "ok, partial (3 of 5 seeds), running (1)",
    ),
    "table1/gate_b0": ("85.00", "63.60", "33.05", "25.00", "", "5", "fail (reproduced)"),
    "table1/dropout": (
        "9.00",
        "9.00",
        "1.58",
        "7.00",
        "",
        "5",
        "ok (paper: fail, not reproduced)",
    ),
    "table1/scale_0_1": (
        "inf",
        "55.00",
        "7.07",
        "50.00",
        "",
        "5",
        "fail (reproduced), diverged (3 of 5)",
    ),
    "table1/conv1x1": ("13.00", "12.75", "0.65", "12.00", "0.78", "5", "ok, diverged (1 of 5)"),
    "table1/gate_b7": ("", "", "", "", "", "0", "killed (2)"),
    "table1/shortcut_gate_b6": (
        "7.25",
        "7.25",
        "",
        "7.25",
        "0.34",
        "1",
        "ok, partial (1 of 5 seeds)",
    ),
    "table1/scale_05_05": (
        "12.00",
        "12.00",
        "",
        "12.00",
        "-0.35",
        "1",
        "ok, partial (1 of 5 seeds)",
    ),
    "table1/scale_05_1": ("", "", "", "", "", "0", "missing"),
    "table6/resnet110": ("6.60", "6.58", "0.19", "6.30", "-0.13", "5", "ok"),
    "table6/resnet20": ("8.50", "8.50", "", "8.50", "-0.25", "1", "ok, partial (1 of 5 seeds)"),
    "table2/full_preact_164": ("", "", "", "", "", "0", "missing"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_csv_row(paper, name: str) -> None:
    _, _, rows = paper
    columns = ("median", "mean", "std", "best", "diff", "n", "status")
    assert tuple(rows[name][c] for c in columns) == EXPECTED[name]


def test_csv_has_every_row_with_its_definition(paper) -> None:
    _, _, rows = paper
    assert set(rows) == set(DEFINITIONS)
    for name, e in DEFINITIONS.items():  # each row's own definition, every column of it
        line = rows[name]
        assert (line["table"], line["row"], line["statistic"]) == (e.table, e.row, e.statistic)
        assert line["reported"] == (e.reported or "")
    assert rows["table1/gate_b6"]["reported"] == "8.70"
    assert rows["table1/gate_b6"]["statistic"] == "median of 5"
    assert rows["table6/resnet110"]["statistic"] == "best of 5"
    assert rows["table1/gate_b6"]["table"] == DEFINITIONS["table1/gate_b6"].table
    # the statistic diff compares: a row whose paper states none is compared by its median
    assert [rows[n]["measure"] for n in ("table6/resnet110", "table6/resnet20")] == [
        "best",
        "median",
    ]


def test_markdown_rows(paper) -> None:
    _, text, _ = paper
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    lines = {line.split("`")[1]: line for line in rows}
    # the paper's statistic is bold, diff is signed, mean carries its std
    assert (
        "| 6.61 (median of 5) | **6.60** | 6.62 ± 0.19 | 6.40 | -0.01 | 5 | ok |"
        in lines["table1/original"]
    )
    assert "| **6.30** | -0.13 | 5 | ok |" in lines["table6/resnet110"]
    assert "fail (>20%, median of 5) | **85.00** |" in lines["table1/gate_b0"]
    assert "| **diverged** | 55.00 ± 7.07 | 50.00 |  | 5 |" in lines["table1/scale_0_1"]
    assert lines["table1/scale_05_1"].endswith("| 0 | missing |")
    assert "****" not in text  # no bold statistic of nothing in a missing row
    assert "| killed (2) |" in lines["table1/gate_b7"]
    # gate_b7's runs were killed: it has runs, but no figure yet
    missing = len(DEFINITIONS) - 11
    # the ad-hoc run is counted, not taken for lost
    assert (
        f"Rows: {len(DEFINITIONS)}, measured: 10, with runs unfinished or not counted: 1, "
        f"missing: {missing}; 1 run(s) of no row, listed at the end." in text
    )


def test_markdown_groups_rows_by_table_in_order(paper) -> None:
    _, text, _ = paper
    titles = [line[3:] for line in text.splitlines() if line.startswith("## ")]
    firsts = ("table1/original", "table2/original_110", "table3/preact_1001", "table6/resnet20")
    assert titles[:4] == [DEFINITIONS[n].table for n in firsts]  # the papers' tables first
    for name in firsts:  # each table says where its reported figures come from
        assert f"Source: {DEFINITIONS[name].source}." in text
    table1 = text.split("## ")[1]
    order = [
        line.split("`")[1] for line in table1.splitlines() if line.startswith("| ") and "`" in line
    ]
    assert order == sorted(order, key=lambda n: DEFINITIONS[n].order)
    assert len(order) == 11


def test_notes_problems_and_sections(paper) -> None:
    _, text, _ = paper
    assert "run `old/sg6` lacks fields: schema_version, profile, best_test_error" in text
    assert "reported: '6.9' -> '6.91'" in text and "the experiment file's is used" in text
    assert "final error taken from the last line of metrics.jsonl" in text
    assert "could not read `broken/result.json`" in text.split("\n## Problems\n", 1)[1]
    assert "1 more run(s) of an already counted seed left out" in text
    assert "## Ad-hoc runs" in text and "| `adhoc/try` | completed | 0 | 9.99 |" in text
    assert "no runs yet: `table1/scale_05_1`" in text
    (no_runs,) = [line for line in text.splitlines() if "no runs yet: `table1/" in line]
    assert "`table1/gate_b7`" not in no_runs  # its runs were killed: runs, not yet a figure
    assert "the lab runs b_g = 0 as the representative" in text
    assert "NOT comparable" not in text


def test_figures_written(paper) -> None:
    root, text, _ = paper
    for name in ("curves_table1", "measured_table1", "curves_table6", "measured_table6"):
        png = root / f"{name}.png"
        assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
        assert f"]({name}.png)" in text
    for name in ("curves_table2", "measured_table2"):  # Table 2 has no run: nothing to draw
        assert not (root / f"{name}.png").exists() and f"]({name}.png)" not in text


def test_a_figure_with_nothing_to_draw_is_not_left_from_an_earlier_report(
    tmp_path: Path,
) -> None:
    args = ["--results", str(tmp_path), "--tables", "table6", "--seeds", "1"]
    write_seeds(tmp_path, "table6/resnet20", [8.0])
    assert report.main(args) == 0
    assert (tmp_path / "measured_table6.png").exists()
    for path in tmp_path.glob("multirun/*/*/result.json"):  # now only a run still training
        path.write_text(path.read_text().replace('"completed"', '"running"'))
    assert report.main(args) == 0
    assert not (tmp_path / "measured_table6.png").exists()
    # a table this report leaves out: its figures of the runs then go too
    (tmp_path / "curves_table1.png").write_bytes(b"an earlier report's")
    assert report.main(args) == 0
    assert not (tmp_path / "curves_table1.png").exists()


def test_figures_show_what_the_table_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A single eval point is drawn (a marker), the legend's n is the table's (an interrupted
    run's curve so far is said as such), and diverged seeds are marked apart."""
    from matplotlib.figure import Figure

    write_seeds(tmp_path, "table1/gate_b0", [30.0, None], curve=[(4, 60.0)])
    write_run(tmp_path, "x/2", "table1/gate_b0", 2, status="interrupted", curve=[(4, 70.0)])
    runs, _ = report.find_runs([tmp_path])
    (table,) = report.build_tables([DEFINITIONS["table1/gate_b0"]], runs, seeds=3)
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    assert report.plot_curves(table, tmp_path / "curves.png")
    (eval_line,) = [line for line in drawn[0].axes[0].lines if line.get_linestyle() == "-"]
    assert eval_line.get_marker() == "o" and list(eval_line.get_xdata()) == [4]
    assert eval_line.get_label() == "exclusive gating, init b_g = 0 to -5 (n=2, +1 unfinished)"
    assert report.plot_measured(table, tmp_path / "measured.png")
    texts = [t.get_text() for t in drawn[1].axes[0].texts]
    assert texts == ["diverged (1)"]
    # the median of 30% and a diverged seed diverged: its bar at the edge is orange, as the
    # diverged seeds' triangle, not read as an error there
    from matplotlib.colors import to_rgba

    assert table.rows[0].measured == float("inf")
    marks = drawn[1].axes[0].collections
    orange = [c for c in marks if tuple(c.get_facecolor()[0]) == to_rgba("tab:orange")]
    assert len(orange) == 2


def test_the_figures_leave_a_failed_run_out_and_mark_the_papers_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crashed seed's curve is left out, untold (plot_curves); the curves show the papers'
    20% line, the measured figure the reported one."""
    from matplotlib.figure import Figure

    name = "table6/resnet20"
    write_seeds(tmp_path, name, [8.0], curve=[(4, 60.0), (8, 8.0)])
    write_run(tmp_path, "x/1", name, 1, status="failed", curve=[(4, 90.0), (8, 90.0)])
    runs, _ = report.find_runs([tmp_path])
    (table,) = report.build_tables([DEFINITIONS[name]], runs, seeds=2)
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    assert report.plot_curves(table, tmp_path / "curves.png")
    lines = drawn[0].axes[0].lines
    (median,) = [line for line in lines if line.get_linestyle() == "-"]
    assert median.get_label().endswith("(n=1)") and list(median.get_ydata()) == [60.0, 8.0]
    assert [list(line.get_ydata()) for line in lines if line.get_linestyle() == ":"] == [
        [20.0, 20.0]
    ]
    assert report.plot_measured(table, tmp_path / "measured.png")
    marks = [
        tuple(c.get_offsets()[0]) for c in drawn[1].axes[0].collections if len(c.get_offsets())
    ]
    assert (DEFINITIONS[name].reported_value, 0.0) in marks


def test_the_measured_figure_keeps_its_words_inside_beside_long_row_labels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The neighbours' row labels are long: the axes' title and label, centred on the narrowed
    axes, ran off both edges of the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.text import Text

    write_seeds(tmp_path, "neighbours/stochastic_depth_110", [5.5])
    runs, _ = report.find_runs([tmp_path])
    rows = [e for e in DEFINITIONS.values() if e.table == DEFINITIONS["neighbours/wrn_28_10"].table]
    (table,) = report.build_tables(rows, runs, seeds=1)
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    assert report.plot_measured(table, tmp_path / "measured.png")
    (figure,) = drawn
    FigureCanvasAgg(figure)
    figure.draw_without_rendering()
    renderer, bounds = figure.canvas.get_renderer(), figure.bbox
    ticks = set(figure.axes[0].get_xticklabels())  # those past the axis' end are not drawn
    words = [t for t in figure.findobj(Text) if t.get_visible() and t.get_text()]
    words = [t for t in words if t not in ticks]
    assert table.figure_title in [t.get_text() for t in words]
    for text in words:
        extent = text.get_window_extent(renderer)
        assert bounds.x0 - 1 <= extent.x0 and extent.x1 <= bounds.x1 + 1, text.get_text()


def test_the_median_curve_reads_seeds_of_another_cadence_between_their_points(
    tmp_path: Path,
) -> None:
    """trainer.eval_every is not compared: a seed evaluated twice as often set the median alone
    at its extra steps, and the curve zig-zagged."""
    curves = {
        0: [(2000, 20.0), (4000, 12.0)],
        1: [(1000, 30.0), (2000, 10.0), (3000, 8.0), (4000, 6.0)],
        2: [(2000, 16.0), (4000, 8.0)],
    }
    for seed, curve in curves.items():
        write_run(tmp_path, f"s/{seed}", "table1/original", seed, curve[-1][1], curve=curve)
    runs, _ = report.find_runs([tmp_path])
    assert report._median_curve(runs) == ([1000, 2000, 3000, 4000], [30.0, 16.0, 12.0, 8.0])


def test_labels_with_pipes_or_backticks_keep_the_markdown_tables_whole(tmp_path: Path) -> None:
    """A '|' in a folder's name or a row's label split the cell (the status fell off the row);
    a backtick ended the code span early."""
    import re

    for seed, label in enumerate(["adhoc|one", "adhoc`two"]):
        write_run(tmp_path, label, "", seed, 7.0)
    _own_row(tmp_path / "own" / "experiment", "mine/a", "'7.0'")
    row_file = tmp_path / "own" / "experiment" / "mine" / "a.yaml"
    row_file.write_text(row_file.read_text().replace("row: scale 0.9", "row: 'scale | 0.9'"))
    args = ["--results", str(tmp_path), "--config-dir", str(tmp_path / "own"), "--tables", "mine"]
    assert report.main(args) == 0
    lines = (tmp_path / "report.md").read_text().splitlines()
    cells = [re.split(r"(?<!\\)\|", line)[1:-1] for line in lines if line.startswith("| ")]
    assert {len(row) for row in cells} == {4, 10}  # the ad-hoc table's columns, the row table's
    assert "| ``adhoc`two`` | completed | 1 | 7.00 |" in lines
    assert any(line.startswith("| 1 | scale \\| 0.9 | `mine/a` |") for line in lines)


def test_the_median_curve_ends_where_the_median_seed_diverged(tmp_path: Path) -> None:
    """Three of five seeds diverge after step 1000: the table says fail, and the curve went on
    as the median of the two left, down to 9%."""
    name = "table1/gate_b0"
    for seed in range(5):
        diverged = seed < 3
        curve = [(1000, 85.0)] if diverged else [(1000, 50.0), (2000, 20.0), (3000, 9.0)]
        status = "diverged" if diverged else "completed"
        write_run(
            tmp_path, f"s/{seed}", name, seed, None if diverged else 9.0, status=status, curve=curve
        )
    runs, _ = report.find_runs([tmp_path])
    (table,) = report.build_tables([DEFINITIONS[name]], runs, seeds=5)
    assert table.rows[0].status.startswith("fail")
    assert report._median_curve(table.rows[0].runs) == ([1000], [85.0])
    # a seed diverged before its first evaluation: a median of 30% and it diverged, from the start
    write_run(tmp_path / "early", "a/0", name, 0, 30.0, curve=[(4, 30.0)])
    write_run(tmp_path / "early", "a/1", name, 1, status="diverged", curve=[])
    runs, _ = report.find_runs([tmp_path / "early"])
    assert report._median_curve(runs) == ([], [])


def test_smoke_profile_banner_and_out_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    titles = []  # a figure travels without report.md: it says so itself
    monkeypatch.setattr(
        report,
        "atomic_save_figure",
        lambda figure, path, **_: titles.append(
            (Path(path).name, figure.axes[0].get_title() or figure.get_suptitle())
        ),
    )
    root, out = tmp_path / "results", tmp_path / "report"
    write_seeds(root, "table1/original", [80.0, 85.0], profile="smoke")
    assert report.main(["--results", str(root), "--out", str(out), "--tables", "table1"]) == 0
    text = (out / "report.md").read_text()
    assert "**Profile `smoke`" in text and "NOT comparable with the papers' figures.**" in text
    smoke = "\nsmoke-test runs: NOT comparable with the paper's figures"
    title = DEFINITIONS["table1/original"].table
    assert titles == [("curves_table1.png", title + smoke), ("measured_table1.png", title + smoke)]
    own = report.TableResult("Mine", "mine", [], profile="quick")  # a --config-dir's profile
    assert own.figure_title == "Mine\nprofile quick: not the paper's recipe"
    assert "## " + DEFINITIONS["table6/resnet20"].table not in text
    rows = read_csv(out / "report.csv")
    assert rows["table1/original"]["status"] == "fail, partial (2 of 5 seeds)"
    # the CSV, read without report.md, says so too, on each row with runs (blank without)
    profiles = {row["profile"] for row in rows.values() if row["status"] != "missing"}
    assert profiles == {"smoke"}
    assert {row["profile"] for row in rows.values() if row["status"] == "missing"} == {""}
    write_seeds(root, "table1/gate_b0", [80.0], profile="smoke")  # the paper's "fail" row:
    assert report.main(["--results", str(root), "--out", str(out), "--tables", "table1"]) == 0
    status = read_csv(out / "report.csv")["table1/gate_b0"]["status"]  # a smoke run's failing
    assert status == "fail, partial (1 of 5 seeds)"  # reproduces nothing
    assert len(rows) == 11
    assert not (root / "report.md").exists()


def test_mixed_profiles_need_a_choice(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_seeds(tmp_path, "table6/resnet20", [8.0, 9.0])
    write_run(tmp_path, "smoke/0", "table6/resnet20", 0, 70.0, profile="smoke")
    assert report.main(["--results", str(tmp_path)]) == 2
    assert "mix profiles paper, smoke" in capsys.readouterr().err
    assert report.main(["--results", str(tmp_path), "--profile", "paper", "--seeds", "2"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "1 run(s) of other profiles (smoke) left out" in text
    assert read_csv(tmp_path / "report.csv")["table6/resnet20"]["status"] == "ok"
    # runs of other profiles in tables not asked for do not mix the ones asked for
    write_run(tmp_path, "smoke/t1", "table1/original", 0, 70.0, profile="smoke")
    (tmp_path / "smoke/0/result.json").unlink()
    assert report.main(["--results", str(tmp_path), "--tables", "table6", "--seeds", "2"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "1 run(s) of tables not asked for (table1: 1) left out" in text
    # nor does an ad-hoc run of another profile (a smoke check of one's own): the rows' decide
    write_run(tmp_path, "adhoc/0", "", 0, 70.0, profile="smoke")
    assert report.main(["--results", str(tmp_path), "--tables", "table6", "--seeds", "2"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "of profile `paper`" in text and "1 run(s) of other profiles (smoke) left out" in text


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert report.main(["--results", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.endswith(f"'{tmp_path / 'nope'}' does not exist\n")
    assert report.main(["--results", str(tmp_path), "--seeds", "0"]) == 2  # not read as unset
    assert "--seeds must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()
    assert report.main(["--results", str(tmp_path), "--tables", "table9"]) == 2
    assert "unknown table(s) table9" in capsys.readouterr().err
    for tables in ("", ","):  # an unset shell variable: all tables were reported, or none
        assert report.main(["--results", str(tmp_path), "--tables", tables]) == 2
        assert capsys.readouterr().err == (
            f"resnet-lab-report: error: --tables {tables!r} names no table: give them, e.g. "
            "table1,table6\n"
        )
    # a fuzz: each of these was accepted as if the mistake were not there
    for accept in ([""], [",", ""]):  # an unset shell variable: no setting accepted
        assert report.main(["--results", str(tmp_path), "--accept", *accept]) == 2
        given = " ".join(map(repr, accept))
        assert capsys.readouterr().err == (
            f"resnet-lab-report: error: --accept {given} names no setting: give them, e.g. "
            "trainer.precision\n"
        )
    assert report.main(["--results", str(tmp_path), "--tables", "table1, table1"]) == 2
    assert capsys.readouterr().err == (
        "resnet-lab-report: error: --tables table1, table1 names table1 twice: give each once\n"
    )
    with pytest.raises(SystemExit):  # 0,0 for 0,1? The row would expect one seed, not two
        report.main(["--results", str(tmp_path), "--seed-list", "0,0,1,2,1"])
    assert "argument --seed-list: '0,0,1,2,1' names seed(s) 0, 1 more than once: give each " in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):  # --seeds at its default value is given too: a clash
        report.main(["--results", str(tmp_path), "--seeds", "5", "--seed-list", "0,1"])
    assert "argument --seed-list: not allowed with argument --seeds" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    # a run's checkpoint folder (the report's files among those a live run prunes)
    ckpt = tmp_path / "run" / "ckpt"
    ckpt.mkdir(parents=True)
    (ckpt / "step_0000001.pt").write_bytes(b"")
    for args, told in [
        (["--results", str(ckpt)], f"--results {ckpt} is"),
        (["--results", str(tmp_path), "--out", f"{ckpt}/r"], f"--out {ckpt}/r lies in"),
    ]:
        assert report.main(args) == 2
        assert capsys.readouterr().err.startswith(
            f"resnet-lab-report: error: {told} a run's checkpoint folder ({ckpt}): give "
        )
    assert report.main(["--results", str(tmp_path), "--out", f"{ckpt}/../report"]) == 0
    assert (tmp_path / "run" / "report" / "report.md").exists()  # in the run's, not in ckpt/
    mine = tmp_path / "mine"  # a user's own step_*.pt files above the outputs: no run's ckpt/
    (mine / "results").mkdir(parents=True)
    (mine / "step_0000001.pt").write_bytes(b"")
    assert report.main(["--results", str(mine / "results")]) == 0
    empty = tmp_path / "ckpt"  # a folder of the user's named ckpt, holding no checkpoint
    empty.mkdir()
    assert report.main(["--results", str(mine / "results"), "--out", str(empty / "r")]) == 0


def test_runs_this_user_may_not_write_beside_need_an_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """A read-only copy of the runs (a cluster's results mounted on a laptop): the report's
    default folder, the first --results, was told as "--out", which was not given. Refused
    writes are faked: the tests may run as root."""
    copy = tmp_path / "copy"
    write_seeds(copy, "table1/original", [7.0])
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != copy)
    assert report.main(["--results", str(copy)]) == 2
    assert capsys.readouterr().err == (
        f"resnet-lab-report: error: {copy}, the first --results, where the report goes without "
        f"--out: cannot write in {copy} (permission denied): give --out a folder for the report\n"
    )
    assert report.main(["--results", str(copy), "--out", str(tmp_path / "report")]) == 0


def test_without_results_the_report_says_where_runs_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """The default folder is make reproduce-table's; a user's own runs are elsewhere."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESNET_LAB_OUTPUTS", raising=False)
    monkeypatch.setenv("RESNET_LAB_MULTIRUN", str(tmp_path / "sweeps"))
    assert report.main([]) == 2
    said = (
        "results directory 'results' does not exist: make reproduce-table writes its runs there; "
        f"resnet-lab writes a single run below outputs/ and a sweep below {tmp_path}/sweeps/"
    )
    assert capsys.readouterr().err == f"resnet-lab-report: error: {said}\n"
    (tmp_path / "outputs").mkdir()
    (tmp_path / "sweeps").mkdir()
    assert report.main([]) == 2
    said += f" (here: --results outputs {tmp_path}/sweeps)"
    assert capsys.readouterr().err == f"resnet-lab-report: error: {said}\n"


def test_empty_results_dir_reports_everything_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert report.main(["--results", str(tmp_path)]) == 0
    rows = read_csv(tmp_path / "report.csv")
    assert {row["status"] for row in rows.values()} == {"missing"}
    text = (tmp_path / "report.md").read_text()
    assert f"missing: {len(DEFINITIONS)}" in text
    assert ": no runs." in text and "of profile" not in text  # no profile to claim
    assert "no result.json under" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken/result.json").write_text("{")
    assert report.main(["--results", str(tmp_path), "--tables", "table6"]) == 0
    assert "no result.json under" not in capsys.readouterr().err  # one, damaged: Problems says
    assert "could not read `broken/result.json`" in (tmp_path / "report.md").read_text()
    write_run(tmp_path, "smoke/0", "table6/resnet20", 0, 70.0, profile="smoke")
    assert report.main(["--results", str(tmp_path), "--profile", "paper"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert ": no runs of profile `paper`." in text and "could not read `broken" in text
    assert "no result.json" not in capsys.readouterr().err  # there are some: see Problems


def test_the_report_files_are_written_whole_or_not_at_all(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """report.csv was written in place: a kill or a full disk mid-way left a file that still
    parsed, its last rows missing (an empty one on an error), and a full disk was a trace."""
    import errno

    write_seeds(tmp_path / "runs", "table1/original", [6.37, 6.38, 6.36, 6.39])
    out = tmp_path / "out"
    args = ["--results", str(tmp_path / "runs"), "--out", str(out), "--tables", "table1"]
    assert report.main(args) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(read_csv(out / "report.csv")) > 2

    def cut_short(*args: Any) -> Any:
        writes.append(args)
        if len(writes) == 3:  # the header, a row, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")

    writes: list[Any] = []
    monkeypatch.setattr(report.csv, "writer", lambda handle: SimpleNamespace(writerow=cut_short))
    assert report.main(args) == 2
    assert capsys.readouterr().err.endswith(
        f"resnet-lab-report: error: cannot write the report into {out} (No space left on "
        "device): make room or give another --out\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nor a temporary file


def test_crashed_run_is_reported_as_failed(tmp_path: Path) -> None:
    """The trainer writes status "failed" when a run crashes; it is neither ok nor running."""
    write_run(tmp_path, "a/0", "table6/resnet56", 0, 7.0)
    write_run(tmp_path, "a/1", "table6/resnet56", 1, status="failed")
    assert report.main(["--results", str(tmp_path), "--seeds", "2"]) == 0
    status = read_csv(tmp_path / "report.csv")["table6/resnet56"]["status"]
    assert status == "ok, partial (1 of 2 seeds), failed (1)"


def test_curves_hold_eval_and_training_error(tmp_path: Path) -> None:
    """Fig. 6 of the ResNet paper: test error solid, training error dashed, one colour per row."""
    run = write_run(tmp_path, "a/0", "table6/resnet20", 0, 9.0, curve=[(100, 50.0), (200, 9.0)])
    with (run / "metrics.jsonl").open("a") as f:
        f.write('{"step": 100, "train/error": 60.0}\n{"step": 200, "train/error": 5.0}\n')
    assert report.read_curve(run) == [(100, 50.0), (200, 9.0)]
    assert report.read_curve(run, train=True) == [(100, 60.0), (200, 5.0)]
    assert report.main(["--results", str(tmp_path), "--tables", "table6"]) == 0
    assert (tmp_path / "curves_table6.png").stat().st_size > 1000


def test_unknown_profile_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A typo (papr) must not produce a report of no runs."""
    write_run(tmp_path, "paper/0", "table6/resnet20", 0, 8.0)
    assert report.main(["--results", str(tmp_path), "--profile", "papr"]) == 2
    err = capsys.readouterr().err
    assert "unknown --profile 'papr'; choose from paper, smoke" in err
    assert not (tmp_path / "report.md").exists()
    assert report.known_profiles() == ["paper", "smoke"]


def _own_row(directory: Path, name: str, reported: str) -> None:
    """A user's own experiment file, as docs/extending.md writes it."""
    path = directory / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# @package _global_\n"
        "defaults:\n  - override /shortcut: scale\n"
        f"experiment:\n  name: {name}\n  table: My rows\n  row: scale 0.9\n  order: 1\n"
        f"  reported: {reported}\n  statistic: median of 5\n  source: resnet-lab\n  note: ''\n"
    )


@pytest.mark.parametrize(
    "reported", ["'~7'", "''", "n/a", "'7.5%'", "inf", "'-3'", "'101'", "true", "'100.01'"]
)
def test_a_reported_figure_that_is_not_one_is_refused(
    reported: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    _own_row(tmp_path / "experiment", "mine/scale_09", reported)
    with pytest.raises(report.ConfigError, match=r"mine/scale_09\.yaml: reported=.*or null"):
        report.load_experiments(tmp_path / "experiment")
    monkeypatch.setattr(report, "experiments_dir", lambda: tmp_path / "experiment")
    assert report.main(["--results", str(tmp_path)]) == 2
    assert "must be the paper's error in percent" in capsys.readouterr().err
    # and before a run trains the row (it trained, to be refused by the report only)
    from resnet_lab.command_line import check_command_line

    with pytest.raises(SystemExit):
        check_command_line(["-cd", str(tmp_path), "+experiment=mine/scale_09"], "resnet-lab", True)
    assert "scale_09.yaml: reported=" in capsys.readouterr().err


@pytest.mark.parametrize("reported", ["'0'", "'100'", "'6.61'", "fail", "null"])
def test_a_reported_figure_at_the_edges_is_one(reported: str, tmp_path: Path) -> None:
    """0 and 100 are errors in percent, as a figure between them, "fail" and none are."""
    _own_row(tmp_path / "experiment", "mine/scale_09", reported)
    [row] = report.load_experiments(tmp_path / "experiment")
    assert row.name == "mine/scale_09"


def test_a_rows_reported_figure_is_checked_wherever_its_package_puts_it(tmp_path: Path) -> None:
    """A row describing itself in experiment.'s package (no `_global_` header) is checked too;
    an interpolation is the run's to resolve (it was a trace here)."""
    from resnet_lab.config import row_problem

    (tmp_path / "desc.yaml").write_text("name: ours/desc\nreported: '6.61%'\n")
    assert "desc.yaml: reported='6.61%' must be" in str(row_problem(tmp_path / "desc.yaml"))
    (tmp_path / "env.yaml").write_text(
        "# @package _global_\nexperiment:\n  reported: ${oc.env:RESNET_LAB_NO_SUCH_VARIABLE}\n"
    )
    assert row_problem(tmp_path / "env.yaml") is None


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (
            "experiment: {name: x\n",
            "cannot be read: while parsing a flow mapping: expected ',' or '}', but got "
            "'<stream end>' (line 2, column 1)",
        ),
        (
            "experiment: {name: x}\n---\nb: 1\n",
            "cannot be read: expected a single document in the stream: but found another",
        ),
        ("experiment: 5\n", ": `experiment:` must be a mapping of the row's fields"),
        (
            "experiment: {order: first}\n",
            ": Value 'first' of type 'str' could not be converted to Integer (experiment.order)",
        ),
        ("- 1\n", ": `experiment:` must be a mapping of the row's fields"),
    ],
)
def test_an_unreadable_experiment_file_is_a_clear_error(
    tmp_path: Path, text: str, why: str
) -> None:
    """One line that names the place (YAML's and OmegaConf's messages run over three)."""
    (tmp_path / "broken.yaml").write_text(text)
    with pytest.raises(report.ConfigError, match=r"broken\.yaml") as caught:
        report.load_experiments(tmp_path)
    assert "\n" not in str(caught.value) and why in str(caught.value)


def test_a_mistake_the_run_would_refuse_is_refused_naming_its_file(tmp_path: Path) -> None:
    """A misspelt key in a row (Hydra's five lines when the row is chosen) is one line in the
    report too; files in another package are read where they put their keys: a config rows
    include (``- /experiment/common/table_info@_global_``) blocked every table."""
    row = "experiment:\n  name: r\n  reported: '5.0'\n"
    (tmp_path / "r.yaml").write_text(f"# @package _global_\n# my row\nmodel:\n  detph: 8\n{row}")
    with pytest.raises(report.ConfigError) as caught:
        report.load_experiments(tmp_path)
    assert str(caught.value) == (
        f"experiment file {tmp_path / 'r.yaml'}: unknown key(s) model.detph (did you mean "
        "model.depth?): not a resnet-lab setting"
    )
    (tmp_path / "r.yaml").write_text(f"# @package _global_\n# my row\n{row}")
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "table_info.yaml").write_text(
        "experiment:\n  table: Mine\n  statistic: median of 5\nmodel:\n  depth: 8\n"
    )
    (tmp_path / "common" / "base.yaml").write_text("model:\n  depth: 8\n")  # no row at all
    assert [e.name for e in report.load_experiments(tmp_path)] == ["common/table_info", "r"]


def test_a_row_named_otherwise_than_its_path_is_refused(tmp_path: Path) -> None:
    """A row copied from another, its name left as the original's: the report found both
    rows' runs by one name, took the copy's settings for both and counted neither row's runs
    (the run refuses such a row; ``--check`` passed it)."""
    _own_row(tmp_path, "mine/r20", "'8.75'")
    copy = tmp_path / "mine" / "r32.yaml"
    copy.write_text((tmp_path / "mine" / "r20.yaml").read_text().replace("scale", "gate"))
    with pytest.raises(report.ConfigError) as caught:
        report.load_experiments(tmp_path)
    assert str(caught.value) == (
        "the row experiment/mine/r32.yaml names itself experiment.name=mine/r20: a row's name "
        "is its path, mine/r32; correct the file"
    )


def test_a_row_without_a_published_figure_is_reported_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiments = tmp_path / "experiment"
    _own_row(experiments, "mine/scale_09", "null")
    _own_row(experiments, "mine/scale_08", "7.5")  # a float in YAML: a figure too
    monkeypatch.setattr(report, "experiments_dir", lambda: experiments)
    results = tmp_path / "results"
    for seed, error in enumerate([9.0, 11.0, 10.0]):
        write_run(
            results,
            f"mine/{seed}",
            "mine/scale_09",
            seed,
            error,
            experiment={"name": "mine/scale_09", "table": "My rows", "reported": None},
        )
    assert report.main(["--results", str(results), "--seeds", "3"]) == 0
    rows = read_csv(results / "report.csv")
    assert rows["mine/scale_09"]["reported"] == "" and rows["mine/scale_09"]["diff"] == ""
    assert rows["mine/scale_09"]["median"] == "10.00"
    assert rows["mine/scale_08"]["reported"] == "7.5"
    assert "## My rows" in (results / "report.md").read_text()


def test_runs_in_linked_folders_are_found_once(tmp_path: Path) -> None:
    """A table assembled from links to run folders (a user's selection of runs) was reported
    empty: the search did not enter linked folders. A link to a folder above loops no more."""
    write_seeds(tmp_path / "runs", "table1/original", [7.0, 8.0, 9.0])
    table = tmp_path / "table"
    table.mkdir()
    for seed in range(3):
        (table / f"seed{seed}").symlink_to(
            tmp_path / "runs" / "multirun" / "table1_original" / str(seed)
        )
    (table / "loop").symlink_to(tmp_path)  # above: runs outside the root, or the whole disk
    (table / "same").symlink_to(table / "seed0")  # a run linked twice: read once
    write_seeds(tmp_path / "elsewhere", "table1/original", [1.0, 2.0, 3.0, 4.0])
    row = _row(table, "table1/original", seeds=3)
    assert (row.n, row.median) == (3, 8.0)
    runs, _ = report.find_runs([table])
    assert sorted(run.label for run in runs) == ["same", "seed1", "seed2"]  # seed0 once


def test_a_folder_the_system_will_not_list_is_a_problem_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another user's folder among the results (or as --results): its runs were reported
    missing without a word. Refusals are faked: the tests may run as root."""
    write_seeds(tmp_path / "runs" / "mine", "table1/original", [7.0, 8.0])
    write_seeds(tmp_path / "runs" / "theirs", "table1/original", [1.0])
    theirs = tmp_path / "runs" / "theirs"
    listed = os.scandir

    def scandir(path: Any = ".") -> Any:
        if Path(path) == theirs:
            raise PermissionError(13, "Permission denied", str(path))
        if Path(path).name == "gone":  # removed as the report read (a refused launch's folder)
            raise FileNotFoundError(2, "No such file or directory", str(path))
        return listed(path)

    (tmp_path / "runs" / "gone").mkdir()
    monkeypatch.setattr(os, "scandir", scandir)
    for root in (tmp_path / "runs", theirs):
        runs, problems = report.find_runs([root])
        assert len(runs) == (2 if root != theirs else 0)
        assert problems == [
            f"could not list `{theirs}` (Permission denied): runs in it are not counted"
        ]


def _row(root: Path, name: str, seeds: int = 5, **changes: str) -> report.RowResult:
    """The report's row for experiment ``name`` over every run below ``root``, in-process."""
    runs, problems = report.find_runs([root])
    assert not problems
    experiment = replace(DEFINITIONS[name], **changes)
    return report.summarize(experiment, [r for r in runs if r.name == name], seeds)


def _edit_result(run: Path, **fields: object) -> None:
    path = run / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **fields}))


def test_median_of_an_even_number_of_seeds_is_the_midpoint(tmp_path: Path) -> None:
    write_seeds(tmp_path, "table1/original", [6.0, 7.0, 8.0, 12.0])  # mean 8.25
    row = _row(tmp_path, "table1/original", seeds=4)
    assert (row.median, row.measured, round(row.diff, 2), row.status) == (7.5, 7.5, 0.89, "ok")


def test_a_best_of_5_row_whose_seeds_all_diverged_fails(tmp_path: Path) -> None:
    write_seeds(tmp_path, "table6/resnet110", [None, None])
    row = _row(tmp_path, "table6/resnet110", seeds=2)
    assert row.best == row.measured == float("inf") and row.diff is None
    assert (row.mean, row.n, row.status) == (None, 2, "fail, diverged (2 of 2)")
    # one seed finished: its best is the row's figure, though the median diverged
    write_seeds(tmp_path / "one", "table6/resnet110", [6.5, None, None, None, None])
    row = _row(tmp_path / "one", "table6/resnet110")
    assert (row.best, row.median, row.measured) == (6.5, float("inf"), 6.5)
    assert (round(row.diff, 2), row.status) == (0.07, "ok, diverged (4 of 5)")


def test_the_mean_statistic_counts_a_diverged_seed_as_failing(tmp_path: Path) -> None:
    write_seeds(tmp_path, "table6/resnet20", [7.0, 8.0, 12.0])  # median 8
    write_seeds(tmp_path / "b", "table6/resnet32", [7.0, 8.0, None])
    row = _row(tmp_path, "table6/resnet20", seeds=3, statistic="mean of 5")
    assert (row.measured, round(row.diff, 2), row.status) == (9.0, 0.25, "ok")
    row = _row(tmp_path / "b", "table6/resnet32", seeds=3, statistic="mean of 5")
    assert row.mean == 7.5  # the mean column leaves diverged seeds out ...
    assert row.measured == float("inf")  # ... the paper's mean does not
    assert (row.diff, row.status) == (None, "fail, diverged (1 of 3)")
    table = report.TableResult("Table 6", "table6", [row])
    cells = report._markdown_table(table)[-1].split(" | ")
    assert cells[4:7] == ["8.00", "**diverged**", "7.00"]  # median, mean (the bold one), best
    report.write_csv([table], tmp_path / "r.csv")  # the CSV says so too
    line = read_csv(tmp_path / "r.csv")["table6/resnet32"]
    assert (line["measure"], line["mean"], line["status"]) == ("mean", "inf", row.status)
    assert line["std"] == ""  # report.md shows none: the finished seeds' std is not the mean's


def test_diff_is_that_of_the_figures_as_printed(tmp_path: Path) -> None:
    """6.375 prints as 6.38: against a reported 6.37 the diff is +0.01, not +0.00."""
    write_seeds(tmp_path, "table1/original", [6.37, 6.38, 6.36, 6.39])
    row = _row(tmp_path, "table1/original", seeds=4, reported="6.37")
    assert report._fmt(row.median) == "6.38" and report._fmt(row.diff, signed=True) == "+0.01"


def test_diff_is_blank_when_the_median_diverged(tmp_path: Path) -> None:
    write_seeds(tmp_path, "table1/original", [None, None, None, 7.0, 7.0])
    row = _row(tmp_path, "table1/original")
    report.write_csv([report.TableResult("Table 1", "table1", [row])], tmp_path / "r.csv")
    line = read_csv(tmp_path / "r.csv")["table1/original"]
    assert (line["median"], line["diff"], line["status"]) == ("inf", "", "fail, diverged (3 of 5)")


def test_a_statistic_of_exactly_20_percent_is_ok(tmp_path: Path) -> None:
    """docs/report.md: ok = at most 20% error, fail = above 20%, as printed: 20.004 showed as
    20.00 beside "fail"."""
    write_seeds(tmp_path, "table1/original", [20.0])
    assert _row(tmp_path, "table1/original", seeds=1).status == "ok"
    write_seeds(tmp_path / "b", "table1/original", [20.004])
    assert _row(tmp_path / "b", "table1/original", seeds=1).status == "ok"
    write_seeds(tmp_path / "c", "table1/original", [20.006])  # 20.01
    assert _row(tmp_path / "c", "table1/original", seeds=1).status == "fail"


def test_a_cifar100_row_fails_at_chance_not_at_20_percent(tmp_path: Path) -> None:
    """The papers' "fail" (above 20%) is CIFAR-10's: every CIFAR-100 figure lies above it. A
    faithful reproduction of one was reported `fail`, and its figures drew the 20% line. The
    row's data decide, not its runs' records (an older or hand-made one may lack them)."""
    name = "cifar100/preact_164"
    assert DEFINITIONS[name].num_classes == 100 and DEFINITIONS["table1/original"].num_classes == 10
    write_seeds(tmp_path, name, [24.10, 24.30, 24.33, 24.50, 24.60])  # configs without data
    row = _row(tmp_path, name)
    assert (row.measured, row.diff, row.status) == (24.33, 0.0, "ok")
    for seed in (3, 4):
        _edit_result(tmp_path / f"multirun/cifar100_preact_164/{seed}", status="diverged")
    assert _row(tmp_path, name).status == "ok, diverged (2 of 5)"  # median 24.33
    write_seeds(tmp_path / "chance", name, [99.0, 98.9, 99.2])  # it learned nothing
    assert _row(tmp_path / "chance", name, seeds=3).status == "fail"
    write_seeds(tmp_path / "some", name, [98.0])  # it learned something
    assert _row(tmp_path / "some", name, seeds=1).status == "ok"
    table = report.TableResult("Table 3 (CIFAR-100)", "cifar100", [_row(tmp_path, name)])
    assert table.fail_line is None  # no 20% line on its figures
    write_seeds(tmp_path / "c10", "table1/original", [21.0])  # a CIFAR-10 row keeps its line
    cifar10 = _row(tmp_path / "c10", "table1/original", seeds=1)
    assert cifar10.status == "fail"
    assert report.TableResult("Table 1", "table1", [cifar10]).fail_line == 20.0
    # rows of one's own: CIFAR-100 chosen by their defaults, a data group of their own folder
    # (--config-dir), or data.num_classes (in the global package, where it is the run's)
    own = tmp_path / "own"
    (own / "experiment" / "mine").mkdir(parents=True)
    (own / "data").mkdir()
    (own / "data" / "mydata.yaml").write_text("name: cifar100\nnum_classes: 20\n")
    files = {
        "a": "defaults:\n  - override /data: cifar100\n",
        "b": "data:\n  num_classes: 100\n",
        "c": "defaults:\n  - override /data: mydata\n",
    }
    for stem, text in files.items():
        row = f"# @package _global_\n{text}experiment:\n  name: mine/{stem}\n"
        (own / "experiment" / "mine" / f"{stem}.yaml").write_text(row)
    (own / "experiment" / "mine" / "d.yaml").write_text(  # not global: experiment.data
        "data:\n  num_classes: 100\nexperiment:\n  name: mine/d\n"
    )
    rows = report._own_experiments(own)
    assert [(e.name, e.num_classes) for e in rows] == [
        ("mine/a", 100),
        ("mine/b", 100),
        ("mine/c", 20),
        ("mine/d", 10),
    ]
    assert report.fails(95.0, 20) and not report.fails(94.9, 20)  # chance: 95% on 20 classes
    # what cannot be read is one line naming the file
    (own / "experiment" / "mine" / "c.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /data: nodata\nexperiment:\n  name: mine/c\n"
    )
    with pytest.raises(
        report.ConfigError,
        match=r"c.yaml, defaults: override /data: nodata: there is no data/nodata",
    ):
        report._own_experiments(own)
    (own / "experiment" / "mine" / "c.yaml").write_text(  # a key no group: traces, here and
        "# @package _global_\ndefaults:\n  - 1: cifar100\nexperiment:\n  name: mine/c\n"  # in Hydra
    )
    with pytest.raises(
        report.ConfigError,
        match=r"c.yaml, defaults: 1: cifar100: an entry names a group, e.g. override /data: ",
    ):
        report._own_experiments(own)
    (own / "experiment" / "mine" / "c.yaml").write_text(
        "# @package _global_\ndata:\n  num_classes: abc\nexperiment:\n  name: mine/c\n"
    )
    with pytest.raises(
        report.ConfigError,
        match=r"c.yaml: Value 'abc' of type 'str' could not be converted to Integer "
        r"\(data.num_classes\)",
    ):
        report._own_experiments(own)
    (own / "data" / "mydata.yaml").write_text("name: cifar100\nnum_classes: abc\n")
    (own / "experiment" / "mine" / "c.yaml").write_text(  # its data group's, then
        "# @package _global_\ndefaults:\n  - override /data: mydata\nexperiment:\n  name: mine/c\n"
    )
    with pytest.raises(  # the chosen option's file checked as the command line checks it
        report.ConfigError,
        match=r"c.yaml, defaults: override /data: mydata: data file .*mydata.yaml: Value 'abc' "
        r"of type 'str' could not be converted to Integer \(data.num_classes\)",
    ):
        report._own_experiments(own)


def test_seeds_beyond_the_expected_are_named_not_counted(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """ "best of 5" over ten seeds is the best of ten, biased low: a row counts its --seeds
    lowest seeds, or the seeds --seed-list names (make reproduce-table's SEEDS)."""
    name = "table6/resnet110"
    write_seeds(tmp_path, name, [6.9, 6.8, 6.7, 6.6, 6.5, 6.0])
    row = _row(tmp_path, name)
    assert (row.best, row.n, row.status) == (6.5, 5, "ok, other seeds, not counted (1)")
    assert (
        "1 run(s) of other seeds not counted (`multirun/table6_resnet110/5`): --seeds 6 counts "
        "them" in row.notes
    )
    assert (_row(tmp_path, name, seeds=6).best, _row(tmp_path, name, seeds=6).status) == (6.0, "ok")
    # SEEDS=3,4,5 trained into a folder holding seeds 0-2: those three count
    args = ["--results", str(tmp_path), "--tables", "table6", "--seed-list", "5,3,4"]
    assert report.main(args) == 0
    line = read_csv(tmp_path / "report.csv")[name]
    assert (line["best"], line["n"], line["status"]) == (
        "6.00",
        "3",
        "ok, other seeds, not counted (3)",
    )
    text = (tmp_path / "report.md").read_text()
    assert "Seeds expected per row: 3 (3, 4, 5)." in text
    assert "--seed-list 0,1,2,3,4,5 (make: SEEDS=0,1,2,3,4,5) counts them" in text
    # a run of no recorded seed (an older lab's) may be any of them: counted, not set aside
    seedless = write_run(tmp_path / "old", "a/x", name, 0, 6.1)
    _edit_result(seedless, seed=None, config={})
    old = report.summarize(DEFINITIONS[name], report.find_runs([tmp_path / "old"])[0], (3, 4))
    assert (old.n, old.status) == (1, "ok, partial (1 of 2 seeds)")
    # but only for a seed not found: beside seeds 3 and 4 it made a third run of two
    both = report.find_runs([tmp_path])[0]  # old/ among them
    full = report.summarize(DEFINITIONS[name], both, (3, 4))
    assert (full.n, full.best, full.status) == (2, 6.5, "ok, other seeds, not counted (5)")
    assert "runs that record no seed count only for seeds not found, up to 2" in " ".join(
        full.notes
    )
    with pytest.raises(SystemExit):
        report.main([*args[:-2], "--seed-list", "0,x"])
    assert "give the seeds as comma-separated integers" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one or the other
        report.main([*args, "--seeds", "3"])
    assert "not allowed with argument" in capsys.readouterr().err
    # the lowest seeds, not the runs found first: seed 5 in a folder read before seeds 0-4
    found_first = tmp_path_factory.mktemp("found_first")
    write_run(found_first, "a/5", name, 5, 6.0)
    for seed, error in enumerate([6.9, 6.8, 6.7, 6.6, 6.5]):
        write_run(found_first, f"b/{seed}", name, seed, error)
    row = _row(found_first, name)
    assert (row.best, row.n, row.status) == (6.5, 5, "ok, other seeds, not counted (1)")


def test_diverged_counts_the_finished_seeds_only(tmp_path: Path) -> None:
    write_seeds(tmp_path, "table1/original", [None, None, 7.0])
    write_run(tmp_path, "live/3", "table1/original", 3, status="running")
    row = _row(tmp_path, "table1/original")
    assert row.status == "fail, diverged (2 of 3), partial (3 of 5 seeds), running (1)"


def test_a_rerun_seed_keeps_the_finished_then_the_latest_run(tmp_path: Path) -> None:
    """docs/report.md: one run per seed is kept, a finished one before an unfinished one, then
    the latest. The newer runs sit in the folder found last (b/), so path order cannot pass."""
    name, old, new = "table1/original", "2025-01-01T12:00:00", "2025-01-02T12:00:00"
    write_run(tmp_path, "a/0", name, 0, 9.0, finished_at=old)
    write_run(tmp_path, "b/0", name, 0, 7.0, finished_at=new)  # newer: kept
    write_run(tmp_path, "a/1", name, 1, 7.0, finished_at=old)
    write_run(tmp_path, "b/1", name, 1, status="diverged", finished_at=new)  # newer, finished
    write_run(tmp_path, "a/2", name, 2, 8.0, finished_at=old)  # finished: kept
    write_run(tmp_path, "b/2", name, 2, finished_at=new, curve=[])  # completed, no error
    row = _row(tmp_path, name, seeds=3)
    assert [run.label for run in row.runs] == ["b/0", "b/1", "a/2"]
    assert (row.median, row.best, row.mean, row.n) == (8.0, 7.0, 7.5, 3)
    assert row.status == "ok, diverged (1 of 3)"
    assert "3 more run(s) of an already counted seed left out" in row.notes


def test_a_run_on_the_validation_split_is_noted(tmp_path: Path) -> None:
    note = "measured on the validation split, not the test set"
    write_run(tmp_path / "test", "a/0", "table1/original", 0, 7.0)
    assert note not in _row(tmp_path / "test", "table1/original").notes
    write_run(tmp_path / "mixed", "a/0", "table1/original", 0, 7.0)
    _edit_result(write_run(tmp_path / "mixed", "a/1", "table1/original", 1, 7.2), eval_split="val")
    assert note in _row(tmp_path / "mixed", "table1/original").notes


def test_a_run_chosen_on_validation_is_measured_by_its_test_error_there(tmp_path: Path) -> None:
    """trainer.test_at_best_val (the stochastic-depth rows): the run's figure is the test error
    of the evaluation with the lowest validation error, a test-set figure; a run that did not
    complete has none yet."""
    name = "neighbours/stochastic_depth_110"
    run = write_run(tmp_path, "a/0", name, 0, 6.9)  # 6.9: the last validation error
    _edit_result(run, eval_split="val", test_error_at_best_val=5.4)
    row = _row(tmp_path, name)
    assert row.measured == 5.4
    assert "measured on the validation split, not the test set" not in row.notes
    _edit_result(run, status="interrupted", final_test_error=None)
    assert _row(tmp_path, name).measured is None


def test_a_run_choosing_on_validation_at_another_cadence_is_not_counted(tmp_path: Path) -> None:
    """With trainer.test_at_best_val the evaluations it can choose from are its eval_every's:
    another cadence picks another figure. Without it, the cadence changes no result."""
    name = "neighbours/stochastic_depth_110_baseline"
    row = _row_config(name, "paper")
    assert row["trainer"]["test_at_best_val"] is True
    other = _row_config(name, "paper", f"trainer.eval_every={row['trainer']['eval_every'] * 2}")
    run = write_run(tmp_path, "a/0", name, 0, 6.0)
    _edit_result(run, config=other, eval_split="val", test_error_at_best_val=6.9)
    runs, _ = report.find_runs([tmp_path])
    report.mark_departures([DEFINITIONS[name]], runs)
    assert [d.split(" ")[0] for d in runs[0].departures] == ["trainer.eval_every"]
    plain = "table1/original"
    run = write_run(tmp_path / "p", "a/0", plain, 0, 7.0)
    _edit_result(run, config=_row_config(plain, "paper", "trainer.eval_every=17"))
    runs, _ = report.find_runs([tmp_path / "p"])
    report.mark_departures([DEFINITIONS[plain]], runs)
    assert runs[0].departures == []


def test_older_result_files_fall_back_as_documented(tmp_path: Path) -> None:
    """No seed/profile/experiment/final_test_error: config.seed, config.profile,
    config.experiment, and the LAST val/error line of metrics.jsonl (not the best one)."""
    run = write_run(
        tmp_path,
        "old/0",
        "table1/original",
        3,
        profile="smoke",
        drop=("seed", "profile", "experiment", "final_test_error"),
    )
    lines = [{"step": s, "val/error": e} for s, e in [(2000, 40.0), (4000, 12.0), (6000, 15.0)]]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    got = report.read_run(run / "result.json", "old/0")
    assert (got.seed, got.profile, got.name, got.error) == (3, "smoke", "table1/original", 15.0)
    assert got.notes[0] == "run `old/0` lacks fields: experiment, seed, profile, final_test_error"
    _edit_result(run, seed=None)  # a null seed: the config's too
    assert report.read_run(run / "result.json", "old/0").seed == 3


def test_a_strange_status_is_read_and_a_record_without_config_not_counted(
    tmp_path: Path,
) -> None:
    """A hand-made or damaged result.json: a status that is no text was a TypeError trace of the
    whole report; a run without its config was counted with no check of its settings."""
    bad = write_run(tmp_path, "bad/0", "table1/original", 0, 6.0)
    record = json.loads((bad / "result.json").read_text())
    (bad / "result.json").write_text(json.dumps({**record, "status": ["completed"]}))
    got = report.read_run(bad / "result.json", "bad/0")
    assert (got.status, got.notes[-1]) == (
        "completed",
        "run `bad/0` has no known status: read as completed",
    )
    bare = write_run(tmp_path, "bare/0", "table1/original", 1, 6.0, drop=("config",))
    runs, _ = report.find_runs([tmp_path / "bare"])
    report.mark_departures([DEFINITIONS["table1/original"]], runs)
    assert (
        runs[0].unchecked == "its result.json records no config, so its settings cannot be checked"
    )
    assert report.read_run(bare / "result.json", "bare/0").settings is None
    record = json.loads((bare / "result.json").read_text())
    (bare / "result.json").write_text(json.dumps({**record, "config": {}}))  # as empty
    assert report.read_run(bare / "result.json", "bare/0").settings is None


def test_an_unfinished_run_takes_no_error_from_its_curve(tmp_path: Path) -> None:
    run = write_run(tmp_path, "live/0", "table1/original", 0, status="running")
    got = report.read_run(run / "result.json", "live/0")
    assert (got.status, got.error, got.finished) == ("running", None, False)


@pytest.mark.parametrize("lock", ["left_by_a_dead_process", "none"])
def test_a_run_killed_without_a_word_is_not_running(lock: str, tmp_path: Path) -> None:
    """A run killed by the out-of-memory killer (or kill -9, or with its node) leaves
    result.json saying running: the report showed it running, as if it would still finish."""
    for seed in (0, 1):
        write_run(tmp_path, f"r/{seed}", "table1/original", seed, 7.0)
    killed = write_run(tmp_path, "r/2", "table1/original", 2, status="running", alive=False)
    if lock == "none":
        (killed / "run.lock").unlink()
    write_run(tmp_path, "r/3", "table1/original", 3, status="running")  # alive: training on
    got = report.read_run(killed / "result.json", "r/2")
    assert (got.status, got.error, got.finished) == ("killed", None, False)
    row = _row(tmp_path, "table1/original")
    assert row.status == "ok, partial (2 of 5 seeds), running (1), killed (1)"


@pytest.mark.parametrize(("alive", "status"), [(True, "running (1)"), (False, "killed (1)")])
def test_a_run_before_its_first_record_is_placed_in_its_row(
    tmp_path: Path, alive: bool, status: str
) -> None:
    """A run loading its data (or killed then) has its lock and Hydra's record of its launch,
    no result.json yet: its row said ``missing``."""
    run = tmp_path / "r20_3"
    for stamp, seed in (("2026-12-06_12-00-00-000000", 3), ("2026-12-05_12-00-00-000000", 2)):
        (run / ".hydra" / stamp).mkdir(parents=True)  # the latest launch is the run's
        (run / ".hydra" / stamp / "config.yaml").write_text(
            f"seed: {seed}\nprofile: paper\nexperiment:\n  name: table1/original\n"
        )
    lock = run / "run.lock"
    lock.write_text(f"{socket.gethostname()} {_pid(alive)} heartbeat\n")
    if not alive:
        os.utime(lock, (time.time() - 300, time.time() - 300))
    row = _row(tmp_path, "table1/original", seeds=1)
    assert (row.status, [r.seed for r in row.runs]) == (status, [3])


def test_a_run_resumed_is_running_before_it_writes_again(tmp_path: Path) -> None:
    """Until the resumed process wrote result.json (its data loaded), the report read the
    run as interrupted, to be resumed, while it trained (a concurrency audit)."""
    for status in ("interrupted", "failed"):  # the trainer resumes both
        run = write_run(tmp_path, f"r/{status}", "table1/original", 0, status=status)
        assert report.read_run(run / "result.json", "r/0").status == status
        (run / "run.lock").write_text(f"{socket.gethostname()} {_pid(alive=True)} heartbeat\n")
        assert report.read_run(run / "result.json", "r/0").status == "running"


def test_a_beating_lock_says_itself_whether_its_run_lives(tmp_path: Path) -> None:
    """A run in a container (its own pids) showed killed while it trained; one killed there, its
    pid now another process's, showed running for ever. The lock's heartbeat decides."""
    run = write_run(tmp_path, "r/0", "table1/original", 0, status="running")
    lock = run / "run.lock"
    lock.write_text(f"{socket.gethostname()} {_pid(alive=False)} heartbeat\n")  # not our pid
    assert report.read_run(run / "result.json", "r/0").status == "running"  # touched just now
    lock.write_text(f"{socket.gethostname()} 1 heartbeat\n")  # pid 1 lives: another process
    os.utime(lock, (0, 0))  # untouched since 1970
    assert report.read_run(run / "result.json", "r/0").status == "killed"


def test_a_lock_of_this_host_and_pid_namespace_is_read_at_once(tmp_path: Path) -> None:
    """A run killed with -9 here showed running for up to two minutes (its lock, just touched,
    was trusted as if from a container): its lock names its pid namespace, and in this one the
    pid decides at once. A container's lock of the same host name is still read by its beat."""
    run = write_run(tmp_path, "r/0", "table1/original", 0, status="running")
    lock = run / "run.lock"
    here = f"pidns:{os.stat('/proc/self/ns/pid').st_ino}"
    lock.write_text(f"{socket.gethostname()} {_pid(alive=False)} heartbeat {here}\n")
    assert report.read_run(run / "result.json", "r/0").status == "killed"  # touched just now
    lock.write_text(f"{socket.gethostname()} {_pid(alive=True)} heartbeat {here}\n")
    assert report.read_run(run / "result.json", "r/0").status == "running"
    lock.write_text(f"{socket.gethostname()} {_pid(alive=False)} heartbeat pidns:1\n")
    assert report.read_run(run / "result.json", "r/0").status == "running"  # its own pids
    os.utime(lock, (0, 0))
    assert report.read_run(run / "result.json", "r/0").status == "killed"


def test_a_lock_says_its_holders_pid_namespace_and_only_this_hosts_is_checked(
    tmp_path: Path,
) -> None:
    """The lab's own lock names its pid namespace; another host's lock with a namespace of the
    same number is not this machine's; a foreign lock that beats still stands three beats
    after its last touch (older than two, younger than LOCK_FOREIGN_STALE_S)."""
    from resnet_lab import run_folder

    namespace = run_folder._pid_namespace()
    assert namespace and run_folder._this_process().endswith(f" pidns:{namespace}\n")
    assert run_folder._pid_is_ours(["otherhost", "1", "heartbeat", f"pidns:{namespace}"]) is False
    run = write_run(tmp_path, "r/0", "table1/original", 0, status="running")
    lock = run / "run.lock"
    lock.write_text(f"elsewhere-{socket.gethostname()} {_pid(alive=False)} heartbeat\n")
    three_beats_ago = time.time() - 3 * run_folder.LOCK_HEARTBEAT_S
    os.utime(lock, (three_beats_ago, three_beats_ago))
    assert run_folder.holds_a_live_run(run)  # its pid cannot be checked from here


def test_a_newer_schema_is_noted_and_the_current_one_is_not(tmp_path: Path) -> None:
    current = write_run(tmp_path, "a/0", "table1/original", 0, 7.0)
    assert report.read_run(current / "result.json", "a/0").notes == []
    before = write_run(tmp_path, "b/0", "table1/original", 1, 7.0, drop=("cpu_threads",))
    assert report.read_run(before / "result.json", "b/0").notes == []  # added later, unread
    _edit_result(current, schema_version=2)
    (note,) = report.read_run(current / "result.json", "a/0").notes
    assert note == "run `a/0` has schema_version 2, newer than this report (1): read what is known"


def test_tables_option_leaves_out_runs_of_other_tables(tmp_path: Path) -> None:
    write_run(tmp_path, "t6/0", "table6/resnet20", 0, 8.0)
    write_run(tmp_path, "t1/0", "table1/original", 0, 7.0)
    assert report.main(["--results", str(tmp_path), "--tables", "table6", "--seeds", "1"]) == 0
    text = (tmp_path / "report.md").read_text()
    assert ": 1 run(s) of profile `paper`." in text
    assert "not in the report" not in text and "table1/original" not in text


def test_markdown_diff_is_signed(paper) -> None:
    _, text, _ = paper
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    (line,) = [line for line in rows if "`table1/gate_b6`" in line]
    assert "| **9.00** | 9.00 ± 1.00 | 8.00 | +0.30 | 3 |" in line


def test_a_completed_run_without_an_error_is_noted(tmp_path: Path) -> None:
    write_run(tmp_path, "a/0", "table1/original", 0, 7.0)
    write_run(tmp_path, "a/1", "table1/original", 1, curve=[])  # no final error, no eval line
    row = _row(tmp_path, "table1/original", seeds=2)
    assert (row.n, row.status) == (1, "ok, partial (1 of 2 seeds), no test error (1)")
    assert "1 completed run(s) record no test error and are left out" in row.notes
    write_run(tmp_path / "only", "a/1", "table1/original", 1, curve=[])
    assert _row(tmp_path / "only", "table1/original").status == "no test error (1)"  # not missing


def test_an_error_that_is_no_percentage_is_left_out(tmp_path: Path) -> None:
    """A hand-edited result.json (-5, 250) was counted, the row's best -5.00: left out now,
    with a note."""
    write_run(tmp_path, "a/0", "table1/original", 0, 7.0)
    write_run(tmp_path, "a/1", "table1/original", 1, -5.0)
    write_run(tmp_path, "a/2", "table1/original", 2, 250.0)
    row = _row(tmp_path, "table1/original", seeds=3)
    assert (row.n, row.best, row.measured) == (1, 7.0, 7.0)
    assert row.status == "ok, partial (1 of 3 seeds), no test error (2)"
    assert "run `a/2` records a test error of 250, not a percentage: left out" in row.notes


def test_the_compared_statistic_follows_the_papers_wording() -> None:
    measures = {
        "table1/original": "median",  # median of 5
        "table6/resnet110": "best",  # best of 5
        "table6/resnet20": "median",  # not stated: the paper ran ResNet-110 five times
        "highway/highway_19": "best",  # best (mean +- std): the paper's figure is the best
        "plain/plain_32": "median",  # curves only
        "neighbours/densenet_bc_100_12": "median",  # not stated
    }
    assert {name: DEFINITIONS[name].measure for name in measures} == measures


def test_runs_of_several_roots_are_labelled_with_their_root(tmp_path: Path) -> None:
    roots = [tmp_path / "r1", tmp_path / "r2"]
    for root in roots:
        write_run(root, "a/0", "", 0, 7.0)
        (root / "broken").mkdir()
        (root / "broken/result.json").write_text("{")
    runs, problems = report.find_runs(roots)
    assert [run.label for run in runs] == [f"{root.as_posix()}/a/0" for root in roots]
    assert [p.split("`")[1] for p in problems] == [
        f"{root.as_posix()}/broken/result.json" for root in roots
    ]
    # roots that overlap (a sweep's folder and the folder holding it): each run once
    overlapping = [tmp_path / "r1" / "a", tmp_path / "r1"]
    runs, problems = report.find_runs(overlapping)
    assert [run.label for run in runs] == [f"{overlapping[0].as_posix()}/0"]
    assert [p.split("`")[1] for p in problems] == [f"{tmp_path.as_posix()}/r1/broken/result.json"]
    # without --out the report goes into the first root, as --help says
    assert report.main(["--results", *map(str, roots), "--tables", "table6"]) == 0
    assert (roots[0] / "report.md").is_file() and (roots[0] / "report.csv").is_file()
    assert not (roots[1] / "report.md").exists()


def _row_config(name: str, profile: str, *overrides: str) -> dict:
    """The resolved config `resnet-lab +experiment=<name> profile=<profile> <overrides>` runs."""
    from omegaconf import OmegaConf

    from resnet_lab.api import compose_config

    cfg = compose_config([f"+experiment={name}", f"profile={profile}", *overrides])
    return OmegaConf.to_container(cfg, resolve=True)


# written out, not read from report.NOT_COMPARED: a key dropped there must fail here
TAKEN_FROM_ANYWHERE = (
    "resume",
    "trainer.device",
    "trainer.progress",
    "trainer.channels_last",
    "trainer.compile",
    "trainer.compile_mode",
    "trainer.cudnn_benchmark",
    "trainer.step_graph",
    "trainer.log_every",
    "trainer.eval_every",
    "trainer.ckpt_every",
    "trainer.keep_checkpoints",
    "trainer.eval_batch_size",
    "data.root",
    "data.verify",
    "data.download",
)


@pytest.mark.slow
def test_each_setting_a_run_may_take_from_anywhere_leaves_it_counted(tmp_path: Path) -> None:
    """One key changed at a time (the test of several at once passed with any one of them
    compared), and a key the row lacks (a newer lab's run) is not compared either."""
    name = "table1/original"

    def changed(value: object) -> object:
        if isinstance(value, bool):
            return not value
        return value + 1 if isinstance(value, int) else 3 if value is None else f"{value}_x"

    for i, key in enumerate([*TAKEN_FROM_ANYWHERE, "trainer.a_future_option"]):
        config = _row_config(name, "paper")
        *parents, leaf = key.split(".")
        section = config
        for part in parents:
            section = section[part]
        section[leaf] = changed(section.get(leaf))
        _edit_result(write_run(tmp_path / str(i), "r/0", name, 0, 7.0), config=config)
        runs, problems = report.find_runs([tmp_path / str(i)])
        assert report.mark_departures([DEFINITIONS[name]], runs) == [] and not problems, key
        assert runs[0].departures == [], key
    assert "trainer.a_future_option" in runs[0].settings  # compared with nothing, not left out


def test_only_unnamed_runs_are_ad_hoc(tmp_path: Path) -> None:
    """A run of an experiment the report does not know is listed under its name, not as an
    ad-hoc run, and both are counted among the runs of no row."""
    write_run(tmp_path, "adhoc/0", "", 0, 30.0)
    write_run(tmp_path, "own/0", "", 0, 31.0, experiment={"name": "mytable/row"})
    assert report.main(["--results", str(tmp_path), "--seeds", "1"]) == 0
    text = (tmp_path / "report.md").read_text()
    adhoc = text.split("## Ad-hoc runs", 1)[1].split("## ", 1)[0]
    assert "`adhoc/0`" in adhoc and "own/0" not in adhoc
    assert "- `mytable/row`: 1 run(s)" in text
    assert "; 2 run(s) of no row, listed at the end." in text


def test_a_run_with_other_settings_than_its_row_is_named_not_counted(tmp_path: Path) -> None:
    """`make reproduce-table EXTRA="model.width=4 trainer.max_steps=4"` trains another net and
    recipe: the row must not report its error as the paper's net's (it used to, without a word).
    Settings that leave the result unchanged (device, compile, cadence, data folder) still count."""
    name = "table1/original"
    faithful = _row_config(name, "paper", "trainer.device=cuda", "trainer.compile=true")
    faithful["data"]["root"], faithful["trainer"]["eval_every"] = "/elsewhere", 500
    other = _row_config(name, "paper", "model.width=4", "trainer.max_steps=4", "seed=2")
    for seed, config in enumerate([faithful, faithful, other]):
        _edit_result(write_run(tmp_path, f"s/{seed}", name, seed, 7.0 + seed), config=config)
    assert report.main(["--results", str(tmp_path), "--seeds", "3"]) == 0
    line = read_csv(tmp_path / "report.csv")[name]
    assert (line["median"], line["n"]) == ("7.50", "2")
    assert line["status"] == "ok, partial (2 of 3 seeds), other settings, not counted (1)"
    text = (tmp_path / "report.md").read_text()
    assert (
        "run `s/2` is not counted: its settings are not this row's (model.width 16 -> 4; "
        "trainer.max_steps 64000 -> 4)" in text
    )


def test_a_run_of_a_profile_the_report_cannot_compose_is_not_counted(tmp_path: Path) -> None:
    """A run of a profile of one's own, reported without its --config-dir: its row cannot be
    composed, and its runs were counted unchecked (one with another lr among them)."""
    name = "table1/original"
    quick = _row_config(name, "smoke")
    quick["profile"] = "quick"
    faster = {**quick, "trainer": {**quick["trainer"], "lr": 0.05}}
    for seed, config in enumerate([quick, faster]):
        run = write_run(tmp_path, f"q/{seed}", name, seed, 50.0 + seed, profile="quick")
        _edit_result(run, config=config)
    assert report.main(["--results", str(tmp_path), "--seeds", "2", "--tables", "table1"]) == 0
    line = read_csv(tmp_path / "report.csv")[name]
    assert (line["n"], line["status"]) == ("0", "settings not checked, not counted (2)")
    assert (
        "run `q/1` is not counted: its row cannot be composed with its profile, quick, so its "
        "settings cannot be checked (a profile of one's own: give its --config-dir)"
    ) in (tmp_path / "report.md").read_text()


def test_a_smoke_run_is_compared_with_its_row_under_the_smoke_profile(tmp_path: Path) -> None:
    """The row's settings are composed with the run's profile: the smoke profile's tiny net is
    that row's smoke run; a faithful run of the same seed wins over one with other settings."""
    name = "table1/gate_b6"
    smoke = _row_config(name, "smoke")
    wider = _row_config(name, "smoke", "model.width=8")
    _edit_result(write_run(tmp_path, "a/0", name, 0, 50.0, profile="smoke"), config=smoke)
    _edit_result(write_run(tmp_path, "b/0", name, 0, 40.0, profile="smoke"), config=wider)
    runs, problems = report.find_runs([tmp_path])
    assert report.mark_departures([DEFINITIONS[name]], runs) == [] and not problems
    row = report.summarize(DEFINITIONS[name], runs, seeds=1)
    assert ([run.label for run in row.runs], row.measured) == (["a/0"], 50.0)
    assert row.status == "fail, other settings, not counted (1)"


@pytest.mark.parametrize(
    ("name", "departures"),
    [
        ("table1/original", []),  # the options mean nothing to an identity shortcut
        ("table6/resnet20", []),
        ("table1/gate_b6", ["shortcut.gate_norm True -> False"]),
        ("table1/dropout", ["shortcut.dropout_inverted False -> True"]),
    ],
)
def test_a_run_recorded_before_the_options_is_read_as_it_trained(
    tmp_path: Path, name: str, departures: list[str]
) -> None:
    """A config of then (no gate_norm; dropout_inverted true in every run, its default then):
    its gates had no BN and its dropout was inverted, not the row's nets today, so such runs
    are named, not counted; runs of the other rows are counted as before."""
    _edit_result(
        write_run(tmp_path, "a/0", name, 0, 8.0),
        config=as_saved_before_the_options(_row_config(name, "paper")),
    )
    runs, _ = report.find_runs([tmp_path])
    report.mark_departures([DEFINITIONS[name]], runs)
    assert runs[0].departures == departures


@pytest.mark.parametrize(
    ("name", "departures"),
    [
        ("table1/original", []),  # the lab's normalisation then and now
        (
            "neighbours/densenet_bc_100_12",
            ["data.normalization 'channel_mean_std' -> 'pixel_mean'"],
        ),
        (
            "neighbours/wrn_28_10",
            [
                "data.normalization 'channel_mean_std' -> 'pixel_mean'",
                "data.pad_mode 'reflect' -> 'zeros'",
            ],
        ),
    ],
)
def test_a_run_recorded_before_a_new_option_had_its_default(
    tmp_path: Path, name: str, departures: list[str]
) -> None:
    """A run saved before data.normalization and data.pad_mode existed normalised by the
    per-pixel mean and padded with zeros (their defaults): not the DenseNet and WRN rows' input
    today, so such runs are named, not counted (a key a run lacked was not compared)."""
    config = _row_config(name, "paper")
    del config["data"]["normalization"], config["data"]["pad_mode"]
    _edit_result(write_run(tmp_path, "a/0", name, 0, 8.0), config=config)
    runs, _ = report.find_runs([tmp_path])
    report.mark_departures([DEFINITIONS[name]], runs)
    assert runs[0].departures == departures


def test_accept_counts_runs_that_differ_in_the_named_settings(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A table trained in bf16 on purpose: not the row's recipe by default, counted (and noted)
    with --accept trainer.precision; a misspelt key is refused, not silently accepting nothing."""
    name = "table1/original"
    bf16 = _row_config(name, "paper", "trainer.precision=bf16")
    _edit_result(write_run(tmp_path, "a/0", name, 0, 7.0), config=bf16)
    args = ["--results", str(tmp_path), "--seeds", "1"]
    assert report.main(args) == 0
    assert read_csv(tmp_path / "report.csv")[name]["status"] == "other settings, not counted (1)"
    assert report.main([*args, "--accept", "trainer.precision"]) == 0
    assert read_csv(tmp_path / "report.csv")[name]["status"] == "ok"
    text = (tmp_path / "report.md").read_text()
    assert "run `a/0` is counted with --accept: trainer.precision 'fp32' -> 'bf16'" in text
    capsys.readouterr()
    assert report.main([*args, "--accept", "trainer.precison"]) == 2
    assert "--accept trainer.precison (did you mean trainer.precision?): not a setting" in (
        capsys.readouterr().err
    )
    assert report.main([*args, "--accept", "model"]) == 2
    assert "--accept model is a section: name its settings, e.g. model.arch" in (
        capsys.readouterr().err
    )
    # several keys: repeated, space- or comma-separated (make ACCEPT="a b"); none is dropped
    model_and_precision = _row_config(name, "paper", "trainer.precision=bf16", "model.width=8")
    _edit_result(tmp_path / "a/0", config=model_and_precision)
    for accept in (
        ["--accept", "trainer.precision", "--accept", "model.width"],
        ["--accept", "trainer.precision", "model.width"],
        ["--accept", "model.width,trainer.precision"],
    ):
        assert report.main([*args, *accept]) == 0
        assert read_csv(tmp_path / "report.csv")[name]["status"] == "ok", accept
    assert report.main([*args, "--accept", "trainer.precision"]) == 0
    assert read_csv(tmp_path / "report.csv")[name]["status"] == "other settings, not counted (1)"


def test_every_row_of_table_1_has_its_own_colour(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Table 1 has 11 rows; matplotlib's default cycle of 10 gave the first and last one
    colour, so two curves could not be told apart."""
    from matplotlib.figure import Figure

    names = [e.name for e in DEFINITIONS.values() if e.key == "table1"]
    for name in names:
        write_seeds(tmp_path, name, [7.0])
    runs, _ = report.find_runs([tmp_path])
    (table,) = report.build_tables([DEFINITIONS[name] for name in names], runs, seeds=1)
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    assert report.plot_curves(table, tmp_path / "curves.png")
    eval_lines = [line for line in drawn[0].axes[0].lines if line.get_linestyle() == "-"]
    assert len(eval_lines) == len(names) == 11
    assert len({line.get_color() for line in eval_lines}) == 11


@pytest.mark.parametrize("below", ["", "sub"])
def test_an_out_folder_that_cannot_be_made_is_named(
    below: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """--out naming a file, or a folder under one, ended in a FileExistsError or
    NotADirectoryError trace after the runs were read; --check (before training, the results
    to come) passed it."""
    write_run(tmp_path / "results", "a/0", "table1/original", 0, 7.0)
    afile = tmp_path / "report.md"
    afile.write_text("")
    out = afile / below if below else afile
    assert report.main(["--results", str(tmp_path / "results"), "--out", str(out)]) == 2
    assert f"--out {out}: {afile} is a file, not a folder" in capsys.readouterr().err
    assert report.main(["--results", str(tmp_path / "later"), "--out", str(out), "--check"]) == 2
    assert f"--out {out}: {afile} is a file, not a folder" in capsys.readouterr().err
    assert report.main(["--results", str(tmp_path / "later"), "--check"]) == 0


def test_an_out_folder_the_system_refuses_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """--out /proc/x passed the checks (root may write there) and ended in mkdir's trace."""
    write_run(tmp_path / "results", "a/0", "table1/original", 0, 7.0)
    out = tmp_path / "report"

    def refused(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", refused)
    assert report.main(["--results", str(tmp_path / "results"), "--out", str(out)]) == 2
    assert f"--out {out}: cannot make this folder (Read-only file system)" in (
        capsys.readouterr().err
    )


def test_a_run_folder_given_as_the_results_is_labelled_by_its_name(tmp_path: Path) -> None:
    """It was labelled `.`."""
    run = write_run(tmp_path, "try", "", 0, 9.5)
    assert report.main(["--results", str(run)]) == 0
    assert "| `try` | completed | 0 | 9.50 |" in (run / "report.md").read_text()


def test_a_file_given_as_the_results_folder_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    result = write_run(tmp_path, "a/0", "table1/original", 0, 7.0) / "result.json"
    assert report.main(["--results", str(result)]) == 2
    assert f"--results {result} is a file: give the folder holding the runs" in (
        capsys.readouterr().err
    )


def test_a_run_with_a_damaged_result_is_unreadable_in_its_row_not_missing(
    tmp_path: Path,
) -> None:
    """The trainer writes config.yaml at the start: it places a run whose result.json a full
    disk cut short in its row, which said "missing" / "no runs yet" beside the Problems line."""
    import yaml

    run = write_run(tmp_path, "table1/original/seed3", "table1/original", 3, 7.0)
    (run / "config.yaml").write_text(
        yaml.safe_dump(_row_config("table1/original", "paper", "seed=3"))
    )
    (run / "result.json").write_text('{"status": "completed", "final_te')
    write_run(tmp_path, "table1/original/seed0", "table1/original", 0, 7.0)
    assert report.main(["--results", str(tmp_path), "--seeds", "2"]) == 0
    line = read_csv(tmp_path / "report.csv")["table1/original"]
    assert (line["n"], line["status"]) == ("1", "ok, partial (1 of 2 seeds), unreadable (1)")
    text = (tmp_path / "report.md").read_text()
    assert "could not read `table1/original/seed3/result.json`" in text


def test_a_note_every_row_of_a_table_shares_is_said_once(tmp_path: Path) -> None:
    """The plain table's note sat under each of its rows, ten times the same line."""
    assert report.main(["--results", str(tmp_path), "--tables", "plain"]) == 0
    text = (tmp_path / "report.md").read_text()
    note = DEFINITIONS["plain/plain_20"].note
    assert text.count(note) == 1 and f"- every row: {note}" in text


def test_rows_of_ones_own_config_dir_are_reported_and_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """`make reproduce-table CONFIG_DIR=my_conf TABLES=mine`: the rows of one's own folder (as
    resnet-lab --config-dir reads them) are reported, their runs' settings checked against them
    (composed from that folder); blank fields are no "other definition"; a clash is refused."""
    mine = tmp_path / "my,conf"  # a comma: Hydra's list syntax must not split the path
    _own_row(mine / "experiment", "mine/scale_09", "null")
    name = "mine/scale_09"
    search = f"hydra.searchpath=['file://{mine}']"
    faithful = _row_config(name, "paper", search)
    other = _row_config(name, "paper", search, "shortcut.scale=0.7")
    recorded = {**faithful["experiment"], "statistic": "", "row": ""}  # a file's blanks
    faithful["experiment"] = recorded
    for seed, config in enumerate([faithful, other]):
        run = write_run(tmp_path / "results", f"{seed}", name, seed, 9.0, experiment=recorded)
        _edit_result(run, config=config)
    args = ["--results", str(tmp_path / "results"), "--seeds", "2", "--tables", "mine"]
    assert report.main([*args, "--config-dir", str(mine)]) == 0
    line = read_csv(tmp_path / "results" / "report.csv")[name]
    assert (line["median"], line["status"]) == (
        "9.00",
        "ok, partial (1 of 2 seeds), other settings, not counted (1)",
    )
    text = (tmp_path / "results" / "report.md").read_text()
    assert "shortcut.scale 0.5 -> 0.7" in text and "another definition" not in text
    capsys.readouterr()
    assert report.main(args) == 2  # without the folder, the table is not known
    assert "unknown table(s) mine" in capsys.readouterr().err
    assert report.main(args[:4]) == 0  # nor are its runs, which are listed, with the way
    text = (tmp_path / "results" / "report.md").read_text()
    assert "- `mine/scale_09`: 2 run(s)" in text
    assert "`make report CONFIG_DIR=<folder> TABLES=<table>`" in text  # the way, whole
    # `make report CONFIG_DIR=my_conf` without TABLES: the lab's tables only; its runs were
    # dropped without a word
    assert report.main([*args[:4], "--tables", "table1", "--config-dir", str(mine)]) == 0
    text = (tmp_path / "results" / "report.md").read_text()
    assert "2 run(s) of tables not asked for (mine: 2) left out: see --tables" in text
    assert report.main([*args, "--config-dir", str(tmp_path / "results")]) == 2
    assert "holds no experiment/ folder of rows nor profile/ folder" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    for not_a_folder, what in [
        (tmp_path / "nowhere", "does not exist"),
        (tmp_path / "a_file", "is a file"),
    ]:
        assert report.main([*args, "--config-dir", str(not_a_folder)]) == 2  # "holds no ..."
        assert capsys.readouterr().err == (
            f"resnet-lab-report: error: --config-dir {not_a_folder} {what}: give the folder of "
            "your own configs\n"
        )
    long = tmp_path / ("x" * 300)  # past the file system's names: an OSError trace
    assert report.main([*args[:4], "--out", str(long)]) == 2
    assert "the file system refuses it (File name too long)" in capsys.readouterr().err
    profiles = tmp_path / "profiles_only" / "profile"  # a profile of one's own, the lab's rows
    profiles.mkdir(parents=True)
    (profiles / "quick.yaml").write_text("# @package _global_\nprofile: quick\n")
    only = ["--results", str(tmp_path / "results"), "--config-dir", str(profiles.parent)]
    assert report.main([*only, "--profile", "quick", "--tables", "table1"]) == 0
    (profiles / "copied.yaml").write_text("# @package _global_\nprofile: paper\n")
    capsys.readouterr()
    assert report.main([*only, "--profile", "copied", "--check"]) == 2  # before make trains
    assert "profile=copied makes the run's profile paper: a profile file names itself" in (
        capsys.readouterr().err
    )
    # a file with the path of one of the lab's, which Hydra reads instead: refused as
    # resnet-lab refuses it (--check passed a shortcut's, and make trained every row)
    for lab_path in ("experiment/table1/original.yaml", "shortcut/gate.yaml"):
        (mine / lab_path).parent.mkdir(parents=True, exist_ok=True)
        (mine / lab_path).write_text("name: gate\n")
        assert report.main(["--check", "--config-dir", str(mine)]) == 2
        assert capsys.readouterr().err == (
            f"resnet-lab-report: error: {mine / lab_path} has the name of the lab's config "
            f"{lab_path}, which Hydra reads instead: give yours a path the lab's configs do not "
            "have\n"
        )
        (mine / lab_path).unlink()


def test_a_row_whose_defaults_choose_an_option_not_there_is_refused_by_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/extending.md: the report refuses it, so `make reproduce-table` stops before any
    run; `--check` passed it, and the target trained the tables before it."""
    mine = tmp_path / "my_conf"
    (mine / "experiment" / "mine").mkdir(parents=True)
    row = mine / "experiment" / "mine" / "gated.yaml"
    row.write_text(
        "# @package _global_\ndefaults:\n  - override /shortcut: gat\n"
        "experiment:\n  name: mine/gated\n  reported: '7.0'\n"
    )
    args = ["--check", "--tables", "mine", "--config-dir", str(mine)]
    assert report.main(args) == 2
    said = capsys.readouterr().err
    assert (
        f"experiment file {row}, defaults: override /shortcut: gat: there is no shortcut/gat"
        in said
    )
    (mine / "shortcut").mkdir()  # an option of one's own folder is there
    (mine / "shortcut" / "gat.yaml").write_text("name: gate\n")
    assert report.main(args) == 0


def test_runs_of_rows_in_neither_place_are_told_so_once_config_dir_is_given(
    tmp_path: Path,
) -> None:
    """With --config-dir given, the hint to give it would send the user round in a circle."""
    mine = tmp_path / "my_conf"
    _own_row(mine / "experiment", "mine/scale_09", "null")
    write_run(
        tmp_path / "results", "x/0", "mine/renamed", 0, 9.0, experiment={"name": "mine/renamed"}
    )
    assert report.main(["--results", str(tmp_path / "results"), "--config-dir", str(mine)]) == 0
    text = (tmp_path / "results" / "report.md").read_text()
    assert f"These rows are in neither the lab's experiments nor `--config-dir {mine}`" in text
    assert "- `mine/renamed`: 1 run(s)" in text and "TABLES=<table>" not in text


def test_the_docs_options_table_is_the_help(capsys: pytest.CaptureFixture) -> None:
    """docs/report.md lists every option of --help, and --help states the defaults it gives."""
    import re

    with pytest.raises(SystemExit):
        report.main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    docs = (Path(__file__).parents[1] / "docs" / "report.md").read_text()
    rows = re.findall(r"^\| `(--[\w-]+)[^`]*` \|([^|]*)\|", docs, flags=re.M)
    options = set(re.findall(r"(--[\w-]+)", shown)) - {"--help"}
    assert {option for option, _ in rows} == options
    for option, default in rows:
        value = default.strip().strip("`")
        if re.fullmatch(r"`[^`]+`|\d+", default.strip()):  # a value, not words
            assert f"(default: {value}" in shown, option


def test_files_no_lab_writes_are_problems_of_their_runs_not_a_trace(tmp_path: Path) -> None:
    """A run folder one was sent, or hand-edited: JSON nested past Python's recursion limit (in
    result.json or a metrics.jsonl line) and a seed of 1e400 stopped the whole report with a
    RecursionError or OverflowError trace."""
    root, out = tmp_path / "results", tmp_path / "report"
    write_seeds(root, "table1/original", [7.0])
    deep = "[" * 100_000 + "]" * 100_000
    (root / "nested").mkdir()
    (root / "nested" / "result.json").write_text(deep)
    huge_seed = write_run(root, "huge_seed", "table1/original", 1, 7.5)
    record = json.loads((huge_seed / "result.json").read_text())
    text = json.dumps(record).replace('"seed": 1', '"seed": 1e400', 1)
    (huge_seed / "result.json").write_text(text)
    curve = write_run(root, "curve", "table1/original", 2, 8.0, curve=[(10, 50.0), (20, 8.0)])
    with (curve / "metrics.jsonl").open("a") as lines:
        lines.write(deep + "\n" + '{"step": 1e400, "test/error": 9.0}\n')
    assert report.main(["--results", str(root), "--out", str(out), "--tables", "table1"]) == 0
    text = (out / "report.md").read_text()
    assert "could not read `nested/result.json`: JSON nested too deep to read" in text
    assert report.read_curve(curve) == [(10, 50.0), (20, 8.0)]
    assert report.read_run(huge_seed / "result.json", "huge_seed").seed is None


def test_names_with_line_breaks_stay_on_their_line(tmp_path: Path) -> None:
    """A folder or experiment name with a line break (a folder one was sent) broke its table
    row or list item, and its next line read as a heading of report.md."""
    root, out = tmp_path / "results", tmp_path / "report"
    write_seeds(root, "table1/original", [7.0])
    write_run(root, "adhoc\n## INJ folder", "", 0, 9.0)
    write_run(root, "d", "table1/original", 3, 9.0, experiment={"name": "x\n## INJ name"})
    (root / "broken\n## INJ file").mkdir()
    (root / "broken\n## INJ file" / "result.json").write_text("{")
    write_run(root, "old\n## INJ note", "table1/original", 4, 7.0, drop=("profile",))
    write_run(root, "e", "", 0, 7.0, experiment={"name": "table1/nope\n## INJ row"})
    assert report.main(["--results", str(root), "--out", str(out), "--tables", "table1"]) == 0
    text = (out / "report.md").read_text()
    assert [line for line in text.splitlines() if "INJ" in line and line.startswith("#")] == []
    assert "| `adhoc ## INJ folder` | completed | 0 | 9.00 |" in text
    assert "could not read `broken ## INJ file/result.json`" in text
    assert "run `old ## INJ note` lacks fields: profile" in text
    assert (
        "tables not asked for (x ## INJ name: 1)" in text
        and "- `table1/nope ## INJ row`: 1 run" in text
    )
    # a profile's name (in the report's first lines), a results folder's
    profiled = tmp_path / "profiled\n## INJ root"
    write_run(profiled, "a", "table1/original", 0, 7.0, profile="p`s\n## INJ profile")
    assert report.main(["--results", str(profiled), "--out", str(out), "--tables", "table1"]) == 0
    text = (out / "report.md").read_text()
    assert [line for line in text.splitlines() if "INJ" in line and line.startswith("#")] == []
    assert "**Profile ``p`s ## INJ profile`` is not the papers' recipe" in text
    # a row's own words (its label, a cell of its table) too, at any of Python's line breaks
    assert report._cell("scale\r\n## INJ\u2028a|b") == "scale ## INJ a\\|b"


def test_a_rows_own_option_files_are_checked_by_both_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fuzz of one's own config folders: a shortcut preset a row chose was checked for its
    variant's name alone, so a YAML mistake in it was a trace in both commands, a misspelt key
    Hydra's lines at training while --check passed, and an empty preset (or `null` for the
    choice) trained identity without a word; a ${...} in the row's experiment: block that
    names nothing was the report's trace; a defaults list that is no list, or names a group
    that is not there or an option by a number, Hydra's trace or lines naming no file."""
    from resnet_lab.command_line import check_command_line

    mine = tmp_path / "mine"
    (mine / "experiment" / "ours").mkdir(parents=True)
    (mine / "shortcut").mkdir()
    row = mine / "experiment" / "ours" / "r.yaml"

    def write_row(choice: str, reported: str = "'6.61'") -> None:
        row.write_text(
            f"# @package _global_\ndefaults:\n  - override /shortcut: {choice}\nexperiment:\n"
            f"  name: ours/r\n  table: Ours\n  order: 1\n  reported: {reported}\n"
        )

    preset = mine / "shortcut" / "gate_b2.yaml"
    write_row("gate_b2")
    for text, said in [
        ("name: gate\n\tgate_bias: -2.0\n", "cannot be read: while scanning for the next token"),
        ("name: gate\ngate_bias: -2.0\ngate_bias: -3.0\n", "found duplicate key gate_bias"),
        ("name: gate\ngate_biass: -2.0\n", "unknown key(s) shortcut.gate_biass (did you mean"),
        ("- gate\n", "a shortcut is a mapping of settings (key: value lines)"),
        (
            "",
            "names no variant: an option file names its variant (name: gate), or the run trains "
            "identity",
        ),
    ]:
        preset.write_text(text)
        assert report.main(["--check", "--config-dir", str(mine), "--tables", "ours"]) == 2
        err = capsys.readouterr().err
        assert f"experiment file {row}, defaults: override /shortcut: gate_b2: " in err, err
        assert said in err and err.count("\n") == 1, err
        with pytest.raises(SystemExit):  # the training command, before Hydra, alike
            check_command_line(
                ["--config-dir", str(mine), "+experiment=ours/r", f"hydra.run.dir={tmp_path}/r"],
                "resnet-lab",
                True,
            )
        assert said in capsys.readouterr().err
    for defaults, said in [  # Hydra: a ValueError trace; lines that name no file
        (
            "{override /shortcut: gate_b2}",
            ": defaults: is a list of entries, e.g. - override /data: cifar100",
        ),
        (
            "[{override /shortcut: 5}]",
            ", defaults: override /shortcut: 5: an option is named "
            "by its file's name (e.g. conv1x1)",
        ),
        (
            "[{override /shortcu: gate_b2}]",
            ", defaults: override /shortcu: gate_b2: there is no "
            "group shortcu; the groups are after_add, data, experiment, hydra, model, profile, "
            "recipe, shortcut",
        ),
    ]:
        row.write_text(f"# @package _global_\ndefaults: {defaults}\nexperiment:\n  name: ours/r\n")
        assert report.main(["--check", "--config-dir", str(mine), "--tables", "ours"]) == 2
        assert capsys.readouterr().err == f"resnet-lab-report: error: experiment file {row}{said}\n"
        with pytest.raises(SystemExit):
            check_command_line(
                ["--config-dir", str(mine), "+experiment=ours/r", f"hydra.run.dir={tmp_path}/r"],
                "resnet-lab",
                True,
            )
        assert said in capsys.readouterr().err
    write_row("null")
    assert report.main(["--check", "--config-dir", str(mine), "--tables", "ours"]) == 2
    assert (
        "defaults: override /shortcut: null: a run has a shortcut, and null trained the "
        "default one; choose one by name: conv1x1, " in capsys.readouterr().err
    )
    write_row("identity", reported="${experiment.nope}")
    assert report.main(["--check", "--config-dir", str(mine), "--tables", "ours"]) == 2
    assert capsys.readouterr().err == (
        f"resnet-lab-report: error: experiment file {row}: Interpolation key 'experiment.nope' "
        "not found (experiment.reported)\n"
    )
    preset.write_text("name: gate\ngate_bias: -2.0\n")  # what is right: both pass
    write_row("gate_b2")
    assert report.main(["--check", "--config-dir", str(mine), "--tables", "ours"]) == 0


def test_the_check_reads_rows_and_profiles_as_the_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fuzz of one's own config folders: --check passed what the training command refuses
    (so make reproduce-table trained the tables before): a row whose byte-order mark hid its
    header, and a profile with a misspelt key, a value of the wrong type, a missing option in
    its defaults or nothing at all (Hydra's lines at training)."""
    mine = tmp_path / "mine"
    (mine / "experiment" / "ours").mkdir(parents=True)
    (mine / "profile").mkdir()
    row = mine / "experiment" / "ours" / "r.yaml"
    good_row = "# @package _global_\nexperiment:\n  name: ours/r\n  table: Ours\n  order: 1\n"
    check = ["--check", "--config-dir", str(mine), "--tables", "ours"]
    row.write_text("\ufeff" + good_row, encoding="utf-8")
    assert report.main(check) == 2
    assert f"experiment file {row} begins with a byte-order mark" in capsys.readouterr().err
    row.write_text(good_row)
    profile = mine / "profile" / "quick.yaml"
    header = "# @package _global_\nprofile: quick\n"
    for text, said in [
        (header + "trainer:\n  nesterv: true\n", "unknown key(s) trainer.nesterv (did you mean"),
        (header + "trainer:\n  weight_decay: lots\n", "Value 'lots' of type 'str' could not be"),
        (
            header + "defaults:\n  - override /data: cifar1000\n",
            "defaults: override /data: cifar1000: there is no data/cifar1000",
        ),
        ("", "does not begin with `# @package _global_`"),
    ]:
        profile.write_text(text)
        assert report.main([*check, "--profile", "quick"]) == 2
        err = capsys.readouterr().err
        assert f"profile file {profile}" in err and said in err, err
    profile.write_text(header + "trainer:\n  nesterov: true\n")  # what is right: it passes
    assert report.main([*check, "--profile", "quick"]) == 0


def test_a_diverged_run_that_records_an_error_still_ranks_as_diverged(tmp_path: Path) -> None:
    """A diverged seed counts as failing (infinite) whatever error its record carries (the
    trainer writes none; an older or hand-made record may)."""
    write_seeds(tmp_path, "table1/original", [6.0, 7.0, None])
    _edit_result(tmp_path / "multirun/table1_original/2", final_test_error=6.5)
    row = _row(tmp_path, "table1/original", seeds=3)
    assert (row.median, row.best, row.mean, row.n) == (7.0, 6.0, 6.5, 3)
    assert row.status == "ok, diverged (1 of 3)"


def test_a_run_that_records_no_seed_counts_after_the_seeded_ones(tmp_path: Path) -> None:
    """--seeds N counts the N lowest seeds first; a run of no recorded seed (an older lab's)
    only fills a gap, as docs/report.md says, and does not push out a seeded run."""
    name = "table6/resnet110"
    write_seeds(tmp_path, name, [6.9, 6.8])
    seedless = write_run(tmp_path, "old/x", name, 0, 5.0)
    _edit_result(seedless, seed=None, config={})
    row = _row(tmp_path, name, seeds=2)
    assert (row.best, row.n, row.status) == (6.8, 2, "ok, other seeds, not counted (1)")


def test_a_test_error_of_zero_percent_is_a_figure(tmp_path: Path) -> None:
    """0% is a percentage (a smoke run on synthetic data can reach it): counted, not left out."""
    write_seeds(tmp_path, "table1/original", [0.0, 1.0, 2.0])
    row = _row(tmp_path, "table1/original", seeds=3)
    assert (row.median, row.best, row.n, row.status) == (1.0, 0.0, 3, "ok")


def test_the_median_curve_counts_a_diverged_seed_only_after_its_last_point(
    tmp_path: Path,
) -> None:
    """At its last logged step a diverged seed still has its error; it is infinite after it."""
    name = "table1/original"
    write_run(tmp_path, "s/0", name, 0, 10.0, curve=[(1000, 50.0), (2000, 10.0)])
    write_run(tmp_path, "s/1", name, 1, status="diverged", curve=[(1000, 30.0)])
    runs, _ = report.find_runs([tmp_path])
    assert report._median_curve(runs) == ([1000], [40.0])


def test_a_statistic_is_compared_by_the_word_it_starts_with() -> None:
    """A row of one's own reporting "median (mean +- std)" is compared by its median."""
    row = replace(DEFINITIONS["table1/original"], statistic="median (mean +- std)")
    assert row.measure == "median"


def test_a_fail_row_of_a_profile_of_ones_own_is_not_said_reproduced(tmp_path: Path) -> None:
    """Only the paper's recipe reproduces the papers' "fail": another profile's runs say fail."""
    write_seeds(tmp_path, "table1/gate_b0", [90.0])
    runs, _ = report.find_runs([tmp_path])
    (table,) = report.build_tables([DEFINITIONS["table1/gate_b0"]], runs, 1, profile="quick")
    assert table.rows[0].status == "fail"
