"""`BertEncoder` and `BertPretrainer`: sizes, shapes, padding, tying, saving, training.

Runs on the TensorFlow and the JAX backends (`make test` runs this module under both).
"""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer
from keras_bert_impl.optimizers import create_adamw
from tests.harness import assert_all_close, run_fit_step_test, run_model_saving_test

SMALL = BertConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=4,
                   max_position_embeddings=64)


def expected_parameter_count(c, pooler=True):
    """The reference BERT's parameter count, written out from its variables."""
    embeddings = (c.vocab_size + c.max_position_embeddings + c.type_vocab_size) * c.hidden_size
    embeddings += 2 * c.hidden_size  # LayerNorm
    h, i = c.hidden_size, c.intermediate_size
    attention = 3 * (h * h + h) + (h * h + h) + 2 * h
    feed_forward = (h * i + i) + (i * h + h) + 2 * h
    pooler_params = h * h + h if pooler else 0
    return embeddings + c.num_layers * (attention + feed_forward) + pooler_params


def encoder_inputs(batch=2, seq=8, vocab=300, pad=0):
    rng = np.random.default_rng(0)
    token_ids = rng.integers(5, vocab, (batch, seq)).astype("int32")
    segment_ids = np.zeros((batch, seq), "int32")
    segment_ids[:, seq // 2:] = 1
    padding_mask = np.ones((batch, seq), "int32")
    if pad:
        padding_mask[-1, -pad:] = 0
        token_ids[-1, -pad:] = 0
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def pretraining_batch(batch=8, seq=16, predictions=4, vocab=300, seed=0):
    rng = np.random.default_rng(seed)
    x = encoder_inputs(batch, seq, vocab)
    x["mask_positions"] = np.sort(
        np.stack([rng.choice(np.arange(1, seq), predictions, replace=False) for _ in range(batch)]),
        axis=1,
    ).astype("int32")
    y = {
        "mask_ids": rng.integers(5, vocab, (batch, predictions)).astype("int32"),
        "mask_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch,)).astype("int32"),
    }
    y["mask_weights"][0, -1] = 0.0  # a padded prediction slot
    return x, y


def test_reference_parameter_counts():
    assert expected_parameter_count(BertConfig.from_preset("bert_base")) == 109_482_240
    assert expected_parameter_count(BertConfig.from_preset("bert_large")) == 335_141_888


@pytest.mark.parametrize("name", ["bert_tiny", "bert_mini", "bert_small", "bert_medium"])
def test_small_preset_parameter_counts(name):
    encoder = BertEncoder.from_preset(name)
    assert encoder.count_params() == expected_parameter_count(encoder.config)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="counted once, on TF")
@pytest.mark.parametrize("name, count", [("bert_base", 109_482_240), ("bert_large", 335_141_888)])
def test_base_and_large_parameter_counts(name, count):
    encoder = BertEncoder.from_preset(name)
    assert encoder.count_params() == count
    del encoder


@pytest.mark.parametrize("name", ["bert_tiny", "bert_mini"])
def test_output_shapes_and_dtypes(name):
    encoder = BertEncoder.from_preset(name)
    outputs = encoder(encoder_inputs(batch=3, seq=10, vocab=30522, pad=2))
    hidden, layers = encoder.config.hidden_size, encoder.config.num_layers
    assert tuple(outputs["sequence_output"].shape) == (3, 10, hidden)
    assert tuple(outputs["pooled_output"].shape) == (3, hidden)
    assert len(outputs["encoder_outputs"]) == layers
    for t in [outputs["sequence_output"], outputs["pooled_output"], *outputs["encoder_outputs"]]:
        assert keras.backend.standardize_dtype(t.dtype) == "float32"
    assert_all_close(outputs["encoder_outputs"][-1], outputs["sequence_output"], atol=0)
    pooled = np.asarray(outputs["pooled_output"])
    assert np.all(np.abs(pooled) <= 1.0)  # tanh


def test_padding_does_not_change_real_positions():
    encoder = BertEncoder(SMALL)
    short = encoder_inputs(batch=2, seq=6)
    longer = {k: np.pad(v, ((0, 0), (0, 5))) for k, v in short.items()}  # pads with 0 = masked
    out_short = encoder(short)
    out_long = encoder(longer)
    assert_all_close(out_long["sequence_output"][:, :6], out_short["sequence_output"], atol=1e-5)
    assert_all_close(out_long["pooled_output"], out_short["pooled_output"], atol=1e-5)
    # And the mask matters: attending to the padding would change the outputs.
    unmasked = dict(longer, padding_mask=np.ones_like(longer["padding_mask"]))
    assert not np.allclose(np.asarray(encoder(unmasked)["sequence_output"][:, :6]),
                           np.asarray(out_short["sequence_output"]), atol=1e-3)


