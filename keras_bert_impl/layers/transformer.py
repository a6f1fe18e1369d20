"""`TransformerEncoderBlock`: BERT's post-LayerNorm Transformer block.

    x = LayerNorm(x + Dropout(Attention(x)))
    x = LayerNorm(x + Dropout(Dense(GELU(Dense(x)))))

Query, key and value come from one fused `[hidden, 3 * hidden]` projection (one matmul instead
of three; converters split/concatenate the reference's separate kernels). Attention runs through
`keras.ops.dot_product_attention`, which dispatches to each backend's fused kernel. That op has
no dropout on the attention probabilities, so while training with `attention_dropout > 0` (the
reference recipe) the block computes the same attention explicitly, softmax in float32, then
dropout; at inference, or with `attention_dropout=0`, the fused op is used.
"""

import keras
from keras import ops

from keras_bert_impl.layers.initializers import bert_initializer

ACTIVATIONS = {
    "gelu": lambda x: keras.activations.gelu(x, approximate=False),
    "gelu_approximate": lambda x: keras.activations.gelu(x, approximate=True),
}


def get_activation(name):
    if name not in ACTIVATIONS:
        raise ValueError(f"Unknown hidden_act {name!r}; allowed values are {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class TransformerEncoderBlock(keras.layers.Layer):
    """One post-LayerNorm BERT Transformer block.

    Args:
        hidden_size: model width.
        num_heads: attention heads; must divide `hidden_size`.
        intermediate_size: feed-forward width.
        hidden_act: `"gelu"` (exact erf) or `"gelu_approximate"` (tanh form).
        dropout: dropout on the attention output and the feed-forward output.
        attention_dropout: dropout on attention probabilities (training only).
        initializer_range: stddev of the truncated normal initializer.
        layer_norm_epsilon: LayerNorm epsilon.

    Call arguments:
        x: float tensor `[batch, seq_len, hidden_size]`.
        padding_mask: bool/int tensor `[batch, seq_len]`, true at real tokens. Padding
            positions are never attended to.

    Example:

    ```python
    import numpy as np
    block = TransformerEncoderBlock(hidden_size=16, num_heads=2, intermediate_size=64)
    y = block(np.zeros((1, 4, 16), "float32"), np.array([[1, 1, 1, 0]]))
    y.shape  # (1, 4, 16)
    ```
    """

    def __init__(
        self,
        hidden_size,
        num_heads,
        intermediate_size,
        hidden_act="gelu",
        dropout=0.1,
        attention_dropout=0.1,
        initializer_range=0.02,
        layer_norm_epsilon=1e-12,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_size % num_heads:
            raise ValueError(
                f"hidden_size ({hidden_size}) must be divisible by num_heads ({num_heads})."
            )
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.head_size = hidden_size // num_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.activation = get_activation(hidden_act)
        self.dropout_rate = dropout
        self.attention_dropout_rate = attention_dropout
        self.initializer_range = initializer_range
        self.layer_norm_epsilon = layer_norm_epsilon

        def dense(units, name):
            return keras.layers.Dense(
                units,
                kernel_initializer=bert_initializer(initializer_range),
                dtype=self.dtype_policy,
                name=name,
            )

        def layer_norm(name):
            return keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon, dtype="float32", name=name
            )

        self.qkv_dense = dense(3 * hidden_size, "qkv")
        self.attention_output_dense = dense(hidden_size, "attention_output")
        self.attention_dropout = keras.layers.Dropout(
            attention_dropout, dtype=self.dtype_policy, name="attention_probs_dropout"
        )
        self.attention_output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="attention_output_dropout"
        )
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.intermediate_dense = dense(intermediate_size, "intermediate")
        self.output_dense = dense(hidden_size, "output")
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="output_dropout"
        )
        self.output_layer_norm = layer_norm("output_layer_norm")

    def build(self, x_shape, padding_mask_shape=None):
        h = (None, None, self.hidden_size)
        self.qkv_dense.build(h)
        self.attention_output_dense.build(h)
        self.attention_layer_norm.build(h)
        self.intermediate_dense.build(h)
        self.output_dense.build((None, None, self.intermediate_size))
        self.output_layer_norm.build(h)
        self.built = True

    def _attention(self, x, padding_mask, training):
        batch, seq_len = ops.shape(x)[0], ops.shape(x)[1]
        heads_shape = (batch, seq_len, self.num_heads, self.head_size)
        # Split (whose gradient is a concat) rather than slicing a 5-D reshape.
        query, key, value = (
            ops.reshape(t, heads_shape) for t in ops.split(self.qkv_dense(x), 3, axis=-1)
        )
        # [batch, 1, 1, seq_len]: every query row sees the same real keys.
        mask = ops.cast(padding_mask, "bool")[:, None, None, :]
        if training and self.attention_dropout_rate > 0:
            return self._attention_with_dropout(query, key, value, mask, training)
        return ops.dot_product_attention(query, key, value, mask=mask)

    def _attention_with_dropout(self, query, key, value, mask, training):
        # Scale the queries ([b, t, n, h]) rather than the logits ([b, n, t, s]): fewer elements.
        query = query * ops.cast(1.0 / (self.head_size**0.5), query.dtype)
        logits = ops.cast(ops.einsum("btnh,bsnh->bnts", query, key), "float32")
        logits = ops.where(mask, logits, ops.cast(-1e9, "float32"))
        probs = ops.cast(ops.softmax(logits, axis=-1), self.compute_dtype)
        probs = self.attention_dropout(probs, training=training)
        return ops.einsum("bnts,bsnh->btnh", probs, value)

    def call(self, x, padding_mask, training=None):
        batch, seq_len = ops.shape(x)[0], ops.shape(x)[1]
        context = self._attention(x, padding_mask, training)
        context = ops.reshape(context, (batch, seq_len, self.hidden_size))
        attention = self.attention_output_dropout(
            self.attention_output_dense(context), training=training
        )
        x = ops.cast(self.attention_layer_norm(x + attention), self.compute_dtype)
        ffn = self.output_dense(self.activation(self.intermediate_dense(x)))
        ffn = self.output_dropout(ffn, training=training)
        return ops.cast(self.output_layer_norm(x + ffn), self.compute_dtype)

    def compute_output_shape(self, x_shape, padding_mask_shape=None):
        return tuple(x_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_size=self.hidden_size,
            num_heads=self.num_heads,
            intermediate_size=self.intermediate_size,
            hidden_act=self.hidden_act,
            dropout=self.dropout_rate,
            attention_dropout=self.attention_dropout_rate,
            initializer_range=self.initializer_range,
            layer_norm_epsilon=self.layer_norm_epsilon,
        )
        return config
