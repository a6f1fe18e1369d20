"""The one weight initializer BERT uses everywhere, and a way to skip it when loading.

Drawing truncated-normal values for `bert_base`'s 110M weights takes seconds, and a
checkpoint loader overwrites them right away: inside `weights_will_be_loaded()` the
initializer is `Zeros` (cheap), which loaders use only for weights they always overwrite.
"""

import contextlib
import contextvars

import keras

_SKIP_RANDOM_INIT = contextvars.ContextVar("skip_random_init", default=False)


def bert_initializer(stddev=0.02):
    """Truncated normal (cut at 2 stddev) with BERT's `initializer_range` as stddev."""
    if _SKIP_RANDOM_INIT.get():
        return keras.initializers.Zeros()
    return keras.initializers.TruncatedNormal(stddev=stddev)


@contextlib.contextmanager
def weights_will_be_loaded():
    """Layers built inside start at zeros instead of random values (to be overwritten).

    Example:

    ```python
    from keras_bert_impl import BertEncoder
    with weights_will_be_loaded():
        encoder = BertEncoder.from_preset("bert_tiny")  # all-zero weights, built fast
    ```
    """
    token = _SKIP_RANDOM_INIT.set(True)
    try:
        yield
    finally:
        _SKIP_RANDOM_INIT.reset(token)
