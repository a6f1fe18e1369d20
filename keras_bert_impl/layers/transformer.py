"""`TransformerEncoderBlock`: BERT's post-LayerNorm Transformer block.

    x = LayerNorm(x + Dropout(Attention(x)))
    x = LayerNorm(x + Dropout(Dense(GELU(Dense(x)))))

Query, key and value come from one fused `[hidden, 3 * hidden]` projection (one matmul instead
of three; converters split/concatenate the reference's separate kernels). At inference (or with
`attention_dropout=0`) attention runs through `keras.ops.dot_product_attention` where that op
is a fused kernel (JAX, PyTorch; `keras_bert_impl.layers.execution.has_fused_attention`). On
TensorFlow it is two einsums, each transposing its operands, and separate scale and bias
passes over the logits; there the block transposes the fused projection once to `[3, batch,
heads, seq, head_size]` and takes two batched matmuls, the first fused with its scale and bias
add by TensorFlow's graph optimizer (the attention with its projection on 2 CPU cores, batch 8
x 128, `benchmarks/attention_forms.py`: 1.23x Keras' op at `bert_tiny` sizes, 1.10x at
`bert_base`'s; in bfloat16 1.02x and 1.28x). That op has no dropout on the attention
probabilities, so while training with `attention_dropout > 0` (the reference recipe) the block
computes the attention as einsums, softmax in float32, then dropout (on TensorFlow the
heads-first form trains no faster: 0.98-1.00x); under JAX on an NVIDIA GPU it runs its own
Pallas kernels instead (`pallas_attention`: the same numbers and mask, the BERT-base train
step 1.14x on an H100). All forms compute the same function.

Between the attention's per-head reshapes the block works on rows of tokens, `[batch * seq_len,
hidden]`: its projections are 2-D matmuls, which TensorFlow's graph optimizer fuses with their
bias add and, at inference, with the exact GELU (one oneDNN kernel each on a CPU); Keras' 3-D
`Dense` goes through a tensordot that leaves the bias add, and the GELU's `Erf` and its four
elementwise passes, as separate ops (`bert_base` forward on 2 cores: 0.96x -> 1.16x Hugging Face
PyTorch). Under XLA (JAX) the reshapes are free.

With `query_positions` the block computes its output at those rows only (what a task
model's heads read of the last block: `BertEncoder.last_block_at`): the fused projection of
every row (keys and values need them all), the queries taken at the positions (`rows_at`, a
one-hot matmul), then the einsum attention of those queries over every key, and the attention
output, feed-forward and LayerNorms on `count` rows. Its values are the whole block's at those
rows, up to float rounding; while training its dropout masks are drawn for the smaller
tensors (the same rates).

LoRA (`enable_lora`): every projection is a `LoraDense`, so any of them can carry low-rank
adapters: `"attention_output"`, `"intermediate"` and `"output"` on the whole kernel (Keras' own
`Dense.enable_lora`), `"query"`, `"key"` and `"value"` each on its third of the fused qkv kernel
(separate `A`/`B` per projection, as peft gives Hugging Face's separate ones). The rest of the
block is frozen; the settings are part of the config, so a `.keras` round trip keeps them.
"""

import math

import keras
from keras import ops

from keras_bert_impl.layers.dropout import Dropout, drop_steps
from keras_bert_impl.layers.execution import has_fused_attention, runs_pallas_kernels
from keras_bert_impl.layers.initializers import bert_initializer
from keras_bert_impl.layers.lora import LoraDense
from keras_bert_impl.layers.normalization import inner_layer_norm


def normal_cdf(x):
    """The standard normal CDF `Phi(x) = (1 + erf(x / sqrt(2))) / 2`, GELU's gate.

    Example:

    ```python
    import numpy as np
    round(float(normal_cdf(np.array(1.0, "float32"))), 4)  # 0.8413
    ```
    """
    return 0.5 * (1.0 + ops.erf(x * ops.cast(1.0 / math.sqrt(2.0), x.dtype)))


