"""One test harness for every layer and model (in the spirit of keras-hub's `run_layer_test`).

Each new piece gets the same checks by calling these helpers:

* `run_layer_test`: output shape, trainable-weight count, `get_config` -> `from_config` gives the
  same outputs with the same weights, symbolic build agrees with the eager call, the layer runs
  under `mixed_bfloat16`, and a model around it saves to `.keras` and reloads identically.
* `run_model_saving_test`: `.keras` round trip gives identical outputs, `get_config` round trip
  rebuilds the same architecture.
* `run_fit_step_test`: one `fit` step (XLA unless told otherwise) runs and gives a finite loss.
"""

import os

import keras
import numpy as np
from keras import tree


def _to_numpy(outputs):
    return tree.map_structure(lambda t: keras.ops.convert_to_numpy(t), outputs)


def random_token_inputs(batch, seq, vocab_size, padded_from, seed=0):
    """An encoder input dict of random ids in `[5, vocab_size)` (no special tokens), one
    segment; the last example is padding from position `padded_from` on."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), "int32")
    mask[-1, padded_from:] = 0
    return {"token_ids": (rng.integers(5, vocab_size, (batch, seq)) * mask).astype("int32"),
            "segment_ids": np.zeros((batch, seq), "int32"), "padding_mask": mask}


def assert_all_close(actual, expected, atol=1e-6, rtol=1e-6):
    for a, e in zip(tree.flatten(_to_numpy(actual)), tree.flatten(_to_numpy(expected)), strict=True):
        np.testing.assert_allclose(a, e, atol=atol, rtol=rtol)


def _call(layer, inputs):
    if isinstance(inputs, dict):
        return layer(**inputs)
    if isinstance(inputs, (tuple, list)):
        return layer(*inputs)
    return layer(inputs)


def _symbolic(inputs):
    def to_input(x):
        x = np.asarray(x)
        return keras.Input(shape=x.shape[1:], batch_size=x.shape[0], dtype=str(x.dtype))

    return tree.map_structure(to_input, inputs)


def run_layer_test(
    layer_cls,
    init_kwargs,
    inputs,
    expected_output_shape,
    expected_num_trainable_weights,
    tmp_path,
):
    """Runs the standard checks on a layer; returns the built layer."""
    layer = layer_cls(**init_kwargs)
    outputs = _call(layer, inputs)
    assert tuple(outputs.shape) == tuple(expected_output_shape)
    assert len(layer.trainable_weights) == expected_num_trainable_weights

    # Config round trip: same architecture, same outputs once weights are copied.
    clone = layer_cls.from_config(layer.get_config())
    _call(clone, inputs)
    clone.set_weights(layer.get_weights())
    assert_all_close(_call(clone, inputs), outputs)
    assert clone.get_config() == layer.get_config()

    # Symbolic call agrees with the eager output shape.
    symbolic_inputs = _symbolic(inputs)
    symbolic_outputs = _call(layer, symbolic_inputs)
    assert tuple(symbolic_outputs.shape) == tuple(expected_output_shape)

    # `.keras` round trip of a functional model around the layer.
    model = keras.Model(symbolic_inputs, symbolic_outputs)
    path = os.path.join(tmp_path, f"{layer_cls.__name__}.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert_all_close(restored(inputs), model(inputs))

    # Mixed precision: builds and runs, output in the compute dtype or float32.
    mixed = layer_cls(**init_kwargs, dtype="mixed_bfloat16")
    mixed_outputs = _call(mixed, inputs)
    assert keras.backend.standardize_dtype(mixed_outputs.dtype) in ("bfloat16", "float32")
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(keras.ops.cast(mixed_outputs, "float32"))))
    return layer


def run_model_saving_test(model, inputs, tmp_path):
    """`.keras` save/load and `get_config`/`from_config` round trips of a model."""
    expected = model(inputs)
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    assert_all_close(restored(inputs), expected)

    rebuilt = model.__class__.from_config(model.get_config())
    assert rebuilt.count_params() == model.count_params()
    rebuilt.set_weights(model.get_weights())
    assert_all_close(rebuilt(inputs), expected)
    return restored


def run_fit_step_test(model, x, y, jit_compile=True, **compile_kwargs):
    """One `fit` step, with XLA unless `jit_compile` says otherwise; returns the loss."""
    model.compile(jit_compile=jit_compile, **compile_kwargs)
    history = model.fit(x, y, epochs=1, batch_size=len(tree.flatten(x)[0]), verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss)
    return loss
