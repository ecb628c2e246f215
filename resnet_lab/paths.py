"""Path analysis (Veit et al. 2016, Section 5): how long are a ResNet's paths, and which carry
the gradient?

Unrolling n residual units gives 2^n paths; a path of length k goes through k residual branches
and n - k shortcuts, so the lengths are binomial: C(n, k) / 2^n. Veit et al. measure, for each
k, the gradient that reaches the input along single sampled paths of length k, and multiply by
the number of such paths to see which lengths carry the gradient.

How it is measured here: one forward pass, then one backward pass per sampled path, in which a
switch on every unit's branch output and shortcut input lets the gradient through or not (the
forward values stay those of the whole net, so ReLU masks and BN are fixed). A path of length k
opens the branches of k sampled units and the shortcuts of the other n - k. With every switch
open the gradient is the full gradient; the gradients of all 2^n single paths sum to it. The
gradient is taken at the input of the first unit (the stem is common to all paths).

The decomposition is exact for identity shortcuts (and option-A zero padding, which is linear).
For scaled or gated shortcuts the shortcut's factor becomes part of each path, and a gate's own
dependence on x is cut along with the shortcut input: the numbers are then only indicative.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_lab.checkpoint import atomic_save_figure


def path_length_distribution(n: int) -> list[float]:
    """Fraction of the 2^n paths of an n-unit net that have length k, for k = 0..n."""
    return [math.comb(n, k) / 2**n for k in range(n + 1)]


def central_range(distribution: Sequence[float], mass: float = 0.95) -> tuple[int, int]:
    """Lengths (lo, hi) that cut at most (1 - mass) / 2 of the paths off each tail."""
    tail = (1 - mass) / 2
    cdf, lo = 0.0, 0
    for k, p in enumerate(distribution):
        if cdf + p > tail:
            lo = k
            break
        cdf += p
    cdf, hi = 0.0, len(distribution) - 1
    for k in range(len(distribution) - 1, -1, -1):
        if cdf + distribution[k] > tail:
            hi = k
            break
        cdf += distribution[k]
    return lo, hi


class _Switch:
    """Read during the backward pass: closed switches block the gradient."""

    def __init__(self) -> None:
        self.open = True


class _GradientSwitch(torch.autograd.Function):
    """Identity forward; backward passes the gradient only while the switch is open."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, switch: _Switch) -> Tensor:
        ctx.switch = switch
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        return (grad if ctx.switch.open else torch.zeros_like(grad)), None


@dataclass
class PathProbe:
    """Switches on each unit's branch output and shortcut input, and the first unit's input."""

    branch: list[_Switch]
    shortcut: list[_Switch]
    inputs: list[Tensor] = field(default_factory=list)

    def choose(self, branch_units: set[int], shortcut_units: set[int]) -> None:
        """Let the gradient through the branches and shortcuts of these units only."""
        for i, (b, s) in enumerate(zip(self.branch, self.shortcut, strict=True)):
            b.open, s.open = i in branch_units, i in shortcut_units


