"""The corpus reader stops on garbage and on a vocabulary of the wrong casing (issue 11).

Before: a corpus of random bytes, a Latin-1 file or text the vocabulary does not cover trained
without a word (the tokenizer drops invalid bytes, `[UNK]` everywhere), and a cased vocab.txt
read by the default uncased pipeline lost every capitalised token. Now `list_corpus_files`,
`document_dataset` and `corpus_dataset_fn` sample the start of each file and raise a
`ValueError` naming the file, the share of bad lines and an example;
`max_bad_line_fraction` (`keras-bert pretrain --max-bad-lines`) overrides the 10% default."""

import argparse
import inspect
import random

import pytest

from keras_bert_impl.data import corpus as corpus_module
from keras_bert_impl.data.corpus import corpus_dataset_fn, document_dataset, list_corpus_files
from keras_bert_impl.text import corpus_checks

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [".", "a", "at", "barked", "cat", "dog", "it", "ran", "sat", "slept", "the"]
TEXT = "The cat sat.\nIt slept.\n\nA dog ran.\nIt barked at the cat.\n\n"


def _write(path, data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return str(path)


@pytest.fixture
def vocab(tmp_path):
    return _write(tmp_path / "vocab.txt", "\n".join(SPECIALS + WORDS) + "\n")


@pytest.fixture
def good(tmp_path):
    return _write(tmp_path / "good.txt", TEXT * 20)


def _garbage(n=20_000, seed=0):
    """Random bytes in two "documents" (so that only the bad-line check can object)."""
    rng = random.Random(seed)
    return rng.randbytes(n // 2) + b"\n\n" + rng.randbytes(n // 2)


def test_binary_garbage_is_a_clear_error(tmp_path, vocab):
    path = _write(tmp_path / "garbage.bin", _garbage())
    for call in (lambda: list_corpus_files(path),
                 lambda: document_dataset(path),
                 lambda: corpus_dataset_fn(path, vocab=vocab)):
        with pytest.raises(ValueError) as error:
            call()
        message = str(error.value)
        assert message.startswith(f"{path}: ")
        assert "% of its first " in message and "not valid UTF-8" in message
        assert "more than the 10% allowed" in message
        assert f"e.g. {path} line 1 (not valid UTF-8): b'" in message
        assert "--max-bad-lines 1.0 (in Python: max_bad_line_fraction=1.0)" in message
    # The override: the user knows better.
    assert list_corpus_files(path, max_bad_line_fraction=1.0) == [path]
    corpus_dataset_fn(path, vocab=vocab, max_bad_line_fraction=1.0)


def test_control_characters_and_other_encodings_are_bad_lines(tmp_path):
    nul = _write(tmp_path / "nul.txt", b"\x00\x00\x00\x00\n" * 10 + b"\nsome text\n")
    with pytest.raises(ValueError, match=r"nul.txt: 91% of its first 11 non-blank lines are bad "
                                         r"\(10 mostly control/binary characters\)"):
        list_corpus_files(nul)
    latin1 = _write(tmp_path / "latin1.txt",
                    "Café au lait.\nDéjà vu.\n\nÀ bientôt.\nGarçon !\n".encode("latin-1") * 3)
    with pytest.raises(ValueError, match=r"latin1.txt: 100% .*\(12 not valid UTF-8\).*"
                                         r"line 1 \(not valid UTF-8\): b'Caf\\xe9 au lait.'"):
        list_corpus_files(latin1)


def test_text_the_vocabulary_does_not_cover_is_caught_with_the_vocab(tmp_path, vocab):
    # Valid UTF-8 text, but nothing of it is in the (English) vocabulary.
    other = _write(tmp_path / "other.txt",
                   "Der Hund bellte laut.\nDie Katze schlief.\n\nEin Vogel sang.\n" * 4)
    assert list_corpus_files(other) == [other]  # as text, it is fine
    with pytest.raises(ValueError, match=r"other.txt: 100% of its first 12 non-blank lines "
                                         r"are bad \(12 mostly \[UNK\] with this vocabulary\)"
                                         r".*line 1 .*: 'Der Hund bellte laut.'"):
        corpus_dataset_fn(other, vocab=vocab)
    corpus_dataset_fn(other, vocab=vocab, max_bad_line_fraction=1.0)


def test_a_few_odd_lines_pass(tmp_path, vocab, good):
    # 4 bad lines of 84 (5%), and a 5-line file with one bad line (20%, but no evidence).
    mixed = _write(tmp_path / "mixed.txt", TEXT * 20 + "\x00\x00\x00\n" * 4)
    small = _write(tmp_path / "small.txt", b"The cat sat.\n\nIt slept.\n\xff\xfe\n")
    assert list_corpus_files([good, mixed, small]) == [good, mixed, small]
    dataset = corpus_dataset_fn([good, mixed, small], vocab=vocab, max_predictions=3)(
        batch_size=2, seq_len=16)
    assert dataset.element_spec[0]["token_ids"].shape.as_list()[1:] == [16]


def test_many_small_garbage_files_are_caught_together(tmp_path):
    # Each file has too few lines to be evidence alone; together they are 30% garbage.
    for i in range(8):
        _write(tmp_path / f"g{i}.txt", b"\x00\x01\x02\n\nThe cat sat.\nIt slept.\n")
    with pytest.raises(ValueError, match=r"the corpus: \d+% of the \d+ non-blank lines sampled "
                                         r"from its 8 files"):
        list_corpus_files(str(tmp_path / "*.txt"))


def test_cased_vocab_with_the_uncased_default_is_an_error(tmp_path, good):
    capitalised = ["The", "Cat", "It", "A", "Dog", "London", "Paris", "John", "Mary", "Monday",
                   "English", "Berlin", "Rome", "Peter", "Anna"]
    cased = _write(tmp_path / "cased.txt", "\n".join(SPECIALS + WORDS + capitalised) + "\n")
    with pytest.raises(ValueError, match=r"cased.txt is cased \(15 of 26 tokens have capitals\)"
                                         r".*Pass --cased \(in Python: lowercase=False\)"):
        corpus_dataset_fn(good, vocab=cased)
    with pytest.raises(ValueError, match="15 of 26 tokens have capitals"):
        corpus_dataset_fn(tfds_name="imdb_reviews", vocab=cased)  # checked before any download
    dataset = corpus_dataset_fn(good, vocab=cased, lowercase=False, max_predictions=3)(
        batch_size=2, seq_len=16)
    assert dataset.element_spec[0]["token_ids"].shape.as_list()[1:] == [16]


def test_unusable_corpora_fail_in_corpus_dataset_fn(tmp_path, vocab):
    _write(tmp_path / "blank.txt", "\n \n")
    with pytest.raises(ValueError, match=r"corpus is empty: .*blank.txt \(whitespace only\)"):
        corpus_dataset_fn(str(tmp_path / "blank.txt"), vocab=vocab)
    one = _write(tmp_path / "one.txt", "The cat sat.\nIt slept.\n")
    with pytest.raises(ValueError, match="one.txt holds a single document"):
        corpus_dataset_fn(one, vocab=vocab)


def test_the_threshold_is_one_number_everywhere(good):
    from keras_bert_impl.training import pretrain_cli
    from keras_bert_impl.training.pretrain import pretrain

    default = corpus_checks.DEFAULT_MAX_BAD_LINE_FRACTION
    assert corpus_module.DEFAULT_MAX_BAD_LINE_FRACTION == default == 0.1
    for function in (list_corpus_files, document_dataset, corpus_dataset_fn, pretrain):
        assert inspect.signature(function).parameters["max_bad_line_fraction"].default == default
    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
    args = parser.parse_args(["--out", "run"])
    assert args.max_bad_line_fraction == default
    assert parser.parse_args(["--out", "run", "--max-bad-lines", "0.5"]).max_bad_line_fraction \
        == 0.5
    with pytest.raises(ValueError, match=r"max_bad_line_fraction must be in \[0, 1\]; got 2"):
        list_corpus_files(good, max_bad_line_fraction=2)


def test_pretrain_cli_passes_max_bad_lines(tmp_path, vocab):
    from keras_bert_impl.training import pretrain_cli

    garbage = _write(tmp_path / "garbage.bin", _garbage())
    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
    argv = ["--corpus", garbage, "--vocab", vocab, "--out", str(tmp_path / "run"),
            "--steps", "2", "--checkpoint-every", "2"]
    with pytest.raises(ValueError, match=r"garbage.bin: .*more than the 10% allowed"):
        pretrain_cli.run(parser.parse_args(argv))
    assert not (tmp_path / "run").exists()  # nothing built or written
    with pytest.raises(ValueError, match=r"more than the 5% allowed"):
        pretrain_cli.run(parser.parse_args(argv + ["--max-bad-lines", "0.05"]))
