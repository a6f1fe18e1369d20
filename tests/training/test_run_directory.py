"""The pretraining run directory: `--out` that is not a run is refused before any write;
resuming with another model or vocabulary says which and how to fix it; a failed run removes
what it created and nothing else; temp files of a killed run go at the next start; files get
the mode a plain `open()` gives."""

import functools
import os
import re
import subprocess
import sys

import keras
import pytest

from keras_bert_impl.config import BertConfig
from keras_bert_impl.data.synthetic import synthetic_pretraining_dataset
from keras_bert_impl.presets import TokenizerSpec
from keras_bert_impl.presets.ours import write_preset
from keras_bert_impl.training.pretrain import pretrain

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "the", "cat", "sat", "on", "mat",
         "it", "was", "warm", "and", "sun", "out", "a", "dog", "ran", "past", "house",
         "barked", "at", "rain", "fell", "over", "london", "nobody", "went", "that", "night",
         "markets", "rose", "in", "tokyo", "shares", "of", "bank"]  # 39 pieces


def _data(vocab_size):
    return functools.partial(synthetic_pretraining_dataset, vocab_size=vocab_size,
                             max_predictions=4)


def _vocab_file(folder, tokens, name="vocab.txt"):
    path = folder / name
    path.write_text("\n".join(tokens) + "\n")
    return str(path)


def _pretrain(out, vocab, **kwargs):
    arguments = dict(vocab=vocab, dataset_fn=_data(len(open(vocab).read().split())),
                     seq_len=16, batch_size=2, steps=2, checkpoint_every=2, xla=False,
                     verbose=0)
    arguments.update(kwargs)
    return pretrain(str(out), **arguments)


def _started_run(run):
    """A run directory as `pretrain(preset="bert_tiny", vocab=<39 pieces>)` leaves it after
    its first checkpoint: its preset (config, vocab, casing), `checkpoints/` and `logs/`."""
    write_preset(str(run), BertConfig.from_preset("bert_tiny", vocab_size=len(VOCAB)), {},
                 model_class="BertPretrainer", metadata={"step": 2}, into_existing_run=True,
                 tokenizer=TokenizerSpec(VOCAB, lowercase=True, source="vocab.txt"))
    (run / "checkpoints").mkdir()
    (run / "logs").mkdir()
    return run


def _snapshot(folder):
    return sorted((os.path.relpath(os.path.join(root, name), folder),
                   os.path.getmtime(os.path.join(root, name)))
                  for root, dirs, names in os.walk(folder) for name in dirs + names)


def _dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- --out must be new, empty or a run ----------------------------------------------------------
def test_a_directory_that_is_not_a_run_is_refused_before_any_write(tmp_path):
    vocab = _vocab_file(tmp_path, VOCAB)
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    (folder / "model.safetensors").write_bytes(b"somebody's weights")
    before = _snapshot(folder)
    with pytest.raises(FileExistsError, match=r"--out .*mine is not empty \(model.safetensors, "
                       r"notes.txt\) and is not a pretraining run directory"):
        _pretrain(folder, vocab)
    assert _snapshot(folder) == before


def test_a_preset_that_is_not_a_run_is_refused(tmp_path):
    vocab = _vocab_file(tmp_path, VOCAB)
    preset = tmp_path / "converted"
    write_preset(str(preset), BertConfig.from_preset("bert_tiny", vocab_size=39), {},
                 model_class="BertEncoder")
    before = _snapshot(preset)
    with pytest.raises(FileExistsError, match=r"holds a preset but is not a pretraining run.*"
                       r"pass --preset .*converted and a new --out"):
        _pretrain(preset, vocab)
    assert _snapshot(preset) == before


# --- resuming with other flags -------------------------------------------------------------------
@pytest.mark.parametrize("change, message", [
    ({"preset": "bert_small"},
     r"this command asks for bert_small \(hidden 512, 4 layers, vocab 39 from .*other.txt, "
     r"uncased\)\. Different: hidden_size 128 vs 512; num_layers 2 vs 4"),
    ({"vocab": VOCAB + ["extra"]},
     r"asks for bert_tiny \(hidden 128, 2 layers, vocab 40 from .*other.txt, uncased\)\. "
     r"Different: vocab_size 39 vs 40; another vocabulary\."),
    ({"vocab": VOCAB[:5] + ["!"] + VOCAB[6:]},
     r"Different: another vocabulary \(id 5 is '\.' vs '!'\)\."),
    ({"lowercase": False}, r"Different: uncased vs cased\."),
])
def test_resuming_with_another_preset_or_vocab_says_which(tmp_path, change, message):
    run = _started_run(tmp_path / "run")
    before = _snapshot(run)
    change = dict(change)
    vocab = _vocab_file(tmp_path, change.pop("vocab", VOCAB), name="other.txt")
    with pytest.raises(ValueError) as raised:
        _pretrain(run, vocab, **change)
    text = str(raised.value)
    assert text.startswith(f"{run} was started with bert_tiny (hidden 128, 2 layers, vocab 39 "
                           f"from {run}/vocab.txt, uncased); this command asks for "), text
    assert text.endswith("To resume " + str(run) + ", pass the flags it was started with "
                         "(--preset, --vocab, --cased/--uncased); to start a new run, use "
                         "another --out."), text
    assert re.search(message, text), text
    assert _snapshot(run) == before


