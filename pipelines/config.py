"""One typed run configuration: frozen dataclasses loaded from YAML plus dotted overrides.

An unknown key or a value of the wrong type is a `ConfigError` that names the key, the value and the
expected type. Every run writes its resolved config next to its outputs, so that
`python -m pipelines.training.train runs/X/config.yaml` reproduces it.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import ConfigError  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class DataConfig:
    path: str = field(default="", metadata={"help": "dir, file or hub:name; empty = the task's shipped sample"})
    format: str = field(default="auto", metadata={"help": "auto|conll|seq|csv|jsonl|clinc|inline|folders|"
                                                          "dialogue|hub (folders: <label>/<file>.txt; dialogue: "
                                                          "sim-M's JSON, pipelines/data/dialogue.py)"})
    tag_column: int = field(default=-1, metadata={"help": "CoNLL column holding the tag (-1 = last)"})
    scheme: str = field(default="auto", metadata={"help": "tag scheme of the input: auto|iob1|iob2|bioes"})
    text_field: str = field(default="text", metadata={"help": "CSV/JSONL column with the text"})
    label_field: str = field(default="label", metadata={"help": "CSV/JSONL column with the class label"})
    doc_context: bool = field(default=False, metadata={"help": "NER: add words of neighbouring sentences"})
    max_length: int = field(default=128, metadata={"help": "sub-tokens per window incl. special tokens"})
    dev_fraction: float = field(default=0.1, metadata={"help": "share of train held out when no dev split"})
    encoding_fallback: str = field(default="", metadata={"help": "folders: decode a non-UTF-8 file with this "
                                                                 "codec (e.g. latin-1) instead of stopping"})
    train: str = field(default="", metadata={"help": "the training file by name, for split files named otherwise "
                                                     "than train.* (e.g. wnut17train.conll); relative to data.path "
                                                     "when that is a folder"})
    dev: str = field(default="", metadata={"help": "the dev file by name (with data.train)"})
    test: str = field(default="", metadata={"help": "the test file by name (with data.train)"})
    splitter: str = field(default="auto", metadata={"help": "how raw text is split into words at prediction: "
                                                           "treebank | regex | auto (the one that gives back most "
                                                           "training sentences' own tokens; regex for text-only "
                                                           "data); the run records the choice"})

    def __post_init__(self) -> None:
        if self.splitter not in {"auto", "treebank", "regex", "whitespace"}:
            raise ConfigError(f"data.splitter={self.splitter!r}: expected auto|treebank|regex|whitespace")
        if (self.dev or self.test) and not self.train:
            raise ConfigError("data.dev / data.test name split files: give data.train too")
        if not self.format.replace("_", "").isalnum():  # the formats are the readers registered in data.splits
            raise ConfigError(f"data.format={self.format!r}: expected a format name (auto, hub or a registered "
                              "reader: conll, seq, csv, jsonl, clinc, inline, folders, dialogue)")
        if self.scheme not in {"auto", "iob1", "iob2", "bioes"}:
            raise ConfigError(f"data.scheme={self.scheme!r}: expected auto|iob1|iob2|bioes")
        if self.max_length < 8:
            raise ConfigError(f"data.max_length={self.max_length}: expected >= 8")
        if not 0.0 < self.dev_fraction < 1.0:
            raise ConfigError(f"data.dev_fraction={self.dev_fraction}: expected in (0, 1)")


META = "pipeline.json"  # what a finished run's model folder holds besides the weights
# the model folder's layout version, written into pipeline.json ("schema"); a folder without it is schema 1 (the
# layout since pipeline.json holds the whole options and data config). Raise it when a change breaks old folders.
SCHEMA = 1


def finished_run(path: str) -> Path | None:
    """The model folder of a finished run when `path` names one (a run dir or its model/), else None."""
    if not path:
        return None
    folder = Path(path).expanduser()
    for candidate in (folder / "model", folder):
        if (candidate / META).is_file():
            return candidate
    return None


def _saved_options(folder: Path) -> dict[str, Any]:
    import json

    return json.loads((folder / META).read_text(encoding="utf-8")).get("options", {})


def _origin(options: dict[str, Any]) -> tuple[str, str]:
    """(pretrained encoder, architecture) of saved `options`, in either layout, following `init` (or the old
    `encoder: <run>`) back to the run a chain of continued runs began with."""
    seen: set[Path] = set()
    while True:
        encoder, architecture = options.get("encoder", "default"), options.get("architecture", "transformer")
        if encoder in ("bilstm", "scratch"):  # the layout before `architecture`
            return "default", encoder
        folder = finished_run(options.get("init") or "") or finished_run(encoder)
        if folder is None or folder.resolve() in seen:
            return encoder, architecture
        seen.add(folder.resolve())
        options = _saved_options(folder)


@dataclass(frozen=True)
class ModelOptions:
    """Model settings every task has; each task's `Options` subclasses this with its own fields and checks
    (tasks/<name>.py), so an option that a task does not have is an unknown key for that task.

    Three options say where a model comes from: `encoder` (which pretrained encoder), `architecture` (what is
    built on it, or instead of it: the word-level `bilstm` and `scratch` models read no pretrained encoder) and
    `init` (a finished run whose weights the new model starts from)."""

    ARCHITECTURES: typing.ClassVar[tuple[str, ...]] = ("transformer",)  # what this task can build

    encoder: str = field(
        default="default",
        metadata={"help": "the pretrained encoder: 'default' (bundled all-MiniLM-L6-v2), 'tiny' (random, tests), "
                          "a Hugging Face id or a local save_pretrained dir"},
    )
    architecture: str = field(default="transformer", metadata={
        "help": "transformer (a head on the pretrained encoder) | bilstm | scratch (word-level models built from "
                "the training split, where the task has them)"})
    init: str = field(default="", metadata={
        "help": "a finished run (its dir or model/) to continue from: every weight is taken over, head rows map "
                "by label name, and its encoder and architecture are kept ('' = a fresh model)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout of the classification head"})

    def __post_init__(self) -> None:
        if self.encoder in ("bilstm", "scratch"):
            raise ConfigError(f"model.encoder={self.encoder}: the architecture is its own option now; write "
                              f"model.architecture={self.encoder} (model.encoder names a pretrained encoder)")
        if finished_run(self.encoder) is not None:
            raise ConfigError(f"model.encoder={self.encoder} is a finished run: continuing from a run is its own "
                              f"option now; write model.init={self.encoder} (or train --init), and leave "
                              "model.encoder out")
        if self.architecture not in self.ARCHITECTURES:
            raise ConfigError(f"model.architecture={self.architecture!r}: this task builds "
                              f"{'|'.join(self.ARCHITECTURES)}")
        if self.init:  # the new model is built as the run it continues was: its encoder, its architecture
            folder = finished_run(self.init)
            if folder is None:
                raise ConfigError(f"model.init={self.init}: not a finished run (no pipeline.json in it or in its "
                                  "model/)")
            encoder, architecture = _origin(_saved_options(folder))
            object.__setattr__(self, "encoder", encoder)
            object.__setattr__(self, "architecture", architecture)
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"model.dropout={self.dropout}: expected in [0, 1)")

    @property
    def word_level(self) -> bool:
        """Whether the model reads words through a vocabulary built from the training split (no pretrained
        encoder, no pretrained tokenizer)."""
        return self.architecture != "transformer"

    @classmethod
    def from_saved(cls, options: dict[str, Any]) -> ModelOptions:
        """The options a saved run recorded (pipeline.json, a checkpoint), upgraded from the layout before
        `architecture` and `init` existed: `encoder: bilstm|scratch` was the architecture, `encoder: <run>`
        the run to continue from (on that run's own encoder)."""
        options = dict(options)
        encoder = options.get("encoder", "default")
        if encoder in ("bilstm", "scratch"):
            options.update(encoder="default", architecture=encoder)
        elif finished_run(encoder) is not None:
            options.update(encoder="default", init=encoder)  # __post_init__ takes the run's encoder
        if options.get("init") and finished_run(options["init"]) is None:
            options["init"] = ""  # the parent folder is gone: the saved weights are all a saved model needs
        return cls(**options)

    def check(self, condition: bool, message: str) -> None:
        """Raise a ConfigError with `message` unless `condition` (for the subclasses' cross-field checks)."""
        if not condition:
            raise ConfigError(message)


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 13
    epochs: int = 3
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1 = epochs)"})
    max_minutes: float = field(default=0.0, metadata={"help": "stop training after this many minutes of wall time "
                                                              "(0 = no limit); the model at that point is exported"})
    batch_size: int = 32
    eval_batch_size: int = 64
    lr: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    head_lr: float = field(default=0.0, metadata={"help": "learning rate outside the pretrained encoder (heads, CRF, "
                                                          "feature embeddings); 0 = train.lr"})
    layer_decay: float = field(default=1.0, metadata={"help": "layer-wise learning-rate decay in the pretrained "
                                                              "encoder: layer i of L trains at lr x decay^(L - i), "
                                                              "the embeddings at lr x decay^L; 1 = off"})
    grad_clip: float = 1.0
    accumulate_grad_batches: int = field(default=1, metadata={"help": "micro-batches per optimizer step (each "
                                                                      "loss / k; see reports/memory.md)"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "recompute the encoder's activations "
                                                                          "in backward: less memory, more time"})
    batch_tokens: int | str = field(default=0, metadata={"help": "token-budget batches: up to this many padded "
                                                                 "tokens per batch instead of batch_size examples "
                                                                 "(0 = off; auto = batch_size x the mean training "
                                                                 "length)"})
    bucketing: bool = field(default=True, metadata={"help": "length-grouped batches with dynamic padding"})
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    threads: int = field(default=0, metadata={"help": "torch threads (0 = torch's default)"})
    out_dir: str = "runs"
    val_check_interval: int | float = field(default=1.0,
                                            metadata={"help": "int = every N batches, float = share of an epoch"})
    limit_train_batches: int | float = field(default=1.0, metadata={"help": "int = batches, float = share"})
    progress_bar: bool = True
    keep_checkpoints: str = field(default="last", metadata={"help": "what checkpoints/ keeps once training ends: "
                                                                    "last (resumable) | both (+ best.ckpt) | none "
                                                                    "(model/ only); each holds the optimizer state"})
    label_smoothing: float = field(default=0.0, metadata={"help": "softmax heads: label smoothing of the loss"})
    class_weights: str = field(default="none", metadata={"help": "none | balanced (softmax heads: weight each "
                                                                 "label by n / (labels * count) in train)"})
    sampling: str = field(default="none", metadata={"help": "none | sqrt | balanced: resample training examples "
                                                            "by 1/count(label)^(1/2 or 1) (class imbalance)"})
    focal_gamma: float = field(default=0.0, metadata={"help": "softmax heads: focal loss with this gamma (0 = "
                                                               "off; class_weights become its alpha)"})
    logit_adjustment: float = field(default=0.0, metadata={"help": "softmax heads: tau of the logit-adjusted "
                                                                   "loss (train label priors; 0 = off)"})
    calibration: str = field(default="none", metadata={"help": "none | temperature: after training, fit one "
                                                               "temperature on validation NLL and fold it into the "
                                                               "class head (classification tasks) | "
                                                               "temperature_ece: that temperature times the factor "
                                                               "in [0.5, 2] with the lowest validation ECE (class "
                                                               "heads)"})
    replay: int = field(default=-1, metadata={"help": "continuing a run (--init): examples per earlier label "
                                                      "replayed from its training data (0 = new data only; -1 = "
                                                      "20 for a classification task, 0 otherwise)"})
    replay_select: str = field(default="random", metadata={"help": "random (seeded, class-balanced) | herding"})
    soft_weight: float = field(default=0.5, metadata={"help": "with soft targets in the data (annotator votes, a "
                                                           "teacher): share of the loss on them (1 = soft only)"})

    def __post_init__(self) -> None:
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"train.label_smoothing={self.label_smoothing}: expected in [0, 1)")
        if self.class_weights not in {"none", "balanced"}:
            raise ConfigError(f"train.class_weights={self.class_weights!r}: expected none|balanced")
        if self.calibration not in {"none", "temperature", "temperature_ece"}:
            raise ConfigError(f"train.calibration={self.calibration!r}: expected none|temperature|temperature_ece")
        if self.replay < -1 or self.replay_select not in {"random", "herding"}:
            raise ConfigError(f"train.replay={self.replay}, train.replay_select={self.replay_select!r}: expected "
                              ">= 0 (or -1, the default) and random|herding")
        if self.sampling not in {"none", "sqrt", "balanced"}:
            raise ConfigError(f"train.sampling={self.sampling!r}: expected none|sqrt|balanced")
        if not 0.0 <= self.soft_weight <= 1.0:
            raise ConfigError(f"train.soft_weight={self.soft_weight}: expected in [0, 1]")
        if self.focal_gamma < 0 or self.logit_adjustment < 0:
            raise ConfigError("train.focal_gamma and train.logit_adjustment must be >= 0")
        if self.focal_gamma > 0 and self.label_smoothing > 0:
            raise ConfigError(f"train.focal_gamma={self.focal_gamma} and train.label_smoothing={self.label_smoothing} "
                              "together: choose one (the focal loss needs train.label_smoothing=0; a task's "
                              "config may smooth by default)")
        for name in ("epochs", "batch_size", "eval_batch_size", "accumulate_grad_batches", "devices", "num_nodes"):
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name}={getattr(self, name)}: expected >= 1")
        if self.lr <= 0 or self.head_lr < 0:
            raise ConfigError(f"train.lr={self.lr}, train.head_lr={self.head_lr}: expected lr > 0, head_lr >= 0")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ConfigError(f"train.layer_decay={self.layer_decay}: expected in (0, 1] (1 = off)")
        if self.keep_checkpoints not in {"last", "both", "none"}:
            raise ConfigError(f"train.keep_checkpoints={self.keep_checkpoints!r}: expected last|both|none")
        if self.max_minutes < 0:
            raise ConfigError(f"train.max_minutes={self.max_minutes}: expected >= 0 (0 = no limit)")
        if self.batch_tokens != "auto" and (isinstance(self.batch_tokens, str) or self.batch_tokens < 0):
            raise ConfigError(f"train.batch_tokens={self.batch_tokens!r}: expected an integer >= 0 (0 = batch_size "
                              "examples) or auto (batch_size x the mean training length)")
        if self.batch_tokens and self.devices * self.num_nodes > 1:
            raise ConfigError(f"train.batch_tokens={self.batch_tokens} with more than one device: token-budget "
                              "batches are single-process for now; set train.batch_tokens=0 (train.batch_size "
                              "examples per batch, with bucketing)")


