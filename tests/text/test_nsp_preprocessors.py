"""NSP pairs (balance, other-document NotNext, lengths), the pretraining pipeline's contract
with BertPretrainer, tf.function / tf.data, a SavedModel in a fresh process, vocab learning."""

import re
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.text import (
    BertPreprocessor,
    BertPretrainingPreprocessor,
    BertTokenizer,
    document_instances,
    learn_vocab,
    make_pretraining_dataset,
)


def _bbc_documents(bbc_dir, limit=None):
    """BBC News articles in the reference format: one sentence per line (split at . ! ?)."""
    documents = []
    for path in sorted(bbc_dir.glob("*/*.txt"))[:limit]:
        text = path.read_text("utf-8", errors="replace")
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", text) if s.strip()]
        documents.append(sentences)
    return documents


def test_nsp_on_real_corpus(vocab_path, bbc_dir):
    """≥10k pairs from BBC News: labels 50% ± 2%, NotNext B never from A's own document,
    lengths within the budget, batches in BertPretrainer's format."""
    documents = _bbc_documents(bbc_dir)
    tokenizer = BertTokenizer(vocab_path)
    dataset = make_pretraining_dataset(documents, tokenizer, sequence_length=64, batch_size=128,
                                       max_predictions_per_seq=10, seed=1)
    labels, lengths = [], []
    for x, y in dataset:
        labels.append(y["next_sentence_labels"].numpy())
        lengths.append(x["padding_mask"].numpy().sum(axis=1))
    labels, lengths = np.concatenate(labels), np.concatenate(lengths)
    assert len(labels) >= 10_000
    assert abs(labels.mean() - 0.5) < 0.02, labels.mean()
    assert lengths.max() <= 64 and lengths.min() >= 5
    # Types and shapes: the contract with BertPretrainer.
    assert {k: (v.dtype, tuple(v.shape)) for k, v in x.items()} == {
        "token_ids": (tf.int32, (128, 64)), "segment_ids": (tf.int32, (128, 64)),
        "padding_mask": (tf.bool, (128, 64)), "mask_positions": (tf.int32, (128, 10))}
    assert {k: (v.dtype, tuple(v.shape)) for k, v in y.items()} == {
        "mask_ids": (tf.int32, (128, 10)), "mask_weights": (tf.float32, (128, 10)),
        "next_sentence_labels": (tf.int32, (128,))}


