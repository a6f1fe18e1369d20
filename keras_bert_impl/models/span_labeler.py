"""`BertSpanLabeler`: start/end logits of an answer span (SQuAD)."""

import keras
import numpy as np
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.models.text_inputs import as_texts, from_columns
from keras_bert_impl.models.text_task import BertTextTask

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
class BertSpanLabeler(BertTextTask):
    """The sequence output -> dense(2) -> `start_logits`, `end_logits` (Hugging Face's
    `BertForQuestionAnswering`, Google's `run_squad.py`).

    Outputs a dict of float32 `[batch, seq_len]` tensors; padding positions get `-1e9`, so a
    softmax over positions never picks them.

    Training labels are `y = {"start_positions", "end_positions"}` (int token positions,
    `[batch]`); the loss is the mean of the start and end cross-entropies (Google's
    `run_squad.py`), so `compile()` takes no `loss`.

    With a `preprocessor` (a `BertSpanPreprocessor`), `fit`, `evaluate` and `predict` also
    take raw text, `x = {"question": [...], "context": [...]}` and for training
    `y = {"answer_start": [...], "answer_text": [...]}` (character offsets into the
    context): each example becomes one or more windows of the context (`doc_stride`) on the
    host, then a `tf.data` pipeline; `answer(questions, contexts)` decodes answers.

    Args:
        encoder: a `BertEncoder`.
        preprocessor: a `BertSpanPreprocessor`, or `None`.

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

    default_sequence_length = 384
    per_token_outputs = True
    padding_output = PADDING_LOGIT  # what the head gives at padding

    def __init__(self, encoder, preprocessor=None, **kwargs):
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
        self._attach_text_arguments(preprocessor, None)
        self.start_accuracy = keras.metrics.SparseCategoricalAccuracy(name="start_accuracy")
        self.end_accuracy = keras.metrics.SparseCategoricalAccuracy(name="end_accuracy")

    def head_arguments(self):
        return {"preprocessor": self.preprocessor}

    def expected_label_count(self):
        return None

    def default_loss(self):
        return None

    def default_metrics(self):
        return None

    def compile(self, *args, loss="auto", metrics="auto", **kwargs):
        """Compiles with the span loss (the mean of the start and end cross-entropies over
        `y = {"start_positions", "end_positions"}`) and start/end accuracy, unless `loss` is
        given: then Keras' own loss handling applies, with `y` keyed by the output names
        (`start_logits`, `end_logits`). The optimizer defaults to `default_optimizer()`."""
        self._span_loss = isinstance(loss, str) and loss == "auto"
        if self._span_loss:
            if metrics not in (None, "auto") or kwargs.get("loss_weights") is not None:
                raise ValueError("BertSpanLabeler.compile() computes the span loss and "
                                 "metrics itself; pass loss= too to use your own metrics.")
            loss, metrics = None, None
        elif isinstance(metrics, str) and metrics == "auto":
            metrics = None
        super().compile(*args, loss=loss, metrics=metrics, **kwargs)

    @staticmethod
    def _positions(y):
        if isinstance(y, dict):
            try:
                return y["start_positions"], y["end_positions"]
            except KeyError as error:
                raise ValueError(f"BertSpanLabeler labels need {error.args[0]!r}: y = "
                                 "{'start_positions': ..., 'end_positions': ...}.") from None
        start, end = y
        return start, end

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        from keras_bert_impl.keras_private import scale_loss_for_replicas

        if not getattr(self, "_span_loss", True):
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        start, end = self._positions(y)
        losses = [
            keras.losses.sparse_categorical_crossentropy(labels, y_pred[name], from_logits=True)
            for labels, name in ((start, "start_logits"), (end, "end_logits"))
        ]
        if sample_weight is not None:
            weight = ops.cast(sample_weight, "float32")
            per_example = [ops.sum(loss * weight) / (ops.sum(weight) + 1e-9) for loss in losses]
        else:
            per_example = [ops.mean(loss) for loss in losses]
        total = (per_example[0] + per_example[1]) / 2.0
        for extra in self.losses:
            total = total + ops.sum(ops.cast(extra, "float32"))
        return scale_loss_for_replicas(total)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if not getattr(self, "_span_loss", True):
            return super().compute_metrics(x, y, y_pred, sample_weight)
        start, end = self._positions(y)
        self.start_accuracy.update_state(start, y_pred["start_logits"], sample_weight)
        self.end_accuracy.update_state(end, y_pred["end_logits"], sample_weight)
        return self.get_metrics_result()

    @classmethod
    def default_preprocessor(cls, tokenizer, sequence_length=None):
        from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor

        # The reference's 64-piece questions and 128-token stride at 384 and 512 tokens; a
        # shorter window keeps half of itself for the question and never strides past the
        # context a window holds (no context token falls between two windows).
        length = sequence_length or cls.default_sequence_length
        max_query_length = min(64, length // 2)
        return BertSpanPreprocessor(
            tokenizer, sequence_length=length, max_query_length=max_query_length,
            doc_stride=min(128, length - max_query_length - 3))

    def _text_dataset(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                      for_predict=False):
        import tensorflow as tf

        if hasattr(x, "element_spec"):
            raise ValueError("BertSpanLabeler windows raw question/context text on the host: "
                             "pass Python lists, x={'question': [...], 'context': [...]}, or "
                             "a tf.data.Dataset of token ids and positions.")
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported with raw question/context text.")
        features = self.span_features(x, y)
        data = (features.x,) if y is None else (features.x, features.y)
        dataset = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            dataset = dataset.shuffle(len(features.example_index), reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or 32)
        trim = self._trimmer(for_predict)
        if trim is not None:
            dataset = dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
        return dataset.prefetch(tf.data.AUTOTUNE)

    def span_features(self, x, y=None):
        """The preprocessor's windows (`SpanFeatures`) of `x = {"question", "context"}` (and
        `y = {"answer_start", "answer_text"}` for training)."""
        if not isinstance(x, dict) or not {"question", "context"} <= set(x):
            raise ValueError("BertSpanLabeler takes raw text as x={'question': [...], "
                             "'context': [...]}.")
        questions = as_texts(x["question"], "questions")
        contexts = as_texts(x["context"], "contexts")
        answer_starts = answer_texts = None
        if y is not None:
            if not isinstance(y, dict) or not {"answer_start", "answer_text"} <= set(y):
                raise ValueError("Raw-text labels of BertSpanLabeler are y={'answer_start': "
                                 "[...], 'answer_text': [...]} (character offsets).")
            answer_starts = [int(v) for v in np.ravel(from_columns(y["answer_start"]))]
            answer_texts = as_texts(y["answer_text"], "answer_text")
        return self.preprocessor.features(questions, contexts, answer_starts=answer_starts,
                                          answer_texts=answer_texts, ids=x.get("id"))

    def answer(self, questions, contexts, ids=None, batch_size=32, n_best_size=20,
               max_answer_length=30, null_score_diff_threshold=None):
        """Answers cut from each context (the span decoder over every window); returns the
        decoder's predictions (see `keras_bert_impl.text.span_decoding.decode_spans`). A
        question and a context given as two strings are one example (id `"0"`)."""
        from keras_bert_impl.text.span_decoding import decode_spans

        x = {"question": as_texts(questions, "questions"),
             "context": as_texts(contexts, "contexts")}
        if ids is not None:
            x["id"] = as_texts(ids, "ids")
        features = self.span_features(x)
        logits = self._predict_packed(features.x, batch_size)
        return decode_spans(logits["start_logits"], logits["end_logits"], features,
                            n_best_size=n_best_size, max_answer_length=max_answer_length,
                            null_score_diff_threshold=null_score_diff_threshold)