@dataclass(frozen=True)
class RunConfig:
    task: str
    data: DataConfig = DataConfig()
    model: ModelOptions = ModelOptions()  # the task's Options subclass
    train: TrainConfig = TrainConfig()


def _check_type(key: str, value: Any, hint: Any) -> Any:
    """Return `value` as type `hint` (int -> float allowed) or raise ConfigError naming `key`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            try:
                return _check_type(key, value, arg)
            except ConfigError:
                continue
        raise ConfigError(f"{key}={value!r}: expected {hint}")
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # YAML reads 1e-4 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{key}={value!r}: expected {hint.__name__}, got {type(value).__name__}")
    return value


def _build(cls: type, values: dict[str, Any], prefix: str, options: type | None = None, task: str = "") -> Any:
    """`cls` from a mapping; the `model` section is built as `options` (the task's Options class)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        section = prefix.rstrip(".") or "the top level"
        whose = f" for task {task!r}" if task and prefix == "model." else ""
        raise ConfigError(f"unknown config key '{prefix}{unknown[0]}'{whose}; known keys in {section}: "
                          f"{sorted(names)}")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if prefix == "" and name == "model" and options is not None:
            if not isinstance(value, dict):
                raise ConfigError(f"model: expected a mapping, got {value!r}")
            kwargs[name] = _build(options, value, "model.", task=task)
        elif dataclasses.is_dataclass(hint):
            if not isinstance(value, dict):
                raise ConfigError(f"{prefix}{name}: expected a mapping, got {value!r}")
            kwargs[name] = _build(hint, value, f"{prefix}{name}.")
        else:
            kwargs[name] = _check_type(f"{prefix}{name}", value, hint)
    return cls(**kwargs)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split 'section.key=value' into (['section', 'key'], value parsed as YAML scalar)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected section.key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw) if raw != "" else ""
    return key.strip().split("."), value


