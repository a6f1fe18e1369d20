"""Input checks of our models (`keras_bert_impl.models.input_checks`, hooked in
`BertModelBase`): out-of-range ids, too-long sequences and bad `mask_positions` raise a
`ValueError` naming the value, its position and the limit on eager calls, `fit`, `evaluate`,
`predict` and `*_on_batch`, instead of giving wrong numbers (or NaN on JAX); valid inputs give
the very numbers they gave without the checks; symbolic use and `tf.data` pass unchecked.
"""

import contextlib
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer
from keras_bert_impl.models import BertClassifier, BertSpanLabeler, BertTokenClassifier
from keras_bert_impl.models.input_checks import (
    InputLimits,
    check_data,
    checks_disabled,
    checks_enabled,
    is_host_data,
)

SMALL = BertConfig(vocab_size=50, hidden_size=16, num_layers=1, num_heads=2,
                   intermediate_size=32, max_position_embeddings=16)
LIMITS = InputLimits.from_config(SMALL)
ON_JAX = keras.backend.backend() == "jax"


def valid_batch(batch=2, seq=6):
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(5, 50, (batch, seq)).astype("int32"),
        "segment_ids": np.array([[0] * (seq // 2) + [1] * (seq - seq // 2)] * batch, "int32"),
        "padding_mask": np.ones((batch, seq), "int32"),
        "mask_positions": np.array([[1, 2], [3, 4]] * (batch // 2), "int32"),
    }
    y = {
        "mask_ids": rng.integers(5, 50, (batch, 2)).astype("int32"),
        "mask_weights": np.ones((batch, 2), "float32"),
        "next_sentence_labels": np.arange(batch, dtype="int32") % 2,
    }
    return x, y


def _set(name, position, value):
    def change(x):
        x[name] = x[name].copy()
        x[name][position] = value
        return x
    return change


def _too_long(x):
    x = dict(x)
    for name in ("token_ids", "segment_ids", "padding_mask"):
        x[name] = np.concatenate([x[name]] * 4, axis=1)[:, :20]  # 20 > 16 positions
    return x


# case -> (how the valid batch is spoilt, fragments the message must hold)
CASES = {
    "negative_token_id": (_set("token_ids", (1, 2), -1), (
        "token_ids[1, 2] = -1 is outside the vocabulary [0, 50)", "vocab_size=50",
        "wrap around", "Pad with 0")),
    "token_id_is_vocab_size": (_set("token_ids", (1, 2), 50), (
        "token_ids[1, 2] = 50 is outside the vocabulary [0, 50)", "another vocab.txt",
        "vocab_size=50")),
    "segment_id_is_type_vocab_size": (_set("segment_ids", (0, 3), 2), (
        "segment_ids[0, 3] = 2 is outside [0, 2)", "type_vocab_size=2", "zero vector",
        "at most 2 segments")),
    "too_long": (_too_long, (
        "token_ids has 20 positions per sequence (shape (2, 20))",
        "max_position_embeddings=16", "token_ids[:, 16:]", "at most 16 tokens")),
    "mask_position_is_seq_len": (_set("mask_positions", (1, 0), 6), (
        "mask_positions[1, 0] = 6 is outside the sequence [0, 6)", "seq_len=6",
        "columns of token_ids")),
    "negative_mask_position": (_set("mask_positions", (0, 1), -1), (
        "mask_positions[0, 1] = -1 is outside the sequence [0, 6)", "instead of 0")),
}
ENCODER_CASES = [c for c in CASES if "mask_position" not in c]
METHODS = ["call", "fit", "evaluate", "predict", "train_on_batch", "test_on_batch",
           "predict_on_batch"]


def build(kind, config=SMALL):
    encoder = BertEncoder(config)
    if kind == "encoder":
        return encoder
    if kind == "pretrainer":
        model = BertPretrainer(encoder)
        model.compile()
        return model
    model = {"classifier": lambda: BertClassifier(encoder, num_classes=3),
             "token_classifier": lambda: BertTokenClassifier(encoder, num_classes=3),
             "span_labeler": lambda: BertSpanLabeler(encoder)}[kind]()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.fixture(scope="module")
def models():
    # Built once: the failing calls below never reach the model.
    return {kind: build(kind) for kind in
            ("encoder", "pretrainer", "classifier", "token_classifier", "span_labeler")}


def invoke(model, method, x, y=None):
    if method == "call":
        return model(x)
    if method in ("fit", "evaluate"):
        return getattr(model, method)(x, y, batch_size=2, verbose=0)
    if method == "predict":
        return model.predict(x, batch_size=2, verbose=0)
    if method == "predict_on_batch":
        return model.predict_on_batch(x)
    return getattr(model, method)(x, y)


def where(model, method):
    name = type(model).__name__
    return f"{name}(inputs): " if method == "call" else f"{name}.{method}(): "


def assert_raises_naming(fragments, fn, prefix=""):
    with pytest.raises(ValueError) as info:
        fn()
    message = str(info.value)
    assert message.startswith(prefix), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(CASES))
def test_pretrainer_rejects_bad_inputs(models, case, method):
    spoil, fragments = CASES[case]
    x, y = valid_batch()
    model = models["pretrainer"]
    assert_raises_naming(fragments, lambda: invoke(model, method, spoil(x), y),
                         where(model, method))


@pytest.mark.parametrize("kind", ["encoder", "classifier", "token_classifier", "span_labeler"])
@pytest.mark.parametrize("case", ENCODER_CASES)
def test_every_model_rejects_bad_inputs_on_an_eager_call(models, kind, case):
    spoil, fragments = CASES[case]
    x, _ = valid_batch()
    x.pop("mask_positions")
    model = models[kind]
    assert_raises_naming(fragments, lambda: model(spoil(x)), where(model, "call"))


@pytest.mark.parametrize("method", ["fit", "evaluate", "predict", "train_on_batch",
                                    "test_on_batch", "predict_on_batch"])
@pytest.mark.parametrize("case", ENCODER_CASES)
def test_classifier_rejects_bad_inputs_in_fit_evaluate_predict(models, case, method):
    spoil, fragments = CASES[case]
    x, _ = valid_batch()
    x.pop("mask_positions")
    model = models["classifier"]
    labels = np.array([0, 2], "int32")
    assert_raises_naming(fragments, lambda: invoke(model, method, spoil(x), labels),
                         where(model, method))


def test_python_lists_are_checked(models):
    x, _ = valid_batch()
    x = {k: v.tolist() for k, v in x.items() if k != "mask_positions"}
    x["token_ids"][0][4] = 77
    assert_raises_naming(["token_ids[0, 4] = 77", "[0, 50)"],
                         lambda: models["encoder"].predict(x, verbose=0),
                         "BertEncoder.predict(): ")


def test_validation_data_is_checked(models):
    x, y = valid_batch()
    bad = _set("segment_ids", (1, 1), 3)(dict(x))
    assert_raises_naming(
        ["segment_ids[1, 1] = 3", "[0, 2)"],
        lambda: models["pretrainer"].fit(x, y, validation_data=(bad, y), verbose=0),
        "BertPretrainer.fit(validation_data=...): ",
    )


def test_mlm_labels_are_checked(models):
    x, y = valid_batch()
    y = dict(y, mask_ids=np.array([[5, 6], [50, 7]], "int32"))
    assert_raises_naming(["mask_ids[1, 0] = 50", "[0, 50)"],
                         lambda: models["pretrainer"].train_on_batch(x, y),
                         "BertPretrainer.train_on_batch(): ")


def test_an_x_y_tuple_is_checked():
    x, y = valid_batch()
    check_data((x, y), LIMITS)  # valid: passes
    bad = _set("token_ids", (0, 0), 99)(dict(x))
    assert_raises_naming(["token_ids[0, 0] = 99"], lambda: check_data((bad, y), LIMITS))
    bad_y = dict(y, mask_ids=-np.ones((2, 2), "int32"))
    assert_raises_naming(["mask_ids[0, 0] = -1", "4 of the 4 entries of mask_ids"],
                         lambda: check_data((x, bad_y), LIMITS))


def test_every_offender_is_counted_and_shapes_must_agree():
    x, _ = valid_batch()
    bad = dict(x, token_ids=np.full((2, 6), 60, "int32"))
    assert_raises_naming(["token_ids[0, 0] = 60", "12 of the 12 entries of token_ids"],
                         lambda: check_data(bad, LIMITS))
    bad = dict(x, padding_mask=np.ones((2, 5), "int32"))
    assert_raises_naming(["padding_mask has shape (2, 5) but token_ids has (2, 6)"],
                         lambda: check_data(bad, LIMITS))


def _numpy(tree):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, tree)


def test_valid_inputs_give_the_same_numbers_as_without_checks():
    config = SMALL.replace(dropout=0.0, attention_dropout=0.0)
    x, y = valid_batch(batch=4)
    runs = []
    for disabled in (False, True):
        keras.utils.set_random_seed(7)
        model = build("pretrainer", config)
        context = checks_disabled() if disabled else contextlib.nullcontext()
        with context:
            assert checks_enabled() is not disabled
            called = _numpy(model(x))
            predicted = _numpy(model.predict(x, batch_size=4, verbose=0))
            loss = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
            runs.append((called, predicted, loss.history["loss"],
                         _numpy(model.predict_on_batch(x))))
    for checked, unchecked in zip(runs[0], runs[1], strict=True):
        keras.tree.map_structure(np.testing.assert_array_equal, checked, unchecked)


def test_symbolic_and_backend_tensors_pass_unchecked():
    encoder = BertEncoder(SMALL)
    # A functional model on top of ours: the encoder is called on symbolic tensors.
    inputs = {name: keras.Input((None,), dtype="int32", name=name)
              for name in ("token_ids", "segment_ids", "padding_mask")}
    wrapper = keras.Model(inputs, encoder(inputs)["pooled_output"])
    x, _ = valid_batch()
    x.pop("mask_positions")
    expected = keras.ops.convert_to_numpy(encoder(x)["pooled_output"])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(wrapper(x)), expected, atol=1e-6)
    tensors = {k: keras.ops.convert_to_tensor(v) for k, v in x.items()}
    assert not is_host_data(tensors)  # backend tensors are not read back to the host
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(encoder(tensors)["pooled_output"]), expected, atol=1e-6
    )
    assert not is_host_data({"token_ids": keras.Input((None,), dtype="int32")})
    assert not is_host_data({"text": np.array(["raw text"])})  # nothing to check


