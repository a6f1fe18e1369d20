"""Google's original checkpoint layout (google-research/bert) -> our models.

The writer below is independent of our converter: it maps the real MiniLM weights from their
Hugging Face names straight to the reference's TF variable names (`modeling.py`,
`run_pretraining.py`) and writes a TF checkpoint with `SaveV2`, as the reference's
`tf.train.Saver` does. Loading it back must give *identical* outputs to loading the HF files.
"""

import json
import os

import numpy as np
import pytest

from keras_bert_impl import BertEncoder, BertPretrainer
from keras_bert_impl.presets import WeightLoadError, detect_format
from tests.presets.helpers import encode, minilm_dir, real_sentences

tf = pytest.importorskip("tensorflow")


def hf_to_google_names(tensors):
    """HF BertModel tensors -> {google variable name: array} (reference layout)."""
    out = {}
    for name, value in tensors.items():
        if name.endswith("position_ids"):
            continue
        google = "bert/" + name
        google = google.replace(".", "/")
        google = google.replace("encoder/layer/", "encoder/layer_")
        google = google.replace("LayerNorm/weight", "LayerNorm/gamma")
        google = google.replace("LayerNorm/bias", "LayerNorm/beta")
        if google.endswith("_embeddings/weight"):
            google = google[: -len("/weight")]
        elif google.endswith("/weight"):
            google = google[: -len("/weight")] + "/kernel"
            value = value.T  # torch Linear [out, in] -> TF dense kernel [in, out]
        out[google] = np.ascontiguousarray(value)
    return out


def write_checkpoint(directory, variables, bert_config):
    os.makedirs(directory, exist_ok=True)
    names = sorted(variables)
    tf.raw_ops.SaveV2(
        prefix=os.path.join(directory, "bert_model.ckpt"),
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(variables[n]) for n in names],
    )
    with open(os.path.join(directory, "bert_config.json"), "w") as f:
        json.dump(bert_config, f)
    return directory


@pytest.fixture(scope="module")
def minilm_google(tmp_path_factory):
    from safetensors.numpy import load_file

    path = minilm_dir()
    tensors = load_file(str(path / "model.safetensors"))
    with open(path / "config.json") as f:
        hf_config = json.load(f)
    bert_config = {k: hf_config[k] for k in (
        "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "intermediate_size", "hidden_act", "hidden_dropout_prob",
        "attention_probs_dropout_prob", "max_position_embeddings", "type_vocab_size",
        "initializer_range")}
    variables = hf_to_google_names(tensors)
    # Pretraining heads in the reference's layout (random, seeded: MiniLM ships none), and
    # the optimizer slots a real pretraining checkpoint carries.
    rng = np.random.default_rng(0)
    h, v = bert_config["hidden_size"], bert_config["vocab_size"]
    heads = {
        "cls/predictions/transform/dense/kernel": rng.normal(0, 0.05, (h, h)),
        "cls/predictions/transform/dense/bias": rng.normal(0, 0.05, (h,)),
        "cls/predictions/transform/LayerNorm/gamma": 1 + rng.normal(0, 0.05, (h,)),
        "cls/predictions/transform/LayerNorm/beta": rng.normal(0, 0.05, (h,)),
        "cls/predictions/output_bias": rng.normal(0, 0.05, (v,)),
        "cls/seq_relationship/output_weights": rng.normal(0, 0.05, (2, h)),
        "cls/seq_relationship/output_bias": rng.normal(0, 0.05, (2,)),
    }
    variables.update({k: a.astype("float32") for k, a in heads.items()})
    variables["bert/pooler/dense/kernel/adam_m"] = np.zeros((h, h), "float32")
    variables["bert/pooler/dense/kernel/adam_v"] = np.zeros((h, h), "float32")
    variables["global_step"] = np.array(1000, "int64")
    directory = write_checkpoint(
        str(tmp_path_factory.mktemp("google") / "uncased_L-6_H-384_A-12"),
        variables, bert_config,
    )
    return directory, variables, bert_config


def test_reads_back_with_the_reference_reader(minilm_google):
    directory, variables, _ = minilm_google
    reader = tf.train.load_checkpoint(os.path.join(directory, "bert_model.ckpt"))
    shapes = reader.get_variable_to_shape_map()
    assert shapes["bert/encoder/layer_5/attention/self/query/kernel"] == [384, 384]
    assert shapes["cls/seq_relationship/output_weights"] == [2, 384]
    assert detect_format(directory) == "google"


