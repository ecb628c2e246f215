"""Published checkpoints: the peer nets import strictly and compute the peer's function; a
resnet-lab checkpoint round-trips; resnet-lab-eval reports an error.

The peer files and the real CIFAR-10 files live outside the repository (../shared); tests that
need them are skipped when they are absent.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED, as_saved_before_the_options
from omegaconf import OmegaConf

from resnet_lab.api import compose_config
from resnet_lab.checkpoint import CheckpointError, save_checkpoint
from resnet_lab.data import load_data, normalize
from resnet_lab.errors import ConfigError
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
    training_statistics,
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
    # the mapping itself, by hand: the peer's unit j of stage s is unit (s-1)*n+j here, its
    # conv1-bn1-relu-conv2-bn2 the branch's layers 0, 1, 3, 4
    n = (depth - 2) // 6
    for lab, theirs in (
        ("stem.0.weight", "conv1.weight"),
        ("stem.1.running_var", "bn1.running_var"),
        ("fc.bias", "linear.bias"),
        ("units.0.branch.1.weight", "layer1.0.bn1.weight"),
        ("units.0.branch.4.bias", "layer1.0.bn2.bias"),
        (f"units.{n + 1}.branch.3.weight", "layer2.1.conv2.weight"),
        (f"units.{3 * n - 1}.branch.4.running_mean", f"layer3.{n - 1}.bn2.running_mean"),
    ):
        assert torch.equal(own[lab], peer[theirs]), (lab, theirs)
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


def test_a_torchvision_net_is_no_peer_checkpoint(tmp_path: Path) -> None:
    """A torchvision ResNet saved as {"state_dict": ...} has conv1, no linear: it was taken
    for a peer checkpoint, and the eval tool ended in a StopIteration trace."""
    from torchvision.models import resnet18

    torch.save({"state_dict": resnet18(num_classes=10).state_dict()}, tmp_path / "tv.th")
    with pytest.raises(CheckpointError, match="neither a resnet-lab checkpoint"):
        read_checkpoint(tmp_path / "tv.th")


def test_a_checkpoint_of_a_newer_lab_is_one_line_naming_it(tmp_path: Path) -> None:
    """A config key this lab does not know: OmegaConf's six lines, the file unnamed."""
    from resnet_lab.pretrained import lab_network

    tiny_run(tmp_path)
    (path,) = (tmp_path / "ckpt").glob("*.pt")
    state = torch.load(path, weights_only=True)
    state["config"]["model"]["foo"] = 1
    torch.save(state, tmp_path / "newer.pt")
    with pytest.raises(CheckpointError) as refused:
        lab_network(read_checkpoint(tmp_path / "newer.pt"))
    assert str(refused.value) == (
        f"{tmp_path / 'newer.pt'}: its config does not fit this resnet-lab (a newer version's?): "
        "model.foo: Key 'foo' not in 'ModelCfg'"
    )


def test_option_a_padding_equals_the_peers() -> None:
    x = torch.randn(2, 16, 8, 8)
    planes = 32
    peer = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4), "constant", 0)
    assert torch.equal(ZeroPadDownsample(planes, 2)(x), peer)


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


def tiny_run(
    folder: Path, *overrides: str, statistics: dict | None = None
) -> tuple[torch.nn.Module, dict]:
    """A random-weight tiny net saved as a resnet-lab checkpoint of a synthetic-data run; with
    ``statistics`` ({"mean", "std"}) saved as the trainer saves them, else as an earlier lab's
    checkpoint (none saved)."""
    cfg = compose_config(["model.depth=8", "model.width=4", "data=synthetic", *overrides])
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
    if statistics is not None:
        state["input_statistics"] = statistics
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


def test_a_checkpoint_under_the_home_folder_is_read_from_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resnet-lab-lesion's checkpoint='~/run' reaches read_checkpoint as typed (Hydra expands
    no '~'): it said "no checkpoint" for a run that was there."""
    tiny_run(tmp_path / "run")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert read_checkpoint("~/run").path == tmp_path / "run" / "ckpt" / "step_0000007.pt"


def test_eval_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tiny_run(tmp_path)  # its checkpoint is at step 7 of the recipe's 64,000
    assert eval_main([str(tmp_path), "--limit", "40", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "test error:" in out
    assert "note:       step 7 of 64,000: the run had not finished training (a partial net)" in out
    _, config = tiny_run(tmp_path / "done", "trainer.max_steps=7")
    assert eval_main([str(tmp_path / "done"), "--limit", "40", "--device", "cpu"]) == 0
    assert "not finished" not in capsys.readouterr().out
    # an earlier checkpoint of such a finished run: not "a partial net" of an unfinished run
    state = {"model": load_pretrained(tmp_path / "done").net.state_dict(), "config": config}
    for step in (3, 7):
        went_on = tmp_path / "went_on" / "ckpt"
        save_checkpoint({**state, "train_state": {"step": step}}, went_on, step, 2)
    given = went_on / "step_0000003.pt"
    assert eval_main([str(given), "--limit", "40", "--device", "cpu"]) == 0
    assert (
        "note:       step 3 of 7: an earlier checkpoint of its run, which went on (1 newer "
        "checkpoint(s) beside it)" in capsys.readouterr().out
    )
    # outside a run's ckpt/ folder its run is not known, whatever lies beside it (a file whose
    # name sorts first was taken for an earlier checkpoint of a run that went on)
    nets = tmp_path / "nets" / "ckpt_copies"
    nets.mkdir(parents=True)
    for name in ("step_0000003.pt", "step_0000003.pt.sha256", "step_0000007.pt"):
        shutil.copy(went_on / name, nets / name)
    assert eval_main([str(nets / "step_0000003.pt"), "--limit", "40", "--device", "cpu"]) == 0
    assert (
        "note:       step 3 of 7: saved before its run's last step (a partial net)"
        in capsys.readouterr().out
    )
    assert eval_main([str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err.endswith("(no such checkpoint file or run folder)\n")
    assert eval_main([str(tmp_path / ("x" * 300))]) == 2  # past the file system's names
    assert capsys.readouterr().err.endswith("the file system refuses it (File name too long)\n")
    assert eval_main([f"checkpoint={tmp_path / 'done'}"]) == 2  # resnet-lab-lesion's spelling
    assert f"run folder): give the path alone, {tmp_path / 'done'}\n" in capsys.readouterr().err
    assert eval_main([str(tmp_path / "done"), "--device", "meta"]) == 2  # torch names it
    assert "--device=meta: the lab trains and measures on cpu or cuda" in capsys.readouterr().err
    # synthetic data are generated: a --data-root (here a folder that does not exist) is unused
    args = [str(tmp_path / "done"), "--limit", "40", "--device", "cpu", "--data-root", "/no/dir"]
    assert eval_main(args) == 0
    assert (
        "note:       --data-root /no/dir is not used: the run trained on synthetic data, "
        "generated, not read" in capsys.readouterr().out
    )
    args[-1] = ""  # an unset variable: shown as such
    assert eval_main(args) == 0
    assert "note:       --data-root '' is not used: the run" in capsys.readouterr().out


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_loading_onto_cuda_without_it_is_not_called_a_damaged_checkpoint(tmp_path: Path) -> None:
    tiny_run(tmp_path)
    with pytest.raises(ConfigError, match=r"map_location=cuda but CUDA is not available"):
        load_pretrained(tmp_path, map_location="cuda")
    with pytest.raises(ConfigError, match=r"map_location=mps: the lab trains and measures on"):
        load_pretrained(tmp_path, map_location="mps")  # read as a damaged checkpoint
    assert load_pretrained(tmp_path, map_location="auto").mean.device.type == "cpu"


def test_a_damaged_newest_checkpoint_is_passed_over_in_words_that_fit_a_reader(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not 'resuming from': eval, gates and load_pretrained resume nothing."""
    _, config = tiny_run(tmp_path)
    newest = save_checkpoint({"model": {}, "config": config}, tmp_path / "ckpt", 8, keep=2)
    newest.write_bytes(newest.read_bytes()[:100])
    with caplog.at_level("WARNING"):
        assert load_pretrained(tmp_path).info["step"] == 7
    assert "using the previous good checkpoint step_0000007.pt" in caplog.text
    assert "resuming" not in caplog.text
    # eval's note says why it measured an earlier net: not "the run had not finished"
    eight_steps = {**config, "trainer": {**config["trainer"], "max_steps": 8}}
    older = {"model": load_pretrained(tmp_path).net.state_dict(), "config": eight_steps}
    save_checkpoint({**older, "train_state": {"step": 7}}, tmp_path / "done" / "ckpt", 7, keep=2)
    damaged = save_checkpoint(
        {**older, "train_state": {"step": 8}}, tmp_path / "done" / "ckpt", 8, keep=2
    )
    damaged.write_bytes(damaged.read_bytes()[:100])
    assert eval_main([str(tmp_path / "done"), "--limit", "20", "--device", "cpu"]) == 0
    assert (
        "note:       step 7 of 8: the run's 1 newer checkpoint(s) could not be read (damaged), "
        "so an earlier net's" in capsys.readouterr().out
    )
    # none usable: each problem said once, in the error (a warning said it before)
    lone = save_checkpoint({**older, "train_state": {"step": 8}}, tmp_path / "lone" / "ckpt", 8, 1)
    lone.write_bytes(lone.read_bytes()[:100])
    caplog.clear()
    with caplog.at_level("WARNING"):
        assert eval_main([str(tmp_path / "lone"), "--device", "cpu"]) == 2
    said = caplog.text + capsys.readouterr().err
    assert said.count("checksum mismatch") == 1 and "no usable checkpoint in" in said


