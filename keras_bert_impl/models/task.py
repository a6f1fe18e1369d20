"""`BertTask`: the base of the models built around a `BertEncoder` (pretrainer, task models).

It holds their config round trip (the serialised encoder plus the head's own arguments),
their construction from a `BertConfig` for `from_preset`, and `classification_logits`, the
one classification head of `BertClassifier` (pooled output) and `BertTokenClassifier` (every
token).

A task model trains and evaluates without a `compile()` call, as keras-hub's tasks do (they
compile with their defaults when built): the first `fit`, `evaluate`, `train_on_batch` or
`test_on_batch` of an uncompiled model calls `compile()` with no arguments (the task's
optimizer, loss and metrics), inside the model's distribution strategy on TensorFlow. A
model compiled by its user keeps what it was given.
"""

import contextlib

import keras
from keras import ops

from keras_bert_impl.layers.dropout import Dropout
from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.models.base import BertModelBase
from keras_bert_impl.models.encoder import BertEncoder


def classification_logits(encoder, features, num_classes, dropout):
    """`dropout -> dense(num_classes)` on `features`, float32 logits; returns `(logits, dense)`.

    Example:

    ```python
    import keras
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 50, "hidden_size": 8, "num_layers": 1,
                           "num_heads": 2})
    logits, dense = classification_logits(encoder, keras.Input((8,)), 3, 0.1)
    logits.shape  # (None, 3)
    ```
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}.")
    dropout_layer = Dropout(dropout, name="classifier_dropout")
    dense = keras.layers.Dense(
        num_classes,
        kernel_initializer=bert_initializer(encoder.config.initializer_range),
        dtype=encoder.dtype_policy,
        name="classifier",
    )
    return ops.cast(dense(dropout_layer(features)), "float32"), dense


class BertTask(BertModelBase):
    """A functional model built in `__init__(encoder, **head_arguments)`.

    Subclasses set `self.encoder` and define `head_arguments()` (their own `__init__`
    arguments besides the encoder).

    Example:

    ```python
    from keras_bert_impl.models import BertClassifier
    classifier = BertClassifier.from_preset("bert_tiny", num_classes=2)
    classifier.get_config()["num_classes"]  # 2
    ```
    """

    def head_arguments(self):
        return {}

    # --- compile ------------------------------------------------------------------------
    def compile_if_needed(self):
        """Calls `compile()` with the task's defaults unless the model is compiled already
        (on TensorFlow inside the strategy the model was built under, where the optimizer's
        variables must live)."""
        if self.compiled:
            return
        strategy = getattr(self, "distribute_strategy", None)  # TensorFlow's trainer only
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            self.compile()

    def fit(self, *args, **kwargs):
        self.compile_if_needed()
        return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        self.compile_if_needed()
        return super().evaluate(*args, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        self.compile_if_needed()
        return super().train_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        self.compile_if_needed()
        return super().test_on_batch(*args, **kwargs)

    def constructor_arguments(self):
        return {"encoder": self.encoder, **self.head_arguments()}

    @classmethod
    def from_bert_config(cls, config, encoder_weights_follow=False, **kwargs):
        encoder = BertEncoder.from_bert_config(config, encoder_weights_follow)
        return cls(encoder, **kwargs)
