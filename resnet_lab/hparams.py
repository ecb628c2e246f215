"""TensorBoard's HParams table: one row per run, the same columns in every run.

TensorBoard takes the table's columns from the first experiment record it finds among all the
runs of a log folder. torch's ``SummaryWriter.add_hparams`` makes that record from one run's
own options, so a table of Identity Mappings' rows lacked the columns that tell the scaling
rows apart; it also marks every run a success, and writes nothing for a run still training.
So the lab writes the three records itself, with tensorboard's own protocol buffers:

* at every start, the experiment (every option a registered variant can use, and every metric)
  and the run's session start (its values: the options its variants use, left out otherwise);
* at the end, the session's status (a diverged run is a failure) and the final metrics.

TensorBoard keeps the first record of each tag in a run (its event accumulator stores a tag's
first metadata only), so a resumed run first drops its earlier launches' records (and their
final metrics) from its events files: its row is then its latest launch's (a completed run
extended until it diverged showed SUCCESS), in a TensorBoard started after the resume (a
running one keeps what it read).
The metrics are scalar tags, read at their latest step.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from omegaconf import DictConfig, OmegaConf
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

from resnet_lab.checkpoint import atomic_write_bytes
from resnet_lab.config import CONF_DIR, AfterAddCfg, DataCfg, ModelCfg, ShortcutCfg, TrainerCfg
from resnet_lab.models import ARCHS, SHORTCUTS

# The main options, by short names, and their schema field: the same in every run
MAIN = {
    "arch": (ModelCfg, "arch"),
    "shortcut": (ShortcutCfg, "name"),
    "after_add": (AfterAddCfg, "fn"),  # by the option's name, as the user chose it
    "depth": (ModelCfg, "depth"),
    "block": (ModelCfg, "block"),
    "width": (ModelCfg, "width"),
    "seed": (int, ""),
    "experiment": (str, ""),
    "data": (DataCfg, "name"),
    "profile": (str, ""),
    "precision": (TrainerCfg, "precision"),
    "bn_group": (TrainerCfg, "bn_group"),
    "test_at_best_val": (TrainerCfg, "test_at_best_val"),
}
# The recipe and the input, by their config names (not max_steps: a resume may raise it, and
# the table keeps a run's first record; the steps trained are a metric)
RECIPE = ("lr", "batch_size", "momentum", "weight_decay", "nesterov", "warmup_steps")
RECIPE += ("warmup_lr", "milestones", "lr_decay")
INPUT = ("split", "augment", "pad_mode", "normalization", "limit")
# Live curves (their latest value: a run still training shows its progress) and the figures
# written at the end of a completed or diverged run
METRICS = ("test/error", "val/error", "train/error", "train/loss")
FINAL_METRICS = ("hparam/final_error", "hparam/best_error", "hparam/steps")
FINAL_METRICS += ("hparam/test_error_at_best_val",)

_TYPES = {
    bool: api_pb2.DataType.DATA_TYPE_BOOL,
    int: api_pb2.DataType.DATA_TYPE_FLOAT64,
    float: api_pb2.DataType.DATA_TYPE_FLOAT64,
    str: api_pb2.DataType.DATA_TYPE_STRING,
}


def _field_type(schema: type, name: str) -> type:
    """bool, int, float or str: how the table shows a schema field (a list as its text)."""
    if not name:
        return schema
    default = {f.name: f for f in dataclasses.fields(schema)}[name]
    value = default.default_factory() if callable(default.default_factory) else default.default
    kind = type(value)
    return kind if kind in _TYPES else str


def _variant_fields() -> dict[str, tuple[type, str]]:
    """Every option of a section that some registered variant uses, by its dotted name."""
    fields: dict[str, tuple[type, str]] = {}
    for arch in ARCHS.names():
        fields |= {f"model.{k}": (ModelCfg, k) for k in ARCHS.get(arch).uses}
    for shortcut in SHORTCUTS.names():
        fields |= {f"shortcut.{k}": (ShortcutCfg, k) for k in SHORTCUTS.get(shortcut).uses}
    return dict(sorted(fields.items()))


def columns() -> dict[str, type]:
    """The table's columns and their types, in order: the same for every run of this lab."""
    fields = dict(MAIN)
    fields |= {f"trainer.{k}": (TrainerCfg, k) for k in RECIPE}
    fields |= {f"data.{k}": (DataCfg, k) for k in INPUT}
    fields |= _variant_fields()
    kinds = {name: _field_type(schema, key) for name, (schema, key) in fields.items()}
    kinds["data.limit"] = int  # an int or null (then left out)
    return kinds


