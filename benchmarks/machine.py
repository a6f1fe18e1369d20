"""The machine a benchmark run measured: its description and its own matmul ceiling.

`describe()` returns the CPU model, the cores this process may use, the /proc/cpuinfo flags
that decide the matmul kernels (`avx2`, `avx512f`, `avx512_bf16`, `amx_bf16`, `amx_tile`), the
GPU JAX or torch sees (asked in a child process, so that neither is imported next to
TensorFlow here), Python and the package versions, and `slug`: the file name of the run's
results, e.g. `amd-epyc-avx512-2c` or `nvidia-h100-80gb-hbm3-16c`; and whether TensorFlow's
oneDNN kernels are on.

`ceiling()` measures the machine's dense matmul rate in the same run as the benchmarks: the
best of an n x n @ n x n `tf.matmul` and BERT-base's two feed-forward shapes on the CPU in
float32 (and bfloat16 when the flags include `avx512_bf16` or `amx_bf16`, the CPUs with native
bf16 dot products), best of a few calls each, in GFLOP/s. Model-FLOPs utilisation (MFU) in
the report is a benchmark's model FLOP/s over it.

    python benchmarks/machine.py [--matmul 2048]
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
PACKAGES = ("keras-bert-impl", "tensorflow", "tensorflow-text", "keras", "keras-hub", "numpy",
            "jax", "torch", "tokenizers", "transformers", "onnxruntime", "tf2onnx")
_GPU_PROBE = """
import importlib.util
if importlib.util.find_spec("jax"):
    try:
        import jax
        print(next(d.device_kind for d in jax.devices() if d.platform == "gpu"))
        raise SystemExit
    except (StopIteration, RuntimeError):
        pass
if importlib.util.find_spec("torch"):
    import torch
    if torch.cuda.is_available():
        print(torch.cuda.get_device_name(0))
"""


def parse_cpuinfo(text):
    """`(model name, {flag: bool})` of /proc/cpuinfo text (its first processor)."""
    model, flags = "unknown", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip() or "unknown"
        elif key == "flags" and not flags:
            flags = set(value.split())
    return model, {flag: flag in flags for flag in FLAGS}


def vector_tier(flags):
    """The widest matrix or vector instructions among the CPU `flags` (`{flag: bool}`): `amx`,
    `avx512`, `avx2`, or None. Machines sold under one name (a virtual "AMD EPYC") come with
    either, and the matmul kernels, and so every ratio, differ between them."""
    for tier, flag in (("amx", "amx_tile"), ("avx512", "avx512f"), ("avx2", "avx2")):
        if flags.get(flag):
            return tier
    return None


def slug(name, cores, tier=None):
    """A short file-name slug of a CPU or GPU name, a CPU's `vector_tier` and the core count.

    Trademarks, "CPU", "Processor", "@ clock" and "n-Core" are dropped:
    `"Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz", 2, "amx"` ->
    `"intel-xeon-platinum-8481c-amx-2c"`.
    """
    name = re.sub(r"\((R|TM|C)\)", " ", name, flags=re.IGNORECASE)
    name = re.sub(r"@.*$", " ", name)
    name = re.sub(r"\b(CPU|Processor|\d+-Core)\b", " ", name, flags=re.IGNORECASE)
    words = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unknown"
    return f"{words}-{tier}-{cores}c" if tier else f"{words}-{cores}c"


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN kernels in this process (None without TensorFlow).
    TensorFlow turns them on by itself only on CPUs with AVX-512 VNNI/BF16 or AMX; elsewhere
    `TF_ENABLE_ONEDNN_OPTS=1` does (AVX2-only EPYC, `bert_tiny` forward HF / ours 0.62 -> 0.72,
    2026-11-28)."""
    import importlib.util

    if importlib.util.find_spec("tensorflow") is None:
        return None
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def gpu_name(timeout=120):
    """The first GPU JAX (or else torch) sees, or None; asked in a child process."""
    try:
        probe = subprocess.run([sys.executable, "-c", _GPU_PROBE], capture_output=True,
                               text=True, timeout=timeout,
                               env=dict(os.environ, JAX_PLATFORMS="", TF_CPP_MIN_LOG_LEVEL="3"))
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = probe.stdout.strip().splitlines()
    return lines[-1].strip() if lines and lines[-1].strip() else None


