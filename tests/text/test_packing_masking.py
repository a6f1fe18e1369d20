"""BertPacker (reference longest-first truncation) and MaskedLMMasker statistics."""

import random

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.text import BertPacker, BertTokenizer, MaskedLMMasker


def _truncate_seq_pair(a, b, max_length):
    """google-research/bert run_classifier.py, verbatim logic."""
    a, b = list(a), list(b)
    while len(a) + len(b) > max_length:
        (a if len(a) > len(b) else b).pop()
    return a, b


def test_packer_docstring_example():
    packer = BertPacker(sequence_length=8, start_value=2, end_value=3, pad_value=0)
    out = packer((tf.ragged.constant([[10, 11, 12], [13]]), tf.ragged.constant([[20, 21, 22, 23], [24]])))
    assert out["token_ids"].numpy().tolist() == [[2, 10, 11, 12, 3, 20, 21, 3],
                                                 [2, 13, 3, 24, 3, 0, 0, 0]]
    assert out["segment_ids"].numpy().tolist() == [[0, 0, 0, 0, 0, 1, 1, 1],
                                                   [0, 0, 0, 1, 1, 0, 0, 0]]
    assert out["padding_mask"].dtype == tf.bool
    assert out["padding_mask"].numpy().sum(axis=1).tolist() == [8, 5]


def test_round_robin_equals_reference_longest_first():
    rng = random.Random(0)
    a = [[rng.randrange(100) for _ in range(rng.randrange(0, 30))] for _ in range(300)]
    b = [[rng.randrange(100) for _ in range(rng.randrange(0, 30))] for _ in range(300)]
    packer = BertPacker(sequence_length=24, start_value=101, end_value=102, pad_value=0)
    out = packer((tf.ragged.constant(a, dtype=tf.int32), tf.ragged.constant(b, dtype=tf.int32)))
    for i in range(300):
        ta, tb = _truncate_seq_pair(a[i], b[i], 21)
        expected = [101] + ta + [102] + tb + [102]
        expected += [0] * (24 - len(expected))
        assert out["token_ids"][i].numpy().tolist() == expected


def test_waterfall_single_and_three_segments():
    packer = BertPacker(8, 2, 3, truncate="waterfall")
    out = packer((tf.ragged.constant([[5, 6, 7, 8]]), tf.ragged.constant([[9, 10, 11]])))
    assert out["token_ids"].numpy().tolist() == [[2, 5, 6, 7, 8, 3, 9, 3]]
    single = BertPacker(5, 2, 3)(tf.constant([7, 8, 9, 10]))
    assert single["token_ids"].numpy().tolist() == [2, 7, 8, 9, 3]
    three = BertPacker(10, 2, 3)([tf.ragged.constant([[5]]), tf.ragged.constant([[6, 6]]),
                                  tf.ragged.constant([[7]])])
    assert three["token_ids"].numpy().tolist() == [[2, 5, 3, 6, 6, 3, 7, 3, 0, 0]]
    assert three["segment_ids"].numpy().tolist() == [[0, 0, 0, 1, 1, 1, 2, 2, 0, 0]]


def test_packer_errors_and_config():
    with pytest.raises(ValueError, match="truncate"):
        BertPacker(8, 2, 3, truncate="longest")
    with pytest.raises(ValueError, match="leaves no room"):
        BertPacker(3, 2, 3)([tf.ragged.constant([[1]])] * 3)
    with pytest.raises(ValueError, match="different batch sizes"):
        BertPacker(8, 2, 3)((tf.ragged.constant([[1], [2]]), tf.ragged.constant([[1]])))
    with pytest.raises(tf.errors.InvalidArgumentError, match="different batch sizes"):
        spec = tf.RaggedTensorSpec([None, None], tf.int32)
        tf.function(lambda a, b: BertPacker(8, 2, 3)((a, b)), input_signature=[spec, spec])(
            tf.ragged.constant([[1], [2]]), tf.ragged.constant([[1]]))
    with pytest.raises(TypeError, match="integer token ids"):
        BertPacker(8, 2, 3)(tf.constant([1.0]))
    packer = BertPacker(8, 2, 3, truncate="waterfall")
    assert BertPacker.from_config(packer.get_config()).get_config() == packer.get_config()


@pytest.fixture(scope="module")
def packed_sst2(vocab_path, real_lines):
    """Real sentence pairs packed to 128: well over 100k candidate tokens."""
    tokenizer = BertTokenizer(vocab_path)
    lines = real_lines[:12_000]
    packer = BertPacker.from_tokenizer(tokenizer, 128)
    x = packer((tokenizer(tf.constant(lines[0::2])), tokenizer(tf.constant(lines[1::2]))))
    return tokenizer, x