@pytest.mark.skipif(ON_JAX, reason="tf.data input to fit is a TensorFlow-backend path")
def test_tf_data_inputs_still_work():
    import tensorflow as tf

    model = build("pretrainer")
    x, y = valid_batch(batch=4)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(2)
    history = model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    assert np.isfinite(history.history["loss"][-1])
    model.evaluate(dataset, verbose=0)
    predicted = model.predict(dataset.map(lambda features, labels: features), verbose=0)
    assert predicted["mlm_logits"].shape == (4, 2, 50)


JAX_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import keras
    from keras_bert_impl import BertConfig, BertEncoder
    from keras_bert_impl.models.input_checks import checks_disabled
    assert keras.backend.backend() == "jax"
    encoder = BertEncoder(BertConfig(vocab_size=50, hidden_size=16, num_layers=1,
                                     num_heads=2, intermediate_size=32))
    x = {"token_ids": np.array([[2, 50, 3]], "int32"),
         "segment_ids": np.zeros((1, 3), "int32"), "padding_mask": np.ones((1, 3), "int32")}
    with checks_disabled():  # what the model does with the id unchecked
        out = keras.ops.convert_to_numpy(encoder(x)["sequence_output"])
    print("UNCHECKED_NAN", bool(np.isnan(out).any()))
    for run in (lambda: encoder(x), lambda: encoder.predict(x, verbose=0)):
        try:
            run()
            print("NO_ERROR")
        except ValueError as error:
            print("VALUE_ERROR", error)
    """
)


@pytest.mark.skipif(ON_JAX, reason="this process is on JAX already: the tests above ran there")
def test_an_id_past_the_vocabulary_raises_instead_of_nan_on_jax():
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", JAX_SCRIPT], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "UNCHECKED_NAN True" in out, out  # the silent failure the check prevents
    assert "NO_ERROR" not in out, out
    assert out.count("VALUE_ERROR") == 2, out
    assert "BertEncoder(inputs): token_ids[0, 1] = 50 is outside the vocabulary [0, 50)" in out
    assert "BertEncoder.predict(): token_ids[0, 1] = 50" in out


@pytest.mark.parametrize("method", [m for m in METHODS if m != "call"])
def test_no_examples_is_named_instead_of_a_keras_internal_error(models, method):
    # Keras fails on zero rows inside its data adapter ("pop from an empty set",
    # "batch_outputs" unbound); an eager call on zero rows is fine and stays allowed.
    x, _ = valid_batch()
    x = {k: v[:0] for k, v in x.items() if k != "mask_positions"}
    model = models["classifier"]
    assert_raises_naming(["token_ids holds no examples (shape (0, 6))",
                          "pass at least one sequence"],
                         lambda: invoke(model, method, x, np.zeros(0, "int32")),
                         where(model, method))
    assert model(x).shape == (0, 3)
