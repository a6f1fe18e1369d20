"""The precision a training command runs in: a Keras dtype policy, set for the run only.

Example:

```python
import keras
with training_precision("mixed_bfloat16"):
    keras.config.dtype_policy().name  # 'mixed_bfloat16'
keras.config.dtype_policy().name  # 'float32' (as before)
```
"""

import contextlib

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def check_precision(precision):
    """`precision` if it is one of `PRECISIONS`, else a `ValueError` naming them."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {PRECISIONS}.")
    return precision


@contextlib.contextmanager
def training_precision(precision):
    """Sets Keras' global dtype policy to `precision` (one of `PRECISIONS`: mixed policies
    compute in 16 bits and keep variables, LayerNorm and softmax in float32; `mixed_float16`
    also scales the loss dynamically) while the context is open; the previous policy comes
    back afterwards, whatever happens.

    Example:

    ```python
    import keras
    with training_precision("mixed_float16"): policy = keras.config.dtype_policy().name
    policy  # 'mixed_float16'
    ```
    """
    import keras

    check_precision(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
