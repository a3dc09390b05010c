"""The task contract: what every `tasks/<name>.py` defines, and all the shared machinery may call.

A task is a `Task` subclass (registered as `TASK` in its module) with:
- class attributes: `name`, `Options` (its model options dataclass, a `ModelOptions` subclass), `columns`
  (the fields a labelled example carries; `optional_columns`, those it reads when present), `gold` (the
  field `score(..., gold=...)` reads), `monitor` (the validation metric that picks the best checkpoint,
  higher is better) and `sample` (shipped data);
- required hooks: `label_list`, `build_model`, `load_model`, `encode`, `loss`, `decoder`, `gather`,
  `score` and `predict`;
- optional hooks, declared here with a default that does nothing special: `build_tokenizer`,
  `augment`, `fit_featurizers`, `fit_after_training`, `load_featurizers`, `prepare_model`, `join_windows`,
  `head_labels` and `distributions` (the last raises where a task has none).

Models return named outputs (pipelines.models.outputs.TaskOutput) and compute no loss: the task's `loss`
hook turns outputs and targets into one, through the shared criterion (pipelines.models.losses).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol

import torch
from datasets import Dataset

from pipelines.config import DataConfig, ModelOptions
from pipelines.data.batching import Features
from pipelines.data.tags import LabelSets
from pipelines.errors import ConfigError
from pipelines.models.losses import Criterion
from pipelines.models.outputs import TaskOutput
from pipelines.shipped import SAMPLES  # noqa: F401  (re-exported: each task's shipped sample folder)

Records = list[dict[str, Any]]
Featurizers = dict[str, Any]  # what fit_featurizers / fit_after_training return and load_featurizers reads back
Decoder = Callable[..., list[int]] | None



class Featurizer(Protocol):
    """Something fitted on the training split and saved with the model (word vectors, topics, a detector)."""

    def save_pretrained(self, path: str | Path) -> None: ...


class Task(ABC):
    """Base class of every task; see the module docstring for the contract. A subclass that misses a required
    hook cannot be instantiated (TypeError naming the hook)."""

    name: ClassVar[str]
    Options: ClassVar[type[ModelOptions]] = ModelOptions
    columns: ClassVar[tuple[str, ...]]
    optional_columns: ClassVar[tuple[str, ...]] = ()  # fields a task reads when present (gold may be one)
    gold: ClassVar[str]
    monitor: ClassVar[str]
    sample: ClassVar[Path]
    report_notes: ClassVar[tuple[str, ...]] = ()
    # False where the task's loss feeds the shared criterion only to softmax heads even when its model has a
    # CRF (so class weights, focal loss etc. may be combined with that CRF)
    criterion_on_crf: ClassVar[bool] = True
    # True where the model's `logits` are its only scores and `labels` their targets, so that a teacher's scores
    # of the same shape can train a student (pipelines.training.distill)
    distillable: ClassVar[bool] = False
    # the linear layer (a parameter-name prefix) whose outputs are the class logits that `gather` turns into
    # per-example `probs`; '' = none. train.calibration=temperature divides it by the fitted temperature
    class_head: ClassVar[str] = ""

    def __init__(self, options: ModelOptions | None = None) -> None:
        if options is None:
            options = self.Options()
        if not isinstance(options, self.Options):
            raise ConfigError(f"task {self.name!r} takes {self.Options.__name__}, got {type(options).__name__}")
        self.options = options

    # required hooks ------------------------------------------------------------------------------------
    @abstractmethod
    def label_list(self, splits: dict[str, Dataset]) -> list[str] | LabelSets:
        """The label vocabulary from the read splits: one list (index = class id), or a `LabelSets` for a model
        with several heads (each head's ids index its own set). The harness stores either as one list
        (`flat_labels`: config.json's id2label) and hands that list, or its label2id / id2label, to
        `build_model`, `encode` and `score`, which read a LabelSets back with `LabelSets.of`."""
        raise NotImplementedError

    @abstractmethod
    def build_model(self, labels: Sequence[str], tokenizer: Any,
                    featurizers: dict[str, Featurizer] | None = None) -> torch.nn.Module:
        """A fresh model for `labels` on `self.options.encoder`, in train mode."""
        raise NotImplementedError

    @abstractmethod
    def load_model(self, path: str | Path) -> torch.nn.Module:
        """The model a run saved in `path` (its `model/` folder), in eval mode."""
        raise NotImplementedError

    @abstractmethod
    def encode(self, ds: Dataset, tokenizer: Any, label2id: dict[str, int], data: DataConfig,
               featurizers: Featurizers | None = None) -> Features:
        """Features (one row per example or window) with `input_ids`, `example_id` and, when `ds` is
        labelled, targets; a label missing from `label2id` becomes -100. `featurizers` are the fitted ones
        (fit_featurizers during training, load_featurizers for a saved model): a task keeps no fitted state."""
        raise NotImplementedError

    @abstractmethod
    def loss(self, model: torch.nn.Module, out: TaskOutput, batch: dict[str, torch.Tensor],
             criterion: Criterion) -> torch.Tensor:
        """The training loss of one batch from the model's named outputs and the batch's targets."""
        raise NotImplementedError

    @abstractmethod
    def decoder(self, model: torch.nn.Module, decode: str | None = None) -> Decoder:
        """What turns scores into labels (None where argmax is all there is); `decode` overrides the
        options' decoding."""
        raise NotImplementedError

    @abstractmethod
    def gather(self, batch: dict[str, torch.Tensor], out: TaskOutput, decode_fn: Decoder) -> Records:
        """Per row of the batch, a record of predictions (and gold ids when the batch has targets)."""
        raise NotImplementedError

    @abstractmethod
    def score(self, records: Records, id2label: dict[int, str], gold: Sequence[Any] | None = None) -> dict[str, Any]:
        """Metrics from records; `gold` (the `gold` field's values) replaces the records' gold ids."""
        raise NotImplementedError

    @abstractmethod
    def predict(self, model: torch.nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int,
                data: DataConfig | None, featurizers: dict[str, Any]) -> Records:
        """One prediction dict per raw text, encoded as the run's data config (pipeline.json) says: its window
        length, its word splitter (`data.splitter`), its features."""
        raise NotImplementedError

    # optional hooks ------------------------------------------------------------------------------------
    def build_tokenizer(self, splits: dict[str, Dataset]) -> Any:
        """The tokenizer: the one saved with the run `model.init` continues; for a word-level architecture
        (`bilstm`, `scratch`) a WordTokenizer over the training split's words (its `tokens`, else its `text`
        split as raw text is at prediction time); else the pretrained encoder's own."""
        from pipelines.config import finished_run
        from pipelines.data.align import words_of
        from pipelines.data.words import WordTokenizer
        from pipelines.models.encoders import load_saved_tokenizer, load_tokenizer

        if self.options.init:
            return load_saved_tokenizer(finished_run(self.options.init))
        if self.options.word_level:
            if "train" not in splits:
                raise ConfigError(f"model.architecture={self.options.architecture} builds its vocabulary from the "
                                  "training split: pass the splits, or a tokenizer "
                                  "(pipelines.data.words.WordTokenizer.build(sentences))")
            train = splits["train"]
            return WordTokenizer.build(train["tokens"] if "tokens" in train.column_names else words_of(train["text"]))
        return load_tokenizer(self.options.encoder)

    def augment(self, train: Dataset, tokenizer: Any, seed: int) -> Dataset:
        """The training split a run trains on, with any examples the task adds (the dialogue task's made-up
        slot values); by default `train` itself. Only training reads it: validation and test stay as read."""
        return train

    def fit_featurizers(self, splits: dict[str, Dataset], tokenizer: Any, seed: int) -> dict[str, Featurizer]:
        """Featurizers fitted on the training split before the model is built; saved under `model/`."""
        return {}

    def fit_after_training(self, model: torch.nn.Module, tokenizer: Any, splits: dict[str, Dataset],
                           data: DataConfig, batch_size: int = 64,
                           featurizers: Featurizers | None = None) -> dict[str, Featurizer]:
        """Featurizers fitted on the trained model (e.g. an off-topic detector); saved under `model/` with it.
        `featurizers`: those fitted before training (fit_featurizers)."""
        return {}

    def load_featurizers(self, path: str | Path) -> dict[str, Any]:
        """What `predict` needs besides the model, loaded from a saved `model/` folder."""
        return {}

    def prepare_model(self, model: torch.nn.Module, splits: dict[str, Dataset]) -> None:
        """Fit data-derived model state before training (e.g. which slots go with which intent); none by
        default."""
        return None

    def join_windows(self, records: Records, decode_fn: Decoder) -> Records:
        """Merge the records of an example split into windows (token tasks); classification keeps them."""
        return records

    def entity_tags(self, model: torch.nn.Module) -> list[str]:
        """The IOB2 tags whose word scores `gather` keeps (`scores`) and whose entities `predict` scores with
        `tagging.entity_probs`, gold in the `gold` column as tag strings; [] = the task predicts no entities.
        train.calibration=temperature fits their temperature on dev."""
        return []

    @property
    def scores_entities(self) -> bool:
        """Whether the task overrides `entity_tags` (its predictions carry scored entities)."""
        return type(self).entity_tags is not Task.entity_tags

    def class_targets(self, labels: Sequence[str]) -> tuple[str, int]:
        """The feature field whose class ids class weights, label priors and resampling count, and the size of
        that label set. Default: `labels` over the whole vocabulary."""
        return "labels", len(labels)

    def head_labels(self, model: torch.nn.Module) -> dict[str, list[str]]:
        """Parameter-name prefixes of the head and the labels its rows follow, so that a model continued from
        an earlier run maps rows by label name (pipelines.training.warm_start). Default: a `classifier` layer
        over the model's labels, as Hugging Face's classifiers and MeanPoolClassifier have."""
        return {"classifier": labels_of(model)}

    def distributions(self, model: torch.nn.Module, tokenizer: Any, ds: Dataset, data: DataConfig,
                      batch_size: int = 64, featurizers: Featurizers | None = None) -> Any:
        """Per example, predicted label probabilities (for bad-label detection)."""
        raise NotImplementedError(f"task {self.name!r} has no label distributions")


def labels_of(model: torch.nn.Module) -> list[str]:
    """The model's labels in class-id order (from its config's id2label)."""
    return [model.config.id2label[i] for i in range(len(model.config.id2label))]
