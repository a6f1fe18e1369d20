"""Guards of the pretraining text pipeline (issue 11): a vocabulary whose casing contradicts
the pipeline's, a corpus that cannot make sentence pairs, and `keras-bert vocab` on an empty
corpus or a large one (progress). Each of these once trained or failed without a word: a
cased vocab read uncased (half the vocab unreachable), a bare `StopIteration`."""

import os
import subprocess
import sys

import pytest
import tensorflow as tf

from keras_bert_impl.presets.tokenizer_spec import vocab_casing
from keras_bert_impl.text import BertTokenizer, learn_vocab, make_pretraining_dataset
from keras_bert_impl.text.corpus_checks import check_vocab_casing, sample_file

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LOWER = [".", "the", "cat", "sat", "it", "slept", "a", "dog", "ran", "barked", "at"]
# A small cased vocabulary: most of its words are capitalised (names, sentence starts).
CAPITALISED = ["The", "Cat", "It", "A", "Dog", "London", "Paris", "John", "Mary", "Monday",
               "English", "Berlin", "Rome", "Peter", "Anna"]
CASED_VOCAB = SPECIALS + LOWER + CAPITALISED
UNCASED_VOCAB = SPECIALS + LOWER
CORPUS = "The cat sat.\nIt slept.\n\nA dog ran.\nIt barked at the cat.\n"
KWARGS = {"sequence_length": 16, "batch_size": 2, "max_predictions_per_seq": 3}


