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
then cuts each batch to its longest example (rounded up to a multiple of 16 tokens where each
batch length compiles; see `BertTextTask.padding_multiple`), as Hugging Face's
`DataCollatorWithPadding` does. The columns cut hold only padding, which attention
masks out, so the outputs at the kept positions are the same; a batch of short sentences costs
what its tokens cost, not what `sequence_length` does. `predict` and `evaluate` read texts
held in memory shortest first (`shortest_first`), so that the examples of a batch are of
about one length.

Columns of a table (a pandas or polars `Series`) are taken as the NumPy arrays they hold
(`from_columns`, for `x`, `y` and `sample_weight`); a whole table is refused with the
columns to pass instead. Before any graph runs, raw text is checked (`check_texts`): an
example that is not a string (a missing value, `None`, a number) and the segments of a pair
with different numbers of examples are errors naming the position and the fix.

Example:

```python
is_raw_text(["a sentence", "another"])  # True
is_raw_text({"token_ids": [[2, 3]]})  # False
```
"""

import numpy as np

_TEXT = (str, bytes, np.str_, np.bytes_)


def _is_text_leaf(value):
    if isinstance(value, _TEXT):
        return True
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "O":
            return value.dtype.kind in ("U", "S")
        value = value.ravel()
    else:
        dtype = getattr(value, "dtype", None)
        if dtype is not None and getattr(dtype, "name", "") == "string":
            return True
    if isinstance(value, (list, tuple, np.ndarray)):
        # Text when any example is (a missing first value must not make it "not text", so
        # that check_texts can name it).
        return any(isinstance(v, _TEXT) or (isinstance(v, (list, tuple, np.ndarray))
                                              and _is_text_leaf(v)) for v in value)
    return False


def from_columns(value, name="x"):
    """`value` with each column of a table (a pandas or polars `Series`, anything with
    `to_numpy()` that is not a tensor) as a NumPy array, through tuples and dicts; a whole
    table (`DataFrame`) is a `ValueError` saying which columns to pass.

    Example:

    ```python
    from_columns(([1, 2], {"a": "text"}))  # ([1, 2], {'a': 'text'}): nothing to convert
    ```
    """
    if isinstance(value, tuple):
        return tuple(from_columns(v, f"{name}[{i}]") for i, v in enumerate(value))
    if isinstance(value, dict):
        return {k: from_columns(v, f"{name}[{k!r}]") for k, v in value.items()}
    if value is None or isinstance(value, (np.ndarray, list, *_TEXT)):
        return value
    columns = getattr(value, "columns", None)
    if columns is not None and len(getattr(value, "shape", ())) == 2:
        names = [str(c) for c in columns]
        first, second = names[:2] if len(names) > 1 else ("first", "second")
        raise ValueError(
            f"{name} is a table with columns {names}; pass its columns: {name}=df[{names[0]!r}] "
            f"(one text per example), {name}=(df[{first!r}], df[{second!r}]) (sentence pairs) "
            f"or {name}={{'question': df['question'], 'context': df['context']}} "
            "(BertSpanLabeler).")
    to_numpy = getattr(value, "to_numpy", None)
    if not callable(to_numpy) or hasattr(value, "numpy"):  # tensors have .numpy()
        return value
    array = np.asarray(to_numpy())
    if array.dtype.kind == "O" and any(isinstance(v, (list, tuple, np.ndarray)) for v in array):
        # A column of word (or tag) lists: the lists of lists a tagger takes.
        return [list(v) if isinstance(v, (tuple, np.ndarray)) else v for v in array]
    return array


def as_texts(value, name="texts"):
    """One text (`str`, or UTF-8 `bytes`) or a column of them (a list, NumPy or `tf.string`
    array, pandas column) as a list of `str`; a text that is not valid UTF-8 is a
    `ValueError` naming it (`name[i]`). Other elements are left for `check_texts` to name.

    Example:

    ```python
    as_texts(b"a cat"), as_texts(["a", b"b"], "questions")  # (['a cat'], ['a', 'b'])
    ```
    """
    value = as_python(value, name)
    if isinstance(value, (str, bytes)):  # one text (a scalar tensor too)
        value = [value]
    return [_decoded(text, f"{name}[{i}]") for i, text in enumerate(value)]


def as_python(value, name="x"):
    """Texts or word lists given as a tensor, ragged tensor, NumPy array or table column, as
    the Python lists (of `str`/`bytes`, or of lists of them) they hold; a Python value, one
    text included, as it is.

    Example:

    ```python
    import numpy as np
    as_python(np.array(["a b", "c"])), as_python("a b")  # (['a b', 'c'], 'a b')
    ```
    """
    if isinstance(value, (str, bytes)):
        return value
    value = from_columns(value, name)
    if hasattr(value, "to_list"):  # tf.RaggedTensor
        return value.to_list()
    if hasattr(value, "numpy"):  # tf.Tensor
        value = value.numpy()
    return value.tolist() if hasattr(value, "tolist") else value


def _decoded(text, name):
    if not isinstance(text, bytes):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{name} is not valid UTF-8 ({error.reason} at byte {error.start}); "
                         "decode it with the encoding it was written in, and pass a "
                         "str.") from None


def _describe(value):
    if value is None:
        return "None"
    if isinstance(value, float) and value != value:
        return "NaN"
    return f"{value!r} ({type(value).__name__})"


def _check_leaf(value, name, word_lists, words=False):
    """Each example of a text column is a string (or, with `word_lists`, a list of words);
    `words`: `value` is one example's list of words."""
    if isinstance(value, _TEXT) or not isinstance(value, (list, tuple, np.ndarray)):
        return
    if isinstance(value, np.ndarray) and value.ndim > 1 and not word_lists:
        raise ValueError(_NOT_WORDS.format(name=name, what=f"a {value.ndim}-D array"))
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        return
    for i, item in enumerate(value):
        if isinstance(item, _TEXT):
            continue
        if not words and isinstance(item, (list, tuple, np.ndarray)):
            if not word_lists:
                raise ValueError(_NOT_WORDS.format(
                    name=name, what=f"a list whose item {i} is a list ({item!r:.60})"))
            _check_leaf(item, f"{name}[{i}]", word_lists, words=True)
            continue
        what = "a string" if words or not word_lists else "a string or a list of words"
        raise ValueError(
            f"{name}[{i}] is {_describe(item)}, not {what}: every example needs its text (a "
            "missing value in a table is NaN or None). Drop or fill those rows first (pandas: "
            "df.dropna(subset=[column]) or df[column].fillna('')).")


