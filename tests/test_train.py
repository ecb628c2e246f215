"""The trainer: recipe, outputs, reproducibility, and surviving kills, signals and corruption."""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED, crop_candidates, run_cli
from omegaconf import OmegaConf

from resnet_lab import report, stopping
from resnet_lab.api import build_model, compose_config
from resnet_lab.checkpoint import CheckpointError, digest_path, list_checkpoints, load_checkpoint
from resnet_lab.data import TrainBatches, eval_batches, normalize
from resnet_lab.device import resolve_device
from resnet_lab.errors import ConfigError, DataError, RunInterrupted, UserError
from resnet_lab.hparams import INPUT, RECIPE, hparams_of
from resnet_lab.models import ARCHS, SHORTCUTS
from resnet_lab.models.grouped_bn import GroupedBatchNorm2d, group_batch_norms
from resnet_lab.models.shortcuts import GateActivation
from resnet_lab.report import RESULT_FIELDS
from resnet_lab.run_folder import RunLock, environment
from resnet_lab.train import (
    Trainer,
    check_before_training,
    check_trainer_config,
    describe_schedule,
    lr_at,
    make_optimizer,
    spread_over_gpus,
    train,
)


def fit(overrides: list[str], run_dir: Path) -> dict:
    return train(compose_config(overrides), run_dir)


def strict_json(text: str) -> Any:
    """json.loads, refusing NaN and Infinity, which Python reads and strict readers do not."""
    return json.loads(text, parse_constant=lambda token: pytest.fail(f"not strict JSON: {token}"))


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(list_checkpoints(run_dir / "ckpt")[-1])["model"]


def assert_bitwise_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_learning_rate_schedule_is_the_papers() -> None:
    t = compose_config().trainer
    assert (t.max_steps, t.batch_size, t.momentum, t.weight_decay) == (64_000, 128, 0.9, 1e-4)
    expected = {0: 0.01, 399: 0.01, 400: 0.1, 31_999: 0.1, 32_000: 0.01, 47_999: 0.01}
    expected |= {48_000: 0.001, 63_999: 0.001}
    for step, lr in expected.items():
        assert lr_at(step, t) == pytest.approx(lr), step
    # plain momentum (the neighbours' rows switch Nesterov on), in the optimizer the trainer builds
    (group,) = make_optimizer([("w", torch.zeros(1, requires_grad=True))], t).param_groups
    assert (group["nesterov"], group["momentum"], group["weight_decay"]) == (False, 0.9, 1e-4)


def test_a_run_says_its_learning_rates_and_the_milestones_it_never_reaches() -> None:
    """A run shortened to trainer.max_steps=40000 keeps 48k's decay in its config, unused: the
    start says so (milestone m decays the step of 0-based index m, the (m+1)-th)."""
    said = {
        (): "learning rate 0.01 for the first 400 steps, then 0.1, x0.1 after steps 32000 "
        "and 48000",
        ("trainer.max_steps=40000",): "learning rate 0.01 for the first 400 steps, then 0.1, "
        "x0.1 after step 32000, no decay at 48000 (past trainer.max_steps=40000)",
        ("trainer.max_steps=32000", "trainer.warmup_steps=0", "trainer.lr_decay=0.2"): (
            "learning rate 0.1, no decay at 32000 and 48000 (past trainer.max_steps=32000)"
        ),
        ("trainer.warmup_steps=0", "trainer.milestones=[]"): "learning rate 0.1",
        ("profile=smoke",): "learning rate 0.01 for the first step, then 0.1, x0.1 after steps 2 "
        "and 3",
    }
    for overrides, words in said.items():
        t = compose_config(list(overrides)).trainer
        assert describe_schedule(t) == words, overrides
    shortened = compose_config(["trainer.max_steps=40000"]).trainer
    assert lr_at(39_999, shortened) == pytest.approx(0.01)  # its last step: one decay, not two


@pytest.mark.parametrize("shortcut", ["gate", "shortcut_gate", "highway"])
def test_gate_biases_keep_their_init_against_decay_only_when_asked(
    tiny_run: list[str], shortcut: str
) -> None:
    """A step whose gradients are all zero is weight decay alone: by default it moves every
    parameter by lr * 1e-4 of itself, BN's and b_g too (the authors' Torch code); with
    gate_bias_decay=false not b_g. (In float64: float32 rounds a change of 1e-6 of a weight.)"""
    moved, devnull = {}, Path(os.devnull)
    for decay in (True, False):
        overrides = [f"shortcut={shortcut}", "shortcut.gate_bias=-6"]
        cfg = compose_config([*tiny_run, *overrides, f"shortcut.gate_bias_decay={decay}"])
        trainer = Trainer(cfg, devnull)
        trainer.build()
        trainer.model.double()  # in place, the gradients too: the optimizer's parameters
        before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
        trainer.optimizer.step()  # the gradients are zeros from the start
        moved[decay] = {
            n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])
        }
        if decay:
            lr = trainer.optimizer.param_groups[0]["lr"]
            for n, p in trainer.model.named_parameters():
                change = p.detach() - before[n]
                assert torch.allclose(change, -lr * 1e-4 * before[n], rtol=1e-6, atol=0), n
    biases = {n for n in before if n.endswith(("gate_norm.bias", "gate_conv.bias"))}
    nonzero = {n for n, p in before.items() if p.count_nonzero()}  # zeros show no decay
    bn_weights = {
        f"{name}.weight"
        for name, module in trainer.model.named_modules()
        if isinstance(module, torch.nn.BatchNorm2d)
    }
    assert bn_weights and bn_weights <= nonzero and moved[True] == nonzero
    assert len(biases) == 3 and biases <= moved[True] and moved[True] - moved[False] == biases
    with pytest.raises(ConfigError, match="gate_bias_decay"):  # identity has no b_g
        Trainer(compose_config([*tiny_run, "shortcut.gate_bias_decay=false"]), devnull).build()
    # a b_g name that matches no parameter (one renamed) would leave that bias decayed, unsaid
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="no_decay names parameters the model lacks"):
        make_optimizer([("w", w)], cfg.trainer, {"gate_norm.bias"})


@pytest.mark.parametrize("shortcut", ["identity", "gate"])
def test_bn_group_normalises_each_group_as_a_device_of_its_own(
    tiny_run: list[str], shortcut: str
) -> None:
    """trainer.bn_group=8 on a batch of 16: as the 2015 paper's two GPUs of 64, each half is
    normalised with its own statistics, so the loss and gradients are those of the two halves'
    losses computed apart, averaged (float64: the same function, not only a close one)."""
    devnull, overrides = Path(os.devnull), [*tiny_run, f"shortcut={shortcut}"]
    grouped = Trainer(compose_config([*overrides, "trainer.bn_group=8"]), devnull)
    grouped.build()
    apart = Trainer(compose_config(overrides), devnull)
    apart.build()
    bns = [m for m in grouped.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(isinstance(m, GroupedBatchNorm2d) and m.group == 8 for m in bns)
    x, y = grouped.batches.next()
    x = x.double()
    for trainer in (grouped, apart):
        trainer.model.double()
        trainer.model.zero_grad()
    loss = F.cross_entropy(grouped.model(x), y)
    loss.backward()
    halves = [F.cross_entropy(apart.model(x[i : i + 8]), y[i : i + 8]) for i in (0, 8)]
    ((halves[0] + halves[1]) / 2).backward()
    assert loss.item() == pytest.approx(((halves[0] + halves[1]) / 2).item(), rel=1e-12)
    pairs = zip(grouped.model.named_parameters(), apart.model.parameters(), strict=True)
    for (name, p), q in pairs:
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-9, atol=1e-12, msg=name)
    grouped.model.eval()  # evaluation uses the running statistics, as any BN
    assert grouped.model(x).shape == (16, 10)


def test_grouped_bn_running_statistics_are_the_mean_of_the_groups() -> None:
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(3)
    x = torch.randn(8, 3, 5, 5).contiguous(memory_format=torch.channels_last)
    groups = [torch.nn.BatchNorm2d(3) for _ in range(2)]
    grouped = group_batch_norms(torch.nn.Sequential(bn), 4)[0]
    out = grouped(x)
    torch.testing.assert_close(out, torch.cat([groups[0](x[:4]), groups[1](x[4:])]))
    assert out.is_contiguous(memory_format=torch.channels_last)  # the next conv's layout kept
    for name in ("running_mean", "running_var"):
        mean = (getattr(groups[0], name) + getattr(groups[1], name)) / 2
        torch.testing.assert_close(getattr(grouped, name), mean)
    assert grouped.num_batches_tracked.item() == 1
    with pytest.raises(ValueError, match="a batch of 6 images does not split into groups of 4"):
        grouped(x[:6])
    assert "group=4" in repr(grouped)


def _a_trained_bn(channels: int = 3) -> torch.nn.BatchNorm2d:
    """A BN away from its initial state: the layouts of groups and statistics then show."""
    torch.manual_seed(0)
    bn = torch.nn.BatchNorm2d(channels)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(channels) + 0.5)
        bn.bias.copy_(torch.randn(channels))
        bn.running_mean.copy_(torch.randn(channels))
        bn.running_var.copy_(torch.rand(channels) + 0.5)
    return bn


