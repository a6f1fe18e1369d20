"""`Dropout` (one random draw per two elements; a hash of the element's index on JAX): the
premise of the two fields, the hashed mask's statistics, which mask each backend takes, the
drop statistics, the gradient, Keras' draw for rates 2048ths miss, serialization.

Runs on the TensorFlow and the JAX backends.
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_bert_impl.layers import Dropout
from keras_bert_impl.layers.dropout import (
    drop_steps,
    hashed_keep_mask,
    masks_fuse,
    paired_keep_mask,
)
from tests.harness import run_layer_test

BERT_DROP = 205 / 2048  # BERT's 0.1 in 2048ths


def dropped(layer, shape=(512, 1024), value=1.0):
    """The boolean "zeroed" mask and the output of one training call on a constant input."""
    y = ops.convert_to_numpy(ops.cast(layer(np.full(shape, value, "float32"), training=True),
                                      "float32"))
    return y == 0, y


def within(fraction, p, n, sigmas=5):
    return abs(fraction - p) < sigmas * np.sqrt(p * (1 - p) / n)


def test_dropout_layer(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    layer = run_layer_test(Dropout, {"rate": 0.1, "seed": 3}, x, (2, 6, 16), 0, tmp_path)
    np.testing.assert_array_equal(ops.convert_to_numpy(layer(x)), x)  # inference: identity
    assert layer.get_config()["rate"] == 0.1


def test_uniform_draws_are_23_bit_mantissas():
    """The premise of the two fields: each backend's float32 uniform is an integer below
    2**23 times 2**-23, so `u * 2048` splits exactly into 11 high and 12 low random bits."""
    u = ops.convert_to_numpy(keras.random.uniform((200_000,), seed=7, dtype="float32"))
    mantissas = u.astype("float64") * 2**23
    np.testing.assert_array_equal(mantissas, np.floor(mantissas))
    high, low = np.divmod(mantissas.astype("int64"), 4096)
    assert high.min() == 0 and high.max() == 2047
    assert low.min() == 0 and low.max() == 4095
    assert abs(np.corrcoef(high, low)[0, 1]) < 0.015  # 5 sigma at 200k draws


def test_hashed_mask_drops_at_the_rate_with_independent_elements_and_calls():
    """The hash of (index, seed): the drop fraction, neighbours along both axes and 64 apart
    uncorrelated, a new mask per call and per seed that agrees with the last as two
    independent masks would (p^2 + (1 - p)^2), the same mask for the same seed."""
    p = BERT_DROP
    seed = keras.random.SeedGenerator(11)
    first, second = (ops.convert_to_numpy(~hashed_keep_mask((512, 1024), 205, seed))
                     for _ in range(2))
    n = first.size
    assert within(first.mean(), p, n) and within(second.mean(), p, n)
    bound = 5 / np.sqrt(n)
    for a, b in ((first[:, 1:], first[:, :-1]), (first[1:], first[:-1]),
                 (first[:, 64:], first[:, :-64])):
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < bound
    agree = p**2 + (1 - p) ** 2
    assert within((first == second).mean(), agree, n)
    other = ops.convert_to_numpy(~hashed_keep_mask((512, 1024), 205,
                                                   keras.random.SeedGenerator(12)))
    assert within((first == other).mean(), agree, n)
    again = ops.convert_to_numpy(~hashed_keep_mask((512, 1024), 205,
                                                   keras.random.SeedGenerator(11)))
    np.testing.assert_array_equal(again, first)


def test_the_layer_hashes_where_xla_fuses_and_draws_elsewhere():
    """JAX (XLA fuses the hash into the mask's consumer): `hashed_keep_mask`; TensorFlow:
    `paired_keep_mask`. Either of the layer's generator, seed for seed."""
    assert masks_fuse() == (keras.backend.backend() == "jax")
    keep_mask = hashed_keep_mask if masks_fuse() else paired_keep_mask
    zero, _ = dropped(Dropout(0.1, seed=11))
    expected = ~ops.convert_to_numpy(keep_mask((512, 1024), 205,
                                               keras.random.SeedGenerator(11)))
    np.testing.assert_array_equal(zero, expected)


def test_dropout_drops_at_the_rate_in_independent_pairs_and_keeps_the_mean():
    layer = Dropout(0.1, seed=11)
    assert layer.drop_probability == BERT_DROP
    zero, y = dropped(layer)
    n = zero.size
    assert within(zero.mean(), BERT_DROP, n)
    # Each element of a pair comes from its own field: both halves drop at the rate, and
    # the decisions of a pair (column j and j + 512) are uncorrelated.
    high, low = zero[:, :512], zero[:, 512:]
    assert within(high.mean(), BERT_DROP, n // 2) and within(low.mean(), BERT_DROP, n // 2)
    assert abs(np.corrcoef(high.ravel(), low.ravel())[0, 1]) < 5 / np.sqrt(n // 2)
    # Kept values are scaled by the exact 1 / (1 - p): the expectation is the input.
    np.testing.assert_array_equal(np.unique(y[~zero]), np.float32(1 / (1 - BERT_DROP)))
    assert abs(y.mean() - 1.0) < 5 * np.sqrt(BERT_DROP / (1 - BERT_DROP) / n)
    # A new mask each call; the same seed gives the same masks.
    assert (dropped(layer)[0] != zero).mean() > 0.1
    np.testing.assert_array_equal(dropped(Dropout(0.1, seed=11))[0], zero)
    assert within(dropped(Dropout(0.5, seed=1))[0].mean(), 0.5, n)


def test_dropout_odd_last_axis_and_mixed_precision():
    zero, y = dropped(Dropout(0.1, seed=2), shape=(4096, 7))
    assert y.shape == (4096, 7) and within(zero.mean(), BERT_DROP, zero.size)
    mixed = Dropout(0.1, seed=2, dtype="mixed_bfloat16")
    out = mixed(ops.ones((64, 64), "bfloat16"), training=True)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    kept = np.unique(ops.convert_to_numpy(ops.cast(out, "float32")))
    np.testing.assert_allclose(kept, [0.0, 1 / (1 - BERT_DROP)], rtol=4e-3)


def test_dropout_gradient_is_the_mask_times_the_scale():
    layer = Dropout(0.1, seed=5)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 96)).astype("float32")
    upstream = rng.normal(size=(64, 96)).astype("float32")
    state = [v.value for v in layer.non_trainable_variables]

    def loss(x):
        y, _ = layer.stateless_call([], state, x, training=True)
        return ops.sum(y * upstream), y

    if keras.backend.backend() == "jax":
        import jax

        (_, y), grad = jax.value_and_grad(loss, has_aux=True)(x)
    else:
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            value, y = loss(x)
        grad = tape.gradient(value, x)
    kept = ops.convert_to_numpy(y) != 0
    assert within(1 - kept.mean(), BERT_DROP, kept.size)
    np.testing.assert_allclose(ops.convert_to_numpy(grad),
                               np.where(kept, upstream / (1 - BERT_DROP), 0.0), rtol=1e-6)


def test_rates_2048ths_miss_take_keras_draw():
    assert drop_steps(0.1) == 205 and drop_steps(0.5) == 1024 and drop_steps(0.05) == 102
    assert [drop_steps(r) for r in (0.0, 0.01, 0.001, 1.0)] == [None] * 4
    small = Dropout(0.01, seed=4)
    assert small.drop_probability == 0.01
    zero, y = dropped(small)
    assert within(zero.mean(), 0.01, zero.size)
    np.testing.assert_allclose(np.unique(y[~zero]), 1 / 0.99, rtol=1e-6)
    assert dropped(Dropout(1.0))[0].all()
    np.testing.assert_array_equal(dropped(Dropout(0.0))[1], 1.0)
    with pytest.raises(ValueError, match="noise_shape"):
        Dropout(0.1, noise_shape=(1, 16))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="unknown static shapes are a TensorFlow graph case")
def test_dropout_under_unknown_shapes_in_a_tf_function():
    import tensorflow as tf

    layer = Dropout(0.1, seed=0)
    step = tf.function(lambda x: layer(x, training=True),
                       input_signature=[tf.TensorSpec([None, None], tf.float32)])
    y = step(tf.ones((4096, 7))).numpy()
    assert y.shape == (4096, 7)
    assert within((y == 0).mean(), BERT_DROP, y.size)