_NOT_WORDS = ("{name} is {what}: this model takes one text per example (a list or 1-D "
              "array of strings); for sentence pairs pass a tuple of two such columns, "
              "(first_texts, second_texts). Lists of words per example are for "
              "BertTokenClassifier.")


def _count_of(value):
    shape = getattr(value, "shape", None)
    if isinstance(value, _TEXT) or (shape is not None and len(shape) == 0):
        return 1  # one text (a scalar)
    return int(shape[0]) if shape is not None and shape[0] is not None else len(value)


def only_missing_values(x):
    """Whether `x` is a list or object array of nothing but `None` / NaN: a column of missing
    texts, which `is_raw_text` cannot tell from ids but no model takes."""
    if not isinstance(x, (list, np.ndarray)) or len(x) == 0:
        return False
    if isinstance(x, np.ndarray) and x.dtype.kind != "O":
        return False
    return all(v is None or (isinstance(v, float) and v != v) for v in x)


def check_texts(x, name="x", word_lists=False):
    """Raises a `ValueError` naming the first example of raw text `x` that is not text (a
    string; or, with `word_lists`, a list of words too), or the segments of a pair whose
    numbers of examples differ.

    Example:

    ```python
    check_texts((["a question"], ["its context"]))  # fine: nothing raised
    # check_texts(["a", None]) -> ValueError: x[1] is None, not a string: ...
    ```
    """
    if _is_dataset(x):
        return
    if isinstance(x, dict):
        parts = [(f"{name}[{key!r}]", part) for key, part in x.items()]
    elif isinstance(x, tuple):
        parts = [(f"{name}[{i}]", part) for i, part in enumerate(x)]
    else:
        parts = [(name, x)]
    for part_name, part in parts:
        _check_leaf(part, part_name, word_lists)
    counts = {part_name: _count_of(part) for part_name, part in parts}
    if len(set(counts.values())) > 1:
        described = ", ".join(f"{n} {c}" for n, c in counts.items())
        raise ValueError(f"The parts of {name} hold different numbers of examples ({described})"
                         "; each example needs one text in each part (a pair is "
                         "(first_texts, second_texts) of equal length).")


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
        from keras_bert_impl.text._base import ragged_rows

        return ragged_rows(value)
    return tf.convert_to_tensor(value)


def _count(value):
    first = value
    while isinstance(first, (tuple, dict)):
        first = next(iter(first.values())) if isinstance(first, dict) else first[0]
    return int(first.shape[0]) if hasattr(first, "shape") else len(first)


def _leaves(value, name):
    if isinstance(value, tuple):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{name}[{i}]")]
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{name}[{k!r}]")]
    return [] if value is None else [(name, value)]


def _rows(value, start, stop):
    if isinstance(value, tuple):
        return tuple(_rows(v, start, stop) for v in value)
    if isinstance(value, dict):
        return {k: _rows(v, start, stop) for k, v in value.items()}
    return None if value is None else value[start:stop]


