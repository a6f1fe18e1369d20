"""A pretraining run directory is a preset, at every checkpoint and at the end: in a new
process `BertClassifier.from_preset(RUN, num_classes=2)` holds exactly the run's encoder
weights and its tokenizer has the run's vocabulary and casing (stored, not guessed)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertEncoder, BertPretrainer
from keras_bert_impl.models.weights import extract_weights
from keras_bert_impl.presets import read_checkpoint
from keras_bert_impl.training.callbacks import PretrainingCheckpoint
from keras_bert_impl.training.pretrain import pretrain
from tests.training.helpers import REPO_ROOT, worker_env

SENTENCES = [
    "The Cat sat on the Mat.", "It was Warm and the Sun was out.",
    "A Dog ran past the House.", "The Dog barked at the Cat.",
    "Rain fell over London.", "Nobody went out that Night.",
    "Markets rose in Tokyo.", "Shares of the Bank fell.",
]
# A cased vocabulary: capitalised words are their own tokens.
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "The", "the", "Cat", "cat", "sat",
         "on", "Mat", "It", "was", "Warm", "and", "Sun", "out", "A", "Dog", "ran", "past",
         "House", "barked", "at", "Rain", "fell", "over", "London", "Nobody", "went", "that",
         "Night", "Markets", "rose", "in", "Tokyo", "Shares", "of", "Bank"]


@pytest.fixture()
def corpus(tmp_path):
    text = "\n\n".join("\n".join(SENTENCES[i:i + 2]) for i in range(0, len(SENTENCES), 2))
    (tmp_path / "corpus.txt").write_text(text + "\n")
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    return str(tmp_path / "corpus.txt"), str(tmp_path / "vocab.txt")


def _checkpoint_weights(run):
    """Encoder + heads restored from the run's newest TF checkpoint into a fresh model."""
    import tensorflow as tf

    model = BertPretrainer.from_preset("bert_tiny", vocab_size=len(VOCAB))
    directory = os.path.join(run, "checkpoints")
    tf.train.Checkpoint(model=model).restore(tf.train.latest_checkpoint(directory)).expect_partial()
    return PretrainingCheckpoint(directory).latest_step(), extract_weights(model)


@pytest.mark.slow  # two processes; CI keeps run -> finetune in
# tests/training/test_finetune_cli.py::test_a_pretraining_run_fine_tunes_as_it_is
def test_cli_run_loads_as_classifier_in_a_new_process(tmp_path, corpus):
    files, vocab = corpus
    run = str(tmp_path / "run")
    command = [sys.executable, "-m", "keras_bert_impl.cli", "pretrain", "--preset", "bert_tiny",
               "--corpus", files, "--vocab", vocab, "--cased", "--seq-len", "64",
               "--batch-size", "4", "--max-predictions", "5", "--steps", "20",
               "--checkpoint-every", "10", "--out", run]
    done = subprocess.run(command, cwd=REPO_ROOT, env=worker_env(), capture_output=True,
                          text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "is a preset" in done.stdout

    probe = subprocess.run([sys.executable, "-c", f"""
import json
import numpy as np
import keras_bert_impl as kb
from keras_bert_impl.models.weights import extract_weights
classifier = kb.BertClassifier.from_preset({run!r}, num_classes=2)
tokenizer = kb.text.BertTokenizer.from_preset({run!r})
weights = extract_weights(classifier.get_encoder())
np.savez({str(tmp_path / "loaded.npz")!r}, **{{k.replace("/", "|"): v for k, v in weights.items()}})
print(json.dumps({{
    "num_classes": classifier.num_classes,
    "lowercase": tokenizer.lowercase,
    "spec_lowercase": classifier.tokenizer_spec.lowercase,
    "vocabulary": list(tokenizer.get_vocabulary()),
    "ids": tokenizer(["The Cat sat in London."]).to_list(),
}}))
"""], cwd=REPO_ROOT, env=worker_env(), capture_output=True, text=True, timeout=240)
    assert probe.returncode == 0, probe.stderr[-3000:]
    loaded = json.loads(probe.stdout.strip().splitlines()[-1])
    assert loaded["num_classes"] == 2
    assert loaded["lowercase"] is False and loaded["spec_lowercase"] is False
    assert loaded["vocabulary"] == VOCAB
    assert loaded["ids"] == [[VOCAB.index(w) for w in ["The", "Cat", "sat", "in", "London", "."]]]

    step, expected = _checkpoint_weights(run)
    assert step == 20
    arrays = np.load(tmp_path / "loaded.npz")
    encoder_names = [k for k in expected if not k.startswith(("mlm/", "nsp/"))]
    assert sorted(k.replace("|", "/") for k in arrays.files) == sorted(encoder_names)
    for name in encoder_names:
        np.testing.assert_array_equal(arrays[name.replace("/", "|")], expected[name], name)
    # Training moved the weights away from any fresh start.
    fresh = extract_weights(BertEncoder.from_preset("bert_tiny", vocab_size=len(VOCAB)))
    assert not np.allclose(fresh["layer_0/qkv/kernel"], expected["layer_0/qkv/kernel"])
    assert read_checkpoint(run, weights=False).metadata == {"step": 20}


class _PresetMatchesModel(keras.callbacks.Callback):
    """After each checkpoint (this callback runs after the checkpoint callback), the run's
    preset holds exactly the model's current weights."""

    def __init__(self, run):
        super().__init__()
        self.run, self.steps_seen = run, []

    def on_epoch_end(self, epoch, logs=None):
        checkpoint = read_checkpoint(self.run)
        current = extract_weights(self.model)
        assert sorted(checkpoint.weights) == sorted(current)
        for name, value in current.items():
            np.testing.assert_array_equal(checkpoint.weights[name], value, name)
        self.steps_seen.append(checkpoint.metadata["step"])


def test_preset_is_current_at_every_checkpoint(tmp_path, corpus):
    files, vocab = corpus
    run = str(tmp_path / "run")
    probe = _PresetMatchesModel(run)
    pretrain(run, preset="bert_tiny", corpus=files, vocab=vocab, lowercase=False, seq_len=32,
             batch_size=4, steps=15, checkpoint_every=5, max_predictions=5, callbacks=[probe],
             verbose=0)
    assert probe.steps_seen == [5, 10, 15]
    spec = read_checkpoint(run, weights=False).tokenizer
    assert spec.lowercase is False and spec.tokens() == VOCAB