def test_a_damaged_checkpoint_is_told_when_reading_an_older_one_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Its warning waits until a usable one is found (else the error says it): an error
    reading the older one (a disk's, Ctrl-C) lost it."""
    from resnet_lab import checkpoint

    _, config = tiny_run(tmp_path)
    newest = save_checkpoint({"model": {}, "config": config}, tmp_path / "ckpt", 8, keep=2)
    newest.write_bytes(newest.read_bytes()[:100])
    load = checkpoint.load_checkpoint

    def the_older_unreadable(path: Path, *args: Any) -> Any:
        if path != newest:
            raise OSError(5, "Input/output error", str(path))
        return load(path, *args)

    monkeypatch.setattr(checkpoint, "load_checkpoint", the_older_unreadable)
    with caplog.at_level("WARNING"), pytest.raises(OSError):
        read_checkpoint(tmp_path)
    assert f"skipping damaged checkpoint: {newest}: checksum mismatch" in caplog.text


def test_a_checkpoint_its_run_prunes_while_it_is_read_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run still training deletes its older checkpoints: one listed, then gone when a tool
    fell back to it, was a FileNotFoundError trace (a concurrency audit, from reading)."""
    from resnet_lab import checkpoint

    _, config = tiny_run(tmp_path)
    save_checkpoint({"model": {}, "config": config}, tmp_path / "ckpt", 8, keep=2)
    newest = save_checkpoint({"model": {}, "config": config}, tmp_path / "ckpt", 9, keep=3)
    newest.write_bytes(newest.read_bytes()[:100])  # damaged: step 8 is read next
    load = checkpoint.load_checkpoint

    def pruned_meanwhile(path: Path, *args: Any) -> Any:
        if path.name == "step_0000008.pt":
            path.unlink()
        return load(path, *args)

    monkeypatch.setattr(checkpoint, "load_checkpoint", pruned_meanwhile)
    assert read_checkpoint(tmp_path).path.name == "step_0000007.pt"
    # a link to nothing is not gone but damaged: a resume took the folder for one without
    # checkpoints and trained from step 0
    monkeypatch.undo()
    lone = tmp_path / "lone" / "ckpt"
    lone.mkdir(parents=True)
    (lone / "step_0000008.pt").symlink_to(tmp_path / "unmounted" / "step_0000008.pt")
    with pytest.raises(CheckpointError, match=r"no usable checkpoint in (.|\n)*cannot be read"):
        read_checkpoint(tmp_path / "lone")


def test_a_checkpoint_saved_while_reading_a_training_run_is_not_called_damaged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder was listed again after the newest checkpoint was read: one the trainer saved
    in between counted as a newer checkpoint that could not be read (a concurrency audit: 30
    in 7,377 reads of a training run)."""
    from resnet_lab import pretrained

    _, config = tiny_run(tmp_path)
    load = pretrained.load_latest_checkpoint

    def trainer_saves_meanwhile(*args: Any, **kwargs: Any) -> Any:
        loaded = load(*args, **kwargs)
        save_checkpoint({"model": {}, "config": config}, tmp_path / "ckpt", 8, keep=2)
        return loaded

    monkeypatch.setattr(pretrained, "load_latest_checkpoint", trainer_saves_meanwhile)
    loaded = read_checkpoint(tmp_path)
    assert loaded.path.name == "step_0000007.pt" and loaded.damaged_newer == 0


def test_a_live_runs_checkpoints_pruned_as_they_are_read_are_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run still training saves and prunes while a tool reads it (an audit of the tools on a
    live run): a folder whose every listed checkpoint went read as "no checkpoint"; a file
    gone as it was read was a FileNotFoundError trace, or "no checksum file (incomplete
    write?)" once its bytes were read; a file pruned before it was given said no more than
    "no such file"; one pruned after it was read was called a file outside any run."""
    from resnet_lab import checkpoint, pretrained

    _, config = tiny_run(tmp_path)
    ckpt = tmp_path / "ckpt"
    load = checkpoint.load_checkpoint

    def saved_meanwhile(path: Path, *args: Any) -> Any:  # keep_checkpoints=1: 7 goes
        if path.name == "step_0000007.pt":
            save_checkpoint({"model": {}, "config": config}, ckpt, 8, keep=1)
        return load(path, *args)

    with monkeypatch.context() as patched:
        patched.setattr(checkpoint, "load_checkpoint", saved_meanwhile)
        loaded = read_checkpoint(tmp_path)  # listed again
    assert loaded.path == ckpt / "step_0000008.pt" and loaded.damaged_newer == 0

    read_digest = checkpoint._read_digest

    def pruned_once_read(digest: Path) -> Any:
        if digest.name == "step_0000008.pt.sha256":  # the run saves 9 and prunes 8
            save_checkpoint({"model": {}, "config": config}, ckpt, 9, keep=1)
        return read_digest(digest)

    advice = (
        f" (its run keeps only its newest checkpoints, trainer.keep_checkpoints): give the run "
        f"folder, {tmp_path}, whose newest checkpoint is read"
    )
    given = ckpt / "step_0000008.pt"
    with monkeypatch.context() as patched, pytest.raises(CheckpointError) as caught:
        patched.setattr(checkpoint, "_read_digest", pruned_once_read)
        read_checkpoint(given)
    assert str(caught.value) == f"{given}: removed as it was read{advice}"
    with pytest.raises(CheckpointError) as caught:  # pruned before it was given
        read_checkpoint(given)
    assert str(
        caught.value
    ) == f"{given}: no checkpoint (no such checkpoint file or run folder)" + (advice)

    typo = ckpt / "step_0000080.pt"  # no later checkpoint beside it: not pruned
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(typo)
    assert str(caught.value) == f"{typo}: no checkpoint (no such checkpoint file or run folder)"

    step = iter(range(20, 30))

    def saved_at_each_read(path: Path, *args: Any) -> Any:  # a fast run, keep_checkpoints=1
        save_checkpoint({"model": {}, "config": config}, ckpt, next(step), keep=1)
        return load(path, *args)

    with monkeypatch.context() as patched, pytest.raises(CheckpointError) as caught:
        patched.setattr(checkpoint, "load_checkpoint", saved_at_each_read)
        read_checkpoint(tmp_path)
    assert str(caught.value) == (
        f"{ckpt}: its run, still training, pruned each checkpoint as it was read (3 times): run "
        "the command again, or give a copy of one"
    )

    kept = save_checkpoint({"model": {}, "config": config}, ckpt, 90, keep=1)
    loaded = read_checkpoint(kept)
    save_checkpoint({"model": {}, "config": config}, ckpt, 91, keep=1)  # 90 pruned since read
    assert pretrained.progress(loaded)["newer"] == 1  # an earlier checkpoint of a run


def test_a_folder_is_listed_again_only_where_its_run_pruned_and_each_damage_told_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder whose only checkpoint is damaged is read once (nothing was pruned: listing it
    again would read and hash the same files); a damaged one met in each listing of a live
    run is one warning; the damaged ones met are told too where the run pruned every other."""
    from resnet_lab import checkpoint

    _, config = tiny_run(tmp_path)
    ckpt = tmp_path / "ckpt"
    damaged = ckpt / "step_0000007.pt"
    damaged.write_bytes(damaged.read_bytes()[:100])
    load = checkpoint.load_checkpoint
    read: list[str] = []

    def counted(path: Path, *args: Any) -> Any:
        read.append(path.name)
        return load(path, *args)

    with monkeypatch.context() as patched, pytest.raises(CheckpointError, match="no usable"):
        patched.setattr(checkpoint, "load_checkpoint", counted)
        read_checkpoint(tmp_path)
    assert read == ["step_0000007.pt"]

    save_checkpoint({"model": {}, "config": config}, ckpt, 8, keep=5)
    steps = iter([9, 10])

    def pruned_as_read(path: Path, *args: Any) -> Any:  # 8 and 9 go as read; 10 stays
        if path != damaged and path.name != "step_0000010.pt":
            save_checkpoint({"model": {}, "config": config}, ckpt, next(steps), keep=5)
            path.unlink()
        return load(path, *args)

    with monkeypatch.context() as patched, caplog.at_level("WARNING"):
        patched.setattr(checkpoint, "load_checkpoint", pruned_as_read)
        assert read_checkpoint(tmp_path).path.name == "step_0000010.pt"
    assert caplog.text.count("skipping damaged checkpoint") == 1, caplog.text
    caplog.clear()

    steps = iter(range(11, 20))

    def always_pruned(path: Path, *args: Any) -> Any:
        if path != damaged:
            save_checkpoint({"model": {}, "config": config}, ckpt, next(steps), keep=5)
            path.unlink()
        return load(path, *args)

    with (
        monkeypatch.context() as patched,
        caplog.at_level("WARNING"),
        pytest.raises(CheckpointError, match="pruned each checkpoint"),
    ):
        patched.setattr(checkpoint, "load_checkpoint", always_pruned)
        read_checkpoint(tmp_path)
    assert f"skipping damaged checkpoint: {damaged}" in caplog.text


