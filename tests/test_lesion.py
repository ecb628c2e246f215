"""Lesion and path-analysis logic on tiny random-weight nets: deletions, swaps, Kendall tau,
BN re-estimation, path-length distribution and per-path gradients; a run from a composed config
and the real ``resnet-lab-lesion`` command line."""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from conftest import REPO, InProcess
from omegaconf import OmegaConf

from resnet_lab import build_model, lesion, lesion_cli, paths
from resnet_lab.api import compose_config
from resnet_lab.checkpoint import save_checkpoint
from resnet_lab.config import keys_not_in_schema
from resnet_lab.errors import ConfigError, UserError
from resnet_lab.lesion import (
    _check_study,
    bn_reestimated,
    contiguous_groups,
    kendall_tau,
    lesioned,
    prepare,
    random_deletions,
    random_swaps,
    reordered,
    run,
    sample_deletions,
    sample_swaps,
    single_deletions,
    swap_groups,
    swap_pairs,
)
from resnet_lab.lesion_cli import command as lesion_entry_point
from resnet_lab.lesion_config import LesionRunCfg, compose_lesion_config
from resnet_lab.models import build_network
from resnet_lab.paths import (
    central_range,
    input_gradients,
    path_length_distribution,
    path_study,
    paths_markdown,
)
from resnet_lab.run_folder import environment

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(depth: int = 20, *overrides: str) -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model([f"model.depth={depth}", "model.width=4", *overrides]).eval()
    with torch.no_grad():  # non-trivial BN, so branches matter and stats differ from defaults
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.bias.uniform_(-0.2, 0.2)
    return net


X = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def test_kendall_tau() -> None:
    assert kendall_tau(list(range(10))) == 1.0
    assert kendall_tau(list(range(10))[::-1]) == -1.0
    assert kendall_tau([1, 0, 2, 3]) == pytest.approx(1 - 4 / 12)  # one discordant pair of 6
    stats = pytest.importorskip("scipy.stats")
    rng = random.Random(0)
    for _ in range(5):
        order = rng.sample(range(12), 12)
        assert kendall_tau(order) == pytest.approx(stats.kendalltau(range(12), order).statistic)


def test_the_swap_trend_keeps_equal_taus_in_one_bin() -> None:
    """Bins of samples sorted by tau split equal taus (every k=2 order of a ResNet-20 has one
    tau): the line then stepped up and down at one tau, as the sort happened to order them."""
    taus = [0.9] * 6 + [0.8] * 2 + [0.7, 0.6]
    errors = [10.0, 30.0, 11.0, 29.0, 12.0, 28.0, 40.0, 41.0, 50.0, 60.0]
    xs, ys = lesion.binned_medians(taus, errors, bins=3)  # taus {0.6, 0.7}, {0.8}, {0.9}
    assert xs == pytest.approx([0.65, 0.8, 0.9])
    assert ys == pytest.approx([55.0, 40.5, 20.0])  # tau 0.9: all six samples' median
    assert lesion.binned_medians([0.5, 0.5], [1.0, 3.0]) == ([0.5], [2.0])


def test_swap_groups_are_shape_compatible() -> None:
    net = tiny(20)  # 9 units, downsampling units 3 and 6
    assert swap_groups(net) == [[0, 1, 2], [4, 5], [7, 8]]
    assert contiguous_groups(6, [0, 3]) == [[1, 2], [4, 5]]
    # pre-activation: unit 0 carries the stem's BN-ReLU and stays in place
    assert swap_groups(tiny(20, "after_add=identity"))[0] == [1, 2]


def test_swap_pairs_only_within_groups() -> None:
    groups = [[0, 1, 2], [4, 5], [7, 8]]
    group_of = {p: g for g, members in enumerate(groups) for p in members}
    rng = random.Random(0)
    for k in range(1, 4):
        for _ in range(20):
            order = swap_pairs(list(range(9)), k, rng, groups)
            assert sorted(order) == list(range(9))
            for position, unit in enumerate(order):
                assert position == unit or group_of[position] == group_of[unit]
    with pytest.raises(Exception, match="at most 3 disjoint compatible pairs"):
        swap_pairs(list(range(9)), 4, rng, groups)


def test_k_swaps_are_k_disjoint_pairs_each_order_equally_likely() -> None:
    """k swaps move exactly 2k units, each with its partner (pairs sharing a unit made an order
    of fewer transpositions than its k: the seed-1 docs run's k=7 had 5)."""
    groups = [[0, 1, 2, 3, 4, 5, 6], [8, 9, 10, 11], [13, 14, 15, 16, 17]]
    rng = random.Random(1)
    for k in range(1, 8):
        for _ in range(30):
            order = swap_pairs(list(range(18)), k, rng, groups)
            assert sum(p != u for p, u in enumerate(order)) == 2 * k
            assert all(order[order[p]] == p for p in range(18))  # each moved unit: one swap
    # all 7 orders of two disjoint pairs in [[0, 1, 2], [4, 5], [7, 8]], each about as often
    drawn = Counter(
        tuple(swap_pairs(range(9), 2, rng, [[0, 1, 2], [4, 5], [7, 8]])) for _ in range(7000)
    )
    assert len(drawn) == 7 and min(drawn.values()) > 850 and max(drawn.values()) < 1150
    # a group holding two pairs (a real net's stages do): 3 orders swap both in [0, 1, 2, 3],
    # 6 one there and [5, 6]; each as likely, and the 9 listed where 9 are asked for (counted
    # as 12, each order of a group's pairs once more, it drew and weighted those orders twice)
    two = [[0, 1, 2, 3], [5, 6]]
    drawn = Counter(tuple(swap_pairs(range(7), 2, rng, two)) for _ in range(9000))
    assert len(drawn) == 9 and min(drawn.values()) > 850 and max(drawn.values()) < 1150
    assert sample_swaps(7, 2, 9, rng, two) == sorted(list(order) for order in drawn)
    # fewer orders than samples: each of them, once; more: distinct draws
    assert sample_swaps(9, 3, 20, rng, [[0, 1, 2], [4, 5], [7, 8]]) == [
        [0, 2, 1, 3, 5, 4, 6, 8, 7],
        [1, 0, 2, 3, 5, 4, 6, 8, 7],
        [2, 1, 0, 3, 5, 4, 6, 8, 7],
    ]
    many = sample_swaps(18, 5, 20, rng, groups)
    assert len({tuple(o) for o in many}) == 20
    assert all(sum(p != u for p, u in enumerate(o)) == 10 for o in many)
    # a ResNet-1202's stages: counts past a float's range are drawn exactly (an OverflowError)
    stages = [list(range(s * 200 + 1, s * 200 + 200)) for s in range(3)]
    deep = swap_pairs(list(range(600)), 150, rng, stages)
    assert sum(p != u for p, u in enumerate(deep)) == 300


def test_reordered_runs_and_restores() -> None:
    net = tiny(20)
    before = net(X)
    units = net.units
    order = [1, 0, 2, 3, 5, 4, 6, 8, 7]
    with torch.no_grad(), reordered(net, order):
        assert [net.units[p] for p in range(9)] == [units[i] for i in order]
        swapped = net(X)
    assert net.units is units
    assert not torch.allclose(swapped, before)
    assert torch.equal(net(X), before)
    with (
        pytest.raises(ValueError, match="shapes differ"),
        reordered(net, [3, 1, 2, 0, 4, 5, 6, 7, 8]),
    ):
        pass  # unit 3 (downsampling) cannot move
    assert net.units is units


def test_lesioned_unit_keeps_only_its_shortcut() -> None:
    net = tiny(20)
    with torch.no_grad():
        before = net(X)
        with lesioned(net, [4]):
            lesioned_out = net(X)
            assert net.units[4].lesioned
        # by hand: unit 4 computes relu(x) (identity shortcut, ReLU after the addition)
        x = net.stem(X)
        for i, unit in enumerate(net.units):
            x = torch.relu(x) if i == 4 else unit(x)
        manual = net.fc(torch.flatten(net.pool(net.final(x)), 1))
        # a downsampling unit (3, the first of stage 2) keeps its option A shortcut: the
        # input subsampled by 2, zero channels on either side to twice the channels
        with lesioned(net, [3]):
            downsampling_out = net(X)
        x = net.stem(X)
        for i, unit in enumerate(net.units):
            if i == 3:
                half = x[:, :, ::2, ::2]
                zeros = torch.zeros_like(half[:, : half.shape[1] // 2])
                x = torch.relu(torch.cat([zeros, half, zeros], 1))
            else:
                x = unit(x)
        by_hand = net.fc(torch.flatten(net.pool(net.final(x)), 1))
    torch.testing.assert_close(lesioned_out, manual)
    assert not torch.allclose(lesioned_out, before)
    torch.testing.assert_close(downsampling_out, by_hand)
    assert not any(u.lesioned for u in net.units)
    with pytest.raises(RuntimeError), lesioned(net, [1, 2]):
        raise RuntimeError("restored even on errors")
    assert not any(u.lesioned for u in net.units)
    net.units[2].lesioned = True  # each unit is put back as it was, nested blocks too
    with lesioned(net, [2, 3]), lesioned(net, [3]):
        pass
    assert [u.lesioned for u in net.units[1:5]] == [False, True, False, False]
    for outside in ([-1], [9], [2, 99]):  # -1 deleted the last unit, 99 an IndexError
        message = r"do not exist: the net's units are 0\.\.8"
        with pytest.raises(ValueError, match=message), lesioned(net, outside):
            pass
    assert [u.lesioned for u in net.units[1:5]] == [False, True, False, False]


def test_lesion_of_a_zero_branch_changes_nothing() -> None:
    net = tiny(8)
    with torch.no_grad():
        net.units[1].branch[4].weight.zero_()  # last BN: the branch outputs exactly 0
        net.units[1].branch[4].bias.zero_()
        intact = net(X)
        with lesioned(net, [1]):
            torch.testing.assert_close(net(X), intact)


@pytest.mark.parametrize("plain", [["shortcut=none"], ["shortcut=scale", "shortcut.scale=0"]])
def test_a_deleted_plain_unit_passes_its_input_on(plain: list[str]) -> None:
    """Veit et al. delete a plain net's layer as y' = y_{i-1} (it passed zeros on: chance by
    construction); at a downsampling unit x is subsampled and zero-padded, as option A does."""
    net = tiny(20, *plain)
    assert not any(u.shortcut.carries_input for u in net.units)
    for deleted in (1, 3):  # 3: the first unit of stage 2 (4 -> 8 channels, stride 2)
        with torch.no_grad():
            with lesioned(net, [deleted]):
                lesioned_out = net(X)
            x = net.stem(X)
            for i, unit in enumerate(net.units):
                if i != deleted:
                    x = unit(x)
                elif i == 3:
                    x = torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2))
            manual = net.fc(torch.flatten(net.pool(net.final(x)), 1))
        torch.testing.assert_close(lesioned_out, manual)
        assert lesioned_out.std(0).min() > 0  # the images still differ (zeros: one output)


def test_sample_deletions() -> None:
    rng = random.Random(0)
    subsets = sample_deletions(list(range(10)), 3, 20, rng)
    assert len(subsets) == 20 and len({tuple(s) for s in subsets}) == 20
    assert all(len(set(s)) == 3 and set(s) <= set(range(10)) for s in subsets)
    assert sample_deletions([4, 1, 7], 2, 20, rng) == [[1, 4], [1, 7], [4, 7]]  # all of them
    assert sample_deletions(list(range(10)), 3, 5, random.Random(1)) == sample_deletions(
        list(range(10)), 3, 5, random.Random(1)
    )


def test_summarize_gives_quartiles_in_order() -> None:
    assert lesion.summarize([5.0, 1.0, 4.0, 2.0, 3.0]) == {
        "median": 3.0,
        "q1": 2.0,
        "q3": 4.0,
        "min": 1.0,
        "max": 5.0,
    }


def test_training_batches_are_a_seeded_random_subset() -> None:
    """BN re-estimation and the path study see a random subset (Veit et al.: random batches),
    the same for one seed, not the first training images."""
    images, labels = torch.arange(100).view(100, 1, 1, 1), torch.arange(100)
    batches = lesion.training_batches(images, labels, 3, 4, seed=0)
    assert [b[0].shape[0] for b in batches] == [4, 4, 4]
    drawn = torch.cat([y for _, y in batches])
    assert len(set(drawn.tolist())) == 12 and drawn.tolist() != list(range(12))
    assert all(torch.equal(x.flatten(), y) for x, y in batches)  # images stay with labels
    again = torch.cat([y for _, y in lesion.training_batches(images, labels, 3, 4, seed=0)])
    other = torch.cat([y for _, y in lesion.training_batches(images, labels, 3, 4, seed=1)])
    assert torch.equal(drawn, again) and not torch.equal(drawn, other)


