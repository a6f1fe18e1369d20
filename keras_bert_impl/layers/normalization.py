"""`LayerNorm`: Keras' `LayerNormalization` over the last axis, computed in fewer passes.

Same weights (`gamma`, `beta`), config and checkpoints as `keras.layers.LayerNormalization`;
only `call` differs. Keras normalizes as `x * inv + (beta - mean * inv)` with `inv = rsqrt(var +
epsilon) * gamma`: seven passes over the activations besides the two reductions, eleven ops.
`LayerNorm` writes `(x - mean) * rsqrt(var + epsilon) * gamma + beta`: five passes, nine ops.
Under XLA both fuse; TensorFlow's graph executor runs each op on its own, and on a CPU the
LayerNorms were the largest cost after the matmuls in the `bert_tiny` forward.

Where operations run one by one (TensorFlow without XLA, PyTorch: `execution.fuses_ops()` is
false) the gradient is written out too (`normalize_with_gradient`): differentiated op by op, the
forward ops take about eighteen backward ops, among them two `AddN` (the gradients reaching `x`
and `x - mean` along two paths each) and the `Tile`s of the means' gradients; the written-out
form takes eleven (four `[1024, 768]` LayerNorms forward and backward on 2 CPU cores: 12.1 ->
10.0 ms). Under XLA the autodiff form stays, which XLA fuses; on an NVIDIA GPU under JAX
(`execution.runs_pallas_kernels()`) the forward and the backward are one Pallas kernel each
(`pallas_layer_norm`: XLA makes two and four fusions of them; the BERT-base train step
1.02-1.07x on an H200 in four runs).

Inside a layer that computes in bfloat16 or float16 (the encoder block, the embeddings, the MLM
head under `mixed_bfloat16`), `inner_layer_norm` makes the LayerNorm: float32 `gamma` and `beta`
used as they are, statistics in float32, the output in the layer's dtype, rounded once. A
LayerNorm with the `float32` policy did the same arithmetic but wrote its output in float32,
which the layer then rounded: on a GPU an extra kernel after every LayerNorm, and another for
its gradient (24 each in a BERT-base train step: 1.2 of an H100's 27 ms).
"""

import keras
from keras import ops

from keras_bert_impl.layers.execution import fuses_ops, runs_pallas_kernels


def _standardized_and_inverse_std(x, epsilon):
    centered = x - ops.mean(x, axis=-1, keepdims=True)
    inverse_std = ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)
    return centered * inverse_std, inverse_std


def standardize(x, epsilon):
    """`(x - mean) / sqrt(var + epsilon)` over the last axis: the rule `LayerNorm` applies
    before its scale and offset."""
    return _standardized_and_inverse_std(x, epsilon)[0]


def normalize_with_gradient(x, gamma, beta, epsilon):
    """`standardize(x, epsilon) * gamma + beta` over the last axis, with its gradient written
    out: for the upstream gradient `dy` and `g = dy * gamma`, `dx = (g - mean(g) - x_hat *
    mean(g * x_hat)) / std`, `dgamma = sum(dy * x_hat)` and `dbeta = sum(dy)` over the
    leading axes, from the normalized `x_hat` and `1 / std` the forward pass holds.

    Example:

    ```python
    import numpy as np
    y = normalize_with_gradient(np.array([[1.0, 2.0, 3.0]], "float32"),
                                np.ones(3, "float32"), np.zeros(3, "float32"), 1e-12)
    np.round(np.asarray(y), 4).tolist()  # [[-1.2247, 0.0, 1.2247]]
    ```
    """

    @ops.custom_gradient
    def normalize(x, gamma, beta):
        normalized, inverse_std = _standardized_and_inverse_std(x, epsilon)

        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            leading = tuple(range(len(upstream.shape) - 1))
            scaled = upstream * gamma
            centered_gradient = scaled - ops.mean(scaled, axis=-1, keepdims=True)
            projection = ops.mean(scaled * normalized, axis=-1, keepdims=True)
            return (inverse_std * (centered_gradient - normalized * projection),
                    ops.sum(upstream * normalized, axis=leading), ops.sum(upstream, axis=leading))

        return normalized * gamma + beta, gradient

    return normalize(x, gamma, beta)


def inner_layer_norm(epsilon, compute_dtype, name):
    """The `LayerNorm` a layer computing in `compute_dtype` applies to its own activations:
    float32 weights, and with a bfloat16 or float16 `compute_dtype` the matching mixed policy
    without autocasting (the input is read as it comes, `gamma` and `beta` in float32, the
    statistics in float32) and the output in `compute_dtype`.

    Example:

    ```python
    import keras
    import numpy as np
    norm = inner_layer_norm(1e-12, "bfloat16", "layer_norm")
    y = norm(np.array([[1.0, 2.0, 3.0]], "float32"))
    keras.backend.standardize_dtype(y.dtype), norm.gamma.dtype  # ('bfloat16', 'float32')
    ```
    """
    policy = f"mixed_{compute_dtype}" if compute_dtype in ("bfloat16", "float16") else "float32"
    return LayerNorm(epsilon=epsilon, dtype=policy, autocast=False, name=name)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class LayerNorm(keras.layers.LayerNormalization):
    """Layer normalization over the last axis, with a learned scale and offset, computed in
    at least float32.

    Args: those of `keras.layers.LayerNormalization` (`epsilon`, initializers, ...), except
    `axis` (always the last), `center` and `scale` (always on) and `rms_scaling` (off).

    Example:

    ```python
    import numpy as np
    norm = LayerNorm(epsilon=1e-12)
    y = norm(np.array([[1.0, 2.0, 3.0]], "float32"))
    np.round(np.asarray(y), 4).tolist()  # [[-1.2247, 0.0, 1.2247]]
    ```
    """

    def __init__(self, epsilon=1e-12, **kwargs):
        fixed = {"axis": -1, "center": True, "scale": True, "rms_scaling": False}
        if kwargs.get("axis") in ([-1], (-1,)):  # a built layer's config lists its axis
            kwargs["axis"] = -1
        changed = {k: v for k, v in kwargs.items() if k in fixed and v != fixed[k]}
        if changed:
            raise ValueError(f"LayerNorm normalizes the last axis with a scale and an offset; "
                             f"got {changed}. Use keras.layers.LayerNormalization for others.")
        super().__init__(epsilon=epsilon, **{**kwargs, **fixed})

    def call(self, inputs):
        if runs_pallas_kernels():
            from keras_bert_impl.layers.pallas_layer_norm import layer_norm

            return layer_norm(inputs, ops.convert_to_tensor(self.gamma),
                              ops.convert_to_tensor(self.beta), self.epsilon, self.compute_dtype)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        gamma, beta = ops.cast(self.gamma, x.dtype), ops.cast(self.beta, x.dtype)
        if fuses_ops():
            outputs = standardize(x, self.epsilon) * gamma + beta
        else:
            outputs = normalize_with_gradient(x, gamma, beta, self.epsilon)
        return ops.cast(outputs, self.compute_dtype)
