"""CoNLL tagging files: the real CoNLL-2003 validation set, and malformed files whose errors
name the file and line."""

import re

import numpy as np
import pytest

from keras_bert_impl.data.conll import (
    CONLL2003_LABELS,
    TAGS_FROM_DATA,
    TaggingData,
    conll_split_paths,
    read_conll,
    read_conll_directory,
    tag_names,
)
from tests.real_data import shared_file


@pytest.fixture(scope="module")
def valid():
    return read_conll(shared_file("conll2003", "valid.txt"))


def test_real_conll2003_valid(valid):
    # Sizes from ../shared/data/README.md.
    assert len(valid) == 3250 and valid.num_words == 51_362
    assert valid.label_names == list(CONLL2003_LABELS)
    assert valid.path.endswith("valid.txt")
    assert valid.words[0][:3] == ["CRICKET", "-", "LEICESTERSHIRE"]
    assert valid.tags[0][:3] == ["O", "O", "B-ORG"]
    assert valid.words[1] == ["LONDON", "1996-08-30"] and valid.tags[1] == ["B-LOC", "O"]
    assert all(len(w) == len(t) > 0 for w, t in zip(valid.words, valid.tags))
    counts = dict(zip(*np.unique([t for s in valid.tags for t in s], return_counts=True)))
    assert counts["O"] == 42_759 and counts["B-PER"] == 1842 and counts["I-MISC"] == 346
    ids = valid.tag_ids()
    assert ids[1] == [5, 0] and sum(map(len, ids)) == 51_362


def _write(tmp_path, text, name="data.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_docstart_blank_lines_and_two_columns(tmp_path):
    path = _write(tmp_path, "-DOCSTART- -X- -X- O\n\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\n"
                            "\n\n-DOCSTART- -X- O O\nPeter NNP B-NP B-PER\r\n  \nJapan NNP B-NP "
                            "B-LOC")
    data = read_conll(path)
    assert data.words == [["EU", "rejects"], ["Peter"], ["Japan"]]
    assert data.tags == [["I-ORG", "O"], ["B-PER"], ["B-LOC"]]
    two = read_conll(_write(tmp_path, "@user\tO\nfoo B-corp\n\nbar S-loc\n", "wnut.txt"),
                     label_names=["O", "B-corp", "S-loc"])
    assert two.words == [["@user", "foo"], ["bar"]] and two.tag_ids() == [[0, 1], [2]]


def test_the_tag_set_read_from_the_data(tmp_path, valid):
    assert tag_names(valid.tags) == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG",
                                     "I-ORG", "B-PER", "I-PER"]
    wnut = read_conll(_write(tmp_path, "@user\tO\nfoo S-corp\n\nbar B-loc\nbaz E-loc\n"),
                      label_names=TAGS_FROM_DATA)
    assert wnut.label_names == ["O", "S-corp", "B-loc", "E-loc"]
    assert wnut.tag_ids() == [[0, 1], [2, 3]]
    folder = tmp_path / "splits"
    folder.mkdir()
    _write(folder, "a B-x\nb I-x\n\nc O\n", "train.txt")
    _write(folder, "d S-y\n", "dev.txt")
    _write(folder, "e B-w\n", "test.txt")
    splits = read_conll_directory(folder, TAGS_FROM_DATA)  # one tag set for every split
    assert {split: data.label_names for split, data in splits.items()} == {
        split: ["O", "B-w", "B-x", "I-x", "S-y"] for split in ("train", "valid", "test")}
    assert splits["valid"].tag_ids() == [[4]]


@pytest.mark.parametrize("text, line, match", [
    ("EU NNP B-NP B-ORG\nrejects\n", 2, "'rejects' has one column"),
    ("EU NNP B-NP B-ORG\n\nEU NNP B-NP ORG\n", 3, "tag 'ORG' is not 'O' or a prefix"),
    ("EU NNP B-NP X-ORG\n", 1, "tag 'X-ORG' is not 'O'"),
    ("a O\nb O\nc O\nd B-FOO\n", 4, r"tag 'B-FOO' is not in label_names \['O', 'B-PER'"),
])
def test_bad_records_name_the_file_and_line(tmp_path, text, line, match):
    path = _write(tmp_path, text)
    with pytest.raises(ValueError, match=f"{re.escape(path)}:{line}: {match}"):
        read_conll(path)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_conll(tmp_path / "nope.txt")
    with pytest.raises(ValueError, match="holds no sentences"):
        read_conll(_write(tmp_path, "-DOCSTART- -X- -X- O\n\n"))


def test_tagging_data_checks_lengths():
    with pytest.raises(ValueError, match="sentence 0 has 2 words and 1 tags"):
        TaggingData([["a", "b"]], [["O"]], ["O"])
    with pytest.raises(ValueError, match="1 sentences of words and 2 of tags"):
        TaggingData([["a"]], [["O"], ["O"]], ["O"])


def test_split_paths(tmp_path):
    for name in ("train.txt", "dev.txt", "test.txt"):
        _write(tmp_path, "Paris NNP B-NP B-LOC\n", name)
    paths = conll_split_paths(tmp_path)
    assert {split: p.rsplit("/", 1)[1] for split, p in paths.items()} == {
        "train": "train.txt", "valid": "dev.txt", "test": "test.txt"}
    data = read_conll_directory(tmp_path)
    assert sorted(data) == ["test", "train", "valid"] and data["valid"].tags == [["B-LOC"]]
    _write(tmp_path, "Paris NNP B-NP B-LOC\n", "valid.txt")
    with pytest.raises(ValueError, match="holds both valid.txt and dev.txt"):
        conll_split_paths(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    _write(empty, "", "test.txt")
    with pytest.raises(FileNotFoundError, match=r"lacks train.txt and valid.txt or dev.txt "
                                                r"\(it holds \['test.txt'\]\)"):
        conll_split_paths(empty)
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        conll_split_paths(tmp_path / "absent")


def test_real_split_paths():
    directory = shared_file("conll2003", "train.txt").parent
    assert sorted(conll_split_paths(directory)) == ["train", "valid"]


def test_to_dataset(valid):
    import tensorflow as tf

    dataset = valid.to_dataset()
    assert int(dataset.cardinality()) == 3250
    words, ids = next(iter(dataset.skip(1)))
    assert words.numpy().tolist() == [b"LONDON", b"1996-08-30"]
    assert ids.dtype == tf.int32 and ids.numpy().tolist() == [5, 0]
    batch_words, batch_ids = next(iter(dataset.ragged_batch(4)))
    assert batch_words.shape[0] == 4 and batch_ids.row_lengths().numpy().tolist() == [
        len(w) for w in valid.words[:4]]