def test_training_batches_fewer_than_asked_say_so(caplog: pytest.LogCaptureFixture) -> None:
    """BN statistics re-estimated from fewer images than lesion.bn_batches asks: said."""
    images, labels = torch.arange(10).view(10, 1, 1, 1), torch.arange(10)
    with caplog.at_level(logging.WARNING, logger="resnet_lab.lesion"):
        batches = lesion.training_batches(images, labels, 3, 4, seed=0, asked_by="3 of 4")
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert "3 of 4 ask for 12 training images; the set has 10: all of them" in caplog.text


def test_study_parts_follow_their_settings_and_seed() -> None:
    """lesion.include_downsampling, lesion.swap_max_k and seed reach the draws they name."""
    net = tiny(20)  # 9 units, downsampling units 3 and 6; swappable [0, 1, 2], [4, 5], [7, 8]

    def draws(part: Any, seed: int, **settings: Any) -> dict[str, Any]:
        opts = OmegaConf.create({"max_k": 2, "samples": 3, "swap_max_k": None, **settings})
        opts.include_downsampling = settings.get("include_downsampling", False)
        results: dict[str, Any] = {}
        part(results, net, lambda: 0.0, opts, seed)
        return results

    random_part, swap_part = lesion._random_part, lesion._swap_part
    excluded = draws(random_part, 0)["random"]
    assert excluded["candidates"] == [0, 1, 2, 4, 5, 7, 8]
    included = draws(random_part, 0, include_downsampling=True)["random"]
    assert included["candidates"] == list(range(9))
    assert {3, 6} & {u for r in included["per_k"] for s in r["subsets"] for u in s}
    assert draws(random_part, 0)["random"] == excluded
    assert draws(random_part, 1)["random"]["per_k"] != excluded["per_k"]
    swaps = draws(swap_part, 0)["swap"]["per_k"]
    assert [r["k"] for r in swaps] == [1, 2]
    assert [r["k"] for r in draws(swap_part, 0, swap_max_k=1)["swap"]["per_k"]] == [1]
    assert draws(swap_part, 0)["swap"]["per_k"] == swaps
    assert draws(swap_part, 1)["swap"]["per_k"] != swaps


def test_the_path_study_draws_paths_from_its_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    first_draws = []

    def study(model: Any, batches: Any, samples: int, rng: random.Random) -> dict[str, Any]:
        first_draws.append(rng.random())
        return {}

    monkeypatch.setattr(lesion, "path_study", study)
    data = SimpleNamespace(train_images=torch.zeros(8, 3, 32, 32), train_labels=torch.zeros(8))
    opts = OmegaConf.create({"path_batches": 1, "path_batch": 4, "path_samples": 2})
    for seed in (0, 0, 1):
        lesion._paths_part({}, tiny(8), data, opts, seed)
    assert first_draws[0] == first_draws[1] != first_draws[2]


def test_experiments_measure_the_lesioned_net_and_restore_it() -> None:
    net = tiny(20)

    def measure() -> float:  # "error" = number of deleted units + 100 * moved units
        moved = sum(a is not b for a, b in zip(net.units, units, strict=True))
        return sum(u.lesioned for u in net.units) + 100.0 * moved

    def deleted_units() -> float:  # "error" = a code of exactly which units are deleted
        return float(sum(2**i for i, u in enumerate(net.units) if u.lesioned))

    units = list(net.units)
    single = single_deletions(net, measure)
    assert [r["error"] for r in single] == [1.0] * 9
    assert [r["unit"] for r in single if r["downsampling"]] == [3, 6]
    assert [r["error"] for r in single_deletions(net, deleted_units)] == [2.0**i for i in range(9)]
    candidates = [0, 1, 2, 4, 5, 7, 8]
    deletions = random_deletions(net, measure, candidates, 3, 4, random.Random(0))
    assert [r["k"] for r in deletions] == [1, 2, 3]
    assert all(e == r["k"] for r in deletions for e in r["errors"])
    for r in random_deletions(net, deleted_units, candidates, 3, 4, random.Random(0)):
        assert all(set(subset) <= set(candidates) for subset in r["subsets"])
        assert r["errors"] == [sum(2.0**i for i in subset) for subset in r["subsets"]]
    swaps = random_swaps(net, measure, 2, 3, random.Random(0))
    for r in swaps:  # k disjoint pairs move 2k units, delete none
        assert r["errors"] and all(e == 200 * r["k"] for e in r["errors"])
        assert all(t < 1.0 for t in r["taus"])
        assert r["taus"] == [kendall_tau(order) for order in r["orders"]]
    assert list(net.units) == units and not any(u.lesioned for u in net.units)


def test_swaps_measure_each_distinct_order_once() -> None:
    net = tiny(14)  # 2 units a stage, the later stages opening with a downsampling one: one pair
    calls = []
    swaps = random_swaps(net, lambda: calls.append(1) or float(len(calls)), 1, 20, random.Random(0))
    # its one swappable pair gives one order: measured and counted once (it was counted 20 times)
    assert swaps[0]["orders"] == [[1, 0, 2, 3, 4, 5]] and swaps[0]["errors"] == [1.0] == calls
    net = tiny(20)  # swappable: [0, 1, 2], [4, 5], [7, 8]: 5 single swaps, 7 double ones
    swaps = random_swaps(net, lambda: 0.0, 2, 5, random.Random(0))
    orders = [{tuple(order) for order in r["orders"]} for r in swaps]
    assert [len(r["orders"]) for r in swaps] == [len(o) for o in orders] == [5, 5]  # distinct
    assert orders[0] == {
        tuple(swap_pairs(range(9), 1, random.Random(i), [[0, 1, 2], [4, 5], [7, 8]]))
        for i in range(200)
    }


def test_bn_reestimation_and_restore() -> None:
    net = tiny(8)
    stem_bn = net.stem[1]
    saved = {k: v.clone() for k, v in net.state_dict().items()}
    batch = torch.randn(16, 3, 32, 32)
    with torch.no_grad(), bn_reestimated(net, [(batch, None)]):
        conv = net.stem[0](batch)
        torch.testing.assert_close(stem_bn.running_mean, conv.mean(dim=(0, 2, 3)))
        assert not stem_bn.training
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in saved.items())
    assert stem_bn.momentum == 0.1


def test_bn_reestimation_averages_every_batch_from_scratch() -> None:
    """A trained net's BN has counted thousands of batches, and one batch cannot tell an exact
    average from a moving one: two unlike batches on counters at 1000."""
    net = tiny(8)
    stem_bn = net.stem[1]
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.num_batches_tracked.fill_(1000)
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(8, 3, 32, 32, generator=g), 3 * torch.randn(8, 3, 32, 32, generator=g) + 1
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    seen: dict[torch.nn.Module, list[torch.Tensor]] = {bn: [] for bn in bns}
    for bn in bns:  # each BN's input in the re-estimating passes (earlier BNs on batch statistics)
        bn.register_forward_pre_hook(lambda module, inputs: seen[module].append(inputs[0]))
    with torch.no_grad(), bn_reestimated(net, [(a, None), (b, None)]):
        expected = net.stem[0](torch.cat([a, b])).mean(dim=(0, 2, 3))
        torch.testing.assert_close(stem_bn.running_mean, expected)
        assert len(bns) > 3 and not any(bn.training for bn in bns)
        for bn in bns:  # every BN: the plain average of its two batches' mean and variance
            assert len(seen[bn]) == 2
            means = [x.mean(dim=(0, 2, 3)) for x in seen[bn]]
            variances = [x.var(dim=(0, 2, 3), unbiased=True) for x in seen[bn]]
            torch.testing.assert_close(bn.running_mean, sum(means) / 2)
            torch.testing.assert_close(bn.running_var, sum(variances) / 2)