def test_a_grouped_bn_from_a_trained_state_equals_the_groups_apart_and_evaluates_as_bn() -> None:
    """From initial statistics (mean 0, variance 1) every layout of the groups' copies is the
    same; evaluation (a batch of 1,000, not the group) uses the running statistics."""
    bn = _a_trained_bn()
    groups = [copy.deepcopy(bn) for _ in range(2)]
    grouped = group_batch_norms(torch.nn.Sequential(copy.deepcopy(bn)), 4)[0]
    x = torch.randn(8, 3, 5, 5)
    torch.testing.assert_close(grouped(x), torch.cat([groups[0](x[:4]), groups[1](x[4:])]))
    for name in ("running_mean", "running_var"):
        mean = (getattr(groups[0], name) + getattr(groups[1], name)) / 2
        torch.testing.assert_close(getattr(grouped, name), mean)
    trained = _a_trained_bn().eval()
    grouped = group_batch_norms(torch.nn.Sequential(copy.deepcopy(trained)), 8)[0].eval()
    x = torch.randn(16, 3, 5, 5)
    torch.testing.assert_close(grouped(x), trained(x))
    for unfit in (  # a BN without running statistics failed in its first step
        torch.nn.BatchNorm2d(3, track_running_stats=False),
        torch.nn.BatchNorm2d(3, affine=False),
        torch.nn.BatchNorm2d(3, momentum=None),
    ):
        with pytest.raises(ValueError, match="only affine BN with a momentum and running"):
            group_batch_norms(torch.nn.Sequential(unfit), 4)


def test_every_hparam_a_run_writes_is_a_column_of_its_type() -> None:
    """TensorBoard hides a value without its column, and filters a number typed as text as
    text; the recipe's and input's columns named here, not read from the module's lists."""
    from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2

    from resnet_lab.hparams import columns, start_records

    kinds = columns()
    for recipe in ("lr", "batch_size", "momentum", "weight_decay", "nesterov", "warmup_steps"):
        assert f"trainer.{recipe}" in kinds
    for recipe in ("warmup_lr", "milestones", "lr_decay"):
        assert f"trainer.{recipe}" in kinds
    for option in ("split", "augment", "pad_mode", "normalization", "limit"):
        assert f"data.{option}" in kinds
    for overrides in ([], ["shortcut=gate"], ["model=densenet"], ["trainer.bn_group=64"]):
        for key, value in hparams_of(compose_config(["model.depth=8", *overrides])).items():
            assert key in kinds, key
            if kinds[key] is bool:
                assert isinstance(value, bool), key
            elif kinds[key] in (int, float):
                assert isinstance(value, int | float) and not isinstance(value, bool), key
            else:
                assert isinstance(value, str), key
    limited = compose_config(["model.depth=8", "data.limit=100"])
    assert hparams_of(limited)["data.limit"] == 100
    for after_add in ("relu", "bn_relu", "relu_before_add", "relu_preact", "identity"):
        chosen = hparams_of(compose_config([f"after_add={after_add}"]))  # Table 2's rows apart
        assert chosen["after_add"] == after_add
    densenet = hparams_of(compose_config(["model=densenet"]))  # no residual units, no row
    assert (densenet["shortcut"], densenet["after_add"], densenet["experiment"]) == ("-",) * 3
    chosen = hparams_of(compose_config(["model=densenet", "shortcut=scale"]))  # ignored by it
    assert not [key for key in chosen if key.startswith("shortcut.")]
    record = start_records(limited)[0]
    data = plugin_data_pb2.HParamsPluginData.FromString(
        record.value[0].metadata.plugin_data.content
    )
    types = {info.name: info.type for info in data.experiment.hparam_infos}
    number = api_pb2.DataType.DATA_TYPE_FLOAT64
    assert types["depth"] == types["seed"] == types["trainer.lr"] == types["data.limit"] == number
    assert types["shortcut"] == api_pb2.DataType.DATA_TYPE_STRING


def test_test_at_best_val_reports_the_test_error_the_validation_chose(
    tiny_run: list[str], tmp_path: Path
) -> None:
    """The stochastic-depth protocol: train on the 90% split, evaluate the held-out 10% and the
    test set each time; the figure is the test error where the validation error was lowest."""
    args = [
        *tiny_run,
        "data.split=val",
        "trainer.test_at_best_val=true",
        "trainer.max_steps=40",
        "trainer.eval_every=5",
    ]
    result = fit(args, tmp_path)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [line for line in lines if "val/error" in line]
    assert len(evals) == 8 and all("test/error" in line for line in evals)
    chosen = min(evals, key=lambda line: line["val/error"])  # the first of equal ones
    assert result["eval_split"] == "val" and result["best_step"] == chosen["step"]
    assert result["test_error_at_best_val"] == chosen["test/error"]
    assert len({line["test/error"] for line in evals}) > 1  # a real choice among them
    with pytest.raises(ConfigError, match="test_at_best_val=true chooses an evaluation by"):
        Trainer(compose_config([*tiny_run, "trainer.test_at_best_val=true"]), tmp_path / "x")


