"""`keras-bert pretrain`: the command-line face of `keras_bert_impl.training.pretrain.pretrain`.

Example:

```
keras-bert pretrain --preset bert_tiny --corpus 'data/*.txt' --vocab vocab.txt \\
    --seq-len 128 --batch-size 32 --steps 1000 --strategy mirrored \\
    --precision mixed_bfloat16 --xla --out runs/tiny
```

Rerunning the same command after an interruption resumes from the last checkpoint.
"""


import argparse

from keras_bert_impl.flags import add_casing_flags


def add_arguments(parser):
    """Adds the pretraining flags to `parser` (imports nothing heavy).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--out", "runs/tiny", "--corpus", "data/*.txt", "--xla"])
    args.batch_size, args.xla, args.lowercase  # (32, True, True)
    ```
    """
    add = parser.add_argument
    add("--out", required=True, help="run directory (checkpoints, logs, pretrainer.keras)")
    add("--preset", default="bert_tiny", help="model size: bert_tiny ... bert_large")
    add("--corpus", action="append", help="glob of text files (one sentence per line, blank "
        "line between documents); repeatable")
    add("--tfds", dest="tfds_name", help="a TFDS dataset name with a `text` feature instead")
    add("--vocab", help="vocab.txt (sets the model's vocab_size)")
    add_casing_flags(parser)
    add("--seq-len", type=int, default=128)
    add("--batch-size", type=int, default=32, help="global batch size (split across replicas)")
    add("--steps", type=int, default=1000)
    add("--max-predictions", type=int, default=20, help="masked positions per sequence")
    add("--optimizer", choices=("adamw", "lamb"), default="adamw")
    add("--learning-rate", type=float, default=1e-4)
    add("--warmup-steps", type=int, default=None, help="default: 10%% of the updates")
    add("--end-learning-rate", type=float, default=0.0)
    add("--decay-power", type=float, default=1.0, help="1 = linear decay")
    add("--weight-decay", type=float, default=0.01)
    add("--clipnorm", type=float, default=1.0, help="global-norm clipping; 0 = off")
    add("--grad-accum", type=int, default=1, help="gradient accumulation steps")
    add("--strategy", choices=("default", "mirrored", "multi_worker", "tpu"), default="default")
    add("--tpu", dest="tpu_address", default=None)
    add("--precision", choices=("float32", "mixed_bfloat16", "mixed_float16"),
        default="float32")
    add("--xla", action=argparse.BooleanOptionalAction, default="auto",
        help="jit_compile the train step (default: the models' own default, XLA on for "
             "TensorFlow on one device)")
    add("--steps-per-execution", type=int, default=1)
    add("--phase2-steps", type=int, default=0, help="steps of the second (long) phase")
    add("--phase2-seq-len", type=int, default=512)
    add("--checkpoint-every", type=int, default=100)
    add("--keep-checkpoints", type=int, default=3)
    add("--log-every", type=int, default=10)
    add("--seed", type=int, default=0)
    add("--max-bad-lines", dest="max_bad_line_fraction", type=float, default=0.1,
        metavar="FRACTION", help="stop when more than FRACTION of a corpus file's first lines "
        "are not text (binary, not UTF-8, mostly [UNK]); default 0.1, 1.0 = no check")


def run(args):
    """Runs `pretrain(...)` with the parsed flags; prints the summary path.

    Example (`keras-bert pretrain ...` calls it; the corpus is two tiny documents):

    ```python
    import argparse, os, tempfile
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "a.txt"), "w") as f:
        f.write("The cat sat.\\nIt slept.\\n\\nA dog ran.\\nIt barked at the cat.\\n")
    with open(os.path.join(folder, "vocab.txt"), "w") as f:
        f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", "a", "at",
                           "barked", "cat", "dog", "it", "ran", "sat", "slept", "the"]))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    run(parser.parse_args([
        "--out", os.path.join(folder, "run"), "--corpus", os.path.join(folder, "a.txt"),
        "--vocab", os.path.join(folder, "vocab.txt"), "--seq-len", "16", "--batch-size", "2",
        "--steps", "2", "--checkpoint-every", "2", "--max-predictions", "4",
    ]))  # 0
    ```
    """
    from keras_bert_impl.training.pretrain import pretrain

    result = pretrain(
        args.out,
        preset=args.preset,
        corpus=args.corpus,
        tfds_name=args.tfds_name,
        vocab=args.vocab,
        lowercase=args.lowercase,
        seq_len=args.seq_len,
        batch_size=args.batch_size,
        steps=args.steps,
        max_predictions=args.max_predictions,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        end_learning_rate=args.end_learning_rate,
        power=args.decay_power,
        weight_decay=args.weight_decay,
        clipnorm=args.clipnorm,
        gradient_accumulation_steps=args.grad_accum,
        strategy=args.strategy,
        tpu_address=args.tpu_address,
        precision=args.precision,
        xla=args.xla,
        steps_per_execution=args.steps_per_execution,
        phase2_steps=args.phase2_steps,
        phase2_seq_len=args.phase2_seq_len,
        checkpoint_every=args.checkpoint_every,
        keep_checkpoints=args.keep_checkpoints,
        log_every=args.log_every,
        seed=args.seed,
        max_bad_line_fraction=args.max_bad_line_fraction,
    )
    print(f"pretrain: wrote {args.out}/pretrainer.keras and {args.out}/summary.json; "
          f"{args.out} is a preset: BertClassifier.from_preset({args.out!r}, num_classes=N)")
    return 0 if result else 1
