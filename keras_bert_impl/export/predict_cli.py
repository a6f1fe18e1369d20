"""`keras-bert predict`: asks an exported SavedModel, and answers the way TF Serving's REST
predict API does, so what works here works against the server.

Example:

```
keras-bert predict --model savedmodels/sst2 --text "a gripping film" --text "dull and slow"
keras-bert predict --model savedmodels/mrpc --text "The cat sat." --text-b "A cat sat."
keras-bert predict --model savedmodels/squad --question "Who?" --context "John came."
keras-bert predict --model savedmodels/ner/2 --input sentences.jsonl
keras-bert predict --model savedmodels/sst2 --signature serve_ids --input ids.jsonl
keras-bert predict --model runs/sst2 --dtype bfloat16 --quantize int8 --text "a gripping film"
```

The SavedModel is loaded with TensorFlow and TF-Text alone (`tf.saved_model.load`, no Keras
model), as a server would; a model folder (`savedmodels/NAME`) means its highest version.
`--model` may also be a run written by `keras-bert finetune` (or a `.keras` file of a task
model): its Keras model, as `--dtype` / `--quantize` make it (`inference_model`), answers
through the signatures `keras-bert export` would write (`serving_signatures`, in memory), so
the answer is the one its SavedModel would give, before exporting it.
Inputs come from the flags (`--text`, or `--text` and `--text-b` for pairs, `--question` and
`--context` for spans; one value per example) or from `--input`, a JSON-lines file of objects
keyed by the signature's input names (`{"text": "..."}`, `{"token_ids": [...], ...}`; id
rows of different lengths are padded with 0, which is `[PAD]`, segment 0 and mask 0).

The answer is TF Serving's row format: `{"predictions": [{OUTPUT: value, ...}, ...]}`, one
object per example, strings decoded as UTF-8; a signature with a single output gives its
values alone (`{"predictions": [0.73, ...]}`), as TF Serving does. The examples go to the
signature `--batch-size` at a time, as requests of that size would go to a server (per-word
outputs are padded to the longest sentence of their batch); with more than one batch a
progress bar shows on stderr when it is a terminal. stdout holds the JSON answer alone.
"""

import json
import os

from keras_bert_impl.export.signatures import SERVING_DEFAULT
from keras_bert_impl.flags import Progress, add_inference_flags
from keras_bert_impl.user_files import open_text

# The flag that fills each input name.
FLAGS = {"text": "--text", "text_a": "--text", "text_b": "--text-b", "question": "--question",
         "context": "--context"}


def add_arguments(parser):
    """Adds the `predict` flags (imports nothing heavy).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--model", "savedmodels/sst2", "--text", "a", "--text", "b"])
    args.text, args.signature, args.dtype  # (['a', 'b'], 'serving_default', None)
    ```
    """
    add = parser.add_argument
    add("--model", required=True, help="savedmodels/NAME (its highest version) or "
        "savedmodels/NAME/VERSION; or a run written by keras-bert finetune (or a .keras file "
        "of a task model), answered as its SavedModel would answer")
    add("--text", action="append", help="one example's text (classifiers, taggers: words "
        "joined by spaces; pairs: the first text); repeat for a batch")
    add("--text-b", action="append", help="pairs: the second text of each --text")
    add("--question", action="append", help="spans: a question; repeat for a batch")
    add("--context", action="append", help="spans: the paragraph of each --question")
    add("--input", help="a JSON-lines file: one object per example, keyed by the signature's "
        "input names")
    add("--signature", default=SERVING_DEFAULT, help="the signature to call (default: "
        f"{SERVING_DEFAULT}; serve_ids takes token_ids, segment_ids, padding_mask)")
    add("--batch-size", type=int, default=64, help="examples per call of the signature, as "
        "one request to a server")
    add_inference_flags(parser)  # a run only: a SavedModel computes as it was exported


def flag_inputs(args, input_names):
    """`{input name: [values]}` from the flags, `--text` named as the signature names its
    first text (`text` or `text_a`).

    Example:

    ```python
    import argparse
    args = argparse.Namespace(text=["a", "b"], text_b=["c", "d"], question=None, context=None)
    flag_inputs(args, ["text_a", "text_b"])  # {'text_a': ['a', 'b'], 'text_b': ['c', 'd']}
    ```
    """
    names = set(input_names)
    given = {}
    if args.text:
        given["text_a" if "text_a" in names and "text" not in names else "text"] = args.text
    for name in ("text_b", "question", "context"):
        if getattr(args, name):
            given[name] = getattr(args, name)
    return given