def _stats(tokenizer, x, whole_word, seed=7):
    masker = MaskedLMMasker(tokenizer.vocabulary, max_predictions_per_seq=20,
                            whole_word=whole_word, seed=seed)
    out = masker(x["token_ids"])
    ids = x["token_ids"].numpy()
    specials = np.isin(ids, [tokenizer.cls_token_id, tokenizer.sep_token_id,
                             tokenizer.pad_token_id])
    weights = out["mask_weights"].numpy()
    positions = out["mask_positions"].numpy()
    rows = np.repeat(np.arange(len(ids)), weights.shape[1])[weights.ravel() > 0]
    cols = positions.ravel()[weights.ravel() > 0]
    return masker, out, ids, specials, rows, cols


@pytest.mark.parametrize("whole_word", [False, True], ids=["token", "whole_word"])
def test_masking_statistics(packed_sst2, whole_word):
    tokenizer, x = packed_sst2
    masker, out, ids, specials, rows, cols = _stats(tokenizer, x, whole_word)
    candidates = (~specials).sum()
    assert candidates >= 100_000
    rate = len(rows) / candidates
    # Budget per sequence is round(15% of its candidates), capped at 20 (below the cap here).
    assert abs(rate - 0.15) < (0.005 if not whole_word else 0.01), rate
    assert not specials[rows, cols].any()  # never [CLS], [SEP] or [PAD]
    new = out["token_ids"].numpy()
    assert (out["mask_ids"].numpy()[out["mask_weights"].numpy() > 0] == ids[rows, cols]).all()
    masked = new[rows, cols] == tokenizer.mask_token_id
    same = new[rows, cols] == ids[rows, cols]
    random_ = ~masked & ~same
    # 10% "random" can hit the original id by chance (1/30k); count those as unchanged.
    assert abs(masked.mean() - 0.8) < 0.01 and abs(same.mean() - 0.1) < 0.01
    assert abs(random_.mean() - 0.1) < 0.01
    assert all(not tokenizer.id_to_token(int(t)).startswith("[") for t in new[rows, cols][random_])
    unchanged = np.ones_like(new, bool)
    unchanged[rows, cols] = False
    assert (new[unchanged] == ids[unchanged]).all()  # only chosen positions change
    assert (np.diff(out["mask_positions"].numpy(), axis=1)[:, :5][
        out["mask_weights"].numpy()[:, 1:6] > 0] > 0).all()  # ascending


def test_whole_word_never_splits_a_word(packed_sst2):
    tokenizer, x = packed_sst2
    _, out, ids, specials, rows, cols = _stats(tokenizer, x, True)
    chosen = np.zeros_like(ids, bool)
    chosen[rows, cols] = True
    continuation = np.vectorize(lambda t: tokenizer.id_to_token(int(t)).startswith("##"))(ids)
    # A continuation piece is chosen exactly when the piece before it is.
    prev = np.pad(chosen[:, :-1], [[0, 0], [1, 0]])
    assert (chosen[continuation] == prev[continuation]).all()
    assert continuation[rows, cols].sum() > 500  # multi-piece words were really masked


def test_masking_seeds_dynamic_and_reproducible(packed_sst2):
    tokenizer, x = packed_sst2
    ids = x["token_ids"][:64]
    a = MaskedLMMasker(tokenizer.vocabulary, seed=3)
    b = MaskedLMMasker(tokenizer.vocabulary, seed=3)
    first, second = a(ids)["mask_positions"], a(ids)["mask_positions"]
    assert not np.array_equal(first, second)  # a new mask on every call (every epoch)
    assert np.array_equal(first, b(ids)["mask_positions"])  # same seed, same masks
    s = tf.constant([5, 6], tf.int64)
    assert np.array_equal(a(ids, seed=s)["token_ids"], b(ids, seed=s)["token_ids"])
    clone = MaskedLMMasker.from_config(a.get_config())
    assert np.array_equal(clone(ids, seed=s)["token_ids"], a(ids, seed=s)["token_ids"])
    with pytest.raises(ValueError, match="mask_selection_rate"):
        MaskedLMMasker(tokenizer.vocabulary, mask_selection_rate=0.0)
    with pytest.raises(ValueError, match="lacks"):
        MaskedLMMasker(["[PAD]", "a"])
