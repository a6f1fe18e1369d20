"""Bad input, as a new user would give it, through the `keras-bert` command: each case is one
`error:` line naming the problem and the fix, exit status 2, and no file outside the
command's own output changes (SHA-256 of every file before and after); the model cases give a
`ValueError` naming the value, its position and the limit.

The matrix: empty / whitespace-only / one-document / binary corpus (vocab, pretrain), a cased
vocab through the uncased pipeline, a Latin-1 vocab, resuming a run with another preset or
vocab, convert onto an existing model and onto its own source, out-of-range token and segment
ids, too-long sequences."""

import hashlib
import os
import shutil

import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.config import BertConfig
from keras_bert_impl.models import BertEncoder
from keras_bert_impl.presets import TokenizerSpec
from keras_bert_impl.presets.ours import write_preset
from tests.real_data import shared_file

UNCASED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "the", "cat", "sat", "on", "mat",
           "it", "was", "warm", "a", "dog", "ran", "rain", "fell"]
CASED = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + [
    w for word in ("the cat sat on mat it was warm a dog ran rain fell over london night "
                   "markets rose tokyo bank").split() for w in (word, word.capitalize())]
DOCUMENTS = "The cat sat.\nIt was warm.\n\nA dog ran.\nRain fell.\n\nThe mat was warm.\n"


