"""``resnet-lab-eval CHECKPOINT``: the test error of any trained network on its dataset's test set.

CHECKPOINT is a resnet-lab run folder or ``ckpt/step_*.pt`` file, or a pytorch_resnet_cifar10
checkpoint. Each is fed the input normalisation it was trained with (see
:mod:`resnet_lab.pretrained`): resnet-lab nets that of their own training images (the per-pixel
mean, or the per-channel mean and std: ``data.normalization``), peer nets their per-channel
mean/std.
"""

from __future__ import annotations

if __name__ == "__main__":  # python -m resnet_lab.evaluate: its console script, which imports
    # this module afresh under its signal hold (a Ctrl-C in the torch import was swallowed here)
    from resnet_lab.console import evaluate

    evaluate()

import argparse
import logging
import re
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from resnet_lab import stopping
from resnet_lab.console import OneLineParser, given_path
from resnet_lab.data import DOWNLOAD_HINT, DeviceData, load_data
from resnet_lab.device import resolve_device
from resnet_lab.errors import ConfigError, UserError
from resnet_lab.pretrained import (
    LoadedCheckpoint,
    NormalizedNet,
    check_statistics,
    data_config,
    read_checkpoint,
    training_statistics,
    wrap,
)


def image_batches(
    images: Tensor, labels: Tensor, batch_size: int
) -> Iterator[tuple[Tensor, Tensor]]:
    """uint8 images in order, channels-last (faster convolutions on CPU and GPU), with labels."""
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    for start in range(0, labels.shape[0], batch_size):
        x = images[start : start + batch_size].contiguous(memory_format=torch.channels_last)
        yield x, labels[start : start + batch_size]


def prediction_counts(logits: Tensor, labels: Tensor) -> Tensor:
    """(wrong predictions, images whose outputs are not finite) of one batch, on its device: a
    net of NaN outputs answers class 0 for every image, an error that would read as a figure."""
    return torch.stack([(logits.argmax(1) != labels).sum(), (~logits.isfinite().all(1)).sum()])