def hparams_of(cfg: DictConfig) -> dict[str, bool | int | float | str]:
    """The run's row: its main options, recipe and input, then the shortcut and model options
    its variants use (a new variant's too); an option a run ignores is left out, so that
    filtering on it selects only the runs it applies to. A list (or another value TensorBoard
    refuses) becomes its text."""
    residual = ARCHS.get(cfg.model.arch).residual
    values: dict[str, Any] = {
        "arch": cfg.model.arch,
        "shortcut": cfg.shortcut.name if residual else "-",
        "after_add": _after_add_option(cfg.after_add) if residual else "-",
        "depth": cfg.model.depth,
        "block": cfg.model.block,
        "width": cfg.model.width,
        "seed": cfg.seed,
        "experiment": cfg.experiment.name or "-",
        "data": cfg.data.name,
        "profile": cfg.profile,
        "precision": cfg.trainer.precision,
        "bn_group": cfg.trainer.bn_group,
        "test_at_best_val": cfg.trainer.test_at_best_val,
    }
    values |= {f"trainer.{k}": cfg.trainer[k] for k in RECIPE}
    values |= {f"data.{k}": cfg.data.get(k) for k in INPUT}
    used = {f"model.{key}" for key in ARCHS.get(cfg.model.arch).uses}
    if residual:
        used |= {f"shortcut.{key}" for key in SHORTCUTS.get(cfg.shortcut.name).uses}
    for group in ("shortcut", "model"):
        for key, value in cfg[group].items():
            if f"{group}.{key}" in used:
                values[f"{group}.{key}"] = value
    return {
        k: v if isinstance(v, bool | int | float | str) else str(v)
        for k, v in values.items()
        if v is not None
    }


def _after_add_option(after_add: DictConfig) -> str:
    """The after_add option (file) name the run's unit comes from, as the user chose it
    (``relu_preact``); ``branch+fn`` when no option file builds it."""
    for path in sorted((CONF_DIR / "after_add").glob("*.yaml")):
        option = OmegaConf.load(path)
        if (option.get("fn"), option.get("branch")) == (after_add.fn, after_add.branch):
            return path.stem
    return f"{after_add.branch}+{after_add.fn}"


def _summary(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    summary = Summary()
    summary.value.add(
        tag=tag, metadata=metadata.create_summary_metadata(data), tensor=metadata.NULL_TENSOR
    )
    return summary


def start_records(cfg: DictConfig) -> list[Summary]:
    """The experiment (every column, every metric) and the run's session start."""
    experiment = api_pb2.Experiment(
        hparam_infos=[
            api_pb2.HParamInfo(name=name, type=_TYPES[kind]) for name, kind in columns().items()
        ],
        metric_infos=[
            api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag))
            for tag in (*METRICS, *FINAL_METRICS)
        ],
    )
    start = plugin_data_pb2.SessionStartInfo(start_time_secs=time.time())
    for name, value in hparams_of(cfg).items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = value
    return [
        _summary(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=experiment)),
        _summary(
            metadata.SESSION_START_INFO_TAG,
            plugin_data_pb2.HParamsPluginData(session_start_info=start),
        ),
    ]


def end_record(status: str) -> Summary:
    """The session's end: a completed run succeeded, a diverged one failed (Table 1's "fail")."""
    outcome = "STATUS_SUCCESS" if status == "completed" else "STATUS_FAILURE"
    end = plugin_data_pb2.SessionEndInfo(
        status=api_pb2.Status.Value(outcome), end_time_secs=time.time()
    )
    return _summary(
        metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end)
    )


# A launch's records: its session, and the figures written at its end (a resume that ends
# writes them again; kept, a launch cut between them and result.json showed each twice)
SESSION_TAGS = frozenset(
    (metadata.EXPERIMENT_TAG, metadata.SESSION_START_INFO_TAG, metadata.SESSION_END_INFO_TAG)
) | frozenset(FINAL_METRICS)


def drop_sessions(run_dir: Path, from_step: int) -> None:
    """Remove the earlier launches' HParams records and final figures, and every point they
    logged from ``from_step`` on (a killed process's, after its checkpoint), from a run's
    events files (call before a resumed run opens its own, holding the run's lock); each
    changed file is replaced whole. The writer's purge_step hides those points from
    TensorBoard's Python loader only: its default (fast) loader ignores it, and kept them on
    the curves until the resumed run logged each tag again, or for good if it stopped first."""
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        data = events.read_bytes()
        kept = without_sessions(data, from_step)
        if len(kept) < len(data):  # (a temporary name without "tfevents": not read as one)
            atomic_write_bytes(events, kept, stem="hparams-dropped")


def without_sessions(data: bytes, from_step: int | None = None) -> bytes:
    """An events file's bytes less the records of HParams sessions (:data:`SESSION_TAGS`) and
    (``from_step``) the summaries of that step on. Records are TFRecords (a length, its CRC,
    an Event, the Event's CRC), kept byte for byte; from the first one that does not read back
    (the half-written last record of a killed writer) the rest is kept as it is."""
    kept, at = [], 0
    while at + 12 <= len(data):
        header = data[at : at + 8]
        (length,) = struct.unpack("<Q", header)
        end = at + 12 + length + 4
        if end > len(data) or struct.unpack("<I", data[at + 8 : at + 12])[0] != masked_crc32c(
            header
        ):
            break
        try:
            event = Event.FromString(data[at + 12 : at + 12 + length])
        except DecodeError:
            break
        late = from_step is not None and event.HasField("summary") and event.step >= from_step
        if not late and not any(value.tag in SESSION_TAGS for value in event.summary.value):
            kept.append(data[at:end])
        at = end
    kept.append(data[at:])
    return b"".join(kept)


def custom_scalars_layout() -> dict[str, dict[str, list[Any]]]:
    """TensorBoard's Custom Scalars: train and eval error on one chart, as the papers plot
    them (the Scalars dashboard groups tags by their prefix, train/ apart from test/)."""
    return {"resnet-lab": {"error (%)": ["Multiline", ["train/error", "test/error", "val/error"]]}}
