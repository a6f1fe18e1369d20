"""Checks of the host data a model is fed: ids in range, sequences not longer than the model.

Out-of-range inputs do not fail inside the model, they give wrong numbers without a word:

* a negative token id wraps around to the end of the token table (NumPy indexing rules);
* on JAX a token id `>= vocab_size` gathers NaN (out-of-bounds fill), so the loss is NaN;
* a segment id `>= type_vocab_size` one-hot encodes to a zero vector (the segment lookup is
  a one-hot matmul, DESIGN rule 6), so the segment embedding silently drops out;
* a sequence longer than `max_position_embeddings` fails deep in training ("Paddings must be
  non-negative");
* a `mask_positions` entry outside `[0, seq_len)` gathers another row, or NaN on JAX.

`BertModelBase` runs `check_data` on what its eager `__call__`, `fit`, `evaluate`, `predict`
and `train_on_batch` / `test_on_batch` / `predict_on_batch` get, when that is host data: a dict
of NumPy arrays or (nested) Python lists, alone or as the first item of an `(x, y[, weights])`
tuple. The error is a `ValueError` that names the input, the first offending value, its
position (row, column), the limit and the fix.

Not checked:

* symbolic tensors (building a functional model on top of ours);
* backend tensors (`tf.Tensor`, `jax.Array`), eager or inside a traced function: reading them
  would mean a device-to-host copy per call; wrap them in `np.asarray` to have them checked;
* `tf.data.Dataset`s, generators and `keras.utils.PyDataset`s. Our in-graph preprocessing
  (`keras_bert_impl.text`) cannot produce negative ids or segment ids other than 0/1, and its
  token ids come from the tokenizer's vocabulary: build the tokenizer from the model
  (`model.build_tokenizer()`) so that vocabulary is the model's.

Cost: per array one vectorised `min`/`max` (the offender is located only on failure);
`fit` checks its whole arrays once before the first step. `benchmarks/input_checks_cost.py`
times `fit` with the checks on and off (`checks_disabled()`).

Example:

```python
import numpy as np
limits = InputLimits(vocab_size=100, type_vocab_size=2, max_position_embeddings=16)
check_data({"token_ids": np.array([[2, 5, 7, 3]])}, limits)  # in range: returns None
try:
    check_data({"token_ids": np.array([[2, 5, 100, 3]])}, limits)
except ValueError as error:
    message = str(error)  # "token_ids[0, 2] = 100 is outside the vocabulary [0, 100): ..."
```
"""

import contextlib
import dataclasses
import numbers

import numpy as np

_ENABLED = [True]
# The inputs that index a table (of the model's or of the sequence's columns).
ID_INPUTS = ("token_ids", "segment_ids", "mask_positions")
_SAME_SHAPE_AS_TOKENS = ("segment_ids", "padding_mask")


@dataclasses.dataclass(frozen=True)
class InputLimits:
    """The table sizes an input is checked against (from the model's `BertConfig`).

    Example:

    ```python
    from keras_bert_impl.config import BertConfig
    InputLimits.from_config(BertConfig.from_preset("bert_tiny")).vocab_size  # 30522
    ```
    """

    vocab_size: int
    type_vocab_size: int
    max_position_embeddings: int

    @classmethod
    def from_config(cls, config):
        """The limits of a `BertConfig` (or anything with the three fields)."""
        return cls(
            int(config.vocab_size),
            int(config.type_vocab_size),
            int(config.max_position_embeddings),
        )


@contextlib.contextmanager
def checks_disabled():
    """Turns the checks off inside the `with` block (for `benchmarks/input_checks_cost.py`).

    Not meant for everyday use: without the checks, bad ids give wrong numbers silently.

    Example:

    ```python
    with checks_disabled():
        checks_enabled()  # False
    checks_enabled()  # True
    ```
    """
    previous = _ENABLED[0]
    _ENABLED[0] = False
    try:
        yield
    finally:
        _ENABLED[0] = previous


def checks_enabled():
    """Whether models check their host inputs now (`True` unless inside `checks_disabled()`).

    Example:

    ```python
    checks_enabled()  # True
    ```
    """
    return _ENABLED[0]


