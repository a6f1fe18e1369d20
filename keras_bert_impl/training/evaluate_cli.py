"""`keras-bert evaluate`: the task's metrics of a fine-tuned run on a split.

Example:

```
keras-bert evaluate --task conll2003 --data data/conll2003 --model runs/ner --split valid
```

Prints one `name: value` line per metric and writes them as JSON (`--output`, default
`RUN/eval_<split>.json`; `RUN/eval_<split>.bfloat16.json`, `.int8.json` or
`.bfloat16.int8.json` with `--dtype bfloat16` / `--quantize int8`, which score the model's
inference variant, what `keras-bert export` serves with the same flags; see
`keras_bert_impl.models.inference`).
"""

import json
import os

from keras_bert_impl.flags import add_inference_flags
from keras_bert_impl.training.finetune_cli import add_data_arguments, table_options


def add_arguments(parser):
    """Adds the `evaluate` flags (imports nothing heavy).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    parser.parse_args(["--task", "sst2", "--model", "runs/sst2"]).split  # 'dev'
    ```
    """
    add_data_arguments(parser)
    add = parser.add_argument
    add("--model", required=True, help="a run directory written by keras-bert finetune")
    add("--split", default="dev", choices=("dev", "valid", "validation", "test", "train"),
        help="default: the dev/valid split (or the run's held-out part of train)")
    add("--max-examples", type=int, help="score only the first N examples (default: all)")
    add("--output", help="the JSON file to write (default: RUN/eval_<split>.json; "
        "RUN/eval_<split>.bfloat16.json with --dtype bfloat16, .int8.json with --quantize "
        "int8)")
    add_inference_flags(parser)


def flat_scores(scores, prefix=""):
    """`(name, value)` pairs of a nested scores dict, nested names joined with dots.

    Example:

    ```python
    list(flat_scores({"f1": 0.5, "per_type": {"PER": {"f1": 1.0}}}))
    # [('f1', 0.5), ('per_type.PER.f1', 1.0)]
    ```
    """
    for name, value in scores.items():
        if isinstance(value, dict):
            yield from flat_scores(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", value


def run(args):
    """Runs `evaluate_run(...)`, prints `name: value` lines and writes the JSON file."""
    from keras_bert_impl.presets.ours import atomic_write_text
    from keras_bert_impl.training.finetune import evaluate_run

    scores = evaluate_run(args.model, args.task, args.data, split=args.split,
                          batch_size=args.batch_size, tfds=args.tfds,
                          max_examples=args.max_examples, dtype=args.dtype,
                          quantize=args.quantize, **table_options(args))
    for name, value in flat_scores(scores):
        print(f"{name}: {value:.4f}" if isinstance(value, float) else f"{name}: {value}")
    variant = [v for v in (args.dtype, args.quantize) if v not in (None, "float32")]
    output = args.output or os.path.join(args.model,
                                         ".".join([f"eval_{args.split}", *variant, "json"]))
    record = {"task": args.task, "split": args.split, "scores": scores}
    record.update({k: v for k, v in (("dtype", args.dtype), ("quantize", args.quantize))
                   if v is not None})
    atomic_write_text(output, json.dumps(record, indent=2) + "\n")
    print(f"evaluate: wrote {output}")
    return 0
