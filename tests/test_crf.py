import itertools

import pytest
import torch

from pipelines.data.tags import is_valid_iob2
from pipelines.models.crf import ConstrainedCRF, CrfTokenClassifier, pack_words
from pipelines.models.decoding import NEG, make_decoder
from pipelines.models.encoders import tiny_tokenizer
from tasks import ner

LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_forbidden_transitions_stay_fixed_while_training():
    torch.manual_seed(0)
    crf = ConstrainedCRF(LABELS)
    opt = torch.optim.AdamW(crf.parameters(), lr=0.5, weight_decay=0.0)
    em = torch.randn(4, 6, len(LABELS))
    tags = torch.randint(0, len(LABELS), (4, 6))
    for _ in range(5):
        opt.zero_grad()
        (-crf(em, tags * 0, reduction="mean")).backward()
        opt.step()
    assert torch.all(crf.transitions[crf.forbid] == NEG) and torch.all(crf.start_transitions[crf.forbid_start] == NEG)
    assert not torch.all(crf.transitions[~crf.forbid] == crf.transitions[~crf.forbid][0])  # the rest learned


@pytest.mark.parametrize("seed", range(10))
def test_crf_decoding_matches_brute_force_and_is_valid(seed):
    torch.manual_seed(seed)
    crf = ConstrainedCRF(LABELS)
    with torch.no_grad():
        crf.transitions.add_(torch.randn_like(crf.transitions))
        crf.end_transitions.add_(torch.randn(len(LABELS)))
    em = torch.randn(4, len(LABELS)) * 3

    def total(path):
        s = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]] + sum(em[t, k] for t, k in enumerate(path))
        return float(s + sum(crf.transitions[a, b] for a, b in zip(path, path[1:])))

    best = max(itertools.product(range(len(LABELS)), repeat=4), key=total)
    path = make_decoder(LABELS, "crf", crf)(em)
    assert path == list(best) == crf.decode(em[None])[0]  # ours == brute force == pytorch-crf
    assert is_valid_iob2([LABELS[i] for i in path])


def test_pack_words_moves_first_subtokens_left():
    logits = torch.arange(2 * 5 * 1, dtype=torch.float).view(2, 5, 1)
    starts = torch.tensor([[1, 3], [2, -1]])
    labels = torch.tensor([[-100, 4, -100, 2, -100], [-100, -100, 3, -100, -100]])
    em, mask, tags = pack_words(logits, starts, labels)
    assert em.squeeze(-1).tolist() == [[1.0, 3.0], [7.0, 5.0]]
    assert mask.tolist() == [[True, True], [True, False]] and tags.tolist() == [[4, 2], [3, 0]]


def test_padding_changes_neither_loss_nor_emissions():
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    model = ner.build_model("tiny", LABELS, tok, dropout=0.0, head="crf").eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    labels = torch.tensor([[-100, 1, 2, 0, -100]])
    starts = torch.tensor([[1, 2, 3]])
    out = model(ids, torch.ones_like(ids), labels, starts)
    padded = model(torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1),
                   torch.tensor([[1] * 5 + [0] * 3]), torch.cat([labels, torch.full((1, 3), -100)], 1),
                   torch.cat([starts, torch.full((1, 2), -1)], 1))
    assert torch.allclose(out.loss, padded.loss, atol=1e-5)
    assert torch.allclose(out.logits, padded.logits[:, :5], atol=1e-5)


def test_save_and_load_keep_the_transitions(tmp_path):
    tok = tiny_tokenizer()
    model = ner.build_model("tiny", LABELS, tok, head="crf")
    with torch.no_grad():
        model.crf.transitions.add_(0.5)
    model.save_pretrained(tmp_path)
    loaded = ner.load_model(tmp_path)
    assert isinstance(loaded, CrfTokenClassifier)
    assert torch.equal(loaded.crf.transitions, model.crf.transitions)


@pytest.mark.parametrize("head, decode", [("crf", "argmax"), ("softmax", "viterbi")])
def test_long_sentences_decode_to_valid_iob2_across_their_windows(head, decode):
    """Windows decoded alone may end in O and go on with I-X; join_windows decodes the sentence once."""
    from datasets import Dataset

    from pipelines.config import DataConfig
    from pipelines.data.batching import Collator, infer
    from pipelines.data.tags import is_valid_iob2
    from pipelines.models import encoders
    from tasks import ner

    torch.manual_seed(0)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    tok = encoders.load_tokenizer("tiny")
    model = ner.build_model("tiny", labels, tok, head=head).eval()
    classifier = model.emitter.classifier if head == "crf" else model.classifier
    with torch.no_grad():  # emissions that favour I- tags: an invalid start of a window is then likely
        classifier.bias.copy_(torch.tensor([0.0, 0.0, 2.0, 0.0, 2.0]))
    words = [[["anna", "oslo", "keller", "bergen", "the", "x"][(i * 7 + j * 3) % 6] for j in range(40)]
             for i in range(12)]
    feats = ner.encode(Dataset.from_dict({"tokens": words}), tok, {}, DataConfig(max_length=16))
    assert len(feats.rows) > 3 * len(words)  # several windows per sentence
    dec = ner.decoder(model, decode)
    records = [r for batch, logits in infer(model, feats, Collator(tok.pad_token_id), 8)
               for r in ner.gather(batch, logits, dec)]
    alone = ner.stitch(records, "pred")
    ner.join_windows(records, dec)
    joined = ner.stitch(records, "pred")
    assert not all(is_valid_iob2([labels[k] for k in alone[i]]) for i in alone)  # the bug this guards against
    assert all(is_valid_iob2([labels[k] for k in joined[i]]) and len(joined[i]) == 40 for i in joined)
    assert all("scores" not in r for r in records)
