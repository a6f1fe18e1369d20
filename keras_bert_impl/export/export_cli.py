"""`keras-bert export`: a fine-tuned run (or a `.keras` file of a task model) into TF
Serving's layout, `savedmodels/NAME/VERSION/`, with warmup requests and `models.config`.

Example:

```
keras-bert export --model runs/sst2 --name sst2             # savedmodels/sst2/1
keras-bert export --model runs/sst2 --name sst2             # savedmodels/sst2/2
keras-bert export --model runs/ner --name ner --ids-only    # serve_ids only: no TF-Text ops
keras-bert export --model runs/sst2 --name sst2 --quantize int8     # int8 weights, ~4x smaller
keras-bert export --model runs/sst2 --name sst2 --dtype bfloat16    # bfloat16 matmuls
keras-bert predict --model savedmodels/sst2 --text "a gripping film"
```

`--quantize int8` and `--dtype bfloat16` export the model's inference variant
(`keras_bert_impl.models.inference.inference_model`): the signatures take and give the same
as the float32 export (raw strings in; labels, float32 probabilities and scores out). The
line printed names the SavedModel's size.

A run of a pair task (`mrpc qnli mnli rte stsb`, a CSV run with two text columns) is
exported with `serving_default` on `text_a` and `text_b`; `--pairs` / `--no-pairs` decides
for a `.keras` file or a preset without a task.
"""

import argparse
import os

from keras_bert_impl.export.layout import DEFAULT_BASE_PATH
from keras_bert_impl.flags import Progress, add_inference_flags

TASK_MODELS = ("BertClassifier", "BertTokenClassifier", "BertSpanLabeler")


def add_arguments(parser):
    """Adds the `export` flags (imports nothing heavy).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "runs/sst2", "--name", "sst2"])
    args.out, args.version, args.ids_only, args.pairs  # ('savedmodels', None, False, None)
    args.dtype, args.quantize  # (None, None)
    ```
    """
    add = parser.add_argument
    add("--model", required=True, help="a run written by keras-bert finetune (or a .keras "
        "file of a BertClassifier / BertTokenClassifier / BertSpanLabeler)")
    add("--name", required=True, help="the model's name in TF Serving (letters, digits, - _)")
    add("--out", default="savedmodels", help="the folder TF Serving reads (default: "
        "savedmodels); NAME/VERSION and models.config are written there")
    add("--version", type=int, help="the version folder, a positive integer (default: the "
        "next free one)")
    add("--overwrite", action="store_true", help="replace an existing --version")
    add("--ids-only", action="store_true", help="only the serve_ids signature (token ids in): "
        "no TF-Text op, for a TF Serving without TF-Text's ops")
    add("--pairs", action=argparse.BooleanOptionalAction, default=None,
        help="serving_default takes text_a and text_b (default: from the run's task)")
    add("--no-warmup", dest="warmup", action="store_false",
        help="leave out assets.extra/tf_serving_warmup_requests")
    add("--base-path", default=DEFAULT_BASE_PATH, help="where --out is mounted in the "
        f"server's container, for models.config (default: {DEFAULT_BASE_PATH})")
    add_inference_flags(parser)


def task_takes_pairs(task, settings=None):
    """Whether a fine-tuning `task` (a name of `keras-bert finetune --task`) reads sentence
    pairs; `settings` is the run's (its `text_columns` decide for `csv`). `None` for no task.

    Example:

    ```python
    task_takes_pairs("mrpc"), task_takes_pairs("sst2")  # (True, False)
    task_takes_pairs("csv", {"text_columns": ["premise", "hypothesis"]})  # True
    ```
    """
    from keras_bert_impl.data.glue import GLUE_TASKS

    if task is None:
        return None
    if task in GLUE_TASKS:
        return len(GLUE_TASKS[task].text_columns) == 2
    if task == "csv":
        return len((settings or {}).get("text_columns") or ("text",)) > 1
    return False


def is_task_model_path(path):
    """Whether `path` names what `load_task_model` reads: a `.keras` file or a directory
    holding our preset file (a run of `keras-bert finetune`)."""
    from keras_bert_impl.presets.ours import PRESET_FILE

    path = os.fspath(path)
    return (os.path.isfile(path) and path.endswith(".keras")) or \
        os.path.isfile(os.path.join(path, PRESET_FILE))


