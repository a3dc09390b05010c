import itertools
import math

import pytest
import torch
from helpers import batch_loss, make_task
from pipelines.tasks import ner

from pipelines.data.tags import is_valid_iob2
from pipelines.families import tagging
from pipelines.families.tagging import predict_words
from pipelines.models.crf import ConstrainedCRF, CrfTokenClassifier, crf_nll, pack_words
from pipelines.models.decoding import NEG, make_decoder
from pipelines.models.encoders import tiny_tokenizer

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
        return float(s + sum(crf.transitions[a, b] for a, b in itertools.pairwise(path)))

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
    task = make_task("ner", encoder="tiny", dropout=0.0, head="crf", word_features="none")
    model = task.build_model(LABELS, tok).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([[-100, 1, 2, 0, -100]]),
             "word_starts": torch.tensor([[1, 2, 3]]), "core_start": torch.tensor([0])}
    padded = {"input_ids": torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1),
              "attention_mask": torch.tensor([[1] * 5 + [0] * 3]),
              "labels": torch.cat([batch["labels"], torch.full((1, 3), -100)], 1),
              "word_starts": torch.cat([batch["word_starts"], torch.full((1, 2), -1)], 1),
              "core_start": torch.tensor([0])}
    assert torch.allclose(batch_loss(task, model, batch), batch_loss(task, model, padded), atol=1e-5)
    assert torch.allclose(model(ids, torch.ones_like(ids)).logits,
                          model(padded["input_ids"], padded["attention_mask"]).logits[:, :5], atol=1e-5)


def test_save_and_load_keep_the_transitions(tmp_path):
    tok = tiny_tokenizer()
    task = make_task("ner", encoder="tiny", head="crf", word_features="none")
    model = task.build_model(LABELS, tok)
    with torch.no_grad():
        model.crf.transitions.add_(0.5)
    model.save_pretrained(tmp_path)
    loaded = task.load_model(tmp_path)
    assert isinstance(loaded, CrfTokenClassifier)
    assert torch.equal(loaded.crf.transitions, model.crf.transitions)
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    assert torch.equal(loaded(ids, torch.ones_like(ids)).logits, model.eval()(ids, torch.ones_like(ids)).logits)


def test_continuation_window_starting_inside_an_entity_gets_no_start_penalty():
    """The fixed NEG start score forbids I-X at a sentence's start, not at a window that continues one."""
    crf = ConstrainedCRF(LABELS)
    em = torch.zeros(1, 3, len(LABELS))
    tags = torch.tensor([[2, 2, 0]])  # I-PER I-PER O: valid only as the continuation of a window
    mask = torch.ones(1, 3, dtype=torch.bool)
    start_of_sentence = crf_nll(crf, em, tags, mask, torch.tensor([False]))
    continuation = crf_nll(crf, em, tags, mask, torch.tensor([True]))
    assert start_of_sentence > 1e3 > continuation > 0
    valid = torch.tensor([[1, 2, 0]])  # B-PER I-PER O
    assert torch.allclose(crf_nll(crf, em, valid, mask), -crf(em, valid, mask, reduction="mean"), atol=1e-4)


@pytest.mark.parametrize("seed", range(5))
def test_crf_nll_equals_pytorch_crf_on_sentence_starts(seed):
    torch.manual_seed(seed)
    crf = ConstrainedCRF(LABELS)
    with torch.no_grad():
        crf.transitions.add_(torch.randn_like(crf.transitions).masked_fill(crf.forbid, 0))
    em = torch.randn(3, 6, len(LABELS))
    tags = torch.tensor([[1, 2, 0, 3, 4, 0], [3, 0, 0, 0, 0, 0], [0, 1, 2, 2, 0, 0]])
    mask = torch.tensor([[1] * 6, [1] * 2 + [0] * 4, [1] * 5 + [0]], dtype=torch.bool)
    assert torch.allclose(crf_nll(crf, em, tags, mask), -crf(em, tags, mask, reduction="mean"), atol=1e-4)


