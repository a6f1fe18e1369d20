"""Raw text into a task model: telling text from token ids, and the `tf.data` pipeline that
runs a task's preprocessor over it.

A task model with a `preprocessor` takes, in `fit`, `evaluate` and `predict`:

* token ids as before: a dict with `"token_ids"` (NumPy, tensors) or a `tf.data.Dataset`
  whose `x` is such a dict; nothing is preprocessed;
* raw text: a Python string, a list of strings (or of lists of words for tagging), a NumPy
  or `tf.string` array, a tuple of them for sentence pairs, or a *batched* `tf.data.Dataset`
  of such `x` (with `y`, `sample_weight`): the preprocessor is mapped over the batches with
  `tf.data.AUTOTUNE` parallelism, so tokenization runs beside the train step.

Dynamic padding: the preprocessor packs every example to its `sequence_length`; `trim_padding`
then cuts each batch to its longest example rounded up to a multiple of 16 tokens, as Hugging
Face's `DataCollatorWithPadding` does. The columns cut hold only padding, which attention
masks out, so the outputs at the kept positions are the same; a batch of short sentences costs
what its tokens cost, not what `sequence_length` does.

Example:

```python
is_raw_text(["a sentence", "another"])  # True
is_raw_text({"token_ids": [[2, 3]]})  # False
```
"""

import numpy as np


def _is_text_leaf(value):
    if isinstance(value, (str, bytes)):
        return True
    if isinstance(value, np.ndarray):
        return value.dtype.kind in ("U", "S", "O")
    dtype = getattr(value, "dtype", None)
    if dtype is not None and getattr(dtype, "name", "") == "string":
        return True
    if isinstance(value, (list, tuple)) and value:
        return _is_text_leaf(value[0])
    return False


def _element_x(dataset):
    spec = dataset.element_spec
    return spec[0] if isinstance(spec, tuple) else spec


def is_raw_text(x):
    """Whether `x` (or the `x` of a `tf.data.Dataset`) is raw text rather than token ids."""
    if x is None:
        return False
    if _is_dataset(x):
        spec = _element_x(x)
        if isinstance(spec, dict):
            return "token_ids" not in spec
        leaves = spec if isinstance(spec, tuple) else (spec,)
        return all(getattr(leaf, "dtype", None) is not None
                   and leaf.dtype.name == "string" for leaf in leaves)
    if isinstance(x, dict):
        return "token_ids" not in x and all(_is_text_leaf(v) for v in x.values())
    if isinstance(x, tuple):
        return bool(x) and all(_is_text_leaf(part) for part in x)
    return _is_text_leaf(x)


def _is_dataset(x):
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover - TensorFlow is a runtime dependency
        return False
    return isinstance(x, tf.data.Dataset)


def _as_tensor(value, ragged=True):
    """`value` as a tensor; a Python list of lists as a ragged one when `ragged` (words of
    sentences, a tagger's labels per word), else as a dense one (a classifier's soft labels,
    one row per example)."""
    import tensorflow as tf

    if isinstance(value, tuple):
        return tuple(_as_tensor(v, ragged) for v in value)
    if isinstance(value, dict):
        return {k: _as_tensor(v, ragged) for k, v in value.items()}
    if isinstance(value, (tf.Tensor, tf.RaggedTensor)):
        return value
    if isinstance(value, (str, bytes)):
        return tf.constant([value])
    if ragged and isinstance(value, list) and value and isinstance(value[0], (list, tuple)):
        return tf.ragged.constant([list(row) for row in value])
    return tf.convert_to_tensor(value)


def _count(value):
    first = value
    while isinstance(first, (tuple, dict)):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    return int(first.shape[0]) if hasattr(first, "shape") else len(first)


PAD_TO_MULTIPLE = 16
NO_EXAMPLES = "x holds no examples (an empty list or array); pass at least one text."


