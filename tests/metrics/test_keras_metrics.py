"""Streaming Keras metrics against the NumPy definitions of `keras_bert_impl.metrics.glue`
(reference; tolerance 1e-5 on float32 state): random data streamed in uneven batches, integer
sample weights against repeated examples, degenerate cases, and inside `model.compile` /
`evaluate` (XLA-compiled) with a `.keras` round trip. Backend-agnostic: no TensorFlow here."""

import keras
import numpy as np
import pytest

from keras_bert_impl.metrics.glue import f1, matthews_corrcoef, pearson
from keras_bert_impl.metrics.keras_metrics import (
    BinaryF1,
    MatthewsCorrelation,
    PearsonCorrelation,
)

ATOL = 1e-5


def _stream(metric, y_true, y_pred, sample_weight=None, cuts=(0, 7, 8, 40, 111)):
    """Feeds the metric in uneven batches (one of a single example) and returns its result."""
    metric.reset_state()
    bounds = list(cuts) + [len(y_true)]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        weights = None if sample_weight is None else sample_weight[start:stop]
        metric.update_state(y_true[start:stop], y_pred[start:stop], sample_weight=weights)
    return float(keras.ops.convert_to_numpy(metric.result()))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("num_classes", [2, 3])
def test_matthews_matches_reference(rng, num_classes):
    labels = rng.integers(0, num_classes, 300)
    logits = rng.normal(size=(300, num_classes)).astype("float32")
    logits[np.arange(300), labels] += 0.8  # better than chance
    metric = MatthewsCorrelation(num_classes)
    expected = matthews_corrcoef(labels, logits.argmax(-1))
    assert 0.2 < expected < 0.9
    assert abs(_stream(metric, labels, logits) - expected) < ATOL
    # Probabilities and class ids give the same; labels may be [batch, 1].
    probabilities = np.asarray(keras.ops.softmax(logits))
    assert abs(_stream(metric, labels[:, None], probabilities) - expected) < ATOL
    assert abs(_stream(metric, labels, logits.argmax(-1).astype("int32")) - expected) < ATOL
    # Integer sample weights count an example that many times.
    weights = rng.integers(0, 4, 300)
    repeated = matthews_corrcoef(np.repeat(labels, weights), np.repeat(logits.argmax(-1),
                                                                        weights))
    assert abs(_stream(metric, labels, logits, weights.astype("float32")) - repeated) < ATOL


def test_matthews_degenerate_cases_are_zero(rng):
    metric = MatthewsCorrelation(3)
    assert float(metric.result()) == 0.0  # nothing seen yet
    labels = rng.integers(0, 3, 50)
    one_class = np.tile(np.array([[0.0, 5.0, 0.0]], "float32"), (50, 1))
    assert matthews_corrcoef(labels, one_class.argmax(-1)) == 0.0
    assert _stream(metric, labels, one_class, cuts=(0, 20)) == 0.0
    perfect = np.eye(3, dtype="float32")[labels]
    assert _stream(metric, labels, perfect, cuts=(0, 20)) == pytest.approx(1.0, abs=ATOL)
    with pytest.raises(ValueError, match="y_pred has 2 scores per example, the metric has "
                                         "num_classes=3"):
        metric.update_state(labels[:4], perfect[:4, :2])
    with pytest.raises(ValueError, match=r"neither scores \[batch, num_classes\] nor integer "
                                         "class ids"):
        metric.update_state(labels[:4], perfect[:4, :1])
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        MatthewsCorrelation(1)


def test_binary_f1_matches_reference(rng):
    labels = rng.integers(0, 2, 300)
    logits = rng.normal(size=(300, 2)).astype("float32")
    logits[np.arange(300), labels] += 0.7
    expected = f1(labels, logits.argmax(-1))
    assert 0.5 < expected < 0.95
    metric = BinaryF1()
    assert abs(_stream(metric, labels, logits) - expected) < ATOL
    weights = rng.integers(0, 3, 300)
    repeated = f1(np.repeat(labels, weights), np.repeat(logits.argmax(-1), weights))
    assert abs(_stream(metric, labels, logits, weights.astype("float32")) - repeated) < ATOL
    negatives = np.tile(np.array([[3.0, 0.0]], "float32"), (10, 1))
    assert _stream(metric, np.zeros(10, "int32"), negatives, cuts=(0, 4)) == 0.0  # undefined
    assert f1([0] * 10, [0] * 10) == 0.0


