"""XLA flags that make our models faster on GPUs, set when `keras_bert_impl` is imported.

XLA reads the `XLA_FLAGS` environment variable once, when its first computation is compiled
(JAX's first jitted call, TensorFlow's first `jit_compile` function), so flags set at import
apply to every model of the process as long as nothing was compiled before the import.

- `--xla_gpu_enable_triton_gemm=false`: matmuls go to cuBLAS instead of XLA's Triton gemm
  fusions. On an H100 (JAX 0.11, BERT-base MLM+NSP train step, bf16, dropout 0.1) that is
  1.07-1.08x at seq 128 x batch 128 (3,797 -> 4,078 and 3,814 -> 4,126 sequences/s in two
  runs) and 1.03x at seq 512 x 32 (666 -> 686). Under XLA's default, the step's Triton
  `gemm_fusion_*` kernels are the attention's batched matmuls and the FFN's output
  projection (`benchmarks/results/gpu_train_step-nvidia-h100.md`). CPUs ignore GPU flags.

A flag that `XLA_FLAGS` already names is left as it is, so
`XLA_FLAGS=--xla_gpu_enable_triton_gemm=true` keeps XLA's default.

Example:

```python
environ = {"XLA_FLAGS": "--xla_dump_to=/tmp/hlo"}
add_gpu_flags(environ)  # ['--xla_gpu_enable_triton_gemm=false']
environ["XLA_FLAGS"]  # '--xla_dump_to=/tmp/hlo --xla_gpu_enable_triton_gemm=false'
add_gpu_flags(environ)  # []
```
"""

import os

GPU_FLAGS = {"xla_gpu_enable_triton_gemm": "false"}


def flag_name(flag):
    """`"xla_foo"` for `"--xla_foo=1"` (or `"-xla_foo"`)."""
    return flag.lstrip("-").split("=")[0]


def add_gpu_flags(environ=None):
    """Appends each of `GPU_FLAGS` that `environ["XLA_FLAGS"]` does not name yet (`environ`:
    `os.environ` by default); returns the flags it added."""
    environ = os.environ if environ is None else environ
    current = environ.get("XLA_FLAGS", "")
    named = {flag_name(flag) for flag in current.split()}
    added = [f"--{name}={value}" for name, value in GPU_FLAGS.items() if name not in named]
    if added:
        environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
    return added
