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

from keras_bert_impl.flags import (
    add_bad_lines_flag,
    add_casing_flags,
    add_training_precision_flags,
)


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
    add("--out", required=True, help="run directory (checkpoints, logs, pretrainer.keras; a "
        "preset at every checkpoint)")
    add("--preset", default="bert_tiny", help="model size: bert_tiny, bert_mini, bert_small, "
        "bert_medium, bert_base or bert_large")
    add("--corpus", action="append", help="glob of text files (one sentence per line, blank "
        "line between documents); repeatable")
    add("--tfds", dest="tfds_name", help="a TFDS dataset name with a `text` feature instead")
    add("--vocab", help="vocab.txt (sets the model's vocab_size)")
    add_casing_flags(parser)
    add("--seq-len", type=int, default=128, help="tokens per sequence (phase 1)")
    add("--batch-size", type=int, default=32, help="global batch size (split across replicas)")
    add("--steps", type=int, default=1000, help="training steps (phase 1)")
    add("--max-predictions", type=int, default=20, help="masked positions per sequence")
    add("--whole-word-masking", action="store_true",
        help="mask every piece of a chosen word (the reference's --do_whole_word_mask)")
    add("--validation-corpus", action="append", help="glob of held-back documents (the corpus "
        "format) whose MLM and NSP metrics are logged at every checkpoint; repeatable")
    add("--validation-steps", type=int, default=20,
        help="batches of --batch-size sequences read from --validation-corpus")
    add("--optimizer", choices=("adamw", "lamb"), default="adamw",
        help="no weight decay on LayerNorm and biases either way")
    add("--learning-rate", type=float, default=1e-4, help="peak learning rate")
    add("--warmup-steps", type=int, default=None,
        help="linear warmup updates (default: 10%% of the updates)")
    add("--end-learning-rate", type=float, default=0.0,
        help="learning rate at the end of the decay")
    add("--decay-power", type=float, default=1.0, help="polynomial decay power; 1 = linear")
    add("--weight-decay", type=float, default=0.01, help="decoupled weight decay")
    add("--clipnorm", type=float, default=1.0, help="global-norm clipping; 0 = off")
    add("--strategy", choices=("default", "mirrored", "multi_worker", "tpu"), default="default",
        help="tf.distribute strategy: one device, all local GPUs, the workers of TF_CONFIG, "
             "or a Cloud TPU")
    add("--tpu", dest="tpu_address", default=None,
        help="--strategy tpu: the TPU's name or grpc:// address (default: $TPU_NAME, or "
             "'local' on a TPU VM)")
    add_training_precision_flags(parser)
    add("--xla", action=argparse.BooleanOptionalAction, default="auto",
        help="jit_compile the train step (default: Keras' \"auto\": XLA with a GPU or "
             "TPU, off on a CPU-only machine, where it is slower)")
    add("--steps-per-execution", type=int, default=1,
        help="train steps per tf.function call")
    add("--phase2-steps", type=int, default=0, help="steps of the second (long) phase")
    add("--phase2-seq-len", type=int, default=512, help="sequence length of phase 2")
    add("--checkpoint-every", type=int, default=100,
        help="steps between checkpoints (each also writes the run's preset files); the last "
             "step of each phase is checkpointed too")
    add("--keep-checkpoints", type=int, default=3, help="checkpoints kept on disk")
    add("--log-every", type=int, default=10, help="steps between TensorBoard log points")
    add("--seed", type=int, default=0, help="seed of masking, NSP pairs and shuffling")
    add_bad_lines_flag(parser)

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
        whole_word_masking=args.whole_word_masking,
        validation_corpus=args.validation_corpus,
        validation_steps=args.validation_steps,
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
