"""`BertTask`: the base of the models built around a `BertEncoder` (pretrainer, task models).

It holds their config round trip (the serialised encoder plus the head's own arguments),
their construction from a `BertConfig` for `from_preset`, and `classification_logits`, the
one classification head of `BertClassifier` (pooled output) and `BertTokenClassifier` (every
token).
"""

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

    def constructor_arguments(self):
        return {"encoder": self.encoder, **self.head_arguments()}

    @classmethod
    def from_bert_config(cls, config, encoder_weights_follow=False, **kwargs):
        encoder = BertEncoder.from_bert_config(config, encoder_weights_follow)
        return cls(encoder, **kwargs)