def evaluate(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> float:
    """Error in percent of ``model`` (in its current mode) over the batches; refused where its
    outputs are not finite (:func:`prediction_counts`)."""
    counts: Tensor | None = None  # summed on the device: one host sync
    total = 0
    with torch.inference_mode():
        for x, y in batches:
            batch = prediction_counts(model(x), y)
            counts = batch if counts is None else counts + batch
            total += y.shape[0]
    if counts is None:
        raise ConfigError("no images to evaluate")
    wrong, not_finite = counts.tolist()
    if not_finite:
        raise ConfigError(
            f"the net's outputs are not finite (NaN or inf) on {not_finite} of {total} images: "
            "it has no error to measure (a diverged run's net?)"
        )
    return 100.0 * wrong / total


def saved_data(loaded: LoadedCheckpoint) -> dict[str, Any]:
    """The data settings a checkpoint was trained with (CIFAR defaults for a peer net)."""
    if loaded.kind == "resnet-lab":
        return dict(loaded.state["config"].get("data", {}))
    classes = next(v for k, v in loaded.state["state_dict"].items() if k.endswith("linear.weight"))
    n = classes.shape[0]
    return {"name": "cifar10" if n == 10 else "cifar100", "num_classes": n}


def attach(loaded: LoadedCheckpoint, data: DeviceData, device: torch.device) -> NormalizedNet:
    """The trained net (eval mode, channels-last, on ``device``) normalising its input as it was
    trained to: resnet-lab nets with the statistics of the training images of ``data`` they
    used."""
    saved = saved_data(loaded)
    if saved.get("num_classes", data.num_classes) != data.num_classes:
        raise ConfigError(
            f"{loaded.path} has {saved['num_classes']} classes, the data {data.num_classes}"
        )
    mean, std = None, None
    if loaded.kind == "resnet-lab":
        mean, std = training_statistics(data.train_images, saved)
        check_statistics(loaded, mean, std, data.source)
    model = wrap(loaded, mean, std).to(device, memory_format=torch.channels_last)
    model.info["trained_on"] = saved.get("name")  # nets compared must share their dataset
    return model


def prepare(
    checkpoint: str | Path, data_root: str | None, device: torch.device
) -> tuple[NormalizedNet, DeviceData]:
    """The trained net and its dataset: the full training set (its mean checked against the
    checkpoint's, or computed for an earlier lab's; BN re-estimation) and the test set,
    whatever split the run trained on."""
    loaded = read_checkpoint(checkpoint, "cpu")
    data = load_data(data_config(saved_data(loaded), data_root, split="full", limit=None), device)
    return attach(loaded, data, device), data


def unfinished(info: dict[str, Any]) -> str | None:
    """What to say of a checkpoint taken before its run's last step (a run interrupted or still
    training): its figures are not the trained net's."""
    step, max_steps = info.get("step"), info.get("max_steps")
    if step is None or max_steps is None or step >= max_steps:
        return None
    if damaged := info.get("damaged_newer"):
        return (
            f"step {step:,} of {max_steps:,}: the run's {damaged} newer checkpoint(s) could not "
            "be read (damaged), so an earlier net's"
        )
    if newer := info.get("newer"):
        return (
            f"step {step:,} of {max_steps:,}: an earlier checkpoint of its run, which went on "
            f"({newer} newer checkpoint(s) beside it)"
        )
    if info.get("newer", 0) is None:  # a file outside a run's ckpt/ folder: its run unknown
        return f"step {step:,} of {max_steps:,}: saved before its run's last step (a partial net)"
    return f"step {step:,} of {max_steps:,}: the run had not finished training (a partial net)"


def run_notes(info: dict[str, Any]) -> list[str]:
    """Why an error differs from the figure the run recorded, besides its step and limit: its
    figure was a validation error, or its arithmetic is not this tool's."""
    notes = []
    if info.get("eval_split") == "val" and info.get("chosen_step") is None:  # else a test figure
        notes.append(
            "the run measured its errors on the validation split (data.split=val); this is "
            "the test set's"
        )
    if note := precision_note(info.get("precision")):
        notes.append(note)
    return notes


def precision_note(precision: str | None) -> str | None:
    """How a run of ``precision`` is computed here, where that is not IEEE float32."""
    if precision == "bf16":
        return "computed under bf16 autocast, as the run evaluated (trainer.precision=bf16)"
    if precision == "tf32":
        return (
            "the run computed float32 in TF32 on CUDA (trainer.precision=tf32); this tool "
            "computes it as IEEE float32: the last digits may differ"
        )
    return None


def chosen_step_note(info: dict[str, Any]) -> str | None:
    """Why an error differs from the figure of a run that chose its evaluation on validation
    (trainer.test_at_best_val): that figure is another step's net."""
    chosen, step = info.get("chosen_step"), info.get("step")
    if chosen is None or chosen == step:
        return None
    return (
        f"the run's figure is the test error at step {chosen:,}, where its validation error was "
        f"lowest; this checkpoint is step {step:,}'s net"
    )


def limit_note(info: dict[str, Any], limit: int | None, option: str) -> str | None:
    """Why an error differs from the run's own: it measured the first ``data.limit`` images
    (``option``: how this tool sets its limit, e.g. ``--limit ``)."""
    run_limit = info.get("data_limit")
    if not run_limit or run_limit == limit:
        return None
    # the first of the validation images, not here (a run choosing on validation: a test figure)
    val = info.get("eval_split") == "val" and info.get("chosen_step") is None
    return (
        f"the run used data.limit={run_limit}: it trained on the first {run_limit} training "
        f"images and measured its error on (at most) the first {run_limit} "
        + ("validation images" if val else f"test images ({option}{run_limit} measures the same)")
    )


def unused_root_note(dataset: str | None, root: str | None, option: str) -> str | None:
    """A data root given for a net trained on synthetic data, which is generated, not read:
    the folder was not looked at (``option``: how the tool sets it, e.g. ``--data-root ``)."""
    if root is None or dataset != "synthetic":
        return None
    return (
        f"{option}{root or repr('')} is not used: the run trained on synthetic data, generated, "
        "not read"
    )


def without_download(message: str) -> str:
    """A data message for a tool that only reads a run's data: it has no data.download."""
    return message.replace(DOWNLOAD_HINT, "")


def in_flags(message: str) -> str:
    """A data message for a command with flags: the loader names the Hydra settings
    (``data.root=...``), which resnet-lab-eval and resnet-lab-gates give as ``--data-root``."""
    message = re.sub(r"\bdata\.root=", "--data-root ", message)
    return without_download(re.sub(r"\bdata\.root\b", "--data-root", message))


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # argparse's own words name this function
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of resnet-lab-eval (resnet-lab-lesion takes the Hydra overrides
    checkpoint=PATH data.root=DIR data.limit=N trainer.eval_batch_size=B trainer.device=D)."""
    parser.add_argument(
        "checkpoint",
        type=given_path,
        help="resnet-lab run folder or ckpt/step_*.pt file, or a pytorch_resnet_cifar10 .th file",
    )
    parser.add_argument(
        "--data-root",
        help="folder holding cifar-10-batches-bin/ (default: the run's data.root where it holds "
        "the dataset here, else $RESNET_LAB_DATA; a peer checkpoint: $RESNET_LAB_DATA, else "
        "./data)",
    )
    parser.add_argument(
        "--limit", type=positive_int, help="use only the first N test images (quick looks)"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=500,
        help="images per batch (default: %(default)s)",
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")


def main(argv: list[str] | None = None) -> int:
    """``resnet-lab-eval CHECKPOINT [--data-root DIR] [--limit N] [--batch-size B] [--device D]``"""
    parser = OneLineParser(
        prog="resnet-lab-eval",
        description="Test error of a trained network (resnet-lab or pytorch_resnet_cifar10 "
        "checkpoint) on its dataset's test set, with the input normalisation it was trained with.",
    )
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    received: list[signal.Signals] = []  # a signal as the handler is set: no list yet
    try:
        with stopping.signals_interrupt() as received:
            device = resolve_device(args.device, option="--device")
            model, data = prepare(args.checkpoint, args.data_root, device)
            images, labels = data.eval_images[: args.limit], data.eval_labels[: args.limit]
            start = time.perf_counter()
            error = evaluate(model, image_batches(images, labels, args.batch_size))
            seconds = time.perf_counter() - start
    except UserError as e:
        print(f"resnet-lab-eval: error: {in_flags(str(e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        signum = received[0] if received else signal.SIGINT
        print(
            f"resnet-lab-eval: interrupted by {signum.name} (it writes no files)", file=sys.stderr
        )
        return 128 + signum
    n = labels.shape[0]
    info = model.info
    print(f"checkpoint: {info['path']} ({info['net']})")
    if (progress := unfinished(info)) is not None:
        print(f"note:       {progress}")
    print(f"input:      {info['normalization']}")
    if (best := info.get("best_prec1")) is not None:
        print(f"stored:     best_prec1 {best:.2f} (error {100 - best:.2f}%)")
    print(
        f"test error: {error:.2f}% ({round(error * n / 100)} of {n} {data.eval_split} images "
        f"wrong; {data.source}; {device}, {seconds:.0f} s)"
    )
    if note := limit_note(info, args.limit, "--limit "):
        print(f"note:       {note}")
    if note := chosen_step_note(info):
        print(f"note:       {note}")
    for note in run_notes(info):
        print(f"note:       {note}")
    if note := unused_root_note(info.get("trained_on"), args.data_root, "--data-root "):
        print(f"note:       {note}")
    if args.limit is not None and args.limit > n:
        print(f"note:       --limit {args.limit} is above the {n} {data.eval_split} images")
    return 0