def test_a_checkpoint_of_another_model_is_named_as_such(tmp_path):
    """No preset.json yet (killed between its first checkpoint and its preset): the restore
    error says what happened instead of TensorFlow's shape mismatch alone."""
    from keras_bert_impl.models import BertPretrainer
    from keras_bert_impl.training.callbacks import PretrainingCheckpoint

    run = tmp_path / "run"
    model = BertPretrainer.from_preset("bert_tiny", vocab_size=len(VOCAB))
    model.compile(jit_compile=False)
    model.optimizer.build(model.trainable_variables)
    checkpoint = PretrainingCheckpoint(run / "checkpoints")
    checkpoint.set_model(model)
    checkpoint.save(2, 2)
    keras.backend.clear_session()
    before = _snapshot(run)
    vocab = _vocab_file(tmp_path, VOCAB + ["extra"])
    with pytest.raises(ValueError, match=r"The checkpoint in .*checkpoints does not fit this "
                       r"model \(.*\): .*run was started with another --preset or --vocab"):
        _pretrain(run, vocab)
    assert _snapshot(run) == before  # a resumable run is kept whole


# --- failures clean up after themselves ----------------------------------------------------------
class _Interrupt(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        raise KeyboardInterrupt


def test_a_failed_fresh_run_removes_what_it_created(tmp_path):
    vocab = _vocab_file(tmp_path, VOCAB)
    with pytest.raises(KeyboardInterrupt):
        _pretrain(tmp_path / "new" / "runs" / "x", vocab, callbacks=[_Interrupt()])
    assert not (tmp_path / "new").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(KeyboardInterrupt):
        _pretrain(empty, vocab, callbacks=[_Interrupt()])
    assert empty.is_dir() and os.listdir(empty) == []  # the user's directory stays


class _RemoveRunThenInterrupt(keras.callbacks.Callback):
    """What the chief of a multi-worker run sees when another worker failed first: that
    worker removed the shared, still empty run directory."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def on_train_batch_begin(self, batch, logs=None):
        for root, dirs, names in os.walk(self.run, topdown=False):
            for name in names:
                os.remove(os.path.join(root, name))
            for name in dirs:
                os.rmdir(os.path.join(root, name))
        os.rmdir(self.run)
        raise KeyboardInterrupt


def test_a_failure_after_the_run_directory_is_gone_reports_the_failure(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):  # not a FileNotFoundError from the cleanup
        _pretrain(run, _vocab_file(tmp_path, VOCAB), callbacks=[_RemoveRunThenInterrupt(run)])
    assert not run.exists()


def test_stale_temp_files_go_at_the_next_start(tmp_path):
    run = _started_run(tmp_path / "run")
    dead, alive = _dead_pid(), os.getppid()
    stale = [f".pretrainer-{dead}.tmp.keras", f"summary.json.tmp-{dead}",
             f"model.safetensors.tmp-{dead}"]
    for name in stale + [f".pretrainer-{alive}.tmp.keras"]:
        (run / name).write_bytes(b"half written")
    (run / f".run.tmp-{dead}-abcd1234").mkdir()
    vocab = _vocab_file(tmp_path, VOCAB)
    with pytest.raises(ValueError, match="was started with bert_tiny"):
        _pretrain(run, vocab, preset="bert_mini")  # any start; this one stops early
    assert sorted(os.listdir(run)) == sorted([
        f".pretrainer-{alive}.tmp.keras", "checkpoints", "logs", "model.safetensors",
        "preset.json", "vocab.txt"])


# --- file modes ----------------------------------------------------------------------------------
def test_learned_vocab_gets_the_usual_mode(tmp_path):
    pytest.importorskip("tensorflow_text")
    from keras_bert_impl.text.vocab import write_vocab

    previous = os.umask(0o022)
    try:
        write_vocab(VOCAB, tmp_path / "vocab.txt")
    finally:
        os.umask(previous)
    assert oct((tmp_path / "vocab.txt").stat().st_mode & 0o777) == oct(0o644)


def test_a_run_writes_readable_files_and_leaves_no_temp_file(tmp_path):
    vocab = _vocab_file(tmp_path, VOCAB)
    run = tmp_path / "run"
    previous = os.umask(0o022)
    try:
        _pretrain(run, vocab)
    finally:
        os.umask(previous)
    modes = {}
    for root, dirs, names in os.walk(run):
        for name in dirs:
            modes[os.path.relpath(os.path.join(root, name), run)] = (
                os.stat(os.path.join(root, name)).st_mode & 0o777, 0o755)
        for name in names:
            modes[os.path.relpath(os.path.join(root, name), run)] = (
                os.stat(os.path.join(root, name)).st_mode & 0o777, 0o644)
    wrong = {name: oct(mode) for name, (mode, want) in modes.items() if mode != want}
    assert not wrong, wrong
    top = sorted(os.listdir(run))
    assert top == ["checkpoints", "logs", "model.safetensors", "preset.json",
                   "pretrainer.keras", "summary.json", "vocab.txt"]
