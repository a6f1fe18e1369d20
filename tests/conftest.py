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


def _threads_per_worker():
    """The cores of one pytest-xdist worker, `None` outside xdist: `-n auto` runs a worker per
    core, and a TensorFlow worker on every core's threads only contends with the others (one
    thread each: the TF stage of `make test` went from 883-969 s to 606 s on 2 cores, the JAX
    stage's tf.data from 257 s to 169 s; XLA's own threads measured no gain and are left)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // workers) if workers > 1 else None


_THREADS = _threads_per_worker()
if _THREADS:
    for _variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(_variable, str(_THREADS))

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
