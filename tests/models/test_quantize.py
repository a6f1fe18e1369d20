"""int8 weights (`model.quantize("int8")`) and bfloat16 inference variants
(`keras_bert_impl.models.inference.inference_model`) of every model.

Reference: the same model in float32 (its own outputs before quantizing). Tolerances: int8
weights with a float scale per channel (and Keras' per-row int8 activations in the dense
layers) keep the logits' cosine similarity above 0.99 and the max |diff| within 5% of the
largest logit (measured on these tiny random models, TensorFlow and JAX: cosine >= 0.9998,
max |diff| <= 1.7% of the largest logit, every label the same); labels must agree wherever
the float32 margin between the two best classes is larger than twice the max |diff| (a
smaller margin may flip with any rounding). `.keras` round trips are exact (same variable
names, dtypes and values; same outputs).
"""

import os

import keras
import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder
from keras_bert_impl.models import (
    BertClassifier,
    BertPretrainer,
    BertSpanLabeler,
    BertTokenClassifier,
)
from keras_bert_impl.models.inference import inference_model
from keras_bert_impl.models.quantize import quantization_mode
from tests.harness import random_token_inputs

SMALL = BertConfig(vocab_size=300, hidden_size=32, num_layers=2, num_heads=4,
                   intermediate_size=64, max_position_embeddings=64, dropout=0.0,
                   attention_dropout=0.0)


def inputs(batch=6, seq=12):
    return random_token_inputs(batch, seq, 300, padded_from=7)


def _sharpened(dense, scale=20.0):
    """A large head kernel, so that the random model's labels differ between examples."""
    dense.kernel.assign(np.random.default_rng(1).normal(0.0, scale, dense.kernel.shape))


def _model(kind):
    encoder = BertEncoder(SMALL)
    if kind == "encoder":
        return encoder
    if kind == "classifier":
        model = BertClassifier(encoder, num_classes=3)
        _sharpened(model.classifier_dense)
    elif kind == "token_classifier":
        model = BertTokenClassifier(encoder, num_classes=5)
        _sharpened(model.classifier_dense)
    elif kind == "span_labeler":
        model = BertSpanLabeler(encoder)
        _sharpened(model.span_dense)
    return model


def _logits(model, x):
    """The outputs compared, as float32 arrays (span logits at real tokens only)."""
    out = model(x)
    if isinstance(model, BertEncoder):
        return {"sequence_output": np.asarray(out["sequence_output"], "float32")}
    if isinstance(model, BertSpanLabeler):
        real = x["padding_mask"].astype(bool)
        return {name: np.asarray(out[name])[real] for name in ("start_logits", "end_logits")}
    return {"logits": np.asarray(out)}


def _assert_close(got, want, labels=True, bound=0.05):
    for name in want:
        g, w = got[name], want[name]
        assert g.dtype == np.float32, name
        cosine = np.sum(g * w) / (np.linalg.norm(g) * np.linalg.norm(w))
        worst = np.max(np.abs(g - w))
        assert cosine > 0.99, (name, cosine)
        assert worst <= bound * np.max(np.abs(w)), (name, worst, np.max(np.abs(w)))
        if labels and w.ndim >= 2 and w.shape[-1] > 1:
            top2 = np.sort(w, axis=-1)[..., -2:]
            clear = (top2[..., 1] - top2[..., 0]) > 2 * worst
            assert clear.mean() > 0.5, (name, clear.mean())  # the check checks something
            np.testing.assert_array_equal(np.argmax(g, -1)[clear], np.argmax(w, -1)[clear])


@pytest.mark.parametrize("kind", ["encoder", "classifier", "token_classifier",
                                  "span_labeler"])
def test_int8_weights_and_outputs_close_to_float32(kind):
    model, x = _model(kind), inputs()
    expected = _logits(model, x)
    model.quantize("int8")
    assert quantization_mode(model) == "int8"
    encoder = model.get_encoder()
    assert keras.backend.standardize_dtype(encoder.embeddings.token_embeddings.dtype) == "int8"
    assert tuple(encoder.embeddings.token_embeddings_scale.shape) == (SMALL.vocab_size,)
    qkv = encoder.transformer_layers[0].qkv_dense
    assert qkv.quantization_mode == "int8"
    assert keras.backend.standardize_dtype(qkv.kernel.dtype) == "int8"
    assert tuple(qkv.kernel_scale.shape) == (3 * SMALL.hidden_size,)  # per output channel
    for layer in (encoder.pooler.dense, encoder.transformer_layers[1].output_dense):
        assert layer.dtype_policy.name == "int8_from_float32"
    # The float tables and LayerNorms stay float32.
    assert keras.backend.standardize_dtype(encoder.embeddings.position_embeddings.dtype) == \
        "float32"
    assert encoder.transformer_layers[0].attention_layer_norm.quantization_mode is None
    _assert_close(_logits(model, x), expected, labels=kind != "encoder")