def test_encoder_identical_to_hugging_face_load(minilm_google):
    directory, _, _ = minilm_google
    x = encode(minilm_dir(), real_sentences(16))
    from_google = BertEncoder.from_preset(directory)(x)
    from_hf = BertEncoder.from_preset(str(minilm_dir()))(x)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(from_google[key].numpy(), from_hf[key].numpy())


def test_pretrainer_heads_and_nsp_transpose(minilm_google):
    directory, variables, _ = minilm_google
    pretrainer = BertPretrainer.from_preset(directory)
    head = pretrainer.mlm_head
    np.testing.assert_array_equal(
        head.transform.kernel.numpy(), variables["cls/predictions/transform/dense/kernel"]
    )
    np.testing.assert_array_equal(
        head.output_bias.numpy(), variables["cls/predictions/output_bias"]
    )
    # The MLM LayerNorm by value (gamma = 1 + noise, beta = noise: a swap would show).
    np.testing.assert_array_equal(
        head.layer_norm.gamma.numpy(), variables["cls/predictions/transform/LayerNorm/gamma"]
    )
    np.testing.assert_array_equal(
        head.layer_norm.beta.numpy(), variables["cls/predictions/transform/LayerNorm/beta"]
    )
    np.testing.assert_array_equal(
        head.transform.bias.numpy(), variables["cls/predictions/transform/dense/bias"]
    )
    x = encode(minilm_dir(), real_sentences(8))
    x["mask_positions"] = np.array([[1, 2]] * 8, "int32")
    pooled = pretrainer.encoder(
        {k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    )["pooled_output"].numpy()
    expected = (
        pooled @ variables["cls/seq_relationship/output_weights"].T
        + variables["cls/seq_relationship/output_bias"]
    )  # run_pretraining.py: matmul(pooled, output_weights, transpose_b=True) + output_bias
    np.testing.assert_allclose(pretrainer(x)["nsp_logits"].numpy(), expected, atol=1e-5)


def _variant(minilm_google, tmp_path, drop=(), add=None, config_changes=None):
    _, variables, bert_config = minilm_google
    variables = {k: v for k, v in variables.items() if k not in drop}
    variables.update(add or {})
    config = {**bert_config, **(config_changes or {})}
    return write_checkpoint(str(tmp_path / "variant"), variables, config)


def test_missing_variables_are_named(minilm_google, tmp_path):
    path = _variant(minilm_google, tmp_path, drop=(
        "bert/encoder/layer_3/attention/self/key/kernel",
        "bert/encoder/layer_2/output/LayerNorm/gamma",
    ))
    with pytest.raises(WeightLoadError, match="bert/encoder/layer_3/attention/self/key/kernel"):
        BertEncoder.from_preset(path)
    path = _variant(minilm_google, tmp_path / "b", drop=(
        "bert/encoder/layer_2/output/LayerNorm/gamma",
    ))
    with pytest.raises(WeightLoadError, match=r"missing.*\n.*layer_2/output_layer_norm/gamma"):
        BertEncoder.from_preset(path)


def test_unknown_variables_are_named(minilm_google, tmp_path):
    path = _variant(minilm_google, tmp_path, add={
        "bert/encoder/layer_0/attention/self/relative_bias": np.zeros((7,), "float32"),
    })
    with pytest.raises(WeightLoadError, match=r"layer_0/attention/self/relative_bias \(7,\)"):
        BertEncoder.from_preset(path)


def test_shape_mismatch_names_both_shapes(minilm_google, tmp_path):
    path = _variant(minilm_google, tmp_path, config_changes={"intermediate_size": 1024})
    with pytest.raises(WeightLoadError) as error:
        BertEncoder.from_preset(path)
    message = str(error.value)
    assert "bert/encoder/layer_0/intermediate/dense/kernel" in message
    assert "(384, 1536)" in message and "(384, 1024)" in message


def test_extra_layers_in_checkpoint_are_an_error(minilm_google, tmp_path):
    path = _variant(minilm_google, tmp_path, config_changes={"num_hidden_layers": 4})
    with pytest.raises(WeightLoadError, match="bert/encoder/layer_5/output/dense/kernel"):
        BertEncoder.from_preset(path)
