"""``resnet-lab-gates RUN_DIR``: what the gates of a trained gated net do, per unit and per class.

The highway paper (Srivastava et al. 2015, Fig. 3) shows that transform gates respond to the
class of the input ("stripes"); this tool measures that for any run whose shortcut has gates
(``highway``, ``gate``, ``shortcut_gate``). It loads the run's newest checkpoint, evaluates the
eval split of the run's dataset and writes, into ``RUN_DIR/gates`` (or ``--out``):

    gates.json   mean gate value per unit, overall and per class (and what was measured)
    gates.csv    the same as a table: one row per unit, one column per class
    gates.png    heat maps units x classes: the means, and each class minus the unit's mean
    events.out.tfevents.*.gates   TensorBoard histograms ``gate/unit_NNN`` of all gate values

Unit numbers are the gates' order in the network, as in the trainer's ``gate/unit_NNN`` scalars.
A per-image gate value is the mean over the gate's channels and positions.
"""

from __future__ import annotations

if __name__ == "__main__":  # python -m resnet_lab.gates: its console script, which imports
    # this module afresh under its signal hold (a Ctrl-C in the torch import was swallowed here)
    from resnet_lab.console import gates

    gates()

import argparse
import contextlib
import csv
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from resnet_lab import stopping
from resnet_lab.command_line import cannot_make
from resnet_lab.console import OneLineParser, given_path
from resnet_lab.errors import UserError
from resnet_lab.evaluate import (
    in_flags,
    positive_int,
    precision_note,
    unfinished,
    unused_root_note,
)
from resnet_lab.run_folder import RunLock, held_record, in_checkpoints, jsonable

if TYPE_CHECKING:
    from resnet_lab.pretrained import LoadedCheckpoint

log = logging.getLogger(__name__)

BINS = 100  # histogram buckets on [0, 1], of equal width in logit: logit(g) from -10 to 10
LOGIT_SPAN = 10.0  # a gate of b_g = -6 sits near 0.0025: even buckets put nearly all in one
STAGING_PREFIX = ".gates-writing-"  # the hidden folder the files are made in, then moved out
EVENTS_SUFFIX = ".gates"  # marks the event files this tool writes: a new measurement replaces them


class GateStats:
    """Accumulates, per gate, per-class sums of per-image means and an exact histogram.

    Counts use ``index_add_``, not ``bincount``, which syncs with the host on CUDA to size its
    output."""

    def __init__(self, num_gates: int, num_classes: int, device: torch.device) -> None:
        f64 = {"device": device, "dtype": torch.float64}
        self.class_sums = torch.zeros(num_gates, num_classes, **f64)
        self.class_counts = torch.zeros(num_classes, **f64)
        self.counts = torch.zeros(num_gates, BINS, device=device, dtype=torch.long)
        self.boundaries = bucket_limits()[:-1].to(device)  # bucket b: [limit b-1, limit b)
        self.sums = torch.zeros(num_gates, **f64)
        self.squares = torch.zeros(num_gates, **f64)
        self.mins = torch.ones(num_gates, **f64)
        self.maxs = torch.zeros(num_gates, **f64)
        self.labels: Tensor | None = None  # of the batch being evaluated
        self.nonfinite = torch.zeros((), device=device, dtype=torch.long)  # NaN or inf gates

    def hook(self, index: int) -> Callable[[nn.Module, Any, Tensor], None]:
        def record(module: nn.Module, inputs: Any, output: Tensor) -> None:
            assert self.labels is not None
            g = output.detach().float()
            self.class_sums[index].index_add_(
                0, self.labels, g.flatten(1).mean(1, dtype=torch.float64)
            )
            # a value that is not finite (a diverged net's) is left out of the histogram and
            # counted apart: bucketize put a NaN in the top bucket, a fully open gate
            finite = g.isfinite()
            self.nonfinite += (~finite).sum()
            bucket = torch.bucketize(g.flatten(), self.boundaries, right=True)
            self.counts[index].index_add_(0, bucket, finite.flatten().long())
            g = torch.where(finite, g, 0.0)
            self.sums[index] += g.sum(dtype=torch.float64)
            self.squares[index] += (g * g).sum(dtype=torch.float64)
            low = torch.where(finite, g, torch.inf).min()
            high = torch.where(finite, g, -torch.inf).max()
            self.mins[index] = torch.minimum(self.mins[index], low.double())
            self.maxs[index] = torch.maximum(self.maxs[index], high.double())

        return record

    def add_labels(self, labels: Tensor) -> None:
        self.labels = labels
        self.class_counts.index_add_(0, labels, torch.ones_like(labels, dtype=torch.float64))