def test_int8_round_trips_exactly_through_keras_files_and_configs(tmp_path):
    model, x = _model("classifier"), inputs()
    model.quantize("int8")
    expected = _logits(model, x)["logits"]
    path = os.path.join(tmp_path, "int8.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is BertClassifier and quantization_mode(restored) == "int8"
    assert [(w.path, w.dtype) for w in restored.weights] == [
        (w.path, w.dtype) for w in model.weights]
    for saved, loaded in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(np.asarray(loaded), np.asarray(saved), err_msg=saved.path)
    np.testing.assert_array_equal(_logits(restored, x)["logits"], expected)
    # get_config -> from_config builds the same int8 variables; set_weights fills them.
    rebuilt = BertClassifier.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_array_equal(_logits(rebuilt, x)["logits"], expected)


def test_tied_mlm_head_reads_the_int8_table(tmp_path):
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    x = dict(inputs(), mask_positions=np.tile(np.arange(1, 4, dtype="int32"), (6, 1)))
    expected = np.asarray(pretrainer(x)["mlm_logits"])
    pretrainer.quantize("int8")
    embeddings = pretrainer.encoder.embeddings
    assert pretrainer.mlm_head.embeddings is embeddings  # still tied, to the int8 table
    got = np.asarray(pretrainer(x)["mlm_logits"])
    _assert_close({"mlm": got}, {"mlm": expected}, labels=False)
    # The tied projection equals the matmul with the dequantized table.
    table = np.asarray(embeddings.token_embeddings, "float32") / \
        np.asarray(embeddings.token_embeddings_scale)[:, None]
    h = np.random.default_rng(2).normal(size=(3, SMALL.hidden_size)).astype("float32")
    np.testing.assert_allclose(np.asarray(embeddings.token_logits(h)), h @ table.T, rtol=1e-5,
                               atol=1e-5)
    path = os.path.join(tmp_path, "pretrainer.keras")
    pretrainer.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x)["mlm_logits"]), got)


def test_bfloat16_variant_computes_in_bfloat16_with_float32_outputs():
    model, x = _model("classifier"), inputs()
    expected = _logits(model, x)
    fast = inference_model(model, dtype="bfloat16")
    assert fast is not model and fast.encoder.dtype_policy.name == "bfloat16"
    block = fast.encoder.transformer_layers[0]
    assert block.qkv_dense.compute_dtype == "bfloat16"
    assert block.qkv_dense.kernel.dtype == "bfloat16"  # no cast of the weights per call
    # LayerNorm: float32 weights used unrounded (no autocast), bfloat16 out (inner_layer_norm)
    assert block.attention_layer_norm.gamma.dtype == "float32"
    assert not block.attention_layer_norm.autocast
    assert block.attention_layer_norm.compute_dtype == "bfloat16"
    assert fast.classifier_dense.compute_dtype == "bfloat16"
    _assert_close(_logits(fast, x), expected)
    # The same numbers as Keras' mixed_bfloat16 (float32 variables cast to bfloat16 at each
    # call): the weights are rounded once instead of at every call.
    keras.config.set_dtype_policy("mixed_bfloat16")
    mixed = BertClassifier(BertEncoder(SMALL), num_classes=3)
    keras.config.set_dtype_policy("float32")
    mixed.set_weights(model.get_weights())
    np.testing.assert_array_equal(_logits(fast, x)["logits"], _logits(mixed, x)["logits"])
    # Variables, their dtypes and every layer's policy as a model built under Keras'
    # bfloat16 policy has them.
    keras.config.set_dtype_policy("bfloat16")
    built = BertClassifier(BertEncoder(SMALL), num_classes=3)
    keras.config.set_dtype_policy("float32")

    def policies(m):
        return [(w.path, w.dtype) for w in m.weights] + [
            (layer.name, layer.dtype_policy.name, layer.compute_dtype)
            for layer in m.encoder.transformer_layers + [m.classifier_dense]]

    assert policies(built) == policies(fast)
    # int8 weights on top of bfloat16 compute.
    both = inference_model(model, dtype="bfloat16", quantize="int8")
    assert both.classifier_dense.dtype_policy.name == "int8_from_bfloat16"
    _assert_close(_logits(both, x), expected)
    # The float32 model is unchanged; a variant that changes nothing is the model itself.
    assert quantization_mode(model) is None and model.encoder.dtype_policy.name == "float32"
    assert inference_model(model, dtype="float32") is model


def test_unknown_modes_and_dtypes_name_the_allowed_ones():
    model = _model("classifier")
    with pytest.raises(ValueError, match=r"float16.*\['float32', 'bfloat16'\]"):
        inference_model(model, dtype="float16")
    with pytest.raises(ValueError, match=r"int4.*\['int8'\]"):
        inference_model(model, quantize="int4")
    with pytest.raises(ValueError, match=r"int4.*\['int8'\]"):
        model.quantize("int4")
    assert quantization_mode(model) is None
    model.quantize("int8")
    with pytest.raises(ValueError, match="already quantized"):
        model.quantize("int8")
    with pytest.raises(ValueError, match="already int8-quantized"):
        inference_model(model, dtype="bfloat16")
    with pytest.raises(ValueError, match="presets hold float weights"):
        model.save_to_preset("unused")
    lora = _model("encoder")
    lora.enable_lora(2)
    with pytest.raises(ValueError, match=r"merge_lora\(\)"):
        lora.quantize("int8")