def _hashes(root):
    """`{relative path: sha256}` of every file under `root`."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return out


@pytest.fixture()
def workspace(tmp_path):
    """Input files a user has: corpora, vocabularies, a Hugging Face model, a started run."""
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "blank.txt").write_text("   \n\t\n\n  \n")
    (tmp_path / "one_doc.txt").write_text("The cat sat.\nIt was warm.\nA dog ran.\n")
    (tmp_path / "garbage.bin").write_bytes(np.random.default_rng(0).bytes(64 * 1024))
    (tmp_path / "docs.txt").write_text(DOCUMENTS)
    (tmp_path / "vocab.txt").write_text("\n".join(UNCASED) + "\n")
    (tmp_path / "cased_vocab.txt").write_text("\n".join(CASED) + "\n")
    (tmp_path / "other_vocab.txt").write_text("\n".join(UNCASED + ["extra"]) + "\n")
    (tmp_path / "latin1_vocab.txt").write_bytes("\n".join(UNCASED + ["caf\xe9"]).encode("latin-1"))
    shutil.copytree(shared_file("bert_tiny_mlm"), tmp_path / "hf_model")
    run = tmp_path / "run"  # as a run looks after its first checkpoint
    write_preset(str(run), BertConfig.from_preset("bert_tiny", vocab_size=len(UNCASED)), {},
                 model_class="BertPretrainer", metadata={"step": 10}, into_existing_run=True,
                 tokenizer=TokenizerSpec(UNCASED, lowercase=True, source="vocab.txt"))
    (run / "checkpoints").mkdir()
    (run / "logs").mkdir()
    return tmp_path


def _pretrain(w, corpus, vocab="vocab.txt", out="new_run", *extra):
    return ["pretrain", "--corpus", str(w / corpus), "--vocab", str(w / vocab), "--out",
            str(w / out), "--seq-len", "16", "--batch-size", "2", "--steps", "10",
            "--checkpoint-every", "10", "--max-predictions", "2", *extra]


CASES = {
    "empty corpus (vocab)": (
        lambda w: ["vocab", "--corpus", str(w / "empty.txt"), "--size", "50", "--out",
                   str(w / "new_vocab.txt")],
        ["holds no text", "empty.txt (empty)"]),
    "whitespace-only corpus (vocab)": (
        lambda w: ["vocab", "--corpus", str(w / "blank.txt"), "--size", "50", "--out",
                   str(w / "new_vocab.txt")],
        ["holds no text", "blank.txt (whitespace only)"]),
    "binary garbage corpus (vocab)": (
        lambda w: ["vocab", "--corpus", str(w / "garbage.bin"), "--size", "50", "--out",
                   str(w / "new_vocab.txt")],
        ["garbage.bin", "not valid UTF-8", "more than the 10% allowed",
         "pass --max-bad-lines 1.0 to use them anyway"]),
    "empty corpus (pretrain)": (lambda w: _pretrain(w, "empty.txt"), ["corpus is empty"]),
    "one-document corpus": (
        lambda w: _pretrain(w, "one_doc.txt"),
        ["holds a single document", "need at least 2 documents", "blank line"]),
    "binary garbage corpus": (
        lambda w: _pretrain(w, "garbage.bin"),
        ["garbage.bin", "not valid UTF-8", "--max-bad-lines"]),
    "Latin-1 vocab": (
        lambda w: _pretrain(w, "docs.txt", "latin1_vocab.txt"),
        ["latin1_vocab.txt is not UTF-8 text: byte 0xe9 on line 20", "save it as UTF-8"]),
    "cased vocab, uncased pipeline": (
        lambda w: _pretrain(w, "docs.txt", "cased_vocab.txt"),
        ["cased_vocab.txt is cased", "Pass --cased"]),
    "resume with another vocab": (
        lambda w: _pretrain(w, "docs.txt", "other_vocab.txt", "run"),
        ["was started with bert_tiny", "vocab_size 19 vs 20", "use another --out"]),
    "resume with another preset": (
        lambda w: _pretrain(w, "docs.txt", "vocab.txt", "run", "--preset", "bert_small"),
        ["was started with bert_tiny", "hidden_size 128 vs 512", "use another --out"]),
    "convert onto an existing model": (
        lambda w: ["convert", "--from", str(w / "run"), "--to", str(w / "hf_model")],
        ["is not empty", "not one of our presets", "--overwrite"]),
    "convert onto its own source": (
        lambda w: ["convert", "--from", str(w / "hf_model"), "--to", str(w / "hf_model"),
                   "--overwrite"],
        ["is the --from directory", "never writes over its source"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_command_line_bad_input(case, workspace, capsys):
    argv, expected = CASES[case]
    argv = argv(workspace)
    before = _hashes(workspace)
    assert main(argv) == 2, case
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if line.startswith("error: ")]
    assert len(errors) == 1, err
    for fragment in expected:
        assert fragment in errors[0], (fragment, errors[0])
    assert _hashes(workspace) == before  # inputs, the started run, the HF model: untouched
    for new in ("new_run", "new_vocab.txt"):
        assert not (workspace / new).exists(), f"{new} left behind by a failed command"


SMALL = {"vocab_size": 30, "hidden_size": 8, "num_layers": 1, "num_heads": 2,
         "max_position_embeddings": 12}


def _x(token_ids, segment_ids=None):
    token_ids = np.asarray(token_ids, "int32")
    return {"token_ids": token_ids,
            "segment_ids": np.zeros_like(token_ids) if segment_ids is None
            else np.asarray(segment_ids, "int32"),
            "padding_mask": np.ones_like(token_ids)}


@pytest.mark.parametrize("x, fragments", [
    (_x([[2, 5, -1, 3]]), ["token_ids[0, 2] = -1", "[0, 30)"]),
    (_x([[2, 5, 6, 3], [2, 30, 6, 3]]), ["token_ids[1, 1] = 30", "vocab_size=30"]),
    (_x([[2, 5, 6, 3]], [[0, 0, 2, 0]]), ["segment_ids[0, 2] = 2", "type_vocab_size=2"]),
    (_x(np.full((1, 13), 5)), ["13 positions", "max_position_embeddings=12"]),
], ids=["negative id", "id past the vocab", "segment id", "too long"])
def test_model_bad_input(x, fragments):
    encoder = BertEncoder(SMALL)
    for call in (encoder, encoder.predict):
        with pytest.raises(ValueError) as raised:
            call(x)
        for fragment in fragments:
            assert fragment in str(raised.value), (fragment, str(raised.value))
