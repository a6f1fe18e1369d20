"""`BertClassifier`: sentence (or sentence-pair) classification and regression."""

import keras
from keras import ops

from keras_bert_impl.models.task import classification_logits
from keras_bert_impl.models.text_task import BertTextTask


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertClassifier(BertTextTask):
    """The pooled `[CLS]` output -> dropout -> dense logits (Hugging Face's
    `BertForSequenceClassification`, Google's `run_classifier.py`).

    Inputs are the encoder's (`token_ids`, `segment_ids`, `padding_mask`); the output is
    float32 `logits` `[batch, num_classes]`. `num_classes=1` is regression (e.g. STS-B).

    Args:
        encoder: a `BertEncoder`.
        num_classes: number of classes (1 for regression).
        dropout: dropout rate on the pooled output before the classifier.
        preprocessor: a `BertClassifierPreprocessor` (one text or a pair per example), or
            `None`; with one, `fit`, `evaluate` and `predict` take raw strings.
        label_names: the class names, in id order (`None` for regression).

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

    class_id_axes = 1

    def __init__(self, encoder, num_classes, dropout=0.1, preprocessor=None, label_names=None,
                 **kwargs):
        inputs = dict(encoder.input)
        # The pooler reads the last block at [CLS] only, which computes that row alone
        # (`BertEncoder.last_block_at`).
        cls_row = encoder.last_block_at(inputs, encoder(inputs),
                                        ops.zeros_like(inputs["token_ids"][:, :1]))
        logits, dense = classification_logits(
            encoder, encoder.pooler(cls_row), num_classes, dropout
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.dropout = dropout
        self.classifier_dense = dense
        if num_classes == 1 and label_names is not None:
            raise ValueError("num_classes=1 is regression, which has no label_names; pass "
                             "label_names=None (or num_classes=len(label_names)).")
        self._attach_text_arguments(preprocessor, label_names)

    @property
    def is_regression(self):
        return self.num_classes == 1

    def head_arguments(self):
        return {
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            **super().head_arguments(),
        }

    def default_loss(self):
        if self.is_regression:
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        if self.is_regression:
            from keras_bert_impl.metrics.keras_metrics import PearsonCorrelation

            return [PearsonCorrelation(name="pearson")]
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    @classmethod
    def default_preprocessor(cls, tokenizer, sequence_length=None):
        from keras_bert_impl.text.classifier_preprocessor import BertClassifierPreprocessor

        return BertClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length or cls.default_sequence_length)