def normal_pdf(x):
    """The standard normal density `phi(x) = exp(-x^2 / 2) / sqrt(2 pi)`, the derivative of
    `normal_cdf` (GELU's gradient is `Phi(x) + x * phi(x)`).

    Example:

    ```python
    import numpy as np
    round(float(normal_pdf(np.array(0.0, "float32"))), 4)  # 0.3989
    ```
    """
    return ops.exp(ops.square(x) * ops.cast(-0.5, x.dtype)) * ops.cast(
        1.0 / math.sqrt(2.0 * math.pi), x.dtype)


def gelu_with_cdf(cdf):
    """GELU `x * cdf(x)` for a function `cdf` computing the normal CDF `Phi`, differentiated
    as `Phi(x) + x * phi(x)` from the `Phi(x)` the forward pass already holds.

    Example:

    ```python
    import numpy as np
    from keras import ops
    gelu = gelu_with_cdf(lambda x: 0.5 * ops.erfc(-x / np.sqrt(2.0)))  # Keras' form
    round(float(gelu(np.array(1.0, "float32"))), 4)  # 0.8413
    ```
    """

    @ops.custom_gradient
    def gelu(x):
        phi = cdf(x)

        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return upstream * (phi + x * normal_pdf(x))

        return x * phi, gradient

    return gelu


_erf_gelu = gelu_with_cdf(normal_cdf)


def exact_gelu(x):
    """`x * Phi(x)`, GELU in its exact erf form, with its derivative written out.

    The value is `0.5 * x * (1 + erf(x / sqrt(2)))`, Hugging Face's (and PyTorch's) form;
    Keras' `gelu(x, approximate=False)` computes the same function through `erfc`, which costs
    more than `erf` (TensorFlow on a CPU: 11.3-11.9 -> 8.9-9.1 ms for one BERT-base FFN activation,
    forward and backward, at batch 8 x 128) and differs from it by float32 rounding (under 1e-6,
    tails included). The gradient is `Phi(x) + x * phi(x)` from the `Phi(x)` the forward pass
    already holds: differentiating op by op takes about twice the elementwise passes over
    BERT's widest activation (`[tokens, intermediate]`), 3-5% of a BERT-base train step on a
    CPU (measured with the padding-mask change beside it: 3.2%).

    Example:

    ```python
    import numpy as np
    round(float(exact_gelu(np.array(1.0, "float32"))), 4)  # 0.8413
    ```
    """
    return _erf_gelu(x)


ACTIVATIONS = {
    "gelu": exact_gelu,
    "gelu_approximate": lambda x: keras.activations.gelu(x, approximate=True),
}


# The projections LoRA can target: query/key/value are the thirds of the fused qkv kernel.
LORA_TARGETS = ("query", "key", "value", "attention_output", "intermediate", "output")
DEFAULT_LORA_TARGETS = ("query", "value")  # the LoRA paper's and peft's choice for BERT
_QKV = ("query", "key", "value")