def load_task_model(path):
    """`(model, pairs)` of a fine-tuned run directory (our preset with a task model; `pairs`
    from its task, `None` when it names none) or a `.keras` file (`pairs` `None`).

    Example (a tiny classifier saved the way `keras-bert finetune --task mrpc` saves):

    ```python
    import os, tempfile
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
    classifier = BertClassifier.from_preset(
        "bert_tiny", vocab_size=len(vocab), num_classes=2, num_layers=1, hidden_size=16,
        num_heads=2,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8))
    run = os.path.join(tempfile.mkdtemp(), "mrpc")
    classifier.save_to_preset(run, tokenizer=classifier.preprocessor.tokenizer,
                              metadata={"finetune": {"task": "mrpc"}})
    model, pairs = load_task_model(run)
    type(model).__name__, pairs  # ('BertClassifier', True)
    ```
    """
    from keras_bert_impl.presets.ours import PRESET_FILE, read_preset_file

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"--model {path} does not exist; pass a run directory written "
                                "by keras-bert finetune or a .keras file of a task model.")
    if not is_task_model_path(path):
        raise ValueError(f"--model {path} is neither a run directory (no {PRESET_FILE}) nor a "
                         ".keras file; pass a run written by keras-bert finetune.")
    if os.path.isfile(path):
        import keras

        return keras.saving.load_model(path, compile=False), None
    meta = read_preset_file(path)
    model_class = meta.get("model_class")
    if model_class not in TASK_MODELS:
        raise ValueError(f"{path} holds a {model_class or 'bare encoder'} preset, not a "
                         "fine-tuned task model; fine-tune it first (keras-bert finetune "
                         f"--init {path} ...) and export that run.")
    from keras_bert_impl import models

    model = getattr(models, model_class).from_preset(path)
    finetune = (meta.get("metadata") or {}).get("finetune") or {}
    return model, task_takes_pairs(finetune.get("task"), finetune.get("settings"))


def run(args):
    """Runs `export_for_serving(...)` on the loaded model and prints the version folder."""
    from keras_bert_impl.export.layout import MODELS_CONFIG, check_model_name, export_for_serving

    check_model_name(args.name)  # before the (slow) model load
    # Loading, tracing and saving take seconds to minutes and print nothing of their own: a
    # line on stderr shows the seconds elapsed (on a terminal only; stdout keeps the result).
    with Progress(f"export: loading {args.model}"):
        model, pairs = load_task_model(args.model)
    if args.dtype is not None or args.quantize is not None:
        from keras_bert_impl.models.inference import inference_model

        with Progress(f"export: making the {_variant(args)} model"):
            model = inference_model(model, dtype=args.dtype, quantize=args.quantize)
    pairs = args.pairs if args.pairs is not None else bool(pairs)
    if pairs and type(model).__name__ != "BertClassifier":
        raise ValueError(f"--pairs is for classifiers; {args.model} holds a "
                         f"{type(model).__name__}. Leave --pairs out.")
    with Progress(f"export: tracing the signatures and writing {args.out}/{args.name}"):
        path = export_for_serving(model, args.out, args.name, version=args.version,
                                  overwrite=args.overwrite, pairs=pairs,
                                  text_signature=not args.ids_only, warmup=args.warmup,
                                  base_path=args.base_path)
    signatures = "serve_ids" if args.ids_only else "serving_default, serve_ids"
    size = f"{saved_model_size(path) / 1e6:.1f} MB"
    if args.dtype is not None or args.quantize is not None:
        size += f", {_variant(args)}"
    print(f"export: wrote {path} ({signatures}; {size}) and "
          f"{os.path.join(args.out, MODELS_CONFIG)}")
    return 0


def _variant(args):
    return " ".join(x for x in (args.quantize, args.dtype) if x is not None)


def saved_model_size(path):
    """Bytes of a SavedModel directory: `saved_model.pb`, `variables/`, `assets/` (the
    warmup requests of `assets.extra/` are not part of the model).

    Example:

    ```python
    import os, tempfile
    path = tempfile.mkdtemp()
    os.makedirs(os.path.join(path, "variables"))
    with open(os.path.join(path, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(bytes(1000))
    saved_model_size(path)  # 1000
    ```
    """
    total = 0
    for folder, directories, files in os.walk(path):
        directories[:] = [d for d in directories if d != "assets.extra"]
        total += sum(os.path.getsize(os.path.join(folder, name)) for name in files)
    return total