@pytest.mark.parametrize("head, decode", [("crf", "viterbi"), ("softmax", "viterbi")])
def test_long_sentences_decode_to_valid_iob2_across_their_windows(head, decode):
    """Windows decoded alone may end in O and go on with I-X; join_windows decodes the sentence once."""
    from datasets import Dataset

    from pipelines.config import DataConfig
    from pipelines.data.batching import Collator
    from pipelines.data.tags import is_valid_iob2
    from pipelines.models import encoders
    from pipelines.models.outputs import infer

    torch.manual_seed(0)
    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    tok = encoders.load_tokenizer("tiny")
    task = make_task("ner", encoder="tiny", head=head, decode=decode, word_features="none")
    model = task.build_model(labels, tok).eval()
    classifier = model.emitter.classifier if head == "crf" else model.classifier
    with torch.no_grad():  # emissions that favour I- tags: an invalid start of a window is then likely
        classifier.bias.copy_(torch.tensor([0.0, 0.0, 2.0, 0.0, 2.0]))
    words = [[["anna", "oslo", "keller", "bergen", "the", "x"][(i * 7 + j * 3) % 6] for j in range(40)]
             for i in range(12)]
    feats = ner.encode(Dataset.from_dict({"tokens": words}), tok, {}, DataConfig(max_length=16))
    assert len(feats.rows) > 3 * len(words)  # several windows per sentence
    dec = task.decoder(model)
    records = [r for batch, out in infer(model, feats, Collator(tok.pad_token_id), 8)
               for r in task.gather(batch, out, dec)]
    alone = tagging.stitch(records, "pred")
    tagging.join_windows(records, dec)
    joined = tagging.stitch(records, "pred")
    assert not all(is_valid_iob2([labels[k] for k in alone[i]]) for i in alone)  # the bug this guards against
    assert all(is_valid_iob2([labels[k] for k in joined[i]]) and len(joined[i]) == 40 for i in joined)
    assert all(len(r.scores) == len(r.pred) for r in records)  # each window keeps its word scores


def test_training_loss_of_a_continuation_window_has_no_start_penalty():
    """The task's loss, as TaskModule computes it: a window that continues a sentence inside an entity."""
    torch.manual_seed(0)
    tok = tiny_tokenizer()
    task = make_task("ner", encoder="tiny", dropout=0.0, head="crf", word_features="none")
    model = task.build_model(LABELS, tok).eval()
    ids = torch.tensor([[2, 10, 11, 12, 3]])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([[-100, 2, 2, 0, -100]]),
             "word_starts": torch.tensor([[1, 2, 3]])}  # I-PER I-PER O: the window starts mid-entity
    continuing = batch_loss(task, model, {**batch, "core_start": torch.tensor([5])})
    at_start = batch_loss(task, model, {**batch, "core_start": torch.tensor([0])})
    assert continuing < 100 < 1e3 < at_start  # only a sentence start pays the fixed NEG start score


@pytest.mark.parametrize("seed", [0, 1])
def test_crf_marginals_match_brute_force(seed):
    """p(y_t = l | x) by forward-backward equals the sum over every tag path, padding included."""
    from pipelines.models.crf import crf_marginals

    torch.manual_seed(seed)
    crf = ConstrainedCRF(["O", "B-X", "I-X"])
    with torch.no_grad():
        crf.transitions.add_(torch.randn(3, 3) * (crf.transitions > -1e3))
        crf.end_transitions.normal_()
    emissions, mask = torch.randn(2, 4, 3), torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]]).bool()
    got = crf_marginals(crf, emissions, mask)
    for b in range(2):
        n = int(mask[b].sum())
        total, z = torch.zeros(n, 3), 0.0
        for path in itertools.product(range(3), repeat=n):
            score = crf.start_transitions[path[0]] + emissions[b, 0, path[0]] + crf.end_transitions[path[-1]]
            score = score + sum(crf.transitions[path[t - 1], path[t]] + emissions[b, t, path[t]] for t in range(1, n))
            z = z + score.exp()
            for t, tag in enumerate(path):
                total[t, tag] += score.exp()
        assert torch.allclose(got[b, :n], total / z, atol=1e-5)
        assert torch.all(got[b, n:] == 0)


