"""`BertClassifier`: sentence (or sentence-pair) classification and regression."""

import keras

from keras_bert_impl.models.task import BertTask, classification_logits


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertClassifier(BertTask):
    """The pooled `[CLS]` output -> dropout -> dense logits (Hugging Face's
    `BertForSequenceClassification`, Google's `run_classifier.py`).

    Inputs are the encoder's (`token_ids`, `segment_ids`, `padding_mask`); the output is
    float32 `logits` `[batch, num_classes]`. `num_classes=1` is regression (e.g. STS-B).

    Args:
        encoder: a `BertEncoder`.
        num_classes: number of classes (1 for regression).
        dropout: dropout rate on the pooled output before the classifier.

    Example:

    ```python
    import numpy as np
    from keras_bert_impl.models import BertEncoder
    encoder = BertEncoder({"vocab_size": 100, "hidden_size": 16, "num_layers": 1,
                           "num_heads": 2})
    classifier = BertClassifier(encoder, num_classes=3)
    logits = classifier({"token_ids": np.array([[2, 5, 7, 3, 0]]),
                         "segment_ids": np.zeros((1, 5), "int32"),
                         "padding_mask": np.array([[1, 1, 1, 1, 0]])})
    logits.shape  # (1, 3)
    ```
    """

    def __init__(self, encoder, num_classes, dropout=0.1, **kwargs):
        inputs = dict(encoder.input)
        logits, dense = classification_logits(
            encoder, encoder(inputs)["pooled_output"], num_classes, dropout
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