def versions(names=PACKAGES):
    """`{distribution: version or None}` of the installed distributions `names`."""
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def cores():
    """The CPU cores this process may run on (its affinity; `os.cpu_count()` elsewhere)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def describe(cpuinfo=None, gpu=False, core_count=None, packages=PACKAGES, onednn=False):
    """The machine as a dict. `cpuinfo`: /proc/cpuinfo's text (read when None); `gpu`: a GPU
    name, None for none, or False to ask JAX/torch; `core_count`: `cores()` when None;
    `onednn`: whether TensorFlow's oneDNN kernels are on, or False to ask TensorFlow."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = f"model name : {platform.processor() or 'unknown'}"
    model, flags = parse_cpuinfo(cpuinfo)
    core_count = cores() if core_count is None else core_count
    gpu = gpu_name() if gpu is False else gpu
    return {
        "slug": slug(gpu, core_count) if gpu else slug(model, core_count, vector_tier(flags)),
        "cpu": model,
        "cores": core_count,
        "flags": flags,
        "onednn": onednn_enabled() if onednn is False else onednn,
        "gpu": gpu,
        "python": platform.python_version(),
        "versions": versions(packages) if packages else {},
    }


def matmul_gflops(n, dtype, calls=5, shape=None):
    """Dense GFLOP/s of an `m x k @ k x n` `tf.matmul` on the CPU (best of `calls`); `shape`
    is `(m, k, n)`, `(n, n, n)` when None."""
    import tensorflow as tf

    m, k, n = shape or (n, n, n)
    with tf.device("/CPU:0"):
        a = tf.random.normal((m, k), dtype=tf.float32, seed=0)
        b = tf.random.normal((k, n), dtype=tf.float32, seed=1)
        a, b = tf.cast(a, dtype), tf.cast(b, dtype)
        matmul = tf.function(tf.matmul)
        matmul(a, b).numpy()  # trace and warm the thread pool
        best = float("inf")
        for _ in range(calls):
            start = time.perf_counter()
            matmul(a, b).numpy()
            best = min(best, time.perf_counter() - start)
    return 2 * m * k * n / best / 1e9


# BERT-base's feed-forward matmuls over 1,024 rows (batch 8 x 128): TensorFlow's CPU kernels
# run them faster than a square one (AVX2 EPYC, no oneDNN: 149 and 160 against 131 GFLOP/s
# at 2048^3), and a ceiling below what the model reaches reads as over 100% MFU.
MODEL_SHAPES = ((1024, 768, 3072), (1024, 3072, 768))


def ceiling(machine, n=2048, calls=5):
    """`{"float32": GFLOP/s[, "bfloat16": GFLOP/s], "matmul": n, "shapes": [...]}` measured
    now: the best of an `n^3` matmul and BERT-base's feed-forward shapes (`MODEL_SHAPES`)."""
    shapes = [(n, n, n), *MODEL_SHAPES]
    dtypes = ["float32"] + (["bfloat16"] if any(machine["flags"].get(flag)
                                                 for flag in BF16_FLAGS) else [])
    found = {"matmul": n, "shapes": ["x".join(map(str, shape)) for shape in shapes]}
    for dtype in dtypes:
        found[dtype] = max(matmul_gflops(n, dtype, calls, shape) for shape in shapes)
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matmul", type=int, default=2048, help="matmul size n")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    machine = describe()
    print(json.dumps(machine, indent=2))
    print(json.dumps(ceiling(machine, args.matmul), indent=2))


if __name__ == "__main__":
    main()