def test_pearson_matches_reference(rng):
    labels = rng.uniform(0, 5, 300).astype("float32")
    predictions = (0.8 * labels + rng.normal(0, 1, 300)).astype("float32")[:, None]
    expected = pearson(labels, predictions[:, 0])
    metric = PearsonCorrelation()
    assert abs(_stream(metric, labels, predictions) - expected) < ATOL
    assert abs(_stream(metric, labels[:, None], predictions[:, 0]) - expected) < ATOL
    weights = rng.integers(0, 4, 300)
    repeated = pearson(np.repeat(labels, weights), np.repeat(predictions[:, 0], weights))
    assert abs(_stream(metric, labels, predictions, weights.astype("float32")) - repeated) < ATOL


def test_pearson_is_accurate_in_float32_far_from_zero(rng):
    # Raw sums of squares would cancel catastrophically here (values ~1e4, spread ~1).
    labels = 10_000.0 + rng.normal(0, 1, 2000)
    predictions = 0.5 * labels + rng.normal(0, 0.5, 2000)
    expected = pearson(labels, predictions)
    cuts = tuple(range(0, 2000, 97))
    value = _stream(PearsonCorrelation(), labels.astype("float32"),
                    predictions.astype("float32"), cuts=cuts)
    assert abs(value - expected) < 1e-3, (value, expected)


def test_pearson_of_a_constant_is_nan():
    metric = PearsonCorrelation()
    assert np.isnan(float(metric.result()))  # nothing seen yet
    value = _stream(metric, np.array([1.0, 2.0, 3.0, 4.0], "float32"),
                    np.full((4, 1), 2.0, "float32"), cuts=(0, 2))
    assert np.isnan(value) and np.isnan(pearson([1.0, 2.0, 3.0, 4.0], [2.0] * 4))


def test_config_round_trip():
    for metric in (MatthewsCorrelation(3, name="mcc"), BinaryF1(), PearsonCorrelation()):
        clone = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(metric))
        assert type(clone) is type(metric) and clone.get_config() == metric.get_config()
    assert MatthewsCorrelation(3, name="mcc").get_config()["num_classes"] == 3


def _classifier(num_classes, seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(num_classes)])


def test_in_compile_and_evaluate_and_keras_file(rng, tmp_path):
    features = rng.normal(size=(203, 4)).astype("float32")
    labels = (features[:, 0] + 0.5 * rng.normal(size=203) > 0).astype("int32")
    model = _classifier(2, seed=1)
    # Weights that read the signal (class 1 when feature 0 is large), no training needed.
    kernel, bias = model.layers[0].get_weights()
    model.layers[0].set_weights([kernel * 0.1 + np.array([[-1.0, 1.0]] + [[0.0, 0.0]] * 3),
                                 bias])
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[MatthewsCorrelation(2), BinaryF1()], jit_compile=True)
    scores = model.evaluate(features, labels, batch_size=16, return_dict=True, verbose=0)
    predictions = model.predict(features, batch_size=64, verbose=0).argmax(-1)
    assert scores["matthews_corrcoef"] == pytest.approx(matthews_corrcoef(labels, predictions),
                                                        abs=ATOL)
    assert scores["f1"] == pytest.approx(f1(labels, predictions), abs=ATOL)
    assert scores["matthews_corrcoef"] > 0.3  # a real signal, not chance

    path = tmp_path / "model.keras"
    model.optimizer.build(model.trainable_variables)  # never fitted: nothing to restore
    model.save(path)
    restored = keras.saving.load_model(path)
    again = restored.evaluate(features, labels, batch_size=50, return_dict=True, verbose=0)
    for name in ("matthews_corrcoef", "f1"):
        assert again[name] == pytest.approx(scores[name], abs=ATOL)

    regression = _classifier(1, seed=2)
    scores_true = features @ np.array([1.0, -0.5, 0.0, 0.2], "float32")
    regression.compile(loss="mse", metrics=[PearsonCorrelation()])
    result = regression.evaluate(features, scores_true, batch_size=16, return_dict=True,
                                 verbose=0)
    expected = pearson(scores_true, regression.predict(features, verbose=0)[:, 0])
    assert result["pearson"] == pytest.approx(expected, abs=ATOL)
