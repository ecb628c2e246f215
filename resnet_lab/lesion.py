"""``resnet-lab-lesion checkpoint=PATH``: the lesion study of Veit et al. (2016) on a trained
ResNet.

At test time, without retraining: delete each residual unit's branch in turn (only its shortcut
remains), delete k random units, swap k random pairs of shape-compatible units; optionally
re-estimate the BN statistics after each lesion, and analyse path lengths (``resnet_lab.paths``).

Hydra-configured like ``resnet-lab``: ``conf/lesion.yaml``, schema
:class:`resnet_lab.lesion_config.LesionRunCfg` (``data.root``, ``data.limit``,
``trainer.device``, ``lesion.*``, ``seed``).

Choices, where the paper leaves room:

* Random deletions exclude the downsampling units by default (``lesion.include_downsampling``
  adds them): deleting one of those is the one single lesion the paper finds harmful, so
  including them mixes two effects; the paper's reordering likewise ignores them.
* Swaps exchange units of identical input and output shape only: units of one stage, neither a
  downsampling unit nor a unit whose pre-activation also feeds its shortcut (the first unit of a
  pre-activation net, which carries the stem's BN-ReLU). Kendall tau compares the whole order.
  The k pairs of a swap are disjoint: k swaps move 2k units, as the plots' k says.
* Subsets and swapped orders are distinct within each k; where fewer exist than
  ``lesion.samples`` all are measured, each once.

Outputs in the Hydra run folder (``hydra.run.dir``): lesion.json (every measurement), lesion.md
(tables), lesion_single.png, lesion_random.png, lesion_swap.png (and paths.png), TensorBoard
scalars, and Hydra's .hydra/ config and resnet-lab-lesion.log. A part with nothing to measure
(no two swappable units, as in a ResNet-8; no unit but downsampling ones to delete at random)
is skipped with a one-line note ("skipped" in lesion.json, lesion.md, the log, TensorBoard text)
and no plot.
"""

from __future__ import annotations

if __name__ == "__main__":  # python -m resnet_lab.lesion: its console script, which imports
    # this module afresh under its signal hold (a Ctrl-C in the torch import was swallowed here)
    from resnet_lab.console import lesion

    lesion()

import bisect
import contextlib
import copy
import functools
import hashlib
import itertools
import json
import logging
import math
import random
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import Tensor, nn

from resnet_lab import stopping
from resnet_lab.checkpoint import atomic_save_figure, atomic_write_text
from resnet_lab.config import check_seed, flatten_keys, keys_not_in_schema
from resnet_lab.data import DeviceData
from resnet_lab.device import resolve_device
from resnet_lab.errors import ConfigError, JobRefused, UserError, in_one_line
from resnet_lab.evaluate import (
    attach,
    chosen_step_note,
    evaluate,
    image_batches,
    limit_note,
    prepare,
    run_notes,
    saved_data,
    unfinished,
    unused_root_note,
    without_download,
)
from resnet_lab.lesion_config import (
    EXPERIMENTS,
    LesionCfg,
    LesionRunCfg,
    unknown_settings_message,
)
from resnet_lab.models import ResNet
from resnet_lab.models.shortcuts import IdentityShortcut
from resnet_lab.pasteable import pasteable_override
from resnet_lab.paths import (
    central_range,
    path_length_distribution,
    path_study,
    paths_markdown,
    plot_paths,
)
from resnet_lab.pretrained import NormalizedNet, OtherTrainingImages, read_checkpoint
from resnet_lab.run_folder import (
    STUDY_PROGRESS,
    STUDY_RECORDS,
    RunLock,
    discard_refused_folder,
    environment,
    held_record,
    into_the_log_file,
    jsonable,
    loads_json,
    slurm_requeues,
    study_folder_problem,
)

log = logging.getLogger(__name__)

# a study's TensorBoard events file ends so: one left by an unfinished study can be told apart
EVENTS_SUFFIX = ".lesion"
Measure = Callable[[], float]  # error (%) of the model in its current (lesioned) state
SAVE_EVERY_S = 10.0  # lesion.progress.json at most this old when a measurement starts

# What Veit et al. (2016) found on their net, one line under each measured part of lesion.md
# (the project's notes on the paper, ../shared/reference/papers.md; docs/lesion.md compares a
# study with them). The random-deletion medians are from the authors' released results.
PAPER_NET = "Veit et al.'s pre-activation ResNet-110 of 54 units on CIFAR-10"
PAPER_UNITS = 54
PAPER_RANDOM_MEDIANS = {1: 6.5, 10: 25.0, 20: 74.0}  # k deleted -> median test error %
PAPER_FINDINGS = {
    "single": "deleting one unit barely changes the error, except a downsampling unit",
    "swap": "the error rises smoothly as more pairs are swapped (as Kendall tau falls)",
    "paths": "95% of the paths are 19 to 35 units long, and paths of 5 to 17 units carry "
    "almost all of the gradient",
}

# ---------------------------------------------------------------------------------------------
# Pure logic


def kendall_tau(order: Sequence[int]) -> float:
    """Kendall rank correlation between ``order`` and the original order 0..n-1 (1: unchanged,
    -1: reversed); ``order[p]`` is the original index of the unit now at position p."""
    n = len(order)
    if n < 2:
        return 1.0
    inversions = sum(order[i] > order[j] for i, j in itertools.combinations(range(n), 2))
    return 1.0 - 4.0 * inversions / (n * (n - 1))


def contiguous_groups(n: int, fixed: Iterable[int]) -> list[list[int]]:
    """Runs of consecutive positions 0..n-1 between the ``fixed`` ones (runs of 2 or more)."""
    fixed = set(fixed)
    groups: list[list[int]] = [[]]
    for i in range(n):
        if i in fixed:
            groups.append([])
        else:
            groups[-1].append(i)
    return [g for g in groups if len(g) > 1]


def swap_groups(model: nn.Module) -> list[list[int]]:
    """Positions whose units may trade places: same input and output shape, within a stage."""
    fixed = set(model.downsampling_units)
    fixed |= {i for i, u in enumerate(model.units) if not isinstance(u.shared_head, nn.Identity)}
    return contiguous_groups(len(model.units), fixed)


