"""Task models: `BertClassifier`, `BertTokenClassifier`, `BertSpanLabeler`.

Shapes, what each head reads (pooled vs sequence output: checked against a NumPy head on the
encoder's own outputs), padding masking of span logits, `.keras` and config round trips, one
`fit` step with XLA. (Parity with Hugging Face's task classes: tests/convert/.)
"""

import keras
import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder
from keras_bert_impl.models import BertClassifier, BertSpanLabeler, BertTokenClassifier
from tests.harness import random_token_inputs, run_fit_step_test, run_model_saving_test

SMALL = BertConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=4,
                   max_position_embeddings=64)


def inputs(batch=4, seq=12):
    return random_token_inputs(batch, seq, 300, padded_from=7)


def _dense_numpy(layer, x):
    return x @ keras.ops.convert_to_numpy(layer.kernel) + keras.ops.convert_to_numpy(layer.bias)


@pytest.mark.parametrize("num_classes", [1, 3])
def test_classifier_reads_the_pooled_output(num_classes):
    encoder = BertEncoder(SMALL)
    model = BertClassifier(encoder, num_classes=num_classes)
    x = inputs()
    logits = keras.ops.convert_to_numpy(model(x))
    assert logits.shape == (4, num_classes) and logits.dtype == np.float32
    pooled = keras.ops.convert_to_numpy(encoder(x)["pooled_output"])
    np.testing.assert_allclose(logits, _dense_numpy(model.classifier_dense, pooled), atol=1e-5)
    # One trainable kernel + bias on top of the encoder.
    assert len(model.trainable_weights) == len(encoder.trainable_weights) + 2


def test_token_classifier_reads_the_sequence_output():
    encoder = BertEncoder(SMALL)
    model = BertTokenClassifier(encoder, num_classes=9)
    x = inputs()
    logits = keras.ops.convert_to_numpy(model(x))
    assert logits.shape == (4, 12, 9)
    sequence = keras.ops.convert_to_numpy(encoder(x)["sequence_output"])
    np.testing.assert_allclose(logits, _dense_numpy(model.classifier_dense, sequence), atol=1e-5)


def test_span_labeler_splits_and_masks_padding():
    encoder = BertEncoder(SMALL)
    model = BertSpanLabeler(encoder)
    x = inputs()
    out = model(x)
    start, end = keras.ops.convert_to_numpy(out["start_logits"]), keras.ops.convert_to_numpy(out["end_logits"])
    assert start.shape == end.shape == (4, 12)
    both = _dense_numpy(model.span_dense, keras.ops.convert_to_numpy(encoder(x)["sequence_output"]))
    real = x["padding_mask"].astype(bool)
    np.testing.assert_allclose(start[real], both[..., 0][real], atol=1e-5)
    np.testing.assert_allclose(end[real], both[..., 1][real], atol=1e-5)
    assert np.all(start[~real] == -1e9) and np.all(end[~real] == -1e9)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(out["start_logits"]))
    assert probs[~real].max() == 0.0


@pytest.mark.parametrize("build", [
    lambda e: BertClassifier(e, num_classes=3, dropout=0.2),
    lambda e: BertTokenClassifier(e, num_classes=5),
    BertSpanLabeler,
], ids=["classifier", "token_classifier", "span_labeler"])
def test_saving_round_trips(build, tmp_path):
    model = build(BertEncoder(SMALL))
    restored = run_model_saving_test(model, inputs(), tmp_path)
    assert restored.get_config() == model.get_config()


def test_fit_steps():
    # XLA as Keras' "auto" gives it: on JAX (every step there is XLA), not on a CPU-only
    # TensorFlow (the pretrainer's XLA step is test_fit_step_with_xla; TPUs run the same ops).
    x = inputs()
    sparse = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    classifier = BertClassifier(BertEncoder(SMALL), num_classes=3)
    run_fit_step_test(classifier, x, np.array([0, 1, 2, 1]), jit_compile="auto",
                      optimizer="adam", loss=sparse)
    tagger = BertTokenClassifier(BertEncoder(SMALL), num_classes=5)
    run_fit_step_test(tagger, x, np.zeros((4, 12), "int32"), jit_compile="auto",
                      optimizer="adam", loss=sparse)
    labeler = BertSpanLabeler(BertEncoder(SMALL))
    y = {"start_logits": np.array([1, 2, 3, 1]), "end_logits": np.array([2, 4, 5, 3])}
    run_fit_step_test(labeler, x, y, jit_compile="auto", optimizer="adam",
                      loss={"start_logits": sparse, "end_logits": sparse})


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_bad_num_classes(bad):
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        BertClassifier(BertEncoder(SMALL), num_classes=bad)
