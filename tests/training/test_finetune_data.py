"""`load_splits` for a user's CSV: a validation file given with `--validation-data` (read
with the train file's label names), and a hold-out from a train file too small for every
class to give one example."""

import pytest

from keras_bert_impl.training.finetune_data import load_splits


def _csv(path, rows):
    path.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in rows))
    return str(path)


def test_a_validation_file_is_read_with_the_train_files_label_names(tmp_path):
    train = _csv(tmp_path / "train.csv", [("good film", "pos"), ("bad film", "neg")] * 4)
    dev = _csv(tmp_path / "dev.csv", [("fine", "pos"), ("dull", "pos"), ("poor", "neg")])
    splits = load_splits("csv", train, validation_path=dev)
    assert (len(splits["train"]), len(splits["validation"])) == (8, 3)
    assert splits["validation"].label_names == ["neg", "pos"]
    assert list(splits["validation"].labels) == [1, 1, 0]
    odd = _csv(tmp_path / "odd.csv", [("meh", "neutral")])
    with pytest.raises(ValueError, match=r"odd.csv, line 2: label 'neutral' is not one of "
                                         r"label_names \['neg', 'pos'\]"):
        load_splits("csv", train, validation_path=odd)


def test_too_few_examples_per_class_still_hold_out_validation(tmp_path):
    # 4 examples a class: 10% of each rounds to none; 10% of all 8 rounds to 1.
    train = _csv(tmp_path / "train.csv", [("good film", "pos"), ("bad film", "neg")] * 4)
    splits = load_splits("csv", train)
    assert (len(splits["train"]), len(splits["validation"])) == (7, 1)
    assert load_splits("csv", train)["validation"].texts == splits["validation"].texts  # seeded
    bigger = _csv(tmp_path / "bigger.csv", [("good film", "pos"), ("bad film", "neg")] * 10)
    held = load_splits("csv", bigger)["validation"]
    assert sorted(held.labels) == [0, 1]  # stratified where the classes allow it


def test_an_empty_split_is_named_with_the_sizes_and_the_fix():
    # 4 BBC articles a topic: 10% of each topic rounds to none.
    with pytest.raises(ValueError, match=r"^The validation split of bbc is empty \(train 20, "
                                         r"validation 0, test 0 examples, validation_fraction "
                                         r"0\.1\); give more examples \(--max-per-topic"):
        load_splits("bbc", None, max_per_topic=4)
    assert len(load_splits("bbc", None, max_per_topic=5)["validation"]) == 5
