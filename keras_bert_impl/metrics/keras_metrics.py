"""GLUE's metrics as streaming Keras 3 metrics, for `model.compile(metrics=[...])`.

Each keeps running sums in metric variables and agrees with the NumPy definition in
`keras_bert_impl.metrics.glue` on the whole stream, however it is cut into batches:

- `MatthewsCorrelation(num_classes)` (CoLA): accumulates a (weighted) confusion matrix;
  the coefficient is scikit-learn's multiclass form, 0.0 when undefined.
- `BinaryF1()` (MRPC, QQP): true positives, false positives and false negatives of class 1;
  0.0 when there is no positive at all.
- `PearsonCorrelation()` (STS-B): count, means and co-moments merged batch by batch (Chan et
  al.'s parallel update, which stays accurate in float32 where raw sums of squares do not);
  NaN while either side is constant, as SciPy.

Classification metrics take `y_pred` as scores `[batch, num_classes]` (logits or
probabilities: the argmax is the prediction) or as integer class ids `[batch]`; `y_true` is
class ids `[batch]` or `[batch, 1]`. Everything is `keras.ops`, so the metrics run on every
backend and inside compiled (XLA) train/test steps.

This module imports Keras; `keras_bert_impl.metrics` itself stays NumPy-only and exports these
lazily.
"""

import keras
from keras import ops


def _class_ids(y_pred, num_classes, name):
    """`y_pred` scores `[batch, C]` -> argmax ids; integer ids `[batch]` pass through."""
    shape = tuple(y_pred.shape)
    if len(shape) >= 2 and shape[-1] not in (None, 1):
        if num_classes is not None and shape[-1] != num_classes:
            raise ValueError(f"{name}: y_pred has {shape[-1]} scores per example, the metric "
                             f"has num_classes={num_classes}; pass the model's logits or "
                             "probabilities over all classes.")
        return ops.reshape(ops.argmax(y_pred, axis=-1), (-1,))
    dtype = keras.backend.standardize_dtype(y_pred.dtype)
    if "int" not in dtype and dtype != "bool":
        raise ValueError(f"{name}: y_pred of shape {shape} and dtype {dtype} is neither scores "
                         "[batch, num_classes] nor integer class ids [batch]; pass the "
                         "classifier's logits over all classes (a single sigmoid output "
                         "needs thresholding into ids first).")
    return ops.reshape(y_pred, (-1,))