def _take(value, order):
    if isinstance(value, tuple):
        return tuple(_take(v, order) for v in value)
    if isinstance(value, dict):
        return {k: _take(v, order) for k, v in value.items()}
    if value is None:
        return None
    if isinstance(value, list):
        return [value[i] for i in order]
    return np.asarray(value)[order]


def shortest_first(x, y=None, sample_weight=None, lengths=None):
    """In-memory raw text `x` (with its `y` and `sample_weight`) reordered by each example's
    length (a pair's or a dict's fields summed), shortest first: batches cut to their longest
    example (`trim_padding`) then hold little padding. `lengths(texts)` gives the lengths of
    one column's texts (a list of `str`/`bytes`), e.g. their numbers of wordpieces; by
    default their characters. Returns `(order, (x, y, sample_weight))`, `order` the
    examples' original positions (`outputs[argsort(order)]` puts results back); `(None, (x,
    y, sample_weight))` for one text, a `tf.data.Dataset` (read as it comes), or where an
    example is not one text (word lists, 2-D arrays).

    Example:

    ```python
    order, (x, y, _) = shortest_first(["a long one", "hi", "mid"], [0, 1, 2])
    order.tolist(), x, y  # ([1, 2, 0], ['hi', 'mid', 'a long one'], [1, 2, 0])
    ```
    """
    data = (x, y, sample_weight)
    if isinstance(x, _TEXT) or _is_dataset(x):
        return None, data
    columns = [as_python(column) for _, column in _leaves(x, "x")]
    if not columns or not all(isinstance(text, _TEXT) for column in columns
                              for text in column):
        return None, data
    lengths = lengths or (lambda texts: [len(text) for text in texts])
    order = np.argsort(np.sum([np.asarray(lengths(column)) for column in columns], axis=0),
                       kind="stable")
    return order, (_take(x, order), _take(y, order), _take(sample_weight, order))


def split_off_validation(x, y=None, sample_weight=None, validation_split=0.1):
    """`(x, y, sample_weight)` of raw text split as Keras' `fit(validation_split=...)` splits
    arrays: the last `validation_split` of the examples, taken before any shuffling, for
    validation and the rest for training. Returns `(train, validation)`, each an `(x, y,
    sample_weight)` tuple (`None` parts stay `None`); sentence pairs (tuples) and
    question/context dicts are split column by column.

    Example:

    ```python
    train, validation = split_off_validation(["a", "b", "c", "d"], [0, 1, 0, 1], None, 0.25)
    train  # (['a', 'b', 'c'], [0, 1, 0], None)
    validation  # (['d'], [1], None)
    ```
    """
    if (isinstance(validation_split, bool) or not isinstance(validation_split, (int, float))
            or not 0 < validation_split < 1):
        raise ValueError(f"validation_split must be a fraction between 0 and 1 (e.g. 0.1), "
                         f"got {validation_split!r}.")
    columns = [column for name, part in (("x", x), ("y", y), ("sample_weight", sample_weight))
               for column in _leaves(part, name)]
    count = _count_of(columns[0][1])
    for name, column in columns[1:]:
        if _count_of(column) != count:
            raise ValueError(f"x has {count} examples but {name} has {_count_of(column)}; "
                             "give one label (and weight) per example.")
    split_at = int(count * (1.0 - validation_split))
    if split_at == 0 or split_at == count:
        raise ValueError(
            f"validation_split={validation_split} of {count} example(s) leaves "
            f"{'no examples to train on' if split_at == 0 else 'none to validate on'}; "
            "pass more examples, another fraction, or validation_data=(texts, labels).")
    data = (x, y, sample_weight)
    if isinstance(x, _TEXT):
        data = ([x], y, sample_weight)
    return _rows(data, 0, split_at), _rows(data, split_at, count)


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


def _check_batched(dataset, per_token_labels=False):
    """A `tf.data.Dataset` of raw text must give batches: its texts (and a tagger's labels
    per word) one rank above a single example's."""
    import tensorflow as tf

    spec = dataset.element_spec
    texts = [leaf for leaf in tf.nest.flatten(_element_x(dataset))
             if getattr(leaf, "dtype", None) == tf.string]
    labels = spec[1] if isinstance(spec, tuple) and len(spec) > 1 else None
    single = [leaf.shape for leaf in texts if leaf.shape.rank == 0]
    if per_token_labels and getattr(labels, "shape", None) is not None \
            and labels.shape.rank == 1:
        single.append(labels.shape)
    if single:
        raise ValueError(
            f"The tf.data.Dataset gives one example at a time (shape {single[0]}, where a "
            "batch has one more axis in front); batch it first, e.g. dataset.batch(32): "
            "fit, evaluate and predict take batches of raw text.")


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
        _check_batched(x, ragged_labels)
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
