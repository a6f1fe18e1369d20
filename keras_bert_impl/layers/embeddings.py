"""`BertEmbeddings`: token + segment + position embeddings, LayerNorm, dropout.

The token lookup is a gather (the vocabulary is large). On a GPU or TPU its gradient is not
the gather's scatter-add: text repeats ids ([CLS], [SEP], [PAD], "the"), and the colliding
atomic adds took 45 of the 75 ms of a BERT-base train step (seq 128, batch 128, bf16, H200,
ids drawn from a Zipf law). `take_with_sorted_gradient` sorts the upstream rows by id, sums
each run of equal ids with a segmented scan and writes each run's total to its id's row, one
write per row. It replaced a one-hot matmul (`one_hot(ids)^T @ upstream`, 768 GFLOP: 2.4 ms
plus 0.65 ms to build the one-hot on an H100), which had taken the step from 1,953 to 3,720
sequences/s on the H200; the sorted sums make the step 1.08x the one-hot step on an H100
(3,539 -> 3,814 sequences/s, same run). On a CPU the scatter is cheap, so the gather's own
gradient stays. The segment lookup is a one-hot matmul: its table has 2 rows, and a gather's
gradient would be a scatter-add whose colliding writes are slow on accelerators (DESIGN rule
6; Google's original BERT does the same). Position embeddings are a slice of the learned
table, added by broadcasting (no lookup at all).

int8 (`quantize("int8")`, which `model.quantize("int8")` calls): the token table, most of the
layer's weight (23M of BERT-base's 24M embedding parameters), becomes what Keras' int8
`Embedding` holds: an int8 `token_embeddings` `[vocab, hidden]` and a float32
`token_embeddings_scale` `[vocab]` (per row, absmax / 127; a row is looked up as
`int8 / scale`). The segment and position tables (2 and 512 rows) stay float. The layer's
dtype policy becomes Keras' `int8_from_<policy>`, so `get_config` records it as Keras layers
do; `save_own_variables` writes `[token_embeddings, token_embeddings_scale,
segment_embeddings, position_embeddings]` (Keras' int8 `Embedding` order, then our two
tables). `MaskedLMHead`, whose output projection is the token table, reads it through
`token_logits`, which divides by the row scales after the matmul.
"""

import functools

import keras
from keras import ops

from keras_bert_impl.keras_private import Int8CallHook, mark_quantized, remove_variable
from keras_bert_impl.layers.dropout import Dropout
from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.layers.normalization import inner_layer_norm


def _check_int8(mode):
    if mode != "int8":
        raise NotImplementedError(f"BertEmbeddings quantizes to 'int8' only; got mode={mode!r}.")


@functools.cache
def accelerator_in_use():
    """Whether Keras' devices include one that is not a CPU (a GPU or TPU)."""
    return any(not device.lower().startswith("cpu")
               for device in keras.distribution.list_devices())


def one_hot_table_gradient(ids, upstream, vocab):
    """`one_hot(ids)^T @ upstream`: `table_gradient` where the number of ids is not static."""
    one_hot = ops.one_hot(ids, vocab, dtype=upstream.dtype)
    return ops.matmul(ops.transpose(one_hot), upstream)