def gate_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The gates in network order; a net without any is the user's mistake."""
    from resnet_lab.models.shortcuts import SHORTCUTS, GateActivation, Gated

    gates = [(name, m) for name, m in model.named_modules() if isinstance(m, GateActivation)]
    if not gates:
        gated = [name for name in SHORTCUTS if issubclass(SHORTCUTS.get(name), Gated)]
        raise UserError(
            f"this run's network has no gates; the tool needs shortcut={' or '.join(gated)}"
        )
    return gates


def measure(
    model: nn.Module, batches: Any, num_classes: int, device: torch.device, bf16: bool = False
) -> tuple[list[str], GateStats]:
    """Run ``batches`` of (x, y) through ``model`` in eval mode, recording every gate (``bf16``:
    under bf16 autocast, as a bf16 run evaluated and logged its gate means)."""
    gates = gate_modules(model)
    stats = GateStats(len(gates), num_classes, device)
    hooks = [m.register_forward_hook(stats.hook(i)) for i, (_, m) in enumerate(gates)]
    model.eval()
    try:
        with (
            torch.inference_mode(),
            torch.autocast(device.type, torch.bfloat16, enabled=bf16),
        ):
            for x, y in batches:
                stats.add_labels(y)
                model(x)
    finally:
        for h in hooks:
            h.remove()
    return [name for name, _ in gates], stats


def summarize(names: list[str], stats: GateStats, classes: list[str]) -> list[dict[str, Any]]:
    """One record per gate: its module, mean over all images, and mean per class."""
    counts = stats.class_counts.cpu()
    sums = stats.class_sums.cpu()
    present = (counts > 0).tolist()
    per_class = (sums / counts.clamp(min=1)).tolist()
    overall = (sums.sum(1) / counts.sum()).tolist()
    return [
        {
            "unit": i,
            "module": name,
            "mean": overall[i],
            "per_class": {
                c: v if seen else None
                for c, v, seen in zip(classes, per_class[i], present, strict=True)
            },
        }
        for i, name in enumerate(names)
    ]


def write_csv(units: list[dict[str, Any]], classes: list[str], path: Path) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["unit", "module", "all", *classes])
        for u in units:
            writer.writerow([u["unit"], u["module"], u["mean"], *u["per_class"].values()])


def bucket_limits() -> Tensor:
    """The histogram's bucket upper limits: sigmoid of even steps in logit, the last one 1."""
    logits = torch.linspace(-LOGIT_SPAN, LOGIT_SPAN, BINS + 1, dtype=torch.float64)[1:]
    limits = torch.sigmoid(logits).float()
    limits[-1] = 1.0
    return limits


def write_histograms(stats: GateStats, out: Path, step: int) -> None:
    """The histograms, as TensorBoard events in ``out`` (named with EVENTS_SUFFIX)."""
    from torch.utils.tensorboard import SummaryWriter

    limits = bucket_limits().tolist()
    with SummaryWriter(str(out), filename_suffix=EVENTS_SUFFIX) as writer:
        for i in range(len(stats.sums)):
            counts = stats.counts[i].cpu()
            writer.add_histogram_raw(
                f"gate/unit_{i:03d}",
                min=stats.mins[i].item(),
                max=stats.maxs[i].item(),
                num=int(counts.sum()),
                sum=stats.sums[i].item(),
                sum_squares=stats.squares[i].item(),
                bucket_limits=limits,
                bucket_counts=counts.tolist(),
                global_step=step,
            )


DEVIATION_SCALE = 0.05  # the smallest colour range of the heat map's class deviations