def test_path_length_distribution() -> None:
    for n in (1, 3, 27, 54):
        dist = path_length_distribution(n)
        assert len(dist) == n + 1 and sum(dist) == pytest.approx(1.0)
        assert dist[n // 3] == math.comb(n, n // 3) / 2**n
    assert path_length_distribution(3) == [1 / 8, 3 / 8, 3 / 8, 1 / 8]
    dist = path_length_distribution(54)
    lo, hi = central_range(dist)
    assert (lo, hi) == (20, 34) and sum(dist[lo : hi + 1]) >= 0.95  # Veit et al.: "19 to 35"


def test_path_gradients_decompose_the_full_gradient(monkeypatch: pytest.MonkeyPatch) -> None:
    net = tiny(8)  # 3 units
    y = torch.tensor([0, 1, 2, 3])
    # the plain autograd gradient at the first unit's input
    start = net.stem(X).detach().requires_grad_()
    x = start
    for unit in net.units:
        x = unit(x)
    logits = net.fc(torch.flatten(net.pool(net.final(x)), 1))
    (full,) = torch.autograd.grad(
        torch.nn.functional.cross_entropy(logits, y, reduction="sum"), start
    )
    every = {0, 1, 2}
    subsets = [set(s) for k in range(4) for s in itertools.combinations(range(3), k)]
    choices = [(every, every)] + [(s, every - s) for s in subsets]
    grads = list(input_gradients(net, X, y, choices))
    torch.testing.assert_close(grads[0], full)  # all branches and shortcuts open
    torch.testing.assert_close(sum(grads[1:]), full, rtol=1e-4, atol=1e-6)  # 2^3 single paths
    study = path_study(net, [(X, y)], 2, random.Random(0))
    assert [r["paths_sampled"] for r in study["per_length"]] == [1, 2, 2, 1]
    assert sum(r["gradient_share"] for r in study["per_length"]) == pytest.approx(1.0)
    # path i of a length on batch i mod 2: the same batch twice measures what one does; the
    # second half of the images alone, another thing
    twice = path_study(net, [(X, y), (X, y)], 2, random.Random(0))
    assert [r["grad_norm"] for r in twice["per_length"]] == pytest.approx(
        [r["grad_norm"] for r in study["per_length"]]
    )
    assert (twice["batch"], twice["batches"]) == (4, 2)  # images a batch, batches
    assert (study["units"], study["samples_per_length"]) == (3, 2)  # lesion.md's "up to 2"
    half = len(y) // 2
    split = path_study(net, [(X[:half], y[:half]), (X[half:], y[half:])], 2, random.Random(0))
    assert split["batches"] == 2 and split["batch"] == half
    assert split["per_length"][0]["grad_norm"] != pytest.approx(study["per_length"][0]["grad_norm"])
    # the one path of length 0 is path 0: measured on the first batch
    first = path_study(net, [(X[:half], y[:half])], 2, random.Random(0))
    assert split["per_length"][0]["grad_norm"] == pytest.approx(first["per_length"][0]["grad_norm"])
    # a mean over the images (lesion.md): the batch's images twice measure what the batch does
    doubled = path_study(net, [(torch.cat([X, X]), torch.cat([y, y]))], 2, random.Random(0))
    assert [r["grad_norm"] for r in doubled["per_length"]] == pytest.approx(
        [r["grad_norm"] for r in study["per_length"]], rel=1e-4
    )
    # the ranges: 95% of the paths (binomial lengths), 90% of the gradient (its shares)
    asked: list[tuple[list[float], float]] = []

    def recorded(distribution: list[float], mass: float = 0.95) -> tuple[int, int]:
        asked.append((list(distribution), mass))
        return central_range(distribution, mass)

    monkeypatch.setattr(paths, "central_range", recorded)
    study = path_study(net, [(X, y)], 2, random.Random(0))
    shares = [r["gradient_share"] for r in study["per_length"]]
    assert asked == [(path_length_distribution(3), 0.95), (shares, 0.9)]
    assert study["paths_95_range"] == list(central_range(path_length_distribution(3), 0.95))
    assert study["gradient_90_range"] == list(central_range(shares, 0.9))


def test_a_paths_length_counts_the_branches_it_goes_through() -> None:
    """Every branch silenced (its last BN's scale 0: it outputs a constant, passes no
    gradient): the whole gradient flows along the path of length 0, the shortcuts alone."""
    net = tiny(8)
    with torch.no_grad():
        for unit in net.units:
            unit.branch[-1].weight.zero_()
    study = path_study(net, [(X, torch.tensor([0, 1, 2, 3]))], 2, random.Random(0))
    norms = [r["grad_norm"] for r in study["per_length"]]
    assert norms[0] > 0 and norms[1:] == [0.0, 0.0, 0.0]


def test_lesion_md_says_what_the_paper_found_beside_each_part() -> None:
    """The project's notes on the paper (papers.md), with the paper's k as a fraction of its
    units (a net of other depth compares at the same fraction) and its path range as lesion.md's
    rule (at most 2.5% off each tail) gives it; the path section shows the line it is given."""
    net = "Veit et al.'s pre-activation ResNet-110 of 54 units on CIFAR-10"
    assert lesion.paper_line("random") == (
        f"The paper ({net}): median error about 6.5% at k = 1 (2% of its units), 25% at k = 10 "
        "(19% of its units) and 74% at k = 20 (37% of its units)."
    )
    assert lesion.paper_line("paths") == (
        f"The paper ({net}): 95% of the paths are 19 to 35 units long, and paths of 5 to 17 "
        "units carry almost all of the gradient (by the rule below, 54 units give 20 to 34)."
    )
    assert lesion.paper_line("single").endswith(
        "barely changes the error, except a downsampling unit."
    )
    assert lesion.paper_line("swap").endswith("(as Kendall tau falls).")
    result = {"units": 3, "paths_95_range": [1, 2], "gradient_90_range": [0, 1], "batch": 2}
    result |= {"samples_per_length": 1, "per_length": []}
    assert "The paper" not in paths_markdown(result)
    assert paths_markdown(result, "Found.").startswith(
        "## Path lengths and gradient (Veit et al. Section 5)\n\nFound.\n\n3 units: "
    )


def test_the_swap_table_has_a_cell_for_each_column() -> None:
    """lesion.md's swap table: the Kendall tau column and its cell, row and header alike."""
    section = {"per_k": [{"k": 1, "errors": [1.0], "tau_median": 0.5, "median": 1.0}]}
    section["per_k"][0].update(q1=1.0, q3=1.0, min=1.0, max=1.0)
    lines = lesion._per_k_section("h", "i", section, "samples", tau=True)
    header, rule, row = lines[4:7]
    assert header.count("|") == rule.count("|") == row.count("|") == 9
    assert (
        "| median Kendall tau |" in header
        and row == "| 1 | 1 | 0.500 | 1.00 | 1.00 | 1.00 | 1.00 | 1.00 |"
    )


def test_the_path_sections_sentences_and_table() -> None:
    """lesion.md's path section, from a hand-made result: each range where it is said, and
    each length's row in the columns the header names."""
    result = {
        "units": 54,
        "paths_95_range": [20, 34],
        "gradient_90_range": [5, 17],
        "batch": 128,
        "batches": 3,
        "samples_per_length": 4,
        "per_length": [
            {"length": 7, "fraction_of_paths": 1.5e-6, "grad_norm": 0.0123, "gradient_share": 0.25}
        ],
    }
    text = paths_markdown(result)
    assert (  # whole units: the range that leaves at most 2.5% in each tail holds more than 95%
        "54 units: 96.0% of the paths are 20 to 34 units long (at most 2.5% shorter, at most "
        "2.5% longer; lengths are whole units); at least 90% of the gradient" in text
    )
    assert "comes from paths 5 to 17 units long" in text
    assert "mean over the 128 training images of a batch (3 batch(es)" in text
    assert "up to 4 sampled paths per length" in text
    header = (
        "| length | fraction of paths | mean gradient norm of one path | share of total gradient |"
    )
    assert header in text
    assert "| 7 | 1.5e-06 | 0.0123 | 0.250 |" in text


def test_central_range_of_a_skewed_distribution() -> None:
    """Gradient shares are skewed to short paths, unlike the symmetric binomial."""
    assert central_range([0.6, 0.3, 0.07, 0.03], 0.9) == (0, 2)
    assert central_range([0.03, 0.07, 0.3, 0.6], 0.9) == (1, 3)
    # a tail of exactly (1 - mass) / 2 is cut ("at most"), at either end
    assert central_range([0.25, 0.5, 0.25], 0.5) == (1, 1)
    assert central_range([0.125, 0.75, 0.125], 0.75) == (1, 1)
    # nearly all at one end: the range is that length alone (a net whose gradient comes
    # almost all through the shortcuts: length 0)
    assert central_range([0.96, 0.02, 0.02], 0.9) == (0, 0)
    assert central_range([0.02, 0.02, 0.96], 0.9) == (2, 2)


def test_path_study_length_counts_residual_branches() -> None:
    """Length k = k branches (Veit Fig. 6): every length's mean gradient norm, computed by hand
    with detach over all C(3, k) paths (forward values, hence ReLU masks, unchanged)."""
    net = tiny(8)  # 3 units
    y = torch.tensor([0, 1, 2, 3])

    def one_path_norm(branches: set[int]) -> float:
        """Through the branches of the units in ``branches``, the shortcuts of the others."""
        start = net.stem(X).detach().requires_grad_()
        x = start
        for i, unit in enumerate(net.units):
            f, h = unit.branch(x), unit.shortcut.downsample(x)
            x = unit.after_add(h.detach() + f if i in branches else h + f.detach())
        logits = net.fc(torch.flatten(net.pool(net.final(x)), 1))
        loss = torch.nn.functional.cross_entropy(logits, y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, start)
        return float(grad.flatten(1).norm(dim=1).mean())

    rows = path_study(net, [(X, y)], 3, random.Random(0))["per_length"]  # 3 samples: all paths
    by_hand = [
        sum(one_path_norm(set(s)) for s in itertools.combinations(range(3), k)) / math.comb(3, k)
        for k in range(4)
    ]
    assert len({round(v, 4) for v in by_hand}) == 4  # the lengths are told apart
    assert [r["grad_norm"] for r in rows] == pytest.approx(by_hand, rel=1e-5)
    # a length's share of the gradient: one path's norm times the C(3, k) paths of that length
    total = sum(math.comb(3, k) * g for k, g in enumerate(by_hand))
    shares = [math.comb(3, k) * g / total for k, g in enumerate(by_hand)]
    assert [r["gradient_share"] for r in rows] == pytest.approx(shares, rel=1e-5)


def test_path_study_measures_the_ith_path_on_batch_i_mod_b() -> None:
    net = tiny(8)  # 3 units: of 2 sampled paths of length 1, one on each batch
    y = torch.tensor([0, 1, 2, 3])
    a, b = (X[:2], y[:2]), (X[2:], y[2:])
    study = path_study(net, [a, b], 2, random.Random(0))
    first, second = sample_deletions([0, 1, 2], 1, 2, random.Random(0))  # length 0 uses no draw

    def norm(batch: tuple[torch.Tensor, torch.Tensor], branches: list[int]) -> float:
        (grad,) = input_gradients(net, *batch, [(set(branches), {0, 1, 2} - set(branches))])
        return float(grad.flatten(1).norm(dim=1).mean())

    expected = (norm(a, first) + norm(b, second)) / 2
    assert study["per_length"][1]["grad_norm"] == pytest.approx(expected, rel=1e-5)
    assert expected != pytest.approx((norm(a, first) + norm(a, second)) / 2, rel=1e-3)


def save_run(folder: Path, *overrides: str, trained_steps: int | None = None) -> Path:
    """A run's checkpoint of an untrained net (with the trainer's step when given)."""
    cfg = compose_config(["model.width=4", "data=synthetic", *overrides])
    torch.manual_seed(0)
    config = OmegaConf.to_container(cfg, resolve=True)
    state = {"model": build_network(cfg).state_dict(), "config": config}
    if trained_steps is not None:
        state["train_state"] = {"step": trained_steps}
    save_checkpoint(state, folder / "ckpt", 1, 1)
    return folder


def test_lesion_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_dir = save_run(tmp_path / "run", "model.depth=14")
    plain = save_run(tmp_path / "plain", "model.depth=14", "shortcut=scale", "shortcut.scale=0")
    out = tmp_path / "out"
    reestimated = Counter()  # BN re-estimations, by the checkpoint of the net re-estimated

    def counted(model: Any, batches: Any) -> Any:
        reestimated[Path(model.info["path"]).parent.parent.name] += 1
        return bn_reestimated(model, batches)

    monkeypatch.setattr(lesion, "bn_reestimated", counted)
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            f"lesion.plain={plain}",
            "data.limit=16",
            "trainer.eval_batch_size=16",
            "trainer.device=cpu",
            "lesion.max_k=5",
            "lesion.samples=1",
            "lesion.reestimate_bn=true",
            "lesion.bn_batches=1",
            "lesion.path_samples=1",
            "lesion.path_batch=2",
        ]
    )
    run(cfg, out)
    results = json.loads((out / "lesion.json").read_text())
    assert len(results["single"]) == len(results["plain"]["single"]) == 6
    assert results["random"]["candidates"] == [0, 1, 3, 5]  # downsampling units 2, 4 excluded
    assert [r["k"] for r in results["random"]["per_k"]] == [1, 2, 3, 4]  # max_k 5: said
    assert results["baseline"]["error_bn_reestimated"] is not None
    assert reestimated["plain"] == 1 + 6  # its intact net, then each of its single deletions
    # the lesions were measured after BN re-estimation: so is the intact error they are shown
    # against, the plain net's too (its lesions were drawn against the error as trained)
    plain_intact = results["plain"]["baseline"]["error_bn_reestimated"]
    assert lesion.intact(results["plain"]["baseline"]) == (plain_intact, "intact, BN re-estimated")
    text = (out / "lesion.md").read_text()
    assert f"(intact, BN re-estimated {plain_intact:.2f}%)" in text
    parts = ["single units", "k random units", "k random pairs", "Path lengths"]
    for heading, part in zip(parts, ["single", "random", "swap", "paths"], strict=True):
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]  # the paper's finding in each
        assert f")\n\n{lesion.paper_line(part)}\n\n" in section, part
    # max_k beyond the candidates, swap_max_k (max_k) beyond the net's one pair: said, not
    # silently cut
    assert "excluding downsampling units). Deletions stop at k = 4, the number of candidates." in (
        text
    )
    assert (
        "Swappable positions: [[0, 1]]. Swaps stop at k = 1: no unit is swapped twice, and "
        "this net's swappable units make at most 1 pair(s)." in text
    )
    assert results["settings"]["test_images"] == 16
    assert results["settings"]["config"]["lesion"]["samples"] == 1
    names = ["lesion.md", "lesion_single.png", "lesion_random.png", "lesion_swap.png", "paths.png"]
    assert all((out / name).stat().st_size > 0 for name in names)
    # TensorBoard shows the intact error the plots show too (it had the trained BN's alone)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = out.glob("events.out.tfevents.*")
    scalars = EventAccumulator(str(events)).Reload()
    (point,) = scalars.Scalars("lesion/intact_error_bn_reestimated")
    assert point.value == pytest.approx(results["baseline"]["error_bn_reestimated"])
    # as the command: a study's folder, a training run's, a file are refused
    (tmp_path / "a_file").touch()
    for folder, said in [
        (out, "already holds a lesion study (lesion.json)"),
        (run_dir, "already holds a training run (ckpt)"),
        (tmp_path / "a_file", "is a file, not a folder: give the study a folder"),
        # beside the checkpoints a run prunes and resumes from (it was written there)
        (run_dir / "ckpt", f"is the checkpoint folder of the run in {run_dir.resolve()}: give "),
        (run_dir / "ckpt" / "a", "lies inside the checkpoint folder of the run in"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(f"{folder} {said}")):
            run(cfg, folder)


def test_lesion_run_measures_training_images_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BN re-estimation and path gradients use training images: test images would leak the
    test set into the error they measure."""
    sizes = ["data.synthetic_train_size=64", "data.synthetic_test_size=32"]
    run_dir = save_run(tmp_path / "run", "model.depth=8", *sizes)
    seen: dict[str, Any] = {"bn": [], "paths": []}
    real_prepare, real_bn, real_paths = lesion.prepare, lesion.bn_reestimated, lesion.path_study

    def prepare(*args: Any) -> Any:
        seen["model"], seen["data"] = real_prepare(*args)
        return seen["model"], seen["data"]

    def bn_reestimated(model: Any, batches: Any) -> Any:
        seen["bn"] += [x for x, _ in batches]
        return real_bn(model, batches)

    def path_study(model: Any, batches: Any, *args: Any) -> Any:
        seen["paths"] += [x for x, _ in batches]
        return real_paths(model, batches, *args)

    monkeypatch.setattr(lesion, "prepare", prepare)
    monkeypatch.setattr(lesion, "bn_reestimated", bn_reestimated)
    monkeypatch.setattr(lesion, "path_study", path_study)
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            "data.limit=16",
            "trainer.eval_batch_size=8",
            "trainer.device=cpu",
            "lesion.experiments=[single,paths]",
            "lesion.reestimate_bn=true",
            "lesion.bn_batches=2",
            "lesion.path_batch=4",
            "lesion.path_batches=2",
            "lesion.path_samples=2",
        ]
    )
    run(cfg, tmp_path / "out")
    assert json.loads((tmp_path / "out" / "lesion.json").read_text())["paths"]["batches"] == 2
    data = seen["data"]
    train = {bytes(x.flatten().tolist()) for x in data.train_images}
    test = {bytes(x.flatten().tolist()) for x in data.eval_images}
    assert not train & test
    for part, count in (("bn", 2 * 8), ("paths", 2 * 4)):
        images = {bytes(x.flatten().tolist()) for batch in seen[part] for x in batch}
        assert (len(images), len(images & train)) == (count, count), part  # (seen, training)
    more = OmegaConf.merge(cfg, {"lesion": {"path_batches": 10_000}})  # more than there are
    with pytest.raises(ConfigError, match=r"= 40000 training images, more than the \d+ there"):
        run(more, tmp_path / "more")


def test_a_study_that_cannot_write_its_files_leaves_its_folder_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lesion.json, written first, marked the folder a study's (a later study refused there)
    beside plots and events never written; a full disk was a trace. What the study measured is
    kept (lesion.progress.json), and continued with resume=true, not measured again."""
    import errno

    run_dir = save_run(tmp_path / "run", "model.depth=8")
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            "data.limit=8",
            "trainer.eval_batch_size=8",
            "trainer.device=cpu",
            "lesion.experiments=[single]",
        ]
    )
    out = tmp_path / "out"
    write = lesion.atomic_write_text

    def full_disk_at_the_record(path: Path, text: str) -> None:
        if path.name == "lesion.json":
            raise OSError(errno.ENOSPC, "No space left on device")
        write(path, text)

    monkeypatch.setattr(lesion, "atomic_write_text", full_disk_at_the_record)
    with pytest.raises(UserError) as refused:
        run(cfg, out)
    assert str(refused.value) == (
        f"cannot write the study into {out} (No space left on device): make room, and run the "
        "same command with resume=true (what it measured is in lesion.progress.json)"
    )
    assert not (out / "lesion.json").exists() and (out / "lesion_single.png").exists()
    measured = json.loads((out / "lesion.progress.json").read_text())
    assert measured["status"] == "running" and len(measured["single"]) == 3
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"stopped before its end .* resume=true continues it"):
        run(cfg, out)
    # the same folder with resume=true: what the unfinished study left goes, its events
    # (TensorBoard showed both studies as one) and a plot of a part this study has not
    (out / "lesion_random.png").write_bytes(b"")
    foreign = out / "events.out.tfevents.1.host.1.0"  # not a study's: kept
    foreign.write_bytes(b"")
    (left,) = out.glob("events.out.tfevents.*.lesion")
    monkeypatch.setattr(lesion, "lesioned", None)  # nothing is measured again
    cfg.resume = True
    done = run(cfg, out)
    assert done["status"] == "completed" and done["single"] == measured["single"]
    assert not (out / "lesion.progress.json").exists()  # lesion.json holds all of it
    (events,) = out.glob("events.out.tfevents.*.lesion")
    assert events != left and foreign.exists() and not (out / "lesion_random.png").exists()
    assert (out / "lesion.json").exists() and not list(out.glob(".*.tmp-*"))
    assert not (out / "resnet-lab-lesion.lock").exists()  # held while the study ran


