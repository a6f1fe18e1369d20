"""The benchmark registry and the runner behind `python -m benchmarks` (see `__main__.py`).

`BENCHMARKS` maps each name to the module in `benchmarks/` and its function that measures and
returns `bench_common.result` records (the same function the module's own `main()` calls),
with the keyword arguments of a full run (the script's defaults, plus its variant, e.g.
`cased=True`) and of `--quick` (tiny sizes: `bert_tiny`, small batches, few rounds, so that the
whole suite runs in a few minutes on 2 CPU cores). `run(...)` measures the machine's matmul
ceiling first, then each benchmark in turn (`python -m benchmarks`: each in a fresh
process, `run_in_child`); one that fails (a missing data file, a backend it
cannot run on) is recorded with its one-line error and the run goes on. Peers whose package is
missing are recorded as missing by the benchmarks themselves.
"""

import argparse
import datetime
import gc
import importlib
import os
import sys
import time
import traceback
from dataclasses import dataclass, field

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import machine as machine_info  # noqa: E402
import report  # noqa: E402

DEFAULT_OUT = os.path.join(HERE, "results")
QUICK_MATMUL = 1024
FULL_MATMUL = 2048


@dataclass(frozen=True)
class Benchmark:
    module: str
    function: str = "results"
    full: dict = field(default_factory=dict)
    quick: dict = field(default_factory=dict)
    about: str = ""


