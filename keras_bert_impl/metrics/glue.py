"""The GLUE benchmark's metrics, in NumPy.

References: scikit-learn's `accuracy_score`, `f1_score` (binary, positive label 1; 0.0 when
undefined, its `zero_division` default) and `matthews_corrcoef` (the multiclass form of
Gorodkin 2004; 0.0 when undefined), SciPy's `pearsonr` and `spearmanr` (ties get the average
of their ranks; NaN for a constant input, as SciPy), and the GLUE paper's choice of metric per
task (`GLUE_METRICS`). Every function returns a Python float.
"""

import numpy as np

__all__ = [
    "accuracy", "f1", "matthews_corrcoef", "pearson", "spearman", "GLUE_METRICS", "glue_scores",
]

GLUE_METRICS = {
    "cola": ("matthews_corrcoef",),
    "sst2": ("accuracy",),
    "mrpc": ("accuracy", "f1"),
    "qqp": ("accuracy", "f1"),
    "stsb": ("pearson", "spearman"),
    "mnli": ("accuracy",),
    "mnli_matched": ("accuracy",),
    "mnli_mismatched": ("accuracy",),
    "qnli": ("accuracy",),
    "rte": ("accuracy",),
    "wnli": ("accuracy",),
}


def _pair(labels, predictions, minimum=1):
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.ndim != 1 or predictions.ndim != 1:
        raise ValueError(
            f"`labels` and `predictions` must be 1-D; got shapes {labels.shape} and "
            f"{predictions.shape}.")
    if len(labels) != len(predictions):
        raise ValueError(
            f"`labels` has {len(labels)} values and `predictions` {len(predictions)}; "
            "they must match.")
    if len(labels) < minimum:
        raise ValueError(f"Need at least {minimum} value(s); got {len(labels)}.")
    return labels, predictions


def accuracy(labels, predictions):
    """The fraction of predictions equal to their labels.

    ```python
    accuracy([0, 1, 1, 0], [0, 1, 0, 0])  # 0.75
    ```
    """
    labels, predictions = _pair(labels, predictions)
    return float(np.mean(labels == predictions))


def f1(labels, predictions):
    """Binary F1 of the positive class 1 (labels and predictions are 0/1); 0.0 when
    neither has a positive.

    ```python
    f1([1, 1, 0, 0], [1, 0, 1, 0])  # 0.5
    f1([0, 0], [0, 0])  # 0.0
    ```
    """
    labels, predictions = _pair(labels, predictions)
    for name, values in (("labels", labels), ("predictions", predictions)):
        if not np.isin(values, (0, 1)).all():
            raise ValueError(
                f"Binary F1 needs 0/1 {name}; got values {np.unique(values)[:5].tolist()}.")
    true_positives = int(np.sum((labels == 1) & (predictions == 1)))
    denominator = int(np.sum(labels == 1)) + int(np.sum(predictions == 1))
    return 2 * true_positives / denominator if denominator else 0.0


def matthews_corrcoef(labels, predictions):
    """Matthews correlation coefficient (CoLA's metric), multiclass as scikit-learn; 0.0
    when undefined (one class only in labels or in predictions).

    ```python
    matthews_corrcoef([1, 1, 1, 0], [1, 0, 1, 1])  # -0.3333333333333333
    matthews_corrcoef([1, 0, 1, 0], [1, 0, 1, 0])  # 1.0
    ```
    """
    labels, predictions = _pair(labels, predictions)
    classes, codes = np.unique(np.concatenate([labels, predictions]), return_inverse=True)
    codes = codes.reshape(-1)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.float64)
    np.add.at(confusion, (codes[:len(labels)], codes[len(labels):]), 1.0)
    true_sum, pred_sum = confusion.sum(axis=1), confusion.sum(axis=0)
    n_samples = pred_sum.sum()
    cov_true_pred = np.trace(confusion) * n_samples - np.dot(true_sum, pred_sum)
    cov_pred_pred = n_samples ** 2 - np.dot(pred_sum, pred_sum)
    cov_true_true = n_samples ** 2 - np.dot(true_sum, true_sum)
    denominator = cov_pred_pred * cov_true_true
    if denominator == 0:
        return 0.0
    return float(cov_true_pred / np.sqrt(denominator))


def _pearson(x, y):
    x = x.astype(np.float64) - np.mean(x, dtype=np.float64)
    y = y.astype(np.float64) - np.mean(y, dtype=np.float64)
    norm_x, norm_y = np.linalg.norm(x), np.linalg.norm(y)
    if norm_x == 0 or norm_y == 0:
        return float("nan")
    return float(np.clip(np.dot(x / norm_x, y / norm_y), -1.0, 1.0))


def pearson(labels, predictions):
    """Pearson correlation (STS-B); NaN when either input is constant, as SciPy.

    ```python
    pearson([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.5])  # 0.998
    ```
    """
    labels, predictions = _pair(labels, predictions, minimum=2)
    return _pearson(labels, predictions)


def _average_ranks(values):
    """Ranks 1..n, ties given the mean of their ranks (SciPy's `rankdata(method="average")`)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate([[True], ordered[1:] != ordered[:-1]])
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.append(first[1:], len(values)) - 1
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = (first[group] + last[group]) / 2.0 + 1.0
    return ranks


def spearman(labels, predictions):
    """Spearman rank correlation (STS-B): Pearson of the average ranks; NaN for a constant
    input, as SciPy.

    ```python
    spearman([1.0, 2.0, 3.0, 4.0], [1.0, 5.0, 5.0, 9.0])  # 0.9486832980505138
    spearman([1, 2, 3], [30, 20, 10])  # -1.0
    ```
    """
    labels, predictions = _pair(labels, predictions, minimum=2)
    return _pearson(_average_ranks(labels), _average_ranks(predictions))


_FUNCTIONS = {
    "accuracy": accuracy, "f1": f1, "matthews_corrcoef": matthews_corrcoef,
    "pearson": pearson, "spearman": spearman,
}


def glue_scores(task, labels, predictions):
    """The GLUE metrics of `task` (see `GLUE_METRICS`) as `{metric name: value}`.

    `task` is a GLUE task name, any case, dashes ignored ("SST-2", "sst2", "STS-B").
    For a classification task `predictions` may be class ids or a `(n, num_classes)` array
    of logits or probabilities (its argmax is taken); for STS-B, scores (shape `(n,)` or
    `(n, 1)`).

    ```python
    glue_scores("MRPC", [1, 1, 0, 0], [1, 0, 1, 0])  # {"accuracy": 0.5, "f1": 0.5}
    logits = [[0.2, 0.8], [0.9, 0.1], [0.3, 0.7]]
    glue_scores("cola", [1, 0, 1], logits)  # {"matthews_corrcoef": 1.0}
    ```
    """
    key = str(task).lower().replace("-", "")
    if key not in GLUE_METRICS:
        raise ValueError(f"Unknown GLUE task {task!r}; use one of {sorted(GLUE_METRICS)}.")
    predictions = np.asarray(predictions)
    if predictions.ndim == 2 and predictions.shape[1] == 1:
        predictions = predictions[:, 0]
    elif predictions.ndim == 2:
        if key == "stsb":
            raise ValueError(
                f"STS-B predictions are one score per example; got shape {predictions.shape}.")
        predictions = np.argmax(predictions, axis=-1)
    return {name: _FUNCTIONS[name](labels, predictions) for name in GLUE_METRICS[key]}