def plot_heatmap(units: list[dict[str, Any]], classes: list[str], path: Path, title: str) -> None:
    """Left: mean gate per unit and class; right: class mean minus the unit's overall mean (the
    highway paper's view, in which class-specific gates show as stripes)."""
    from matplotlib.figure import Figure

    nan = float("nan")
    means = torch.tensor(
        [[nan if v is None else v for v in u["per_class"].values()] for u in units]
    )
    deviation = means - torch.tensor([u["mean"] for u in units])[:, None]
    height = max(4.0, 2 + 0.15 * len(units))  # the colour bars' labels need 4 inches
    figure = Figure(figsize=(4 + 0.25 * min(len(classes), 40), height), layout="constrained")
    left, right = figure.subplots(1, 2, sharey=True)
    image = left.imshow(means.numpy(), aspect="auto", cmap="viridis", vmin=0, vmax=1)
    figure.colorbar(image, ax=left, label="mean gate value")
    # at least +-DEVIATION_SCALE: differences of a thousandth would otherwise fill the scale and
    # look like strong class stripes
    bound = max(float(deviation.nan_to_num().abs().max()), DEVIATION_SCALE)
    image = right.imshow(deviation.numpy(), aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound)
    figure.colorbar(
        image, ax=right, label=f"class mean - unit mean (scale at least ±{DEVIATION_SCALE})"
    )
    ticks = range(len(classes)) if len(classes) <= 20 else range(0, len(classes), 10)
    for axes in (left, right):
        axes.set_xticks(list(ticks), [classes[t] for t in ticks], rotation=90, fontsize="small")
        axes.set_xlabel("class")
    step = max(1, len(units) // 20)  # whole unit numbers (few units showed 0.5, 1.5, ...)
    left.set_yticks(list(range(0, len(units), step)), [u["unit"] for u in units][::step])
    left.set_ylabel("unit (gate)")
    figure.suptitle(title)
    figure.savefig(path, dpi=100)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog="resnet-lab-gates",
        description="Mean gate value per unit and per class of a trained gated net "
        "(JSON, CSV, TensorBoard histograms, heat map).",
    )
    parser.add_argument(
        "run_dir", type=given_path, help="a run folder with ckpt/, or a checkpoint file"
    )
    parser.add_argument("--out", type=given_path, help="output folder (default RUN_DIR/gates)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    parser.add_argument(
        "--batch-size", type=positive_int, help="default: the run's trainer.eval_batch_size"
    )
    parser.add_argument(
        "--data-root",
        help="where the dataset is, if not the run's data.root (where that holds no dataset "
        "here: $RESNET_LAB_DATA)",
    )
    return parser.parse_args(argv)


def _output_folder(out: Path | None, ckpt_dir: Path) -> Path:
    """--out, or the run's gates/ folder, checked and made before the measurement it would
    otherwise lose (:func:`_made_until_refused` takes it back if the command stops first)."""
    named = "--out" if out else "the output folder"
    out = out or _default_out(ckpt_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"{named} {out} is a file: give a folder for the gate statistics")
    if problem := in_checkpoints(out, f"{named} {out}"):
        raise UserError(
            f"{problem}: give the gate statistics a folder of their own (the default is the "
            "run's gates/)"
        )
    if held := held_record(out):
        raise UserError(  # its TensorBoard events would show as that run's or study's
            f"{named} {out} holds a run or a lesion study ({held}): give the gate statistics "
            "a folder of their own (the default is the run's gates/)"
        )
    if problem := cannot_make(out):  # a file or a dangling link on the way: Python's words
        raise UserError(f"{named} {out}: {problem}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{named} {out}: cannot make this folder ({e.strerror})") from None
    return out


def run(args: argparse.Namespace) -> Path:
    """Measure the gates of ``args.run_dir``'s newest checkpoint; returns the output folder."""
    from resnet_lab.pretrained import lab_network, read_checkpoint

    loaded = read_checkpoint(args.run_dir)
    model = lab_network(loaded)
    gate_modules(model)  # before loading the data: a run without gates is told at once
    wanted = args.out or _default_out(loaded.path.parent)
    missing = [p for p in (wanted, *wanted.parents) if not p.exists()]  # what mkdir will make
    out = _output_folder(args.out, loaded.path.parent)  # and a bad --out
    with _made_until_refused(missing):
        return _measure_and_write(args, loaded, model, out)


def _default_out(ckpt_dir: Path) -> Path:
    """The run's gates/ folder (beside ckpt/)."""
    return (ckpt_dir.parent if ckpt_dir.name == "ckpt" else ckpt_dir) / "gates"


