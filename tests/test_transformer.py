"""The hand-written Transformer encoder against torch's own layer, and why the attention mask matters."""

import pytest
import torch
from torch import nn

from pipelines.models.transformer import EncoderLayer, ScratchClassifier

D, HEADS, FF = 16, 4, 24


def twin_layers(activation: str) -> tuple[EncoderLayer, nn.TransformerEncoderLayer]:
    """Our layer and torch's, with the same random weights, dropout off."""
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation=activation, batch_first=True)
    ours = EncoderLayer(D, HEADS, FF, dropout=0.0, activation=activation)
    with torch.no_grad():
        for p in ref.parameters():  # away from torch's init, so a swapped weight would show
            p.add_(torch.randn_like(p) * 0.3)
        ours.attn.in_proj.weight.copy_(ref.self_attn.in_proj_weight)
        ours.attn.in_proj.bias.copy_(ref.self_attn.in_proj_bias)
        ours.attn.out_proj.load_state_dict(ref.self_attn.out_proj.state_dict())
        for name in ("linear1", "linear2", "norm1", "norm2"):
            getattr(ours, name).load_state_dict(getattr(ref, name).state_dict())
    return ours.train(), ref.train()  # train mode: torch's fused inference path is not taken


@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_layer_equals_torch_transformer_encoder_layer_with_padding_masked(activation):
    ours, ref = twin_layers(activation)
    x = torch.randn(3, 7, D)
    lengths = torch.tensor([7, 4, 1])
    pad = torch.arange(7)[None, :] >= lengths[:, None]  # (B, T) True at padding
    got, want = ours(x, pad), ref(x, src_key_padding_mask=pad)
    real = ~pad
    assert torch.allclose(got[real], want[real], atol=1e-5)
    assert torch.allclose(ours(x), ref(x), atol=1e-5)  # and without any mask


def test_padding_changes_the_output_unless_masked():
    """Seed question 76: the same sentence padded to two lengths. With the mask its vectors are identical;
    without it the real tokens attend to the padding and change."""
    ours, _ = twin_layers("gelu")
    ours.eval()
    sentence = torch.randn(1, 4, D)
    short = torch.cat([sentence, torch.zeros(1, 1, D)], 1)  # padded to 5
    long = torch.cat([sentence, torch.zeros(1, 6, D)], 1)  # padded to 10
    masked_short = ours(short, torch.arange(5)[None] >= 4)[:, :4]
    masked_long = ours(long, torch.arange(10)[None] >= 4)[:, :4]
    assert torch.allclose(masked_short, masked_long, atol=1e-5)
    unmasked_short, unmasked_long = ours(short)[:, :4], ours(long)[:, :4]
    assert (unmasked_short - unmasked_long).abs().max() > 1e-2
    assert (unmasked_long - masked_long).abs().max() > 1e-2


def test_classifier_ignores_padding_and_round_trips(tmp_path):
    torch.manual_seed(0)
    model = ScratchClassifier.build(["a", "b", "c"], vocab_size=20, dropout=0.0, d_model=16, heads=4, layers=2,
                                    d_ff=32).eval()
    ids = torch.tensor([[5, 6, 7, 0, 0], [5, 6, 7, 8, 9]])
    mask = (ids != 0).long()
    out = model(ids, mask)
    alone = model(ids[:1, :3], mask[:1, :3])
    assert out.logits.shape == (2, 3) and out.pooled.shape == (2, 16)
    assert torch.allclose(out.logits[0], alone.logits[0], atol=1e-5)
    model.save_pretrained(tmp_path)
    again = ScratchClassifier.from_pretrained(tmp_path)
    assert torch.allclose(again(ids, mask).logits, out.logits, atol=1e-6)
