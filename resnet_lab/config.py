"""Typed configuration schemas, registered in Hydra's ConfigStore.

The YAML files under ``resnet_lab/conf`` are merged into these dataclasses (``lesion.yaml`` into
``LesionRunCfg`` of ``resnet_lab/lesion_config.py``), so a misspelled key
("Key 'dpeth' not in 'ModelCfg'") or a wrong type fails before any work starts.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import functools
import io
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.config_source import ConfigSource
from omegaconf import DictConfig, ListConfig, OmegaConf

import resnet_lab.conf
from resnet_lab.errors import ConfigError

CONF_DIR = Path(resnet_lab.conf.__file__).parent  # the config groups shipped with the package
# Settings that leave what a run computes unchanged (speed levers, the progress display): a resumed
# run may change them, and the report counts a run that differs from its row only in these
RESULT_NEUTRAL = (
    "resume",
    "trainer.device",
    "trainer.progress",
    "trainer.channels_last",
    "trainer.compile",
    "trainer.compile_mode",
    "trainer.cudnn_benchmark",
    "trainer.step_graph",
)


@dataclass
class ShortcutCfg:
    """What sits on the shortcut (Identity Mappings, Table 1).

    Fields unused by ``name`` must stay at their defaults: the model builder rejects e.g.
    ``shortcut=identity shortcut.gate_bias=-6``.
    """

    name: str = "identity"
    scale: float = 1.0  # constant scaling: factor on the shortcut h(x)
    branch_scale: float = 1.0  # constant scaling: factor on the residual branch F(x)
    gate_bias: float = 0.0  # initial bias b_g of the gate g(x) (highway: b_T of T(x))
    gate_bias_decay: bool = True  # weight decay on b_g, as on every parameter in the authors'
    # Torch code; false (opt-in): none, so that decay alone does not pull b_g towards 0
    gate_norm: bool = True  # BN after the gate's W_g, as after every weight layer of Table 1's
    # units (b_g is its bias); false: none, b_g is W_g's bias (the highway gate has none)
    dropout: float = 0.5  # drop probability on the identity shortcut
    dropout_inverted: bool = False  # false: classic dropout, kept values x in training and
    # (1-p)x at test, the paper's "scale ... with an expectation of 0.5 on the shortcut"; true
    # (opt-in): inverted dropout (torch's Dropout), kept values x/(1-p), x in expectation


@dataclass
class AfterAddCfg:
    """The unit layout of Identity Mappings Table 2: the residual-branch layout and the function
    that follows the addition. The option files in ``conf/after_add`` name the units (Table 2's
    five, and any added)."""

    fn: str = "relu"  # after-addition function: see resnet_lab.models.units.AFTER_ADD
    branch: str = "post_act"  # residual-branch layout: see resnet_lab.models.units.BRANCH_LAYOUTS


@dataclass
class ModelCfg:
    """The network. Fields unused by ``arch`` must stay at their defaults (the builder checks)."""

    arch: str = "resnet"  # resnet | densenet (see resnet_lab.models.network.ARCHS)
    depth: int = 110  # resnet: 6n+2 basic, 9n+2 bottleneck, 3n+2 one_layer; densenet: 6n+4 / 3n+4
    block: str = "basic"  # basic | bottleneck | one_layer (densenet: bottleneck = DenseNet-B)
    width: int = 16  # channels of the first convolution (the papers' 16); tiny test nets use 4
    downsample: str = (
        "auto"  # zero_pad (option A) | projection (option B) | auto (B bottleneck, else A)
    )
    widen_factor: int = 1  # resnet: Wide ResNet's k, stage widths k*width, 2k*width, 4k*width
    dropout: float = 0.0  # dropout between a branch's convs (WRN) / after each conv (DenseNet)
    survival_last: float = 1.0  # resnet: stochastic depth p_L (Huang et al. 0.5); 1.0 = off
    growth_rate: int = 12  # densenet: k, channels each layer adds
    compression: float = 0.5  # densenet: theta, output/input channels of a transition
    num_classes: int = "${data.num_classes}"  # type: ignore[assignment]


@dataclass
class DataCfg:
    """The dataset and its pipeline (docs/data.md)."""

    name: str = "cifar10"  # cifar10 | cifar100 | synthetic
    root: str = "${oc.env:RESNET_LAB_DATA,data}"  # folder holding the dataset files
    split: str = "full"  # full: 50k train / 10k test; val: 45k train / 5k validation (last 5k)
    verify: bool = True  # md5-check every dataset file against the official sums
    download: bool = False  # let torchvision download the python version when online
    augment: bool = True  # pad 4 pixels + random 32x32 crop + random horizontal flip
    pad_mode: str = "zeros"  # zeros (ResNet, DenseNet papers) | reflect (Wide ResNet's code)
    # pixel_mean: x - per-pixel training mean (ResNet papers) | channel_mean_std: (x - per-channel
    # mean) / per-channel std of the training images (DenseNet, WRN, fb.resnet.torch)
    normalization: str = "pixel_mean"
    num_classes: int = 10
    limit: int | None = None  # keep only the first N images of each set (quick looks)
    synthetic_train_size: int = 2048
    synthetic_test_size: int = 512


@dataclass
class TrainerCfg:
    """The recipe (the papers' by default) and the speed levers that leave results unchanged."""

    max_steps: int = 64_000
    batch_size: int = 128
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    warmup_steps: int = 400
    warmup_lr: float = 0.01
    milestones: list[int] = field(default_factory=lambda: [32_000, 48_000])
    lr_decay: float = 0.1
    nesterov: bool = False  # the ResNet papers use plain momentum; DenseNet/WRN use Nesterov
    # BN statistics of each group of this many images of a batch (64: the 2015 paper's two GPUs
    # of 64 images); 0: of the whole batch, as one device computes them
    bn_group: int = 0
    # with data.split=val: evaluate the test set too, and report the test error of the evaluation
    # with the lowest validation error (the stochastic-depth paper's selection)
    test_at_best_val: bool = False
    log_every: int = 100  # steps between metrics.jsonl/TensorBoard lines (one host sync each)
    eval_every: int = 2_000  # steps between test-set evaluations (and at the end)
    ckpt_every: int = 2_000  # steps between checkpoints (and at the end)
    keep_checkpoints: int = 2
    eval_batch_size: int = 1_000
    device: str = "auto"  # auto (CUDA when present, else CPU) | cpu | cuda | cuda:N
    precision: str = "fp32"  # fp32 (IEEE) | tf32 (CUDA matrix units) | bf16 (autocast; BN in fp32)
    channels_last: bool = True  # memory layout only; does not change results
    compile: bool = False  # torch.compile the training step
    # default | max-autotune-no-cudagraphs | reduce-overhead, max-autotune (with CUDA graphs)
    compile_mode: str = "default"
    cudnn_benchmark: bool = True  # cuDNN picks the fastest conv algorithms (CUDA; shapes fixed)
    # the whole eager step replayed as one CUDA graph per lr (CUDA; see resnet_lab.step_graph)
    step_graph: bool = False
    progress: str = "auto"  # auto (bar on a terminal only) | bar | none


@dataclass
class ExperimentCfg:
    """One row of a paper table; the report reads these fields from the same files."""

    name: str = ""  # e.g. "table1/gate_b6"; empty for an ad-hoc run
    table: str = ""  # e.g. "Identity Mappings, Table 1"
    row: str = ""  # the row's label as printed in the paper
    order: int = 0  # position of the row in its table
    reported: str | None = None  # reported test error in percent, "fail" (>20%), or null
    statistic: str = ""  # e.g. "median of 5", "best of 5", "mean +- std of 5"
    source: str = ""  # e.g. "arXiv:1603.05027 Table 1"
    note: str = ""


# What describes the paper's row rather than the run: the lab edits a row's note or statistic, and
# a resumed run takes the edit (its name is what the run is).
ROW_DESCRIPTION = tuple(
    f"experiment.{f.name}" for f in dataclasses.fields(ExperimentCfg) if f.name != "name"
)
# what a resumed run may change: besides the result-neutral settings (a compile bug must not
# strand a run), how far it trains (extending a finished run), how often and how many
# checkpoints it keeps (e.g. fewer, to go on on a disk that filled up; the batch stream is a
# function of the step, so any checkpoint step resumes exactly), and the row's description
# (data.root too, where the data are checked: train's _check_same_run)
RESUMABLE_CHANGES = (*RESULT_NEUTRAL, "trainer.max_steps", *ROW_DESCRIPTION)
RESUMABLE_CHANGES += ("trainer.ckpt_every", "trainer.keep_checkpoints")


@dataclass
class Config:
    """A whole run: what ``resnet-lab`` composes from the YAML groups and the overrides."""

    model: ModelCfg = field(default_factory=ModelCfg)
    shortcut: ShortcutCfg = field(default_factory=ShortcutCfg)
    after_add: AfterAddCfg = field(default_factory=AfterAddCfg)
    data: DataCfg = field(default_factory=DataCfg)
    trainer: TrainerCfg = field(default_factory=TrainerCfg)
    experiment: ExperimentCfg = field(default_factory=ExperimentCfg)
    seed: int = 0
    resume: bool = False  # continue the run in this output folder (skip it if it completed)
    # paper (full recipe) | smoke (tiny nets, a few steps: not comparable) | one's own
    profile: str = "paper"


def register_configs() -> None:
    """Register the schemas; called when this module is imported (every module that composes
    a config imports it), not by the package: ``import resnet_lab`` stays free of Hydra."""
    cs = ConfigStore.instance()
    cs.store(name="resnet_lab_schema", node=Config)


register_configs()


def check_known_keys(cfg: DictConfig) -> None:
    """Refuse keys the schema lacks: Hydra accepts ``+trainer.lrr=0.05`` (and suggests the ``+``
    when a key is misspelled), and the run would then silently ignore it."""
    unknown = keys_not_in_schema(cfg, Config)
    if unknown:
        raise ConfigError(unknown_keys_message(unknown))


def _header(file: Path | bytes) -> str:
    """The first 512 characters of a file (given by its path or its bytes, where the caller has
    read them): as much as Hydra's file config source reads for its header."""
    raw = io.BytesIO(file) if isinstance(file, bytes) else file.open("rb")
    with io.TextIOWrapper(raw, encoding="utf-8") as text:
        return text.read(512)


def begins_with_a_bom(file: Path | bytes) -> bool:
    """A byte-order mark hides the file's header from Hydra (an editor's UTF-8 "with BOM")."""
    try:
        return _header(file).startswith("\ufeff")
    except (OSError, UnicodeDecodeError):
        return False


def declares_global_package(path: Path) -> bool:
    """Whether Hydra reads the file's keys as the run's (its header: ``# @package _global_``)."""
    try:
        return _package(path, "experiment") == ""
    except (OSError, UnicodeDecodeError, ValueError):
        return False


def _package(file: Path | bytes, group: str) -> str:
    """Where Hydra puts the keys of a config of ``group`` (dotted; "" for the run's own): its
    header's ``@package``, read by Hydra's own parser (which stops at the first line that is no
    ``# @`` line), else the group's. ValueError: a header Hydra cannot read."""
    package = ConfigSource._get_header_dict(_header(file))["package"]
    if package is None:
        return group.replace("/", ".")
    if (last := package.rfind("_global_")) != -1:  # Hydra keeps what follows the last one
        package = package[last + len("_global_") :].lstrip(".")
    return package


def load_row(
    path: Path, kind: str = "experiment", content: bytes | None = None
) -> DictConfig | ListConfig:
    """A row file (or a profile: ``kind``) as OmegaConf reads it (read once per version of the
    file: do not modify it; ``content``: its bytes, where the caller has read them); a YAML
    mistake is one line that names the place."""
    try:
        return _loaded(path.read_bytes() if content is None else content)
    except Exception as exc:  # YAML's message runs over several lines: its problem and place
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        if context := getattr(exc, "context", None):  # e.g. "expected a single document"
            problem = f"{context}: {problem}"
        mark = getattr(exc, "problem_mark", None)
        place = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ConfigError(f"{kind} file {path} cannot be read: {problem}{place}") from None


@functools.lru_cache(maxsize=256)
def _loaded(content: bytes) -> DictConfig | ListConfig:
    """A file's YAML read as OmegaConf.load reads the file (UTF-8, universal newlines), once per
    content: a file rewritten within the clock's tick at the same size is read anew."""
    return OmegaConf.load(io.TextIOWrapper(io.BytesIO(content), encoding="utf-8"))


def row_problem(path: Path, group: str = "experiment") -> str | None:
    """What Hydra would answer in several lines, or a YAML trace, once a row of ``group`` (or
    a profile) is chosen: YAML it cannot read, keys the schema lacks or values of the wrong
    type where its package puts them. A row sets model., trainer. and experiment. alike, so it
    says ``# @package _global_`` first; one that only describes itself may live in
    experiment.'s. (The options its defaults list chooses are the command line's to check.)"""
    try:
        content: bytes | None = path.read_bytes()
    except OSError:
        content = None  # load_row says why
    return _row_problem(path, group, content)


@functools.lru_cache(maxsize=512)
def _row_problem(path: Path, group: str, content: bytes | None) -> str | None:
    """row_problem's answer, once per ``content`` of the file (its bytes; None where they
    could not be read, which load_row then says): the report checks every row and the option
    files each row chooses (the same few, row after row) at each call, and a check merges the
    file into the schema (about 10 ms)."""
    kind = group.partition("/")[0]
    noun = "row" if kind == "experiment" else kind
    try:
        row = load_row(path, kind, content)
    except ConfigError as e:
        return str(e)
    file = path if content is None else content  # None: load_row read it after all
    if not isinstance(row, DictConfig):
        keys = "model:, trainer:, ..." if kind in ("experiment", "profile") else "key: value lines"
        return f"{kind} file {path}: a {noun} is a mapping of settings ({keys})"
    try:
        package = _package(file, group)
    except ValueError as e:  # e.g. "# @package _global_ extra"
        return f"{kind} file {path}: its header cannot be read ({e})"
    if package == "":  # the run's own keys; hydra: is Hydra's
        return _settings_problem(path, _without(row, "defaults", "hydra"), kind) or (
            _reported_problem(path, row) if kind == "experiment" else None
        )
    settings: Any = _without(row, "defaults")
    if kind == "profile" and not settings:  # empty: Hydra's "Cannot convert DictConfig"
        return f"profile file {path} does not begin with `# @package _global_`: make it its first"
    if not settings:
        return None  # a defaults list alone (``- /experiment/common/base@_global_``)
    for part in reversed(package.split(".")):
        settings = {part: settings}
    placed = OmegaConf.create(settings)
    if (where_put := _settings_problem(path, placed, kind)) is None:
        return _reported_problem(path, placed) if kind == "experiment" else None
    if not set(_without(row, "defaults", "hydra")) <= set(structured_schema()):
        return where_put  # not the run's sections (name:, order:): its keys' own mistake
    if begins_with_a_bom(file):
        return (
            f"{kind} file {path} begins with a byte-order mark, which hides its header "
            "from Hydra: save it as UTF-8 without one"
        )
    return (
        f"{kind} file {path} does not begin with `# @package _global_`: without it Hydra "
        f"reads the {noun}'s keys below {package}., not as the run's; make that line its first"
    )


def check_seed(seed: int) -> None:
    """torch.manual_seed's range: past it, an overflow trace."""
    if not -(2**63) <= seed < 2**64:
        raise ConfigError(f"seed={seed} must be in [-2**63, 2**64)")


def _reported_problem(path: Path, settings: DictConfig) -> str | None:
    """The row's ``experiment.reported``, where its settings put it; an interpolation left
    unresolved is the run's to tell (one line), not a trace here."""
    reported = OmegaConf.select(settings, "experiment.reported", throw_on_resolution_failure=False)
    return reported_problem(path, reported)


REPORTED_RULE = "must be the paper's error in percent (e.g. '6.61'), 'fail' or null (no figure)"


def is_a_reported_figure(reported: Any) -> bool:
    """``experiment.reported`` as the report reads it: a percentage, 'fail' or None (not
    ``"6.61%"`` nor ``"n/a"``)."""
    if reported is None or reported == "fail":
        return True
    try:
        figure = math.nan if isinstance(reported, bool) else float(reported)
    except (TypeError, ValueError):
        return False
    return 0 <= figure <= 100


def reported_problem(path: Path, reported: Any) -> str | None:
    """A row's published figure the report cannot read: refused before a run trains the row,
    as the report refuses it."""
    if is_a_reported_figure(reported):
        return None
    return f"experiment file {path}: reported={reported!r} {REPORTED_RULE}"


def _without(row: DictConfig, *keys: str) -> DictConfig:
    return OmegaConf.masked_copy(row, [key for key in row if key not in keys])


def _settings_problem(path: Path, settings: DictConfig, kind: str) -> str | None:
    if unknown := keys_not_in_schema(settings, structured_schema()):
        named = ", ".join(with_closest_key(name, Config) for name in unknown)
        return f"{kind} file {path}: unknown key(s) {named}: not a resnet-lab setting"
    try:
        OmegaConf.merge(structured_schema(), settings)
    except Exception as exc:  # a wrong type: OmegaConf's first line, and the key
        first = str(exc).strip().splitlines()[0]
        key = getattr(exc, "full_key", None)
        return f"{kind} file {path}: {first}" + (f" ({key})" if key else "")
    return None


@functools.cache
def structured_schema(schema: type = Config) -> DictConfig:
    """The dataclass ``schema`` as OmegaConf builds it, built once per process (a command
    line's checks read it twice per override; each build took about 10 ms): read-only, as
    every caller shares it (a merge into it makes a copy, read-only too: a caller that sets
    values takes :func:`writable_schema`)."""
    built = OmegaConf.structured(schema)
    OmegaConf.set_readonly(built, True)
    return built


def writable_schema(schema: type = Config) -> DictConfig:
    """A copy of :func:`structured_schema` to set values in, as a check does to see what the
    schema's types refuse (a copy costs about 1 ms, a fresh build 8)."""
    copied = copy.deepcopy(structured_schema(schema))
    OmegaConf.set_readonly(copied, None)  # the shared schema's flag, not the copy's
    return copied


def unknown_keys_message(names: list[str]) -> str:
    """What resnet-lab says of keys its schema lacks, before or after Hydra composes."""
    named = ", ".join(with_closest_key(name, Config) for name in names)
    return (
        f"unknown key(s) {named}: not a resnet-lab setting (resnet-lab --help lists them; a "
        "'+' adds a key the run would ignore)"
    )


def in_schema(name: str, schema: type) -> bool:
    """Whether the dotted key ``name`` is a field of the dataclass ``schema``."""
    section, _, key = name.rpartition(".")
    return key in schema_keys(schema, section)


def with_closest_key(name: str, schema: type) -> str:
    """``trainer.lrr (did you mean trainer.lr?)``: the key of the same section it most likely
    misspells, if one is close (at difflib's 0.6 default, ``data.split`` was offered ``limit``);
    of a section that is none (``trainr.lr``), the closest whole key."""
    section, _, key = name.rpartition(".")
    known_here = schema_keys(schema, section)
    if section and not known_here:  # a misspelt section (trainr.lr): the closest whole key
        close = difflib.get_close_matches(name, list(_schema_defaults(schema)), n=1, cutoff=0.7)
        return f"{name} (did you mean {close[0]}?)" if close else name
    others = [known for known in known_here if known != key]
    close = difflib.get_close_matches(key, others, n=1, cutoff=0.7)
    return f"{name} (did you mean {section}{'.' if section else ''}{close[0]}?)" if close else name


def keys_not_in_schema(cfg: DictConfig, schema: type | DictConfig) -> list[str]:
    """Dotted names of the keys of ``cfg`` that the dataclass ``schema`` does not define.

    Hydra lets ``+key=value`` add keys even to a structured (struct-mode) config, where they
    would be silently ignored; callers turn these names into a ConfigError. Generic: it descends
    only into dataclass-typed fields, so a free-form ``dict`` field accepts any key. Unknown
    nested keys are reported at the first unknown level (``+a.b.c=1`` gives ``a.b``).
    """
    reference = schema if isinstance(schema, DictConfig) else structured_schema(schema)
    values = OmegaConf.to_container(cfg, resolve=False, throw_on_missing=False)
    assert isinstance(values, dict)
    return _unknown_keys(values, reference, "")


def _unknown_keys(values: dict[Any, Any], reference: DictConfig, prefix: str) -> list[str]:
    """One level of :func:`keys_not_in_schema`: plain values against the structured schema."""
    unknown = []
    defined = set(reference)  # its keys; `key in reference` is False where the value is ???
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in defined:
            unknown.append(name)
        elif (
            isinstance(value, dict)
            and dataclasses.is_dataclass(OmegaConf.get_type(reference, str(key)))
            and not OmegaConf.is_missing(reference, str(key))
        ):
            unknown += _unknown_keys(value, reference[key], f"{name}.")
    return unknown


def schema_keys(schema: type, section: str = "") -> list[str]:
    """The keys ``schema`` defines at ``section`` (dotted; "" for the top level): for messages."""
    node: Any = structured_schema(schema)
    if section:
        node = OmegaConf.select(node, section, throw_on_missing=False)
    return [str(k) for k in node] if isinstance(node, DictConfig) else []


def flatten_keys(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"trainer": {"lr": 0.1}}`` -> ``{"trainer.lr": 0.1}``: configs compared key by key."""
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(flatten_keys(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: tree}


@functools.cache
def _schema_defaults(schema: type = Config) -> dict[str, Any]:
    """``schema``'s keys, dotted, with their defaults."""
    return flatten_keys(OmegaConf.to_container(structured_schema(schema), resolve=True))


def with_schema_defaults(
    settings: dict[str, Any], sections: Collection[str] | None = None
) -> dict[str, Any]:
    """A run's flattened settings, each schema key it lacks set to its default: the key came
    with a newer lab, and the run did what that default does (options whose behaviour before
    them was not their default are completed first by models.shortcuts.config_as_trained).
    ``sections``: fill only keys of these top-level sections (a partial record's others are
    not known); None: every key."""
    return {
        **{
            key: value
            for key, value in _schema_defaults().items()
            if sections is None or key.split(".", 1)[0] in sections
        },
        **settings,
    }
