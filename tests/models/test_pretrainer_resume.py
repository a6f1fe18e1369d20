"""A compiled `BertPretrainer` survives a `.keras` round trip with everything that shapes the
next update: weights, optimizer state, and AdamW's LayerNorm/bias decay exclusions; extra
losses (`add_loss`, weight regularizers) enter its loss.

Tiny config, dropout 0, so two models with the same weights compute the same step. Tolerance:
1e-6 on weights (the same float32 ops in the same process; measured max |diff| 0).
"""

import keras
import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer
from keras_bert_impl.optimizers import NO_DECAY_NAMES, create_adamw
from tests.models.test_encoder_and_pretrainer import pretraining_batch

TINY = BertConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=4,
                  intermediate_size=64, max_position_embeddings=64, dropout=0.0,
                  attention_dropout=0.0)


def _weights(model):
    return [keras.ops.convert_to_numpy(v) for v in model.weights]


def _assert_same_weights(a, b, atol=1e-6):
    assert [v.path for v in a.weights] == [v.path for v in b.weights]
    wa, wb = _weights(a), _weights(b)
    assert len(wa) == len(wb)
    for va, x, y in zip(a.weights, wa, wb, strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=0, err_msg=va.path)


def test_resumed_pretrainer_takes_the_same_step(tmp_path):
    pretrainer = BertPretrainer(BertEncoder(TINY))
    # Weight decay large enough that decaying LayerNorm/biases by mistake (a lost exclusion)
    # moves a gain of 1 by 1e-4, far beyond the tolerance.
    pretrainer.compile(optimizer=create_adamw(1e-2, weight_decay=0.01, clipnorm=1.0))
    x, y = pretraining_batch()
    pretrainer.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    restored = keras.saving.load_model(path)
    _assert_same_weights(restored, pretrainer, atol=0)
    assert int(keras.ops.convert_to_numpy(restored.optimizer.iterations)) == 1

    before = _weights(pretrainer)
    pretrainer.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    restored.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    _assert_same_weights(restored, pretrainer)
    assert int(keras.ops.convert_to_numpy(restored.optimizer.iterations)) == 2
    # The step moved the weights (not a comparison of two frozen models).
    moved = max(np.max(np.abs(a - b)) for a, b in zip(before, _weights(pretrainer), strict=True))
    assert moved > 1e-4


def test_keras_file_keeps_adamw_decay_exclusions(tmp_path):
    lr, wd = 1e-2, 0.1
    pretrainer = BertPretrainer(BertEncoder(TINY))
    pretrainer.compile(optimizer=create_adamw(lr, weight_decay=wd))
    pretrainer.optimizer.build(pretrainer.trainable_variables)  # its (zero) state is saved
    path = str(tmp_path / "pretrainer.keras")
    pretrainer.save(path)
    restored = keras.saving.load_model(path)
    assert restored.optimizer.exclude_from_decay == pretrainer.optimizer.exclude_from_decay
    assert restored.optimizer.exclude_from_decay == NO_DECAY_NAMES
    # One update with zero gradients is pure weight decay (Adam's direction is 0/(0+eps)).
    variables = restored.trainable_variables
    gamma = restored.encoder.embeddings.layer_norm.gamma
    kernel = restored.nsp_head.dense.kernel
    gamma_before = keras.ops.convert_to_numpy(gamma)
    kernel_before = keras.ops.convert_to_numpy(kernel)
    restored.optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(gamma), gamma_before)  # all 1.0
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel),
                               kernel_before * (1 - lr * wd), rtol=1e-6)  # x 0.999


def test_regularizer_enters_the_training_loss():
    """A weight regularizer (or any `add_loss`) is added to the MLM + NSP loss."""
    pretrainer = BertPretrainer(BertEncoder(TINY))
    pretrainer.compile(optimizer=create_adamw(1e-3, weight_decay=0.0))
    x, y = pretraining_batch()
    plain = float(keras.ops.convert_to_numpy(pretrainer.compute_loss(x, y, pretrainer(x))))
    kernel = pretrainer.nsp_head.dense.kernel
    penalty = 0.5 * float(np.sum(np.square(keras.ops.convert_to_numpy(kernel))))
    assert penalty > 1e-4  # visible at float32 next to a loss of ~7
    kernel.regularizer = keras.regularizers.L2(0.5)
    assert len(pretrainer.losses) == 1
    history = pretrainer.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert history["loss"][0] == pytest.approx(plain + penalty, rel=1e-5)
    assert history["loss"][0] > plain + 0.5 * penalty
