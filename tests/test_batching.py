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
