"""`export_saved_model`: a fine-tuned task model as a TF SavedModel that TF Serving loads.

The SavedModel holds the model's weights, its preprocessor (the same TF-Text layer that fed it
in training, traced into the graph, so serving cannot drift from training:
google-research/bert#496), its label names (a string constant in the graph) and its
vocabulary (`assets/vocab.txt`, a SavedModel asset, so it moves with the directory:
tensorflow/hub#719). It exports two signatures, described in
`keras_bert_impl.export.signatures`: `serving_default` (raw strings in) and `serve_ids` (token
ids in, core TensorFlow ops only). Loading a SavedModel reads all of its functions, so a
server without TF-Text's ops cannot load the two-signature export even to run `serve_ids`;
for such a server export with `text_signature=False` (`serve_ids` alone) and tokenize on the
client with `assets/vocab.txt`.

Why one `tf.Module` rather than Keras' `model.export()` / `ExportArchive`: the preprocessor is
not part of the functional model (keras-hub cannot export it at all, keras-hub#784, #2015),
and the signatures need post-processing (label strings, per-word tags) around the model. Model
Garden's `serving_modules.py` does the same on Keras 2.

The directory is written atomically (`keras_bert_impl.export.atomic`): into a temp folder
beside `path`, then renamed, so `path` never holds half an export. A model on another Keras
backend (JAX) is exported by a TensorFlow-backend Python process that rebuilds it from its
config and weights.

Supported: `BertClassifier` (one text or pairs; `num_classes=1` is regression),
`BertTokenClassifier` (words joined by whitespace, one string per sentence) and
`BertSpanLabeler` (`question` and `context` strings in; answer text, character offsets and
score out: every `doc_stride` window of a long context is built, run and decoded in the graph,
as `labeler.answer(...)` does on the host; see `keras_bert_impl.export.span_serving`).
"""

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile

import keras

from keras_bert_impl.export.atomic import atomic_directory, check_writable
from keras_bert_impl.export.signatures import (
    PAIR_TEXT_INPUTS,
    SINGLE_TEXT_INPUTS,
    SPAN_TEXT_INPUTS,
    serving_module,
    signatures,
)
from keras_bert_impl.models.classifier import BertClassifier
from keras_bert_impl.models.span_labeler import BertSpanLabeler
from keras_bert_impl.models.token_classifier import BertTokenClassifier

logger = logging.getLogger("keras_bert_impl")

VOCAB_ASSET = "vocab.txt"
DEFAULT_MAX_ANSWER_LENGTH = 30
DEFAULT_N_BEST_SIZE = 20


def export_saved_model(task, path, preprocessor=None, overwrite=False, pairs=False,
                       text_signature=True, max_answer_length=None, n_best_size=None):
    """Writes `task` as a TF SavedModel at `path`, with `serving_default` (raw text) and
    `serve_ids` (token ids) signatures (see `keras_bert_impl.export.signatures`).

    Args:
        task: a `BertClassifier`, `BertTokenClassifier` or `BertSpanLabeler`.
        path: the directory to write (`saved_model.pb`, `variables/`, `assets/vocab.txt`).
            It must not exist or be empty, unless `overwrite`.
        preprocessor: the text layer run inside `serving_default`; default the task's own
            (`task.preprocessor`).
        overwrite: replace an existing non-empty `path`.
        pairs: classifiers only: `serving_default` takes sentence pairs (`text_a`,
            `text_b`) instead of one `text`.
        text_signature: `False` leaves `serving_default` out: the SavedModel then holds no
            TF-Text op at all and loads where TF-Text's ops are not registered (a process
            that never imports `tensorflow_text`, a TF Serving build without them). The
            two-signature SavedModel does not load there even to run `serve_ids`:
            `tf.saved_model.load` reads every function of the file and stops at the first
            unregistered op (tested).
        max_answer_length: span labelers only: the longest answer `serving_default` gives,
            in word pieces (default 30, as `labeler.answer`).
        n_best_size: span labelers only: the best start and end positions paired in each
            window (default 20, as `labeler.answer`; see `span_serving.best_spans`).

    Returns:
        `path`.

    Example:

    ```python
    import os, tempfile
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
    classifier = BertClassifier.from_preset(
        "bert_tiny", vocab_size=len(vocab), num_classes=2, label_names=["neg", "pos"],
        num_layers=1, hidden_size=16, num_heads=2,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8))
    path = export_saved_model(classifier, os.path.join(tempfile.mkdtemp(), "sst2"))
    sorted(os.listdir(path))  # ['assets', 'fingerprint.pb', 'saved_model.pb', 'variables']
    import tensorflow as tf
    serve = tf.saved_model.load(path).signatures["serving_default"]
    serve(text=tf.constant(["good film"]))["label"].shape  # (1,)
    ```
    """
    kind, preprocessor, decoding = _checked_serving_inputs(task, preprocessor, pairs,
                                                           max_answer_length, n_best_size)
    path = os.fspath(path)
    check_writable(path, overwrite)
    if keras.backend.backend() != "tensorflow":
        return _export_in_tensorflow_process(task, path, preprocessor, overwrite, pairs,
                                             text_signature, decoding)

    import tensorflow as tf

    with _serving(task, preprocessor, kind, pairs, text_signature, decoding) as (
            module, functions):
        with atomic_directory(path, overwrite) as folder:
            tf.saved_model.save(module, folder, signatures=functions)
    logger.info("Exported the %s to %s (signatures: %s).", type(task).__name__, path,
                ", ".join(sorted(functions)))
    return path