@contextmanager
def _made_until_refused(made: list[Path]) -> Iterator[None]:
    """The folders this command made (innermost first) go again, still empty, when it stops
    before writing."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            for folder in made:
                folder.rmdir()  # only if empty
        raise


def _measure_and_write(
    args: argparse.Namespace, loaded: LoadedCheckpoint, model: nn.Module, out: Path
) -> Path:
    """The measurement on the run's eval images and its files in ``out``; the checks that need
    the data (device, dataset) come first, so a refusal writes nothing."""
    from resnet_lab.data import eval_batches, load_data
    from resnet_lab.device import resolve_device
    from resnet_lab.pretrained import check_statistics, data_config, progress

    config = loaded.state["config"]
    device = resolve_device(args.device, option="--device")
    model.to(device)
    data = load_data(data_config(config.get("data"), args.data_root), device)
    check_statistics(loaded, data.mean, data.std, data.source)  # the run's split and limit
    if note := unfinished(progress(loaded)):  # its gates are not the trained net's
        log.warning("note: %s", note)
    dataset = config.get("data", {}).get("name")
    if note := unused_root_note(dataset, args.data_root, "--data-root "):
        log.warning("note: %s", note)
    precision = config["trainer"].get("precision")
    if note := precision_note(precision):
        log.warning("note: %s", note)
    batch_size = args.batch_size or config["trainer"]["eval_batch_size"]
    batches = eval_batches(data, batch_size)
    names, stats = measure(model, batches, data.num_classes, device, bf16=precision == "bf16")
    if nonfinite := int(stats.nonfinite):
        log.warning(
            "note: %d gate values are not finite (NaN or inf: a diverged net?); the histograms "
            "leave them out, the means show them",
            nonfinite,
        )
    units = summarize(names, stats, data.classes)

    step = int(loaded.state.get("train_state", {}).get("step", 0))
    experiment = config.get("experiment", {}).get("name", "")
    record = {
        "run_dir": os.path.abspath(args.run_dir),  # read later from elsewhere, it still finds it
        "checkpoint": loaded.path.name,
        "step": step,
        "experiment": experiment,
        "shortcut": config["shortcut"],
        "eval_split": data.eval_split,
        "images": int(stats.class_counts.sum()),
        "classes": data.classes,
        "units": units,
    }
    shortcut = config["shortcut"]["name"]
    title = f"{experiment or args.run_dir.name}: shortcut={shortcut}, step {step}"
    with (
        stopping.signals_deferred() as late,  # a few seconds: the files are written whole
        # another command writing there: refused, its files left alone (resnet-lab-gates.lock)
        RunLock(out, "resnet-lab-gates", elsewhere="--out DIR"),
    ):
        _write_all(out, record, units, data.classes, stats, title)
    if late:
        raise SignalAfterWriting(late[0], out)
    return out


def _write_all(
    out: Path,
    record: dict[str, Any],
    units: list[dict[str, Any]],
    classes: list[str],
    stats: GateStats,
    title: str,
) -> None:
    """Every output, made in a hidden folder inside ``out``, then moved over an earlier
    measurement's, gates.json last: a full disk leaves the earlier one whole, not half of each.
    Other event files in ``out`` (not this tool's) stay. The caller holds the folder's lock:
    a hidden folder left there is a killed command's (TensorBoard lists it), not a live one's."""
    for left in out.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(left, ignore_errors=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
        try:
            write_histograms(stats, staging, record["step"])
            write_csv(units, classes, staging / "gates.csv")
            plot_heatmap(units, classes, staging / "gates.png", title)
            (staging / "gates.json").write_text(json.dumps(jsonable(record), indent=2) + "\n")
            # the earlier gates.json first: a kill while the files are moved leaves no record
            # beside files of another measurement, only files a new command replaces
            (out / "gates.json").unlink(missing_ok=True)
            for earlier in out.glob(f"events.out.tfevents.*{EVENTS_SUFFIX}"):
                earlier.unlink(missing_ok=True)
            for made in sorted(staging.iterdir(), key=lambda p: p.name == "gates.json"):
                os.replace(made, out / made.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as e:
        raise UserError(
            f"cannot write the gate statistics into {out} ({e.strerror or e}): make room or "
            "give another --out; an earlier measurement there is kept"
        ) from None


class SignalAfterWriting(Exception):
    """SIGINT/SIGTERM while the outputs were written: they were finished first."""

    def __init__(self, signum: signal.Signals, out: Path) -> None:
        super().__init__(signum.name)
        self.signum, self.out = signum, out


def main(argv: list[str] | None = None) -> int:
    """Console entry point; user mistakes print one line and return 2."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    received: list[signal.Signals] = []  # a signal as the handler is set: no list yet
    try:
        with stopping.signals_interrupt() as received:
            out = run(args)
    except UserError as e:
        print(f"resnet-lab-gates: error: {in_flags(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        signum = received[0] if received else signal.SIGINT
        print(
            f"resnet-lab-gates: interrupted by {signum.name} before writing anything (gates "
            "files already in the output folder are an earlier measurement's); run the "
            "command again",
            file=sys.stderr,
        )
        return 128 + signum
    except SignalAfterWriting as late:
        print(
            f"resnet-lab-gates: {late.signum.name} while writing: the statistics were finished "
            f"first and are complete in {late.out}",
            file=sys.stderr,
        )
        return 128 + late.signum
    log.info("gate statistics written to %s", out)
    return 0
