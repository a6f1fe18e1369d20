"""`LayerNorm`: Keras' `LayerNormalization` over the last axis, computed in fewer passes.

Same weights (`gamma`, `beta`), config and checkpoints as `keras.layers.LayerNormalization`;
only `call` differs. Keras normalizes as `x * inv + (beta - mean * inv)` with `inv = rsqrt(var +
epsilon) * gamma`: seven passes over the activations besides the two reductions, eleven ops.
`LayerNorm` writes `(x - mean) * rsqrt(var + epsilon) * gamma + beta`: five passes, nine ops.
Under XLA both fuse; TensorFlow's graph executor runs each op on its own, and on a CPU the
LayerNorms were the largest cost after the matmuls in the `bert_tiny` forward.
"""

import keras
from keras import ops


def standardize(x, epsilon):
    """`(x - mean) / sqrt(var + epsilon)` over the last axis: the rule `LayerNorm` applies
    before its scale and offset."""
    centered = x - ops.mean(x, axis=-1, keepdims=True)
    return centered * ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)


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
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        gamma, beta = ops.cast(self.gamma, x.dtype), ops.cast(self.beta, x.dtype)
        outputs = standardize(x, self.epsilon) * gamma + beta
        return ops.cast(outputs, self.compute_dtype)