def table_gradient(ids, upstream, vocab):
    """The gradient `take_with_sorted_gradient` gives its table `[vocab, hidden]`: the rows
    of `upstream` `[n, hidden]` summed per id. The rows are sorted by id, summed within each
    run of equal ids by a segmented scan (float32), and each run's total is written to its
    id's row: no two writes to one row, so no colliding atomic adds. The scan needs a static
    `n` (always there on JAX); a TensorFlow graph with an unknown batch size takes
    `one_hot_table_gradient`."""
    if ids.shape[0] is None:
        return one_hot_table_gradient(ids, upstream, vocab)
    order = ops.argsort(ids)
    sorted_ids = ops.take(ids, order, axis=0)
    rows = ops.cast(ops.take(upstream, order, axis=0), "float32")
    change = ops.not_equal(sorted_ids[1:], sorted_ids[:-1])
    starts = ops.expand_dims(ops.concatenate([ops.ones((1,), "bool"), change]), -1)
    ends = ops.concatenate([change, ops.ones((1,), "bool")])

    def add_within_runs(a, b):
        return ops.logical_or(a[0], b[0]), ops.where(b[0], b[1], a[1] + b[1])

    _, sums = ops.associative_scan(add_within_runs, (starts, rows), axis=0)
    # A run's total goes to its id's row; every other row of the scan to a row of its own
    # past the table, dropped after the scatter.
    n = ops.shape(ids)[0]
    targets = ops.where(ends, sorted_ids, vocab + ops.arange(n, dtype=sorted_ids.dtype))
    table = ops.scatter(ops.expand_dims(targets, -1), sums, (vocab + n, ops.shape(sums)[-1]))
    return ops.cast(table[:vocab], upstream.dtype)


def take_with_sorted_gradient(table, ids):
    """`table[ids]` (rows of `table` `[vocab, hidden]` at int `ids` `[n]`, a gather) whose
    gradient with respect to `table` is `table_gradient`'s sum of the upstream rows per id
    (sorted, summed by a segmented scan, one write per row) rather than the gather's
    scatter-add of `n` rows (slow on accelerators where rows repeat; see the module
    docstring). The same values and gradient.

    Example:

    ```python
    import numpy as np
    table = np.arange(6, dtype="float32").reshape(3, 2)
    take_with_sorted_gradient(table, np.array([2, 0, 2])).tolist()  # [[4, 5], [0, 1], [4, 5]]
    ```
    """
    ids = ops.convert_to_tensor(ids, "int32")

    @ops.custom_gradient
    def take(table):
        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return table_gradient(ids, upstream, ops.shape(table)[0])

        return ops.take(table, ids, axis=0), gradient

    return take(ops.convert_to_tensor(table))


def scores_against_rows(x, table):
    """`x @ table^T` for `x` `[..., hidden]` and `table` `[vocab, hidden]` (the tied MLM output
    projection), whose gradient with respect to `table` is computed as `upstream^T @ x`, which
    arrives as `[vocab, hidden]`. Differentiating `matmul(x, transpose(table))` op by op gives the
    `[hidden, vocab]` gradient of the transpose and then transposes it back: on TensorFlow a
    copy of the whole table each step (15.6 MB for bert_tiny, 94 MB for BERT-base), where the
    transposes here fold into the matmuls. The same values and gradients.

    Example:

    ```python
    import numpy as np
    table = np.arange(6, dtype="float32").reshape(3, 2)
    scores_against_rows(np.array([[1.0, 1.0]], "float32"), table).tolist()  # [[1, 5, 9]]
    ```
    """

    @ops.custom_gradient
    def scores(rows, table):
        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.matmul(upstream, table), ops.matmul(ops.transpose(upstream), rows)

        return ops.matmul(rows, ops.transpose(table)), gradient

    x, table = ops.convert_to_tensor(x), ops.convert_to_tensor(table)
    logits = scores(ops.reshape(x, (-1, ops.shape(x)[-1])), table)
    return ops.reshape(logits, ops.shape(x)[:-1] + (ops.shape(table)[0],))


