"""`class_ids`: labels as class ids, names mapped through `label_names`, every bad label an
error naming it and its position (pure NumPy: the same on every backend)."""

import numpy as np
import pytest

from keras_bert_impl.models.labels import class_ids, label_axes


def test_ids_and_names_in_every_form():
    names = ["neg", "pos"]
    for y in ([1, 0, 1], (1, 0, 1), np.array([1, 0, 1]), np.array([1.0, 0.0, 1.0]),
              np.array([True, False, True]), ["pos", "neg", "pos"], np.array(["pos", "neg", "pos"]),
              [b"pos", b"neg", b"pos"], np.array(["pos", "neg", "pos"], object)):
        ids = class_ids(y, 2, names)
        assert ids.dtype == np.int32 and ids.tolist() == [1, 0, 1], y
    assert class_ids(np.array([[0, 2], [1, 1]], "int64"), 3).tolist() == [[0, 2], [1, 1]]
    assert class_ids([["O", "B-PER"], ["B-LOC"]], 3, ["O", "B-PER", "B-LOC"]) == [[0, 1], [2]]
    assert class_ids([np.array([0, 2]), [1]], 3) == [[0, 2], [1]]


@pytest.mark.parametrize("y, message", [
    (np.array([[0, 1], [3, 0]]), r"^y\[1, 0\] = 3 is outside this model's class ids 0\.\.2 "
                                 r"\(num_classes=3\); build it with num_classes=4 or more"),
    ([[0, 1], [1, -2]], r"^y\[1, 1\] = -2 is outside .*; fix the labels\.$"),
    ([0, float("nan")], r"^y\[1\] = nan is not a class id: this model takes integers 0\.\.2"),
    ([0, None], r"^y\[1\] = None is not a class id"),
    (["a", "b"], r"^y\[0\] = 'a' is a label name, but this model has no label_names"),
])
def test_bad_labels(y, message):
    with pytest.raises(ValueError, match=message):
        class_ids(y, 3)


def test_unknown_name_lists_the_names():
    with pytest.raises(ValueError, match=r"^y\[2\] = 'maybe' is not one of this Tagger's "
                                         r"label_names \['no', 'yes'\]\.$"):
        class_ids(["yes", "no", "maybe"], 2, ["no", "yes"], owner="Tagger")


def test_label_axes_counts_the_axes_that_index_labels():
    assert label_axes([0, 1]) == label_axes(np.array([0, 1])) == 1
    assert label_axes(np.zeros((5, 1))) == 1  # Keras' [batch, 1] sparse labels
    assert label_axes([[0.9, 0.1]]) == label_axes(np.zeros((5, 2))) == 2  # soft / one-hot
    assert label_axes([[0, 2], [1]]) == 2 and label_axes(np.zeros((2, 7, 3))) == 3
