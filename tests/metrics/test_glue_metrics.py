"""GLUE metrics against scikit-learn (`accuracy_score`, `f1_score`, `matthews_corrcoef`) and
SciPy (`pearsonr`, `spearmanr`) on random inputs, ties included (tolerance 1e-12), plus hand
cases."""

import math
import warnings

import numpy as np
import pytest

from keras_bert_impl.metrics.glue import (
    GLUE_METRICS,
    accuracy,
    f1,
    glue_scores,
    matthews_corrcoef,
    pearson,
    spearman,
)

CASES = 500


def approx(value):
    return pytest.approx(value, rel=1e-12, abs=1e-12)


def _random_classes(rng, classes):
    n = int(rng.integers(2, 60))
    return rng.integers(0, classes, n), rng.integers(0, classes, n)


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_classification_metrics_match_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    mcc_values = set()
    for case in range(CASES):
        labels, predictions = _random_classes(rng, 2 if case % 2 else 3)
        if case % 7 == 0:
            predictions = labels.copy()  # perfect
        elif case % 11 == 0:
            predictions = np.zeros_like(labels)  # one class only: MCC undefined -> 0
        assert accuracy(labels, predictions) == approx(sk.accuracy_score(labels, predictions))
        ours = matthews_corrcoef(labels, predictions)
        assert ours == approx(sk.matthews_corrcoef(labels, predictions))
        mcc_values.add(round(ours, 3))
        if case % 2:
            assert f1(labels, predictions) == approx(
                sk.f1_score(labels, predictions, zero_division=0.0))
    assert len(mcc_values) > 50


def test_f1_zero_division_matches_sklearn():
    sk = pytest.importorskip("sklearn.metrics")
    assert f1([0, 0, 0], [0, 0, 0]) == sk.f1_score([0, 0, 0], [0, 0, 0], zero_division=0.0)
    assert f1([0, 0, 0], [0, 0, 0]) == 0.0


def test_correlations_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    for case in range(CASES):
        n = int(rng.integers(3, 80))
        if case % 3 == 0:  # STS-B-like scores with many ties
            labels = rng.integers(0, 6, n).astype(np.float64)
            predictions = np.round(labels + rng.normal(0, 1.5, n), 1)
        else:
            labels = rng.normal(size=n)
            predictions = labels * rng.normal() + rng.normal(size=n)
        if np.ptp(labels) == 0 or np.ptp(predictions) == 0:
            continue
        assert pearson(labels, predictions) == pytest.approx(
            stats.pearsonr(labels, predictions).statistic, rel=1e-10, abs=1e-12)
        assert spearman(labels, predictions) == pytest.approx(
            stats.spearmanr(labels, predictions).statistic, rel=1e-10, abs=1e-12)


def test_average_ranks_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    from keras_bert_impl.metrics.glue import _average_ranks

    rng = np.random.default_rng(2)
    for _ in range(CASES):
        values = rng.integers(0, 8, int(rng.integers(1, 40)))
        np.testing.assert_array_equal(_average_ranks(values),
                                      stats.rankdata(values, method="average"))


def test_constant_input_gives_nan_like_scipy():
    stats = pytest.importorskip("scipy.stats")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(stats.pearsonr([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).statistic)
        assert math.isnan(stats.spearmanr([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).statistic)
    assert math.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(spearman([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))


# ---- hand cases ----------------------------------------------------------------------------


def test_hand_values():
    assert accuracy([0, 1, 2, 2], [0, 2, 2, 2]) == 0.75
    assert accuracy(["a", "b"], ["a", "a"]) == 0.5
    # tp 2, fp 1, fn 1 -> 2*2 / (2*2 + 1 + 1)
    assert f1([1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == approx(4 / 6)
    # binary MCC = (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)); tp 2 tn 1 fp 1 fn 1
    assert matthews_corrcoef([1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == approx(
        (2 * 1 - 1 * 1) / math.sqrt(3 * 3 * 2 * 2))
    assert matthews_corrcoef([0, 1, 0, 1], [1, 0, 1, 0]) == -1.0
    assert matthews_corrcoef([1, 1, 1], [1, 1, 1]) == 0.0  # undefined -> 0, as sklearn
    assert pearson([1, 2, 3], [2, 4, 6]) == approx(1.0)
    assert pearson([1, 2, 3], [3, 1, 2]) == approx(-0.5)
    # ranks with ties: [1, 2.5, 2.5, 4] vs [1, 2, 3, 4]
    x, y = np.array([1, 2.5, 2.5, 4]), np.array([1, 2, 3, 4])
    expected = np.dot(x - x.mean(), y - y.mean()) / (
        np.linalg.norm(x - x.mean()) * np.linalg.norm(y - y.mean()))
    assert spearman([10, 20, 20, 30], [1, 2, 3, 4]) == approx(expected)
    assert spearman([1, 2, 3, 4], [1, 4, 9, 16]) == 1.0


def test_glue_scores():
    assert set(GLUE_METRICS) >= {"sst2", "mrpc", "cola", "stsb", "qnli", "rte", "mnli"}
    assert GLUE_METRICS["mrpc"] == ("accuracy", "f1")
    assert GLUE_METRICS["stsb"] == ("pearson", "spearman")
    assert GLUE_METRICS["cola"] == ("matthews_corrcoef",)
    assert glue_scores("SST-2", [1, 0, 1, 1], [1, 0, 0, 1]) == {"accuracy": 0.75}
    assert glue_scores("mrpc", [1, 1, 1, 0, 0], [1, 1, 0, 1, 0]) == {
        "accuracy": 0.6, "f1": approx(4 / 6)}
    logits = np.array([[2.0, -1.0], [0.1, 0.3], [-3.0, 4.0], [1.0, 0.0]])
    assert glue_scores("cola", [0, 1, 1, 0], logits) == {"matthews_corrcoef": 1.0}
    assert glue_scores("mnli", [0, 1, 2], [[5, 1, 0], [0, 5, 1], [5, 0, 1]]) == {
        "accuracy": approx(2 / 3)}
    sts = glue_scores("STS-B", [0.0, 2.5, 5.0, 4.0], [[0.5], [2.0], [4.5], [4.6]])
    assert sts["pearson"] == approx(pearson([0.0, 2.5, 5.0, 4.0], [0.5, 2.0, 4.5, 4.6]))
    # ranks [1, 2, 4, 3] vs [1, 2, 3, 4]: 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 12 / 60
    assert sts["spearman"] == approx(0.8)


def test_errors():
    with pytest.raises(ValueError, match="Unknown GLUE task 'squad'"):
        glue_scores("squad", [1], [1])
    with pytest.raises(ValueError, match="STS-B predictions are one score per example"):
        glue_scores("stsb", [1.0, 2.0], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="`labels` has 3 values and `predictions` 2"):
        accuracy([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="Binary F1 needs 0/1 labels"):
        f1([0, 2], [0, 1])
    with pytest.raises(ValueError, match="at least 2"):
        pearson([1.0], [1.0])
    with pytest.raises(ValueError, match="at least 1"):
        accuracy([], [])
    with pytest.raises(ValueError, match="must be 1-D"):
        matthews_corrcoef([[1, 0]], [[1, 0]])
