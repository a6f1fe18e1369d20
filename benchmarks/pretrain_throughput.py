"""Pretraining train-step throughput (issue 5): `BertPretrainer` MLM+NSP vs keras-hub, and MFU.

Two modes, chosen by the Keras backend:

* TensorFlow backend (default; the CPU comparison): sequences/s of one `train_on_batch` of our
  `BertPretrainer` (MLM + NSP, AdamW) and of keras-hub's `BertMaskedLM` (MLM only, a little
  less work than ours) with the same sizes, in the same run, for each precision
  (`float32`, `mixed_bfloat16`) x XLA (off, on); ratios are ours / keras-hub's (> 1: we are
  faster). Timing is `encoder_throughput.interleaved_best_seconds` (best of interleaved calls).

      python benchmarks/pretrain_throughput.py --preset bert_base --batch 8 --rounds 3

* JAX backend (the GPU path): our `BertPretrainer` in `mixed_bfloat16` (XLA, as every JAX train
  step is), default batch 128 at seq 128; prints sequences/s and model FLOPs utilisation against
  the dense bf16 peak measured in the same run by a large matmul (`--matmul 8192`):

      KERAS_BACKEND=jax python benchmarks/pretrain_throughput.py --preset bert_base

  Model FLOPs per step = 6 x matmul parameters x tokens (encoder layers and pooler at every
  token, the MLM head's transform and vocab projection only at the masked positions, as our
  head computes them) + attention 12 x layers x hidden x seq x tokens (QK^T and AV, forward and
  backward). The issue's cruder `6 x all params x tokens + attention` is printed too. On a CPU
  it runs as a smoke check of the code path (`--preset bert_tiny --batch 8 --steps 2
  --matmul 512`); its MFU is then against the CPU's matmul peak and means little.

`results(...)` measures, prints and returns `bench_common.result` records (the formula is
`bench_common.model_flops`), for `python -m benchmarks`, whose report gives the MFU of the
TensorFlow rows against the CPU matmul ceiling it measures in the same run.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import model_flops, result  # noqa: E402
from encoder_throughput import (  # noqa: E402
    interleaved_best_seconds,
    keras_hub_models,
    make_batch,
)

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer  # noqa: E402
from keras_bert_impl.optimizers import create_adamw  # noqa: E402


def _batch(config, batch, seq):
    predictions = max(1, round(0.15 * seq))
    x, positions, y = make_batch(config, batch, seq, predictions)
    return dict(x, mask_positions=positions), y, predictions


def _ours(config, jit):
    model = BertPretrainer(BertEncoder(config))
    model.compile(optimizer=create_adamw(1e-4), jit_compile=jit)
    return model


def compare_keras_hub(config, batch, seq, rounds, warmup):
    """{(precision, xla): (ours seq/s, keras-hub seq/s or None when keras-hub is missing)}
    for a train step on this backend."""
    x, y, _ = _batch(config, batch, seq)
    results = {}
    for precision in ("float32", "mixed_bfloat16"):
        for jit in (False, True):
            keras.config.set_dtype_policy(precision)
            ours = _ours(config, jit)
            contenders = {"ours": lambda: ours.train_on_batch(x, y)}
            _, masked_lm = keras_hub_models(config, jit_compile=jit)
            if masked_lm is not None:
                contenders["keras-hub"] = lambda: masked_lm.train_on_batch(
                    x, y["mask_ids"], sample_weight=y["mask_weights"]
                )
            start = time.perf_counter()
            best = interleaved_best_seconds(contenders, rounds, warmup=warmup)
            hub = batch / best["keras-hub"] if "keras-hub" in best else None
            results[precision, jit] = (batch / best["ours"], hub)
            a = results[precision, jit][0]
            shown = ("missing", "") if hub is None else (f"{hub:.2f}", f"{a / hub:.2f}x")
            print(f"{precision:<15} {'on' if jit else 'off':<4} {a:>11.2f} {shown[0]:>16} "
                  f"{shown[1]:>7}   ({time.perf_counter() - start:.0f} s incl. compile)",
                  flush=True)
            keras.backend.clear_session()
            keras.config.set_dtype_policy("float32")
    return results


def model_flops_per_step(model, config, batch, seq, predictions):
    """(exact matmul model FLOPs, the issue's 6*all-params*tokens + attention) per step."""
    tokens = batch * seq
    attention = 12 * config.num_layers * config.hidden_size * seq * tokens
    exact = model_flops(config, batch, seq, predictions, train=True)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return exact, 6 * params * tokens + attention, params


def measured_bf16_peak(n, rounds=5):
    """Dense bf16 FLOP/s of an n x n @ n x n matmul (JAX, jitted, best of `rounds`)."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.bfloat16)
    b = jax.random.normal(jax.random.PRNGKey(1), (n, n), jnp.bfloat16)
    matmul = jax.jit(lambda a, b: a @ b)
    matmul(a, b).block_until_ready()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(10):
            out = matmul(a, b)
        out.block_until_ready()
        best = min(best, (time.perf_counter() - start) / 10)
    return 2 * n**3 / best


def jax_mfu(config, batch, seq, steps, matmul):
    """Prints our bf16 train step's seq/s and MFU on JAX; returns (seq/s, FLOPs per seq)."""
    import jax

    keras.config.set_dtype_policy("mixed_bfloat16")
    model = _ours(config, True)
    x, y, predictions = _batch(config, batch, seq)
    seconds = interleaved_best_seconds({"ours": lambda: model.train_on_batch(x, y)}, steps)["ours"]
    exact, issue, params = model_flops_per_step(model, config, batch, seq, predictions)
    peak = measured_bf16_peak(matmul)
    print(f"device={jax.devices()[0].device_kind} batch={batch} seq={seq} params={params:,} "
          f"best of {steps} steps: {seconds * 1e3:.1f} ms = {batch / seconds:.1f} seq/s")
    print(f"measured dense bf16 peak ({matmul}^3 matmul): {peak / 1e12:.1f} TFLOP/s")
    print(f"MFU (matmul model FLOPs {exact / 1e12:.3f} TFLOP/step): "
          f"{exact / seconds / peak:.1%}")
    print(f"MFU (issue's 6*params*tokens + attention, {issue / 1e12:.3f} TFLOP/step): "
          f"{issue / seconds / peak:.1%}")
    keras.config.set_dtype_policy("float32")
    return batch / seconds, exact / batch, exact / seconds / peak


def results(preset="bert_base", batch=None, seq=128, rounds=None, warmup=2, matmul=8192):
    """Measures and prints the train step (see the module docstring); returns `result`
    records (sequences/s, peer keras-hub on TensorFlow, model FLOPs per sequence). `batch`
    and `rounds` default to 128 and 10 on JAX, 8 and 3 on TensorFlow."""
    jax_backend = keras.backend.backend() == "jax"
    batch = batch or (128 if jax_backend else 8)
    rounds = rounds or (10 if jax_backend else 3)
    config = BertConfig.from_preset(preset)
    predictions = max(1, round(0.15 * seq))
    flops = model_flops(config, 1, seq, predictions, train=True)
    print(f"backend={keras.backend.backend()} keras={keras.__version__} preset={preset} "
          f"batch={batch} seq={seq} rounds={rounds}, best of interleaved calls")
    if jax_backend:
        rate, flops, own_mfu = jax_mfu(config, batch, seq, rounds, matmul)
        return [result("train step (MLM+NSP)", f"{preset} batch={batch} seq={seq} "
                       "mixed_bfloat16 JAX XLA", rate, "seq/s", flops_per_item=flops,
                       dtype="bfloat16",
                       notes=f"MFU {own_mfu:.1%} of a JAX bf16 {matmul}^3 matmul")]
    print(f"{'precision':<15} {'xla':<4} {'ours seq/s':>11} {'keras-hub seq/s':>16} {'ratio':>7}")
    records = []
    for (precision, jit), (ours, hub) in compare_keras_hub(config, batch, seq, rounds,
                                                            warmup).items():
        records.append(result(
            "train step (MLM+NSP)", f"{preset} batch={batch} seq={seq} {precision} "
            f"XLA {'on' if jit else 'off'}", ours, "seq/s", {"keras-hub": hub},
            flops_per_item=flops, dtype="bfloat16" if "bfloat16" in precision else "float32",
            notes="" if hub is not None else "keras-hub not installed"))
    return records


def main():
    jax_backend = keras.backend.backend() == "jax"
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bert_base")
    parser.add_argument("--batch", type=int, default=128 if jax_backend else 8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", "--steps", dest="rounds", type=int,
                        default=10 if jax_backend else 3, help="timed (interleaved) rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls (compile) first")
    parser.add_argument("--matmul", type=int, default=8192, help="peak-FLOPs matmul size (jax)")
    args = parser.parse_args()
    results(args.preset, args.batch, args.seq, args.rounds, args.warmup, args.matmul)


if __name__ == "__main__":
    main()