def _write(path, text, mode="w"):
    with open(path, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as f:
        f.write(text)
    return str(path)


@pytest.fixture
def cased_vocab(tmp_path):
    return _write(tmp_path / "cased_vocab.txt", "\n".join(CASED_VOCAB) + "\n")


@pytest.fixture
def corpus(tmp_path):
    return _write(tmp_path / "corpus.txt", CORPUS)


# -- 1. casing -------------------------------------------------------------------------------


def test_vocab_casing_needs_real_evidence(vocab_path):
    from keras_bert_impl.presets.tokenizer_spec import read_vocab_file

    assert vocab_casing(CASED_VOCAB) == ("cased", 15, 26)
    assert vocab_casing(UNCASED_VOCAB).casing is None  # too small to call uncased
    assert vocab_casing(SPECIALS + LOWER + CAPITALISED[:10]).casing is None  # 10: not enough
    # The real uncased MiniLM vocab: 2 tokens with capitals ('ℝ', '##ℝ') of 29,523.
    minilm = vocab_casing(read_vocab_file(vocab_path))
    assert minilm == ("uncased", 2, 29523)
    assert minilm.evidence == "2 of 29,523 tokens have capitals"


def test_cased_vocab_through_uncased_pretraining_is_an_error(cased_vocab, corpus):
    with pytest.raises(ValueError) as error:
        make_pretraining_dataset(corpus, cased_vocab, lowercase=True, **KWARGS)
    message = str(error.value)
    assert "cased_vocab.txt" in message
    assert "15 of 26 tokens have capitals" in message
    assert "--cased" in message and "lowercase=False" in message
    # A BertTokenizer built by hand with the wrong casing is caught the same way.
    with pytest.raises(ValueError, match="15 of 26 tokens have capitals"):
        make_pretraining_dataset(corpus, BertTokenizer(CASED_VOCAB), **KWARGS)
    # The right casing trains: capitalised words are their own tokens.
    x, _ = next(iter(make_pretraining_dataset(corpus, cased_vocab, lowercase=False, **KWARGS)))
    assert x["token_ids"].shape == (2, 16)


def test_uncased_real_vocab_read_cased_is_an_error(vocab_path, corpus):
    with pytest.raises(ValueError, match=r"uncased \(only 2 of 29,523 tokens have capitals\)"
                                         r".*--uncased \(in Python: lowercase=True\)"):
        make_pretraining_dataset(corpus, vocab_path, lowercase=False, **KWARGS)
    # Uncased, as the checkpoint was trained: fine.
    make_pretraining_dataset(corpus, vocab_path, lowercase=True, **KWARGS)


def test_small_vocabularies_pass_either_way():
    for lowercase in (True, False):
        check_vocab_casing(UNCASED_VOCAB, lowercase, "test")
        check_vocab_casing(SPECIALS + LOWER + CAPITALISED[:10], lowercase, "test")


# -- 3. corpora that cannot make sentence pairs ----------------------------------------------


@pytest.mark.parametrize("name, text, message", [
    ("empty.txt", "", r"corpus is empty: 1 file\(s\) matched \(.*empty.txt \(empty\)\)"),
    ("blank.txt", "\n  \n\t\n", r"corpus is empty: .*blank.txt \(whitespace only\)"),
    ("one.txt", "The cat sat.\nIt slept.\n",
     r"one.txt holds a single document .*need at least 2 documents.*Separate documents by a "
     r"blank line"),
])
def test_unusable_corpus_files_are_clear_errors(tmp_path, name, text, message):
    path = _write(tmp_path / name, text)
    with pytest.raises(ValueError, match=message):
        make_pretraining_dataset(path, BertTokenizer(UNCASED_VOCAB), **KWARGS)


def test_unusable_document_lists_and_datasets_are_clear_errors():
    tokenizer = BertTokenizer(UNCASED_VOCAB)
    for documents in ([], [["The cat sat.", "It slept."]], [["The cat sat."], ["", "  "]]):
        with pytest.raises(ValueError, match=r"document\(s\) with text .*need at least 2"):
            make_pretraining_dataset(documents, tokenizer, **KWARGS)
    one = tf.data.Dataset.from_tensors(tf.constant(["The cat sat.", "It slept."]))
    with pytest.raises(ValueError, match=r"dataset of 1 document\(s\); .*at least 2"):
        make_pretraining_dataset(one, tokenizer, **KWARGS)
    # Two documents are enough to build and read a batch.
    docs = [["The cat sat.", "It slept."], ["A dog ran.", "It barked at the cat."]]
    x, _ = next(iter(make_pretraining_dataset(docs, tokenizer, drop_remainder=False,
                                              **KWARGS)))
    assert x["token_ids"].shape[1] == 16


def test_sample_file_finds_binary_and_badly_encoded_lines(tmp_path):
    path = _write(tmp_path / "mixed.txt",
                  b"plain text\n\n\x00\x01\x02\x03\x04\nCaf\xe9 in Latin-1\n"
                  b"caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac in UTF-8\n\t\n", "wb")
    sample = sample_file(path)
    assert (sample.has_text, sample.documents, sample.lines) == (True, 2, 4)
    assert [(n, reason) for n, reason, _ in sample.bad] == [
        (3, "mostly control/binary characters"), (4, "not valid UTF-8")]
    assert sample.texts == ["plain text", "café 東京 in UTF-8"]


# -- 4. keras-bert vocab ----------------------------------------------------------------------


def _vocab_cli(argv):
    """`keras-bert vocab ARGV` without the top-level CLI's error formatting."""
    import argparse

    from keras_bert_impl.text import vocab_cli

    parser = argparse.ArgumentParser()
    vocab_cli.add_arguments(parser)
    return vocab_cli.run(parser.parse_args(argv))


def test_learn_vocab_without_words_is_a_value_error():
    empty = tf.data.Dataset.from_tensor_slices(tf.constant(["", "  ", "\t"]))
    with pytest.raises(ValueError, match=r"found no words in the text \(3 texts, 3 bytes"):
        learn_vocab(empty, 100)


def test_learn_vocab_reports_progress():
    seen = []
    texts = ["the cat sat on the mat"] * 5 + ["the dog sat"]
    learn_vocab(texts, 60, batch_size=2, progress=lambda *totals: seen.append(totals))
    assert seen == [(2, 44, 12, 5, False), (4, 88, 24, 5, False), (6, 121, 33, 6, False),
                    (6, 121, 33, 6, True)]


@pytest.mark.parametrize("files, shown", [
    ({"empty.txt": ""}, r"empty.txt \(empty\)"),
    ({"blank.txt": "\n \n", "empty.txt": ""},
     r"blank.txt \(whitespace only\), .*empty.txt \(empty\)"),
])
def test_vocab_cli_on_a_corpus_without_text(tmp_path, files, shown):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(ValueError, match=rf"keras-bert vocab: the corpus holds no text: "
                                         rf"{len(files)} file\(s\) matched \(.*{shown}"):
        _vocab_cli(["--corpus", str(tmp_path / "*.txt"), "--size", "100",
                    "--out", str(tmp_path / "vocab.txt")])
    assert not (tmp_path / "vocab.txt").exists()


def test_vocab_cli_prints_progress_and_a_summary(tmp_path, capsys):
    for i in range(3):
        _write(tmp_path / f"{i}.txt", CORPUS * 400)
    size = sum(os.path.getsize(tmp_path / f"{i}.txt") for i in range(3))
    assert _vocab_cli(["--corpus", str(tmp_path / "*.txt"), "--size", "60", "--out",
                       str(tmp_path / "out" / "vocab.txt"), "--progress-every", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"keras-bert vocab: counting words in 3 file(s), {size / 1024:,.1f} KiB " \
                     "(uncased)"
    progress = [line for line in out if line.startswith("keras-bert vocab: read ")]
    assert len(progress) == 6  # 6,000 lines, 1,024 a batch
    assert progress[0].startswith("keras-bert vocab: read 1,024 lines, ")
    assert "(100%); 20,400 words (11 distinct)" in progress[-1]
    assert out[-2].startswith("keras-bert vocab: counted: read 6,000 lines, ")
    # 11 distinct words give 48 pieces (specials, characters, ## forms, words): fewer than asked.
    assert out[-1].startswith("keras-bert vocab: wrote 48 tokens (fewer than --size 60: the "
                              "corpus has no more distinct pieces) to ")
    assert "from 3 file(s) in " in out[-1]
    assert len((tmp_path / "out" / "vocab.txt").read_text().splitlines()) == 48


def test_vocab_help_does_not_import_tensorflow():
    done = subprocess.run([sys.executable, "-c", (
        "import sys\n"
        "from keras_bert_impl.cli import main\n"
        "try:\n    main(['vocab', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--progress-every" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
