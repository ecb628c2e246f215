"""Published checkpoints: the peer nets import strictly and compute the peer's function; a
resnet-lab checkpoint round-trips; resnet-lab-eval reports an error.

The peer files and the real CIFAR-10 files live outside the repository (../shared); tests that
need them are skipped when they are absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED
from omegaconf import OmegaConf

from resnet_lab.api import compose_config
from resnet_lab.checkpoint import CheckpointError, save_checkpoint
from resnet_lab.data import load_data, normalize
from resnet_lab.evaluate import main as eval_main
from resnet_lab.models import build_network
from resnet_lab.models.shortcuts import ZeroPadDownsample
from resnet_lab.pretrained import (
    PEER_MEAN,
    PEER_STD,
    data_config,
    load_pretrained,
    peer_to_lab_state_dict,
    read_checkpoint,
    training_mean,
)

PEERS = SHARED / "peer-checkpoints"
PEER_FILES = {20: "pytorch_resnet_cifar10-resnet20.th", 56: "pytorch_resnet_cifar10-resnet56.th"}
CIFAR = SHARED / "data"


pytestmark = pytest.mark.usefixtures("one_thread")


def peer_path(depth: int) -> Path:
    path = PEERS / PEER_FILES[depth]
    if not path.is_file():
        pytest.skip(f"peer checkpoint {path} not present")
    return path


def peer_state_dict(depth: int) -> dict[str, torch.Tensor]:
    state = torch.load(peer_path(depth), map_location="cpu", weights_only=True)
    return {k.removeprefix("module."): v for k, v in state["state_dict"].items()}


@pytest.mark.parametrize(("depth", "downsampling"), [(20, [3, 6]), (56, [9, 18])])
def test_peer_checkpoints_load_strictly(depth: int, downsampling: list[int]) -> None:
    model = load_pretrained(peer_path(depth))
    assert not model.training
    assert len(model.units) == (depth - 2) // 2
    assert model.downsampling_units == downsampling
    peer = peer_state_dict(depth)
    mapped = peer_to_lab_state_dict(peer)
    assert len(mapped) == len(peer)  # every peer tensor has a place
    own = model.net.state_dict()
    for key, value in mapped.items():
        assert torch.equal(own[key], value), key
    unfilled = set(own) - set(mapped)
    assert unfilled and all(k.endswith("num_batches_tracked") for k in unfilled)


def test_peer_with_foreign_tensors_is_rejected(tmp_path: Path) -> None:
    peer = {f"module.{k}": v for k, v in peer_state_dict(20).items()}
    peer["module.layer2.0.shortcut.0.weight"] = torch.zeros(32, 16, 1, 1)  # option B
    torch.save({"state_dict": peer, "best_prec1": 0.0}, tmp_path / "b.th")
    with pytest.raises(CheckpointError, match="shortcut"):
        load_pretrained(tmp_path / "b.th")


def test_unknown_file_is_rejected(tmp_path: Path) -> None:
    torch.save({"weights": torch.zeros(1)}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match="neither"):
        read_checkpoint(tmp_path / "x.pt")


def test_option_a_padding_equals_the_peers() -> None:
    x = torch.randn(2, 16, 8, 8)
    planes = 32
    peer = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0)
    assert torch.equal(ZeroPadDownsample(16, planes, 2)(x), peer)


def _bn(x: torch.Tensor, sd: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return F.batch_norm(
        x,
        sd[f"{name}.running_mean"],
        sd[f"{name}.running_var"],
        sd[f"{name}.weight"],
        sd[f"{name}.bias"],
        training=False,
        eps=1e-5,
    )


def peer_forward(sd: dict[str, torch.Tensor], images: torch.Tensor) -> tuple[list, torch.Tensor]:
    """pytorch_resnet_cifar10's ResNet written out by hand: unit outputs and logits."""
    mean = torch.tensor(PEER_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(PEER_STD).view(1, 3, 1, 1)
    x = (images.float() / 255 - mean) / std
    out = F.relu(_bn(F.conv2d(x, sd["conv1.weight"], padding=1), sd, "bn1"))
    units = []
    for stage in (1, 2, 3):
        i = 0
        while f"layer{stage}.{i}.conv1.weight" in sd:
            p = f"layer{stage}.{i}"
            stride = 2 if stage > 1 and i == 0 else 1
            y = F.relu(
                _bn(
                    F.conv2d(out, sd[f"{p}.conv1.weight"], stride=stride, padding=1), sd, f"{p}.bn1"
                )
            )
            y = _bn(F.conv2d(y, sd[f"{p}.conv2.weight"], padding=1), sd, f"{p}.bn2")
            if stride != 1 or out.shape[1] != y.shape[1]:
                planes = y.shape[1]
                out = F.pad(out[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))
            out = F.relu(y + out)
            units.append(out)
            i += 1
    logits = F.linear(
        F.avg_pool2d(out, out.shape[3]).flatten(1), sd["linear.weight"], sd["linear.bias"]
    )
    return units, logits


def test_imported_peer_computes_the_peer_function() -> None:
    sd = peer_state_dict(20)
    model = load_pretrained(peer_path(20))
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    outputs: list[torch.Tensor] = []
    hooks = [u.register_forward_hook(lambda m, a, o: outputs.append(o)) for u in model.units]
    with torch.no_grad():
        logits = model(images)
        floats = model(images.float() / 255)  # [0, 1] floats are the same input
    for h in hooks:
        h.remove()
    ref_units, ref_logits = peer_forward(sd, images)
    for i in (0, 2, 3, 5, 6, 8):  # first, last, downsampling units and their neighbours
        torch.testing.assert_close(outputs[i], ref_units[i], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(floats, logits)


def tiny_run(folder: Path, depth: int = 8) -> tuple[torch.nn.Module, dict]:
    """A random-weight tiny net saved as a resnet-lab checkpoint of a synthetic-data run."""
    cfg = compose_config([f"model.depth={depth}", "model.width=4", "data=synthetic"])
    torch.manual_seed(0)
    net = build_network(cfg)
    with torch.no_grad():  # non-trivial BN statistics, so a wrong load would show
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.bias.uniform_(-0.5, 0.5)
    config = OmegaConf.to_container(cfg, resolve=True)
    state = {"model": net.state_dict(), "config": config, "train_state": {"step": 7}}
    save_checkpoint(state, folder / "ckpt", 7, keep=1)
    return net.eval(), config


def test_resnet_lab_checkpoint_round_trip(tmp_path: Path) -> None:
    net, _ = tiny_run(tmp_path)
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    mean = torch.rand(3, 32, 32)
    for path in (tmp_path, tmp_path / "ckpt" / "step_0000007.pt"):
        model = load_pretrained(path, mean=mean)
        assert model.info["kind"] == "resnet-lab" and model.info["step"] == 7
        with torch.no_grad():
            assert torch.equal(model(images), net(normalize(images, mean)))
    # Without a mean, it is computed from the run's own training set (synthetic here).
    from resnet_lab.data import load_data

    data = load_data(compose_config(["data=synthetic"]).data, "cpu")
    assert torch.equal(load_pretrained(tmp_path).mean, data.mean)


def test_eval_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_run(tmp_path)
    assert eval_main([str(tmp_path), "--limit", "40", "--device", "cpu"]) == 0
    assert "test error:" in capsys.readouterr().out
    assert eval_main([str(tmp_path / "missing")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err


def test_peer_accuracy_on_real_test_images() -> None:
    """The first 500 real test images: the peer ResNet-20 errs on about 9% of them."""
    if not (CIFAR / "cifar-10-batches-bin" / "test_batch.bin").is_file():
        pytest.skip("real CIFAR-10 not present")
    from resnet_lab.evaluate import evaluate, image_batches, prepare

    model, data = prepare(peer_path(20), str(CIFAR), torch.device("cpu"))
    n = 500
    error = evaluate(model, image_batches(data.eval_images[:n], data.eval_labels[:n], 250))
    assert 4.0 < error < 14.0


@pytest.mark.parametrize(
    "saved", [{"split": "full"}, {"split": "val"}, {"split": "val", "limit": 100}, {"limit": 7}]
)
def test_training_mean_is_the_mean_the_run_trained_with(saved: dict) -> None:
    """Evaluation recomputes a run's normalisation from the full training set: it must pick the
    rows load_data trained on for the run's split and limit."""
    full = load_data(data_config({"name": "synthetic"}, split="full", limit=None), "cpu")
    trained = load_data(data_config({"name": "synthetic", **saved}), "cpu")
    torch.testing.assert_close(training_mean(full.train_images, saved), trained.mean)


class _NotATensor:
    """Pickled into a file, it makes torch.load(weights_only=True) refuse the file."""


@pytest.mark.parametrize("kind", ["json", "pickled_object", "damaged"])
def test_file_that_is_not_a_checkpoint_is_a_clear_error(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """E.g. a run's result.json: a CheckpointError saying what is expected, never torch's
    weights_only text ("Please file an issue")."""
    tiny_run(tmp_path)
    path = tmp_path / ("result.json" if kind == "json" else "x.pt")
    if kind == "json":
        path.write_text('{"status": "finished"}\n')
    else:
        torch.save({"model": _NotATensor()}, path)
        if kind == "damaged":
            path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError, match="not a resnet-lab checkpoint") as caught:
        read_checkpoint(path)
    message = str(caught.value)
    assert "run folder or its ckpt/step_*.pt file" in message
    assert f"did you mean its run folder {tmp_path}?" in message
    assert "Please file an issue" not in message and "\n" not in message
    assert eval_main([str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resnet-lab-eval: error: ") and "not a resnet-lab checkpoint" in err