def test_only_a_runs_step_files_are_its_checkpoints(tmp_path: Path) -> None:
    """A file of the run's ckpt/ not named step_*.pt (a copy, best.pt) has no place among its
    steps, and a step_*.pt outside a ckpt/ no run: neither is told "its run keeps only its
    newest checkpoints", nor "saved before its run's last step"."""
    from resnet_lab import pretrained

    _, config = tiny_run(tmp_path)  # step 7
    ckpt = tmp_path / "ckpt"
    save_checkpoint({"model": {}, "config": config}, ckpt, 8, keep=5)
    for missing in (ckpt / "best.pt", tmp_path / "other" / "step_0000007.pt"):
        save_checkpoint({"model": {}, "config": config}, missing.parent, 8, keep=5)
        with pytest.raises(CheckpointError) as caught:
            read_checkpoint(missing)
        assert "keep_checkpoints" not in str(caught.value), missing
    shutil.copy(ckpt / "step_0000007.pt", ckpt / "best.pt")
    shutil.copy(ckpt / "step_0000007.pt.sha256", ckpt / "best.pt.sha256")
    assert pretrained.progress(read_checkpoint(ckpt / "best.pt"))["newer"] is None

    newest = save_checkpoint({"model": {}, "config": config}, ckpt, 9, keep=5)
    newest.write_bytes(newest.read_bytes()[:100])
    loaded = read_checkpoint(tmp_path)  # 8, the damaged 9 passed over
    assert (loaded.path.name, loaded.damaged_newer) == ("step_0000008.pt", 1)
    newest.unlink()  # the damaged one removed since: no later one, not -1
    assert pretrained.progress(loaded)["newer"] == 0