@contextlib.contextmanager
def serving_signatures(task, preprocessor=None, pairs=False, text_signature=True,
                       max_answer_length=None, n_best_size=None):
    """The signatures `export_saved_model` would write, in memory: yields `{signature name:
    concrete function}`, called as the loaded SavedModel's signatures are (keyword inputs, a
    dict of outputs). `keras-bert predict --model RUN` answers through them without writing
    a SavedModel. The arguments are `export_saved_model`'s; TensorFlow backend only.

    Example:

    ```python
    import tensorflow as tf
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
    classifier = BertClassifier.from_preset(
        "bert_tiny", vocab_size=len(vocab), num_classes=2, label_names=["neg", "pos"],
        num_layers=1, hidden_size=16, num_heads=2,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8))
    with serving_signatures(classifier) as functions:
        functions["serving_default"](text=tf.constant(["good film"]))["label"].shape  # (1,)
    ```
    """
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("serving_signatures needs the TensorFlow backend (KERAS_BACKEND="
                           f"tensorflow); this process runs {keras.backend.backend()}.")
    kind, preprocessor, decoding = _checked_serving_inputs(task, preprocessor, pairs,
                                                           max_answer_length, n_best_size)
    with _serving(task, preprocessor, kind, pairs, text_signature, decoding) as (_, functions):
        yield functions


@contextlib.contextmanager
def _serving(task, preprocessor, kind, pairs, text_signature, decoding):
    """Yields `(serving module, {signature name: concrete function})`; the vocabulary asset
    lives in a temp folder until the context exits."""
    label_names = _label_names(task, kind)
    text_inputs = ()
    if text_signature:
        text_inputs = (SPAN_TEXT_INPUTS if kind == "span" else PAIR_TEXT_INPUTS if pairs
                       else SINGLE_TEXT_INPUTS)
    with tempfile.TemporaryDirectory(prefix="keras-bert-export-") as scratch:
        vocab_file = os.path.join(scratch, VOCAB_ASSET)
        with open(vocab_file, "w", encoding="utf-8") as f:
            f.write("".join(token + "\n" for token in preprocessor.tokenizer.vocabulary))
        module = serving_module(task, preprocessor, kind, label_names, vocab_file, text_inputs,
                                **decoding)
        yield module, signatures(module)


def _checked_serving_inputs(task, preprocessor, pairs, max_answer_length, n_best_size):
    """`(kind, preprocessor, decoding)` the signatures of `task` are built from, each checked
    (the task's kind, the text layer `serving_default` runs, the span decoding settings)."""
    kind = _task_kind(task)
    return (kind, _serving_preprocessor(task, preprocessor, kind, pairs),
            _span_decoding(kind, max_answer_length, n_best_size))


def _task_kind(task):
    if isinstance(task, BertClassifier):
        return "regression" if task.num_classes == 1 else "classification"
    if isinstance(task, BertTokenClassifier):
        return "tagging"
    if isinstance(task, BertSpanLabeler):
        return "span"
    raise TypeError(f"export_saved_model exports a BertClassifier or BertTokenClassifier, or a "
                    f"BertSpanLabeler; got {type(task).__name__}.")


def _span_decoding(kind, max_answer_length, n_best_size):
    """`{"max_answer_length", "n_best_size"}` for a span model (defaults filled in, checked);
    `{}` for the others, which refuse them."""
    given = {name: value for name, value in (("max_answer_length", max_answer_length),
                                             ("n_best_size", n_best_size)) if value is not None}
    if kind != "span":
        if given:
            raise ValueError(f"{' and '.join(given)} decode answer spans: pass them only when "
                             "exporting a BertSpanLabeler.")
        return {}
    decoding = {"max_answer_length": DEFAULT_MAX_ANSWER_LENGTH,
                "n_best_size": DEFAULT_N_BEST_SIZE, **given}
    for name, value in decoding.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int (pieces); got {value!r}.")
    return decoding


