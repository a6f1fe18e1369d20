"""Shared pytest set-up: quiet TensorFlow, deterministic seeds, a clean dtype policy and Keras
state per test.

Garbage collection is left to Python: `keras.backend.clear_session()` by default also runs
`gc.collect()`, which took about 2 s per test once TensorFlow and a few models are in the
process (more than a third of the suite's time, measured with `--durations=0`). And the
objects alive after the imports are frozen out of the collector's generations, so that its
automatic full collections do not walk TensorFlow's and Keras' modules again and again.
"""

import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402

gc.collect()
gc.freeze()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(1234)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)