def test_a_densenet_run_is_described_as_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its description was a ResNet's; asking it for residual units says why it has none."""
    tiny_run(tmp_path, "model=densenet", "model.depth=10", "model.growth_rate=4", "model.width=8")
    model = load_pretrained(tmp_path)
    assert (
        model.info["net"].startswith("resnet-lab densenet-10 (")
        and "ResNet" not in (model.info["net"])
    )
    with pytest.raises(TypeError, match=r"densenet-10 .* is not a ResNet: it has no residual"):
        model.units  # noqa: B018
    assert eval_main([str(tmp_path), "--limit", "40", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "densenet-10" in out and "ResNet" not in out


def test_eval_of_a_run_with_a_data_limit_says_what_the_run_measured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run's own error is on its first N test images; eval's on all, unless told."""
    tiny_run(tmp_path, "data.limit=40", "trainer.max_steps=7")  # a finished run
    every = compose_config(["data=synthetic"]).data.synthetic_test_size
    assert eval_main([str(tmp_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "note:       the run used data.limit=40" in out and f" of {every} test images" in out
    assert eval_main([str(tmp_path), "--device", "cpu", "--limit", "40"]) == 0
    out = capsys.readouterr().out
    assert "note:" not in out and " of 40 test images wrong" in out
    # a limit above the set measures them all: said (it was visible in the count alone)
    assert eval_main([str(tmp_path), "--device", "cpu", "--limit", "100000"]) == 0
    assert "note:       --limit 100000 is above the " in capsys.readouterr().out


def test_eval_tells_its_own_data_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The loader's message named data.root=..., which resnet-lab-eval refuses as an argument."""
    tiny_run(tmp_path, "data.name=cifar10")
    assert eval_main([str(tmp_path), "--data-root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "with --data-root /path/to/it or the environment variable RESNET_LAB_DATA" in err
    assert "data.root=" not in err and "data.download" not in err
    archive = tmp_path / "cifar-10-binary.tar.gz"  # the archive itself given as the root
    archive.write_bytes(b"")
    assert eval_main([str(tmp_path), "--data-root", str(archive)]) == 2
    err = capsys.readouterr().err
    assert f"--data-root must be a folder, but {archive} is a file" in err
    assert f"use --data-root {tmp_path}" in err and "data.root" not in err


def test_a_run_whose_data_moved_is_evaluated_where_resnet_lab_data_says(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results copied to another machine, the run's data.root no folder there: the tools'
    message advised RESNET_LAB_DATA, then looked in the run's root again."""
    from test_data import write_cifar10_bin

    write_cifar10_bin(tmp_path / "here" / "cifar-10-batches-bin")
    gone = tmp_path / "gone"
    run = tmp_path / "run"
    tiny_run(run, "data.name=cifar10", "data.verify=false", f"data.root={gone}")
    monkeypatch.delenv("RESNET_LAB_DATA", raising=False)
    assert eval_main([str(run), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert str(gone) in err and "the environment variable RESNET_LAB_DATA" in err
    monkeypatch.setenv("RESNET_LAB_DATA", str(tmp_path / "here"))
    assert eval_main([str(run), "--device", "cpu"]) == 0
    assert f"{tmp_path / 'here'}/cifar-10-batches-bin (binary" in capsys.readouterr().out
    gone.mkdir()  # a folder of that name holding no data (the same path on both machines)
    assert eval_main([str(run), "--device", "cpu"]) == 0
    assert f"{tmp_path / 'here'}/cifar-10-batches-bin (binary" in capsys.readouterr().out
    write_cifar10_bin(gone / "cifar-10-batches-bin")  # the run's own root, holding it, first
    assert eval_main([str(run), "--device", "cpu"]) == 0
    assert f"{gone}/cifar-10-batches-bin (binary" in capsys.readouterr().out


def test_eval_command_stopped_by_a_signal_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C gave a KeyboardInterrupt trace and SIGTERM ended it without a word."""
    import os
    import signal

    from resnet_lab import evaluate

    tiny_run(tmp_path)
    monkeypatch.setattr(evaluate, "evaluate", lambda *a: os.kill(os.getpid(), signal.SIGTERM))
    assert eval_main([str(tmp_path), "--device", "cpu"]) == 128 + signal.SIGTERM
    assert "resnet-lab-eval: interrupted by SIGTERM (it writes no files)" in (
        capsys.readouterr().err
    )


def test_evaluate_refuses_a_net_whose_outputs_are_not_finite() -> None:
    """A diverged run's net of NaN outputs answers class 0 for every image: resnet-lab-eval
    printed the share of other classes as its test error."""
    from resnet_lab.evaluate import evaluate

    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    batches = [(torch.zeros(4, 3, 32, 32), torch.tensor([0, 1, 2, 3]))] * 2
    assert evaluate(net, batches) in (0.0, 25.0, 50.0, 75.0, 100.0)
    with torch.no_grad():
        net[1].bias[3] = math.nan
    with pytest.raises(ConfigError, match=r"not finite \(NaN or inf\) on 8 of 8 images"):
        evaluate(net, batches)
    logits = torch.eye(4, 10)
    logits[2, 7] = math.nan  # one class of one image: refused too
    with pytest.raises(ConfigError, match=r"not finite \(NaN or inf\) on 1 of 4 images"):
        evaluate(torch.nn.Identity(), [(logits, torch.tensor([0, 1, 2, 3]))])


def test_peer_accuracy_on_real_test_images() -> None:
    """The first 500 real test images: the peer ResNet-20 errs on 45 of them (measured here,
    2026-12-06, torch 2.14.1 on CPU; one image either way for another machine's rounding): a
    preprocessing a little off (CIFAR's own statistics for the published ImageNet ones: 8.4%)
    passed the 4-14% this test asked before."""
    if not (CIFAR / "cifar-10-batches-bin" / "test_batch.bin").is_file():
        pytest.skip("real CIFAR-10 not present")
    from resnet_lab.evaluate import evaluate, image_batches, prepare

    model, data = prepare(peer_path(20), str(CIFAR), torch.device("cpu"))
    n = 500
    error = evaluate(model, image_batches(data.eval_images[:n], data.eval_labels[:n], 250))
    assert abs(error - 9.0) <= 0.2


@pytest.mark.parametrize(
    "saved",
    [
        {},  # a config saved before data.split: every training image
        {"split": "full"},
        {"split": "val"},
        {"split": "val", "limit": 100},
        {"limit": 7},
        {"split": "val", "normalization": "channel_mean_std"},
        {"limit": 7, "normalization": "channel_mean_std"},
    ],
)
def test_training_statistics_are_those_the_run_trained_with(saved: dict) -> None:
    """Evaluation recomputes a run's normalisation from the full training set: it must pick the
    rows load_data trained on for the run's split and limit, and the run's normalisation."""
    full = load_data(data_config({"name": "synthetic"}, split="full", limit=None), "cpu")
    trained = load_data(data_config({"name": "synthetic", **saved}), "cpu")
    mean, std = training_statistics(full.train_images, saved)
    torch.testing.assert_close(mean, trained.mean, rtol=0, atol=0)
    if trained.std is None:
        assert std is None
    else:
        torch.testing.assert_close(std, trained.std, rtol=0, atol=0)


@pytest.mark.parametrize("normalization", ["pixel_mean", "channel_mean_std"])
def test_a_checkpoint_saves_the_statistics_its_run_normalised_with(
    tmp_path: Path, normalization: str
) -> None:
    """A run's checkpoints save the mean (and std) it fed its net, of the training images it
    used (split and limit applied): the tools read them there rather than recompute them."""
    from resnet_lab.train import train

    run = ["model.depth=8", "model.width=4", "data=synthetic", "data.synthetic_train_size=256"]
    run += ["data.synthetic_test_size=64", "trainer.batch_size=16", "trainer.max_steps=2"]
    run += ["trainer.progress=none", "trainer.device=cpu", "data.split=val", "data.limit=100"]
    cfg = compose_config([*run, f"data.normalization={normalization}"])
    train(cfg, tmp_path)
    trained = load_data(cfg.data, "cpu")
    saved = read_checkpoint(tmp_path).state["input_statistics"]
    assert torch.equal(saved["mean"], trained.mean)
    assert (saved["std"] is None) == (normalization == "pixel_mean")
    if trained.std is not None:
        assert torch.equal(saved["std"], trained.std)
    assert torch.equal(load_pretrained(tmp_path).mean, trained.mean)


def test_load_pretrained_feeds_the_saved_statistics_without_reading_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint that saved its statistics needs no training set to be used (the data root
    given is then not read)."""
    import resnet_lab.pretrained

    def no_data(*args: object) -> None:
        raise AssertionError("load_data called")

    mean = torch.rand(3, 32, 32)
    net, _ = tiny_run(tmp_path, statistics={"mean": mean, "std": None})
    monkeypatch.setattr(resnet_lab.pretrained, "load_data", no_data)
    model = load_pretrained(tmp_path, data_root=str(tmp_path / "nowhere"))
    assert torch.equal(model.mean, mean) and model.std is None
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(model(images), net(normalize(images, mean)))
    std = torch.rand(3, 1, 1) + 0.5
    tiny_run(
        tmp_path / "c",
        "data.normalization=channel_mean_std",
        statistics={"mean": mean[:, :1, :1], "std": std},
    )
    model = load_pretrained(tmp_path / "c")
    assert torch.equal(model.mean, mean[:, :1, :1]) and torch.equal(model.std, std)


def test_the_tools_refuse_training_images_other_than_the_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Images whose statistics differ from those the checkpoint saved are not the run's (a data
    root given with other files, other CIFAR-100 files): evaluating its net on them would feed
    it other inputs than it trained on."""
    from resnet_lab.evaluate import prepare

    _, config = tiny_run(tmp_path / "probe")
    own = load_data(data_config(config["data"]), "cpu")
    other = own.mean.clone()
    other[0, 0, 0] += 1 / 255 / 2048  # one pixel of one image one level brighter
    tiny_run(tmp_path / "other", statistics={"mean": other, "std": None})
    assert eval_main([str(tmp_path / "other"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(
        r"resnet-lab-eval: error: \S+step_0000007\.pt: the training images in synthetic "
        r"\(seed \d+\) are not those its run trained on \(their mean differs from the one its "
        r"checkpoint saved\): give the run's data with --data-root DIR\n",
        err,
    ), err
    with pytest.raises(ConfigError, match=r"give the run's data with data\.root=DIR"):
        prepare(tmp_path / "other", None, torch.device("cpu"))  # resnet-lab-lesion's words
    tiny_run(tmp_path / "std", statistics={"mean": own.mean, "std": torch.ones(3, 1, 1)})
    with pytest.raises(ConfigError, match="not those its run trained on"):
        prepare(tmp_path / "std", None, torch.device("cpu"))
    tiny_run(tmp_path / "own", statistics={"mean": own.mean, "std": None})
    assert eval_main([str(tmp_path / "own"), "--device", "cpu", "--limit", "8"]) == 0


def test_training_images_of_the_same_mean_and_another_std_are_refused() -> None:
    """A channel_mean_std run's statistics are its mean and its std: images of the same mean
    and another std are other images too, and the refusal names what differs."""
    from resnet_lab.pretrained import LoadedCheckpoint, OtherTrainingImages, check_statistics

    mean, std = torch.rand(3, 1, 1), torch.rand(3, 1, 1) + 0.1
    saved = {"input_statistics": {"mean": mean, "std": std}}
    loaded = LoadedCheckpoint("resnet-lab", saved, Path("r.pt"))
    check_statistics(loaded, mean, std, "here")
    for other_mean, other_std, differs in (
        (mean, std * 2, "their std differs from the one"),
        (mean, None, "their std differs from the one"),
        (mean + 1, std * 2, "their mean and std differ from those"),
    ):
        with pytest.raises(OtherTrainingImages) as refused:
            check_statistics(loaded, other_mean, other_std, "here")
        assert refused.value.differs == f"{differs} its checkpoint saved"
        assert f"({differs} its checkpoint saved): give the run's data" in str(refused.value)


class _NotATensor:
    """Pickled into a file, it makes torch.load(weights_only=True) refuse the file."""


def test_a_checkpoint_this_user_may_not_read_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another user's run on a shared machine (files of mode 600): each tool ended in a
    PermissionError trace. Refused reads are faked: the tests may run as root."""
    from resnet_lab import checkpoint, pretrained

    tiny_run(tmp_path / "run")
    (saved,) = (tmp_path / "run" / "ckpt").glob("step_*.pt")
    bare = tmp_path / "bare.pt"  # a file without its checksum: opened by read_checkpoint itself
    shutil.copy(saved, bare)

    def refused(path: Path, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(checkpoint, "load_checkpoint", refused)
    monkeypatch.setattr(pretrained, "_is_torch_file", refused)
    for given, unreadable in ((tmp_path / "run", saved), (bare, bare)):
        with pytest.raises(CheckpointError) as caught:
            read_checkpoint(given)
        assert str(caught.value) == f"{unreadable}: this user may not read it (permission denied)"
    with monkeypatch.context() as patched:  # its ckpt/: glob found nothing ("no checkpoint")
        patched.setattr(pretrained.os, "access", lambda path, mode: Path(path).name != "ckpt")
        with pytest.raises(CheckpointError) as caught:
            read_checkpoint(tmp_path / "run")
    assert str(caught.value) == f"{saved.parent}: this user may not read it (permission denied)"
    assert eval_main([str(tmp_path / "run")]) == 2
    assert capsys.readouterr().err.endswith(
        f"{saved}: this user may not read it (permission denied)\n"
    )


@pytest.mark.parametrize("kind", ["json", "empty", "pickled_object", "damaged"])
def test_file_that_is_not_a_checkpoint_is_a_clear_error(
    tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """E.g. a run's result.json: a CheckpointError saying what is expected, never torch's
    weights_only text ("Please file an issue")."""
    tiny_run(tmp_path)
    path = tmp_path / ("result.json" if kind == "json" else "x.pt")
    if kind == "json":
        path.write_text('{"status": "finished"}\n')
    elif kind == "empty":
        path.write_bytes(b"")
    else:
        torch.save({"model": _NotATensor()}, path)
        if kind == "damaged":
            path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(path)
    message = str(caught.value)
    if kind == "damaged":  # a checkpoint cut short (no checksum file beside it): said as such
        said = "a PyTorch file that cannot be read, damaged or cut short (torch: "
        assert said in message and message.endswith(
            "give a run folder, whose newest whole checkpoint is read"
        )
        # torch's first sentence, not its exception's class nor its advice for its bug reports
        assert "RuntimeError" not in message and "If you are seeing" not in message
    else:
        said = "not a resnet-lab checkpoint"
        if kind == "empty":  # not "not a PyTorch file"
            said += " (an empty file)"
        assert said in message and "run folder or its ckpt/step_*.pt file" in message
        assert f"did you mean its run folder {tmp_path}?" in message
    assert "Please file an issue" not in message and "\n" not in message
    assert eval_main([str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("resnet-lab-eval: error: ") and said in err


def test_eval_command_reports_the_exact_error_on_the_test_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed error is the top-1 error on the first --limit *test* images, exact (not
    floored), and the printed count agrees with it; a partial last batch counts too."""
    import re

    _, config = tiny_run(tmp_path)
    n = 99  # 100 * wrong / 99 is a whole number only for 0 or 99 wrong
    args = [str(tmp_path), "--limit", str(n), "--batch-size", "40", "--device", "cpu"]
    assert eval_main(args) == 0
    out = capsys.readouterr().out
    found = re.search(r"test error: (\d+\.\d\d)% \((\d+) of (\d+) test images wrong", out)
    assert found, out
    data = load_data(data_config(config["data"], split="full", limit=None), "cpu")
    model = load_pretrained(tmp_path)
    with torch.no_grad():
        wrong = int((model(data.eval_images[:n]).argmax(1) != data.eval_labels[:n]).sum())
    assert 0 < wrong < n
    assert found.groups() == (f"{100 * wrong / n:.2f}", str(wrong), str(n))


def test_a_run_trained_on_a_val_split_is_evaluated_on_the_test_set_with_its_own_mean(
    tmp_path: Path,
) -> None:
    """A run trained with data.split=val data.limit=50 is evaluated on the whole test set, fed
    the mean of the training images it trained on (docs/lesion.md's table)."""
    from resnet_lab.evaluate import prepare

    _, config = tiny_run(tmp_path, "data.split=val", "data.limit=50")
    model, data = prepare(tmp_path, None, torch.device("cpu"))
    test_set = load_data(data_config(config["data"], split="full", limit=None), "cpu")
    assert data.eval_split == "test"
    assert torch.equal(data.eval_images, test_set.eval_images)
    trained = load_data(data_config(config["data"]), "cpu")  # what the run trained with
    torch.testing.assert_close(model.mean, trained.mean)


def test_a_channel_mean_std_run_is_fed_its_own_statistics(tmp_path: Path) -> None:
    """A run trained with data.normalization=channel_mean_std (DenseNet, WRN rows) is fed
    (x - per-channel mean) / per-channel std of its training images, not the per-pixel mean."""
    net, config = tiny_run(tmp_path, "data.normalization=channel_mean_std")
    trained = load_data(data_config(config["data"]), "cpu")
    assert trained.std is not None
    model = load_pretrained(tmp_path)
    assert torch.equal(model.mean, trained.mean) and torch.equal(model.std, trained.std)
    assert model.info["normalization"] == (  # 45k with data.split=val, or data.limit's
        "(x - per-channel mean) / per-channel std of the synthetic training images the run "
        "trained on, x in [0, 1]"
    )
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        expected = net(normalize(images, trained.mean, trained.std))
        assert torch.equal(model(images), expected)
        given = load_pretrained(tmp_path, mean=trained.mean, std=trained.std)
        assert torch.equal(given(images), expected)
    with pytest.raises(ValueError, match="channel_mean_std: give its mean and its std"):
        load_pretrained(tmp_path, mean=trained.mean)
    tiny_run(tmp_path / "pixel")
    with pytest.raises(ValueError, match="pixel_mean: give its mean alone"):
        load_pretrained(tmp_path / "pixel", mean=torch.zeros(3, 32, 32), std=trained.std)
    with pytest.raises(ValueError, match="std without mean"):  # it was ignored
        load_pretrained(tmp_path, std=trained.std)
    # a statistic an image batch cannot take failed at the first forward pass (a list: at once)
    for shape in [(3,), (32,), (2, 3, 32, 32)]:  # (32,) broadcast, per column
        with pytest.raises(ValueError, match=re.escape(f"mean of shape {shape} does not fit")):
            load_pretrained(tmp_path / "pixel", mean=torch.zeros(shape))
    with pytest.raises(ValueError, match=re.escape("std of shape (3,) does not fit")):
        load_pretrained(tmp_path, mean=trained.mean, std=torch.ones(3))  # the std's too
    with pytest.raises(ValueError, match="mean is not a tensor of numbers"):
        load_pretrained(tmp_path / "pixel", mean="zeros")
    listed = load_pretrained(tmp_path / "pixel", mean=[[[0.5]], [[0.5]], [[0.5]]])
    assert listed(images).shape == (5, 10)  # a (3, 1, 1) per-channel one, as a list


def test_eval_measures_a_normalised_and_reflected_run_as_it_measured_itself(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Train with the Wide ResNet row's data settings; resnet-lab-eval's test error is the
    run's own final test error: training and evaluation normalise alike."""
    from resnet_lab.train import train

    run = ["model.depth=8", "model.width=4", "data=synthetic", "data.synthetic_train_size=256"]
    run += ["data.synthetic_test_size=128", "trainer.batch_size=16", "trainer.max_steps=6"]
    run += ["trainer.progress=none", "trainer.device=cpu"]
    run += ["data.normalization=channel_mean_std", "data.pad_mode=reflect"]
    result = train(compose_config(run), tmp_path)
    assert eval_main([str(tmp_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"test error: {result['final_test_error']:.2f}% " in out
    assert "(x - per-channel mean) / per-channel std of the synthetic training images" in out


def test_a_net_is_not_evaluated_on_data_with_other_classes(tmp_path: Path) -> None:
    """attach (resnet-lab-lesion's lesion.plain net) refuses data whose class count differs."""
    from resnet_lab.evaluate import attach

    tiny_run(tmp_path)
    data = load_data(data_config({"name": "synthetic", "num_classes": 4}), "cpu")
    with pytest.raises(ConfigError, match="has 10 classes, the data 4"):
        attach(read_checkpoint(tmp_path), data, torch.device("cpu"))


def test_eval_command_prints_the_peers_stored_error() -> None:
    """A peer checkpoint's stored best_prec1 is shown with the error it implies."""
    if not (CIFAR / "cifar-10-batches-bin" / "test_batch.bin").is_file():
        pytest.skip("real CIFAR-10 not present")
    import contextlib
    import io

    path = peer_path(20)
    best = torch.load(path, map_location="cpu", weights_only=True)["best_prec1"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        args = [str(path), "--data-root", str(CIFAR), "--limit", "20", "--device", "cpu"]
        assert eval_main(args) == 0
    assert f"stored:     best_prec1 {best:.2f} (error {100 - best:.2f}%)" in out.getvalue()


def test_eval_prints_a_peers_stored_accuracy_with_its_error_without_the_data(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As above, on four stand-in images and a net answering class 0 (CI has no CIFAR-10)."""
    from types import SimpleNamespace

    from resnet_lab import evaluate

    class ClassZero(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.one_hot(torch.zeros(x.shape[0], dtype=torch.long), 10).float()

    net = ClassZero()
    net.info = {"path": "resnet20.th", "net": "peer", "normalization": "its", "best_prec1": 91.25}
    images = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    data = SimpleNamespace(
        eval_images=images, eval_labels=torch.tensor([0, 0, 0, 1]), eval_split="test", source="x"
    )
    monkeypatch.setattr(evaluate, "prepare", lambda *args: (net, data))
    assert eval_main(["resnet20.th", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "stored:     best_prec1 91.25 (error 8.75%)\n" in out
    assert "test error: 25.00% (1 of 4 test images wrong; x; cpu" in out


def test_peer_input_is_normalised_with_the_published_constants(tmp_path: Path) -> None:
    """The literal constants of pytorch_resnet_cifar10 (docs/lesion.md: ImageNet's mean and
    std), not PEER_MEAN/PEER_STD, which the hand-written peer_forward shares with the code
    under test; of a peer file made here, so that it runs without ../shared (CI has none)."""
    _, peer = lab_as_peer(8)
    torch.save({"state_dict": peer, "best_prec1": 10.0}, tmp_path / "p.th")
    model = load_pretrained(tmp_path / "p.th")
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    torch.testing.assert_close(model.normalize(images), (images.float() / 255 - mean) / std)


ORIGINAL_UNIT = [
    "model.arch=resnet",
    "model.block=basic",
    "model.downsample=zero_pad",
    "shortcut=identity",
    "after_add=relu",
]
BN_TENSORS = {"running_mean", "running_var"}


def lab_as_peer(depth: int) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(a resnet-lab original-unit net's state_dict, its tensors under pytorch_resnet_cifar10's
    names), BN tensors drawn apart (a fresh net's are all 1 or 0: a bn1/bn2 swap loaded
    strictly and went unseen)."""
    from resnet_lab.api import build_model

    torch.manual_seed(0)
    lab = build_model([*ORIGINAL_UNIT, f"model.depth={depth}", "model.width=16"]).state_dict()
    for key, value in lab.items():
        if value.is_floating_point() and key.split(".")[-1] in BN_TENSORS:
            value.copy_(torch.rand_like(value) + 0.5)
    n = (depth - 2) // 6
    branch = {"0": "conv1", "1": "bn1", "3": "conv2", "4": "bn2"}
    outer = {"stem.0": "conv1", "stem.1": "bn1", "fc": "linear"}
    peer = {}
    for key, value in lab.items():
        if key.endswith("num_batches_tracked"):
            continue
        parts = key.split(".")
        if parts[0] == "units":
            unit = int(parts[1])
            name = f"layer{unit // n + 1}.{unit % n}.{branch[parts[3]]}.{parts[4]}"
        else:
            name = f"{outer['.'.join(parts[:-1])]}.{parts[-1]}"
        peer[f"module.{name}"] = value.clone()
    return lab, peer


def test_a_peer_resnet110_with_two_digit_unit_numbers_imports() -> None:
    """pytorch_resnet_cifar10 also publishes ResNet-110 (layerS.10 ... layerS.17): a peer-format
    state_dict made from a resnet-lab ResNet-110 imports back tensor for tensor, each BN's
    into its own layer, with no batches counted (a peer file has no counters)."""
    from resnet_lab.pretrained import import_peer

    lab, peer = lab_as_peer(110)
    net = import_peer(peer)
    assert len(net.units) == 3 * 18
    own = net.state_dict()
    for key, value in lab.items():
        if key.endswith("num_batches_tracked"):
            assert int(own[key]) == 0, key
        else:
            assert torch.equal(own[key], value), key


def test_a_peer_missing_a_tensor_or_with_one_too_many_is_refused() -> None:
    """A missing running_var would load as zeros, a net computing something else; a tensor with
    no place in the net is a CheckpointError too, not torch's trace."""
    from resnet_lab.pretrained import import_peer

    _, peer = lab_as_peer(8)
    del peer["module.layer1.0.bn1.running_var"]
    with pytest.raises(CheckpointError, match=r"missing \['units\.0\.branch\.1\.running_var"):
        import_peer(peer)
    _, peer = lab_as_peer(8)
    peer["module.layer1.0.conv1.bias"] = torch.zeros(16)
    with pytest.raises(CheckpointError, match="unexpected"):
        import_peer(peer)


def test_a_checkpoint_file_given_directly_is_checksum_verified(tmp_path: Path) -> None:
    """docs/lesion.md: load_pretrained("run/ckpt/step_N.pt") is checksum-verified."""
    from resnet_lab.checkpoint import digest_path

    tiny_run(tmp_path)
    path = tmp_path / "ckpt" / "step_0000007.pt"
    digest_path(path).write_text("0" * 64 + "\n")
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_pretrained(path, mean=torch.zeros(3, 32, 32))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path: Path) -> None:
    """The load is strict: a checkpoint lacking a tensor is an error, not a half-random net."""
    net, config = tiny_run(tmp_path)
    weights = net.state_dict()
    del weights["fc.bias"]
    state = {"model": weights, "config": config, "train_state": {"step": 8}}
    save_checkpoint(state, tmp_path / "ckpt", 8, keep=1)
    with pytest.raises(CheckpointError, match="weights do not fit its config") as refused:
        load_pretrained(tmp_path, mean=torch.zeros(3, 32, 32))
    assert str(refused.value).endswith("written by another version?): 1 missing (fc.bias)")
    # a net of another width: one line that counts, not torch's list of every tensor
    weights = {key: torch.cat([w, w]) if w.dim() else w for key, w in net.state_dict().items()}
    weights["extra.weight"] = torch.zeros(1)
    state = {"model": weights, "config": config, "train_state": {"step": 9}}
    save_checkpoint(state, tmp_path / "ckpt", 9, keep=1)
    with pytest.raises(CheckpointError) as refused:
        load_pretrained(tmp_path, mean=torch.zeros(3, 32, 32))
    said = str(refused.value)
    assert "\n" not in said and ": 1 unexpected (extra.weight), " in said
    reshaped = r", \d+ of another shape \(stem.0.weight: saved \(8, 3, 3, 3\), built \(4, 3, 3, 3\)"
    assert re.search(reshaped, said), said


def test_a_run_with_a_scaled_shortcut_round_trips(tmp_path: Path) -> None:
    """The saved shortcut section rebuilds the net: a parameter-free scaled shortcut loads
    strictly into an identity one too, so only the outputs tell them apart."""
    net, _ = tiny_run(tmp_path, "shortcut=scale", "shortcut.scale=0.5")
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mean = torch.rand(3, 32, 32)
    model = load_pretrained(tmp_path, mean=mean)
    assert "shortcut=scale" in model.info["net"]
    with torch.no_grad():
        assert torch.equal(model(images), net(normalize(images, mean)))


@pytest.mark.parametrize(
    "overrides",
    [
        ["shortcut=identity"],
        ["shortcut=gate", "shortcut.gate_norm=false"],
        ["shortcut=dropout", "shortcut.dropout_inverted=true"],
    ],
)
def test_a_run_saved_before_the_options_loads_as_it_trained(
    tmp_path: Path, overrides: list[str]
) -> None:
    """A config of then (no gate_norm; dropout_inverted true in every run, the default then)
    rebuilds the net it trained: gates without BN, inverted dropout, and no refusal of an
    option the shortcut does not use."""
    net, config = tiny_run(tmp_path, *overrides)
    config = as_saved_before_the_options(config)
    state = {"model": net.state_dict(), "config": config, "train_state": {"step": 8}}
    save_checkpoint(state, tmp_path / "ckpt", 8, keep=1)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    mean = torch.rand(3, 32, 32)
    model = load_pretrained(tmp_path, mean=mean)
    with torch.no_grad():
        assert torch.equal(model(images), net(normalize(images, mean)))


def test_eval_of_a_run_that_chose_on_validation_names_the_chosen_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """trainer.test_at_best_val: the run's figure is an earlier step's net, whose checkpoint is
    usually gone; eval measures the newest and says so."""
    net, config = tiny_run(tmp_path, "data.split=val", "trainer.test_at_best_val=true")
    train_state = {"step": 8, "best_step": 5}
    state = {"model": net.state_dict(), "config": config, "train_state": train_state}
    save_checkpoint(state, tmp_path / "ckpt", 8, keep=1)
    assert eval_main([str(tmp_path), "--limit", "20", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert (
        "note:       the run's figure is the test error at step 5, where its validation error "
        "was lowest; this checkpoint is step 8's net" in out
    )
    val_note = "note:       the run measured its errors on the validation split"
    assert val_note not in out  # its figure is a test error, the chosen step's
    own = {**state, "train_state": {"step": 9, "best_step": 9}}  # the chosen step's own net
    save_checkpoint(own, tmp_path / "ckpt", 9, keep=1)
    assert eval_main([str(tmp_path), "--limit", "20", "--device", "cpu"]) == 0
    assert "the run's figure is the test error at step" not in capsys.readouterr().out
    tiny_run(tmp_path / "val", "data.split=val")  # its figures are validation errors
    assert eval_main([str(tmp_path / "val"), "--limit", "20", "--device", "cpu"]) == 0
    assert f"{val_note} (data.split=val); this is the test set's" in capsys.readouterr().out
    # limited too: the first N validation images, which no --limit measures here
    tiny_run(tmp_path / "val_limit", "data.split=val", "data.limit=30")
    assert eval_main([str(tmp_path / "val_limit"), "--limit", "20", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert (
        "measured its error on (at most) the first 30 validation images\n" in out
        and "--limit 30 measures the same" not in out
    )
    # ... but a run that chose on validation has a test figure, which --limit 30 measures
    limited = tmp_path / "chose_limit"
    _, config = tiny_run(
        limited, "data.split=val", "data.limit=30", "trainer.test_at_best_val=true"
    )
    state = {"model": net.state_dict(), "config": config, "train_state": train_state}
    save_checkpoint(state, limited / "ckpt", 8, keep=1)
    assert eval_main([str(limited), "--limit", "20", "--device", "cpu"]) == 0
    assert "first 30 test images (--limit 30 measures the same)" in capsys.readouterr().out


def test_eval_of_a_bf16_run_computes_as_the_run_evaluated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bf16 run measured its errors under bf16 autocast; eval (and lesion, gates) computed in
    IEEE float32, another figure, without a word."""
    from resnet_lab.train import train

    run = ["model.depth=8", "model.width=4", "data=synthetic", "data.synthetic_train_size=256"]
    run += ["data.synthetic_test_size=128", "trainer.batch_size=16", "trainer.max_steps=6"]
    run += ["trainer.progress=none", "trainer.device=cpu", "trainer.precision=bf16"]
    result = train(compose_config(run), tmp_path)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    model = load_pretrained(tmp_path)
    with torch.no_grad():
        logits = model(images)
        assert logits.dtype == torch.float32  # returned as float32, computed in bf16:
        with torch.autocast("cpu", torch.bfloat16):
            assert torch.equal(logits, model.net(model.normalize(images)).float())
    assert eval_main([str(tmp_path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert f"test error: {result['final_test_error']:.2f}% " in out
    assert "note:       computed under bf16 autocast, as the run evaluated" in out
    tiny_run(tmp_path / "fp32", "trainer.max_steps=7")
    with torch.no_grad():
        assert load_pretrained(tmp_path / "fp32")(images).dtype == torch.float32
    assert eval_main([str(tmp_path / "fp32"), "--device", "cpu", "--limit", "20"]) == 0
    assert "note:" not in capsys.readouterr().out


def test_data_root_replaces_the_runs_saved_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """load_pretrained(data_root=...) computes the training mean from the data there (the
    run's data moved)."""
    import resnet_lab.pretrained

    tiny_run(tmp_path)
    roots = []
    real = resnet_lab.pretrained.load_data

    def spy(cfg, device):  # type: ignore[no-untyped-def]
        roots.append(cfg.root)
        return real(cfg, device)

    monkeypatch.setattr(resnet_lab.pretrained, "load_data", spy)
    load_pretrained(tmp_path, data_root=str(tmp_path / "moved"))
    assert roots == [str(tmp_path / "moved")]


def test_float_images_of_any_precision_give_the_uint8_logits(tmp_path: Path) -> None:
    """Float images in [0, 1] are the documented alternative to uint8; float64 ones failed."""
    tiny_run(tmp_path)
    model = load_pretrained(tmp_path, mean=torch.rand(3, 32, 32))
    images = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad():
        expected = model(images)
        for dtype in (torch.float32, torch.float64):
            torch.testing.assert_close(model(images.to(dtype) / 255), expected)


def test_a_folder_without_checkpoints_says_what_to_give(tmp_path: Path) -> None:
    """A folder of peer files, or a run whose ckpt/ is empty: the message names what to give,
    not a ckpt/ path the folder never had."""
    (tmp_path / "peer").mkdir()
    for name in ("resnet20.th", "resnet56.th", "notes.txt"):
        (tmp_path / "peer" / name).write_text("")
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(tmp_path / "peer")
    assert str(caught.value).endswith(
        "no ckpt/ and no step_*.pt file); give one of its files: resnet20.th, resnet56.th"
    )
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"has no ckpt/ and no step_\*\.pt file\)$"):
        read_checkpoint(tmp_path / "empty")
    (tmp_path / "run" / "ckpt").mkdir(parents=True)
    with pytest.raises(CheckpointError, match=r"expected .*run/ckpt/step_\*\.pt\)$"):
        read_checkpoint(tmp_path / "run")
    for seed in ("0", "1"):  # a sweep's folder: its runs are named
        (tmp_path / "sweep" / seed).mkdir(parents=True)
        (tmp_path / "sweep" / seed / "result.json").write_text("{}")
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(tmp_path / "sweep")
    assert str(caught.value).endswith(
        f"no step_*.pt file); it holds runs (2): give one of them, e.g. {tmp_path / 'sweep' / '0'}"
    )


def test_load_pretrained_leaves_the_callers_tf32_setting_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The lab's tools set IEEE float32 on CUDA (resolve_device); a library call's map_location
    must not switch off the TF32 its caller chose."""
    from resnet_lab import device, pretrained

    calls: list[bool] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(device, "_set_tf32", calls.append)
    assert pretrained._device("cuda") == torch.device("cuda")
    assert pretrained._device("auto") == torch.device("cuda") and calls == []
    device.resolve_device("cuda")
    assert calls == [False]
