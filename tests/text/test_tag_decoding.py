"""`decode_tags` reads each word's tag at its first wordpiece; `tag_ids` maps tags to ids."""


import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.text.tag_decoding import decode_tags, tag_ids

NAMES = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _logits(batch, length, peaks, seed=0):
    """Random logits with class `c` made certain at `(example, position)` for each peak."""
    logits = np.random.default_rng(seed).normal(size=(batch, length, len(NAMES)))
    for (example, position), label in peaks.items():
        logits[example, position, label] = 50.0
    return logits.astype("float32")


def test_reads_the_first_piece_of_each_word_only():
    # Example 0: words at 1, 2, 4 (position 3 is a continuation piece: its class must not
    # matter); example 1: a word with no piece (-1) between two others.
    peaks = {(0, 1): 1, (0, 2): 2, (0, 3): 3, (0, 4): 0, (1, 1): 3, (1, 5): 4}
    tags = decode_tags(_logits(2, 8, peaks), [[1, 2, 4], [1, -1, 5]], NAMES)
    assert tags == [["B-PER", "I-PER", "O"], ["B-LOC", "O", "I-LOC"]]
    assert all(type(tag) is str for row in tags for tag in row)
    # The same from a ragged tensor, from class ids, and with another `outside` tag.
    ragged = tf.ragged.constant([[1, 2, 4], [1, -1, 5]])
    assert decode_tags(_logits(2, 8, peaks), ragged, NAMES) == tags
    ids = _logits(2, 8, peaks).argmax(-1)
    assert decode_tags(ids, [[1, 2, 4], [1, -1, 5]], NAMES) == tags
    assert decode_tags(ids, [[1], [-1]], NAMES, outside="X") == [["B-PER"], ["X"]]


def test_scores_are_softmax_probabilities_of_the_chosen_tag():
    logits = np.log(np.array([[[0.1, 0.2, 0.3, 0.4, 0.0 + 1e-30],
                               [0.7, 0.1, 0.1, 0.05, 0.05]]], "float64"))
    tags, scores = decode_tags(logits, [[0, 1, -1]], NAMES, return_scores=True)
    assert tags == [["B-LOC", "O", "O"]]
    np.testing.assert_allclose(scores[0], [0.4, 0.7, 0.0], rtol=1e-6)
    # A tensor of logits works as well.
    assert decode_tags(tf.constant(logits, tf.float32), [[0]], NAMES) == [["B-LOC"]]


def test_empty_examples_and_batches():
    assert decode_tags(np.zeros((2, 4, 5), "float32"), [[], [2]], NAMES) == [[], ["O"]]
    assert decode_tags(np.zeros((0, 4, 5), "float32"), [], NAMES,
                       return_scores=True) == ([], [])


@pytest.mark.parametrize("logits, starts, match", [
    (np.zeros((1, 4, 3), "float32"), [[1]], "3 classes but label_names has 5 tags"),
    (np.zeros((4, 5), "float32"), [[1]], r"must be \[batch, sequence_length, num_classes\]"),
    (np.zeros((1, 4, 5), "float32"), [[1], [2]], "word_starts has 2 examples and logits 1"),
    (np.zeros((1, 4, 5), "float32"), [[4]], r"position 4, outside \[-1, 4\)"),
    (np.zeros((1, 4, 5), "float32"), [[-2]], "position -2"),
    (np.zeros((1, 4, 5), "float32"), [1, 2], "must be batched"),
    (np.array([[0, 9, 0]]), [[1]], "Class id 9 is outside label_names' 5 tags"),
    (np.zeros((1, 4), "int32"), [[1]], None),
])
def test_bad_inputs_name_the_problem(logits, starts, match):
    if match is None:
        assert decode_tags(logits, starts, NAMES) == [["O"]]
        return
    with pytest.raises(ValueError, match=match):
        decode_tags(logits, starts, NAMES)


def test_scores_need_logits_and_label_names_must_be_a_list():
    with pytest.raises(ValueError, match="return_scores needs float logits"):
        decode_tags(np.zeros((1, 4), "int32"), [[1]], NAMES, return_scores=True)
    with pytest.raises(TypeError, match="not the string"):
        decode_tags(np.zeros((1, 4, 5), "float32"), [[1]], "O B-PER")
    with pytest.raises(ValueError, match=r"repeats \['O'\]"):
        decode_tags(np.zeros((1, 4, 2), "float32"), [[1]], ["O", "O"])
    with pytest.raises(TypeError, match="float scores"):
        decode_tags(np.array([[["a"]]]), [[0]], ["O"])


def test_tag_ids():
    assert tag_ids([["B-PER", "I-PER", "O"], [], ["I-LOC"]], NAMES) == [[1, 2, 0], [], [4]]
    assert tag_ids(("O", "B-LOC"), NAMES) == [0, 3]
    with pytest.raises(ValueError, match=r"Tag 'B-ORG' \(sentence 1, word 0\) is not in "
                                         r"label_names \['O', 'B-PER'"):
        tag_ids([["O"], ["B-ORG"]], NAMES)
    with pytest.raises(ValueError, match=r"Tag 'X' \(word 1\)"):
        tag_ids(["O", "X"], NAMES)
    with pytest.raises(TypeError, match="not the string"):
        tag_ids("O", NAMES)
