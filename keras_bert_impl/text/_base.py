"""Shared plumbing for the text layers: a Keras layer that takes TensorFlow tensors as is.

The text layers run TensorFlow / TF-Text ops on `tf.string` and ragged tensors, so Keras must
not convert their inputs to backend tensors or autocast them. This mirrors keras-hub's
`PreprocessingLayer`.
"""

import keras


class TextLayer(keras.layers.Layer):
    """Base class: no input conversion, no autocasting, built on construction."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def compute_output_spec(self, *args, **kwargs):  # pragma: no cover - not symbolic
        raise NotImplementedError(
            f"{type(self).__name__} is a TensorFlow preprocessing layer: call it on tf.Tensor "
            "inputs (eagerly, in a tf.function or in tf.data.Dataset.map), not on symbolic "
            "keras.Input tensors."
        )


class PackedTextLayer(TextLayer):
    """Base class of the preprocessors that pack text into `sequence_length` positions with
    a `BertPacker` (`self.packer`): `sequence_length` may be changed after construction, as in
    keras-hub (`model.preprocessor.sequence_length = 64`), and the packer follows. A subclass
    checks a new length in `_check_sequence_length` (a `ValueError` keeps the old one)."""

    @property
    def sequence_length(self):
        return self._sequence_length

    @sequence_length.setter
    def sequence_length(self, value):
        self._check_sequence_length(value)
        self._sequence_length = value
        packer = getattr(self, "packer", None)
        if packer is not None:
            packer.sequence_length = value

    def _check_sequence_length(self, value, minimum=2, needs=""):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"sequence_length must be an int >= {minimum}{needs}; got "
                             f"{value!r}.")


def as_string_tensor(inputs, layer_name):
    """`inputs` as a `tf.string` Tensor/RaggedTensor, with a clear error otherwise."""
    import tensorflow as tf

    if isinstance(inputs, (tf.Tensor, tf.RaggedTensor)):
        if inputs.dtype != tf.string:
            raise TypeError(f"{layer_name} expects tf.string input; got a tensor of dtype "
                            f"{inputs.dtype.name}. Pass text, e.g. tf.constant(['a sentence']).")
        return inputs
    if isinstance(inputs, (bytes, str)):
        return tf.constant(inputs)
    try:
        return tf.convert_to_tensor(inputs, dtype=tf.string)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{layer_name} expects strings (a str, a list of str or a tf.string "
                        f"tensor); got {type(inputs).__name__}: {error}") from error


def ragged_rows(rows, dtype=None):
    """Python rows of scalars (lists, tuples or arrays of words, tag ids) as a ragged tensor
    `[rows, (values)]`, as `tf.ragged.constant(rows, dtype)` gives it but built from one flat
    tensor and the row lengths: 4 ms for CoNLL-2003's validation words (51k), where
    `tf.ragged.constant` takes 420 ms. Anything else (scalars for rows, rows that hold rows)
    goes to `tf.ragged.constant`.

    Example:

    ```python
    ragged_rows([["John", "lives"], [], ["Paris"]]).to_list()
    # [[b'John', b'lives'], [], [b'Paris']]
    ragged_rows([[1, 0], [2]]).dtype  # tf.int32
    ```
    """
    import numpy as np
    import tensorflow as tf

    if not all(isinstance(row, (list, tuple, np.ndarray)) for row in rows):
        return tf.ragged.constant(rows, dtype=dtype)
    rows = [list(row) for row in rows]
    flat = [value for row in rows for value in row]
    if any(isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) for value in flat):
        return tf.ragged.constant(rows, dtype=dtype)
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, dtype=dtype) if flat else tf.constant([], dtype=dtype or tf.float32),
        [len(row) for row in rows])
