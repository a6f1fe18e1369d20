"""`BertTokenClassifier`: one label per token (named entities, POS tags)."""

import itertools

import keras

from keras_bert_impl.models.task import classification_logits
from keras_bert_impl.models.text_inputs import as_python
from keras_bert_impl.models.text_task import BertTextTask


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertTokenClassifier(BertTextTask):
    """The sequence output -> dropout -> dense per-token logits (Hugging Face's
    `BertForTokenClassification`).

    The output is float32 `logits` `[batch, seq_len, num_classes]`; logits at padding
    positions are computed but meaningless (weight them out of the loss with `padding_mask`).

    Args:
        encoder: a `BertEncoder`.
        num_classes: number of tag classes.
        dropout: dropout rate on the sequence output before the classifier.
        preprocessor: a `BertTokenClassifierPreprocessor` (pre-split words, tags aligned
            to each word's first wordpiece), or `None`; with one, `fit`, `evaluate` and
            `predict` take words.
        label_names: the tag names, in id order (e.g. `["O", "B-PER", "I-PER", ...]`).

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

    per_token_labels = True
    per_token_outputs = True
    class_id_axes = 2

    def __init__(self, encoder, num_classes, dropout=0.1, preprocessor=None, label_names=None,
                 **kwargs):
        inputs = dict(encoder.input)
        logits, dense = classification_logits(
            encoder, encoder(inputs)["sequence_output"], num_classes, dropout
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        self.encoder = encoder
        self.num_classes = num_classes
        self.dropout = dropout
        self.classifier_dense = dense
        self._attach_text_arguments(preprocessor, label_names)

    def head_arguments(self):
        return {
            "num_classes": self.num_classes,
            "dropout": self.dropout,
            **super().head_arguments(),
        }

    def default_loss(self):
        # Mean over the labelled tokens (weight 1: each word's first wordpiece), as Hugging
        # Face's ignore_index=-100 gives, not over every position of the batch.
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight")

    def default_metrics(self):
        return None

    def default_weighted_metrics(self):
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def tag(self, words, batch_size=32, return_scores=False):
        """The predicted tag of each word of each sentence (`words`: lists of words, or
        space-joined strings): the prediction at the word's first wordpiece. A sentence
        longer than the model's sequence is tagged in consecutive windows of the words that
        fit (each window read on its own), so every word gets a tag. Needs `label_names` and
        a preprocessor. One string is one sentence: its tags (and scores) alone come back.
        Tensors, ragged tensors, NumPy arrays and pandas columns of either form are taken."""
        if self.label_names is None:
            raise ValueError("tag() needs the model's label_names; build the model with "
                             "label_names=[...] (finetune runs store them).")
        if self.preprocessor is None:
            raise ValueError("tag() needs a preprocessor (BertTokenClassifierPreprocessor).")
        words = as_python(words, "words")
        if isinstance(words, (str, bytes)):
            tagged = self.tag([words], batch_size=batch_size, return_scores=return_scores)
            return (tagged[0][0], tagged[1][0]) if return_scores else tagged[0]
        words = list(words)
        if not words:
            return ([], []) if return_scores else []
        tags, scores = self._tag_in_windows(words, batch_size)
        return (tags, scores) if return_scores else tags

    def _tag_in_windows(self, words, batch_size):
        """Tags and scores of `words` (what `preprocessor.pack_in_windows` takes: sentences
        or word lists), each sentence read in the windows of `pack_in_windows`."""
        from keras_bert_impl.text.tag_decoding import decode_tags

        features, word_starts, words = self.preprocessor.pack_in_windows(words)
        logits = self._predict_packed(features, batch_size)
        tags, scores = decode_tags(logits, word_starts, self.label_names, return_scores=True)
        splits = words.row_splits.numpy()
        flat_tags, flat_scores = (list(itertools.chain.from_iterable(rows))
                                  for rows in (tags, scores))
        return ([flat_tags[a:b] for a, b in zip(splits[:-1], splits[1:])],
                [flat_scores[a:b] for a, b in zip(splits[:-1], splits[1:])])

    @classmethod
    def default_preprocessor(cls, tokenizer, sequence_length=None):
        from keras_bert_impl.text.token_classifier_preprocessor import (
            BertTokenClassifierPreprocessor,
        )

        return BertTokenClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length or cls.default_sequence_length)
