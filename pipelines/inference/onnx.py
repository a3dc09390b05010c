"""Any run's model as an ONNX graph, run by ONNX Runtime behind the same `TaskOutput` interface, so the task's
own decoding, `evaluate` and `Predictor` work on it unchanged.

    model-onnx/             (written by pipelines.inference.quantize)
      model.onnx            the graph: inputs input_ids, attention_mask (+ the model's extra inputs), outputs
                            the model's named scores (logits, pooled, ...), batch and length axes dynamic
      onnx.json             inputs, outputs, how it was made (quantisation method, calibration)
      config.json           labels (id2label)
      crf.safetensors       a CRF head's transitions: decoding runs in PyTorch on the graph's emissions
      tokenizer, featurizers and pipeline.json as in the run's model/

The export uses torch.onnx's TorchScript exporter (`dynamo=False`): the torch.export-based one fails on the
BiLSTM's packed sequences, and is seven times slower on MiniLM.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pipelines.models.outputs import TaskOutput, model_inputs

SPEC = "onnx.json"
GRAPH = "model.onnx"
CRF_FILE = "crf.safetensors"
OUTPUTS = tuple(f.name for f in fields(TaskOutput) if f.name != "hidden_states")


class _Named(nn.Module):
    """The model's forward as a tuple of its non-empty named outputs (what the exporter traces)."""

    def __init__(self, model: nn.Module, inputs: list[str], outputs: list[str]) -> None:
        super().__init__()
        self.model, self.inputs, self.outputs = model, inputs, outputs

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(**dict(zip(self.inputs, args, strict=True)))
        return tuple(out[name] for name in self.outputs)


def export_onnx(model: nn.Module, batch: dict[str, torch.Tensor], path: str | Path,
                check: dict[str, torch.Tensor] | None = None, tolerance: float = 1e-3) -> dict[str, Any]:
    """Write `model` (eval mode) as an ONNX graph traced on `batch` (give it padding, so the mask path is traced),
    then check ONNX Runtime against PyTorch on `check` (another batch, other shapes): a ValueError when any
    output differs by more than `tolerance`. Returns the spec (inputs, outputs)."""
    model = model.eval()
    args = model_inputs(model, batch)
    inputs = list(args)
    with torch.no_grad():
        out = model(**args)
    outputs = [name for name in OUTPUTS if out.get(name) is not None]
    axes = {k: {0: "batch", 1: "length"} for k in inputs}
    for k in inputs:
        if args[k].dim() == 3:
            axes[k][2] = "chars"
    for name in outputs:
        axes[name] = {0: "batch", 1: "length"} if out[name].dim() == 3 else {0: "batch"}
    wrapper = _Named(model, inputs, outputs).eval()
    with torch.no_grad():
        torch.onnx.export(wrapper, tuple(args[k] for k in inputs), str(path), input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, dynamo=False, opset_version=17)
    spec = {"inputs": inputs, "outputs": outputs}
    if check is not None:
        compare(model, OnnxModel(path, model.config, spec, getattr(model, "crf", None)), check, tolerance)
    return spec


def compare(model: nn.Module, onnx_model: nn.Module, batch: dict[str, torch.Tensor], tolerance: float) -> float:
    """The largest difference between the two models' outputs on `batch`; a ValueError above `tolerance`."""
    with torch.no_grad():
        ref, got = model.eval()(**model_inputs(model, batch)), onnx_model(**model_inputs(onnx_model, batch))
    worst = 0.0
    for name in onnx_model.outputs:
        worst = max(worst, float((ref[name] - got[name]).abs().max()))
    if worst > tolerance:
        raise ValueError(f"the ONNX graph's outputs differ from PyTorch's by {worst:.3g} (> {tolerance}): the "
                         "export traced a path that does not hold for other inputs")
    return worst


class OnnxModel(nn.Module):
    """An ONNX Runtime session that answers like the model it was exported from: `forward(**inputs)` returns a
    TaskOutput; `config` (labels) and a CRF head (decoding) come along. No gradients.

    Args:
        path: the .onnx file.
        config: the source model's config (id2label).
        spec: {"inputs": [...], "outputs": [...]}.
        crf: the source model's CRF module, if any.
        threads: ONNX Runtime intra-op threads (0 = its default: all cores).
    """

    def __init__(self, path: str | Path, config: Any, spec: dict[str, Any], crf: nn.Module | None = None,
                 threads: int = 0) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.config, self.outputs = config, list(spec["outputs"])
        self.extra_inputs = tuple(k for k in spec["inputs"] if k not in ("input_ids", "attention_mask"))
        self.inputs = [i.name for i in self.session.get_inputs()]  # the exporter drops inputs a graph never reads
        self.crf = crf
        self.anchor = nn.Parameter(torch.zeros(0), requires_grad=False)  # where callers look for the device

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor) -> TaskOutput:
        feed = {"input_ids": input_ids, "attention_mask": attention_mask, **extra}
        values = self.session.run(self.outputs, {k: feed[k].cpu().numpy().astype(np.int64) for k in self.inputs})
        return TaskOutput(**{k: torch.from_numpy(v) for k, v in zip(self.outputs, values, strict=True)})

    def save_pretrained(self, path: str | Path) -> None:
        """The config and CRF beside the graph (the graph itself is written by `export_onnx`)."""
        save_heads(self.config, self.crf, path)

    @classmethod
    def load(cls, path: str | Path, threads: int = 0) -> OnnxModel:
        """The model of a folder written by pipelines.inference.quantize."""
        from safetensors.torch import load_file
        from transformers import PretrainedConfig

        path = Path(path)
        spec = json.loads((path / SPEC).read_text(encoding="utf-8"))
        raw = json.loads((path / "config.json").read_text(encoding="utf-8"))
        config = PretrainedConfig(**{k: v for k, v in raw.items() if k != "model_type"})  # labels and sizes
        crf = None
        if (path / CRF_FILE).exists():
            from pipelines.models.crf import ConstrainedCRF

            crf = ConstrainedCRF([config.id2label[i] for i in range(len(config.id2label))])
            crf.load_state_dict(load_file(str(path / CRF_FILE)))
        return cls(path / GRAPH, config, spec, crf, threads).eval()


def save_heads(config: Any, crf: nn.Module | None, path: str | Path) -> None:
    """What runs beside the graph: the config (labels) and a CRF head's transitions."""
    from safetensors.torch import save_file

    config.save_pretrained(path)
    if crf is not None:
        save_file({k: v.contiguous() for k, v in crf.state_dict().items()}, str(Path(path) / CRF_FILE))


def is_onnx(path: str | Path) -> bool:
    return (Path(path) / SPEC).is_file()