BENCHMARKS = {
    "encoder": Benchmark(
        "encoder_throughput", quick={"presets": ["bert_tiny"], "batch": 4, "seq": 32,
                                     "steps": 2},
        about="encoder forward and train step, seq/s vs keras-hub"),
    "encoder_bf16": Benchmark(
        "encoder_throughput", full={"dtype": "bfloat16"},
        quick={"presets": ["bert_tiny"], "batch": 4, "seq": 32, "steps": 2, "dtype": "bfloat16"},
        about="encoder forward in bfloat16 vs keras-hub and HF, with the drift from float32"),
    "attention": Benchmark(
        "attention_forms", quick={"sizes": ["bert_tiny"], "batch": 4, "seq": 32, "rounds": 2,
                                  "repeat": 2},
        about="the block's attention forms (heads-first, einsums) vs Keras' dot_product_attention"),
    "forward_overheads": Benchmark(
        "forward_overheads", full={"ablations": True},
        quick={"preset": "bert_tiny", "batch": 4, "seq": 32, "rounds": 2},
        about="a CPU forward through predict_on_batch, a tf.function and XLA vs HF, and what "
              "LayerNorm, the attention core and the segment lookup cost (ablations)"),
    "last_block": Benchmark(
        "last_block_rows", quick={"presets": ["bert_tiny"], "batch": 4, "seq": 32, "steps": 2},
        about="the last block at the rows the heads read (train step, classifier forward) vs "
              "at every row, and keras-hub"),
    "input_gradient": Benchmark(
        "input_gradient", quick={"presets": ["bert_tiny"], "batch": 4, "seq": 32, "steps": 2},
        about="the train step with the intermediate projection's batched input gradient vs "
              "autodiff's, and keras-hub"),
    "pretrain": Benchmark(
        "pretrain_throughput", quick={"preset": "bert_tiny", "batch": 4, "seq": 32,
                                      "rounds": 1, "warmup": 1},
        about="pretraining train step, float32/mixed_bfloat16 x XLA off/on, vs keras-hub"),
    "finetune": Benchmark(
        "finetune_throughput", quick={"sizes": ["tiny"], "batch": 4, "seq": 32, "steps": 2,
                                      "warmup": 1},
        about="fine-tuning from raw strings, examples/s vs keras-hub"),
    "tokenizer_uncased": Benchmark(
        "tokenizer_throughput", full={"cased": False},
        quick={"cased": False, "rounds": 1, "lines": 2000, "batch": 256},
        about="WordPiece tokens/s vs HF tokenizers and keras-hub"),
    "tokenizer_cased": Benchmark(
        "tokenizer_throughput", full={"cased": True},
        quick={"cased": True, "rounds": 1, "lines": 2000, "batch": 256},
        about="the same, cased"),
    "load_weights": Benchmark(
        "load_weights", quick={"size": "bert_tiny", "rounds": 1},
        about="seconds to build and load weights vs keras-hub"),
    "serving": Benchmark(
        "serving_latency", quick={"sizes": ["tiny"], "seq": 32, "batch": 4, "calls": 3,
                                  "batch_calls": 1, "rounds": 1, "warmup": 1},
        about="SavedModel signatures vs the Keras model and ONNX Runtime"),
    "tagging": Benchmark(
        "tagging_throughput", quick={"sentences": 32, "batch": 16, "seq": 32, "rounds": 1,
                                     "warmup": 1},
        about="BertTokenClassifier.tag on pre-split words vs HF transformers (run_ner's way)"),
    "classify": Benchmark(
        "classify_throughput", quick={"sentences": 64, "batch": 16, "seq": 32, "rounds": 1,
                                      "warmup": 1},
        about="BertClassifier.predict on raw sentences vs keras-hub and HF transformers "
              "(run_glue's way)"),
    "input_checks": Benchmark(
        "input_checks_cost", quick={"presets": ["bert_tiny"], "batch": 4, "seq": 32,
                                    "steps": 2, "rounds": 2},
        about="train step with the input checks on vs off"),
    "input_pipeline": Benchmark(
        "input_pipeline", quick={"presets": ["bert_tiny"], "batch": 8, "seq": 64,
                                 "batches": 10, "rounds": 1, "steps": 2},
        about="the pretraining tf.data pipeline vs the train step's consumption"),
    "inference_variants": Benchmark(
        "inference_variants", quick={"size": "tiny", "seq": 32, "batch": 4, "sentences": 16,
                                     "calls": 3, "batch_calls": 1, "rounds": 1, "warmup": 1},
        about="int8 / bfloat16 variants vs float32: SavedModel size, latency, agreement"),
    "gpu_train_step": Benchmark(
        "gpu_train_step", quick={"preset": "bert_tiny", "plan": "ours,keras-hub,hf-eager",
                                 "steps": 4, "epochs": 2, "matmul": 2048},
        about="BERT MLM+NSP train step on a GPU (JAX, bf16) vs keras-hub, HF eager and "
              "torch.compile; needs a GPU"),
    "lora": Benchmark(
        "lora_cost", quick={"size": "tiny", "batch": 4, "seq": 32, "steps": 2, "rounds": 1},
        about="LoRA rank 4/8 vs full fine-tuning: trainable params, step time, peak memory"),
}


def resolve(name):
    """The function that runs benchmark `name` (its module imported now)."""
    entry = BENCHMARKS[name]
    return getattr(importlib.import_module(entry.module), entry.function)