def test_encoder_saving_and_config_round_trip(tmp_path):
    encoder = BertEncoder(SMALL)
    restored = run_model_saving_test(encoder, encoder_inputs(pad=3), tmp_path)
    assert restored.config == SMALL


def test_pretrainer_saving_and_config_round_trip(tmp_path):
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    x, _ = pretraining_batch()
    restored = run_model_saving_test(pretrainer, x, tmp_path)
    assert restored.mlm_head.embeddings.token_embeddings is restored.encoder.token_embeddings


def test_pretrainer_outputs_and_tied_weights():
    pretrainer = BertPretrainer.from_preset("bert_tiny")
    x, _ = pretraining_batch(batch=2, seq=12, predictions=3, vocab=30522)
    outputs = pretrainer(x)
    assert tuple(outputs["mlm_logits"].shape) == (2, 3, 30522)
    assert tuple(outputs["nsp_logits"].shape) == (2, 2)
    table = pretrainer.encoder.token_embeddings
    # One variable, not a copy: the head holds the encoder's table and the model lists it once.
    assert pretrainer.mlm_head.embeddings.token_embeddings is table
    assert sum(w is table for w in pretrainer.weights) == 1
    heads = 2 + 2 + 1 + 2  # transform, LayerNorm, output bias, NSP dense
    assert len(pretrainer.trainable_weights) == len(pretrainer.encoder.trainable_weights) + heads
    assert pretrainer.count_params() == expected_parameter_count(pretrainer.encoder.config) + (
        128 * 128 + 128 + 2 * 128 + 30522 + 128 * 2 + 2
    )


def _weight_gradients(model, x):
    """`{variable path: gradient}` of a fixed function of the model's two logits (inference
    mode) for each trainable variable, on the current backend."""
    rng = np.random.default_rng(3)

    def loss(outputs):
        return sum(keras.ops.sum(keras.ops.cast(outputs[name], "float32")
                                 * rng.normal(size=outputs[name].shape).astype("float32"))
                   for name in ("mlm_logits", "nsp_logits"))

    variables = model.trainable_variables
    if keras.backend.backend() == "jax":
        import jax

        non_trainable = [v.value for v in model.non_trainable_variables]

        def of_values(values):
            return loss(model.stateless_call(values, non_trainable, x, training=False)[0])

        gradients = jax.grad(of_values)([v.value for v in variables])
    else:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = loss(model(x, training=False))
        gradients = [tf.convert_to_tensor(g) for g in tape.gradient(value, variables)]
    return {v.path: np.asarray(g) for v, g in zip(variables, gradients, strict=True)}


@pytest.mark.parametrize("num_layers", [1, 3])
def test_pretrainer_runs_its_last_block_only_where_the_heads_read(num_layers):
    """The last block runs at `[CLS]` and the masked positions only: the pretrainer's logits
    and weight gradients equal those of the heads on the encoder's whole outputs (what the
    pretrainer computed before, same weights)."""
    config = SMALL.replace(num_layers=num_layers)
    pretrainer = BertPretrainer(BertEncoder(config))
    x, _ = pretraining_batch(batch=3, seq=12, predictions=4)
    x["padding_mask"][1, 9:] = 0
    inputs = dict(pretrainer.encoder.input, mask_positions=pretrainer.input["mask_positions"])
    encoded = pretrainer.encoder({k: inputs[k] for k in pretrainer.encoder.input})
    whole = keras.Model(inputs, {
        "mlm_logits": pretrainer.mlm_head(encoded["sequence_output"], inputs["mask_positions"]),
        "nsp_logits": pretrainer.nsp_head(encoded["pooled_output"]),
    })
    assert_all_close(pretrainer(x), whole(x), atol=1e-5, rtol=1e-5)
    ours, theirs = _weight_gradients(pretrainer, x), _weight_gradients(whole, x)
    assert sorted(ours) == sorted(theirs) and len(ours) == len(pretrainer.trainable_variables)
    for path, gradient in ours.items():
        np.testing.assert_allclose(gradient, theirs[path], atol=2e-5, rtol=1e-4, err_msg=path)


def test_fit_step_with_xla():
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    x, y = pretraining_batch()
    loss = run_fit_step_test(pretrainer, x, y)
    assert abs(loss - (np.log(SMALL.vocab_size) + np.log(2))) < 1.0  # near chance at init