def _serving_preprocessor(task, preprocessor, kind, pairs):
    """The preprocessor `serving_default` runs, checked against the task and its model."""
    from keras_bert_impl.text.preprocessors import BertPreprocessor
    from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor
    from keras_bert_impl.text.token_classifier_preprocessor import (
        BertTokenClassifierPreprocessor,
    )

    name = type(task).__name__
    preprocessor = task.preprocessor if preprocessor is None else preprocessor
    if preprocessor is None:
        raise ValueError(f"The {name} has no preprocessor, so its SavedModel could not take "
                         "text. Pass preprocessor=... (e.g. the task's default_preprocessor("
                         "BertTokenizer(vocab.txt))), or build the model with from_preset on "
                         "a checkpoint with a vocabulary.")
    wanted = {"tagging": BertTokenClassifierPreprocessor,
              "span": BertSpanPreprocessor}.get(kind, BertPreprocessor)
    if not isinstance(preprocessor, wanted):
        raise TypeError(f"A {name} is served through a {wanted.__name__}; got "
                        f"{type(preprocessor).__name__}.")
    if pairs and kind == "tagging":
        raise ValueError("pairs=True is for classifiers (two texts per example); a "
                         "BertTokenClassifier takes one sentence of words.")
    if pairs and kind == "span":
        raise ValueError("pairs=True is for classifiers; a BertSpanLabeler always takes a "
                         "question and a context (serving_default's `question` and "
                         "`context`): leave pairs out.")
    task.get_encoder().config.check_sequence_length(
        preprocessor.sequence_length, model=f"this {name}'s encoder",
        argument="the preprocessor's sequence_length")
    limits = task.input_limits()
    vocabulary = len(preprocessor.tokenizer.vocabulary)
    if vocabulary > limits.vocab_size:
        raise ValueError(f"The preprocessor's vocabulary has {vocabulary} tokens but the model "
                         f"embeds {limits.vocab_size}; the tokenizer is not the model's (use "
                         "the model's vocab.txt, e.g. model.build_tokenizer()).")
    return preprocessor


def _label_names(task, kind):
    if kind in ("regression", "span"):
        return []
    if task.label_names is not None:
        return list(task.label_names)
    return [str(i) for i in range(task.num_classes)]


# --- other backends: export from a TensorFlow-backend process ---------------------------

_EXPORT_IN_TENSORFLOW = """
import json, sys
import keras
from keras_bert_impl.export.saved_model import _export_from_files
_export_from_files(**json.loads(sys.argv[1]))
"""


def _export_in_tensorflow_process(task, path, preprocessor, overwrite, pairs, text_signature,
                                  decoding):
    """Exports a model of another Keras backend (JAX): its config and weights go to a
    TensorFlow-backend process, which rebuilds the model and exports it."""
    with tempfile.TemporaryDirectory(prefix="keras-bert-export-") as scratch:
        arguments = {
            "config_file": os.path.join(scratch, "model.json"),
            "weights_file": os.path.join(scratch, "model.weights.h5"),
            "preprocessor_file": os.path.join(scratch, "preprocessor.json"),
            "path": os.path.abspath(path), "overwrite": overwrite, "pairs": pairs,
            "text_signature": text_signature, **decoding,
        }
        with open(arguments["config_file"], "w", encoding="utf-8") as f:
            json.dump(keras.saving.serialize_keras_object(task), f)
        with open(arguments["preprocessor_file"], "w", encoding="utf-8") as f:
            json.dump(keras.saving.serialize_keras_object(preprocessor), f)
        task.save_weights(arguments["weights_file"])
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
        result = subprocess.run([sys.executable, "-c", _EXPORT_IN_TENSORFLOW,
                                 json.dumps(arguments)], capture_output=True, text=True,
                                env=env)
    if result.returncode != 0:
        raise RuntimeError(f"Exporting the {keras.backend.backend()} model through a "
                           f"TensorFlow-backend process failed:\n{result.stderr[-3000:]}")
    return path


def _export_from_files(config_file, weights_file, preprocessor_file, path, overwrite, pairs,
                       text_signature, max_answer_length=None, n_best_size=None):
    with open(config_file, encoding="utf-8") as f:
        task = keras.saving.deserialize_keras_object(json.load(f))
    task.load_weights(weights_file)
    with open(preprocessor_file, encoding="utf-8") as f:
        preprocessor = keras.saving.deserialize_keras_object(json.load(f))
    export_saved_model(task, path, preprocessor=preprocessor, overwrite=overwrite, pairs=pairs,
                       text_signature=text_signature, max_answer_length=max_answer_length,
                       n_best_size=n_best_size)
