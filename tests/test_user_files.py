"""`open_text`, which every reader of a user's text file goes through: UTF-8 with universal
newlines and without a byte-order mark; a Latin-1 or binary file, a missing path or a directory
is an error naming the file (and the line and byte) and the fix."""

import re

import pytest

from keras_bert_impl.data.conll import read_conll
from keras_bert_impl.data.squad import read_squad
from keras_bert_impl.export.predict_cli import read_jsonl
from keras_bert_impl.metrics.squad import squad_scores
from keras_bert_impl.presets.tokenizer_spec import read_vocab_file
from keras_bert_impl.user_files import open_text

LATIN1_SQUAD = ('{"version": "1.1", "data": [{"title": "Caf\xe9", "paragraphs": [{"context": '
                '"Un caf\xe9.", "qas": [{"id": "q1", "question": "Quoi?", "answers": '
                '[{"text": "caf\xe9", "answer_start": 3}]}]}]}]}').encode("latin-1")


def test_reads_utf8_with_universal_newlines_and_without_a_byte_order_mark(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_bytes("\ufeff[PAD]\r\n[UNK]\rcaf\u00e9\n\n".encode())
    with open_text(path, "a vocabulary") as f:
        assert f.read() == "[PAD]\n[UNK]\ncaf\u00e9\n\n"
    assert read_vocab_file(str(path)) == ["[PAD]", "[UNK]", "caf\u00e9"]


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"], ids=["plain", "after a BOM"])
def test_latin1_names_the_file_line_byte_and_fix(tmp_path, bom):
    path = tmp_path / "vocab.txt"
    path.write_bytes(bom + "[PAD]\n[UNK]\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(ValueError) as raised:
        open_text(path, "a vocabulary")
    assert str(raised.value) == (
        f"{path} is not UTF-8 text: byte 0xe9 on line 3 (invalid continuation byte). It should "
        "be a vocabulary: if it is, save it as UTF-8 (`iconv -f latin1 -t utf-8 IN > OUT` "
        "converts a Latin-1 file), else pass the right file.")


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.txt does not exist; pass a vocabulary\.$"):
        open_text(tmp_path / "nope.txt", "a vocabulary")
    with pytest.raises(FileNotFoundError, match=r" is a directory; pass a vocabulary\.$"):
        open_text(tmp_path, "a vocabulary")


@pytest.mark.parametrize("read, name, content, kind", [
    (read_vocab_file, "vocab.txt", b"\xff\xfe[PAD]\n", "a vocab.txt (UTF-8, one WordPiece"),
    (read_conll, "train.txt", "Caf\xe9 B-LOC\n".encode("latin-1"), "a CoNLL file"),
    (read_squad, "dev.json", LATIN1_SQUAD, "a SQuAD JSON file"),
    (lambda path: squad_scores(path, {"q1": "caf\u00e9"}), "dev.json", LATIN1_SQUAD,
     "a SQuAD JSON file"),
    (read_jsonl, "in.jsonl", '{"text": "caf\xe9"}\n'.encode("latin-1"), "a JSON lines file"),
], ids=["vocab", "conll", "squad data", "squad metric", "predict inputs"])
def test_every_reader_of_a_users_text_file_says_which_file_is_not_utf8(tmp_path, read, name,
                                                                        content, kind):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"^{re.escape(str(path))} is not UTF-8 text: byte 0x.. "
                                         rf"on line 1 \(.*\)\. It should be {re.escape(kind)}"):
        read(str(path))