def _is_host_value(value):
    if isinstance(value, np.ndarray | np.generic | numbers.Number):
        return not isinstance(value, bool)
    return isinstance(value, list | tuple)


def _host_inputs(x):
    """The dict of inputs in `x` (a dict, or the first item of an `(x, y, ...)` tuple) whose
    values are host data, or `None` when there is nothing to check."""
    if isinstance(x, tuple | list) and x and isinstance(x[0], dict):
        x = x[0]
    if not isinstance(x, dict):
        return None
    found = {name: x[name] for name in (*ID_INPUTS, "padding_mask") if name in x
             and _is_host_value(x[name])}
    return found or None


def is_host_data(x):
    """Whether `x` holds host data that `check_data` reads: a dict (or an `(x, y, ...)` tuple
    starting with one) with NumPy arrays or Python lists under our input names.

    Example:

    ```python
    import numpy as np
    is_host_data({"token_ids": np.array([[1, 2]])})  # True
    is_host_data({"token_ids": object()})  # False: not host data
    ```
    """
    return _host_inputs(x) is not None


def _as_array(value):
    try:
        array = np.asarray(value)
    except ValueError:  # ragged nested lists: Keras gives its own error
        return None
    if array.dtype == bool or not np.issubdtype(array.dtype, np.number):
        return None  # strings (raw text), objects: not ids
    return array


def _index(position):
    return "[" + ", ".join(str(int(i)) for i in position) + "]"


def _value(value):
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _check_range(name, array, high, where, explain):
    """Raises when an entry of `array` is outside `[0, high)`; `explain(value)` gives the rest
    of the sentence after the first offender (the range and the fix)."""
    if array.size == 0:
        return
    if array.min() >= 0 and array.max() < high:  # the whole cost when the data is right
        return
    bad = (array < 0) | (array >= high)
    position = np.argwhere(bad)[0]
    value = array[tuple(position)]
    count = int(bad.sum())
    more = f" {count} of the {array.size} entries of {name} are out of range." if count > 1 else ""
    raise ValueError(
        f"{where}{name}{_index(position)} = {_value(value)} is outside {explain(value)}{more}"
    )


def _check_tokens(name, array, limits, where):
    vocab = limits.vocab_size

    def explain(value):
        if value < 0:
            return (
                f"the vocabulary [0, {vocab}) (vocab_size={vocab}): a negative id would "
                f"silently wrap around to the end of the token table. Pad with 0 ([PAD]), "
                f"not -1, and look for an integer overflow where the ids were made."
            )
        return (
            f"the vocabulary [0, {vocab}): the ids come from another vocab.txt than the "
            f"model's (vocab_size={vocab}). Tokenize with the model's vocabulary "
            f"(model.build_tokenizer()), or build the model with vocab_size = the number of "
            f"lines of your vocab.txt."
        )

    _check_range(name, array, vocab, where, explain)


def _check_segments(array, limits, where):
    types = limits.type_vocab_size

    def explain(value):
        return (
            f"[0, {types}) (type_vocab_size={types}): the model has {types} segment "
            f"embeddings, and the segment lookup (a one-hot matmul) would give a zero vector "
            f"for this id. Pack at most {types} segments per sequence (0 for the first "
            f"sentence, 1 for the second), or build the model with a larger type_vocab_size."
        )

    _check_range("segment_ids", array, types, where, explain)


def _check_positions(array, seq_len, where):
    def explain(value):
        return (
            f"the sequence [0, {seq_len}) (seq_len={seq_len}, the columns of token_ids): "
            f"mask_positions index columns of token_ids. They were made for longer sequences "
            f"than this batch (a masker with a larger sequence_length), or unused prediction "
            f"slots were padded with a negative value instead of 0 (with mask_weights 0)."
        )

    _check_range("mask_positions", array, seq_len, where, explain)


def _seq_len(name, array, limits, where):
    if array.ndim != 2:
        return None  # Keras reports a wrong rank itself
    seq_len = array.shape[1]
    limit = limits.max_position_embeddings
    if seq_len > limit:
        raise ValueError(
            f"{where}{name} has {seq_len} positions per sequence (shape "
            f"{tuple(array.shape)}), more than max_position_embeddings={limit}: "
            f"{name}[:, {limit}:] would have no position embedding. Truncate the sequences "
            f"to at most {limit} tokens (e.g. the packer's sequence_length={limit})."
        )
    return seq_len