def test_the_figure_at_best_val_is_the_test_error_where_the_validation_was_lowest(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scripted wrong counts: the lowest validation error at step 20 (equal at 30), the test
    error falling throughout, so that neither the last evaluation nor the last of equal ones
    is the figure; each error is a share of its own set (25 validation, 128 test images)."""
    scripted_run = ["data.split=val", "trainer.test_at_best_val=true", "trainer.eval_every=10"]
    trainer = Trainer(compose_config([*tiny_run, *scripted_run, "trainer.max_steps=40"]), tmp_path)
    val_wrong, test_wrong = iter([13, 5, 5, 20]), iter([64, 32, 16, 8])

    def scripted(
        data: object, batch_size: int, test_set: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x = torch.cat([x for x, _ in eval_batches(data, batch_size, test_set)])
        labels = trainer.model(x.contiguous(memory_format=trainer.memory_format)).argmax(1)
        labels[: next(test_wrong if test_set else val_wrong)] += 1  # these answered wrong
        yield x, labels % 10

    monkeypatch.setattr("resnet_lab.train.eval_batches", scripted)
    trainer.fit()
    result = json.loads((tmp_path / "result.json").read_text())
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(x["step"], x["val/error"], x["test/error"]) for x in lines if "val/error" in x] == [
        (10, pytest.approx(52.0), 50.0),
        (20, pytest.approx(20.0), 25.0),
        (30, pytest.approx(20.0), 12.5),
        (40, pytest.approx(80.0), 6.25),
    ]
    assert (result["best_step"], result["test_error_at_best_val"]) == (20, 25.0)


def test_the_step_counts_its_wrong_answers_with_the_momentum_asked_for(
    tiny_run: list[str],
) -> None:
    """train/error is the share the step's forward got wrong (the tests saw only a value in
    [0, 100]); trainer.momentum reaches the optimizer (every recipe's is 0.9)."""
    trainer = Trainer(compose_config([*tiny_run, "trainer.momentum=0.5"]), Path(os.devnull))
    trainer.build()
    assert {group["momentum"] for group in trainer.optimizer.param_groups} == {0.5}
    x, _ = trainer.batches.next()
    with torch.no_grad():  # train mode, batch statistics: the step's forward gives these
        y = trainer.model(x).argmax(1)
    y[:5] = (y[:5] + 1) % 10  # five wrong
    assert int(trainer.train_step(x, y)[1]) == 5


def test_a_step_is_the_mean_cross_entropy_of_its_own_batch(tiny_run: list[str]) -> None:
    """The papers' loss: the batch's mean cross-entropy, no label smoothing (a mutant smoothing
    it passed the suite); each step's gradients are its own batch's (zeroed before backward,
    not added to the last step's)."""
    trainer = Trainer(compose_config(tiny_run), Path(os.devnull))
    trainer.build()
    for _ in range(2):
        x, y = trainer.batches.next()
        reference = copy.deepcopy(trainer.model)  # train mode: batch statistics, as the step
        reference.zero_grad(set_to_none=True)
        expected = F.cross_entropy(reference(x), y)
        expected.backward()
        loss, _ = trainer.train_step(x, y)
        torch.testing.assert_close(loss, expected.detach(), rtol=1e-6, atol=0)
        for (name, p), q in zip(
            trainer.model.named_parameters(), reference.parameters(), strict=True
        ):
            torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_a_batch_larger_than_the_training_set_is_said(
    tiny_run: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """trainer.batch_size=100000 on 256 images ran without a word until the out-of-memory
    killer ended it (a batch that large is legal: each holds every image several times)."""
    with caplog.at_level(logging.WARNING, logger="resnet_lab.train"):
        Trainer(compose_config([*tiny_run, "data.limit=16"]), Path(os.devnull)).build()
    assert "is larger than" not in caplog.text
    with caplog.at_level(logging.WARNING, logger="resnet_lab.train"):
        cfg = compose_config([*tiny_run, "data.limit=16", "trainer.batch_size=17"])
        Trainer(cfg, Path(os.devnull)).build()
    assert "trainer.batch_size=17 is larger than the 16 training images" in caplog.text


def test_build_model_gives_the_runs_initial_weights_and_leaves_the_random_state(
    tiny_run: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The network "the command line would train": its weights too (they were whatever the
    caller's random state drew), without reseeding the caller's session (CUDA's neither)."""
    from resnet_lab import build_model

    def reseeded(seed: int) -> None:
        raise AssertionError(f"the caller's CUDA generators seeded with {seed}")

    before = torch.get_rng_state()
    with monkeypatch.context() as patched:
        patched.setattr(torch.cuda, "manual_seed_all", reseeded)
        net = build_model([*tiny_run, "seed=3"])
    assert torch.equal(torch.get_rng_state(), before)
    trainer = Trainer(compose_config([*tiny_run, "seed=3"]), Path(os.devnull))
    trainer.build()
    assert_bitwise_equal(net.state_dict(), trainer.model.state_dict())
    (first, weights), *_ = net.state_dict().items()
    assert not torch.equal(build_model([*tiny_run, "seed=4"]).state_dict()[first], weights)
    with pytest.raises(ConfigError, match=re.escape(f"seed={2**64} must be in")):
        build_model([*tiny_run, f"seed={2**64}"])  # an overflow trace


def test_settings_that_train_nothing_or_overflow_are_refused_and_an_all_warm_up_run_is_said(
    tiny_run: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A boundary review: warmup_lr=0 trained nothing for the warm-up (the whole of a short
    run), a milestone at 0 started the run decayed, lr_decay=10 grew the lr, a seed past 64 bits
    was an overflow trace; a run shorter than its warm-up never reached trainer.lr, unsaid."""
    for override, said in [
        ("trainer.warmup_lr=0", "trainer.warmup_lr=0.0 must be positive (it trains nothing"),
        ("trainer.milestones=[0,10]", "trainer.milestones=[0, 10] must be steps, from 1 on"),
        ("trainer.lr_decay=10", "trainer.lr_decay=10.0 must be in (0, 1]"),
        (f"seed={2**64}", f"seed={2**64} must be in [-2**63, 2**64)"),
        (f"seed={-(2**63) - 1}", "must be in [-2**63, 2**64)"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(said)):
            check_trainer_config(compose_config([*tiny_run, override]))
    for edge in [  # what is right at each edge: torch's seed range, no decay
        ["trainer.warmup_lr=0", "trainer.warmup_steps=0"],
        ["trainer.lr_decay=1", "trainer.milestones=[1]"],
        ["trainer.weight_decay=0"],  # an ablation
        ["trainer.momentum=0"],  # plain SGD
        [f"seed={2**64 - 1}"],
        [f"seed={-(2**63)}"],
    ]:
        check_trainer_config(compose_config([*tiny_run, *edge]))
    with caplog.at_level(logging.WARNING, logger="resnet_lab.train"):
        fit([*tiny_run, "trainer.max_steps=5"], tmp_path)  # its 5 warm-up steps, no more
    assert "trainer.warmup_steps=5 covers the whole run (trainer.max_steps=5)" in caplog.text


def test_a_refused_run_from_python_leaves_no_folder_it_made(
    tiny_run: list[str], tmp_path: Path
) -> None:
    """As the command line discards the folder of a refused run; one the caller made stays.
    The folder may be given as a string, as the README's call shows it."""
    missing = [*tiny_run, "data=cifar10", f"data.root={tmp_path / 'nowhere'}"]
    with pytest.raises(DataError):
        train(compose_config(missing), str(tmp_path / "made"))
    assert not (tmp_path / "made").exists()
    (tmp_path / "own").mkdir()
    with pytest.raises(DataError):
        fit(missing, tmp_path / "own")
    assert (tmp_path / "own").is_dir()
    done = train(compose_config([*tiny_run, "trainer.max_steps=2"]), str(tmp_path / "str"))
    assert done["status"] == "completed"
    assert (tmp_path / "str" / "result.json").is_file()


def test_tiny_run_learns_and_writes_every_output(
    tiny_run: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = time.time()
    with caplog.at_level(logging.INFO, logger="resnet_lab.train"):
        result = fit(
            [
                *tiny_run,
                "trainer.max_steps=60",
                "trainer.eval_every=30",
                "trainer.ckpt_every=20",
                "shortcut=gate",
            ],
            tmp_path,
        )
    took = time.time() - clock
    lines = [strict_json(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [x["train/loss"] for x in lines if "train/loss" in x]
    assert len(losses) == 12 and losses[-1] < 0.8 * losses[0]  # the loss really falls
    assert [x["step"] for x in lines if "test/error" in x] == [30, 60]
    assert any(k.startswith("gate/unit_") for x in lines for k in x)  # gate means logged

    errors = [x["train/error"] for x in lines if "train/error" in x]
    assert len(errors) == 12 and all(0 <= e <= 100 for e in errors)

    on_disk = strict_json((tmp_path / "result.json").read_text())
    assert on_disk["status"] == result["status"] == "completed"
    # every field of the contract (docs/contracts.md) that the report reads
    assert list(on_disk) == list(RESULT_FIELDS)  # the report knows every field, in order
    params = sum(p.numel() for p in build_model([*tiny_run, "shortcut=gate"]).parameters())
    assert on_disk["step"] == 60 and on_disk["num_params"] == params  # counted apart
    here = environment(torch.device("cpu"))  # what measured it: this process, this checkout
    assert {k: on_disk[k] for k in here} == here and on_disk["precision"] == "fp32"
    # to the second: a tiny run may start and finish within one
    assert 0 < on_disk["wall_time_s"] <= took and on_disk["started_at"] <= on_disk["finished_at"]
    assert on_disk["data_source"] == "synthetic (seed 20151210)"  # which images, as logged
    assert "data: synthetic (seed 20151210)" in caplog.messages
    assert (  # the recipe's milestones, kept by a short run, said unused
        "learning rate 0.01 for the first 5 steps, then 0.1, no decay at 32000 and 48000 (past "
        "trainer.max_steps=60)" in caplog.messages
    )
    assert on_disk["final_test_error"] < 90.0  # better than chance on 10 classes
    assert on_disk["config"]["shortcut"]["name"] == "gate"
    assert set(on_disk["versions"]) == {"torch", "torchvision", "resnet_lab", "python", "numpy"}
    # the last two checkpoints only, each with its checksum
    assert [p.name for p in list_checkpoints(tmp_path / "ckpt")] == [
        "step_0000040.pt",
        "step_0000060.pt",
    ]
    assert all(digest_path(p).exists() for p in (tmp_path / "ckpt").glob("*.pt"))
    # TensorBoard: scalars and hparams in the run's own folder, no stray sub-folder
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/error", "test/error", "lr", "throughput"} <= tags
    curves = {t for t in tags if t.startswith(("train/", "test/", "gate/")) or t == "lr"}
    assert any(t.startswith("gate/unit_") for t in curves)
    for tag in sorted(curves):  # each curve is the metrics.jsonl lines' values
        logged = [(x["step"], x[tag]) for x in lines if tag in x]
        curve = [(e.step, e.value) for e in events.Scalars(tag)]
        assert len(curve) == len(logged) > 0, tag
        for (step, value), (logged_step, logged_value) in zip(curve, logged, strict=True):
            assert step == logged_step and value == pytest.approx(logged_value, rel=1e-6), tag
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    plugin = [
        HParamsPluginData.FromString(c) for c in events.PluginTagToContent("hparams").values()
    ]
    (session,) = [d.session_start_info for d in plugin if d.HasField("session_start_info")]
    logged = set(session.hparams)  # the options the chosen variants use (a new one's too)
    named = {"arch", "shortcut", "after_add", "depth", "block", "width", "seed", "experiment"}
    named |= {"data", "profile", "precision", "bn_group", "test_at_best_val"}  # opt-in changes
    named |= {f"trainer.{k}" for k in RECIPE} | {f"data.{k}" for k in INPUT if k != "limit"}
    used = {f"shortcut.{k}" for k in SHORTCUTS.get("gate").uses}
    used |= {f"model.{k}" for k in ARCHS.get("resnet").uses}
    assert logged == named | used and "shortcut.gate_bias_decay" in used
    assert {"shortcut.dropout", "model.growth_rate"}.isdisjoint(logged)  # options gate ignores
    assert session.hparams["shortcut"].string_value == "gate"
    assert session.hparams["after_add"].string_value == "relu"  # the option's name
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and p.name not in {"ckpt"}]


def test_a_failure_to_write_the_hparams_does_not_fail_the_finished_run(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Trainer, status: str) -> None:
        raise ValueError("a broken draft option file")

    monkeypatch.setattr(Trainer, "_log_hparams", broken)
    result = fit([*tiny_run, "trainer.max_steps=2"], tmp_path)
    assert result["status"] == "completed"
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "completed"


def test_the_hparams_are_written_before_the_final_record(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kill right after result.json said completed left a run without its hparams for good:
    its resume does nothing (a kill -9 audit)."""
    written: list[str] = []
    write_result, log_hparams = Trainer._write_result, Trainer._log_hparams

    def record(self: Trainer, status: str, *args: object, **kwargs: object) -> None:
        written.append(status)
        write_result(self, status, *args, **kwargs)  # type: ignore[arg-type]

    def hparams(self: Trainer, status: str) -> None:
        written.append(f"hparams {status}")
        log_hparams(self, status)

    monkeypatch.setattr(Trainer, "_write_result", record)
    monkeypatch.setattr(Trainer, "_log_hparams", hparams)
    fit([*tiny_run, "trainer.max_steps=2"], tmp_path)
    assert written[-2:] == ["hparams completed", "completed"]


def _hparams_records(run_dir: Path) -> dict[str, Any]:
    """The run's HParams records, by kind (TensorBoard reads each tag's first one)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(str(run_dir))
    events.Reload()
    records = {}
    for content in events.PluginTagToContent("hparams").values():
        data = HParamsPluginData.FromString(content)
        records[data.WhichOneof("data")] = getattr(data, data.WhichOneof("data"))
    return records


def test_every_run_gives_the_hparams_table_all_its_columns(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorBoard takes the table's columns from one run's experiment record: each run writes
    them all, or Table 1's scaling rows had no shortcut.scale column (its values were hidden).
    Its metrics include the live curves, so an unfinished run shows its progress; a diverged
    run is a failure, a completed one a success, an interrupted one neither."""
    from tensorboard.plugins.hparams import api_pb2

    fit([*tiny_run, "trainer.max_steps=2"], tmp_path / "identity")
    diverged = [*tiny_run, "shortcut=scale", "trainer.lr=1e6", "trainer.warmup_steps=0"]
    assert fit([*diverged, "trainer.max_steps=20"], tmp_path / "scale")["status"] == "diverged"
    first, second = (_hparams_records(tmp_path / d) for d in ("identity", "scale"))
    assert first["experiment"] == second["experiment"]  # whichever TensorBoard picks
    columns = {info.name: info.type for info in first["experiment"].hparam_infos}
    assert {"shortcut.scale", "shortcut.gate_bias", "shortcut.dropout"} <= set(columns)
    assert {"model.growth_rate", "trainer.lr", "data.normalization", "data.split"} <= set(columns)
    assert columns["test_at_best_val"] == api_pb2.DataType.DATA_TYPE_BOOL  # not 0/1
    assert columns["trainer.milestones"] == api_pb2.DataType.DATA_TYPE_STRING
    metrics = {m.name.tag for m in first["experiment"].metric_infos}
    assert {"test/error", "val/error", "hparam/final_error", "hparam/test_error_at_best_val"} <= (
        metrics
    )
    values = second["session_start_info"].hparams
    assert values["shortcut.scale"].number_value == 0.5 and values["trainer.lr"].number_value == 1e6
    assert "shortcut.scale" not in first["session_start_info"].hparams  # identity ignores it
    assert values["test_at_best_val"].WhichOneof("kind") == "bool_value"
    success, failure = api_pb2.Status.STATUS_SUCCESS, api_pb2.Status.STATUS_FAILURE
    assert (first["session_end_info"].status, second["session_end_info"].status) == (
        success,
        failure,
    )

    real_advance, steps = Trainer.advance, []

    def advance(self: Trainer) -> tuple[torch.Tensor, torch.Tensor]:
        if steps:  # a Ctrl-C after the first step
            raise KeyboardInterrupt
        steps.append(1)
        return real_advance(self)

    monkeypatch.setattr(Trainer, "advance", advance)
    with pytest.raises(RunInterrupted):
        fit([*tiny_run, "trainer.max_steps=4"], tmp_path / "cut")
    cut = _hparams_records(tmp_path / "cut")
    assert "session_start_info" in cut and "session_end_info" not in cut


def test_a_log_line_is_the_mean_of_its_window() -> None:
    """The logged loss and error are those of every step since the last line, not of the last
    step: a window of 5 steps, losses 1 to 5, 2 wrong of 10 in each; then a fresh window."""
    from resnet_lab.train import TrainState, _LogWindow

    window = _LogWindow(TrainState(), torch.device("cpu"))
    for loss in (1.0, 2.0, 3.0, 4.0, 5.0):
        window.add(torch.tensor(loss), torch.tensor(2))
    loss, error, _ = window.read_and_reset(batch_size=10)
    assert (loss, error) == (3.0, 20.0)
    window.add(torch.tensor(7.0), torch.tensor(10))
    loss, error, _ = window.read_and_reset(batch_size=10)
    assert (loss, error) == (7.0, 100.0)


def test_throughput_leaves_out_evaluations_and_checkpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """images/s is training's: the window after an evaluation or a checkpoint showed about
    half the throughput of the others (their time was counted as training time). On a clock
    of the test's: a busy machine's stalls must not count."""
    from resnet_lab import train
    from resnet_lab.train import TrainState, _LogWindow

    now = [100.0]
    monkeypatch.setattr(train, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))
    window = _LogWindow(TrainState(), torch.device("cpu"))
    for _ in range(4):
        window.add(torch.tensor(1.0), torch.tensor(0))
    now[0] += 0.25  # the four steps
    with window.paused():
        now[0] += 0.5  # an evaluation
    _, _, throughput = window.read_and_reset(batch_size=100)
    assert throughput == pytest.approx(400 / 0.25)  # not 400 / 0.75
    window.add(torch.tensor(1.0), torch.tensor(0))
    now[0] += 0.2  # training time
    _, _, throughput = window.read_and_reset(batch_size=100)
    assert throughput == pytest.approx(100 / 0.2)  # counted


def test_the_throughput_window_pauses_only_for_an_evaluation_or_a_checkpoint(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each pause synchronises a CUDA device: entered at every step, it was a host sync a step
    (a review's count: 101 for 100 steps)."""
    from resnet_lab.train import _LogWindow

    real, pauses = _LogWindow.paused, []

    def paused(self: _LogWindow) -> Any:
        pauses.append(self.steps)
        return real(self)

    monkeypatch.setattr(_LogWindow, "paused", paused)
    every = ["trainer.eval_every=5", "trainer.ckpt_every=5", "trainer.log_every=5"]
    fit([*tiny_run, "trainer.max_steps=12", *every], tmp_path)
    assert len(pauses) == 3  # steps 5, 10 (both due at once) and 12 (the last)


def test_each_checkpoint_follows_the_lines_logged_before_it_onto_the_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_run: list[str]
) -> None:
    """metrics.jsonl was flushed, never synced: after a power loss the checkpoint of step N
    could outlive the lines before N, which a resume never logs again."""
    synced = []
    sync = os.fsync

    def named(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")).name)
        sync(fd)

    monkeypatch.setattr(os, "fsync", named)
    every = ["trainer.eval_every=5", "trainer.ckpt_every=5", "trainer.log_every=5"]
    fit([*tiny_run, "trainer.max_steps=12", *every], tmp_path)
    order = [
        "metrics" if name == "metrics.jsonl" else name.split(".pt.tmp-")[0]
        for name in synced
        if name == "metrics.jsonl" or re.fullmatch(r"\.step_\d+\.pt\.tmp-\d+", name)
    ]
    steps = [".step_0000005", ".step_0000010", ".step_0000012"]
    assert order == [name for step in steps for name in ("metrics", step)]


def test_hparams_are_values_tensorboard_takes(tiny_run: list[str]) -> None:
    """TensorBoard refuses a list: every hparam is a bool, a number or a string."""
    cfg = OmegaConf.create(
        OmegaConf.to_container(compose_config([*tiny_run, "shortcut=gate"]), resolve=True)
    )
    cfg.model.downsample = [1, 2]  # a list-valued option, as a new variant might have
    hparams = hparams_of(cfg)
    assert hparams["model.downsample"] == "[1, 2]" and hparams["shortcut.gate_bias"] == -6.0
    assert all(isinstance(v, bool | int | float | str) for v in hparams.values())


def test_result_records_the_last_evaluation_the_best_one_and_each_step_lr(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """final_test_error is the last evaluation's (the papers' figure; the best one is chosen
    on the test set), best_* the minimum and its step (the earlier of equal ones: with
    test_at_best_val, the stochastic-depth rows' figure); every step uses its own lr_at, in
    every parameter group (gate biases kept from decay are a group of their own)."""
    cfg = compose_config(
        [
            *tiny_run,
            "shortcut=gate",
            "shortcut.gate_bias_decay=false",
            "data.synthetic_test_size=100",
            "trainer.max_steps=40",
            "trainer.eval_every=10",
            "trainer.milestones=[12,24]",
        ]
    )
    trainer = Trainer(cfg, tmp_path)
    errors = iter([50, 25, 25, 60])  # percent wrong at steps 10-40: the best is not the last
    modes = []  # the model's training flag at each evaluation: BN must use its statistics

    def scripted(
        data: object, batch_size: int, test_set: bool = False
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The eval images, labelled so that exactly the scripted share is predicted wrong."""
        modes.append(trainer.model.training)
        x = torch.cat([x for x, _ in eval_batches(data, batch_size, test_set)])
        predicted = trainer.model(x.contiguous(memory_format=trainer.memory_format)).argmax(1)
        labels = predicted.clone()
        labels[: next(errors)] += 1
        yield x, labels % 10

    monkeypatch.setattr("resnet_lab.train.eval_batches", scripted)
    lrs = []
    real_step = Trainer.train_step

    def recording_step(self: Trainer, x: torch.Tensor, y: torch.Tensor) -> object:
        groups = self.optimizer.param_groups
        assert len(groups) == 2 and len({group["lr"] for group in groups}) == 1
        lrs.append(groups[0]["lr"])
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", recording_step)
    trainer.fit()
    result = json.loads((tmp_path / "result.json").read_text())
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(x["step"], x["test/error"]) for x in lines if "test/error" in x] == [
        (10, 50.0),
        (20, 25.0),
        (30, 25.0),
        (40, 60.0),
    ]
    assert (result["final_test_error"], result["last_test_error"]) == (60.0, 60.0)
    assert (result["best_test_error"], result["best_step"]) == (25.0, 20)
    assert result["test_error_at_best_val"] is None  # no validation split: nothing chosen
    assert report.read_run(tmp_path / "result.json", "a").error == 60.0  # the final error
    assert modes == [False] * 4
    assert lrs == [lr_at(step, trainer.t) for step in range(40)]
    assert len(set(lrs)) == 4  # warm-up, base, and the two decays
    images = result["images_per_s"] * result["wall_time_s"]
    assert images == pytest.approx(40 * cfg.trainer.batch_size)


def test_the_batch_stream_follows_seed_and_augment_option(tiny_run: list[str]) -> None:
    """Seeds must differ in data order and augmentation (the spread behind "median of 5"), and
    data.augment=false must feed the plain normalized images."""

    def first_batch(*overrides: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        trainer = Trainer(compose_config([*tiny_run, *overrides]), Path(os.devnull))
        trainer.build()
        pool = normalize(trainer.data.train_images, trainer.data.mean)
        return (*trainer.batches.next(), pool)

    x0, y0, pool = first_batch("seed=0")
    x0_again, y0_again, _ = first_batch("seed=0")
    _, y1, _ = first_batch("seed=1")
    assert torch.equal(x0, x0_again) and torch.equal(y0, y0_again)
    assert not torch.equal(y0, y1)

    def found(x: torch.Tensor) -> torch.Tensor:
        """Which images of the batch are, exactly, a normalized training image."""
        return (x[:, None] == pool[None]).flatten(2).all(2).any(1)

    plain, _, _ = first_batch("data.augment=false")
    assert found(plain).all()
    assert not found(x0).all()  # augmented: crops and flips

    def draws(seed: int) -> list[int]:
        """Each image's crop and flip (its index among the 162 candidates), in batch order, of
        a first batch holding the whole set: augmentation drawn by position, not by image."""
        trainer = Trainer(
            compose_config([*tiny_run, "data.synthetic_train_size=16", f"seed={seed}"]),
            Path(os.devnull),
        )
        trainer.build()
        pool = normalize(trainer.data.train_images, trainer.data.mean)
        candidates = torch.stack([crop_candidates(image) for image in pool])  # [16, 162, ...]
        x, _ = trainer.batches.next()
        found = [(candidates == sample).flatten(2).all(2).nonzero().tolist() for sample in x]
        assert all(len(hits) == 1 for hits in found)  # each sample one crop of one image
        assert sorted(hits[0][0] for hits in found) == list(range(16))  # each image once
        return [hits[0][1] for hits in found]

    first, second = draws(0), draws(1)
    assert first != second  # the augmentation follows the seed, not the order alone
    assert len(set(first)) > 1 and {k >= 81 for k in first} == {False, True}


def test_the_batch_stream_follows_the_normalisation_and_padding_options(
    tiny_run: list[str],
) -> None:
    """The Wide ResNet row's data settings reach the trainer's batches: (x - per-channel mean) /
    per-channel std, crops of the reflection-padded image (the zero-padded ones differ)."""
    overrides = ["data.normalization=channel_mean_std", "data.pad_mode=reflect", "seed=3"]
    trainer = Trainer(compose_config([*tiny_run, *overrides]), Path(os.devnull))
    trainer.build()
    data = trainer.data
    assert data.std is not None and data.std.shape == (3, 1, 1)
    x, y = trainer.batches.next()
    for pad_mode in ("reflect", "zeros"):
        again = TrainBatches(data, len(y), seed=3, augment=True, pad_mode=pad_mode)
        assert torch.equal(again.next()[0], x) == (pad_mode == "reflect")
    plain = TrainBatches(data, len(y), seed=3, augment=False).next()[0]
    pool = (data.train_images.float() / 255 - data.mean) / data.std
    assert (plain[:, None] == pool[None]).flatten(2).all(2).any(1).all()  # each image, as is


def test_same_seed_gives_bitwise_equal_weights(tiny_run: list[str], tmp_path: Path) -> None:
    args = [
        *tiny_run,
        "trainer.max_steps=20",
        "trainer.eval_every=20",
        "seed=3",
        "shortcut=dropout",
    ]  # dropout: the global RNG matters too
    fit(args, tmp_path / "a")
    fit(args, tmp_path / "b")
    assert_bitwise_equal(final_weights(tmp_path / "a"), final_weights(tmp_path / "b"))
    fit([*args[:-2], "seed=4", "shortcut=dropout"], tmp_path / "c")
    assert not torch.equal(
        final_weights(tmp_path / "a")["fc.weight"], final_weights(tmp_path / "c")["fc.weight"]
    )


def test_a_finished_run_frees_its_trainer_at_once(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep's jobs train one after another in one process: a finished run's net and data (on
    the GPU) must be gone before the next job loads its own, not at a later garbage collection
    (the trainer was a reference cycle: its step is its own bound method)."""
    import gc
    import weakref

    made: list[weakref.ref[Trainer]] = []
    build = Trainer.build

    def noting(self: Trainer) -> None:
        made.append(weakref.ref(self))
        build(self)

    monkeypatch.setattr(Trainer, "build", noting)
    collecting = gc.isenabled()
    gc.disable()
    try:
        # a process's first run imports modules (torch._dynamo with the first optimizer, those the
        # run record reads) that keep the frames they were imported from, and so the first
        # trainer, in a cycle: theirs, once; the lab's own must not keep the second
        for run in ("first", "second"):
            fit([*tiny_run, "trainer.max_steps=2"], tmp_path / run)
        assert len(made) == 2 and made[1]() is None
    finally:
        if collecting:
            gc.enable()


KILL_RUN = [
    "trainer.max_steps=300",
    "trainer.eval_every=100",
    "trainer.ckpt_every=20",
    "shortcut=dropout",
    "seed=1",
]


def _start(args: list[str], run_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "resnet_lab", *args, f"hydra.run.dir={run_dir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_checkpoint(run_dir: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.time() + 120
    while not list((run_dir / "ckpt").glob("*.sha256")):
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkill_then_resume_is_bitwise_equal(tiny_run: list[str], tmp_path: Path) -> None:
    args = [*tiny_run, *KILL_RUN]
    killed = tmp_path / "killed"
    proc = _start(args, killed)
    _wait_for_checkpoint(killed, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((killed / "result.json").read_text())["status"] == "running"
    done = run_cli([*args, "resume=true", f"hydra.run.dir={killed}"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resumed from step_" in done.stdout + done.stderr
    fit(args, tmp_path / "straight")
    assert_bitwise_equal(final_weights(killed), final_weights(tmp_path / "straight"))
    # the lines of the straight run, none the killed part logged after its checkpoint twice
    # (a line's steps may repeat: a training and an evaluation line at one step)
    lines = [_without_throughput(run / "metrics.jsonl") for run in (killed, tmp_path / "straight")]
    assert lines[0] == lines[1]
    assert json.loads((killed / "result.json").read_text())["status"] == "completed"


def _without_throughput(metrics: Path) -> list[dict[str, object]]:
    """metrics.jsonl's records less the throughput, a timing."""
    records = [json.loads(line) for line in metrics.read_text().splitlines()]
    return [{k: v for k, v in record.items() if k != "throughput"} for record in records]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, *stopping.SLURM_SIGNALS])
def test_signal_checkpoints_and_records_interrupted(
    tiny_run: list[str], tmp_path: Path, signum: int
) -> None:
    """Slurm's SIGUSR2 as SIGTERM, then handed on to the handler it found: here the default's,
    which ends the process by the signal (the shell's 140)."""
    # steps enough that the signal never lands after the end, on however fast a machine
    proc = _start([*tiny_run, *KILL_RUN, "trainer.max_steps=1000000"], tmp_path)
    _wait_for_checkpoint(tmp_path, proc)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=60)
    ended_by = -signum if signum in stopping.SLURM_SIGNALS else 128 + signum
    assert proc.returncode == ended_by, out
    assert "Traceback" not in out and f"plus resume=true hydra.run.dir={tmp_path}" in out
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "interrupted"
    assert list_checkpoints(tmp_path / "ckpt")[-1].name == f"step_{result['step']:07d}.pt"


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGUSR2"), reason="no SIGUSR2 here")
def test_slurms_warning_signal_checkpoints_then_goes_to_submitits_handler(
    tiny_run: list[str], tmp_path: Path
) -> None:
    """Slurm's SIGUSR2 before a time limit (submitit's signal_delay_s) went to submitit alone,
    which requeued or ended the job mid-step: the run was 'failed', its steps since the last
    checkpoint lost. Now it stops at its next step with a checkpoint, and then the handler it
    found (here a stand-in for submitit's) has the signal."""
    run_dir, mark = tmp_path / "run", tmp_path / "requeued"
    argv = [
        "resnet-lab",
        *tiny_run,
        *KILL_RUN,
        "trainer.max_steps=1000000",
        f"hydra.run.dir={run_dir}",
    ]
    submitit = (
        "import signal, sys\n"
        "def requeue(signum, frame):\n"
        f"    open({str(mark)!r}, 'w').write(signal.Signals(signum).name)\n"
        "    sys.exit(3)\n"
        "signal.signal(signal.SIGUSR2, requeue)\n"
        f"sys.argv = {argv!r}\n"
        "from resnet_lab.cli import command\n"
        "command()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", submitit],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_for_checkpoint(run_dir, proc)
    proc.send_signal(signal.SIGUSR2)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and mark.read_text() == "SIGUSR2", out
    assert "interrupted by SIGUSR2 (checkpoint saved); continue with" in out
    result = json.loads((run_dir / "result.json").read_text())
    assert result["status"] == "interrupted"
    assert list_checkpoints(run_dir / "ckpt")[-1].name == f"step_{result['step']:07d}.pt"
    # the job Slurm requeues runs the same command (no resume=true) into the same folder: the
    # run continues (the folder holding a run was refused)
    again = [
        *tiny_run,
        *KILL_RUN,
        f"trainer.max_steps={result['step'] + 2}",
        f"hydra.run.dir={run_dir}",
    ]
    refused = run_cli(again)
    assert refused.returncode == 2 and "continue it with resume=true" in refused.stderr
    requeued = run_cli(again, env={**os.environ, "SLURM_RESTART_COUNT": "1"})
    assert requeued.returncode == 0, requeued.stdout + requeued.stderr
    assert "Slurm requeued this job (SLURM_RESTART_COUNT=1): its run continues" in requeued.stdout
    final = json.loads((run_dir / "result.json").read_text())
    assert final["status"] == "completed" and final["step"] == result["step"] + 2


def test_corrupted_checkpoint_falls_back_to_previous(
    tiny_run: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    args = [*tiny_run, "trainer.max_steps=20", "trainer.ckpt_every=10", "trainer.eval_every=20"]
    fit(args, tmp_path)
    newest = list_checkpoints(tmp_path / "ckpt")[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    with pytest.raises(CheckpointError, match="checksum"):
        load_checkpoint(newest)
    (tmp_path / "result.json").unlink()  # as if killed before the end
    result = fit([*args, "resume=true"], tmp_path)
    assert "step_0000020.pt" in caplog.text and "previous good checkpoint" in caplog.text
    assert result["status"] == "completed" and result["step"] == 20
    assert_bitwise_equal(final_weights(tmp_path), _reference(args, tmp_path / "ref"))
    for ckpt in list_checkpoints(tmp_path / "ckpt"):
        ckpt.write_bytes(b"garbage")
    (tmp_path / "result.json").unlink()
    with pytest.raises(CheckpointError, match="no usable checkpoint") as refused:
        fit([*args, "resume=true"], tmp_path)
    assert str(refused.value).endswith(  # the way on, not only what is wrong
        f"\nnone can be resumed from: move {tmp_path / 'ckpt'} aside to train this run again "
        "from step 0 (resume=true then starts anew), or choose a new folder"
    )
    shutil.move(tmp_path / "ckpt", tmp_path / "damaged")
    assert fit([*args, "resume=true"], tmp_path)["status"] == "completed"  # as the message says
    # a completed run extended: without checkpoints there is nothing to extend (moving them
    # aside was refused next), so the way on is a new folder
    for ckpt in list_checkpoints(tmp_path / "ckpt"):
        ckpt.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="no usable checkpoint") as refused:
        fit([*args, "resume=true", "trainer.max_steps=30"], tmp_path)
    assert str(refused.value).endswith(
        "\nnone can be resumed from: its result at step 20 stands; train longer in a new folder"
    )


def test_a_damaged_checkpoint_off_the_grid_goes_at_the_next_checkpoint(
    tiny_run: list[str], tmp_path: Path
) -> None:
    """One written at a signal (step 15, between the grid's 10 and 20) and then damaged: the
    resume falls back to step 10, and the next checkpoint deletes the damaged one (it counted
    among the two kept, as an earlier step, and the good step 10 went instead)."""
    args = [
        *tiny_run,
        "trainer.ckpt_every=10",
        "trainer.eval_every=10",
        "trainer.keep_checkpoints=2",
    ]
    fit([*args, "trainer.max_steps=10"], tmp_path)
    ckpt = tmp_path / "ckpt"
    good = list_checkpoints(ckpt)[-1]
    damaged = ckpt / "step_0000015.pt"
    damaged.write_bytes(good.read_bytes()[:1000])
    digest_path(damaged).write_text(digest_path(good).read_text())
    assert fit([*args, "trainer.max_steps=20", "resume=true"], tmp_path)["status"] == "completed"
    assert [p.name for p in list_checkpoints(ckpt)] == ["step_0000010.pt", "step_0000020.pt"]
    assert sorted(p.name for p in ckpt.glob("*.sha256")) == [
        "step_0000010.pt.sha256",
        "step_0000020.pt.sha256",
    ]


def _reference(args: list[str], run_dir: Path) -> dict[str, torch.Tensor]:
    fit(args, run_dir)
    return final_weights(run_dir)


def test_divergence_is_recorded_and_stops(tiny_run: list[str], tmp_path: Path) -> None:
    result = fit(
        [
            *tiny_run,
            "trainer.max_steps=200",
            "trainer.lr=1e12",
            "trainer.warmup_steps=0",
            "trainer.eval_every=200",
        ],
        tmp_path,
    )
    assert result["status"] == "diverged"
    # found at the log line that first averaged a non-finite loss (log_every=5), the run's step
    assert result["diverged_at_step"] == result["step"] < 200 and result["step"] % 5 == 0
    on_disk = strict_json((tmp_path / "result.json").read_text())  # no NaN tokens
    assert on_disk["status"] == "diverged" and on_disk["final_test_error"] is None
    lines = [strict_json(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    losses = [(x["step"], x["train/loss"]) for x in lines if "train/loss" in x]
    assert losses[-1] == (result["step"], None)  # the first non-finite window ends the run
    assert all(loss is not None for _, loss in losses[:-1])
    # in TensorBoard's hparams table too (the papers' "fail" rows), with no final error
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path))
    events.Reload()
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
    final = events.Scalars("hparam/final_error")[-1].value
    steps = events.Scalars("hparam/steps")[-1].value
    assert math.isnan(final) and steps == on_disk["step"]


@pytest.mark.parametrize(
    ("inf_from", "eval_every", "diverged_at", "evaluated"), [(6, 20, 10, False), (12, 5, 15, True)]
)
def test_an_infinite_loss_is_a_divergence_too(
    tiny_run: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inf_from: int,
    eval_every: int,
    diverged_at: int,
    evaluated: bool,
) -> None:
    """Caught at the next check; a run diverged after evaluations keeps its last evaluation's
    error as the last one, not as the run's figure."""
    real_step = Trainer.train_step

    def overflowing(self: Trainer, x: torch.Tensor, y: torch.Tensor) -> object:
        loss, wrong = real_step(self, x, y)
        return (loss * math.inf if self.state.step >= inf_from else loss), wrong

    monkeypatch.setattr(Trainer, "train_step", overflowing)
    result = fit([*tiny_run, "trainer.max_steps=30", f"trainer.eval_every={eval_every}"], tmp_path)
    assert (result["status"], result["diverged_at_step"]) == ("diverged", diverged_at)
    assert (result["last_test_error"] is not None) == evaluated
    assert result["final_test_error"] is None


def test_a_net_whose_outputs_are_not_finite_is_a_divergence_not_a_figure(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: lr=1e6 left the loss finite (7e26) and every output NaN; argmax then answers
    class 0 for every image, and the run was "completed" with the share of other classes as its
    error (the best error too). Here BN's running mean turns NaN: training (batch statistics)
    goes on finite, evaluation (running statistics) does not."""
    real_build = Trainer.build

    def poisoned(self: Trainer, *args: object) -> None:
        real_build(self, *args)
        bn = next(m for m in self.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
        bn.running_mean.fill_(math.nan)

    monkeypatch.setattr(Trainer, "build", poisoned)
    overrides = [*tiny_run, "trainer.max_steps=10", "trainer.eval_every=5", "trainer.ckpt_every=5"]
    result = fit(overrides, tmp_path)
    assert (result["status"], result["diverged_at_step"]) == ("diverged", 5)
    assert result["best_test_error"] is None and result["final_test_error"] is None
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert not any("test/error" in line for line in lines)  # no error of it, anywhere
    assert list_checkpoints(tmp_path / "ckpt") == []  # nor a checkpoint to resume it from


def test_a_max_steps_off_the_eval_grid_is_evaluated_at_its_end(
    tiny_run: list[str], tmp_path: Path
) -> None:
    """The papers' figure is the error after the last step, whatever eval_every is."""
    result = fit([*tiny_run, "trainer.max_steps=13", "trainer.eval_every=10"], tmp_path)
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    evals = [(x["step"], x["test/error"]) for x in lines if "test/error" in x]
    assert [step for step, _ in evals] == [10, 13]
    assert (result["step"], result["final_test_error"]) == (13, evals[-1][1])


def test_resume_skips_completed_and_rejects_a_different_config(
    tiny_run: list[str], tmp_path: Path
) -> None:
    args = [*tiny_run, "trainer.max_steps=10", "trainer.eval_every=10"]
    first = fit(args, tmp_path)
    again = fit([*args, "resume=true"], tmp_path)
    assert again["finished_at"] == first["finished_at"]  # nothing was re-run
    with pytest.raises(ConfigError, match=r"model\.depth"):  # finished, but not this run
        fit([*args, "resume=true", "model.depth=14"], tmp_path)
    (tmp_path / "result.json").unlink()
    with pytest.raises(ConfigError, match=r"model\.depth"):
        fit([*args, "resume=true", "model.depth=14"], tmp_path)
    with pytest.raises(ConfigError, match=r"trainer\.precision"):  # rounding: a different run
        fit([*args, "resume=true", "trainer.precision=bf16"], tmp_path)
    with pytest.raises(UserError, match="resume=true"):
        fit(args, tmp_path)  # a folder holding a run is never overwritten silently
    # a run of an older lab lacks an option added since: it had the default, and is compared so
    fit(args, tmp_path / "old")
    record = json.loads((tmp_path / "old/result.json").read_text())
    del record["config"]["data"]["augment"]
    (tmp_path / "old/result.json").write_text(json.dumps(record))
    assert fit([*args, "resume=true"], tmp_path / "old")["status"] == "completed"
    with pytest.raises(ConfigError, match=r"data\.augment: True -> False"):
        fit([*args, "resume=true", "data.augment=false"], tmp_path / "old")


def test_resume_may_change_the_levers_that_leave_results_unchanged(
    tiny_run: list[str], tmp_path: Path
) -> None:
    tiny_run = [*tiny_run, "trainer.eval_every=4"]
    first = fit([*tiny_run, "trainer.max_steps=4"], tmp_path)
    (tmp_path / "result.json").unlink()  # as if killed after its last checkpoint
    speed_only = ["trainer.channels_last=false", "trainer.cudnn_benchmark=false"]
    speed_only += ["trainer.progress=bar"]  # the display, neither
    more = fit([*tiny_run, "trainer.max_steps=8", "resume=true", *speed_only], tmp_path)
    assert (first["step"], more["step"], more["status"]) == (4, 8, "completed")


def test_values_torch_or_the_report_would_trip_over_are_refused(tiny_run: list[str]) -> None:
    """A fuzz of the command line: a class count of the net other than the data's was the loss's
    IndexError at the first step, one below 2 or a 23-digit integer torch's trace as the net was
    built; a published figure the report cannot read trained, to be refused by the report."""
    huge = "9" * 23
    for overrides, said in [
        (
            ["model.num_classes=3"],
            "model.num_classes=3: the net has one output per class of the "
            "data (data.num_classes=10); leave it out, it follows them",
        ),
        (["data.num_classes=-1"], "data.num_classes=-1 must be at least 2"),
        (["data.num_classes=1"], "data.num_classes=1 must be at least 2"),
        ([f"model.widen_factor={huge}"], f"model.widen_factor={huge} is past a 64-bit integer"),
        ([f"model.widen_factor={2**63}"], f"model.widen_factor={2**63} is past a 64-bit"),
        ([f"data.synthetic_train_size={huge}"], "synthetic_train_size=9999"),
        (
            ["experiment.reported=abc"],
            "experiment.reported='abc' must be the paper's error in "
            "percent (e.g. '6.61'), 'fail' or null (no figure)",
        ),
        (["experiment.reported=-5"], "experiment.reported='-5' must be the paper's error"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(said)):
            check_trainer_config(compose_config([*tiny_run, *overrides]))
    for edge in [  # the classes of CIFAR-100 and of 2-class data; 64 bits; the figures there are
        ["data.num_classes=100"],
        ["data.num_classes=2"],
        [f"trainer.max_steps={2**63 - 1}"],
        ["experiment.reported=fail"],
        ["experiment.reported='6.61'"],
        ["experiment.reported=100"],
    ]:
        check_trainer_config(compose_config([*tiny_run, *edge]))


def test_the_sweeps_check_before_training_leaves_the_config_as_it_was(
    tiny_run: list[str],
) -> None:
    """The sweep's preflight: a bad setting is refused as the run would refuse it, and the
    caller's config is as it was (the Trainer makes data.root absolute)."""
    with pytest.raises(ConfigError, match=re.escape("trainer.lr=-1.0 must be positive")):
        check_before_training(compose_config([*tiny_run, "trainer.lr=-1"]))
    cfg = compose_config([*tiny_run, "data.root=relative/data"])
    before = OmegaConf.to_container(cfg)
    check_before_training(cfg)
    assert OmegaConf.to_container(cfg) == before


def test_a_folder_with_damaged_checkpoints_is_still_refused(
    tiny_run: list[str], tmp_path: Path
) -> None:
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "step_0000010.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="already holds a run"):
        fit([*tiny_run, "trainer.max_steps=5"], tmp_path)


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        (["trainer.max_steps=0"], "trainer.max_steps=0 must be at least 1"),
        (["trainer.keep_checkpoints=0"], "trainer.keep_checkpoints=0 must be at least 1"),
        *[
            ([f"trainer.{key}=0"], f"trainer.{key}=0 must be at least 1")
            for key in ("batch_size", "log_every", "eval_every", "ckpt_every", "eval_batch_size")
        ],
        (["trainer.precision=fp8"], "trainer.precision=fp8"),
        (["trainer.progress=fancy"], "choose auto, bar or none"),
        (["trainer.lr=-1"], "trainer.lr=-1.0 must be positive"),
        (["trainer.lr=0"], "trainer.lr=0.0 must be positive"),
        (["trainer.lr_decay=-1"], "trainer.lr_decay=-1.0 must be in (0, 1]"),
        (["trainer.lr_decay=0"], "trainer.lr_decay=0.0 must be in (0, 1]"),
        (["trainer.warmup_lr=-0.01"], "trainer.warmup_lr=-0.01 must be positive"),
        (["trainer.warmup_steps=-1"], "trainer.warmup_steps=-1 must not be negative"),
        (["trainer.momentum=-0.5"], "trainer.momentum=-0.5 must be in [0, 1)"),
        (["trainer.momentum=1"], "trainer.momentum=1.0 must be in [0, 1)"),
        (["trainer.weight_decay=-1e-4"], "trainer.weight_decay=-0.0001 must not be negative"),
        (["trainer.bn_group=6"], "trainer.bn_group=6 must divide trainer.batch_size=16 into"),
        (["trainer.bn_group=-8"], "trainer.bn_group=-8 must divide trainer.batch_size=16 into"),
        (["trainer.bn_group=32"], "trainer.bn_group=32 must divide trainer.batch_size=16 into"),
        # a non-finite value trained as lr 0.1 in the warm-up, or "diverged" (the papers' fail)
        (["trainer.lr=inf"], "trainer.lr=inf must be a finite number"),
        (["trainer.weight_decay=inf"], "trainer.weight_decay=inf must be a finite number"),
        (["shortcut=scale", "shortcut.scale=nan"], "shortcut.scale=nan must be a finite number"),
        (["shortcut=gate", "shortcut.gate_bias=-inf"], "shortcut.gate_bias=-inf must be a finite"),
        (["trainer.nesterov=true", "trainer.momentum=0"], "nesterov=true needs a momentum"),
        (["trainer.milestones=[48000,32000]"], "must be increasing"),
        (["trainer.milestones=[32000,32000]"], "must be increasing"),  # decayed twice at once
        (["trainer.device=tpu"], "trainer.device=tpu"),
        (["trainer.precision=tf32", "trainer.device=cpu"], "precision=tf32 needs CUDA"),
        *[  # torch.compile leaves the graphs out on the CPU, silently
            (
                ["trainer.compile=true", f"trainer.compile_mode={mode}"],
                f"trainer.compile_mode={mode} records CUDA graphs, which need CUDA, not cpu",
            )
            for mode in ("reduce-overhead", "max-autotune")
        ],
        (
            [
                "model.survival_last=0.5",
                "trainer.compile=true",
                "trainer.compile_mode=reduce-overhead",
            ],
            "(CUDA graphs) with stochastic depth",
        ),
    ],
)
def test_trainer_option_mistakes_are_clear(
    tiny_run: list[str], tmp_path: Path, overrides: list[str], text: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(text)):
        Trainer(compose_config([*tiny_run, *overrides]), tmp_path)


def test_a_gpu_the_machine_lacks_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from resnet_lab.device import parse_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert parse_device("auto", "trainer.device") == torch.device("cuda")  # a GPU where one is
    flags = (torch.backends.cudnn, torch.backends.cuda.matmul)  # properties: set, then restore
    saved = [f.allow_tf32 for f in flags]
    try:
        for f in flags:
            f.allow_tf32 = True
        assert resolve_device("cuda:0") == torch.device("cuda:0")
        # any tool on CUDA computes float32 as IEEE, not in PyTorch's default TF32 convolutions
        assert not any(f.allow_tf32 for f in flags)
    finally:
        for f, on in zip(flags, saved, strict=True):
            f.allow_tf32 = on
    for beyond in ("cuda:1", "cuda:3"):  # GPUs count from 0
        with pytest.raises(ConfigError, match="has 1 GPU"):
            resolve_device(beyond)
    with pytest.raises(ConfigError, match=re.escape("--device=gpu: choose auto, cpu, cuda")):
        resolve_device("gpu", "--device")  # the option as the tool names it
    with pytest.raises(ConfigError, match=re.escape("--device=cpu:1: choose auto, cpu, cuda")):
        resolve_device("cpu:1", "--device")  # torch takes it as the CPU; it was recorded so
    assert resolve_device("cpu:0") == torch.device("cpu:0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")
    assert parse_device("auto", "trainer.device") == torch.device("cpu")


def test_a_gpu_is_recorded_by_its_own_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """cuda:1 was never named on a machine without CUDA: not the first GPU's name."""
    from resnet_lab import device

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda d=None: f"GPU {torch.device(d)}")
    assert device.device_name(torch.device("cuda:1")) == "GPU cuda:1"


def test_a_cpu_is_recorded_by_its_model_and_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    """result.json's device: the model name of /proc/cpuinfo (platform.processor() says
    "x86_64" on Linux) and the core count."""
    from resnet_lab import device

    cpuinfo = "processor\t: 0\nmodel\t\t: 85\nmodel name\t: Some CPU @ 2.0GHz\nflags\t\t: avx\n"
    monkeypatch.setattr(device.Path, "read_text", lambda self: cpuinfo)
    expected = f"Some CPU @ 2.0GHz ({os.cpu_count()} cores)"
    assert device.device_name(torch.device("cpu")) == expected


def test_two_runs_never_share_a_folder(tiny_run: list[str], tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "run.lock").write_text(f"{os.uname().nodename} {holder.pid}\n")
        with pytest.raises(UserError, match="another run"):
            fit([*tiny_run, "trainer.max_steps=5"], tmp_path)
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(tmp_path)  # the holder is gone: its stale lock is taken over
    lock.acquire()
    lock.release()


def test_default_run_folders_are_unique() -> None:
    """Runs started in the same second get distinct folders (microseconds in the name)."""
    import resnet_lab.conf

    conf = OmegaConf.load(Path(resnet_lab.conf.__file__).parent / "config.yaml")
    assert OmegaConf.to_container(conf)["hydra"]["run"]["dir"].endswith("%H-%M-%S-%f}")


@pytest.mark.skipif(
    not (SHARED / "data" / "cifar-10-batches-bin").is_dir(), reason="real CIFAR-10 not present"
)
def test_real_cifar10_short_run(tmp_path: Path) -> None:
    result = fit(
        [
            f"data.root={SHARED / 'data'}",
            "data.limit=2000",
            "model.depth=8",
            "model.width=4",
            "trainer.batch_size=64",
            "trainer.max_steps=30",
            "trainer.eval_every=30",
            "trainer.log_every=10",
            "trainer.progress=none",
            "trainer.device=cpu",
            "trainer.warmup_steps=0",
        ],
        tmp_path,
    )
    assert result["status"] == "completed" and result["final_test_error"] < 90.0
    bins = (SHARED / "data" / "cifar-10-batches-bin").resolve()
    assert result["data_source"] == f"{bins} (binary, md5-verified)"


def test_a_crash_is_recorded_as_failed_with_its_error(
    tiny_run: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing lost on a crash: the checkpoints stay and result.json names the error."""
    real_step = Trainer.train_step
    calls = []

    def crash_on_step_8(self: Trainer, x: torch.Tensor, y: torch.Tensor) -> tuple:
        calls.append(1)
        if len(calls) == 8:
            raise RuntimeError("simulated out-of-memory")
        return real_step(self, x, y)

    monkeypatch.setattr(Trainer, "train_step", crash_on_step_8)
    with pytest.raises(RuntimeError, match="simulated"):
        fit([*tiny_run, "trainer.max_steps=20", "trainer.ckpt_every=5"], tmp_path)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["status"] == "failed" and "simulated out-of-memory" in result["error"]
    assert list_checkpoints(tmp_path / "ckpt")[-1].name == "step_0000005.pt"


def test_sweeps_spread_jobs_over_gpus(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = compose_config()
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    spread_over_gpus(cfg, 6)
    assert cfg.trainer.device == "cuda:2"
    pinned = compose_config(["trainer.device=cpu"])
    spread_over_gpus(pinned, 6)  # an explicit device is left alone
    assert pinned.trainer.device == "cpu"
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    single = compose_config()
    spread_over_gpus(single, 6)
    assert single.trainer.device == "auto"


@pytest.mark.parametrize(
    ("launcher", "target", "values"),
    [
        ("parallel", "JoblibLauncher", {"n_jobs": 2}),
        (  # requeued at a time limit: the run continues (SLURM_RESTART_COUNT)
            "slurm",
            "SlurmLauncher",
            {"gpus_per_node": 1, "timeout_min": 240, "nodes": 1, "max_num_timeout": 3},
        ),
    ],
)
def test_launcher_configs_compose(launcher: str, target: str, values: dict) -> None:
    """The README's `hydra/launcher=parallel|slurm` resolve to Hydra's joblib/submitit plugins."""
    from hydra import compose, initialize_config_module

    with initialize_config_module("resnet_lab.conf", version_base="1.3"):
        cfg = compose("config", [f"hydra/launcher={launcher}"], return_hydra_config=True)
    assert cfg.hydra.launcher._target_.endswith(target)
    assert {k: cfg.hydra.launcher[k] for k in values} == values


def test_gate_means_weigh_every_eval_image_alike(tiny_run: list[str], tmp_path: Path) -> None:
    """A short last eval batch (128 = 100 + 28) must not count as much as a full one."""
    common = [*tiny_run, "shortcut=gate", "trainer.max_steps=2", "trainer.eval_every=2"]

    def gate_means(batch: int) -> dict[str, float]:
        run_dir = tmp_path / str(batch)
        fit([*common, f"trainer.eval_batch_size={batch}"], run_dir)
        lines = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return {k: v for line in lines for k, v in line.items() if k.startswith("gate/")}

    whole, split = gate_means(128), gate_means(100)
    assert whole.keys() == split.keys() and len(whole) == 3
    assert split == pytest.approx(whole, rel=1e-5)
    # with the test set evaluated beside the validation images, the means are still the
    # validation images' alone, and no hook outlives the evaluation, cut short or not
    trainer = Trainer(
        compose_config([*common, "data.split=val", "trainer.test_at_best_val=true"]), tmp_path
    )
    trainer.build()
    logged: list[dict[str, float]] = []
    trainer._log = logged.append  # type: ignore[method-assign]
    gates = [m for m in trainer.model.modules() if isinstance(m, GateActivation)]
    sums = [0.0] * len(gates)

    def expected(i: int) -> Any:
        def hook(module: torch.nn.Module, inputs: Any, out: torch.Tensor) -> None:
            sums[i] += (out.float().sum() / out[0].numel()).item()

        return hook

    hooks = [g.register_forward_hook(expected(i)) for i, g in enumerate(gates)]
    trainer.model.eval()
    with torch.no_grad():
        for x, _ in eval_batches(trainer.data, 100):
            trainer.model(x)
    for h in hooks:
        h.remove()
    flag = SimpleNamespace(signum=None)
    assert trainer._evaluate(flag)  # type: ignore[arg-type]
    images = len(trainer.data.eval_labels)
    means = [logged[0][f"gate/unit_{i:03d}"] for i in range(len(gates))]
    assert means == pytest.approx([s / images for s in sums], rel=1e-5)
    assert "test/error" in logged[0] and not any(g._forward_hooks for g in gates)
    flag.signum = signal.SIGTERM
    assert not trainer._evaluate(flag)  # type: ignore[arg-type]
    assert not any(g._forward_hooks for g in gates) and trainer.model.training


def test_the_progress_bar_keeps_log_lines_off_its_line_and_off_a_dumb_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An evaluation's log line was glued to the end of the bar's line, and TERM=dumb (an
    editor's shell) got the bar's carriage-return redraws as garbage."""
    from resnet_lab.train import _NoBar, _progress_bar

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    monkeypatch.setenv("TERM", "dumb")
    with _progress_bar("auto", 10, 0) as bar:
        assert isinstance(bar, _NoBar)
    monkeypatch.setenv("TERM", "xterm")
    console = logging.StreamHandler(sys.stderr)  # as Hydra's console handler
    logging.root.addHandler(console)
    try:
        with _progress_bar("auto", 10, 0) as bar:
            assert not isinstance(bar, _NoBar)
            # tqdm's handler stands in for it: it writes the line above the bar, then redraws
            assert console not in logging.root.handlers
        assert console in logging.root.handlers
    finally:
        logging.root.removeHandler(console)
