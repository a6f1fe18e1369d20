"""Warmup requests: our hand-written wire encoding is byte for byte what
tensorflow-serving-api's own `PredictionLog` serializes (the independent reference), the
records of a SavedModel with a pair-text and an ids signature parse back and run against
it, and an input we have no example for is refused with the fix. Built on a tiny
`tf.Module` SavedModel (no BERT), so it runs in seconds."""

import os

import numpy as np
import pytest

from keras_bert_impl.export.warmup import (
    EXAMPLES,
    WARMUP_FILE,
    encode_prediction_log,
    signature_inputs,
    warmup_requests,
    write_warmup_requests,
)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "eu", "rejects", "german", "."]


def _serving_api():
    return (pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2"),
            pytest.importorskip("tensorflow_serving.apis.predict_pb2"))


def _reference_encoding(model_name, signature_name, inputs):
    """The same request built and serialized by tensorflow-serving-api."""
    import tensorflow as tf

    log_pb2, predict_pb2 = _serving_api()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    log = log_pb2.PredictionLog(predict_log=log_pb2.PredictLog(request=request))
    return log.SerializeToString(deterministic=True)


@pytest.mark.parametrize("inputs", [
    {"text": np.array([b"EU rejects German call ."], dtype=object)},
    {"question": np.array(["Wer kam? " * 30, "東京 ü".encode()], dtype=object),
     "context": np.array([b"x" * 20000, b""], dtype=object)},  # 1-, 2- and 3-byte lengths
    {"token_ids": np.array([[2, 5, 6, 3], [2, 7, 3, 0]], np.int32),
     "segment_ids": np.zeros((2, 4), np.int32), "padding_mask": np.ones((2, 4), np.int32)},
])
def test_encoding_matches_tensorflow_serving_api(inputs):
    inputs = {k: (v if v.dtype != object else np.array([s if isinstance(s, bytes) else
                                                          s.encode() for s in v], dtype=object))
              for k, v in inputs.items()}
    ours = encode_prediction_log("bert-model_2", "serving_default", inputs)
    assert ours == _reference_encoding("bert-model_2", "serving_default", inputs)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A SavedModel with TF Serving's two kinds of signature: raw pairs and token ids."""
    import tensorflow as tf

    root = tmp_path_factory.mktemp("warmup")
    (root / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    module = tf.Module()
    module.vocab = tf.saved_model.Asset(str(root / "vocab.txt"))
    module.pairs = tf.function(
        lambda text_a, text_b: {"length": tf.strings.length(text_a + text_b)},
        autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name="text_a"),
                                          tf.TensorSpec([None], tf.string, name="text_b")])
    module.ids = tf.function(
        lambda token_ids, segment_ids, padding_mask: {
            "first": token_ids[:, 0], "tokens": tf.reduce_sum(padding_mask, -1)},
        autograph=False, input_signature=[tf.TensorSpec([None, None], tf.int32, name=name)
                                          for name in ("token_ids", "segment_ids",
                                                       "padding_mask")])
    path = str(root / "model")
    tf.saved_model.save(module, path, signatures={"serving_default": module.pairs,
                                                  "serve_ids": module.ids})
    return path


def test_signature_inputs_are_read_from_saved_model_pb(saved_model):
    inputs = signature_inputs(saved_model)
    assert {name: {k: d.name for k, d in v.items()} for name, v in inputs.items()} == {
        "serve_ids": {"padding_mask": "int32", "segment_ids": "int32", "token_ids": "int32"},
        "serving_default": {"text_a": "string", "text_b": "string"}}


def test_records_parse_and_run(saved_model):
    import tensorflow as tf

    log_pb2, _ = _serving_api()
    path = write_warmup_requests(saved_model, "mrpc")
    assert path == os.path.join(saved_model, WARMUP_FILE)
    assert os.listdir(os.path.dirname(path)) == ["tf_serving_warmup_requests"]  # no temp file
    loaded = tf.saved_model.load(saved_model)
    seen = []
    for record in tf.data.TFRecordDataset(path):
        request = log_pb2.PredictionLog.FromString(record.numpy()).predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        batch = len(next(iter(inputs.values())))
        seen.append((request.model_spec.name, request.model_spec.signature_name, batch))
        outputs = loaded.signatures[request.model_spec.signature_name](
            **{k: tf.constant(v) for k, v in inputs.items()})
        if "text_a" in inputs:
            assert [t.decode() for t in inputs["text_a"]] == list(EXAMPLES["text_a"][:batch])
            assert [t.decode() for t in inputs["text_b"]] == list(EXAMPLES["text_b"][:batch])
            assert outputs["length"].shape == (batch,)
        else:  # whole words of the SavedModel's vocab.txt, [CLS] ... [SEP], padded with 0
            assert outputs["first"].numpy().tolist() == [VOCAB.index("[CLS]")] * batch
            mask = inputs["padding_mask"]
            ids = inputs["token_ids"]
            assert (ids[mask == 0] == 0).all() and (inputs["segment_ids"] == 0).all()
            assert ids[np.arange(batch), mask.sum(-1) - 1].tolist() == [3] * batch  # [SEP]
            if batch > 1:  # "EU rejects German call ...", lowercased where not in the vocab
                assert ids[1, :5].tolist() == [2, 5, 6, 7, VOCAB.index("[UNK]")]
            assert outputs["tokens"].numpy().tolist() == mask.sum(-1).tolist()
    assert seen == [("mrpc", "serve_ids", 1), ("mrpc", "serve_ids", 3),
                    ("mrpc", "serving_default", 1), ("mrpc", "serving_default", 3)]


def test_an_input_without_an_example_is_refused(tmp_path):
    import tensorflow as tf

    module = tf.Module()
    module.f = tf.function(lambda temperature: {"t": temperature * 2.0}, autograph=False,
                           input_signature=[tf.TensorSpec([None], tf.float32,
                                                          name="temperature")])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    with pytest.raises(ValueError, match=r"No warmup example for input 'temperature' "
                                         r"\(float32\) of signature 'serving_default'.*--no-warmup"):
        warmup_requests(tmp_path)
    assert not os.path.exists(tmp_path / WARMUP_FILE)
