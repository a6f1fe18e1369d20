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
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
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
    """{(precision, xla): (ours seq/s, keras-hub seq/s)} for a train step on this backend."""
    x, y, _ = _batch(config, batch, seq)
    results = {}
    for precision in ("float32", "mixed_bfloat16"):
        for jit in (False, True):
            keras.config.set_dtype_policy(precision)
            ours = _ours(config, jit)
            _, masked_lm = keras_hub_models(config)
            masked_lm.compile(
                optimizer=create_adamw(1e-4),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()],
                jit_compile=jit,
            )
            start = time.perf_counter()
            best = interleaved_best_seconds(
                {
                    "ours": lambda: ours.train_on_batch(x, y),
                    "keras-hub": lambda: masked_lm.train_on_batch(
                        x, y["mask_ids"], sample_weight=y["mask_weights"]
                    ),
                },
                rounds,
                warmup=warmup,
            )
            results[precision, jit] = (batch / best["ours"], batch / best["keras-hub"])
            a, b = results[precision, jit]
            print(f"{precision:<15} {'on' if jit else 'off':<4} {a:>11.2f} {b:>16.2f} "
                  f"{a / b:>6.2f}x   ({time.perf_counter() - start:.0f} s incl. compile)",
                  flush=True)
            keras.backend.clear_session()
            keras.config.set_dtype_policy("float32")
    return results


def model_flops_per_step(model, config, batch, seq, predictions):
    """(exact matmul model FLOPs, the issue's 6*all-params*tokens + attention) per step."""
    tokens = batch * seq
    hidden, layers, vocab = config.hidden_size, config.num_layers, config.vocab_size
    per_layer = 4 * hidden * hidden + 2 * hidden * config.intermediate_size
    encoder_matmul = layers * per_layer + hidden * hidden  # + pooler (at [CLS]; counted at all)
    head_matmul = hidden * hidden + hidden * vocab  # MLM transform + projection, masked only
    attention = 12 * layers * hidden * seq * tokens
    exact = 6 * encoder_matmul * tokens + 6 * head_matmul * batch * predictions + attention
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
    config = BertConfig.from_preset(args.preset)
    print(f"backend={keras.backend.backend()} keras={keras.__version__} preset={args.preset} "
          f"batch={args.batch} seq={args.seq} rounds={args.rounds}, best of interleaved calls")
    if jax_backend:
        jax_mfu(config, args.batch, args.seq, args.rounds, args.matmul)
        return
    print(f"{'precision':<15} {'xla':<4} {'ours seq/s':>11} {'keras-hub seq/s':>16} {'ratio':>7}")
    compare_keras_hub(config, args.batch, args.seq, args.rounds, args.warmup)


if __name__ == "__main__":
    main()