def load_config(path: str | Path | None = None, overrides: list[str] | None = None,
                task: str | None = None) -> RunConfig:
    """Load a `RunConfig` from a YAML file (optional), then apply dotted overrides.

    Args:
        path: YAML file; when None, the task's shipped `configs/<task>.yaml` (a ConfigError when missing).
        overrides: strings like "train.lr=1e-4".
        task: task name; overrides the YAML's `task` key.
    """
    if path is None and task is not None:
        path = default_config_path(task)
    raw = read_raw(path, overrides)
    if task is not None:
        raw["task"] = task
    return build_run_config(raw, path)


def read_raw(path: str | Path | None, overrides: list[str] | None = None) -> dict[str, Any]:
    """The YAML file's mapping (empty without a file) with dotted overrides applied."""
    raw: dict[str, Any] = {}
    if path is not None:
        if not Path(path).is_file():
            raise ConfigError(f"config file {path}: no such file")
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at top level")
    for text in overrides or []:
        keys, value = parse_override(text)
        node = raw
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {k!r} is not a section")
        node[keys[-1]] = value
    return raw


def build_run_config(raw: dict[str, Any], path: str | Path | None = None) -> RunConfig:
    """A RunConfig from a mapping (the `model` section with the task's Options)."""
    if "task" not in raw:
        raise ConfigError(f"{path or 'config'}: no task given (set 'task:' or pass --task)")
    from pipelines.registry import task_class

    return _build(RunConfig, raw, "", options=task_class(str(raw["task"])).Options, task=str(raw["task"]))