def read_jsonl(path):
    """`{input name: [values]}` of a JSON-lines file of objects (blank lines skipped); every
    line must have the same keys.

    Example:

    ```python
    import os, tempfile
    path = os.path.join(tempfile.mkdtemp(), "in.jsonl")
    with open(path, "w") as f:
        f.write('{"text": "a good film"}\\n\\n{"text": "dull"}\\n')
    read_jsonl(path)  # {'text': ['a good film', 'dull']}
    ```
    """
    columns, keys = {}, None
    with open_text(path, 'a JSON lines file of inputs, e.g. {"text": "a good film"} per line') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}, line {number}: not JSON ({e.msg}); write one object "
                                 'per line, e.g. {"text": "a good film"}.') from None
            if not isinstance(row, dict) or not row:
                raise ValueError(f"{path}, line {number}: not a JSON object of inputs; write "
                                 'one object per line, e.g. {"text": "a good film"}.')
            if keys is None:
                keys = sorted(row)
            elif sorted(row) != keys:
                raise ValueError(f"{path}, line {number}: keys {sorted(row)} where earlier "
                                 f"lines have {keys}; give every line the same inputs.")
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
    if not columns:
        raise ValueError(f"{path} holds no examples; write one JSON object per line.")
    return columns


def check_inputs(given, input_names, signature, path):
    """Raises a `ValueError` unless `given` (`{name: [values]}`) names exactly the
    signature's inputs (`input_names`), with the same number of values each; the message
    lists the expected names and the flags that fill them.

    Example:

    ```python
    check_inputs({"text": ["a", "b"]}, ["text"], "serving_default", "m")  # None
    ```
    """
    expected = sorted(input_names)
    if sorted(given) != expected:
        flags = [FLAGS[name] for name in expected if name in FLAGS]
        how = (" and ".join(dict.fromkeys(flags)) + ", or " if len(flags) == len(expected)
               else "") + "--input FILE.jsonl with those keys"
        got = f"got {sorted(given)}" if given else "got none"
        raise ValueError(f"The {signature} signature of {path} takes the inputs {expected} "
                         f"({how}); {got}.")
    counts = {name: len(values) for name, values in given.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(f"The inputs have different numbers of examples {counts}; give one "
                         "value of each input per example.")


def rest_predictions(outputs):
    """TF Serving's REST row format of a signature's outputs (`{name: array [batch, ...]}`):
    `{"predictions": [one object per example]}`, strings decoded as UTF-8; a single output
    gives its values alone.

    Example:

    ```python
    import numpy as np
    rest_predictions({"label": np.array([b"pos", b"neg"], dtype=object),
                      "label_id": np.array([1, 0])})
    # {'predictions': [{'label': 'pos', 'label_id': 1}, {'label': 'neg', 'label_id': 0}]}
    rest_predictions({"score": np.array([0.5, 2.0], "float32")})  # {'predictions': [0.5, 2.0]}
    ```
    """
    import numpy as np

    columns = {name: _plain(np.asarray(value).tolist()) for name, value in outputs.items()}
    batch = len(next(iter(columns.values()))) if columns else 0
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    return {"predictions": [{name: column[i] for name, column in sorted(columns.items())}
                            for i in range(batch)]}


def run(args):
    """Loads the SavedModel (or the run), feeds the inputs to the signature, prints the JSON
    answer."""
    if args.batch_size <= 0:
        raise ValueError(f"--batch-size must be a positive integer; got {args.batch_size}.")
    flags = [args.text, args.text_b, args.question, args.context]
    if args.input and any(flags):
        raise ValueError("Pass the inputs either as flags (--text ...) or as --input "
                         "FILE.jsonl, not both.")
    if args.input and not os.path.isfile(args.input):
        raise FileNotFoundError(f"--input {args.input} does not exist; pass a JSON-lines file "
                                "of input objects.")
    from keras_bert_impl.export.export_cli import is_task_model_path

    if is_task_model_path(args.model):
        return _predict_with_run(args)
    if args.dtype is not None or args.quantize is not None:
        raise ValueError(f"--dtype and --quantize make a run's inference variant; {args.model} "
                         "is a SavedModel, which computes as it was exported. Export the "
                         "variant (keras-bert export --model RUN --dtype/--quantize ...) or "
                         "pass the run directory as --model.")
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the TF-Text ops serving_default runs)

    from keras_bert_impl.export.layout import resolve_saved_model
    from keras_bert_impl.export.warmup import signature_inputs

    path = resolve_saved_model(args.model)
    # The inputs are checked against saved_model.pb before the (slower) load.
    feed, count = _feed(args, signature_inputs(path), path)
    with Progress(f"predict: loading {path}"):
        loaded = tf.saved_model.load(path)
    return _answer(args, loaded.signatures[args.signature], feed, count)


