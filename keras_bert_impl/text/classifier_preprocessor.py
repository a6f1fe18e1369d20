"""`BertClassifierPreprocessor`: raw text (and labels) -> the `(x, y, sample_weight)` a
classifier trains on, in `tf.data`.

keras-hub's `BertTextClassifierPreprocessor` contract: `call(x, y=None, sample_weight=None)`
packs the text(s) `x` with `BertPreprocessor` and returns
`keras.utils.pack_x_y_sample_weight(features, y, sample_weight)`, so `y` and `sample_weight` go
through untouched and the layer maps straight over a dataset of `(texts, labels)` batches:

```
dataset.batch(32).map(preprocessor)  # (texts, labels) -> (features, labels)
```

`tf.data` unpacks a tuple element into positional arguments, so `(texts, labels)` arrives as
`x=texts, y=labels`, and a pair dataset `((texts_a, texts_b), labels)` as
`x=(texts_a, texts_b), y=labels`. An unlabelled pair dataset must therefore hold `((a, b),)`
(what `ClassificationData.as_dataset()` gives), not `(a, b)`, whose second text would be read as
the label.
"""

import keras

from keras_bert_impl.text.preprocessors import BertPreprocessor


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertClassifierPreprocessor(BertPreprocessor):
    """Strings (one text or a pair) and optional labels -> `(features, y, sample_weight)`.

    `x` is a `tf.string` batch or scalar (one text per example), a Python string or list of
    strings (a batch), or a tuple/list of `tf.string` tensors (the segments of sentence pairs,
    or N segments). `features` are `{"token_ids", "segment_ids", "padding_mask"}` of length
    `sequence_length` (`padding_mask` bool); segments that do not fit are truncated as
    `truncate` says (`"round_robin"`: the reference's longest-first for pairs). `y` and
    `sample_weight` are returned unchanged, packed with `keras.utils.pack_x_y_sample_weight`
    (only `features` when both are `None`).

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: the packed length (default 128).
        truncate: `"round_robin"` or `"waterfall"` (see `BertPacker`).

    Example:

    ```python
    import tensorflow as tf
    from keras_bert_impl.text.tokenizer import BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "ran", "far"]
    preprocessor = BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8)
    x, y = preprocessor((tf.constant(["The fox"]), tf.constant(["ran far"])), tf.constant([1]))
    x["token_ids"].numpy(), y.numpy()  # ([[2, 5, 6, 3, 7, 8, 3, 0]], [1])
    dataset = tf.data.Dataset.from_tensor_slices((["the fox ran", "far"], [1, 0]))
    x, y = next(iter(dataset.batch(2).map(preprocessor)))
    x["token_ids"].shape  # (2, 8)
    ```
    """

    def __init__(self, tokenizer, sequence_length=128, truncate="round_robin", **kwargs):
        super().__init__(tokenizer, sequence_length=sequence_length, truncate=truncate,
                         **kwargs)

    def call(self, x, y=None, sample_weight=None):
        if isinstance(x, list) and x and all(isinstance(t, (str, bytes)) for t in x):
            import tensorflow as tf

            x = tf.constant(x)  # a Python list of strings is one batch, not N segments
        features = super().call(x)
        return keras.utils.pack_x_y_sample_weight(features, y, sample_weight)