def test_a_second_study_into_a_folder_a_study_is_writing_is_refused(tmp_path: Path) -> None:
    """Both ran and wrote, the second's files over the first's, their events side by side:
    the folder is refused only once it holds lesion.json, written last."""
    from resnet_lab.run_folder import holds_a_run

    run_dir = save_run(tmp_path / "run", "model.depth=8")
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            "data.limit=8",
            "trainer.device=cpu",
            "lesion.experiments=[single]",
        ]
    )
    out = tmp_path / "out"
    out.mkdir()
    first = subprocess.Popen(["sleep", "60"])  # the first study, alive, holds the folder
    try:
        (out / "resnet-lab-lesion.lock").write_text(f"{os.uname().nodename} {first.pid}\n")
        said = (
            f"another resnet-lab-lesion ({socket.gethostname()} {first.pid}) is writing into "
            f"{out}; wait for it, or choose another folder (hydra.run.dir=..., hydra.sweep.dir "
            "with -m)"
        )
        with pytest.raises(UserError, match=re.escape(said)):
            run(cfg, out)
    finally:
        first.kill()
        first.wait()
    assert [p.name for p in out.iterdir()] == ["resnet-lab-lesion.lock"]  # none of the second's
    assert not holds_a_run(out)  # a study's lock is not a run's (resnet-lab took it for one)