def test_not_next_comes_from_another_document():
    """Each document uses its own token id, so B's source document is visible in its ids."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"d{i}" for i in range(400)]
    rng = np.random.default_rng(0)
    documents = [[" ".join([f"d{d}"] * int(rng.integers(1, 12))) for _ in range(int(rng.integers(1, 9)))]
                 for d in range(400)]
    tokenizer = BertTokenizer(vocab)
    preprocessor = BertPretrainingPreprocessor(tokenizer, sequence_length=24,
                                               max_predictions_per_seq=4, short_seq_prob=0.3)
    total = {0: 0, 1: 0}
    dataset = preprocessor.dataset(documents, batch_size=32, seed=4, shuffle_buffer=50)
    for epoch in range(4):
        for x, y in dataset:
            ids, segments = x["token_ids"].numpy(), x["segment_ids"].numpy()
            mask = x["padding_mask"].numpy()
            # Undo the masking so every position shows its source document's id.
            original = ids.copy()
            positions, mask_ids = x["mask_positions"].numpy(), y["mask_ids"].numpy()
            weights = y["mask_weights"].numpy() > 0
            for r in range(len(ids)):
                original[r, positions[r][weights[r]]] = mask_ids[r][weights[r]]
            for r, label in enumerate(y["next_sentence_labels"].numpy()):
                real = original[r][mask[r] & (original[r] > 4)]
                a = set(original[r][(segments[r] == 0) & (original[r] > 4)])
                b = set(original[r][(segments[r] == 1) & (original[r] > 4)])
                assert len(a) == 1 and len(b) == 1 and len(real) <= 21
                assert (a != b) if label == 1 else (a == b)
                total[int(label)] += 1
    assert total[0] > 300 and total[1] > 300


def test_document_instances_respects_budget_and_self_pairing():
    doc = tf.ragged.constant([[5] * 9, [6] * 4, [7] * 30, [8] * 2, [9] * 3], dtype=tf.int32)
    for s in range(50):
        a, b, labels = document_instances(doc, doc, tf.constant([s, 1]), sequence_length=16,
                                          other_is_valid=False)
        assert (labels.numpy() == 0).all()  # never NotNext from the same document
        lengths = a.row_lengths() + b.row_lengths()
        assert (lengths.numpy() <= 13).all() and (a.row_lengths().numpy() >= 1).all()
    with pytest.raises(ValueError, match="too short"):
        document_instances(doc, doc, tf.constant([0, 0]), sequence_length=4)


def test_pretraining_preprocessor_in_tf_function_and_tf_data(vocab_path):
    preprocessor = BertPretrainingPreprocessor(BertTokenizer(vocab_path), sequence_length=32,
                                               max_predictions_per_seq=5, seed=0)
    batch = {"text_a": tf.constant(["The quick brown fox", "Hello there"]),
             "text_b": tf.constant(["jumps over the lazy dog.", "General Kenobi!"]),
             "next_sentence_labels": tf.constant([0, 1])}
    seed = tf.constant([1, 2], tf.int64)
    eager = preprocessor(batch, seed=seed)
    graph = tf.function(lambda b, s: preprocessor(b, seed=s))(batch, seed)
    for got, want in zip(tf.nest.flatten(graph), tf.nest.flatten(eager), strict=True):
        assert np.array_equal(got, want)
    dataset = tf.data.Dataset.from_tensor_slices(batch).batch(2).map(
        lambda b: preprocessor(b, seed=seed), num_parallel_calls=tf.data.AUTOTUNE)
    x, y = next(iter(dataset))
    assert np.array_equal(x["token_ids"], eager[0]["token_ids"])
    assert y["next_sentence_labels"].numpy().tolist() == [0, 1]
    clone = BertPretrainingPreprocessor.from_config(preprocessor.get_config())
    assert np.array_equal(clone(batch, seed=seed)[0]["token_ids"], eager[0]["token_ids"])


def test_saved_model_reloads_in_fresh_process(vocab_path, tmp_path, real_lines):
    """Tokenizer + packer in a SavedModel; the directory is moved (vocab travels as an asset,
    the WordPiece model is in the graph) and reloaded with only tensorflow + tensorflow_text."""
    preprocessor = BertPreprocessor(BertTokenizer(vocab_path), sequence_length=64)

    class Export(tf.Module):
        def __init__(self):
            super().__init__()
            self.preprocessor = preprocessor
            self.vocab_file = tf.saved_model.Asset(vocab_path)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string),
                                      tf.TensorSpec([None], tf.string)])
        def __call__(self, a, b):
            return self.preprocessor((a, b))

    lines = real_lines[:199] + ["Ünïcode ΣΑΣ 東京 😀 \u200d\x07 " + "w" * 120]
    a, b = tf.constant(lines[0::2]), tf.constant(lines[1::2])
    expected = preprocessor((a, b))
    first = tmp_path / "first"
    tf.saved_model.save(Export(), str(first))
    moved = tmp_path / "elsewhere" / "model"
    shutil.move(str(first), str(moved))
    assert (moved / "assets" / "vocab.txt").is_file()
    np.save(tmp_path / "a.npy", np.array(lines[0::2], dtype=object), allow_pickle=True)
    np.save(tmp_path / "b.npy", np.array(lines[1::2], dtype=object), allow_pickle=True)
    script = textwrap.dedent(f"""
        import sys, numpy as np, tensorflow as tf, tensorflow_text  # noqa: F401
        loaded = tf.saved_model.load({str(moved)!r})
        a = np.load({str(tmp_path / 'a.npy')!r}, allow_pickle=True).tolist()
        b = np.load({str(tmp_path / 'b.npy')!r}, allow_pickle=True).tolist()
        out = loaded(tf.constant(a), tf.constant(b))
        np.save({str(tmp_path / 'out.npy')!r}, out["token_ids"].numpy())
        np.save({str(tmp_path / 'seg.npy')!r}, out["segment_ids"].numpy())
        import os
        asset = loaded.vocab_file.asset_path.numpy().decode()
        assert os.path.realpath(asset).startswith(os.path.realpath({str(moved)!r})), asset
        assert open(asset, encoding="utf-8").read() == open({vocab_path!r}, encoding="utf-8").read()
        assert "keras_bert_impl" not in sys.modules
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert np.array_equal(np.load(tmp_path / "out.npy"), expected["token_ids"].numpy())
    assert np.array_equal(np.load(tmp_path / "seg.npy"), expected["segment_ids"].numpy())


def test_learn_vocab_and_cli(bbc_dir, tmp_path):
    files = sorted(bbc_dir.glob("tech/*.txt"))[:40]
    texts = [line for f in files for line in f.read_text("utf-8", errors="replace").splitlines()
             if line.strip()]
    tokens = learn_vocab(texts, vocab_size=600, out_path=tmp_path / "vocab.txt")
    assert tokens[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 400 < len(tokens) < 800 and "the" in tokens and any(t.startswith("##") for t in tokens)
    tokenizer = BertTokenizer(str(tmp_path / "vocab.txt"))
    ids = tokenizer(tf.constant(texts[:200])).flat_values.numpy()
    assert (ids == tokenizer.unk_token_id).mean() < 0.01  # the learned pieces cover the text
    with pytest.raises(ValueError, match="reserved_tokens lacks"):
        learn_vocab(texts, 100, reserved_tokens=["[PAD]"])
    with pytest.raises(ValueError, match="no text"):
        learn_vocab(["", "  "], 100)

    from keras_bert_impl.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for f in files[:20]:
        shutil.copy(f, corpus / f.name)
    out = tmp_path / "cli" / "vocab.txt"
    assert main(["vocab", "--corpus", str(corpus / "*.txt"), "--size", "400", "--cased",
                 "--out", str(out)]) == 0
    cased = out.read_text("utf-8").splitlines()
    assert cased[:5] == tokens[:5] and any(t[:1].isupper() for t in cased)
    BertTokenizer(str(out), lowercase=False)
    with pytest.raises(SystemExit, match="matches no files"):
        main(["vocab", "--corpus", str(tmp_path / "nothing*.txt"), "--size", "100",
              "--out", str(out)])
