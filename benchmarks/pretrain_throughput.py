"""Pretraining train-step throughput (issue 5): `BertPretrainer` MLM+NSP vs keras-hub, and MFU.

Sequences/s of one `train_on_batch` of our `BertPretrainer` (MLM + NSP, AdamW) and of
keras-hub's `BertMaskedLM` (MLM only, a little less work than ours) with the same sizes, in the
same run, for each precision (`float32`, `mixed_bfloat16`) x XLA (off, on), on the TensorFlow
backend (the CPU comparison); ratios are ours / keras-hub's (> 1: we are faster). Timing is
`bench_common.interleaved_best_seconds` (best of interleaved calls).

    python benchmarks/pretrain_throughput.py --preset bert_base --batch 8 --rounds 3

Model FLOPs per step (`bench_common.model_flops`) = 6 x matmul parameters x tokens (encoder
layers and pooler at every token, the MLM head's transform and vocab projection only at the
masked positions, as our head computes them) + attention 12 x layers x hidden x seq x tokens
(QK^T and AV, forward and backward). The GPU train step (JAX, bf16, `fit`, against keras-hub
on JAX and Hugging Face on PyTorch) is `gpu_train_step.py`.

`results(...)` measures, prints and returns `bench_common.result` records for `python -m
benchmarks`, whose report gives their MFU against the CPU matmul ceiling it measures in the
same run.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from bench_common import interleaved_best_seconds, model_flops, result  # noqa: E402
from encoder_throughput import keras_hub_models, make_batch  # noqa: E402

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


def results(preset="bert_base", batch=8, seq=128, rounds=3, warmup=2):
    """Measures and prints the train step (see the module docstring); returns `result`
    records (sequences/s, peer keras-hub, model FLOPs per sequence)."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("pretrain_throughput.py compares on the TensorFlow backend; the JAX "
                         "(GPU) train step is benchmarks/gpu_train_step.py.")
    config = BertConfig.from_preset(preset)
    predictions = max(1, round(0.15 * seq))
    flops = model_flops(config, 1, seq, predictions, train=True)
    print(f"backend={keras.backend.backend()} keras={keras.__version__} preset={preset} "
          f"batch={batch} seq={seq} rounds={rounds}, best of interleaved calls")
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bert_base")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", "--steps", dest="rounds", type=int, default=3,
                        help="timed (interleaved) rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls (compile) first")
    args = parser.parse_args()
    results(args.preset, args.batch, args.seq, args.rounds, args.warmup)


if __name__ == "__main__":
    main()
