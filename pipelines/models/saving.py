"""The saved layout of a model that is more than one Hugging Face model: a head (CRF, mean pooling, joint
heads) over an encoder.

    model/
      config.json          {"model_type": "nlp_pipelines", "architectures": [<our class>], id2label, ...}
      encoder/             the Hugging Face part, save_pretrained layout (config.json, model.safetensors)
      heads.safetensors    the head's tensors, "<part>.<name>"

`config.json` says what the folder is: `AutoModelFor*.from_pretrained(model/)` fails with "model type
nlp_pipelines" instead of loading the encoder with a random head and only a warning.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from pipelines.errors import ModelFormatError, UnsafeModelError

MODEL_TYPE = "nlp_pipelines"
ENCODER_DIR, HEADS_FILE = "encoder", "heads.safetensors"


def save_composite(path: str | Path, architecture: str, inner: Any, parts: dict[str, dict[str, torch.Tensor]],
                   meta: dict[str, Any] | None = None) -> None:
    """Write `inner` (a PreTrainedModel) under `encoder/`, the `parts` tensors and a config.json naming
    `architecture`, the labels of `inner.config` and `meta`."""
    path = Path(path)
    inner.save_pretrained(path / ENCODER_DIR)
    save_heads(path, parts)
    cfg = inner.config
    config = {"model_type": MODEL_TYPE, "architectures": [architecture], "encoder": ENCODER_DIR,
              "id2label": {str(k): v for k, v in cfg.id2label.items()}, "label2id": dict(cfg.label2id),
              **(meta or {})}
    (path / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def is_composite(path: str | Path) -> bool:
    cfg = Path(path) / "config.json"
    return cfg.is_file() and json.loads(cfg.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE


def load_composite(path: str | Path) -> tuple[Path, dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """(the encoder's folder, the head tensors by part, config.json) of a folder written by `save_composite`."""
    path = Path(path)
    if not is_composite(path):
        raise ModelFormatError(f"{path}: not a saved nlp_pipelines model (config.json with model_type "
                                f"{MODEL_TYPE!r}); it may come from an older version: retrain it")
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    return path / (config.get("encoder") or ENCODER_DIR), load_heads(path), config


def load_pretrained(model_cls: Any, path: str | Path, **kwargs: Any) -> Any:
    """`model_cls.from_pretrained` on a saved folder, reading safetensors only: a `pytorch_model.bin` is a
    pickle, and a model folder from someone else must not run code when loaded (no remote code either)."""
    if getattr(model_cls, "__module__", "").startswith("transformers.models.auto"):
        kwargs.setdefault("trust_remote_code", False)
    try:
        return model_cls.from_pretrained(path, use_safetensors=True, **kwargs)
    except OSError as err:
        raise UnsafeModelError(f"{path}: no safetensors weights to load ({err}); pickled weights "
                               "(pytorch_model.bin) are not loaded, since loading them can run code") from None


def save_heads(path: str | Path, parts: dict[str, dict[str, torch.Tensor]]) -> None:
    """`parts` (part name -> state dict) as one heads.safetensors, keys "<part>.<name>"."""
    tensors = {f"{part}.{k}": v.detach().contiguous().cpu() for part, sd in parts.items() for k, v in sd.items()}
    save_file(tensors, str(Path(path) / HEADS_FILE))


def load_heads(path: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """The part name -> state dict mapping `save_heads` wrote."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(str(Path(path) / HEADS_FILE)).items():
        part, name = key.split(".", 1)
        parts.setdefault(part, {})[name] = value
    return parts


def save_config_model(model: Any, path: str | Path) -> None:
    """A model of ours built from a PretrainedConfig alone (the BiLSTMs, the scratch Transformer): config.json
    naming `model.architecture`, and model.safetensors."""
    model.config.architectures = [model.architecture]
    model.config.save_pretrained(path)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(Path(path) / "model.safetensors"))


def load_config_model(cls: Any, path: str | Path) -> Any:
    """The model `save_config_model` wrote, as `cls` (built from the config, weights loaded)."""
    from transformers import PretrainedConfig

    model = cls(PretrainedConfig.from_pretrained(path))
    model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
    return model


def saved_architecture(path: str | Path) -> str:
    """The architecture a saved model's config.json names (`architectures[0]`; "" when it names none)."""
    cfg = Path(path) / "config.json"
    if not cfg.is_file():
        raise ModelFormatError(f"{path}: no config.json, so no saved model here")
    names = json.loads(cfg.read_text(encoding="utf-8")).get("architectures") or [""]
    return str(names[0])


def load_by_architecture(path: str | Path, loaders: dict[str, Callable[[Path], Any]],
                         default: Callable[[Path], Any]) -> Any:
    """The model of `path`, loaded by the loader registered for the architecture its config.json records (a
    task's `loaders`: one entry per architecture it can save); a composite folder whose architecture has no
    loader is a ModelFormatError naming the ones that do; anything else (a Hugging Face model) goes to
    `default`."""
    name = saved_architecture(path)
    if name in loaders:
        return loaders[name](Path(path))
    if is_composite(path):
        raise ModelFormatError(f"{path}: a saved {name or 'unnamed'} model, which this task does not load "
                               f"(it loads {', '.join(sorted(loaders))}, or a Hugging Face model)")
    return default(Path(path))