def one_line(error):
    """`Type: first line of the message` of an exception (SystemExit's message included)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".strip()[:300]


def run_one(name, quick):
    """`{"seconds", "error", "results"}` of one benchmark; never raises (but ^C)."""
    entry = BENCHMARKS[name]
    kwargs = entry.quick if quick else entry.full
    start = time.perf_counter()
    try:
        results = list(resolve(name)(**kwargs))
        error = None
    except (Exception, SystemExit) as caught:  # noqa: BLE001 - recorded, the run goes on
        traceback.print_exc()
        results, error = [], one_line(caught)
    finally:
        if "keras" in sys.modules:
            sys.modules["keras"].backend.clear_session()
        gc.collect()
    return {"seconds": round(time.perf_counter() - start, 1), "error": error,
            "results": results}


def run_in_child(name, quick, command=None):
    """`run_one(name, quick)` in a fresh Python process (its output shown as it comes), so
    that no benchmark measures in what an earlier one left behind: in one process, the
    tokenizers after the model benchmarks ran at 0.6x (ours, cased) to 0.8x (keras-hub) of
    their rate in a process of their own (AVX2 EPYC, 2026-11-28). `command` replaces the
    child's command line (tests); a child that dies without a result is recorded as an error.
    """
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "entry.json")
        command = command or [sys.executable, os.path.abspath(__file__), "--child", name,
                              "--entry", path, *(["--quick"] if quick else [])]
        start = time.perf_counter()
        status = subprocess.run(command, check=False).returncode
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                return json.load(f)
    return {"seconds": round(time.perf_counter() - start, 1),
            "error": f"its process exited with status {status} before writing a result",
            "results": []}


def _child(name, quick, path):
    """The child side of `run_in_child`: one benchmark, its entry written to `path`."""
    import json

    report._write_atomic(path, json.dumps(run_one(name, quick)))


def run(names=None, quick=False, out=DEFAULT_OUT, matmul=None, isolated=False):
    """Runs the benchmarks `names` (all when empty), writing the report after each; returns
    the run. `isolated`: each benchmark in a process of its own (`run_in_child`), as
    `python -m benchmarks` runs them."""
    names = list(names or BENCHMARKS)
    started = time.perf_counter()
    machine = machine_info.describe()
    onednn = {True: ", TensorFlow oneDNN on", False: ", TensorFlow oneDNN off"}.get(
        machine["onednn"], "")
    print(f"machine: {machine['slug']} ({machine['cpu']}, {machine['cores']} cores, "
          f"GPU {machine['gpu'] or 'none'}{onednn})", flush=True)
    try:
        ceiling = machine_info.ceiling(machine, matmul or (QUICK_MATMUL if quick else FULL_MATMUL))
    except Exception as caught:  # noqa: BLE001 - the run goes on without MFU
        ceiling = {"error": one_line(caught)}
    print(f"ceiling: {ceiling}", flush=True)
    the_run = {"machine": machine, "ceiling": ceiling, "quick": quick,
               "started": datetime.datetime.now().isoformat(timespec="seconds"),
               "seconds": 0.0, "benchmarks": {}, "pending": list(names)}
    for name in names:
        print(f"\n=== {name} ({'quick' if quick else 'full'}): {BENCHMARKS[name].about}",
              flush=True)
        measure = run_in_child if isolated else run_one
        the_run["benchmarks"][name] = entry = measure(name, quick)
        status = f"error: {entry['error']}" if entry["error"] else \
            f"{len(entry['results'])} measurement(s)"
        print(f"=== {name}: {status}, {entry['seconds']:.0f} s", flush=True)
        # The report is rewritten after each benchmark, so that a run stopped part-way (a
        # killed process, a machine taken back) keeps what it measured, its "pending" list
        # naming what it did not reach.
        the_run["pending"].remove(name)
        the_run["seconds"] = round(time.perf_counter() - started, 1)
        paths = report.write(the_run, out)
    print(f"\nwrote {paths[0]} and {paths[1]} ({the_run['seconds']:.0f} s)")
    return the_run


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Runs the benchmarks (all, or NAMES), each against its peers in the same "
        "run, and writes <out>/<machine>.json and .md.")
    parser.add_argument("names", nargs="*", metavar="NAMES",
                        help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes (bert_tiny, small batches, few rounds)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="results folder (%(default)s)")
    parser.add_argument("--matmul", type=int, default=None,
                        help=f"ceiling matmul size (default {FULL_MATMUL}, "
                        f"{QUICK_MATMUL} with --quick)")
    parser.add_argument("--same-process", action="store_true",
                        help="run every benchmark in this process (by default each runs in "
                        "a fresh one, unaffected by those before it)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--entry", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.quick, args.entry)
        return
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(BENCHMARKS)}")
    run(args.names, args.quick, args.out, args.matmul, isolated=not args.same_process)


if __name__ == "__main__":
    main()
