"""Heads on top of the encoder: `Pooler`, `MaskedLMHead`, `NextSentenceHead`."""

import keras
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.layers.normalization import inner_layer_norm
from keras_bert_impl.layers.transformer import get_activation, rows_at


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class Pooler(keras.layers.Layer):
    """BERT's pooler: the `[CLS]` vector through a dense layer and `tanh`.

    Example:

    ```python
    import numpy as np
    pooled = Pooler(hidden_size=16)(np.zeros((2, 5, 16), "float32"))
    pooled.shape  # (2, 16)
    ```
    """

    def __init__(self, hidden_size, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_size = hidden_size
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            hidden_size,
            activation="tanh",
            kernel_initializer=bert_initializer(initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, sequence_shape):
        self.dense.build((None, self.hidden_size))
        self.built = True

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0, :])

    def compute_output_shape(self, sequence_shape):
        return (sequence_shape[0], self.hidden_size)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_size=self.hidden_size, initializer_range=self.initializer_range)
        return config


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class MaskedLMHead(keras.layers.Layer):
    """Masked-LM logits at the masked positions, tied to the token embedding matrix.

    The sequence is first reduced to the `mask_positions` (a one-hot matmul: a gather whose
    gradient is a matmul, not a scatter), then `Dense -> activation -> LayerNorm`, then logits
    `x @ token_embeddings^T + bias`. The output projection *is* the embedding variable of
    `embeddings` (a `BertEmbeddings` layer), not a copy, read through
    `embeddings.token_logits`: after `quantize("int8")` the tied table is the int8 one, and
    the matmul divides by its row scales (the same logits as the dequantized table's). Logits
    are float32.

    Args:
        embeddings: the encoder's `BertEmbeddings` layer whose `token_embeddings` are tied.
        hidden_act: activation of the transform (`"gelu"` or `"gelu_approximate"`).
        initializer_range: stddev of the truncated normal initializer.
        layer_norm_epsilon: LayerNorm epsilon.

    Call arguments:
        sequence_output: `[batch, seq_len, hidden]`.
        mask_positions: int `[batch, num_predictions]`, positions to predict; `None` when
            `sequence_output` holds the rows to predict already (`[batch, num_predictions,
            hidden]`: the pretrainer's last block computes only those).

    Example:

    ```python
    import numpy as np
    from keras_bert_impl.layers import BertEmbeddings
    embeddings = BertEmbeddings(vocab_size=100, hidden_size=16)
    head = MaskedLMHead(embeddings)
    embeddings.build()
    logits = head(np.zeros((2, 8, 16), "float32"), np.array([[1, 3], [2, 0]]))
    logits.shape  # (2, 2, 100)
    ```
    """

    def __init__(
        self,
        embeddings,
        hidden_act="gelu",
        initializer_range=0.02,
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.embeddings = embeddings
        self.hidden_size = embeddings.hidden_size
        self.vocab_size = embeddings.vocab_size
        self.hidden_act = hidden_act
        self.activation = get_activation(hidden_act)
        self.initializer_range = initializer_range
        self.layer_norm_epsilon = layer_norm_epsilon
        self.transform = keras.layers.Dense(
            self.hidden_size,
            kernel_initializer=bert_initializer(initializer_range),
            dtype=self.dtype_policy,
            name="transform",
        )
        self.layer_norm = inner_layer_norm(layer_norm_epsilon, self.compute_dtype, "layer_norm")

    def build(self, sequence_output_shape=None, mask_positions_shape=None):
        if not self.embeddings.built:
            self.embeddings.build()
        self.transform.build((None, None, self.hidden_size))
        self.layer_norm.build((None, None, self.hidden_size))
        self.output_bias = self.add_weight(
            name="output_bias", shape=(self.vocab_size,), initializer="zeros"
        )
        self.built = True

    def call(self, sequence_output, mask_positions=None):
        x = ops.cast(sequence_output, self.compute_dtype)
        if mask_positions is not None:
            x = rows_at(x, mask_positions)
        # Rows of predictions, [batch * predictions, hidden]: 2-D matmuls (see the encoder block).
        rows = ops.reshape(x, (-1, self.hidden_size))
        rows = self.activation(self.transform(rows))
        rows = ops.cast(self.layer_norm(rows), self.compute_dtype)
        logits = self.embeddings.token_logits(rows)
        logits = ops.cast(logits, "float32") + ops.cast(self.output_bias, "float32")
        return ops.reshape(logits, ops.shape(x)[:2] + (self.vocab_size,))

    def compute_output_shape(self, sequence_output_shape, mask_positions_shape=None):
        predictions = sequence_output_shape if mask_positions_shape is None else (
            mask_positions_shape)
        return tuple(predictions[:2]) + (self.vocab_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            embeddings=keras.saving.serialize_keras_object(self.embeddings),
            hidden_act=self.hidden_act,
            initializer_range=self.initializer_range,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["embeddings"] = keras.saving.deserialize_keras_object(config["embeddings"])
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class NextSentenceHead(keras.layers.Layer):
    """Two-way next-sentence logits (0 = IsNext, 1 = NotNext) from the pooled output.

    Example:

    ```python
    import numpy as np
    logits = NextSentenceHead()(np.zeros((3, 16), "float32"))
    logits.shape  # (3, 2)
    ```
    """

    def __init__(self, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(
            2,
            kernel_initializer=bert_initializer(initializer_range),
            dtype=self.dtype_policy,
            name="dense",
        )

    def build(self, pooled_shape):
        self.dense.build(pooled_shape)
        self.built = True

    def call(self, pooled_output):
        return ops.cast(self.dense(pooled_output), "float32")

    def compute_output_shape(self, pooled_shape):
        return (pooled_shape[0], 2)

    def get_config(self):
        config = super().get_config()
        config.update(initializer_range=self.initializer_range)
        return config