def _weights(sample_weight, y_true):
    if sample_weight is None:
        return ops.ones(ops.shape(y_true), "float32")
    return ops.reshape(ops.cast(sample_weight, "float32"), (-1,))


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class MatthewsCorrelation(keras.metrics.Metric):
    """Streaming Matthews correlation coefficient over `num_classes` classes (CoLA's metric).

    Equals `keras_bert_impl.metrics.matthews_corrcoef` (scikit-learn's multiclass form) of all
    the labels and argmax predictions seen since the last reset; 0.0 when undefined.
    `sample_weight` weighs each example's count.

    Args:
        num_classes: the number of classes (2 for CoLA).
        name: the metric's name in logs.

    Example:

    ```python
    import numpy as np
    metric = MatthewsCorrelation(num_classes=2)
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], "float32")
    metric.update_state(np.array([1, 1, 1, 0]), logits)
    float(metric.result())  # -0.3333
    ```
    """

    def __init__(self, num_classes, name="matthews_corrcoef", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2; got {num_classes!r}.")
        self.num_classes = num_classes
        self.confusion = self.add_variable(shape=(num_classes, num_classes),
                                           initializer="zeros", dtype="float32",
                                           name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.convert_to_tensor(y_true), (-1,))
        y_pred = _class_ids(ops.convert_to_tensor(y_pred), self.num_classes, self.name)
        weights = _weights(sample_weight, y_true)
        true = ops.one_hot(ops.cast(y_true, "int32"), self.num_classes, dtype="float32")
        pred = ops.one_hot(ops.cast(y_pred, "int32"), self.num_classes, dtype="float32")
        self.confusion.assign_add(ops.matmul(ops.transpose(true * weights[:, None]), pred))

    def result(self):
        # On proportions rather than counts: every term is O(1), so float32 stays exact
        # enough on large evaluation sets.
        total = ops.sum(self.confusion)
        # Undefined (0.0) when the labels or the predictions hold one class only: decided on
        # the counts, since proportions that should be 1 may round to just below it.
        defined = ops.logical_and(ops.max(ops.sum(self.confusion, axis=1)) < total,
                                  ops.max(ops.sum(self.confusion, axis=0)) < total)
        confusion = ops.divide_no_nan(self.confusion, total)
        true_sum, pred_sum = ops.sum(confusion, axis=1), ops.sum(confusion, axis=0)
        covariance = ops.trace(confusion) - ops.sum(true_sum * pred_sum)
        spread = (1.0 - ops.sum(pred_sum * pred_sum)) * (1.0 - ops.sum(true_sum * true_sum))
        value = covariance / ops.sqrt(ops.maximum(spread, 1e-30))
        return ops.where(defined, ops.clip(value, -1.0, 1.0), 0.0)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BinaryF1(keras.metrics.Metric):
    """Streaming F1 of class 1 from 2-class scores (MRPC's and QQP's second metric).

    Equals `keras_bert_impl.metrics.f1` of all the labels and argmax predictions seen since
    the last reset: `2 TP / (2 TP + FP + FN)`, 0.0 when there is no positive label or
    prediction. `sample_weight` weighs each example.

    Example:

    ```python
    import numpy as np
    metric = BinaryF1()
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], "float32")
    metric.update_state(np.array([1, 1, 0, 0]), logits)
    float(metric.result())  # 0.5
    ```
    """

    def __init__(self, name="f1", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                dtype="float32", name="true_positives")
        self.false_positives = self.add_variable(shape=(), initializer="zeros",
                                                 dtype="float32", name="false_positives")
        self.false_negatives = self.add_variable(shape=(), initializer="zeros",
                                                 dtype="float32", name="false_negatives")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.convert_to_tensor(y_true), (-1,))
        y_pred = _class_ids(ops.convert_to_tensor(y_pred), 2, self.name)
        weights = _weights(sample_weight, y_true)
        true = ops.cast(ops.equal(ops.cast(y_true, "int32"), 1), "float32")
        pred = ops.cast(ops.equal(ops.cast(y_pred, "int32"), 1), "float32")
        self.true_positives.assign_add(ops.sum(weights * true * pred))
        self.false_positives.assign_add(ops.sum(weights * (1.0 - true) * pred))
        self.false_negatives.assign_add(ops.sum(weights * true * (1.0 - pred)))

    def result(self):
        return ops.divide_no_nan(
            2.0 * self.true_positives,
            2.0 * self.true_positives + self.false_positives + self.false_negatives)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class PearsonCorrelation(keras.metrics.Metric):
    """Streaming Pearson correlation of scores (STS-B's metric).

    Equals `keras_bert_impl.metrics.pearson` of all the labels and predictions seen since the
    last reset; NaN while either is constant (as SciPy). `y_pred` is `[batch, 1]` (a
    regression head) or `[batch]`. `sample_weight` weighs each example (frequency weights).

    Example:

    ```python
    import numpy as np
    metric = PearsonCorrelation()
    metric.update_state(np.array([1.0, 2.0]), np.array([[2.0], [4.0]]))
    metric.update_state(np.array([3.0, 4.0]), np.array([[6.0], [8.5]]))
    float(metric.result())  # 0.998
    ```
    """

    def __init__(self, name="pearson", dtype=None):
        super().__init__(name=name, dtype=dtype)
        names = ("count", "mean_true", "mean_pred", "m2_true", "m2_pred", "co_moment")
        for variable_name in names:
            setattr(self, variable_name, self.add_variable(
                shape=(), initializer="zeros", dtype="float32", name=variable_name))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.cast(ops.convert_to_tensor(y_true), "float32"), (-1,))
        y_pred = ops.reshape(ops.cast(ops.convert_to_tensor(y_pred), "float32"), (-1,))
        weights = _weights(sample_weight, y_true)
        # This batch's moments about its own means, then merged with the running ones.
        count_b = ops.sum(weights)
        mean_true_b = ops.divide_no_nan(ops.sum(weights * y_true), count_b)
        mean_pred_b = ops.divide_no_nan(ops.sum(weights * y_pred), count_b)
        d_true, d_pred = y_true - mean_true_b, y_pred - mean_pred_b
        m2_true_b = ops.sum(weights * d_true * d_true)
        m2_pred_b = ops.sum(weights * d_pred * d_pred)
        co_moment_b = ops.sum(weights * d_true * d_pred)

        count_a = self.count.value
        count = count_a + count_b
        share_b = ops.divide_no_nan(count_b, count)
        delta_true = mean_true_b - self.mean_true.value
        delta_pred = mean_pred_b - self.mean_pred.value
        cross = count_a * share_b  # n_a n_b / n
        self.m2_true.assign_add(m2_true_b + delta_true * delta_true * cross)
        self.m2_pred.assign_add(m2_pred_b + delta_pred * delta_pred * cross)
        self.co_moment.assign_add(co_moment_b + delta_true * delta_pred * cross)
        self.mean_true.assign_add(delta_true * share_b)
        self.mean_pred.assign_add(delta_pred * share_b)
        self.count.assign(count)

    def result(self):
        spread = self.m2_true * self.m2_pred
        value = self.co_moment / ops.sqrt(ops.maximum(spread, 1e-30))
        return ops.where(spread > 0, ops.clip(value, -1.0, 1.0), float("nan"))
