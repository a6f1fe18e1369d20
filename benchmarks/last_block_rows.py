"""What computing the last encoder block only at the rows the heads read gives: the
pretraining train step and the classifier's forward, each as shipped (`BertEncoder.last_block_at`:
the last block at `[CLS]` and the masked positions, or at `[CLS]` alone) against the same model
computing that block at every row (`bench_common.compute_whole_last_block`, the form before),
and keras-hub's model for the same job, interleaved in one process on the TensorFlow backend.

* train step: `BertPretrainer` (MLM + NSP, `create_adamw`) vs keras-hub's `BertMaskedLM` (MLM
  only, Keras' `AdamW`), `train_on_batch`, dropout on;
* classifier forward: `BertClassifier` (2 classes) vs keras-hub's `BertTextClassifier`,
  `predict_on_batch`.

    python benchmarks/last_block_rows.py [--presets bert_tiny bert_base] [--batch 8]
        [--seq 128] [--steps 7]

The ratios printed are the shipped model's sequences/s over each contender's (> 1: faster).
Measured on 2 cores of an AMD EPYC (AVX-512, float32, batch 8 x 128, 19 predictions) on
2026-11-28 (`--steps 6`): the BERT-base train step 1.039x the whole last block and 1.166x
keras-hub, its classifier forward 1.055x and 1.106x; `bert_tiny` 1.182x / 1.529x and 1.479x /
1.937x. Two earlier A/Bs of the train step alone: BERT-base 1.027x twice (3,141 -> 3,057 ms),
`bert_tiny` 1.115x and 1.141x.
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from bench_common import (  # noqa: E402
    add_preset_arguments,
    compute_whole_last_block,
    interleaved_best_seconds,
    model_flops,
    rates_against_peers,
    result,
)
from encoder_throughput import keras_adamw, keras_hub_models, make_batch  # noqa: E402

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer  # noqa: E402
from keras_bert_impl.models import BertClassifier  # noqa: E402
from keras_bert_impl.optimizers import create_adamw  # noqa: E402

JOBS = ("train", "classify")


def our_calls(config, x, x_mlm, y, whole):
    """`{job: callable}`: our pretrainer's train step (on `x_mlm`, `y`) and classifier's
    forward (on `x`), built and traced (one untimed call each) with the last block at the read
    rows, or with `whole` at every row."""
    restore = compute_whole_last_block() if whole else (lambda: None)
    try:
        keras.utils.set_random_seed(0)
        pretrainer = BertPretrainer(BertEncoder(config))
        pretrainer.compile(optimizer=create_adamw(1e-4))
        classifier = BertClassifier(BertEncoder(config), num_classes=2)
        classifier.compile()
        calls = {"train": lambda: pretrainer.train_on_batch(x_mlm, y),
                 "classify": lambda: classifier.predict_on_batch(x)}
        for call in calls.values():
            call()  # traced while the patch (if any) holds
    finally:
        restore()
    return calls


def keras_hub_calls(config, x, x_mlm, y, jobs=JOBS):
    """`{job: callable}` of keras-hub's `BertMaskedLM` train step and `BertTextClassifier`
    forward, the `jobs` asked for (the classifier is built only for "classify"), or `{}`
    without keras-hub."""
    backbone, masked_lm = keras_hub_models(config)
    if backbone is None:
        return {}
    calls = {"train": lambda: masked_lm.train_on_batch(x_mlm, y["mask_ids"],
                                                       sample_weight=y["mask_weights"])}
    if "classify" in jobs:
        import keras_hub

        classifier = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=2,
                                                         preprocessor=None)
        classifier.compile(optimizer=keras_adamw(1e-4))
        calls["classify"] = lambda: classifier.predict_on_batch(x)
    return {job: calls[job] for job in jobs}


def measure(preset, batch, seq, steps):
    """`{job: {contender: best seconds}}` with contenders "ours", "whole last block" and
    "keras-hub" (when installed)."""
    config = BertConfig.from_preset(preset)
    x, positions, y = make_batch(config, batch, seq, max(1, round(0.15 * seq)))
    x_mlm = dict(x, mask_positions=positions)
    contenders = {"ours": our_calls(config, x, x_mlm, y, whole=False),
                  "whole last block": our_calls(config, x, x_mlm, y, whole=True),
                  "keras-hub": keras_hub_calls(config, x, x_mlm, y)}
    seconds = {}
    for job in JOBS:
        calls = {name: jobs[job] for name, jobs in contenders.items() if job in jobs}
        seconds[job] = interleaved_best_seconds(calls, steps)
    keras.backend.clear_session()
    return seconds


def results(presets=("bert_tiny", "bert_base"), batch=8, seq=128, steps=7):
    """Measures and prints each preset's train step and classifier forward; returns `result`
    records in sequences/s (peers: the whole last block, keras-hub)."""
    print(f"backend={keras.backend.backend()} keras={keras.__version__} batch={batch} "
          f"seq={seq} rounds={steps}, best of interleaved calls")
    predictions = max(1, round(0.15 * seq))
    records = []
    for preset in presets:
        config = BertConfig.from_preset(preset)
        seconds = measure(preset, batch, seq, steps)
        for job, times in seconds.items():
            ours = batch / times["ours"]
            peers = {name: batch / times[name] if name in times else None
                     for name in ("whole last block", "keras-hub")}
            print(f"{preset:<10} {job:<9} ours {ours:8.2f} seq/s; "
                  + rates_against_peers(ours, peers), flush=True)
            train = job == "train"
            records.append(result(
                "train step (MLM+NSP), last block at the read rows" if train
                else "classifier forward, last block at [CLS]",
                f"{preset} batch={batch} seq={seq}", ours, "seq/s", peers,
                flops_per_item=model_flops(config, 1, seq, predictions if train else 0,
                                           train=train),
                notes="" if peers["keras-hub"] is not None else "not installed: keras-hub"))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_preset_arguments(parser)
    args = parser.parse_args()
    results(args.presets, args.batch, args.seq, args.steps)


if __name__ == "__main__":
    main()