@contextmanager
def path_probe(model: nn.Module) -> Iterator[PathProbe]:
    """Install the switches (hooks) on ``model.units`` for the duration of the block."""
    units = model.units
    probe = PathProbe([_Switch() for _ in units], [_Switch() for _ in units])

    def capture(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        start = args[0].detach().requires_grad_()
        probe.inputs.append(start)
        return (start, *args[1:])

    def on_branch(switch: _Switch) -> Any:
        return lambda module, args, out: _GradientSwitch.apply(out, switch)

    def on_shortcut(switch: _Switch) -> Any:
        return lambda module, args: (_GradientSwitch.apply(args[0], switch), *args[1:])

    handles = [units[0].register_forward_pre_hook(capture)]
    for unit, b, s in zip(units, probe.branch, probe.shortcut, strict=True):
        handles.append(unit.branch.register_forward_hook(on_branch(b)))
        handles.append(unit.shortcut.register_forward_pre_hook(on_shortcut(s)))
    try:
        yield probe
    finally:
        for h in handles:
            h.remove()


def input_gradients(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    choices: Iterable[tuple[set[int], set[int]]],
) -> Iterator[Tensor]:
    """Gradient of the summed cross-entropy w.r.t. the first unit's input, once per choice of
    (units whose branch, units whose shortcut carry the gradient), all from one forward pass."""
    with path_probe(model) as probe:
        loss = F.cross_entropy(model(images), labels, reduction="sum")
        (start,) = probe.inputs
        for branch_units, shortcut_units in choices:
            probe.choose(branch_units, shortcut_units)
            (grad,) = torch.autograd.grad(loss, start, retain_graph=True)
            yield grad


def path_study(
    model: nn.Module,
    batches: Sequence[tuple[Tensor, Tensor]],
    samples: int,
    rng: random.Random,
) -> dict[str, Any]:
    """For every length k, the mean input-gradient norm (per image) of up to ``samples`` distinct
    single paths of length k; with the length distribution and their product. The i-th path of
    each length is measured on ``batches[i % len(batches)]`` (Veit et al.: a random batch for
    each measurement)."""
    from resnet_lab.lesion import sample_deletions  # lesion.py imports this module

    n = len(model.units)
    units = set(range(n))
    subsets = [sample_deletions(sorted(units), k, samples, rng) for k in range(n + 1)]
    jobs: list[list[tuple[int, set[int]]]] = [[] for _ in batches]  # (length, branches) a batch
    for k, per_k in enumerate(subsets):
        for i, subset in enumerate(per_k):
            jobs[i % len(batches)].append((k, set(subset)))
    norms: list[list[float]] = [[] for _ in range(n + 1)]
    for (images, labels), batch_jobs in zip(batches, jobs, strict=True):
        choices = [(branches, units - branches) for _, branches in batch_jobs]
        grads = input_gradients(model, images, labels, choices)
        for (k, _), grad in zip(batch_jobs, grads, strict=True):
            norms[k].append(float(grad.flatten(1).norm(dim=1).mean()))
    distribution = path_length_distribution(n)
    per_length = [
        {"length": k, "paths_sampled": len(per_k), "grad_norm": sum(per_k) / len(per_k)}
        for k, per_k in enumerate(norms)
    ]
    products = [d * r["grad_norm"] for d, r in zip(distribution, per_length, strict=True)]
    total = sum(products)
    for r, d, p in zip(per_length, distribution, products, strict=True):
        r.update(fraction_of_paths=d, gradient_share=p / total if total else 0.0)
    lo, hi = central_range(distribution)
    carry_lo, carry_hi = central_range([r["gradient_share"] for r in per_length], 0.9)
    return {
        "units": n,
        "paths_95_range": [lo, hi],
        "gradient_90_range": [carry_lo, carry_hi],
        "batch": int(batches[0][1].shape[0]),
        "batches": len(batches),
        "samples_per_length": samples,
        "per_length": per_length,
    }


def paths_markdown(result: dict[str, Any], paper: str = "") -> str:
    """A Markdown section for lesion.md; ``paper``: what the paper found, a line of its own."""
    lo, hi = result["paths_95_range"]
    glo, ghi = result["gradient_90_range"]
    held = sum(path_length_distribution(result["units"])[lo : hi + 1])
    lines = [
        "## Path lengths and gradient (Veit et al. Section 5)",
        "",
        *([paper, ""] if paper else []),
        f"{result['units']} units: {held:.1%} of the paths are {lo} to {hi} units long (at most "
        "2.5% shorter, at most 2.5% longer; lengths are whole units); at least 90% of the "
        f"gradient magnitude (fraction of paths x mean gradient norm of a path) comes from "
        f"paths {glo} to {ghi} units long. Gradient norms: input of the first unit, mean over "
        f"the {result['batch']} training images of a batch ({result.get('batches', 1)} "
        f"batch(es), path i of a length on batch i mod that), up to "
        f"{result['samples_per_length']} sampled paths per length.",
        "",
        *([f"**Note: {result['note']}.**", ""] if result.get("note") else []),
        "| length | fraction of paths | mean gradient norm of one path | share of total gradient |",
        "|---:|---:|---:|---:|",
    ]
    for r in result["per_length"]:
        lines.append(
            f"| {r['length']} | {r['fraction_of_paths']:.3g} | {r['grad_norm']:.3g} | "
            f"{r['gradient_share']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def plot_paths(result: dict[str, Any], path: Path) -> None:
    """Veit et al. Figure 6: length distribution, gradient per path, total gradient per length."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["per_length"]
    k = [r["length"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    axes[0].bar(k, [r["fraction_of_paths"] for r in rows], color="tab:gray")
    axes[0].set(title="(a) distribution of path length", xlabel="path length", ylabel="fraction")
    axes[1].semilogy(k, [max(r["grad_norm"], 1e-30) for r in rows], "o-", ms=3)
    axes[1].set(
        title="(b) gradient norm of one path", xlabel="path length", ylabel="|grad| at input"
    )
    axes[2].bar(k, [r["gradient_share"] for r in rows], color="tab:blue")
    axes[2].set(title="(c) total gradient per length", xlabel="path length", ylabel="share")
    fig.tight_layout()
    atomic_save_figure(fig, path, dpi=90)
    plt.close(fig)