def build_section(cls: type, values: dict[str, Any], name: str) -> Any:
    """A config dataclass other than RunConfig (distill, quantize, serve) from a mapping: unknown keys and
    wrong types are ConfigErrors naming `name.key`."""
    if not isinstance(values, dict):
        raise ConfigError(f"{name}: expected a mapping, got {values!r}")
    return _build(cls, values, f"{name}.")


from pipelines.shipped import CONFIG_DIR  # noqa: E402  (re-exported: distill, quantize, serve read it here)


def default_config_path(task: str) -> Path:
    """The shipped `configs/<task>.yaml` (pipelines.shipped); a ConfigError when the task has none."""
    path = CONFIG_DIR / f"{task}.yaml"
    if not path.is_file():
        from pipelines.registry import task_class

        task_class(task)  # an unknown task says so first
        raise ConfigError(f"no config for task {task!r}: {path} does not exist; pass a config file "
                          "(nlp-pipelines train my.yaml)")
    return path


def same_run(a: RunConfig, b: RunConfig) -> bool:
    """True when two configs train the same model: where the run is written, the progress bar, which checkpoints
    are kept, the prediction-time word splitter and how the data path is spelled aside."""
    def norm(cfg: RunConfig) -> dict[str, Any]:
        c = to_dict(cfg)
        path = c["data"]["path"]
        c["data"]["path"] = str(Path(path).resolve()) if path and not path.startswith("hub:") else path
        c["data"].pop("splitter", None)  # how raw text is split at prediction: no change to the model
        c["train"] = {k: v for k, v in c["train"].items() if k not in {"out_dir", "progress_bar", "keep_checkpoints"}}
        return c
    return norm(a) == norm(b)


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def replace(cfg: RunConfig, **sections: dict[str, Any]) -> RunConfig:
    """Return a copy with some fields of some sections replaced, e.g. replace(cfg, train={"seed": 2})."""
    try:
        updates = {name: dataclasses.replace(getattr(cfg, name), **vals) for name, vals in sections.items()}
    except TypeError as err:  # a field the section (e.g. this task's options) does not have
        raise ConfigError(f"replace({sections}): {err}") from None
    return dataclasses.replace(cfg, **updates)