def trim_padding(multiple=PAD_TO_MULTIPLE, per_token_labels=False):
    """A `tf.data` map function that cuts a preprocessed batch `(x[, y[, sample_weight]])` to
    its longest example (the most `True`s in a row of `x["padding_mask"]`) rounded up to a
    multiple of `multiple`, never past the packed length. Every per-token tensor of `x` is
    cut; `y` and `sample_weight` too when `per_token_labels` (tagging), else they pass as
    they are.

    Example:

    ```python
    import tensorflow as tf
    x = {"token_ids": tf.constant([[2, 5, 3, 0, 0, 0], [2, 3, 0, 0, 0, 0]]),
         "padding_mask": tf.constant([[True] * 3 + [False] * 3, [True] * 2 + [False] * 4])}
    trim_padding(multiple=2)(x)["token_ids"].numpy().tolist()  # [[2, 5, 3, 0], [2, 3, 0, 0]]
    ```
    """
    import keras
    import tensorflow as tf

    if int(multiple) < 1:
        raise ValueError(f"multiple must be a positive number of tokens; got {multiple}.")

    def trim(x, y=None, sample_weight=None):
        mask = x["padding_mask"]
        longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
        rounded = (longest + multiple - 1) // multiple * multiple
        length = tf.clip_by_value(rounded, 1, tf.shape(mask)[1])
        x = {key: value[:, :length] for key, value in x.items()}
        if per_token_labels:
            y = None if y is None else y[:, :length]
            sample_weight = None if sample_weight is None else sample_weight[:, :length]
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    return trim


def text_dataset(preprocessor, x, y=None, sample_weight=None, batch_size=None, shuffle=False,
                 seed=None, trim=None, ragged_labels=False):
    """A batched `tf.data.Dataset` of `preprocessor(x, y, sample_weight)`.

    `x` is raw text (see the module docstring); a `tf.data.Dataset` must already be batched
    and is only mapped. `batch_size` defaults to 32 (Keras' default); `shuffle=True`
    reshuffles the examples each epoch, as `fit` does with arrays. `trim` (e.g.
    `trim_padding()`) is mapped after the preprocessor. Python lists of lists in `y` and
    `sample_weight` are rows of one length (e.g. soft labels), or, with `ragged_labels`, one
    value per word of each sentence (a tagger's).

    Example:

    ```python
    from keras_bert_impl.text import BertPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]
    prep = BertPreprocessor(BertTokenizer(vocab), sequence_length=4)
    ds = text_dataset(lambda x, y=None, sample_weight=None: (prep(x), y), ["a b", "b"], [0, 1])
    x, y = next(iter(ds))
    x["token_ids"].numpy().tolist()  # [[2, 5, 6, 3], [2, 6, 3, 0]]
    ```
    """
    import tensorflow as tf

    if _is_dataset(x):
        if y is not None or sample_weight is not None:
            raise ValueError("With a tf.data.Dataset, put the labels (and sample weights) in "
                             "the dataset's elements, (x, y[, sample_weight]); do not pass "
                             "y= or sample_weight= as well.")
        dataset = x
    else:
        parts = [_as_tensor(x)]
        for name, extra in (("y", y), ("sample_weight", sample_weight)):
            if extra is None:
                break
            try:
                parts.append(_as_tensor(extra, ragged=ragged_labels))
            except ValueError as error:
                if "non-rectangular" not in str(error):
                    raise
                raise ValueError(f"{name} has rows of different lengths; give one label (and "
                                 "weight) per example, or rows of one length (e.g. soft "
                                 "labels: one score per class).") from None
        if sample_weight is not None and y is None:
            raise ValueError("sample_weight needs labels y.")
        count = _count(parts[0])
        if count == 0:
            raise ValueError(NO_EXAMPLES)
        for name, part in zip(("y", "sample_weight"), parts[1:]):
            if _count(part) != count:
                raise ValueError(f"x has {count} examples but {name} has {_count(part)}; "
                                 "give one label (and weight) per example.")
        dataset = tf.data.Dataset.from_tensor_slices(tuple(parts))
        if shuffle:
            dataset = dataset.shuffle(max(count, 1), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or 32)
    dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    if trim is not None:
        dataset = dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def steps_in(dataset):
    """Batches per epoch of a finite `tf.data.Dataset`, or `None` when unknown/infinite."""
    import tensorflow as tf

    cardinality = int(dataset.cardinality())
    if cardinality in (int(tf.data.INFINITE_CARDINALITY), int(tf.data.UNKNOWN_CARDINALITY)):
        return None
    return cardinality