def lora_settings(rank, targets=DEFAULT_LORA_TARGETS, alpha=None):
    """Checks LoRA settings; returns them as stored in configs: `{"rank", "targets", "alpha"}`
    with `targets` in `LORA_TARGETS` order and `alpha` defaulting to `rank`.

    Example:

    ```python
    lora_settings(4, "value,query")  # {'rank': 4, 'targets': ['query', 'value'], 'alpha': 4}
    ```
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"LoRA rank must be a positive integer (4 or 8 are usual), got {rank!r}.")
    if isinstance(targets, str):
        targets = [t.strip() for t in targets.split(",") if t.strip()]
    targets = list(targets)
    unknown = [t for t in targets if t not in LORA_TARGETS]
    if unknown or not targets:
        raise ValueError(f"Unknown LoRA target(s) {unknown or targets!r}; choose one or more of "
                         f"{list(LORA_TARGETS)} (default {list(DEFAULT_LORA_TARGETS)}).")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))
                              or alpha <= 0):
        raise ValueError(f"LoRA alpha must be a positive number (default: the rank), got "
                         f"{alpha!r}.")
    return {"rank": rank, "targets": [t for t in LORA_TARGETS if t in targets],
            "alpha": rank if alpha is None else alpha}


def attention_bias(padding_mask):
    """The additive attention bias `[batch, 1, 1, seq_len]` of a `[batch, seq_len]` padding
    mask: 0 at real keys, -10,000 (Google BERT's value, finite in every float type) at padding,
    so every query row sees the same real keys. Added to the logits it is one pass, where a
    boolean mask costs three on TensorFlow (a mask as large as the logits, then a select).

    Example:

    ```python
    import numpy as np
    np.asarray(attention_bias(np.array([[1, 1, 0]]))).tolist()  # [[[[0.0, 0.0, -10000.0]]]]
    ```
    """
    return ops.where(ops.cast(padding_mask, "bool")[:, None, None, :], 0.0, -10000.0)


def rows_at(sequence, positions):
    """`sequence` `[batch, seq_len, width]` at `positions` `[batch, count]`: `[batch, count,
    width]`, as a one-hot matmul (a gather whose gradient is a matmul, not a scatter-add: DESIGN
    rule 6), in `sequence`'s dtype.

    Example:

    ```python
    import numpy as np
    sequence = np.arange(6, dtype="float32").reshape(1, 3, 2)
    np.asarray(rows_at(sequence, np.array([[2, 0]]))).tolist()  # [[[4.0, 5.0], [0.0, 1.0]]]
    ```
    """
    selector = ops.one_hot(ops.cast(positions, "int32"), ops.shape(sequence)[1],
                           dtype=sequence.dtype)
    return ops.matmul(selector, sequence)


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
        lora: `None`, or LoRA settings `{"rank", "targets", "alpha"}` applied when the block
            is built (see `enable_lora`; a loaded model gets its adapters back this way).

    Call arguments:
        x: float tensor `[batch, seq_len, hidden_size]`.
        padding_mask: bool/int tensor `[batch, seq_len]`, true at real tokens. Padding
            positions are never attended to.
        query_positions: optional int tensor `[batch, count]`: the block's output at those
            positions only, `[batch, count, hidden_size]`, each row attending to every token
            (see below). `None`: every position.

    Example:

    ```python
    import numpy as np
    block = TransformerEncoderBlock(hidden_size=16, num_heads=2, intermediate_size=64)
    y = block(np.zeros((1, 4, 16), "float32"), np.array([[1, 1, 1, 0]]))
    y.shape  # (1, 4, 16)
    block.enable_lora(2)  # adapters on query and value; the rest of the block is frozen
    len(block.trainable_weights)  # 4
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
        lora=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._lora = None if lora is None else lora_settings(**lora)
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

        def dense(units, name, num_slices=1, batched_input_gradient=False):
            return LoraDense(
                units,
                num_slices=num_slices,
                batched_input_gradient=batched_input_gradient,
                kernel_initializer=bert_initializer(initializer_range),
                dtype=self.dtype_policy,
                name=name,
            )

        def layer_norm(name):
            return inner_layer_norm(layer_norm_epsilon, self.compute_dtype, name)

        self.qkv_dense = dense(3 * hidden_size, "qkv", num_slices=3)
        self.attention_output_dense = dense(hidden_size, "attention_output")
        self.attention_dropout = Dropout(
            attention_dropout, dtype=self.dtype_policy, name="attention_probs_dropout"
        )
        self.attention_output_dropout = Dropout(
            dropout, dtype=self.dtype_policy, name="attention_output_dropout"
        )
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        # its input gradient contracts over the widest axis: see LoraDense
        self.intermediate_dense = dense(intermediate_size, "intermediate",
                                        batched_input_gradient=True)
        self.output_dense = dense(hidden_size, "output")
        self.output_dropout = Dropout(
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
        if self._lora is not None:
            settings, self._lora = self._lora, None
            self.enable_lora(**settings)

    # --- LoRA ---------------------------------------------------------------------------
    def _projections(self):
        return {"qkv": self.qkv_dense, "attention_output": self.attention_output_dense,
                "intermediate": self.intermediate_dense, "output": self.output_dense}

    def enable_lora(self, rank, targets=DEFAULT_LORA_TARGETS, alpha=None):
        """Adds rank-`rank` adapters (zero at first: outputs do not change) to the `targets`
        of `LORA_TARGETS`, scaled by `alpha / rank` (`alpha` defaults to `rank`), and freezes
        every other weight of the block (kernels, biases, LayerNorms). Call it on a built
        block, before `compile()`."""
        settings = lora_settings(rank, targets, alpha)
        if not self.built:
            raise ValueError("Cannot enable LoRA on a TransformerEncoderBlock that is not built "
                             "yet; call it (or build it) first, or pass lora= to the constructor.")
        if self._lora is not None:
            raise ValueError(f"LoRA is already enabled on {self.name!r} ({self._lora}); "
                             "merge_lora() first to start again.")
        chosen = settings["targets"]
        slices = [i for i, name in enumerate(_QKV) if name in chosen]
        for name, layer in self._projections().items():
            if name == "qkv" and slices:
                layer.enable_lora(rank, settings["alpha"], slices=slices)
            elif name in chosen:
                layer.enable_lora(rank, settings["alpha"])
            else:
                layer.trainable = False
        self.attention_layer_norm.trainable = False
        self.output_layer_norm.trainable = False
        self._lora = settings

    def lora_config(self):
        """The LoRA settings `{"rank", "targets", "alpha"}`, or `None` without LoRA."""
        if self._lora is None:
            return None
        return {"rank": self._lora["rank"], "targets": list(self._lora["targets"]),
                "alpha": self._lora["alpha"]}

    def lora_adapters(self):
        """`{target: (A, B)}`: the adapter variables of each target (`{}` without LoRA)."""
        if self._lora is None:
            return {}
        adapters = {_QKV[i]: (a, b) for i, a, b in self.qkv_dense.lora_adapters()}
        for name, layer in self._projections().items():
            if name != "qkv" and layer.lora_enabled:
                adapters[name] = layer.lora_adapters()[0][1:]
        return {t: adapters[t] for t in LORA_TARGETS if t in adapters}

    def merge_lora(self):
        """Folds the adapters into the kernels, removes them and makes the whole block
        trainable again (a plain block computing the same outputs)."""
        if self._lora is None:
            raise ValueError(f"{self.name!r} has no LoRA adapters to merge.")
        for layer in self._projections().values():
            if layer.lora_enabled:
                layer.merge_lora()
            layer.trainable = True
        self.attention_layer_norm.trainable = True
        self.output_layer_norm.trainable = True
        self._lora = None

    def _attention(self, rows, batch, seq_len, padding_mask, training):
        qkv = self.qkv_dense(rows)
        bias = attention_bias(padding_mask)
        dropout = training and self.attention_dropout_rate > 0
        if dropout and runs_pallas_kernels():
            context = self._pallas_attention(qkv, batch, seq_len, bias)
            if context is not None:
                return context
        if not dropout and not has_fused_attention():
            return self._heads_first_attention(qkv, batch, seq_len, bias)
        query, key, value = self._split_heads(qkv, batch, seq_len)
        if dropout:
            context = self._attention_with_dropout(query, key, value, bias, training)
        else:
            context = ops.dot_product_attention(query, key, value, bias=bias)
        return ops.reshape(context, (-1, self.hidden_size))

    def _pallas_attention(self, qkv, batch, seq_len, bias):
        """The training attention as Pallas kernels (`pallas_attention`), or `None` where they
        do not take the shape or the dropout rate (then the einsum form runs): the same
        numbers and dropout mask."""
        from keras_bert_impl.layers import pallas_attention

        steps = drop_steps(self.attention_dropout_rate)
        if steps is None or not pallas_attention.supports(seq_len, self.head_size, batch,
                                                          self.num_heads):
            return None
        return pallas_attention.attention_with_dropout(
            qkv, ops.reshape(bias, (batch, seq_len)), self.attention_dropout.seed_generator.next(),
            batch=batch, heads=self.num_heads, steps=steps)

    def _split_heads(self, qkv, batch, seq_len):
        # [batch, seq_len, heads, head_size] each. Split (whose gradient is a concat) rather
        # than slicing a 5-D reshape.
        heads_shape = (batch, seq_len, self.num_heads, self.head_size)
        return [ops.reshape(t, heads_shape) for t in ops.split(qkv, 3, axis=-1)]

    def _scaled(self, query):
        # Scale the queries ([.., t, h]) rather than the logits ([.., t, s]): fewer elements.
        return query * ops.cast(1.0 / (self.head_size**0.5), query.dtype)

    def _probabilities(self, logits, bias, training):
        probs = ops.softmax(ops.cast(logits, "float32") + bias, axis=-1)
        return self.attention_dropout(ops.cast(probs, self.compute_dtype), training=training)

    def _attention_with_dropout(self, query, key, value, bias, training):
        logits = ops.einsum("btnh,bsnh->bnts", self._scaled(query), key)
        probs = self._probabilities(logits, bias, training)
        return ops.einsum("bnts,bsnh->btnh", probs, value)

    def _heads_first_attention(self, qkv, batch, seq_len, bias, training=False):
        # One transpose takes the fused projection [tokens, 3 * hidden] to [3, batch, heads,
        # seq_len, head_size]; query, key and value are its three slices, and the attention
        # is two batched matmuls on them: TensorFlow fuses the first with its scale and bias
        # add (`_MklFusedBatchMatMulV2`), and nothing is transposed inside. `training` drops
        # attention probabilities as the einsum form does (the same mask for the same seed):
        # the GPU benchmark's `attn_heads_first` ablation measures it as the training form.
        qkv = ops.reshape(qkv, (batch, seq_len, 3, self.num_heads, self.head_size))
        query, key, value = ops.unstack(ops.transpose(qkv, (2, 0, 3, 1, 4)), 3, axis=0)
        logits = ops.matmul(self._scaled(query), ops.swapaxes(key, -1, -2))
        context = ops.matmul(self._probabilities(logits, bias, training), value)
        # context: [batch, heads, seq_len, head_size]
        return ops.reshape(ops.transpose(context, (0, 2, 1, 3)), (-1, self.hidden_size))

    def _attention_at(self, rows, batch, seq_len, padding_mask, query_positions, training):
        """The attention of the queries at `query_positions` `[batch, queries]` over every
        key, as rows `[batch * queries, hidden]`: the fused projection of every row (keys and
        values need them all), its query third taken at the positions."""
        query, key, value = self._split_heads(self.qkv_dense(rows), batch, seq_len)
        query = rows_at(ops.reshape(query, (batch, seq_len, self.hidden_size)), query_positions)
        queries = ops.shape(query_positions)[1]
        query = ops.reshape(query, (batch, queries, self.num_heads, self.head_size))
        context = self._attention_with_dropout(query, key, value, attention_bias(padding_mask),
                                               training)
        return ops.reshape(context, (-1, self.hidden_size))

    def call(self, x, padding_mask, query_positions=None, training=None):
        batch, seq_len = ops.shape(x)[0], ops.shape(x)[1]
        # The block works on rows of tokens, [batch * seq_len, hidden]: 2-D matmuls, which
        # TensorFlow fuses with their bias add (and GELU) on CPUs.
        rows = ops.reshape(x, (-1, self.hidden_size))
        if query_positions is None:
            context = self._attention(rows, batch, seq_len, padding_mask, training)
            length = seq_len
        else:
            context = self._attention_at(rows, batch, seq_len, padding_mask, query_positions,
                                         training)
            length = ops.shape(query_positions)[1]
            rows = ops.reshape(rows_at(x, query_positions), (-1, self.hidden_size))
        attention = self.attention_output_dropout(
            self.attention_output_dense(context), training=training
        )
        rows = ops.cast(self.attention_layer_norm(rows + attention), self.compute_dtype)
        ffn = self.output_dense(self.activation(self.intermediate_dense(rows)))
        ffn = self.output_dropout(ffn, training=training)
        rows = ops.cast(self.output_layer_norm(rows + ffn), self.compute_dtype)
        return ops.reshape(rows, (batch, length, self.hidden_size))

    def compute_output_shape(self, x_shape, padding_mask_shape=None, query_positions_shape=None):
        if query_positions_shape is None:
            return tuple(x_shape)
        return (x_shape[0], query_positions_shape[1], x_shape[2])

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
        if self._lora is not None:
            config["lora"] = self.lora_config()
        return config