def most_swaps(groups: Sequence[Sequence[int]]) -> int:
    """The most pairs one order can swap: no unit is in two pairs, each pair within a group."""
    return sum(len(group) // 2 for group in groups)


def _pairings(n: int, pairs: int) -> int:
    """Ways to choose ``pairs`` disjoint pairs among n units."""
    return math.comb(n, 2 * pairs) * math.factorial(2 * pairs) // (2**pairs * math.factorial(pairs))


@functools.cache
def _swap_counts(sizes: tuple[int, ...]) -> list[list[int]]:
    """counts[i][k]: the ways to swap k disjoint pairs within the groups of sizes[i:] (so
    counts[0][k] is the number of orders with exactly k pairs swapped); computed once per net,
    not per draw."""
    counts = [[1]]
    for size in reversed(sizes):
        within = [_pairings(size, j) for j in range(size // 2 + 1)]
        after = counts[0]
        counts.insert(
            0,
            [
                sum(within[j] * after[k - j] for j in range(len(within)) if 0 <= k - j < len(after))
                for k in range(len(within) + len(after) - 1)
            ],
        )
    return counts


def swap_pairs(
    order: Sequence[int], k: int, rng: random.Random, groups: Sequence[Sequence[int]]
) -> list[int]:
    """``order`` with k random pairs of positions swapped, each pair within one group and no
    position in two pairs (so k swaps move exactly 2k units, as the label says); every such
    order is equally likely."""
    if k > (limit := most_swaps(groups)):
        raise ConfigError(f"cannot swap {k} pairs: at most {limit} disjoint compatible pairs exist")
    counts = _swap_counts(tuple(map(len, groups)))
    chosen: list[tuple[int, int]] = []
    for i, group in enumerate(groups):  # pairs in this group, weighted by the orders they allow
        after = counts[i + 1]
        weights = [
            _pairings(len(group), j) * after[k - j] if k - j < len(after) else 0
            for j in range(min(k, len(group) // 2) + 1)
        ]
        # integers throughout: exact, where float weights would overflow in a deep net
        j = bisect.bisect_right(list(itertools.accumulate(weights)), rng.randrange(sum(weights)))
        units = rng.sample(list(group), 2 * j)  # in random order: consecutive ones pair up
        chosen += zip(units[::2], units[1::2], strict=True)
        k -= j
    return _swapped(order, chosen)


def _every_swap(groups: Sequence[Sequence[int]], k: int) -> Iterator[list[tuple[int, int]]]:
    """Each way to swap k disjoint pairs within the groups, once."""
    if not groups:
        if k == 0:
            yield []
        return
    for j in range(min(k, len(groups[0]) // 2) + 1):
        for here in _pairs_in(list(groups[0]), j):
            for rest in _every_swap(groups[1:], k - j):
                yield here + rest


def _pairs_in(units: list[int], j: int) -> Iterator[list[tuple[int, int]]]:
    """Each set of j disjoint pairs of ``units``, once: the first unit stays or pairs up."""
    if j == 0:
        yield []
        return
    if len(units) < 2 * j:
        return
    first, rest = units[0], units[1:]
    yield from _pairs_in(rest, j)
    for i, partner in enumerate(rest):
        for more in _pairs_in(rest[:i] + rest[i + 1 :], j - 1):
            yield [(first, partner), *more]


def sample_swaps(
    n_units: int, k: int, samples: int, rng: random.Random, groups: Sequence[Sequence[int]]
) -> list[list[int]]:
    """Up to ``samples`` distinct orders with k pairs swapped (all of them if there are fewer):
    a net with few swappable units would otherwise count one order several times."""
    identity = list(range(n_units))
    if _swap_counts(tuple(map(len, groups)))[0][k] <= samples:
        return sorted(_swapped(identity, chosen) for chosen in _every_swap(groups, k))
    orders: dict[tuple[int, ...], None] = {}  # distinct, in the order drawn
    while len(orders) < samples:  # more than `samples` exist: each draw is new often enough
        orders.setdefault(tuple(swap_pairs(identity, k, rng, groups)), None)
    return [list(order) for order in orders]


def _swapped(order: Sequence[int], pairs: Iterable[tuple[int, int]]) -> list[int]:
    out = list(order)
    for a, b in pairs:
        out[a], out[b] = out[b], out[a]
    return out


def sample_deletions(
    candidates: Sequence[int], k: int, samples: int, rng: random.Random
) -> list[list[int]]:
    """Up to ``samples`` distinct k-subsets of ``candidates`` (all of them if there are fewer)."""
    if not 0 <= k <= len(candidates):
        raise ConfigError(f"cannot choose {k} of {len(candidates)} units")
    if math.comb(len(candidates), k) <= samples:
        return [list(c) for c in itertools.combinations(sorted(candidates), k)]
    seen: set[tuple[int, ...]] = set()
    subsets = []
    while len(subsets) < samples:
        subset = tuple(sorted(rng.sample(list(candidates), k)))
        if subset not in seen:
            seen.add(subset)
            subsets.append(list(subset))
    return subsets


def summarize(values: Sequence[float]) -> dict[str, float]:
    """Median, quartiles and range: the spread the paper's figures show."""
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(min(values)),
        "max": float(max(values)),
    }


# ---------------------------------------------------------------------------------------------
# Changing the net, and restoring it


def find_resnet(model: nn.Module) -> ResNet:
    """The resnet-lab ResNet inside ``model`` (itself, or e.g. a NormalizedNet's ``.net``)."""
    for m in model.modules():
        if isinstance(m, ResNet):
            return m
    raise TypeError(f"{type(model).__name__} holds no resnet-lab ResNet")


@contextmanager
def lesioned(model: nn.Module, units: Iterable[int]) -> Iterator[None]:
    """Delete the residual branch of these units (only the shortcut remains; a plain net's unit
    passes its input on) within the block."""
    units, n = list(units), len(model.units)
    if bad := [i for i in units if not 0 <= i < n]:
        raise ValueError(f"units {bad} do not exist: the net's units are 0..{n - 1}")
    chosen = [model.units[i] for i in units]
    previous = [u.lesioned for u in chosen]
    try:
        for u in chosen:
            u.lesioned = True
        yield
    finally:
        for u, was in zip(chosen, previous, strict=True):
            u.lesioned = was


@contextmanager
def reordered(model: nn.Module, order: Sequence[int]) -> Iterator[None]:
    """Run the units in ``order`` (``order[p]``: the unit at position p) within the block.

    Only moves within :func:`swap_groups` are accepted: other moves would not fit the shapes.
    """
    net = find_resnet(model)
    n = len(net.units)
    if sorted(order) != list(range(n)):
        raise ValueError(f"order must be a permutation of 0..{n - 1}, got {list(order)}")
    group_of = {p: g for g, members in enumerate(swap_groups(net)) for p in members}
    bad = [p for p, i in enumerate(order) if p != i and group_of.get(p, -1) != group_of.get(i)]
    if bad:
        raise ValueError(f"units cannot move to positions {bad}: shapes differ")
    original = net.units
    net.units = nn.ModuleList([original[i] for i in order])
    try:
        yield
    finally:
        net.units = original


@contextmanager
def bn_reestimated(model: nn.Module, batches: Iterable[tuple[Tensor, Tensor]]) -> Iterator[None]:
    """Recompute every BN's running statistics on ``batches`` (cumulative average, train-mode BN,
    no gradient) for the block; the trained statistics are restored afterwards."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [
        (bn.training, bn.momentum, {k: v.clone() for k, v in bn.named_buffers(recurse=False)})
        for bn in bns
    ]
    try:
        for bn in bns:
            bn.reset_running_stats()
            bn.momentum = None  # exact average over the batches
            bn.train()
        with torch.no_grad():
            for x, _ in batches:
                model(x)
        for bn in bns:
            bn.eval()
        yield
    finally:
        for bn, (training, momentum, buffers) in zip(bns, saved, strict=True):
            bn.train(training)
            bn.momentum = momentum
            for name, value in buffers.items():
                getattr(bn, name).copy_(value)


# ---------------------------------------------------------------------------------------------
# Experiments: each takes a ``measure`` of the model's current state


def single_deletions(
    model: nn.Module, measure: Measure, into: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Error after deleting each unit alone (Veit et al. Figure 3). ``into``: the list to fill,
    so an interrupted study keeps the units it measured; a continued study's (resume=true)
    goes on after its last."""
    down = set(model.downsampling_units)
    results = [] if into is None else into
    for i in range(len(results), len(model.units)):
        with lesioned(model, [i]):
            results.append({"unit": i, "downsampling": i in down, "error": measure()})
        log.info(
            "single: unit %2d%s error %.2f%%", i, "*" if i in down else " ", results[-1]["error"]
        )
    return results


def random_deletions(
    model: nn.Module,
    measure: Measure,
    candidates: Sequence[int],
    max_k: int,
    samples: int,
    rng: random.Random,
    known: dict[frozenset[int], float] | None = None,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Errors after deleting k random units, k = 1..max_k (Veit et al. Figure 5a).

    ``known``: errors already measured for some subsets (e.g. the single deletions); ``into``:
    the list to fill, one entry per finished k (a continued study's k are drawn again, not
    measured again).
    """
    known = dict(known or {})
    results = [] if into is None else into
    for k in range(1, min(max_k, len(candidates)) + 1):
        subsets = sample_deletions(candidates, k, samples, rng)
        if k <= len(results):
            _check_drawn_again(results[k - 1]["subsets"], subsets, "random deletions", k)
            continue
        errors = []
        for subset in subsets:
            key = frozenset(subset)
            if key not in known:
                with lesioned(model, subset):
                    known[key] = measure()
            errors.append(known[key])
        results.append({"k": k, "subsets": subsets, "errors": errors, **summarize(errors)})
        log.info(
            "random: k=%2d median error %.2f%% (%d subsets)", k, results[-1]["median"], len(errors)
        )
    return results


def random_swaps(
    model: nn.Module,
    measure: Measure,
    max_k: int,
    samples: int,
    rng: random.Random,
    into: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Errors after swapping k random compatible pairs, k = 1..max_k, with the Kendall tau of
    each resulting order (Veit et al. Figure 5b); ``into``: the list to fill (as in
    :func:`random_deletions`)."""
    groups = swap_groups(model)
    results = [] if into is None else into
    for k in range(1, min(max_k, most_swaps(groups)) + 1):
        orders = sample_swaps(len(model.units), k, samples, rng, groups)
        if k <= len(results):
            _check_drawn_again(results[k - 1]["orders"], orders, "swaps", k)
            continue
        taus, errors = [], []
        for order in orders:
            with reordered(model, order):
                errors.append(measure())
            taus.append(kendall_tau(order))
        results.append(
            {
                "k": k,
                "orders": orders,
                "taus": taus,
                "errors": errors,
                "tau_median": float(np.median(taus)),
                **summarize(errors),
            }
        )
        log.info(
            "swap: k=%2d median tau %.3f, median error %.2f%%",
            k,
            results[-1]["tau_median"],
            results[-1]["median"],
        )
    return results


def _check_drawn_again(
    measured: list[list[int]], drawn: list[list[int]], what: str, k: int
) -> None:
    """A continued study draws its finished k again, so that the rest draw as they would have;
    draws that differ (another lab version's sampling) would mix two studies."""
    if measured != drawn:
        raise ConfigError(
            f"resume=true: the {what} of k = {k} drawn now are not those the study measured (it "
            "was made by another version of resnet-lab?): give this study a folder of its own"
        )


# ---------------------------------------------------------------------------------------------
# Reports


INDICATIVE_PATHS = (
    "the shortcuts of this net are not identities: their factor or gate is part of every path "
    "(and a gate's own dependence on its input is cut), so these figures are only indicative"
)


def skip_note(section: dict[str, Any]) -> str | None:
    """Why an experiment measured nothing (e.g. a ResNet-8 has no two swappable units), or None.

    Every output (lesion.md, plots, TensorBoard) skips such a part with this one-line note
    instead of failing on empty data.
    """
    if section.get("skipped"):
        return str(section["skipped"])
    return None if section.get("per_k") else "nothing to measure"


def lesion_markdown(results: dict[str, Any]) -> str:
    """lesion.md: settings, then one table per experiment."""
    s, base = results["settings"], results["baseline"]
    info = results["checkpoint"]
    reestimate = s["config"]["lesion"]["reestimate_bn"]
    lines = [
        "# Lesion study",
        "",
        f"- checkpoint: `{info['path']}` ({info['net']})",
        *([f"- **{progress}**"] if (progress := unfinished(info)) else []),
        *(
            [f"- note: {note}"]
            if (note := limit_note(info, s["config"]["data"]["limit"], "data.limit="))
            else []
        ),
        f"- input: {info['normalization']}",
        f"- test images: {s['test_images']} ({s['data']}); device {s['device']}",
        f"- intact test error: {base['error']:.2f}%"
        + (
            f" ({base['error_bn_reestimated']:.2f}% after BN re-estimation)"
            if base.get("error_bn_reestimated") is not None
            else ""
        ),
        f"- BN statistics re-estimated after each lesion: {reestimate}",
        "",
    ]
    if s.get("command"):
        lines.insert(5, f"- command: `{s['command']}`")
    if stop := results.get("interrupted"):
        lines[2:2] = [
            f"**Interrupted by {stop['signal']} during {stop['during']}: the tables below hold "
            "what finished; the same command with resume=true, into this folder, continues "
            "it.**",
            "",
        ]
    if "single" in results:
        lines += _single_section(results["single"], results.get("plain"))
    if "random" in results:
        lines += _random_section(results["random"])
    if "swap" in results:
        lines += _swap_section(results["swap"])
    text = "\n".join(lines)
    if "paths" in results:
        text += "\n" + paths_markdown(results["paths"], paper_line("paths"))
    return text


def paper_line(part: str) -> str:
    """What the paper found in ``part`` (single, random, swap, paths), to read a measured table
    against: the random deletions' k also as a fraction of the paper's units, as a net of
    another depth compares at the same fraction, and the paths' range also by lesion.md's rule."""
    if part == "random":
        at = [
            f"{error:g}% at k = {k} ({k / PAPER_UNITS:.0%} of its units)"
            for k, error in PAPER_RANDOM_MEDIANS.items()
        ]
        finding = f"median error about {', '.join(at[:-1])} and {at[-1]}"
    else:
        finding = PAPER_FINDINGS[part]
    if part == "paths":
        lo, hi = central_range(path_length_distribution(PAPER_UNITS))
        finding += f" (by the rule below, {PAPER_UNITS} units give {lo} to {hi})"
    return f"The paper ({PAPER_NET}): {finding}."


def _single_section(single: list[dict[str, Any]], plain: dict[str, Any] | None) -> list[str]:
    """lesion.md's single-deletion table, with the plain net's column if it was measured."""
    plain_error, plain_label = intact(plain["baseline"]) if plain else (0.0, "")
    lines = [
        "## Deleting single units (Veit et al. Figure 3)",
        "",
        paper_line("single"),
        "",
        "`*`: downsampling unit."
        + (
            f" Plain net: `{plain['checkpoint']['path']}` ({plain_label} {plain_error:.2f}%)."
            if plain
            else ""
        ),
        "",
        "| unit | error % |" + (" plain net error % |" if plain else ""),
        "|---:|---:|" + ("---:|" if plain else ""),
    ]
    plain_single = plain["single"] if plain else []
    for i, r in enumerate(single):
        mark = "*" if r["downsampling"] else ""
        row = f"| {r['unit']}{mark} | {r['error']:.2f} |"
        if plain:
            row += f" {plain_single[i]['error']:.2f} |" if i < len(plain_single) else " - |"
        lines.append(row)
    return [*lines, ""]


def _random_section(r: dict[str, Any]) -> list[str]:
    """lesion.md's table of k random deletions, or its skip note."""
    intro = (
        f"Candidates: {len(r['candidates'])} units "
        f"({'including' if r['include_downsampling'] else 'excluding'} downsampling units)."
    ) + (f" {note}." if (note := r.get("note")) else "")
    intro = f"{paper_line('random')}\n\n{intro}"
    return _per_k_section("Deleting k random units (Veit et al. Figure 5a)", intro, r, "subsets")


def _swap_section(swap: dict[str, Any]) -> list[str]:
    """lesion.md's table of k random swaps, or its skip note."""
    intro = f"{paper_line('swap')}\n\nSwappable positions: {swap['groups']}." + (
        f" {note}." if (note := swap.get("note")) else ""
    )
    return _per_k_section(
        "Swapping k random pairs of units (Veit et al. Figure 5b)", intro, swap, "samples", tau=True
    )


def _per_k_section(
    heading: str, intro: str, section: dict[str, Any], count: str, tau: bool = False
) -> list[str]:
    """One row per k: how many were measured, (the order's median Kendall tau,) and the
    error's quartiles and range; a skipped part's note instead of an empty table."""
    stats = ("median", "q1", "q3", "min", "max")
    columns = ["k", count, *(["median Kendall tau"] if tau else []), *(f"{q} %" for q in stats)]
    lines = [f"## {heading}", "", intro, ""]
    if note := skip_note(section):
        lines.append(f"Skipped: {note}.")
    else:
        lines += ["| " + " | ".join(columns) + " |", "|" + "---:|" * len(columns)]
    for row in section["per_k"]:
        cells = [str(row["k"]), str(len(row["errors"]))]
        cells += [f"{row['tau_median']:.3f}"] if tau else []
        cells += [f"{row[q]:.2f}" for q in stats]
        lines.append("| " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot_results(results: dict[str, Any], out: Path) -> list[Path]:
    """The paper's figures as PNG files in ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    written = []
    base, intact_label = intact(results["baseline"])

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        atomic_save_figure(fig, out / name, dpi=90)
        plt.close(fig)
        written.append(out / name)

    if results.get("single"):
        fig, ax = plt.subplots(figsize=(7, 3.6))
        single = results["single"]
        units = [r["unit"] for r in single]
        colors = ["tab:red" if r["downsampling"] else "tab:blue" for r in single]
        ax.bar(units, [r["error"] for r in single], color=colors)
        ax.axhline(base, color="k", ls="--", lw=1, label=f"{intact_label} ({base:.2f}%)")
        plain = results.get("plain")
        if plain:
            p = plain["single"]
            ax.plot(
                [r["unit"] for r in p],
                [r["error"] for r in p],
                "s-",
                color="tab:orange",
                ms=3,
                label="plain net",
            )
            plain_base, plain_label = intact(plain["baseline"])
            ax.axhline(
                plain_base,
                color="tab:orange",
                ls=":",
                lw=1,
                label=f"plain {plain_label} ({plain_base:.2f}%)",
            )
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # every unit is a whole number
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Patch(color="tab:blue", label="residual net: unit deleted"),
            Patch(color="tab:red", label="downsampling unit deleted"),
        ]
        ax.set(xlabel="deleted unit", ylabel="test error (%)", title="Deleting single units")
        ax.legend(handles=handles, fontsize=8)
        save(fig, "lesion_single.png")
    if "random" in results and not skip_note(results["random"]):
        rows = results["random"]["per_k"]
        k = [r["k"] for r in rows]
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        for low, high, alpha, label in (
            ("min", "max", 0.15, "min-max"),
            ("q1", "q3", 0.35, "quartiles"),
        ):
            lows, highs = [r[low] for r in rows], [r[high] for r in rows]
            ax.fill_between(k, lows, highs, alpha=alpha, color="tab:blue", label=label)
        ax.plot(k, [r["median"] for r in rows], "o-", color="tab:blue", ms=3, label="median")
        ax.axhline(base, color="k", ls="--", lw=1, label=intact_label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(
            xlabel="number of units deleted",
            ylabel="test error (%)",
            title="Deleting k random units",
        )
        ax.legend(fontsize=8)
        save(fig, "lesion_random.png")
    if "swap" in results and not skip_note(results["swap"]):
        rows = results["swap"]["per_k"]
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        taus = [t for r in rows for t in r["taus"]]
        errors = [e for r in rows for e in r["errors"]]
        ks = [r["k"] for r in rows for _ in r["errors"]]
        sc = ax.scatter(taus, errors, c=ks, s=10, cmap="viridis")
        fig.colorbar(sc, ax=ax, label="pairs swapped", ticks=MaxNLocator(integer=True))
        ax.plot(*binned_medians(taus, errors), "k-", lw=1, label="binned median")
        ax.axhline(base, color="k", ls="--", lw=1, label=intact_label)
        ax.invert_xaxis()
        ax.set(
            xlabel="Kendall tau of the unit order",
            ylabel="test error (%)",
            title="Swapping k random pairs of units",
        )
        ax.legend(fontsize=8)
        save(fig, "lesion_swap.png")
    if "paths" in results:
        plot_paths(results["paths"], out / "paths.png")
        written.append(out / "paths.png")
    return written


def binned_medians(
    taus: list[float], errors: list[float], bins: int = 8
) -> tuple[list[float], list[float]]:
    """The swaps' trend (k alone is noisy): medians of tau and error in up to ``bins`` bins of
    the distinct taus in order, all samples of one tau in one bin (split by their sort order,
    equal taus drew vertical steps that depended on it)."""
    tau, error = np.asarray(taus), np.asarray(errors)
    distinct = np.unique(tau)
    groups = [np.isin(tau, part) for part in np.array_split(distinct, min(bins, distinct.size))]
    return [float(np.median(tau[g])) for g in groups], [float(np.median(error[g])) for g in groups]


def intact(baseline: dict[str, Any]) -> tuple[float, str]:
    """The intact error the lesions compare with, and its label: after BN re-estimation when
    the lesions were measured so (``lesion.reestimate_bn``), else as trained."""
    if baseline.get("error_bn_reestimated") is not None:
        return baseline["error_bn_reestimated"], "intact, BN re-estimated"
    return baseline["error"], "intact"


def write_tensorboard(results: dict[str, Any], out: Path) -> None:
    """Scalars: per unit, per k, per path length (the x axis is the TensorBoard step)."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(out), filename_suffix=EVENTS_SUFFIX) as w:
        w.add_scalar("lesion/intact_error", results["baseline"]["error"], 0)
        if (reestimated := results["baseline"].get("error_bn_reestimated")) is not None:
            # what the lesions (measured after re-estimation) compare with, as in the plots
            w.add_scalar("lesion/intact_error_bn_reestimated", reestimated, 0)
        for r in results.get("single", []):
            w.add_scalar("lesion/single_error", r["error"], r["unit"])
        for r in results.get("plain", {}).get("single", []):
            w.add_scalar("lesion/plain_single_error", r["error"], r["unit"])
        for r in results.get("random", {}).get("per_k", []):
            for stat in ("median", "q1", "q3", "min", "max"):
                w.add_scalar(f"lesion/random_{stat}_error", r[stat], r["k"])
        for r in results.get("swap", {}).get("per_k", []):
            w.add_scalar("lesion/swap_median_error", r["median"], r["k"])
            w.add_scalar("lesion/swap_median_tau", r["tau_median"], r["k"])
        for part in ("random", "swap"):
            if part in results and (note := skip_note(results[part])):
                w.add_text(f"lesion/{part}_skipped", note)
        for r in results.get("paths", {}).get("per_length", []):
            w.add_scalar("paths/fraction_of_paths", r["fraction_of_paths"], r["length"])
            w.add_scalar("paths/grad_norm", r["grad_norm"], r["length"])
            w.add_scalar("paths/gradient_share", r["gradient_share"], r["length"])


# ---------------------------------------------------------------------------------------------
# Command line


def training_batches(
    images: Tensor, labels: Tensor, count: int, batch_size: int, seed: int, asked_by: str = ""
) -> list[tuple[Tensor, Tensor]]:
    """``count`` batches of a seeded random subset of the (non-augmented) training images; all
    of them, said, where they are fewer than asked (``asked_by``: the settings that asked)."""
    if count * batch_size > labels.shape[0]:
        log.warning(
            "%s ask for %d training images; the set has %d: all of them are used, in %d batches",
            asked_by or f"{count} batches of {batch_size}",
            count * batch_size,
            labels.shape[0],
            math.ceil(labels.shape[0] / batch_size),
        )
    generator = torch.Generator().manual_seed(seed)
    index = torch.randperm(labels.shape[0], generator=generator)[: count * batch_size]
    index = index.to(labels.device)
    return [
        (images[index[i : i + batch_size]], labels[index[i : i + batch_size]])
        for i in range(0, index.shape[0], batch_size)
    ]


def make_measure(
    model: nn.Module,
    batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
    bn_batches: Sequence[tuple[Tensor, Tensor]] | None,
) -> Measure:
    """Error of ``model`` as it stands, after BN re-estimation when ``bn_batches`` are given."""

    def measure() -> float:
        if bn_batches is None:
            return evaluate(model, batches())
        with bn_reestimated(model, bn_batches):
            return evaluate(model, batches())

    return measure


def check_config(cfg: DictConfig) -> None:
    """User mistakes the schema cannot catch: keys added with ``+`` (Hydra accepts them even in
    a structured config, and they would be ignored), a missing checkpoint, counts below 1,
    unknown experiments."""
    if unknown := keys_not_in_schema(cfg, LesionRunCfg):
        raise ConfigError(unknown_settings_message(unknown))
    if OmegaConf.is_missing(cfg, "checkpoint"):
        raise ConfigError(
            "checkpoint=PATH is required: a resnet-lab run folder or ckpt/step_*.pt file, or a "
            "pytorch_resnet_cifar10 .th file"
        )
    try:  # a ${...} naming nothing: the trace of whichever part read it first
        OmegaConf.to_container(cfg, resolve=True)
    except OmegaConfBaseException as e:
        raise ConfigError(in_one_line(e)) from None
    if not str(cfg.checkpoint).strip():  # an unset shell variable: the current folder
        raise ConfigError("checkpoint= is empty: give a run folder or checkpoint file")
    if cfg.lesion.plain is not None and not str(cfg.lesion.plain).strip():  # a study without
        raise ConfigError(  # its comparison, silently (an unset shell variable)
            "lesion.plain= is empty: give the plain net's run folder or checkpoint file, or "
            "leave lesion.plain out"
        )
    check_seed(cfg.seed)  # torch's overflow trace, after the first parts of the study
    counts = {
        "data.limit": cfg.data.limit,
        "trainer.eval_batch_size": cfg.trainer.eval_batch_size,
        **{
            f"lesion.{key}": cfg.lesion[key]
            for key in (
                "max_k",
                "swap_max_k",
                "samples",
                "bn_batches",
                "path_samples",
                "path_batch",
                "path_batches",
            )
        },
    }
    for key, value in counts.items():
        if value is not None and value < 1:
            raise ConfigError(f"{key}={value}: must be a positive integer")
    if not cfg.lesion.experiments:  # it would measure the intact net only, and say "plots"
        raise ConfigError(f"lesion.experiments is empty: choose from [{','.join(EXPERIMENTS)}]")
    unknown = sorted(set(cfg.lesion.experiments) - set(EXPERIMENTS))
    if unknown:
        raise ConfigError(
            f"lesion.experiments: unknown {unknown}; choose from [{','.join(EXPERIMENTS)}]"
        )
    if cfg.lesion.plain and "single" not in cfg.lesion.experiments:
        raise ConfigError("lesion.plain compares single-unit deletions: add single to experiments")
    if problem := _an_unread_setting(cfg.lesion):
        raise ConfigError(problem)


# the experiments that read each setting of lesion.*
READ_BY = {
    "max_k": ("random", "swap"),
    "swap_max_k": ("swap",),
    "samples": ("random", "swap"),
    "include_downsampling": ("random",),
    "path_samples": ("paths",),
    "path_batch": ("paths",),
    "path_batches": ("paths",),
}


def _an_unread_setting(opts: DictConfig) -> str | None:
    """A setting given a value of its own for an experiment left out (lesion.path_samples with
    experiments=[single]), or bn_batches without reestimate_bn: ignored without a word, the
    user believing it measured."""
    defaults = LesionCfg()
    for key, readers in READ_BY.items():
        if opts[key] != getattr(defaults, key) and not set(readers) & set(opts.experiments):
            return (
                f"lesion.{key}={opts[key]} is read by the {' and '.join(readers)} "
                f"experiment{'s' if len(readers) > 1 else ''}, which lesion.experiments leaves "
                f"out: add {readers[0]} to lesion.experiments, or leave lesion.{key} out"
            )
    if opts.bn_batches != defaults.bn_batches and not opts.reestimate_bn:
        return (
            f"lesion.bn_batches={opts.bn_batches} is read only with lesion.reestimate_bn=true: "
            "add it, or leave lesion.bn_batches out"
        )
    return None


def _plain_net(
    path: str, model: NormalizedNet, data: DeviceData, device: torch.device
) -> NormalizedNet:
    """The plain net of ``lesion.plain``, once it is a plain ResNet trained on the net's data
    (told before its statistics are checked against the net's data, which would advise the
    net's data.root)."""
    loaded = read_checkpoint(path)
    if (trained_on := saved_data(loaded).get("name")) != model.info["trained_on"]:
        raise ConfigError(
            f"lesion.plain={path} was trained on {trained_on}, the net on "
            f"{model.info['trained_on']}: compare nets trained on the same data"
        )
    try:
        plain = attach(loaded, data, device)
    except OtherTrainingImages as other:
        raise ConfigError(
            f"lesion.plain={path} was trained on other {trained_on} images than the net "
            f"({other.differs}): compare nets trained on the same data"
        ) from None
    if not isinstance(plain.net, ResNet):
        raise ConfigError(
            f"lesion.plain={path}: lesion studies need a ResNet ({plain.info['net']})"
        )
    plain.info["weights_sha256"] = weights_digest(plain.net)
    if any(unit.shortcut.carries_input for unit in plain.net.units):
        raise ConfigError(
            f"lesion.plain={path} is not a plain net ({plain.info['net']}): its units "
            "carry their input past the branch; give a net trained with shortcut=none (or "
            "shortcut=scale shortcut.scale=0)"
        )
    layout = [(len(m.units), m.downsampling_units) for m in (plain, model)]
    if layout[0] != layout[1]:  # its rows would stand beside the other net's units by index
        (plain_units, plain_down), (units, down) = layout
        raise ConfigError(
            f"lesion.plain={path} has {plain_units} units (downsampling: {plain_down}), the net "
            f"{units} ({down}): give a plain net of the same depth (plain-110 beside ResNet-110)"
        )
    return plain


def _plain_part(
    results: dict[str, Any],
    plain: NormalizedNet,
    batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
    bn_batches: Sequence[tuple[Tensor, Tensor]] | None,
    progress: Progress,
) -> None:
    """The plain net's intact error and single deletions, into ``results["plain"]`` (a
    continued study's go on after what it measured)."""
    measure = progress.measuring(make_measure(plain, batches, bn_batches))
    if "plain" not in results:
        baseline = {  # the reports need it, as the lesions are measured
            "error": evaluate(plain, batches()),
            "error_bn_reestimated": measure() if bn_batches else None,
        }
        results["plain"] = {"checkpoint": plain.info, "baseline": baseline}
    single_deletions(plain, measure, into=results["plain"].setdefault("single", []))


def _paths_part(
    results: dict[str, Any], model: NormalizedNet, data: DeviceData, opts: DictConfig, seed: int
) -> None:
    """Veit et al.'s path study on ``lesion.path_batches`` random training batches, into
    ``results["paths"]`` (kept, when a continued study measured it)."""
    if "paths" in results:
        return
    batches = training_batches(
        data.train_images,
        data.train_labels,
        opts.path_batches,
        opts.path_batch,
        seed,
        f"lesion.path_batches={opts.path_batches} of lesion.path_batch={opts.path_batch}",
    )
    results["paths"] = path_study(model, batches, opts.path_samples, random.Random(f"{seed}:paths"))
    if not all(isinstance(unit.shortcut, IdentityShortcut) for unit in model.units):
        results["paths"]["note"] = INDICATIVE_PATHS
        log.warning("paths: %s", INDICATIVE_PATHS)


def _study_parts(
    results: dict[str, Any],
    model: NormalizedNet,
    data: DeviceData,
    measure: Measure,
    plain: NormalizedNet | None,
    batches: Callable[[], Iterable[tuple[Tensor, Tensor]]],
    bn_batches: Sequence[tuple[Tensor, Tensor]] | None,
    cfg: DictConfig,
    progress: Progress,
) -> list[tuple[str, Callable[[], None]]]:
    """The study's parts in order, each named (an interrupted study says which part it cut)
    and filling ``results`` when called."""
    opts, seed = cfg.lesion, cfg.seed

    def baseline() -> None:
        if "baseline" in results:  # a continued study's
            return
        results["baseline"] = {
            "error": evaluate(model, batches()),
            "error_bn_reestimated": measure() if bn_batches else None,
        }
        log.info(
            "intact: test error %.2f%% on %d images",
            results["baseline"]["error"],
            results["settings"]["test_images"],
        )

    parts: list[tuple[str, Callable[[], None]]] = [("the intact net", baseline)]
    if "single" in opts.experiments:
        parts.append(
            (
                "single deletions",
                lambda: single_deletions(model, measure, into=results.setdefault("single", [])),
            )
        )
    if plain is not None:
        parts.append(
            (
                "the plain net's single deletions",
                lambda: _plain_part(results, plain, batches, bn_batches, progress),
            )
        )
    if "random" in opts.experiments:
        parts.append(
            ("random deletions", lambda: _random_part(results, model, measure, opts, seed))
        )
    if "swap" in opts.experiments:
        parts.append(("swaps", lambda: _swap_part(results, model, measure, opts, seed)))
    if "paths" in opts.experiments:
        parts.append(("the path study", lambda: _paths_part(results, model, data, opts, seed)))
    return parts


def run(cfg: DictConfig, out_dir: str | Path, command: str | None = None) -> dict[str, Any]:
    """Run the chosen experiments and write every output into ``out_dir``; returns what
    lesion.json holds. ``cfg``: a :class:`~resnet_lab.lesion_config.LesionRunCfg` (see
    :func:`~resnet_lab.lesion_config.compose_lesion_config`); ``command``: recorded as given."""
    start = time.perf_counter()
    out = Path(out_dir)
    _check_output_folder(out, cfg.resume)  # before the checkpoint and data are read
    check_config(cfg)
    before = _records(out)
    earlier = _earlier_study(out, cfg, before) if cfg.resume else None
    opts, batch_size, seed = cfg.lesion, cfg.trainer.eval_batch_size, cfg.seed
    device = resolve_device(cfg.trainer.device)
    model, data = prepare(cfg.checkpoint, cfg.data.root, device)
    _check_study(cfg, model, data)
    model.info["weights_sha256"] = weights_digest(model.net)
    limit = cfg.data.limit
    images, labels = data.eval_images[:limit], data.eval_labels[:limit]

    def batches() -> Iterator[tuple[Tensor, Tensor]]:
        return image_batches(images, labels, batch_size)

    bn_batches = (
        training_batches(
            data.train_images,
            data.train_labels,
            opts.bn_batches,
            batch_size,
            seed,
            f"lesion.bn_batches={opts.bn_batches} of trainer.eval_batch_size={batch_size}",
        )
        if opts.reestimate_bn
        else None
    )
    plain = _plain_net(opts.plain, model, data, device) if opts.plain else None
    results: dict[str, Any] = {
        "status": "completed",
        "checkpoint": model.info,
        "settings": {
            "config": OmegaConf.to_container(cfg, resolve=True),
            "command": command,
            "test_images": int(labels.shape[0]),
            "test_images_sha256": tensors_digest(images, labels),
            "data": data.source,
            "device": str(device),
            # the versions, commit and threads a run's result.json records: what computed it
            "environment": environment(device),
        },
    }
    if earlier is not None and earlier.get("status") == "completed":  # of these nets, checked
        _check_same_study(earlier, results, plain, out)
        log.info("the study in %s is complete (lesion.json): nothing to continue", out)
        return earlier
    if earlier is not None:
        results = _continued(earlier, results, plain, out)
        start -= results["settings"].get("wall_time_s") or 0.0  # the time it took so far
    progress = Progress(out, results, start, continued=earlier is not None)
    measure = progress.measuring(make_measure(model, batches, bn_batches))
    # a second study into this folder, while this one runs, is refused (resnet-lab-lesion.lock)
    with RunLock(out, "resnet-lab-lesion", elsewhere="hydra.run.dir=..., hydra.sweep.dir with -m"):
        _check_output_folder(out, cfg.resume)  # a study that finished there while this prepared
        if _records(out) != before:
            raise ConfigError(f"the study in {out} went on while this one prepared: run it again")
        parts = _study_parts(
            results, model, data, measure, plain, batches, bn_batches, cfg, progress
        )
        _measure_parts(results, parts, progress)
        results["settings"]["wall_time_s"] = round(time.perf_counter() - start, 1)
        late = _write_study(results, out)
    log.info("wrote %s/lesion.json, lesion.md, plots and TensorBoard scalars", out)
    if stop := results.get("interrupted"):
        raise LesionInterrupted(
            signal.Signals[stop["signal"]],
            f"during {stop['during']}: what finished is saved in {out} (lesion.json status "
            "interrupted); the same command with resume=true "
            f"{pasteable_override('hydra.run.dir', str(out))} continues it",
        )
    if late:
        raise LesionInterrupted(late[0], f"after the study finished: all of it is saved in {out}")
    return results


def _measure_parts(
    results: dict[str, Any], parts: list[tuple[str, Callable[[], None]]], progress: Progress
) -> None:
    """Each part in turn, saved when done; SIGINT/SIGTERM stops the study, keeping what
    finished (none: raised)."""
    part = "the intact net"
    with stopping.signals_interrupt() as received:
        try:
            for name, run_part in parts:
                part = name  # an interrupted study says which part it cut
                run_part()
                progress.save()
        except KeyboardInterrupt:
            signum = received[0] if received else signal.SIGINT
            if "baseline" not in results:
                raise LesionInterrupted(signum, "before any result: nothing to save") from None
            results["status"] = "interrupted"
            results["interrupted"] = {"signal": signum.name, "during": part}


def _write_study(results: dict[str, Any], out: Path) -> list[signal.Signals]:
    """Every output, in a few seconds, a signal waiting until they are whole (returned);
    lesion.json, which marks the folder as a study's (a later study is refused there), last,
    so that a kill leaves no study claiming plots it lacks. What an unfinished study left
    there (no lesion.json) goes first: its plots would stay beside the new ones, its events
    show in TensorBoard as part of them."""
    with stopping.signals_deferred() as late:
        try:
            for left in (out / "lesion.md", out / "paths.png", *out.glob("lesion_*.png")):
                left.unlink(missing_ok=True)
            for left in out.glob(f"events.out.tfevents.*{EVENTS_SUFFIX}"):
                left.unlink()
            atomic_write_text(out / "lesion.md", lesion_markdown(results))
            plot_results(results, out)
            write_tensorboard(results, out)
            atomic_write_text(out / "lesion.json", json.dumps(jsonable(results), indent=1) + "\n")
            (out / STUDY_PROGRESS).unlink(missing_ok=True)  # lesion.json holds all of it
        except OSError as e:  # a full disk: told in a line, what it measured kept if it can be
            way_on = (
                f"make room, and run the same command with resume=true (what it measured is in "
                f"{STUDY_PROGRESS})"
                if (out / STUDY_PROGRESS).exists()
                else "make room, or give another hydra.run.dir, and run it again"
            )
            raise UserError(
                f"cannot write the study into {out} ({e.strerror or e}): {way_on}"
            ) from None
    return late


class Progress:
    """lesion.progress.json: what the study measured so far, saved after each part and, between
    measurements, when SAVE_EVERY_S have passed, so that a kill (SIGKILL, out of memory) loses
    little: the same command with resume=true continues from it. A continued study saves only
    once it has measured something new: one refused on the way (its draws differ) is not
    recorded as a continuation."""

    def __init__(self, out: Path, results: dict[str, Any], start: float, continued: bool) -> None:
        self.path, self.results, self.start = out / STUDY_PROGRESS, results, start
        self.saved_at = time.perf_counter()
        self.warned = False
        self.measured = not continued

    def save(self) -> None:
        if "baseline" not in self.results or not self.measured:  # nothing new: nothing to keep
            return
        self.results["settings"]["wall_time_s"] = round(time.perf_counter() - self.start, 1)
        try:
            text = json.dumps(jsonable({**self.results, "status": "running"}), indent=1)
            atomic_write_text(self.path, text + "\n")
        except OSError as e:  # a full disk: the study goes on, its end says what it cannot write
            if not self.warned:
                log.warning(
                    "cannot save %s (%s): a kill would lose what the study measured",
                    self.path,
                    e.strerror or e,
                )
            self.warned = True
        self.saved_at = time.perf_counter()

    def measuring(self, measure: Measure) -> Measure:
        """``measure``, saving the study first when its last save is SAVE_EVERY_S old."""

        def measured() -> float:
            if time.perf_counter() - self.saved_at >= SAVE_EVERY_S:
                self.save()
            self.measured = True
            return measure()

        return measured


LOCATIONS = {"path", "newer", "damaged_newer"}  # where a checkpoint lies, and what lies beside it
MOVABLE = {"resume", "checkpoint", "data.root"}  # settings naming places (lesion.plain: if set)


def weights_digest(net: nn.Module) -> str:
    """What a continued study's net must be, wherever its checkpoint lies now: its weights'."""
    return tensors_digest(*net.state_dict().values())


def tensors_digest(*tensors: Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _earlier_study(
    out: Path, cfg: DictConfig, records: dict[str, str | None]
) -> dict[str, Any] | None:
    """What the study that resume=true continues measured, of the folder's ``records``
    (:func:`_records`): lesion.progress.json (a study that went on after its lesion.json said
    interrupted, or a kill stopped), else lesion.json; None where there is none (a new study
    starts, as a run with resume=true does). Refused where its settings are not ``cfg``'s
    (moved files aside)."""
    name = next((name for name, text in records.items() if text is not None), None)
    if name is None:
        log.warning("resume=true, but %s holds no study: starting a new one", out)
        return None
    try:
        earlier = loads_json(records[name] or "")
        then = _compared_settings(earlier["settings"]["config"])
    except (ValueError, TypeError, KeyError) as e:
        raise ConfigError(
            f"resume=true: {out / name} cannot be read as a study's record "
            f"({type(e).__name__}: {e}): give this study a folder of its own"
        ) from None
    if name == STUDY_PROGRESS and (ended := _ended_study(records["lesion.json"])):
        earlier = ended  # a kill as its progress file went
    now = _compared_settings(OmegaConf.to_container(cfg, resolve=True))
    pairs = [(k, then.get(k), now.get(k)) for k in sorted(then.keys() | now.keys())]
    _refuse_differences(out, pairs, earlier)
    return earlier


def _ended_study(text: str | None) -> dict[str, Any] | None:
    """lesion.json's study, where it is complete."""
    with contextlib.suppress(ValueError, TypeError):
        study = loads_json(text or "")
        if isinstance(study, dict) and study.get("status") == "completed":
            return study
    return None


def _compared_settings(config: Any) -> dict[str, Any]:
    """A study's settings as a continued one must repeat them: not where its files lie now, and
    of ``lesion.plain`` whether there is one (its net is compared by its weights)."""
    flat = {k: v for k, v in flatten_keys(config).items() if k not in MOVABLE}
    if "lesion.plain" in flat:
        flat["lesion.plain"] = "given" if flat["lesion.plain"] else None
    return flat


def _records(out: Path) -> dict[str, str | None]:
    """A study folder's records as they are now, the newer first (a continued study reads
    them once, and checks, once it holds the folder's lock, that no other went on meanwhile)."""
    records = {}
    for name in (STUDY_PROGRESS, "lesion.json"):
        try:
            records[name] = (out / name).read_text()
        except FileNotFoundError:
            records[name] = None
        except OSError as e:
            raise ConfigError(f"{out / name} cannot be read ({e.strerror or e})") from None
    return records


def _refuse_differences(
    out: Path,
    pairs: list[tuple[str, Any, Any]],
    earlier: dict[str, Any],
    way_on: str = "continue it with its own, or ",
) -> None:
    """``way_on``: what to do besides giving a folder of its own, where the study is not
    complete (a complete one has nothing to continue)."""
    if differs := [f"{what}: {a!r} then, {b!r} now" for what, a, b in pairs if a != b]:
        if earlier.get("status") == "completed":
            way_on = "it is complete as it is (lesion.json): "
        raise ConfigError(
            f"resume=true: the study in {out} was made with other settings ({'; '.join(differs)}):"
            f" {way_on}give this study a folder of its own"
        )


def _check_same_study(
    earlier: dict[str, Any], fresh: dict[str, Any], plain: NormalizedNet | None, out: Path
) -> None:
    """Refuse to continue (or call complete) an earlier study of other nets (their weights,
    wherever their checkpoints lie now), test images or device (its settings were compared as
    it was read)."""
    now = json.loads(json.dumps(jsonable(fresh)))
    then = earlier["settings"]
    nets = [("checkpoint", earlier.get("checkpoint"), now["checkpoint"])]
    if "plain" in earlier and plain is not None:  # given or not: compared with the settings
        nets.append(("lesion.plain", earlier["plain"].get("checkpoint"), plain.info))
    net_pairs = [
        (f"{name} {key}", (a or {}).get(key), jsonable(b or {}).get(key))
        for name, a, b in nets
        for key in sorted(((a or {}).keys() | (b or {}).keys()) - LOCATIONS)
    ]
    pairs = net_pairs + [
        (key, then.get(key), now["settings"][key])
        for key in ("test_images", "test_images_sha256", "device")
    ]
    if not any(a != b for _, a, b in net_pairs):
        _refuse_differences(out, pairs, earlier)
        return
    studied = (earlier.get("checkpoint") or {}).get("path")  # a live run prunes it
    _refuse_differences(
        out,
        pairs,
        earlier,
        f"continue it with the nets it studied (its net read from {studied}; a run keeps only "
        "its newest checkpoints), or ",
    )


def _continued(
    earlier: dict[str, Any], fresh: dict[str, Any], plain: NormalizedNet | None, out: Path
) -> dict[str, Any]:
    """The earlier study's results, which this one completes, once it is known to be the same
    study (:func:`_check_same_study`)."""
    _check_same_study(earlier, fresh, plain, out)
    results = copy.deepcopy(earlier)  # the folder's, as read: compared once the lock is held
    stop = results.pop("interrupted", None)
    results["status"] = "completed"
    results["settings"].setdefault("resumed", []).append(
        {
            "command": fresh["settings"]["command"],
            "after": f"{stop['signal']} during {stop['during']}" if stop else "a stop unsaid",
            "environment": fresh["settings"]["environment"],
        }
    )
    log.info(
        "continuing the study in %s (after %s)", out, results["settings"]["resumed"][-1]["after"]
    )
    return results


def _check_study(cfg: DictConfig, model: NormalizedNet, data: DeviceData) -> None:
    """Refuse a study the checkpoint or data cannot serve; warn where its figures may differ
    from the run's."""
    if not isinstance(model.net, ResNet):
        raise ConfigError(f"{cfg.checkpoint}: lesion studies need a ResNet ({model.info['net']})")
    if not any(unit.shortcut.carries_input for unit in model.net.units):
        raise ConfigError(
            f"checkpoint={cfg.checkpoint} is a plain net ({model.info['net']}): a study deletes "
            "residual branches and follows paths through shortcuts; give it as lesion.plain= "
            "beside a residual net of its depth (its single deletions are Veit et al.'s "
            "plain-net comparison)"
        )
    notes = (
        unfinished(model.info),
        chosen_step_note(model.info),
        limit_note(model.info, cfg.data.limit, "data.limit="),
        unused_root_note(model.info.get("trained_on"), cfg.data.root, "data.root="),
        *run_notes(model.info),
    )
    for note in filter(None, notes):
        log.warning("%s: %s", cfg.checkpoint, note)
    opts = cfg.lesion
    wanted = opts.path_batches * opts.path_batch
    if "paths" in opts.experiments and wanted > (available := len(data.train_labels)):
        raise ConfigError(
            f"lesion.path_batches={opts.path_batches} x lesion.path_batch={opts.path_batch} = "
            f"{wanted} training images, more than the {available} there are"
        )


def _random_part(
    results: dict[str, Any], model: NormalizedNet, measure: Measure, opts: DictConfig, seed: int
) -> None:
    """results["random"], filled k by k (an interrupted study keeps the finished ones)."""
    down = set(model.downsampling_units)
    candidates = [i for i in range(len(model.units)) if opts.include_downsampling or i not in down]
    known = {frozenset([r["unit"]]): r["error"] for r in results.get("single", [])}
    section = results["random"] = {
        "candidates": candidates,
        "include_downsampling": opts.include_downsampling,
        "per_k": results.get("random", {}).get("per_k", []),  # a continued study's, or none
    }
    if not candidates:
        section["skipped"] = (
            "every unit is a downsampling unit, so none may be deleted at random "
            "(lesion.include_downsampling=true admits them)"
        )
    elif opts.max_k > len(candidates):  # said, as the swaps' end is: k stopped short, unsaid
        section["note"] = f"Deletions stop at k = {len(candidates)}, the number of candidates"
        log.info("random: %s", section["note"])
    rng = random.Random(f"{seed}:random")
    random_deletions(
        model, measure, candidates, opts.max_k, opts.samples, rng, known, into=section["per_k"]
    )
    if note := skip_note(section):
        log.info("random: skipped: %s", note)


def _swap_part(
    results: dict[str, Any], model: NormalizedNet, measure: Measure, opts: DictConfig, seed: int
) -> None:
    """results["swap"], filled k by k."""
    groups = swap_groups(model)
    section = results["swap"] = {
        "groups": groups,
        "per_k": results.get("swap", {}).get("per_k", []),
    }
    if not groups:
        section["skipped"] = (
            f"no two neighbouring units of one stage in this {len(model.units)}-unit net "
            "have the same input and output shape (downsampling units, and a "
            "pre-activation net's first unit, stay in place): nothing to swap"
        )
    max_k = opts.swap_max_k or opts.max_k
    if groups and max_k > (most := most_swaps(groups)):
        section["note"] = (
            f"Swaps stop at k = {most}: no unit is swapped twice, and this net's swappable "
            f"units make at most {most} pair(s)"
        )
        log.info("swap: %s", section["note"])
    rng = random.Random(f"{seed}:swap")
    random_swaps(model, measure, max_k, opts.samples, rng, into=section["per_k"])
    if note := skip_note(section):
        log.info("swap: skipped: %s", note)


def _check_output_folder(out: Path, resume: bool) -> None:
    """Never write over a study's or a training run's files (``study_folder_problem``)."""
    if problem := study_folder_problem(out, resume):
        raise ConfigError(problem)


class LesionInterrupted(UserError):
    """SIGINT/SIGTERM: what the study finished is saved; ``exit_code`` follows the shell."""

    def __init__(self, signum: signal.Signals, what: str) -> None:
        super().__init__(f"interrupted by {signum.name} {what}")
        self.exit_code = 128 + signum


@hydra.main(version_base="1.3", config_path="conf", config_name="lesion")
def main(cfg: DictConfig) -> None:
    """``resnet-lab-lesion checkpoint=PATH [data.limit=N] [lesion.samples=S] ...``: outputs go
    into the Hydra run folder. User mistakes exit 2 with one message, no traceback (a sweep's
    job: Hydra prints it once the others ran, and exits 1)."""
    hydra_cfg = HydraConfig.get()
    out = Path(hydra_cfg.runtime.output_dir)
    command = shlex.join(["resnet-lab-lesion", *sys.argv[1:]])
    if hydra_cfg.job.chdir:  # the study runs in its folder: paths given are the command's
        for key in ("checkpoint", "lesion.plain"):
            if path := OmegaConf.select(cfg, key):
                OmegaConf.update(cfg, key, to_absolute_path(path))
    if not cfg.resume and slurm_requeues() and held_record(out) in STUDY_RECORDS:
        log.info("Slurm requeued this job: its study continues, as with resume=true")
        cfg.resume = True  # what it measured stays; the parts missing are measured
    early: list[signal.Signals] = []  # a signal as the handler is set: no list yet
    try:
        with stopping.signals_interrupt() as early:  # the study takes them over once it begins
            run(cfg, out, command)
    except LesionInterrupted as e:
        print(f"resnet-lab-lesion: {e}", file=sys.stderr)
        into_the_log_file(log, f"resnet-lab-lesion: {e}")
        if not (out / "lesion.json").exists():  # stopped before any result: no empty folder
            discard_refused_folder(out, hydra_cfg)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:  # before the study took the signals (reading the checkpoint)
        signum = early[0] if early else signal.SIGINT
        if (out / "lesion.json").exists():  # just after the study: its files are whole
            print(f"resnet-lab-lesion: {signum.name}: the study is saved in {out}", file=sys.stderr)
        else:
            message = (
                f"resnet-lab-lesion: interrupted by {signum.name} before the study began: "
                "nothing done"
            )
            print(message, file=sys.stderr)
            into_the_log_file(log, message)  # a folder named with hydra.run.dir stays
            discard_refused_folder(out, hydra_cfg)
        sys.exit(128 + signum)
    except UserError as e:
        message = f"resnet-lab-lesion: error: {without_download(str(e))}"
        if hydra_cfg.mode == RunMode.MULTIRUN:  # Hydra records the failed job, runs the others,
            log.error("%s", message)  # then prints it and exits 1
            raise JobRefused(message) from None
        print(message, file=sys.stderr)
        into_the_log_file(log, message)  # a folder named with hydra.run.dir stays: its log says why
        discard_refused_folder(out, hydra_cfg)
        sys.exit(2)
    log.info("results in %s", out)
