"""What the batched input gradient of the encoder's intermediate projection gives the
pretraining train step on TensorFlow: `BertPretrainer` as shipped (the projection's input
gradient as a one-batch `BatchMatMulV2` with the kernel's adjoint,
`LoraDense(batched_input_gradient=True)`) against the same model differentiated by autodiff
(a 2-D `MatMul` with `transpose_b`, which oneDNN runs more slowly at a wide contraction), and
keras-hub's `BertMaskedLM`, interleaved in one process, dropout on, `create_adamw`.

    python benchmarks/input_gradient.py [--presets bert_tiny bert_base] [--batch 8]
        [--seq 128] [--steps 7]

The ratios printed are the shipped model's sequences/s over each contender's (> 1: faster).
Measured on 2 cores of an AMD EPYC (AVX-512, float32, batch 8 x 128) on 2026-11-28 with an
earlier form of this A/B (`/tmp` script, 6-8 rounds per process, both build orders): BERT-base
1.008, 1.010, 1.010, 1.011, 1.012, 1.023, 1.027x over seven processes; under
`mixed_bfloat16` 1.003x and 0.994x (no effect). This script the same day (`--steps 8`, keras-hub
interleaved too): BERT-base 1.003x (2.66 vs 2.65 seq/s; 1.171x keras-hub), `bert_tiny` 0.990x
(its intermediate contracts over 512, not 3,072: noise).
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from bench_common import (  # noqa: E402
    add_preset_arguments,
    interleaved_best_seconds,
    model_flops,
    rates_against_peers,
    result,
)
from encoder_throughput import make_batch  # noqa: E402
from last_block_rows import keras_hub_calls  # noqa: E402

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer  # noqa: E402
from keras_bert_impl.keras_private import flatten_layers  # noqa: E402
from keras_bert_impl.layers.lora import LoraDense  # noqa: E402
from keras_bert_impl.optimizers import create_adamw  # noqa: E402

AUTODIFF = "autodiff input gradient"


def use_autodiff_input_gradients(model):
    """Turns the batched input gradient off in every projection of `model` (before its
    train step is traced); returns how many projections had it on."""
    wide = [layer for layer in flatten_layers(model)
            if isinstance(layer, LoraDense) and layer.batched_input_gradient]
    for layer in wide:
        layer.batched_input_gradient = False
    return len(wide)


def our_train_step(config, x_mlm, y, batched):
    """`BertPretrainer`'s `train_on_batch`, built and traced (one untimed call), with the
    shipped input gradients or (`batched=False`) autodiff's."""
    keras.utils.set_random_seed(0)
    pretrainer = BertPretrainer(BertEncoder(config))
    if not batched and not use_autodiff_input_gradients(pretrainer):
        raise RuntimeError("no projection has batched_input_gradient on: nothing to ablate")
    pretrainer.compile(optimizer=create_adamw(1e-4))
    pretrainer.train_on_batch(x_mlm, y)
    return lambda: pretrainer.train_on_batch(x_mlm, y)


def results(presets=("bert_tiny", "bert_base"), batch=8, seq=128, steps=7):
    """Measures and prints each preset's train step; returns `result` records in
    sequences/s (peers: the autodiff input gradient, keras-hub)."""
    print(f"backend={keras.backend.backend()} keras={keras.__version__} batch={batch} "
          f"seq={seq} rounds={steps}, best of interleaved calls")
    predictions = max(1, round(0.15 * seq))
    records = []
    for preset in presets:
        config = BertConfig.from_preset(preset)
        x, positions, y = make_batch(config, batch, seq, predictions)
        x_mlm = dict(x, mask_positions=positions)
        calls = {"ours": our_train_step(config, x_mlm, y, batched=True),
                 AUTODIFF: our_train_step(config, x_mlm, y, batched=False)}
        hub = keras_hub_calls(config, x, x_mlm, y, jobs=("train",))
        calls.update({"keras-hub": hub["train"]} if hub else {})
        seconds = interleaved_best_seconds(calls, steps)
        keras.backend.clear_session()
        ours = batch / seconds["ours"]
        peers = {name: batch / seconds[name] if name in seconds else None
                 for name in (AUTODIFF, "keras-hub")}
        print(f"{preset:<10} train step ours {ours:8.2f} seq/s; "
              + rates_against_peers(ours, peers), flush=True)
        records.append(result(
            "train step (MLM+NSP), batched intermediate input gradient",
            f"{preset} batch={batch} seq={seq}", ours, "seq/s", peers,
            flops_per_item=model_flops(config, 1, seq, predictions, train=True),
            notes="" if peers["keras-hub"] is not None else "not installed: keras-hub"))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_preset_arguments(parser)
    args = parser.parse_args()
    results(args.presets, args.batch, args.seq, args.steps)


if __name__ == "__main__":
    main()
