"""`BertSpanLabeler`: start/end logits of an answer span (SQuAD)."""

import keras
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.models.task import BertTask

# Logit given to padding positions: far below any real logit, finite so that softmax and
# cross-entropy stay NaN-free in float32 and bfloat16.
PADDING_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class SpanLogits(keras.layers.Layer):
    """Splits `[batch, seq_len, 2]` logits into start/end and masks padding positions.

    Example:

    ```python
    import numpy as np
    start, end = SpanLogits()(np.ones((1, 3, 2), "float32"), np.array([[1, 1, 0]]))
    start.shape  # (1, 3); start[0, 2] is -1e9
    ```
    """

    def call(self, logits, padding_mask):
        logits = ops.cast(logits, "float32")
        mask = ops.cast(padding_mask, "bool")
        start = ops.where(mask, logits[..., 0], PADDING_LOGIT)
        end = ops.where(mask, logits[..., 1], PADDING_LOGIT)
        return start, end

    def compute_output_shape(self, logits_shape, padding_mask_shape=None):
        return tuple(logits_shape[:-1]), tuple(logits_shape[:-1])


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertSpanLabeler(BertTask):
    """The sequence output -> dense(2) -> `start_logits`, `end_logits` (Hugging Face's
    `BertForQuestionAnswering`, Google's `run_squad.py`).

    Outputs a dict of float32 `[batch, seq_len]` tensors; padding positions get `-1e9`, so a
    softmax over positions never picks them.

    Args:
        encoder: a `BertEncoder`.

    Example:

    ```python
    import numpy as np
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 100, "hidden_size": 16, "num_layers": 1,
                           "num_heads": 2})
    labeler = BertSpanLabeler(encoder)
    out = labeler({"token_ids": np.array([[2, 5, 7, 3, 0]]),
                   "segment_ids": np.array([[0, 0, 1, 1, 0]]),
                   "padding_mask": np.array([[1, 1, 1, 1, 0]])})
    out["start_logits"].shape  # (1, 5)
    ```
    """

    def __init__(self, encoder, **kwargs):
        inputs = dict(encoder.input)
        sequence = encoder(inputs)["sequence_output"]
        dense = keras.layers.Dense(
            2,
            kernel_initializer=bert_initializer(encoder.config.initializer_range),
            dtype=encoder.dtype_policy,
            name="span_logits",
        )
        start, end = SpanLogits(name="span_mask")(dense(sequence), inputs["padding_mask"])
        super().__init__(
            inputs=inputs, outputs={"start_logits": start, "end_logits": end}, **kwargs
        )
        self.encoder = encoder
        self.span_dense = dense
