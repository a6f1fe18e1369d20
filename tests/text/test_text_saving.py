"""`.keras` round trip of the text layers: a Sequential model holding BertTokenizer + BertPacker
is saved, reloaded (after the vocab file is gone) and gives identical outputs; the
preprocessors' `sequence_length` changed after construction is packed and saved.

Keras cannot build a functional model on `keras.Input(dtype="string")` through these layers
(they have no symbolic output spec: they are TensorFlow preprocessing), but a Sequential model
calls its layers in turn, so it saves and reloads like any other model."""

import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.text import (
    BertClassifierPreprocessor,
    BertPacker,
    BertPretrainingPreprocessor,
    BertSpanPreprocessor,
    BertTokenClassifierPreprocessor,
    BertTokenizer,
)


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


_PREPROCESSORS = {
    "classifier": (lambda t: BertClassifierPreprocessor(t, sequence_length=16),
                   lambda: tf.constant(["the quick fox . the quick fox . the quick fox ."])),
    "tagger": (lambda t: BertTokenClassifierPreprocessor(t, sequence_length=16),
               lambda: tf.constant(["the quick fox . the quick fox . the quick fox ."])),
    "span": (lambda t: BertSpanPreprocessor(t, sequence_length=16, max_query_length=4),
             lambda: (tf.constant(["the fox"]), tf.constant(["the quick fox . " * 4]))),
    "pretraining": (lambda t: BertPretrainingPreprocessor(t, sequence_length=16,
                                                          max_predictions_per_seq=2, seed=0),
                    lambda: {"text_a": tf.constant(["the quick fox . " * 3]),
                             "text_b": tf.constant(["the fox ."])}),
}


@pytest.mark.parametrize("name", sorted(_PREPROCESSORS))
def test_sequence_length_can_be_changed_after_construction(name, tmp_path):
    """As in keras-hub, `preprocessor.sequence_length = n` changes what is packed (the
    packer follows), what is saved, and is checked (a bad length keeps the old one)."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick", "fox", "."]
    build, inputs = _PREPROCESSORS[name]
    preprocessor = build(BertTokenizer(vocab))
    preprocessor.sequence_length = 10
    output = preprocessor(inputs())
    x = output[0] if isinstance(output, tuple) else output
    assert x["token_ids"].shape[-1] == 10 and bool(x["padding_mask"].numpy().all())
    assert preprocessor.packer.sequence_length == 10
    assert preprocessor.get_config()["sequence_length"] == 10
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(preprocessor))
    assert clone.sequence_length == clone.packer.sequence_length == 10
    with pytest.raises(ValueError, match="sequence_length"):
        # The shortest each refuses: [CLS] [SEP]; + one piece; question 4 + 3; pairs.
        preprocessor.sequence_length = {"classifier": 1, "tagger": 2, "span": 7,
                                        "pretraining": 4}[name]
    with pytest.raises(ValueError, match="sequence_length must be an int"):
        preprocessor.sequence_length = "64"
    assert preprocessor.sequence_length == preprocessor.packer.sequence_length == 10
