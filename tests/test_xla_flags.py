"""`xla_flags`: the GPU flags are appended to `XLA_FLAGS` once, a flag the user already set is
kept, and importing the package sets them before anything compiles."""

import os
import subprocess
import sys
import textwrap

from keras_bert_impl.xla_flags import GPU_FLAGS, add_gpu_flags

OURS = "--xla_gpu_enable_triton_gemm=false"


def test_flags_are_added_once_after_the_users_own():
    assert GPU_FLAGS == {"xla_gpu_enable_triton_gemm": "false"}
    environ = {}
    assert add_gpu_flags(environ) == [OURS] and environ == {"XLA_FLAGS": OURS}
    assert add_gpu_flags(environ) == [] and environ == {"XLA_FLAGS": OURS}
    environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/hlo"}
    add_gpu_flags(environ)
    assert environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/hlo {OURS}"


def test_a_flag_the_user_set_is_kept():
    for theirs in ("--xla_gpu_enable_triton_gemm=true", "-xla_gpu_enable_triton_gemm=1"):
        environ = {"XLA_FLAGS": theirs}
        assert add_gpu_flags(environ) == [] and environ["XLA_FLAGS"] == theirs


def test_importing_the_package_sets_the_flags_and_xla_accepts_them():
    """In a fresh process: the import sets `XLA_FLAGS`, and the backend's XLA compiles with
    it (an unknown flag would abort the process)."""
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    code = textwrap.dedent("""
        import os, keras_bert_impl, keras, numpy as np
        print(os.environ["XLA_FLAGS"])
        if keras.backend.backend() == "jax":
            import jax
            matmul = jax.jit(keras.ops.matmul)
        else:
            import tensorflow as tf
            matmul = tf.function(tf.matmul, jit_compile=True)
        ones = np.ones((4, 4), "float32")
        print(float(np.asarray(matmul(ones, ones))[0, 0]))
    """)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [OURS, "4.0"]