def _predict_with_run(args):
    """`--model RUN`: the run's Keras model (its `--dtype` / `--quantize` variant) answers
    through the signatures its SavedModel would hold, built in memory."""
    from keras_bert_impl.export.export_cli import load_task_model
    from keras_bert_impl.export.saved_model import serving_signatures
    from keras_bert_impl.models.inference import inference_model

    with Progress(f"predict: loading {args.model}"):
        model, pairs = load_task_model(args.model)
        model = inference_model(model, dtype=args.dtype, quantize=args.quantize)
    with serving_signatures(model, pairs=bool(pairs)) as functions:
        inputs = {name: {spec.name: spec.dtype for spec in
                         function.structured_input_signature[0]}
                  for name, function in functions.items()}
        feed, count = _feed(args, inputs, args.model)
        return _answer(args, functions[args.signature], feed, count)


def _feed(args, signatures, path):
    """`({input name: tensor}, examples)` for `args.signature` of `signatures` (`{signature
    name: {input name: tf.DType}}`), from the flags or `--input`, checked."""
    import tensorflow as tf

    if args.signature not in signatures:
        raise ValueError(f"{path} has no signature {args.signature!r}; it has "
                         f"{sorted(signatures)} (--signature NAME).")
    dtypes = signatures[args.signature]
    given = read_jsonl(args.input) if args.input else flag_inputs(args, dtypes)
    check_inputs(given, dtypes, args.signature, path)
    feed = {}
    for name, values in given.items():
        if dtypes[name] == tf.string:
            if not all(isinstance(v, str) for v in values):
                raise ValueError(f"Input {name!r} takes strings; got {values[:3]!r}.")
            feed[name] = tf.constant([v.encode("utf-8") for v in values], tf.string)
        else:
            feed[name] = tf.constant(_padded(name, values), dtypes[name])
    return feed, len(next(iter(given.values())))


def _answer(args, function, feed, count):
    """Calls `function` on `feed`, `--batch-size` examples at a time; prints the JSON."""
    import numpy as np

    size = args.batch_size
    predictions = []
    with Progress("predict", total=count, enabled=None if count > size else False) as bar:
        for start in range(0, count, size):
            outputs = function(**{name: value[start:start + size]
                                  for name, value in feed.items()})
            predictions += rest_predictions({k: np.asarray(v)
                                             for k, v in outputs.items()})["predictions"]
            bar.update(min(start + size, count))
    print(json.dumps({"predictions": predictions}, ensure_ascii=False))
    return 0


def _padded(name, values):
    """Numeric rows as one array; lists of different lengths padded with 0 at the end."""
    import numpy as np

    if values and all(isinstance(v, list) for v in values):
        if not all(isinstance(x, (int, float)) for v in values for x in v):
            raise ValueError(f"Input {name!r} takes numbers (one list per example); got "
                             f"{values[:2]!r}.")
        length = max((len(v) for v in values), default=0)
        return np.array([v + [0] * (length - len(v)) for v in values])
    if not all(isinstance(v, (int, float)) for v in values):
        raise ValueError(f"Input {name!r} takes numbers; got {values[:3]!r}.")
    return np.array(values)


def _plain(value):
    """`value` (nested lists from `tolist()`) with bytes decoded as UTF-8."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