@pytest.mark.slow
def test_lesion_config_mistakes_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="checkpoint=PATH is required"):
        run(compose_lesion_config(), tmp_path)
    with pytest.raises(ConfigError, match=r"lesion\.samples=0: must be a positive integer"):
        run(compose_lesion_config(["checkpoint=x", "lesion.samples=0"]), tmp_path)
    with pytest.raises(ConfigError, match=r"lesion\.experiments is empty: choose from"):
        run(compose_lesion_config(["checkpoint=x", "lesion.experiments=[]"]), tmp_path)
    bad = compose_lesion_config(["checkpoint=x", "lesion.experiments=[single,shuffle]"])
    with pytest.raises(ConfigError, match=r"unknown \['shuffle'\]"):
        run(bad, tmp_path)
    alone = compose_lesion_config(["checkpoint=x", "lesion.plain=y", "lesion.experiments=[swap]"])
    with pytest.raises(ConfigError, match=r"lesion\.plain compares single-unit deletions"):
        run(alone, tmp_path)
    with pytest.raises(ConfigError, match=r"unknown setting data\.split"):  # not ignored
        compose_lesion_config(["checkpoint=x", "data.split=val"])
    for overrides, said in [  # a fuzz: traces, one after parts of the study had run
        ([f"seed={2**64}"], f"seed={2**64} must be in [-2**63, 2**64)"),
        # ... or settings ignored without a word
        (
            ["lesion.experiments=[single]", "lesion.path_samples=3"],
            "lesion.path_samples=3 is read by the paths experiment, which lesion.experiments "
            "leaves out: add paths to lesion.experiments, or leave lesion.path_samples out",
        ),
        (
            ["lesion.experiments=[single,paths]", "lesion.samples=3"],
            "lesion.samples=3 is read by the random and swap experiments, which",
        ),
        (
            ["lesion.bn_batches=8"],
            "lesion.bn_batches=8 is read only with lesion.reestimate_bn=true: add it, or leave",
        ),
        (["lesion.samples=${nope}"], "lesion.samples: Interpolation key 'nope' not found"),
        (["checkpoint="], "checkpoint= is empty: give a run folder or checkpoint file"),
        (["lesion.plain="], "lesion.plain= is empty: give the plain net's run folder or"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(said)):
            run(compose_lesion_config(["checkpoint=x", *overrides]), tmp_path)
    assert not list(tmp_path.iterdir())
    # a plain net's deletions beside the ResNet's: a net with shortcuts would mislabel them
    residual = save_run(tmp_path / "residual", "model.depth=8")
    not_plain = compose_lesion_config(
        [f"checkpoint={residual}", f"lesion.plain={residual}", "trainer.device=cpu"]
    )
    with pytest.raises(
        ConfigError, match=r"is not a plain net \(resnet-lab basic ResNet-8 \(width 4\), "
    ) as refused:
        run(not_plain, tmp_path / "out")
    assert str(refused.value).endswith(  # both plain nets docs/lesion.md names
        "shortcut=none (or shortcut=scale shortcut.scale=0)"
    )
    # a plain net of another dataset (same class count) would be measured on this one's images
    plain = save_run(tmp_path / "plain", "model.depth=8", "shortcut=none", "data=cifar10")
    other_data = compose_lesion_config(
        [f"checkpoint={residual}", f"lesion.plain={plain}", "trainer.device=cpu"]
    )
    with pytest.raises(ConfigError, match=r"trained on cifar10, the net on synthetic: compare"):
        run(other_data, tmp_path / "out")
    # ... or of other images of it: said of the plain net (its statistics were checked against
    # the net's data first, advising the net's data.root)
    other_images = save_run(tmp_path / "plain_b", "model.depth=8", "shortcut=none")
    state = torch.load(next((other_images / "ckpt").glob("*.pt")), weights_only=False)
    other_mean = torch.full((3, 32, 32), 0.3)
    for std, differs in [  # what differs is said (the run's pixel mean has no std)
        (None, "mean differs from the one"),
        (torch.ones(3, 32, 32), "mean and std differ from those"),
    ]:
        state["input_statistics"] = {"mean": other_mean, "std": std}
        save_checkpoint(state, other_images / "ckpt", 2, 1)
        with pytest.raises(ConfigError) as refused:
            run(
                compose_lesion_config(
                    [f"checkpoint={residual}", f"lesion.plain={other_images}", "trainer.device=cpu"]
                ),
                tmp_path / "out",
            )
        assert str(refused.value) == (
            f"lesion.plain={other_images} was trained on other synthetic images than the net "
            f"(their {differs} its checkpoint saved): compare nets trained on the same data"
        )
    # a plain net of another depth: its units would stand beside the ResNet's by index
    shallow = save_run(tmp_path / "plain14", "model.depth=14", "shortcut=none")
    other_depth = compose_lesion_config(
        [f"checkpoint={residual}", f"lesion.plain={shallow}", "trainer.device=cpu"]
    )
    with pytest.raises(ConfigError, match=r"has 6 units \(downsampling: \[2, 4\]\), the net 3 "):
        run(other_depth, tmp_path / "out")


LesionCommand = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def lesion_command(in_process: InProcess, monkeypatch: pytest.MonkeyPatch) -> LesionCommand:
    """``resnet-lab-lesion OVERRIDES`` run in this process in folder ``cwd``, with ``env`` added to
    its environment for that call alone (conftest's in_process)."""

    def run(
        *overrides: str, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as patch:
            patch.chdir(cwd)
            for name, value in (env or {}).items():
                patch.setenv(name, value)
            return in_process("resnet-lab-lesion", list(overrides))

    return run


def test_a_relative_checkpoint_is_the_commands_with_hydras_chdir(
    tmp_path: Path, lesion_command: LesionCommand
) -> None:
    """hydra.job.chdir=true runs the study in its folder: checkpoint=run was read there ("no
    checkpoint"), as data.root is not. lesion.json records the file read, absolute."""
    save_run(tmp_path / "run", "model.depth=8", trained_steps=1)
    study = ["checkpoint=run", "data.limit=8", "trainer.eval_batch_size=8"]
    study += ["lesion.experiments=[single]", "hydra.job.chdir=true", "hydra.run.dir=out"]
    done = lesion_command(*study, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((tmp_path / "out" / "lesion.json").read_text())
    assert results["settings"]["config"]["checkpoint"] == str(tmp_path / "run")
    # the record names the file read wherever the command ran, for whoever reads it later
    (read,) = (tmp_path / "run" / "ckpt").glob("step_*.pt")
    assert results["checkpoint"]["path"] == str(read)
    study[-2:] = ["hydra.run.dir=out2"]  # without chdir too
    assert lesion_command(*study, cwd=tmp_path).returncode == 0
    results = json.loads((tmp_path / "out2" / "lesion.json").read_text())
    assert results["checkpoint"]["path"] == str(read)


def test_lesion_command_line(tmp_path: Path, lesion_command: LesionCommand) -> None:
    """The command's entry point (run as a module: test_cli): Hydra overrides, outputs in
    hydra.run.dir, its config saved there."""
    run_dir = save_run(tmp_path / "run", "model.depth=8", trained_steps=1)
    out = tmp_path / "out"
    study = [
        f"checkpoint={run_dir}",
        "data.limit=8",
        "trainer.eval_batch_size=8",
        "trainer.device=cpu",
        "lesion.max_k=1",
        "lesion.samples=1",
        "lesion.experiments=[single,random]",
        f"hydra.run.dir={out}",
    ]
    done = lesion_command(*study, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    results = json.loads((out / "lesion.json").read_text())
    assert set(results) >= {"single", "random"} and "swap" not in results
    assert results["settings"]["command"].startswith("resnet-lab-lesion checkpoint=")
    (record,) = out.glob(".hydra/*/config.yaml")  # the launch's, in a folder of its own
    names = ["lesion.md", "lesion_single.png", "lesion_random.png", record]
    assert all((out / name).stat().st_size > 0 for name in names)
    partial = (
        "step 1 of 64,000: the run had not finished training (a partial net)"  # docs/lesion.md
    )
    assert f"- **{partial}**" in (out / "lesion.md").read_text() and partial in done.stdout
    assert list(out.glob("events.out.tfevents.*"))
    saved = OmegaConf.load(record)
    assert saved.checkpoint == str(run_dir) and saved.lesion.experiments == ["single", "random"]
    # a second study into a study's or a training run's folder would mix their files: refused
    # before Hydra writes its record and log there (the study's record named the refused one's
    # checkpoint)
    for folder, what in ((out, "a lesion study (lesion.json)"), (run_dir, "a training run (ckpt)")):
        before = sorted(folder.rglob("*"))
        again = lesion_command(f"checkpoint={out}", f"hydra.run.dir={folder}", cwd=tmp_path)
        assert again.returncode == 2, again.stdout + again.stderr
        way_on = "; resume=true continues it if it was interrupted" if folder == out else ""
        assert again.stderr == (
            f"resnet-lab-lesion: error: {folder} already holds {what}: give the study a folder "
            f"of its own (hydra.run.dir=..., or none for a new dated one){way_on}\n"
        )
        assert sorted(folder.rglob("*")) == before
    assert OmegaConf.load(record) == saved
    assert json.loads((out / "lesion.json").read_text()) == results
    assert not list(run_dir.glob("lesion*")) and not list(run_dir.glob("events.out.*"))
    # resume=true passes the check before Hydra: a complete study has nothing to continue
    again = lesion_command(*study, "resume=true", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"the study in {out} is complete (lesion.json): nothing to continue" in again.stdout
    # so does a job Slurm requeued, which runs the command it had (without resume=true)
    requeued = lesion_command(*study, cwd=tmp_path, env={"SLURM_RESTART_COUNT": "1"})
    assert requeued.returncode == 0, requeued.stdout + requeued.stderr
    assert "Slurm requeued this job: its study continues, as with resume=true" in requeued.stdout
    assert f"the study in {out} is complete (lesion.json): nothing to continue" in requeued.stdout
    assert json.loads((out / "lesion.json").read_text()) == results
    # resume=true without the folder it continues: a new dated one holds no study
    for sweep, key in (([], "hydra.run.dir"), (["-m"], "hydra.sweep.dir")):
        refused = lesion_command(*sweep, *study[:-1], "resume=true", cwd=tmp_path)
        what = "sweep" if sweep else "study"
        assert refused.returncode == 2 and refused.stderr == (
            f"resnet-lab-lesion: error: resume=true continues the {what} in {key}, and none "
            f"was given: add {key}=<the {what}'s folder>, as in its log\n"
        )
    assert not (tmp_path / "lesions").exists()


def test_an_interrupted_study_keeps_what_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM in the middle of a long study ended it with a KeyboardInterrupt trace
    (or silently) and no lesion.json, though its finished parts had been measured."""
    import signal

    measured = lesion.random_deletions

    def cut_after_k1(*args: Any, into: list[dict[str, Any]], **kwargs: Any) -> None:
        measured(*args, **{**kwargs, "into": into})
        os.kill(os.getpid(), signal.SIGTERM)  # the handler raises before this returns
        raise AssertionError("the signal did not interrupt the study")

    monkeypatch.setattr(lesion, "random_deletions", cut_after_k1)
    run_dir = save_run(tmp_path / "run", "model.depth=8")
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            "data.limit=8",
            "trainer.device=cpu",
            "lesion.max_k=1",
            "lesion.samples=1",
            "lesion.experiments=[single,random,swap]",
        ]
    )
    out = tmp_path / "out"
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(lesion.LesionInterrupted, match="SIGTERM during random deletions") as e:
        run(cfg, out)
    assert e.value.exit_code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == handler  # the study's handler is gone again
    saved = json.loads((out / "lesion.json").read_text())
    assert saved["status"] == "interrupted"
    assert saved["interrupted"] == {"signal": "SIGTERM", "during": "random deletions"}
    assert len(saved["single"]) == 3 and len(saved["random"]["per_k"]) == 1
    assert "swap" not in saved
    assert "**Interrupted by SIGTERM during random deletions" in (out / "lesion.md").read_text()
    # the way on: the same command with resume=true, which measures only what is missing
    assert f"the same command with resume=true hydra.run.dir={out} continues it" in str(e.value)
    assert "the same command with resume=true, into this folder, continues it" in (
        (out / "lesion.md").read_text()
    )
    monkeypatch.undo()
    cfg.resume = True
    done = run(cfg, out)
    assert done["status"] == "completed" and "interrupted" not in done
    assert done["single"] == saved["single"] and done["random"] == saved["random"]
    assert lesion.skip_note(done["swap"])  # measured now: nothing to swap in a ResNet-8
    assert done["settings"]["resumed"] == [
        {
            "command": None,
            "after": "SIGTERM during random deletions",
            "environment": environment(torch.device("cpu")),  # what measured the rest
        }
    ]
    # what computed it, as a run's result.json records
    assert done["settings"]["environment"]["versions"]["torch"] == torch.__version__
    assert json.loads((out / "lesion.json").read_text())["status"] == "completed"
    assert "Interrupted" not in (out / "lesion.md").read_text()
    assert run(cfg, out) == done  # complete: nothing to continue


SMALL_STUDY = [  # the settings of a study that kills interrupt: seconds on CPU
    "data.limit=8",
    "trainer.device=cpu",
    "lesion.max_k=3",
    "lesion.samples=2",
    "lesion.experiments=[single,random,swap]",
]


class Killed(BaseException):
    """Stands for a kill (SIGKILL, out of memory): nothing catches it, nothing is written
    after it."""


@pytest.mark.slow
def test_a_killed_study_continues_where_it_was_with_the_same_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGKILL or an out-of-memory kill lost every measurement (kept in memory until the end):
    lesion.progress.json keeps them, and resume=true continues, drawing the finished k again
    so that the rest are those an unbroken study draws."""
    run_dir = save_run(tmp_path / "run", "model.depth=14")
    settings = [f"checkpoint={run_dir}", *SMALL_STUDY]
    whole = run(compose_lesion_config(settings), tmp_path / "whole")
    measured = lesion.random_deletions

    def killed_in_k2(model: Any, measure: Any, *args: Any, **kwargs: Any) -> Any:
        def dies_in_k2() -> float:
            error = measure()  # saves first (SAVE_EVERY_S = 0)
            if len(kwargs["into"]) == 1:  # k = 1 finished and saved, k = 2 begun
                raise Killed
            return error

        return measured(model, dies_in_k2, *args, **kwargs)

    monkeypatch.setattr(lesion, "SAVE_EVERY_S", 0.0)
    monkeypatch.setattr(lesion, "random_deletions", killed_in_k2)
    out = tmp_path / "out"
    cfg = compose_lesion_config(settings)
    with pytest.raises(Killed):
        run(cfg, out)
    monkeypatch.undo()
    assert not (out / "lesion.json").exists()
    kept = json.loads((out / "lesion.progress.json").read_text())
    assert [r["k"] for r in kept["random"]["per_k"]] == [1] and "swap" not in kept
    # other settings, another net: another study, refused naming what differs alone
    with pytest.raises(ConfigError) as refused:
        run(compose_lesion_config([*settings, "lesion.samples=3", "resume=true"]), out)
    assert "other settings (lesion.samples: 2 then, 3 now): continue it " in str(refused.value)
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    state = torch.load(next((other / "ckpt").glob("*.pt")), weights_only=False)
    state["model"]["fc.bias"] += 1
    save_checkpoint(state, other / "ckpt", 1, 1)
    with pytest.raises(ConfigError, match=r"other settings \(checkpoint weights_sha256: '\w+' "):
        run(compose_lesion_config([*settings, f"checkpoint={other}", "resume=true"]), out)
    # the same net, its run's folder moved (results copied to another machine): continued
    moved = tmp_path / "moved"
    run_dir.rename(moved)
    with pytest.raises(ConfigError) as refused:  # where was its net? (its run pruned it?)
        run(compose_lesion_config([*settings[1:], f"checkpoint={other}", "resume=true"]), out)
    studied = kept["checkpoint"]["path"]
    assert str(refused.value).endswith(
        f"continue it with the nets it studied (its net read from {studied}; a run keeps only "
        "its newest checkpoints), or give this study a folder of its own"
    )
    settings[0] = f"checkpoint={moved}"
    done = run(compose_lesion_config([*settings, "resume=true"]), out)
    for part in ("baseline", "single", "random", "swap"):
        assert done[part] == whole[part], part
    assert done["settings"]["resumed"][0]["after"] == "a stop unsaid"
    assert not (out / "lesion.progress.json").exists()
    # complete now: another net is refused all the same (it was called complete, exit 0)
    complete = r"other settings \(checkpoint weights_sha256: '\w+' "
    with pytest.raises(ConfigError, match=complete) as refused:
        run(compose_lesion_config([*settings[1:], f"checkpoint={other}", "resume=true"]), out)
    assert "it is complete as it is (lesion.json): give this study a folder of its own" in str(
        refused.value
    )
    assert run(compose_lesion_config([*settings, "resume=true"]), out) == done
    # resume=true where there is no study (a job script passes it always): a new one
    fresh = run(compose_lesion_config([*settings, "resume=true"]), tmp_path / "fresh")
    assert fresh["status"] == "completed" and "resumed" not in fresh["settings"]


def _record(cfg: Any, status: str, **parts: Any) -> dict[str, Any]:
    config = OmegaConf.to_container(cfg, resolve=True)
    return {"status": status, "settings": {"config": config}, **parts}


def test_a_continued_study_reads_its_newest_record_and_refuses_a_damaged_one(
    tmp_path: Path,
) -> None:
    """A study interrupted (lesion.json), continued, then killed (lesion.progress.json) went on
    from lesion.json, measuring again what the progress file held; a progress file of {}, []
    or null was a traceback, or a new study over the old one."""
    cfg = compose_lesion_config(["checkpoint=x", "resume=true"])
    out = tmp_path / "out"
    out.mkdir()
    interrupted = _record(cfg, "interrupted", single=[1])
    newer = _record(cfg, "running", single=[1, 2])
    (out / "lesion.json").write_text(json.dumps(interrupted))
    (out / "lesion.progress.json").write_text(json.dumps(newer))
    assert lesion._earlier_study(out, cfg, lesion._records(out)) == newer
    done = _record(cfg, "completed", single=[1, 2, 3])  # a kill as its progress file went
    (out / "lesion.json").write_text(json.dumps(done))
    assert lesion._earlier_study(out, cfg, lesion._records(out)) == done
    for damaged in ("{}", "[]", "null", '{"settings": 1}', "{"):
        (out / "lesion.progress.json").write_text(damaged)
        with pytest.raises(ConfigError, match=r"lesion.progress.json cannot be read as a study"):
            lesion._earlier_study(out, cfg, lesion._records(out))
    assert (
        lesion._earlier_study(tmp_path, cfg, lesion._records(tmp_path)) is None
    )  # none: a new study


def test_a_refused_continuation_says_the_way_on_its_difference_leaves(tmp_path: Path) -> None:
    """Only another net is told to continue with the nets studied; the same net on another
    device is told the usual way on; a complete study, refused for its settings as for its
    net, is complete as it is (told "continue it with its own", it had nothing to continue)."""
    cfg = compose_lesion_config(["checkpoint=x", "resume=true"])
    net = {"net": "n", "path": "/a/ckpt/step_1.pt", "weights_sha256": "1"}
    settings = {"test_images": 8, "test_images_sha256": "t", "device": "cpu"}
    earlier = _record(cfg, "running", checkpoint=net)
    earlier["settings"].update(settings)
    fresh = {"checkpoint": net, "settings": {**settings, "device": "cuda"}}
    with pytest.raises(ConfigError) as refused:
        lesion._check_same_study(earlier, fresh, None, tmp_path)
    assert "then, 'cuda' now): continue it with its own, or give" in str(refused.value)
    out = tmp_path / "out"
    out.mkdir()
    (out / "lesion.json").write_text(json.dumps(_record(cfg, "completed", single=[1])))
    other = compose_lesion_config(["checkpoint=x", "resume=true", "lesion.samples=3"])
    with pytest.raises(ConfigError) as refused:
        lesion._earlier_study(out, other, lesion._records(out))
    assert "it is complete as it is (lesion.json): give this study" in str(refused.value)


def test_a_continued_study_compares_the_plain_net_by_its_weights(tmp_path: Path) -> None:
    """The plain net's checkpoint retrained between the stop and resume=true: the rest of its
    deletions were measured on another net, in one table; where it lies is no matter."""
    from types import SimpleNamespace

    cfg = compose_lesion_config(["checkpoint=x", "lesion.plain=p", "resume=true"])
    net = {"net": "resnet-lab ResNet-8", "path": "/a/ckpt/step_1.pt", "weights_sha256": "1"}
    plain = {**net, "weights_sha256": "2"}
    settings = {"test_images": 8, "test_images_sha256": "t", "device": "cpu", "command": None}
    settings["environment"] = {"cpu_threads": 1}
    earlier = _record(cfg, "running", checkpoint=net, plain={"checkpoint": plain, "single": []})
    earlier["settings"].update(settings)
    fresh = {"checkpoint": {**net, "path": "/b/ckpt/step_1.pt"}, "settings": settings}
    moved = SimpleNamespace(info={**plain, "path": "/b/plain.pt", "newer": 3})
    assert lesion._continued(earlier, fresh, moved, tmp_path)["status"] == "completed"
    retrained = SimpleNamespace(info={**plain, "weights_sha256": "3"})
    with pytest.raises(ConfigError, match=r"\(lesion.plain weights_sha256: '2' then, '3' now\)"):
        lesion._continued(earlier, fresh, retrained, tmp_path)


@pytest.mark.slow
def test_a_study_killed_twice_measures_only_what_is_missing_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A continued study that measured its finished parts again (hours on a ResNet-110) gave the
    same values, so only the work it did tells: killed in the net's single deletions (before the
    plain net's part), then in the swaps of k = 3, it measures each lesion once; the plain net's
    folder moved meanwhile; the wall time counts every process's."""
    run_dir = save_run(tmp_path / "run", "model.depth=20")
    plain = save_run(tmp_path / "plain", "model.depth=20", "shortcut=scale", "shortcut.scale=0")
    settings = [f"checkpoint={run_dir}", f"lesion.plain={plain}", *SMALL_STUDY]
    whole = run(compose_lesion_config(settings), tmp_path / "whole")
    assert [r["k"] for r in whole["swap"]["per_k"]] == [1, 2, 3]  # 3 swappable pairs

    def killed_after(part: str, finished: int, net: Path) -> None:
        """``part`` (a function of lesion.py filling ``into``) dies once ``finished`` are done."""
        measured = getattr(lesion, part)

        def dies(model: Any, measure: Any, *args: Any, **kwargs: Any) -> Any:
            def or_dies() -> float:
                error = measure()  # saves first (SAVE_EVERY_S = 0)
                if len(kwargs["into"]) == finished and Path(model.info["path"]).is_relative_to(net):
                    raise Killed
                return error

            return measured(model, or_dies, *args, **kwargs)

        monkeypatch.setattr(lesion, part, dies)

    work: list[tuple[str, int | tuple[int, ...]]] = []  # what a process measured

    def recorded(name: str) -> None:
        real = getattr(lesion, name)

        def record(model: Any, arg: Any) -> Any:
            net = "plain" if Path(model.info["path"]).parts[-3].startswith("plain") else "net"
            size = 0 if name == "evaluate" else len(arg)
            work.append((f"{name} {net}", tuple(arg) if name == "reordered" else size))
            return real(model, arg)

        monkeypatch.setattr(lesion, name, record)

    monkeypatch.setattr(lesion, "SAVE_EVERY_S", 0.0)
    killed_after("single_deletions", 4, run_dir)
    out = tmp_path / "out"
    with pytest.raises(Killed):
        run(compose_lesion_config(settings), out)
    kept = json.loads((out / "lesion.progress.json").read_text())
    assert len(kept["single"]) == 4 and "plain" not in kept
    # the plain net's folder moved (results copied to another machine): the same net
    moved = tmp_path / "plain_moved"
    plain.rename(moved)
    settings[1] = f"lesion.plain={moved}"
    monkeypatch.undo()
    monkeypatch.setattr(lesion, "SAVE_EVERY_S", 0.0)
    killed_after("random_swaps", 2, run_dir)
    recorded("lesioned")
    with pytest.raises(Killed):
        run(compose_lesion_config([*settings, "resume=true"]), out)
    deletions = Counter(what for what, _ in work if what.startswith("lesioned"))
    # the net's units 4..8 alone, the plain net's nine, random k = 2, 3 (k = 1: the singles')
    assert deletions == {"lesioned net": 5 + 2 + 2, "lesioned plain": 9}
    assert [n for what, n in work if what == "lesioned net"] == [1] * 5 + [2, 2, 3, 3]
    # the plain net retrained: refused, naming its weights
    retrained = tmp_path / "retrained"
    shutil.copytree(moved, retrained)
    state = torch.load(next((retrained / "ckpt").glob("*.pt")), weights_only=False)
    statistics = next(key for key in state["model"] if key.endswith("running_mean"))
    state["model"][statistics] += 1  # not its parameters: what BN learnt in training
    save_checkpoint(state, retrained / "ckpt", 1, 1)
    again = [*settings, "resume=true"]
    with pytest.raises(
        ConfigError, match=r"\(lesion.plain weights_sha256: '\w+' then, '\w+' now\)"
    ):
        run(compose_lesion_config([*again[:1], f"lesion.plain={retrained}", *again[2:]]), out)
    # draws other than those measured (another version's sampling) would mix two studies
    for sampler, what in (("sample_deletions", "random deletions"), ("sample_swaps", "swaps")):
        drawn = getattr(lesion, sampler)
        monkeypatch.setattr(
            lesion, sampler, lambda *a, drawn=drawn: drawn(*a[:3], random.Random(9), *a[4:])
        )
        with pytest.raises(ConfigError, match=f"the {what} of k = 1 drawn now are not those"):
            run(compose_lesion_config(again), out)
        monkeypatch.setattr(lesion, sampler, drawn)
    progress = json.loads((out / "lesion.progress.json").read_text())
    progress["settings"]["wall_time_s"] = 1000.0
    (out / "lesion.progress.json").write_text(json.dumps(progress))
    monkeypatch.undo()
    work.clear()
    for name in ("lesioned", "reordered", "evaluate"):
        recorded(name)
    done = run(compose_lesion_config(again), out)
    swapped = Counter(what for what, _ in work)  # the swaps of k = 3 alone, each measured once
    assert swapped == {"reordered net": swapped["evaluate net"], "evaluate net": 2}
    work = [(what, order) for what, order in work if what == "reordered net"]
    assert {lesion.kendall_tau(order) for _, order in work} <= {
        tau for tau in whole["swap"]["per_k"][2]["taus"]
    }
    for part in ("baseline", "single", "random", "swap"):
        assert done[part] == whole[part], part
    assert done["plain"]["single"] == whole["plain"]["single"]
    assert done["plain"]["baseline"] == whole["plain"]["baseline"]
    assert [r["after"] for r in done["settings"]["resumed"]] == ["a stop unsaid"] * 2
    assert done["settings"]["wall_time_s"] >= 1000.0


@pytest.mark.parametrize(
    ("key", "now"), [("test_images_sha256", "other images"), ("device", "cuda"), ("test_images", 9)]
)
def test_a_continued_study_refuses_other_test_images_or_another_device(
    tmp_path: Path, key: str, now: Any
) -> None:
    """data.root may move: the images found there must still be those the study measured on,
    and on the same device, or one table would hold two studies."""
    cfg = compose_lesion_config(["checkpoint=x", "resume=true"])
    net = {"net": "resnet-lab ResNet-8", "path": "/a/ckpt/step_1.pt", "weights_sha256": "1"}
    settings = {"test_images": 8, "test_images_sha256": "t", "device": "cpu", "command": None}
    settings["environment"] = {"cpu_threads": 1}
    earlier = _record(cfg, "running", checkpoint=net)
    earlier["settings"].update(settings)
    fresh = {"checkpoint": net, "settings": {**settings, key: now}}
    with pytest.raises(
        ConfigError, match=re.escape(f"({key}: {settings[key]!r} then, {now!r} now)")
    ):
        lesion._continued(earlier, fresh, None, tmp_path)
    assert lesion._continued(earlier, {**fresh, "settings": settings}, None, tmp_path)


@pytest.mark.parametrize("prints", [["--cfg", "job"], ["--help"]])
def test_a_command_that_only_prints_is_not_refused_for_its_folder(
    tmp_path: Path, prints: list[str]
) -> None:
    """`--cfg job` or `--help` writes nothing: a folder the study may not use (a run's ckpt/
    or one inside it) is no concern of theirs, nor a sweep's."""
    (tmp_path / "run" / "ckpt").mkdir(parents=True)
    for folder in (tmp_path / "run" / "ckpt", tmp_path / "run" / "ckpt" / "new"):
        for args in (
            ["checkpoint=x", f"hydra.run.dir={folder}"],
            ["-m", "checkpoint=x", "lesion.samples=1,2", f"hydra.sweep.dir={folder}"],
        ):
            assert lesion_cli._a_folder_a_study_may_not_use(args)  # refused where it runs
            assert lesion_cli._a_folder_a_study_may_not_use([*prints, *args]) is None


def test_the_weights_a_continued_study_compares_include_the_bn_statistics() -> None:
    net = tiny(8)
    digest = lesion.weights_digest(net)
    next(m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)).running_var += 1
    assert lesion.weights_digest(net) != digest


@pytest.mark.parametrize(
    ("args", "refused"),
    [
        (["checkpoint=x", "resume=true"], True),
        (["checkpoint=x", "resume=true", "--cfg", "job"], False),  # only shows the config
        (["checkpoint=x", "resume=true", "+hydra.run.dir=/s"], False),
        (["-m", "checkpoint=x", "resume=true", "hydra.run.dir=/s"], True),  # a sweep's folder
        (["-m", "checkpoint=x", "resume=true", "hydra.sweep.dir=/s"], False),
    ],
)
def test_resume_is_refused_before_hydra_without_the_folder_it_continues(
    args: list[str], refused: bool
) -> None:
    assert bool(lesion_cli._resume_without_its_folder(args)) == refused


def test_a_gated_net_of_a_limited_run_is_studied_with_its_caveats(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The study of a run trained with data.limit measures more test images than the run did
    (its intact error differs from result.json's: said, as eval says it); a gated net's path
    gradients are only indicative (said in docs/lesion.md, now in the study too); a data.root
    given for synthetic data is said to be unused."""
    run_dir = save_run(tmp_path / "run", "model.depth=8", "shortcut=gate", "data.limit=100")
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            "data.limit=8",
            "data.root=/no/dir",
            "trainer.device=cpu",
            "lesion.experiments=[single,paths]",
            "lesion.path_samples=1",
            "lesion.path_batch=2",
        ]
    )
    with caplog.at_level(logging.WARNING, logger="resnet_lab.lesion"):
        run(cfg, tmp_path / "out")
    assert "data.root=/no/dir is not used: the run trained on synthetic data" in caplog.text
    text = (tmp_path / "out" / "lesion.md").read_text()
    assert (
        "- note: the run used data.limit=100: it trained on the first 100 training images and "
        "measured its error on (at most) the first 100 test images (data.limit=100 measures the "
        "same)"
    ) in text
    assert "**Note: the shortcuts of this net are not identities: their factor or gate" in text
    assert json.loads((tmp_path / "out" / "lesion.json").read_text())["paths"]["note"]


@pytest.mark.parametrize("stop", ["signal_in_the_study", "ctrl_c_before_it", "sigterm_before_it"])
def test_a_study_stopped_before_any_result_leaves_no_folder(
    stop: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Ctrl-C while the checkpoint or data loaded left an outputs/ folder holding a log only;
    a SIGTERM then ended the tool without a word (exit 143), leaving the same folder."""
    import signal

    def stopped(*args: Any) -> None:
        if stop == "ctrl_c_before_it":
            raise KeyboardInterrupt
        if stop == "sigterm_before_it":
            signal.raise_signal(signal.SIGTERM)
        raise lesion.LesionInterrupted(signal.SIGTERM, "before any result: nothing to save")

    def unhandled(signum: int, frame: Any) -> None:  # in place of the default: ending pytest
        raise AssertionError("SIGTERM reached the default handler: the tool would end silently")

    monkeypatch.setattr(lesion, "run", stopped)
    monkeypatch.chdir(tmp_path)
    run_dir = save_run(tmp_path / "run", "model.depth=8")
    monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", f"checkpoint={run_dir}"])
    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        with pytest.raises(SystemExit) as ended:
            lesion_entry_point()
    finally:
        signal.signal(signal.SIGTERM, previous)
    expected = signal.SIGINT if stop == "ctrl_c_before_it" else signal.SIGTERM
    assert ended.value.code == 128 + expected
    assert f"{expected.name}" in (err := capsys.readouterr().err) and "nothing" in err
    assert not (tmp_path / "lesions").exists()  # no lesions/DATE/TIME left, nor lesions/


def test_a_named_folder_of_a_study_stopped_before_it_began_keeps_the_reason_in_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It stays (named with hydra.run.dir), and its log was empty."""
    import signal

    monkeypatch.setattr(lesion, "run", lambda *args: signal.raise_signal(signal.SIGTERM))
    run_dir = save_run(tmp_path / "run", "model.depth=8")
    out = tmp_path / "named"
    argv = ["resnet-lab-lesion", f"checkpoint={run_dir}", f"hydra.run.dir={out}"]
    monkeypatch.setattr(sys, "argv", argv)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as ended:
            lesion_entry_point()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert ended.value.code == 128 + signal.SIGTERM
    assert (
        "interrupted by SIGTERM before the study began"
        in (out / "resnet-lab-lesion.log").read_text()
    )


def test_a_signal_just_after_the_study_says_it_is_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Between the study's return and the end of the tool: not "before the study began"."""
    import signal

    def finished_then_stopped(cfg: Any, out: Path, command: str) -> None:
        (out / "lesion.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(lesion, "run", finished_then_stopped)
    run_dir = save_run(tmp_path / "run", "model.depth=8")
    out = tmp_path / "named"
    monkeypatch.setattr(
        sys, "argv", ["resnet-lab-lesion", f"checkpoint={run_dir}", f"hydra.run.dir={out}"]
    )
    with pytest.raises(SystemExit) as ended:
        lesion_entry_point()
    assert ended.value.code == 128 + signal.SIGINT
    assert f"resnet-lab-lesion: SIGINT: the study is saved in {out}" in capsys.readouterr().err
    assert (out / "lesion.json").exists()


def test_a_sigterm_while_hydra_starts_is_said(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before main() takes the signals (Hydra composing the config), SIGTERM ended the tool
    with 143 and no word; the handler is the one it had before, afterwards."""
    import os
    import signal
    import time

    def stopped_while_starting() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises first
        pytest.fail("SIGTERM did not interrupt")

    monkeypatch.setattr(lesion, "main", stopped_while_starting)
    monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", "checkpoint=x"])
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as ended:
        lesion_entry_point()
    assert ended.value.code == 128 + signal.SIGTERM
    said = "resnet-lab-lesion: interrupted by SIGTERM outside the study, nothing lost"
    assert said in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is before


def test_lesion_command_without_checkpoint(tmp_path: Path, lesion_command: LesionCommand) -> None:
    """Refused: one message, and no folder left behind, as resnet-lab leaves none: not the
    study's, nor the date folder, nor lesions/ when the launch made it; the user's own stays."""
    done = lesion_command(cwd=tmp_path)
    assert done.returncode == 2
    assert "resnet-lab-lesion: error: checkpoint=PATH is required" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert list(tmp_path.rglob("*")) == []
    (tmp_path / "lesions").mkdir()
    assert lesion_command(cwd=tmp_path).returncode == 2
    assert list(tmp_path.rglob("*")) == [tmp_path / "lesions"]


def test_a_refused_lesion_sweep_job_is_its_message_alone(
    tmp_path: Path, lesion_command: LesionCommand
) -> None:
    """Missing data in each job of a sweep: the message without a trace (Hydra printed the
    UserError's) and without data.download, which resnet-lab-lesion does not have."""
    run_dir = save_run(tmp_path / "run", "model.depth=8", "data=cifar10")
    done = lesion_command(
        "-m",
        f"checkpoint={run_dir}",
        f"data.root={tmp_path / 'nowhere'}",
        "data.limit=8,16",
        f"hydra.sweep.dir={tmp_path / 'out'}",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and "data.download" not in done.stdout + done.stderr
    assert "resnet-lab-lesion: error: cifar10 not found" in done.stderr


def test_the_documented_lesion_defaults_are_the_tools() -> None:
    """docs/lesion.md's table of settings gives each default the tool has (a study's size and
    cost: samples, batch sizes, BN re-estimation)."""
    cfg = compose_lesion_config(["checkpoint=x.pt"])
    table = (REPO / "docs" / "lesion.md").read_text()
    rows = re.findall(r"^\| `([\w.]+)=[^`]*` \| ([^|]+) \|", table, re.MULTILINE)
    words = {"none": None, "all": None, "false": False, "true": True, "auto": "auto"}
    checked = []
    for key, default in rows:
        text = default.strip().strip("`")
        if text in words:
            value: object = words[text]
        elif text.isdigit():
            value = int(text)
        elif text.startswith("["):
            value = text[1:-1].split(",")
        else:  # said in words: "required", "the run's data.root, ..."
            continue
        assert OmegaConf.select(cfg, key) == value, key
        checked.append(key)
    assert len(checked) >= 12 and "lesion.samples" in checked
    assert cfg.lesion.swap_max_k is None  # documented as lesion.max_k: the study uses max_k


def test_a_bare_checkpoint_path_is_told_the_key_value_form(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """resnet-lab-eval and -gates take the path bare; Hydra would answer with a parse error."""
    peer = tmp_path / "resnet20.th"
    peer.write_bytes(b"")
    monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", str(peer), "data.limit=8"])
    with pytest.raises(SystemExit) as stopped:
        lesion_entry_point()
    assert stopped.value.code == 2
    assert f"give it as checkpoint={peer}" in capsys.readouterr().err
    # a mistyped one is told the form too (Hydra's parse error, exit 1, before), after any
    # flag that takes no value
    for typo in (str(tmp_path / "no-such-run"), "resnet20.pt", "resnet56.th", "model.pth"):
        monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", "-m", typo])
        with pytest.raises(SystemExit) as stopped:
            lesion_entry_point()
        assert stopped.value.code == 2
        said = f"{typo}: no such file, and no key=value setting (a checkpoint is given as"
        assert said in capsys.readouterr().err
    # after a flag that takes no value, or one joined to its value, the word is checked too
    for flag in ("-r", "--multi", "--config-dir=/tmp", "-cd=/tmp", "-cd/tmp"):
        monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", flag, "resnet20.pt"])
        with pytest.raises(SystemExit) as stopped:
            lesion_entry_point()
        assert stopped.value.code == 2 and "resnet20.pt: no such file" in capsys.readouterr().err
    assert lesion_cli._bare_word_problem(["--cfg", "job", "-cd", "x.pt", "--info", "a/b"]) is None
    # a '~key' deletion is no path; a setting too long for a file name is a setting: Hydra
    # gets it (here: the missing checkpoint, exit 2), not the file system's error
    assert lesion_cli._bare_word_problem(["~hydra/job_logging", "~data/name"]) is None
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", "data.root=" + "x" * 300])
    with pytest.raises(SystemExit) as stopped:
        lesion_entry_point()
    assert "checkpoint=PATH is required" in capsys.readouterr().err
    assert list((tmp_path / "elsewhere").rglob("*")) == []  # a refused launch leaves nothing
    # a bare word too long for a file name: asking the file system whether it is a checkpoint
    # raises (ENAMETOOLONG), which must not escape as a traceback
    monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", "x" * 300])
    with pytest.raises(SystemExit) as stopped:
        lesion_entry_point()
    assert stopped.value.code == 2 and "not a key=value setting" in capsys.readouterr().err
    # a flag's value is no checkpoint: Hydra gets the arguments (and prints its help here)
    monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", "--config-dir", str(tmp_path), "-h"])
    with pytest.raises(SystemExit) as stopped:
        lesion_entry_point()
    shown = capsys.readouterr().out
    assert stopped.value.code == 0 and "resnet-lab-lesion: the lesion study" in shown
    assert "resnet-lab-lesion --version" in shown  # it works, and the help had not said so


@pytest.mark.parametrize(
    ("overrides", "skipped"),
    [
        (["model.depth=8"], {"swap"}),  # the user's case: 1 unit per stage, none may move
        # bottleneck units widen every stage's first unit: all 3 are downsampling units
        (["model.depth=11", "model.block=bottleneck"], {"swap", "random"}),
    ],
)
def test_lesion_run_with_nothing_to_swap_or_delete(
    tmp_path: Path, overrides: list[str], skipped: set[str]
) -> None:
    """Every output skips an empty part with a one-line note instead of crashing (it did, in
    the swap plot, after lesion.json and lesion.md were written)."""
    run_dir = save_run(tmp_path / "run", *overrides)
    out = tmp_path / "out"
    cfg = compose_lesion_config(
        [
            f"checkpoint={run_dir}",
            "data.limit=8",
            "trainer.eval_batch_size=8",
            "trainer.device=cpu",
            "lesion.samples=1",
            "lesion.path_samples=1",
            "lesion.path_batch=2",
        ]
    )
    results = run(cfg, out)
    assert {p for p in ("random", "swap") if results[p].get("skipped")} == skipped
    assert results["swap"]["groups"] == [] and results["swap"]["per_k"] == []
    assert json.loads((out / "lesion.json").read_text())["swap"]["skipped"].endswith("swap")
    text = (out / "lesion.md").read_text()
    assert text.count("Skipped: ") == len(skipped)
    assert "| k | samples | median Kendall tau" not in text  # no empty table
    plotted = {"single", "paths"} | ({"random", "swap"} - skipped)
    assert {p.name for p in out.glob("*.png")} == {
        "paths.png" if name == "paths" else f"lesion_{name}.png" for name in plotted
    }
    assert list(out.glob("events.out.tfevents.*"))


@dataclass
class Free:
    """A schema with a free-form dict field: its keys are the user's, not the schema's."""

    options: dict[str, Any] = field(default_factory=dict)  # free-form: any key


def test_keys_not_in_schema() -> None:
    """The generic check behind rejecting ``+key=value``: descends into dataclass fields only."""
    cfg = compose_lesion_config(["+data.split=val", "+foo=1", "+lesion.bar.baz=2"])
    assert keys_not_in_schema(cfg, LesionRunCfg) == ["data.split", "lesion.bar", "foo"]
    assert keys_not_in_schema(compose_lesion_config(), LesionRunCfg) == []  # checkpoint: ???

    free = OmegaConf.merge(OmegaConf.structured(Free), {"options": {"anything": 1}})
    assert keys_not_in_schema(free, Free) == []


def test_an_unknown_key_is_offered_the_key_it_likely_misspells() -> None:
    from resnet_lab.config import Config, with_closest_key

    assert with_closest_key("trainer.lrr", Config) == "trainer.lrr (did you mean trainer.lr?)"
    assert with_closest_key("sead", Config) == "sead (did you mean seed?)"
    assert with_closest_key("model.dpeth", Config) == "model.dpeth (did you mean model.depth?)"
    assert with_closest_key("data.split", LesionRunCfg) == "data.split"  # not "limit"
    assert with_closest_key("nothing.like", Config) == "nothing.like"  # no such section
    assert with_closest_key("trainr.lr", Config) == "trainr.lr (did you mean trainer.lr?)"
    assert with_closest_key("lesoin.samples", LesionRunCfg) == (
        "lesoin.samples (did you mean lesion.samples?)"
    )


def test_lesion_rejects_keys_added_with_plus(tmp_path: Path, lesion_command: LesionCommand) -> None:
    """docs/lesion.md: data.split=val is an error; with ``+`` Hydra would add it silently."""
    cfg = compose_lesion_config(["checkpoint=x", "+data.split=val"])
    with pytest.raises(
        ConfigError,
        match=r"unknown setting data\.split: .* \(data\.\*: root, limit\); the dataset, its split "
        r"and classes come from the checkpoint$",
    ):
        run(cfg, tmp_path / "out")
    with pytest.raises(
        ConfigError, match=r"settings lesion\.sample \(did you mean lesion\.samples\?\), foo:"
    ):
        run(compose_lesion_config(["checkpoint=x", "+lesion.sample=3", "+foo=1"]), tmp_path)
    done = lesion_command("+data.split=val", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path)
    assert done.returncode == 2
    assert "resnet-lab-lesion: error: unknown setting data.split" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    # without the '+': Hydra's answer advised it; now named before Hydra, nothing written
    for arg, said in (
        ("lesion.samplez=3", "unknown setting lesion.samplez (did you mean lesion.samples?)"),
        (
            "model.depth=20",
            "unknown setting model.depth: not an option of resnet-lab-lesion "
            "(top-level keys: checkpoint, data, trainer, lesion, seed, resume); the net comes from",
        ),
        # a group of resnet-lab's: Hydra advised +profile=smoke, a key the study would ignore;
        # with the '+', or a group the study has a section of, Hydra's lines and exit 1
        (
            "profile=smoke",
            "profile=smoke: resnet-lab-lesion chooses no profile: the net, its data and its "
            "training come from the checkpoint\n",
        ),
        ("+profile=smoke", "+profile=smoke: resnet-lab-lesion chooses no profile: the net"),
        (
            "data=cifar10",
            "data=cifar10: resnet-lab-lesion chooses no data: the net, its data and its training "
            "come from the checkpoint; its data settings are data.root, data.limit\n",
        ),
        ("+data=cifar10", "+data=cifar10: resnet-lab-lesion chooses no data: the net, its data"),
        ("shortcut=gate", "shortcut=gate: resnet-lab-lesion chooses no shortcut: the net, its"),
    ):
        done = lesion_command(arg, f"hydra.run.dir={tmp_path / 'new'}", cwd=tmp_path)
        assert done.returncode == 2 and f"resnet-lab-lesion: error: {said}" in done.stderr
        assert not (tmp_path / "new").exists()


def test_a_deleted_setting_is_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra: "Could not delete from config" (~checkpoint) or a trace of the schema's merge
    (~lesion), exit 1 (a fuzz); the study reads every setting it has."""
    monkeypatch.chdir(tmp_path)
    for arg, said in (
        ("~checkpoint", "~checkpoint: resnet-lab-lesion reads checkpoint, it cannot be deleted: "),
        ("~lesion", "~lesion: resnet-lab-lesion reads lesion, it cannot be deleted: give it a"),
        ("~data", "~data: resnet-lab-lesion reads data, it cannot be deleted"),  # no group here
        (
            "~lesion.max_kk",
            "~lesion.max_kk: resnet-lab-lesion has no setting lesion.max_kk (did you mean "
            "lesion.max_k?) to delete",
        ),
    ):
        monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", "checkpoint=x.pt", arg])
        with pytest.raises(SystemExit) as refused:
            lesion_entry_point()
        assert refused.value.code == 2
        assert capsys.readouterr().err.startswith(f"resnet-lab-lesion: error: {said}")
    assert not list(tmp_path.iterdir())


def test_a_sweeps_folder_a_study_may_not_use_is_refused_before_hydra_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """hydra.sweep.dir in a run's ckpt/, or a study's or a run's folder: Hydra wrote its
    multirun.yaml there, then refused every job (a fuzz); as hydra.run.dir is refused."""
    run_dir = save_run(tmp_path / "run", "model.depth=8")
    study = tmp_path / "study"
    study.mkdir()
    (study / "lesion.json").write_text("{}")
    own = "give the sweep a folder of its own (hydra.sweep.dir=..., or none for a new dated one)"
    for folder, said in (
        (
            run_dir / "ckpt" / "sweep",
            f"{run_dir / 'ckpt' / 'sweep'} lies inside the checkpoint folder of the run in "
            f"{run_dir}: give the sweep a folder of its own, e.g. "
            f"hydra.sweep.dir={run_dir / 'lesion'}",
        ),
        (study, f"{study} already holds a lesion study (lesion.json): {own}"),
        (run_dir, f"{run_dir} already holds a training run (ckpt): {own}"),
    ):
        before = sorted(tmp_path.rglob("*"))
        argv = ["-m", f"checkpoint={run_dir}", "lesion.samples=1,2", f"hydra.sweep.dir={folder}"]
        monkeypatch.setattr(sys, "argv", ["resnet-lab-lesion", *argv])
        with pytest.raises(SystemExit) as refused:
            lesion_entry_point()
        assert refused.value.code == 2
        assert capsys.readouterr().err == f"resnet-lab-lesion: error: {said}\n"
        assert sorted(tmp_path.rglob("*")) == before


def test_a_studys_folder_given_again_is_refused_before_hydra_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As hydra.run.dir without resume=true, outside a job Slurm requeued (which continues its
    study): refused before Hydra writes its .hydra/ there (the study refused it after)."""
    from resnet_lab.run_folder import REQUEUED_ENV

    monkeypatch.delenv(REQUEUED_ENV, raising=False)
    study = tmp_path / "study"
    study.mkdir()
    (study / "lesion.json").write_text("{}")
    before = sorted(tmp_path.rglob("*"))
    argv = ["resnet-lab-lesion", f"checkpoint={tmp_path / 'run'}", f"hydra.run.dir={study}"]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as refused:
        lesion_entry_point()
    assert refused.value.code == 2
    assert capsys.readouterr().err.startswith(
        f"resnet-lab-lesion: error: {study} already holds a lesion study (lesion.json): give "
        "the study a folder of its own"
    )
    assert sorted(tmp_path.rglob("*")) == before


def test_a_net_that_is_no_resnet_is_refused(tmp_path: Path) -> None:
    """A DenseNet of the neighbour rows has no residual units to delete."""
    run_dir = save_run(tmp_path / "dense", "model=densenet", "model.depth=10", trained_steps=1)
    cfg = compose_lesion_config([f"checkpoint={run_dir}", "trainer.device=cpu"])
    with pytest.raises(ConfigError, match="lesion studies need a ResNet"):
        run(cfg, tmp_path / "out")


@pytest.mark.parametrize("plain", [["shortcut=none"], ["shortcut=scale", "shortcut.scale=0"]])
def test_a_plain_net_is_refused_as_the_net_to_study(tmp_path: Path, plain: list[str]) -> None:
    """Its path study would credit every gradient to the longest path and blame a "factor or
    gate"; its deletions were labelled a residual net's. It is the comparison, lesion.plain."""
    run_dir = save_run(tmp_path / "plain", "model.depth=8", *plain, trained_steps=1)
    cfg = compose_lesion_config([f"checkpoint={run_dir}", "trainer.device=cpu"])
    with pytest.raises(ConfigError, match=r"is a plain net .*: .* give it as lesion.plain= "):
        run(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_path_study_may_take_every_training_image(tmp_path: Path) -> None:
    run_dir = save_run(
        tmp_path / "run", "model.depth=8", "data.synthetic_train_size=64", trained_steps=1
    )
    model, data = prepare(str(run_dir), None, torch.device("cpu"))
    cfg = compose_lesion_config(
        [f"checkpoint={run_dir}", "lesion.experiments=[paths]", "lesion.path_batch=16"]
    )
    _check_study(OmegaConf.merge(cfg, {"lesion": {"path_batches": 4}}), model, data)  # 64 of 64
    with pytest.raises(ConfigError, match="80 training images, more than the 64 there are"):
        _check_study(OmegaConf.merge(cfg, {"lesion": {"path_batches": 5}}), model, data)


def test_lesion_shell_completion_is_not_taken_for_settings(
    tmp_path: Path, lesion_command: LesionCommand
) -> None:
    """-sc install=bash: its words are no settings (refused as unknown ones for a while)."""
    done = lesion_command("-sc", "install=bash", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "complete -o nospace -o default -F hydra_bash_completion" in done.stdout


def test_lesion_command_with_a_file_that_is_not_a_checkpoint(
    tmp_path: Path, lesion_command: LesionCommand
) -> None:
    """A run's result.json given as the checkpoint: one clear message, not torch's text."""
    run_dir = save_run(tmp_path / "run", "model.depth=8")
    (run_dir / "result.json").write_text('{"status": "finished"}\n')
    done = lesion_command(
        f"checkpoint={run_dir / 'result.json'}", f"hydra.run.dir={tmp_path / 'out'}", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "not a resnet-lab checkpoint" in done.stderr
    assert f"did you mean its run folder {run_dir}?" in done.stderr
    assert "Please file an issue" not in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_the_api_composes_the_lesion_config_as_documented() -> None:
    """compose_config(config_name="lesion") failed in a fresh interpreter: the lesion schema
    was registered only once resnet_lab.lesion_config had been imported."""
    code = (
        "from resnet_lab.api import compose_config; "
        "print(compose_config(['checkpoint=x'], config_name='lesion').lesion.max_k)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "20", out.stderr[-2000:]


def test_the_single_deletion_plot_shows_the_plain_nets_intact_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """lesion.md gave it; the figure drew the plain net's deletions without their baseline."""
    from matplotlib.figure import Figure

    from resnet_lab.lesion import plot_results

    def deletions(errors: list[float]) -> list[dict]:
        return [{"unit": i, "error": e, "downsampling": i == 1} for i, e in enumerate(errors)]

    results = {
        "baseline": {"error": 10.0},
        "single": deletions([11.0, 40.0, 12.0]),
        "plain": {"baseline": {"error": 20.0}, "single": deletions([90.0, 90.0, 90.0])},
    }
    drawn: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    plot_results(results, tmp_path)
    (axes,) = drawn[0].axes
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    assert "plain intact (20.00%)" in labels and "intact (10.00%)" in labels
    assert all(float(tick).is_integer() for tick in axes.get_xticks())


def test_a_study_record_no_lab_writes_is_refused_in_one_line(tmp_path: Path) -> None:
    """A lesion.json nested past Python's limit (a folder one was sent) gave a RecursionError
    trace on resume=true; it cannot be read as a study's record, as other damage."""
    from omegaconf import OmegaConf

    from resnet_lab import lesion

    deep = "[" * 100_000 + "]" * 100_000
    assert lesion._ended_study(deep) is None
    records = {lesion.STUDY_PROGRESS: None, "lesion.json": deep}
    with pytest.raises(ConfigError, match=r"lesion\.json cannot be read as a study's record "):
        lesion._earlier_study(tmp_path, OmegaConf.create({}), records)


def test_the_figures_statistics_are_medians_of_skewed_errors() -> None:
    """Veit et al.'s figures 5a and 5b show medians: of each k's random deletions, of each tau
    bin's swap errors, of each k's Kendall taus (a mean passed the tests' symmetric data)."""
    assert lesion.summarize([1.0, 2.0, 9.0])["median"] == 2.0
    assert lesion.binned_medians([0.5] * 3, [1.0, 2.0, 9.0]) == ([0.5], [2.0])
    # all 5 single swaps of [0, 1, 2], [4, 5], [7, 8]: four neighbours, one 0<->2 (3 inversions)
    (swaps,) = lesion.random_swaps(tiny(20), lambda: 0.0, 1, 5, random.Random(0))
    assert sorted(swaps["taus"]) == pytest.approx([1 - 12 / 72] + [1 - 4 / 72] * 4)
    assert swaps["tau_median"] == pytest.approx(1 - 4 / 72)


def test_the_intact_error_is_bn_reestimated_as_the_lesions_are() -> None:
    """With lesion.reestimate_bn the lesions are compared with the intact net measured the same
    way (its measure, after re-estimation), not with the intact net as trained."""
    net, labels = tiny(20), torch.zeros(4, dtype=torch.long)
    results: dict[str, Any] = {"settings": {"test_images": 4}}
    cfg = OmegaConf.create({"lesion": {"experiments": []}, "seed": 0})
    parts = lesion._study_parts(
        results, net, None, lambda: 42.0, None, lambda: [(X, labels)], [(X, labels)], cfg, None
    )
    _, baseline = parts[0]
    baseline()
    assert results["baseline"]["error_bn_reestimated"] == 42.0
    assert results["baseline"]["error"] == lesion.evaluate(net, [(X, labels)])


def test_random_deletions_reuse_each_units_own_single_deletion() -> None:
    """k = 1 of the random deletions takes the single deletions' errors, each of its own unit
    (another unit's, cached, was never measured again)."""
    net = tiny(20)  # candidates [0, 1, 2, 4, 5, 7, 8]
    results: dict[str, Any] = {"single": [{"unit": i, "error": 1000.0 + i} for i in range(9)]}
    opts = OmegaConf.create({"max_k": 1, "samples": 7, "include_downsampling": False})
    lesion._random_part(results, net, lambda: -1.0, opts, 0)  # -1: measured again
    (k1,) = results["random"]["per_k"]
    assert k1["errors"] == [1000.0 + s[0] for s in k1["subsets"]]


def test_deletions_swaps_and_paths_draw_from_streams_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A seed gives one random stream each to deletions, swaps and paths (docs/lesion.md): a
    study's draws stay those its seed documents."""
    first: dict[str, float] = {}

    def recorder(part: str) -> Callable[..., dict[str, Any]]:
        def record(*args: Any, **kwargs: Any) -> dict[str, Any]:
            first[part] = next(a for a in args if isinstance(a, random.Random)).random()
            return {}

        return record

    monkeypatch.setattr(lesion, "random_deletions", recorder("random"))
    monkeypatch.setattr(lesion, "random_swaps", recorder("swap"))
    monkeypatch.setattr(lesion, "path_study", recorder("paths"))
    net = tiny(20)
    opts = OmegaConf.create(
        {"max_k": 1, "swap_max_k": None, "samples": 1, "include_downsampling": False}
    )
    data = SimpleNamespace(train_images=torch.zeros(8, 3, 32, 32), train_labels=torch.zeros(8))
    paths_opts = OmegaConf.create({"path_batches": 1, "path_batch": 4, "path_samples": 1})
    lesion._random_part({}, net, lambda: 0.0, opts, 0)
    lesion._swap_part({}, net, lambda: 0.0, opts, 0)
    lesion._paths_part({}, net, data, paths_opts, 0)
    assert len({first["random"], first["swap"], first["paths"]}) == 3
