"""`BertTokenClassifier`: one label per token (named entities, POS tags)."""

import keras

from keras_bert_impl.models.task import BertTask, classification_logits


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertTokenClassifier(BertTask):
    """The sequence output -> dropout -> dense per-token logits (Hugging Face's
    `BertForTokenClassification`).

    The output is float32 `logits` `[batch, seq_len, num_classes]`; logits at padding
    positions are computed but meaningless (weight them out of the loss with `padding_mask`).

    Args:
        encoder: a `BertEncoder`.
        num_classes: number of tag classes.
        dropout: dropout rate on the sequence output before the classifier.

    Example:

    ```python
    import numpy as np
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 100, "hidden_size": 16, "num_layers": 1,
                           "num_heads": 2})
    tagger = BertTokenClassifier(encoder, num_classes=9)
    logits = tagger({"token_ids": np.array([[2, 5, 7, 3, 0]]),
                     "segment_ids": np.zeros((1, 5), "int32"),
                     "padding_mask": np.array([[1, 1, 1, 1, 0]])})
    logits.shape  # (1, 5, 9)
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.1, **kwargs):
        inputs = dict(encoder.input)
        logits, dense = classification_logits(
            encoder, encoder(inputs)["sequence_output"], num_classes, dropout
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.dropout = dropout
        self.classifier_dense = dense

    def head_arguments(self):
        return {
            "num_classes": self.num_classes,
            "dropout": self.dropout,
        }