def _brute_segment_prob(trans, start, end, emissions, s, path, cont):
    """p(words s.. carry `path` and the next word is not `cont`) by summing over every tag path."""
    n, labels = emissions.shape[0], emissions.shape[1]
    hit, z = 0.0, 0.0
    for tags in itertools.product(range(labels), repeat=n):
        score = start[tags[0]] + emissions[0, tags[0]] + end[tags[-1]]
        score = score + sum(trans[tags[t - 1], tags[t]] + emissions[t, tags[t]] for t in range(1, n))
        p = float(score.exp())
        z += p
        e = s + len(path)
        if tuple(tags[s:e]) == tuple(path) and (e == n or tags[e] != cont):
            hit += p
    return hit / z


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_entity_probability_is_the_chain_probability_of_exactly_that_span(seed):
    """segment_log_probs equals the brute-force sum over every tag path that has exactly this entity: at the
    start, in the middle, at the end of the sentence, one word and several."""
    from pipelines.models.crf import chain_potentials, segment_log_probs

    torch.manual_seed(seed)
    crf = ConstrainedCRF(["O", "B-X", "I-X", "B-Y", "I-Y"])
    with torch.no_grad():
        crf.transitions.add_(torch.randn(5, 5) * (crf.transitions > -1e3))
        crf.end_transitions.normal_()
    emissions = torch.randn(4, 5) * 2
    trans, start, end = chain_potentials(crf, 5)
    segments = [(0, [1], 2), (0, [1, 2], 2), (1, [3, 4, 4], 4), (3, [3], 4), (2, [1, 2], 2)]
    got = segment_log_probs(emissions, segments, trans, start, end)
    for (s, path, cont), value in zip(segments, got, strict=True):
        assert math.exp(value) == pytest.approx(_brute_segment_prob(trans, start, end, emissions, s, path, cont),
                                                abs=1e-5)


def test_without_a_crf_an_entity_probability_is_the_product_of_its_words():
    """A softmax head: p(B-X) p(I-X) (1 - p(next word is I-X)); a temperature above 1 moves it toward chance
    and never changes which tags were predicted."""
    from pipelines.families.tagging import entity_probs

    labels = ["O", "B-X", "I-X"]
    scores = torch.tensor([[0.0, 3.0, 0.0], [0.0, 0.0, 2.5], [1.0, 0.0, 0.5]])
    p = scores.softmax(-1)
    (got,) = entity_probs(scores, [1, 2, 0], labels)
    assert got == pytest.approx(float(p[0, 1] * p[1, 2] * (1 - p[2, 2])), abs=1e-6)
    (soft,) = entity_probs(scores, [1, 2, 0], labels, temperature=3.0)
    assert 1 / 3 ** 2 < soft < got


def test_predict_scores_an_entity_with_its_span_probability(tmp_path):
    """The served entity score is the probability, under the model's CRF at the temperature saved in its
    config (which survives save and load), that exactly this span is an entity of this type."""
    from pipelines.config import DataConfig
    from pipelines.inference.predict import Predictor
    from pipelines.models.crf import chain_potentials

    torch.manual_seed(0)
    tok = tiny_tokenizer()
    task = make_task("ner", encoder="tiny", head="crf")
    model = task.build_model(LABELS, tok).eval()
    with torch.no_grad():  # entities likely, and a chain that matters
        model.emitter.classifier.bias.copy_(torch.tensor([0.0, 2.0, 1.0, 1.5, 1.0]))
        model.crf.transitions.add_(torch.randn(5, 5).masked_fill(model.crf.forbid, 0))
    model.config.entity_temperature = 2.0
    model.save_pretrained(tmp_path)
    loaded = task.load_model(tmp_path)
    assert loaded.config.entity_temperature == 2.0
    predictor = Predictor(task, loaded, tok, DataConfig(max_length=32))
    texts = ["anna keller oslo", "x bergen the anna"]
    words, records, _ = predict_words(task, loaded, tok, texts, 8, predictor.data)
    trans, start, end = chain_potentials(loaded.crf, len(LABELS), 2.0)
    n_entities = 0
    for i, pred in enumerate(predictor.predict(texts)):
        (rec,) = [r for r in records if r.example_id == i]
        emissions = rec.scores / 2.0
        for ent in pred["entities"]:
            s = next(k for k, w in enumerate(words[i]) if w[1] == ent["start"])
            e = next(k for k, w in enumerate(words[i]) if w[2] == ent["end"]) + 1
            path = rec.pred[s:e]
            cont = LABELS.index("I-" + ent["type"])
            want = _brute_segment_prob(trans, start, end, emissions, s, path, cont)
            assert ent["score"] == pytest.approx(want, abs=1e-4)
            n_entities += 1
    assert n_entities >= 2
