import pytest
import torch

from pipelines.data.batching import Collator, LengthGroupedSampler, sorted_batches


def test_collator_pads_each_field_with_its_value():
    batch = Collator(pad_id=0)([{"input_ids": [2, 5, 3], "labels": [-100, 1, -100], "word_starts": [1],
                                 "example_id": 0},
                                {"input_ids": [2, 3], "labels": [-100, -100], "word_starts": [], "example_id": 1}])
    assert batch["input_ids"].tolist() == [[2, 5, 3], [2, 3, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[-100, 1, -100], [-100, -100, -100]]
    assert batch["word_starts"].tolist() == [[1], [-1]] and batch["example_id"].tolist() == [0, 1]



def test_collator_names_a_row_whose_fields_differ():
    rows = [{"input_ids": [1, 2], "labels": [0, 1]}, {"input_ids": [1]}]
    with pytest.raises(ValueError, match=r"row 1 .*missing \['labels'\]"):
        Collator(0)(rows)


def test_length_grouped_sampler_is_a_seeded_permutation_with_less_padding():
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(3, 120, (2000,), generator=g).tolist()
    sampler = LengthGroupedSampler(lengths, batch_size=32, seed=1)
    order = list(sampler)
    assert sorted(order) == list(range(2000))
    sampler.set_epoch(0)
    assert list(sampler) == order  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != order

    def padded(idx):
        return sum(max(lengths[i] for i in idx[k:k + 32]) * len(idx[k:k + 32]) for k in range(0, len(idx), 32))

    shuffled = torch.randperm(2000, generator=g).tolist()
    assert padded(order) < 0.7 * padded(shuffled)
    assert max(lengths[i] for i in order[:32]) == max(lengths)  # longest batch first


def test_sorted_batches_cover_everything():
    assert sorted_batches([3, 1, 2, 5], 3) == [[3, 0, 2], [1]]


def test_resampling_draws_rare_classes_as_often_as_asked():
    from collections import Counter

    from pipelines.data.batching import LengthGroupedSampler, resampling_weights

    labels = [0] * 900 + [1] * 100
    lengths = [5 + i % 7 for i in range(1000)]
    balanced = LengthGroupedSampler(lengths, 32, seed=1, weights=resampling_weights(labels, 1.0))
    drawn = Counter(labels[i] for _ in range(5) for i in balanced)
    assert 0.45 < drawn[1] / sum(drawn.values()) < 0.55  # each class half the draws
    sqrt = Counter(labels[i] for i in LengthGroupedSampler(lengths, 32, seed=1,
                                                            weights=resampling_weights(labels, 0.5)))
    assert 2.3 < sqrt[0] / sqrt[1] < 3.9  # sqrt(900 / 100) = 3
    assert list(balanced) != list(balanced)  # a new draw every epoch/iteration
    assert resampling_weights([0, 0, 1, -100], 1.0) == [0.5, 0.5, 1.0, 0.5]


def test_sampling_on_a_token_task_is_an_error(tmp_path):
    import pytest

    from pipelines.config import load_config
    from pipelines.errors import ConfigError
    from pipelines.training.train import run

    over = ["model.encoder=tiny", "train.epochs=1", "train.limit_train_batches=2", "train.progress_bar=false",
            f"train.out_dir={tmp_path}", "data.max_length=32"]
    run(load_config(None, [*over, "train.sampling=sqrt"], task="intent"), tmp_path / "a")
    assert (tmp_path / "a/metrics.json").exists()
    with pytest.raises(ConfigError, match="batch_tokens=auto with train.sampling=balanced"):  # the NER default
        run(load_config(None, [*over, "train.sampling=balanced"], task="ner"), tmp_path / "b")
    with pytest.raises(ConfigError, match="one label per example"):
        run(load_config(None, [*over, "train.sampling=balanced", "train.batch_tokens=0"], task="ner"), tmp_path / "c")
