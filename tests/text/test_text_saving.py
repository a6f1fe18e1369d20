"""`.keras` round trip of the text layers: a Sequential model holding BertTokenizer + BertPacker
is saved, reloaded (after the vocab file is gone) and gives identical outputs.

Keras cannot build a functional model on `keras.Input(dtype="string")` through these layers
(they have no symbolic output spec: they are TensorFlow preprocessing), but a Sequential model
calls its layers in turn, so it saves and reloads like any other model."""

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.text import BertPacker, BertTokenizer


def _assert_same(a, b):
    assert sorted(a) == sorted(b) == ["padding_mask", "segment_ids", "token_ids"]
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())


@pytest.mark.parametrize("lowercase", [True, False], ids=["uncased", "cased"])
def test_sequential_tokenizer_packer_keras_file_round_trip(lowercase, vocab_path, real_lines,
                                                           tmp_path):
    vocab_copy = tmp_path / "vocab.txt"
    shutil.copy(vocab_path, vocab_copy)
    tokenizer = BertTokenizer(str(vocab_copy), lowercase=lowercase, max_chars_per_word=12)
    packer = BertPacker.from_tokenizer(tokenizer, 64, truncate="waterfall")
    model = keras.Sequential([tokenizer, packer], name="preprocessor")
    # Real lines plus the hard ones (accents, CJK, control characters, long words, invalid
    # UTF-8) so that every normalisation path is in the batch.
    lines = real_lines[:300] + real_lines[-300:] + [b"bad \xff\xfe utf-8 \xc3"]
    text = tf.constant(lines)
    expected = model(text)
    path = tmp_path / "preprocessor.keras"
    model.save(path)
    vocab_copy.unlink()  # the vocabulary travels inside the .keras file
    restored = keras.saving.load_model(path)

    assert [type(layer).__name__ for layer in restored.layers] == ["BertTokenizer", "BertPacker"]
    restored_tokenizer, restored_packer = restored.layers
    assert restored_tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    assert (restored_tokenizer.lowercase, restored_tokenizer.max_chars_per_word) == (
        lowercase, 12)
    assert (restored_packer.sequence_length, restored_packer.truncate) == (64, "waterfall")
    _assert_same(expected, restored(text))
    _assert_same(expected, tf.function(restored)(text))
    # Real content went through: most rows are long enough to fill some of the 64 positions.
    assert expected["padding_mask"].numpy().sum() > 20 * len(lines)
    # And in tf.data, as training feeds it.
    dataset = tf.data.Dataset.from_tensor_slices(text).batch(128).map(
        restored, num_parallel_calls=tf.data.AUTOTUNE)
    token_ids = np.concatenate([batch["token_ids"].numpy() for batch in dataset])
    np.testing.assert_array_equal(token_ids, expected["token_ids"].numpy())


def test_text_layers_serialize_keras_object_round_trip():
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick", "fox", "."]
    tokenizer = BertTokenizer(vocab, lowercase=False, max_chars_per_word=7)
    packer = BertPacker.from_tokenizer(tokenizer, 8)
    clones = [keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
              for layer in (tokenizer, packer)]
    for clone, layer in zip(clones, (tokenizer, packer), strict=True):
        assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    texts = tf.constant(["The quick fox.", "fox quickquick"])
    assert clones[0](texts).to_list() == tokenizer(texts).to_list() == [[1, 6, 7, 8, 9], [8, 1]]
    a = tf.ragged.constant([[5, 6], [8]])
    b = tf.ragged.constant([[7, 7, 7, 7], [9]])
    np.testing.assert_array_equal(clones[1]((a, b))["token_ids"].numpy(),
                                  [[2, 5, 6, 3, 7, 7, 7, 3], [2, 8, 3, 9, 3, 0, 0, 0]])