# The variables of an int8 layer, in the order `save_own_variables` writes them.
_INT8_VARIABLES = ("token_embeddings", "token_embeddings_scale", "segment_embeddings",
                   "position_embeddings")


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertEmbeddings(Int8CallHook, keras.layers.Layer):
    """Sums token, segment and position embeddings, then LayerNorm and dropout.

    Args:
        vocab_size: rows of the token table.
        hidden_size: embedding width.
        max_position_embeddings: rows of the position table (longest sequence).
        type_vocab_size: rows of the segment table.
        dropout: dropout rate after the LayerNorm.
        initializer_range: stddev of the truncated normal initializer.
        layer_norm_epsilon: LayerNorm epsilon.

    Call arguments:
        token_ids: int tensor `[batch, seq_len]`.
        segment_ids: int tensor `[batch, seq_len]`.

    The token table is the variable `token_embeddings`; `MaskedLMHead` ties its output
    projection to it (`token_logits`). `quantize("int8")` stores it as int8 with a float
    scale per row (see the module docstring).

    Example:

    ```python
    import numpy as np
    layer = BertEmbeddings(vocab_size=100, hidden_size=16, max_position_embeddings=32)
    x = layer(np.array([[2, 5, 7, 3]]), np.array([[0, 0, 1, 1]]))
    x.shape  # (1, 4, 16)
    layer.quantize("int8")
    layer.token_embeddings.dtype, layer.dtype_policy.name  # ('int8', 'int8_from_float32')
    bool(np.abs(layer(np.array([[2, 5, 7, 3]]), np.array([[0, 0, 1, 1]])) - x).max() < 0.05)  # True
    ```
    """

    def __init__(
        self,
        vocab_size,
        hidden_size,
        max_position_embeddings=512,
        type_vocab_size=2,
        dropout=0.1,
        initializer_range=0.02,
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.max_position_embeddings = max_position_embeddings
        self.type_vocab_size = type_vocab_size
        self.dropout_rate = dropout
        self.initializer_range = initializer_range
        self.layer_norm_epsilon = layer_norm_epsilon
        # LayerNorm statistics in float32 (mixed precision keeps them exact), output in ours.
        self.layer_norm = inner_layer_norm(layer_norm_epsilon, self.compute_dtype, "layer_norm")
        # A quantized policy is this layer's alone: the dropout takes its compute dtype.
        policy = self.dtype_policy
        self.dropout = Dropout(
            dropout, dtype=self.compute_dtype if policy.quantization_mode else policy,
            name="dropout")

    def build(self, token_ids_shape=None, segment_ids_shape=None):
        init = bert_initializer(self.initializer_range)
        if self.quantization_mode:  # a quantized layer from its config (a `.keras` file)
            self.quantized_build(None, self.quantization_mode)
        else:
            self.token_embeddings = self.add_weight(
                name="token_embeddings", shape=(self.vocab_size, self.hidden_size),
                initializer=init
            )
        self.segment_embeddings = self.add_weight(
            name="segment_embeddings",
            shape=(self.type_vocab_size, self.hidden_size),
            initializer=init,
        )
        self.position_embeddings = self.add_weight(
            name="position_embeddings",
            shape=(self.max_position_embeddings, self.hidden_size),
            initializer=init,
        )
        self.layer_norm.build((None, None, self.hidden_size))
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        ids = ops.cast(token_ids, "int32")
        if training and accelerator_in_use():
            table = ops.cast(self.token_embeddings, self.compute_dtype)
            tokens = ops.reshape(take_with_sorted_gradient(table, ops.reshape(ids, (-1,))),
                                 ops.shape(ids) + (self.hidden_size,))
        else:
            tokens = ops.take(self.token_embeddings, ids, axis=0)
        return self._add_segments_and_positions(tokens, segment_ids, training)

    def _segments(self, segment_ids):
        # The segment lookup as a one-hot matmul (DESIGN rule 6; see the module docstring).
        return ops.matmul(
            ops.one_hot(
                ops.cast(segment_ids, "int32"), self.type_vocab_size, dtype=self.compute_dtype
            ),
            self.segment_embeddings,
        )

    def _add_segments_and_positions(self, tokens, segment_ids, training):
        seq_len = ops.shape(tokens)[1]
        segments = self._segments(segment_ids)
        positions = ops.slice(
            ops.convert_to_tensor(self.position_embeddings), (0, 0), (seq_len, self.hidden_size)
        )
        x = tokens + segments + positions[None]
        x = self.layer_norm(x)
        return self.dropout(ops.cast(x, self.compute_dtype), training=training)

    def token_logits(self, x):
        """`x @ token_embeddings^T`: `[..., hidden]` to `[..., vocab_size]` scores against every
        token row (the tied MLM output projection), in `x`'s dtype; float32 for an int8
        table, where the matmul takes the int8 rows cast as they are and divides each row's
        score by its scale after (the same as dequantizing the table first, with `vocab_size`
        divisions per example instead of `vocab_size x hidden_size`).

        Example:

        ```python
        import numpy as np
        layer = BertEmbeddings(vocab_size=100, hidden_size=16)
        layer.build()
        layer.token_logits(np.ones((2, 16), "float32")).shape  # (2, 100)
        ```
        """
        if self.quantization_mode == "int8":
            logits = ops.matmul(x, ops.transpose(ops.cast(self.token_embeddings, x.dtype)))
            return ops.divide(ops.cast(logits, "float32"),
                              ops.cast(self.token_embeddings_scale, "float32"))
        return scores_against_rows(x, ops.cast(self.token_embeddings, x.dtype))

    # --- int8: Keras' quantization hooks (as keras.layers.Embedding's) ----------------------
    def quantize(self, mode=None, type_check=True, config=None):
        """Stores the token table as int8 with a float32 scale per row (`mode="int8"` only;
        see the module docstring). Keras' `Layer` wrapper checks that the layer is built and
        not yet quantized; `config` may give a `weight_quantizer` (default
        `keras.quantizers.AbsMaxQuantizer(axis=-1)`, as Keras' `Embedding`)."""
        if type_check and type(self) is not BertEmbeddings:
            raise NotImplementedError(f"{type(self).__name__} does not define quantize().")
        _check_int8(mode)
        quantizer = getattr(config, "weight_quantizer", None) or \
            keras.quantizers.AbsMaxQuantizer(axis=-1)
        values, scale = quantizer(self.token_embeddings, to_numpy=True)
        remove_variable(self, "token_embeddings")
        self.quantized_build(None, mode)
        self.token_embeddings.assign(values)
        self.token_embeddings_scale.assign(ops.squeeze(scale, axis=-1))
        if self.dtype_policy.quantization_mode is None:
            self.dtype_policy = keras.dtype_policies.get(f"{mode}_from_{self.dtype_policy.name}")

    def quantized_build(self, input_shape, mode, config=None):
        _check_int8(mode)
        self.token_embeddings = self.add_weight(
            name="token_embeddings", shape=(self.vocab_size, self.hidden_size),
            initializer="zeros", dtype="int8", trainable=False)
        self.token_embeddings_scale = self.add_weight(
            name="token_embeddings_scale", shape=(self.vocab_size,), initializer="ones",
            trainable=False)
        mark_quantized(self)

    def int8_call(self, token_ids, segment_ids, training=None):
        ids = ops.cast(token_ids, "int32")
        rows = ops.cast(ops.take(self.token_embeddings, ids, axis=0), self.compute_dtype)
        scale = ops.take(self.token_embeddings_scale, ids, axis=0)
        tokens = ops.divide(rows, ops.expand_dims(ops.cast(scale, self.compute_dtype), -1))
        return self._add_segments_and_positions(tokens, segment_ids, training)

    def save_own_variables(self, store):
        if not self.quantization_mode:
            return super().save_own_variables(store)
        for i, name in enumerate(_INT8_VARIABLES):
            store[str(i)] = getattr(self, name)

    def load_own_variables(self, store):
        if not self.quantization_mode:
            return super().load_own_variables(store)
        if len(store.keys()) != len(_INT8_VARIABLES):
            raise ValueError(
                f"Layer {self.name!r} is int8-quantized: it loads {len(_INT8_VARIABLES)} "
                f"variables {list(_INT8_VARIABLES)}, but the saved layer holds "
                f"{len(store.keys())}. Load float weights before quantize(), and a quantized "
                f"model's weights into a model quantized the same way.")
        for i, name in enumerate(_INT8_VARIABLES):
            getattr(self, name).assign(store[str(i)])

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            max_position_embeddings=self.max_position_embeddings,
            type_vocab_size=self.type_vocab_size,
            dropout=self.dropout_rate,
            initializer_range=self.initializer_range,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