def check_inputs(inputs, limits, where=""):
    """Checks a dict of model inputs (host data); raises `ValueError` on the first problem.

    `token_ids` must be in `[0, vocab_size)` and have at most `max_position_embeddings`
    columns; `segment_ids` in `[0, type_vocab_size)`; `segment_ids` and `padding_mask` the
    shape of `token_ids`; `mask_positions` in `[0, seq_len)`. Values that are not host data
    (backend or symbolic tensors) and names not listed are skipped. `where` prefixes the
    message (e.g. `"BertEncoder.fit(): "`).

    Example:

    ```python
    import numpy as np
    limits = InputLimits(vocab_size=100, type_vocab_size=2, max_position_embeddings=8)
    check_inputs({"token_ids": [[1, 2, 3]], "segment_ids": [[0, 0, 1]]}, limits)
    ```
    """
    arrays = {}
    for name in (*ID_INPUTS, "padding_mask"):
        if name in inputs and _is_host_value(inputs[name]):
            array = _as_array(inputs[name])
            if array is not None:
                arrays[name] = array
    seq_len = None
    tokens = arrays.get("token_ids")
    if tokens is not None:
        seq_len = _seq_len("token_ids", tokens, limits, where)
        for name in _SAME_SHAPE_AS_TOKENS:
            other = arrays.get(name)
            if other is not None and other.shape != tokens.shape:
                raise ValueError(
                    f"{where}{name} has shape {tuple(other.shape)} but token_ids has "
                    f"{tuple(tokens.shape)}: token_ids, segment_ids and padding_mask must all "
                    f"be [batch, seq_len] of the same sizes (pack them together)."
                )
        _check_tokens("token_ids", tokens, limits, where)
    if "segment_ids" in arrays:
        if seq_len is None:
            _seq_len("segment_ids", arrays["segment_ids"], limits, where)
        _check_segments(arrays["segment_ids"], limits, where)
    if "mask_positions" in arrays and seq_len is not None:
        _check_positions(arrays["mask_positions"], seq_len, where)


def check_labels(y, limits, where=""):
    """Checks the pretrainer's MLM labels `y["mask_ids"]` (host data) are in
    `[0, vocab_size)`: on JAX an out-of-range label makes the loss NaN. Other `y` pass.

    Example:

    ```python
    limits = InputLimits(vocab_size=100, type_vocab_size=2, max_position_embeddings=8)
    check_labels({"mask_ids": [[4, 0]], "next_sentence_labels": [1]}, limits)
    ```
    """
    if isinstance(y, dict) and _is_host_value(y.get("mask_ids")):
        array = _as_array(y["mask_ids"])
        if array is not None:
            _check_tokens("mask_ids", array, limits, where)


def check_data(x, limits, y=None, where=""):
    """Checks `x` (a dict of inputs, or an `(x, y[, sample_weight])` tuple) and `y` when they
    are host data; anything else (backend tensors, `tf.data`, generators) passes unchecked.

    Example:

    ```python
    import numpy as np
    limits = InputLimits(vocab_size=100, type_vocab_size=2, max_position_embeddings=8)
    check_data(({"token_ids": np.array([[1, 2]])}, np.array([1])), limits)
    ```
    """
    if not _ENABLED[0]:
        return
    if isinstance(x, tuple | list) and x and isinstance(x[0], dict):
        if y is None and len(x) > 1:
            y = x[1]
        x = x[0]
    inputs = _host_inputs(x)
    if inputs is not None:
        tokens = _as_array(inputs["token_ids"]) if "token_ids" in inputs else None
        if tokens is not None and tokens.ndim and not len(tokens):
            raise ValueError(f"{where}token_ids holds no examples (shape {tuple(tokens.shape)}); "
                             "pass at least one sequence.")
        check_inputs(inputs, limits, where)
    if y is not None:
        check_labels(y, limits, where)
