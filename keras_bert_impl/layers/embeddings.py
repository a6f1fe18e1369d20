"""`BertEmbeddings`: token + segment + position embeddings, LayerNorm, dropout.

The token lookup is a gather (the vocabulary is large). The segment lookup is a one-hot
matmul: its table has 2 rows, and a gather's gradient would be a scatter-add whose colliding
writes are slow on accelerators (DESIGN rule 6; Google's original BERT does the same). Position
embeddings are a slice of the learned table, added by broadcasting (no lookup at all).
"""

import keras
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertEmbeddings(keras.layers.Layer):
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
    projection to it.

    Example:

    ```python
    import numpy as np
    layer = BertEmbeddings(vocab_size=100, hidden_size=16, max_position_embeddings=32)
    x = layer(np.array([[2, 5, 7, 3]]), np.array([[0, 0, 1, 1]]))
    x.shape  # (1, 4, 16)
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
        # LayerNorm always runs in float32 (mixed precision keeps its statistics exact).
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype="float32", name="layer_norm"
        )
        self.dropout = keras.layers.Dropout(dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, token_ids_shape=None, segment_ids_shape=None):
        init = bert_initializer(self.initializer_range)
        self.token_embeddings = self.add_weight(
            name="token_embeddings", shape=(self.vocab_size, self.hidden_size), initializer=init
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
        seq_len = ops.shape(token_ids)[1]
        tokens = ops.take(self.token_embeddings, ops.cast(token_ids, "int32"), axis=0)
        segments = ops.matmul(
            ops.one_hot(
                ops.cast(segment_ids, "int32"), self.type_vocab_size, dtype=self.compute_dtype
            ),
            self.segment_embeddings,
        )
        positions = ops.slice(
            ops.convert_to_tensor(self.position_embeddings), (0, 0), (seq_len, self.hidden_size)
        )
        x = tokens + segments + positions[None]
        x = self.layer_norm(x)
        return self.dropout(ops.cast(x, self.compute_dtype), training=training)

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