def test_overfits_a_small_batch():
    pretrainer = BertPretrainer(BertEncoder(SMALL.replace(dropout=0.0, attention_dropout=0.0)))
    x, y = pretraining_batch()
    pretrainer.compile(optimizer=create_adamw(3e-3, weight_decay=0.0))
    history = pretrainer.fit(x, y, batch_size=8, epochs=60, verbose=0).history
    start, end = history["loss"][0], history["loss"][-1]
    assert end < 0.1 * start, (start, end)
    assert history["mlm_accuracy"][-1] == 1.0 and history["nsp_accuracy"][-1] == 1.0
    assert set(history) >= {"loss", "mlm_loss", "nsp_loss", "mlm_accuracy", "nsp_accuracy"}


def test_mlm_loss_is_weighted_by_mask_weights():
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    x, y = pretraining_batch()
    outputs = pretrainer(x)
    loss = float(pretrainer.compute_loss(x, y, outputs))
    logits = np.asarray(outputs["mlm_logits"], "float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    ce = -np.take_along_axis(log_probs, y["mask_ids"][..., None], -1)[..., 0]
    mlm = (ce * y["mask_weights"]).sum() / y["mask_weights"].sum()
    nsp_logits = np.asarray(outputs["nsp_logits"], "float64")
    nsp_lp = nsp_logits - np.log(np.exp(nsp_logits).sum(-1, keepdims=True))
    nsp = -nsp_lp[np.arange(8), y["next_sentence_labels"]].mean()
    np.testing.assert_allclose(loss, mlm + nsp, rtol=1e-5)


def test_an_uncompiled_pretrainer_trains_with_its_default_optimizer():
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    x, y = pretraining_batch()
    assert not pretrainer.compiled
    logs = pretrainer.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"]) and int(pretrainer.optimizer.iterations.numpy()) == 1
    assert float(pretrainer.optimizer.learning_rate) == pytest.approx(1e-4)  # create_adamw
    assert pretrainer.optimizer.exclude_from_decay


def test_compile_rejects_a_loss():
    with pytest.raises(ValueError, match="do not pass `loss`"):
        BertPretrainer(BertEncoder(SMALL)).compile(loss="mse")


def test_mixed_bfloat16_builds_and_trains():
    keras.config.set_dtype_policy("mixed_bfloat16")
    pretrainer = BertPretrainer(BertEncoder(SMALL.replace(dropout=0.0, attention_dropout=0.0)))
    encoder = pretrainer.encoder
    block = encoder.transformer_layers[0]
    assert block.qkv_dense.compute_dtype == "bfloat16"
    assert block.qkv_dense.kernel.dtype == "float32"  # master weights stay float32
    for norm in (encoder.embeddings.layer_norm, block.attention_layer_norm,
                 block.output_layer_norm, pretrainer.mlm_head.layer_norm):
        # float32 weights used unrounded, float32 statistics, bfloat16 out (inner_layer_norm)
        assert (norm.gamma.dtype, norm.autocast, norm.compute_dtype) == ("float32", False,
                                                                         "bfloat16")
    x, y = pretraining_batch()
    outputs = pretrainer(x)
    assert keras.backend.standardize_dtype(outputs["mlm_logits"].dtype) == "float32"
    encoder_x = {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    assert keras.backend.standardize_dtype(encoder(encoder_x)["sequence_output"].dtype) == "bfloat16"
    # The same weights in float32 (reference: this model with the float32 policy): bf16
    # compute keeps the MLM logits within 0.01 and the NSP logits within 1e-3 (bf16 has 8
    # mantissa bits, ~0.4% relative; measured max |diff| 0.0031 on MLM logits up to 0.36 and
    # 1.1e-4 on NSP logits up to 0.012), and does differ (the matmuls really ran in bf16).
    keras.config.set_dtype_policy("float32")
    reference = BertPretrainer(BertEncoder(SMALL.replace(dropout=0.0, attention_dropout=0.0)))
    reference(x)
    assert len(reference.weights) == len(pretrainer.weights)
    reference.set_weights(pretrainer.get_weights())
    expected = reference(x)
    for key, atol in (("mlm_logits", 0.01), ("nsp_logits", 1e-3)):
        got, want = np.asarray(outputs[key]), np.asarray(expected[key])
        np.testing.assert_allclose(got, want, atol=atol, rtol=0, err_msg=key)
    diff = np.max(np.abs(np.asarray(outputs["mlm_logits"]) - np.asarray(expected["mlm_logits"])))
    assert diff > 0
    keras.config.set_dtype_policy("mixed_bfloat16")
    pretrainer.compile(optimizer=create_adamw(3e-3, weight_decay=0.0))
    history = pretrainer.fit(x, y, batch_size=8, epochs=30, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < 0.5 * history["loss"][0]


NO_TENSORFLOW_SCRIPT = textwrap.dedent(
    """
    import sys
    sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
    import numpy as np
    import keras_bert_impl
    from keras_bert_impl import BertPretrainer
    import keras
    assert keras.backend.backend() == "jax"
    pretrainer = BertPretrainer.from_preset("bert_tiny", vocab_size=500)
    x = {
        "token_ids": np.random.randint(5, 500, (4, 16)).astype("int32"),
        "segment_ids": np.zeros((4, 16), "int32"),
        "padding_mask": np.ones((4, 16), "int32"),
        "mask_positions": np.tile(np.arange(1, 4, dtype="int32"), (4, 1)),
    }
    y = {
        "mask_ids": np.random.randint(5, 500, (4, 3)).astype("int32"),
        "mask_weights": np.ones((4, 3), "float32"),
        "next_sentence_labels": np.array([0, 1, 0, 1], "int32"),
    }
    pretrainer.compile()
    history = pretrainer.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert "tensorflow" not in {m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
    print("LOSS", history.history["loss"][-1])
    """
)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="starts its own JAX process: run once, from the TensorFlow stage")
def test_trains_on_jax_without_tensorflow():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW_SCRIPT],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loss = float(result.stdout.split("LOSS")[-1])
    assert np.isfinite(loss)


def test_compile_leaves_xla_to_keras():
    # Keras' "auto": XLA with a GPU/TPU (and on JAX), off on a CPU-only TensorFlow machine,
    # where the step is faster without it.
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        expected = bool(tf.config.list_physical_devices("GPU"))
    else:
        expected = True
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    pretrainer.compile()
    assert pretrainer.jit_compile is expected
    pretrainer.compile(jit_compile=True)
    assert pretrainer.jit_compile is True


def test_encoder_predict_on_batch_matches_the_call():
    encoder = BertEncoder(SMALL)
    encoder.compile(jit_compile=True)
    x = encoder_inputs(pad=2)
    assert_all_close(encoder.predict_on_batch(x), encoder(x), atol=1e-5)


def test_keras_file_keeps_the_optimizer_and_its_state(tmp_path):
    from keras_bert_impl.optimizers import create_optimizer

    pretrainer = BertPretrainer(BertEncoder(SMALL.replace(dropout=0.0, attention_dropout=0.0)))
    pretrainer.compile(optimizer=create_optimizer("adamw", learning_rate=1e-3, total_steps=10,
                                                  warmup_steps=2))
    x, y = pretraining_batch()
    pretrainer.fit(x, y, batch_size=8, epochs=2, verbose=0)
    path = str(tmp_path / "trained.keras")
    pretrainer.save(path)
    restored = keras.saving.load_model(path)
    assert restored.compiled
    assert int(restored.optimizer.iterations.numpy()) == 2
    assert float(restored.optimizer.learning_rate) == pytest.approx(
        float(pretrainer.optimizer.learning_rate))
    # Training continues identically from the restored optimizer state.
    pretrainer.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    restored.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    assert_all_close(restored(x), pretrainer(x), atol=1e-5)


def test_cross_entropy_and_correct_match_keras_loss_and_accuracy():
    """The pretrainer's MLM/NSP loss and accuracy (`cross_entropy_and_correct`) equal Keras'
    `sparse_categorical_crossentropy(from_logits=True)` within 1e-5 and its
    `sparse_categorical_accuracy` exactly, on 300 rows of a 1,000-class softmax."""
    from keras_bert_impl.models.pretrainer import cross_entropy_and_correct

    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(3, 100, 1000)) * 4).astype("float32")
    labels = rng.integers(0, 1000, (3, 100))
    labels[0, :50] = logits[0, :50].argmax(-1)  # half of one row right, the rest mostly wrong
    loss, correct = cross_entropy_and_correct(labels, logits)
    want = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    assert_all_close(loss, want, atol=1e-5)
    accuracy = keras.metrics.sparse_categorical_accuracy(labels, logits)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(correct),
                                  keras.ops.convert_to_numpy(accuracy))
    assert 50 <= keras.ops.convert_to_numpy(correct).sum() < 60
