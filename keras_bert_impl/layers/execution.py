"""How the Keras backend runs a layer's operations, the two facts our layers choose a
formulation by (one definition each, read at call time).

* `fuses_ops()`: JAX compiles every model call with XLA, which fuses elementwise operations
  into the kernels around them; TensorFlow's graph executor (without `jit_compile`) and
  PyTorch run each operation as a kernel of its own, so there every pass over an activation
  costs a read and a write of it, and fewer operations are faster.
* `has_fused_attention()`: whether `keras.ops.dot_product_attention` runs one fused kernel
  (JAX: XLA/cuDNN; PyTorch: `scaled_dot_product_attention`). TensorFlow's computes it with two
  einsums that transpose their operands, a scale and a bias pass over the logits, and a
  softmax; the block's own inference form is faster there (see `TransformerEncoderBlock`).
* `batches_input_gradients()`: TensorFlow, whose CPU kernels (oneDNN) compute a 2-D `MatMul`
  with `transpose_b` over a wide contraction more slowly than the same product as a one-batch
  `BatchMatMulV2` with `adj_y` (BERT-base's intermediate projection's input gradient, `[1024,
  3072] x [768, 3072]^T`: 27.7 vs 22.2 ms on 2 cores); `LoraDense(batched_input_gradient=True)`
  writes its input gradient that way there.
* `runs_pallas_kernels()`: JAX on one NVIDIA GPU (no `keras.distribution`), where
  `LayerNorm` (`pallas_layer_norm`) and the encoder block's training attention
  (`pallas_attention`) run their own Pallas (Triton) kernels instead of XLA's fusions of their
  `keras.ops` forms; `KERAS_BERT_PALLAS=0` turns them off.

Example:

```python
import keras
fuses_ops() == (keras.backend.backend() == "jax")  # True
```
"""

import os

import keras


def fuses_ops():
    """Whether the backend compiles a layer's operations together (XLA under JAX)."""
    return keras.backend.backend() == "jax"


def has_fused_attention():
    """Whether `keras.ops.dot_product_attention` is one fused kernel on the backend (all but
    TensorFlow)."""
    return keras.backend.backend() != "tensorflow"


def batches_input_gradients():
    """Whether a projection's input gradient is faster as a batched matmul with the kernel's
    adjoint than as the 2-D matmul autodiff makes (TensorFlow)."""
    return keras.backend.backend() == "tensorflow"


def runs_pallas_kernels():
    """Whether layers run their Pallas (Triton) kernels: the JAX backend with an NVIDIA GPU as
    its default device, no `keras.distribution` set (XLA cannot partition a kernel of its own
    across devices: it would gather the whole batch onto each), and the environment variable
    `KERAS_BERT_PALLAS` not `0` (the way back to XLA's fusions, should a JAX release or a GPU
    not build them)."""
    if (keras.backend.backend() != "jax" or keras.distribution.distribution() is not None
            or os.environ.get("KERAS_BERT_PALLAS", "1") == "0"):
        return False
    import jax

    return jax.default_backend() == "gpu" and jax.devices()[0].device_kind.startswith("NVIDIA")
