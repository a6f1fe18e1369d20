"""`keras-bert export` and `keras-bert predict` end to end on a tiny fine-tuned MRPC run (a
preset saved the way `keras-bert finetune` saves one): versions 1, 2, ... in TF Serving's
layout, an existing version never overwritten without `--overwrite` (its files' hashes
unchanged), `models.config` parsed by TF Serving's own `ModelServerConfig`, the warmup
records parsed by `tensorflow_serving.apis.PredictionLog` and run against the exported
signatures, and `predict` answering in TF Serving's REST row format with the Keras model's
labels (reference: the Keras model's `predict`; probabilities within 1e-5). Bad input is one
`error:` line.
"""

import hashlib
import json
import os
import re

import keras
import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.export.layout import MODELS_CONFIG
from keras_bert_impl.export.warmup import WARMUP_FILE
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "film", "good", "bad", "cat",
         "sat", "was", "sitting", "on", "mat", ".", ",", "he", "said"]
TINY = dict(vocab_size=len(VOCAB), num_layers=1, hidden_size=16, num_heads=2,
            intermediate_size=32)
LABELS = ["not_equivalent", "equivalent"]
TEXT_A = ["the cat sat on the mat .", "a good film", "he said the film was bad",
          "the mat was sitting on a cat"]
TEXT_B = ["a cat was sitting on the mat .", "a bad film", "the film was good , he said", ""]


def _tree_hash(folder):
    digest = hashlib.sha256()
    for parent, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(parent, name)
            digest.update(os.path.relpath(path, folder).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def _logits(classifier):
    """The Keras model's logits for the test pairs (its preprocessor, then the model)."""
    import tensorflow as tf

    features = classifier.preprocessor((tf.constant(TEXT_A), tf.constant(TEXT_B)))
    return np.asarray(classifier(features, training=False))


def _cli(capsys, *argv):
    """`(status, stdout, stderr)` of `keras-bert ARGV` run in this process."""
    capsys.readouterr()
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("export_cli"))


def make_run(root, **config):
    """`(run directory, classifier, root)`: a tiny MRPC classifier with a sharpened head (so
    its labels differ between examples), saved in `root` as `keras-bert finetune` saves a
    run; `config`: `BertConfig` fields changed."""
    keras.utils.set_random_seed(0)
    classifier = BertClassifier.from_preset(
        "bert_tiny", num_classes=2, label_names=LABELS,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=16),
        **{**TINY, **config})
    # A large head kernel, with a bias centring the logits on the test pairs, makes the
    # random tiny model's answers differ between them.
    kernel, bias = classifier.classifier_dense.kernel, classifier.classifier_dense.bias
    kernel.assign(np.random.default_rng(0).normal(0.0, 30.0, kernel.shape))
    bias.assign(bias.numpy() - _logits(classifier).mean(0))
    path = str(root / "mrpc")
    classifier.save_to_preset(path, tokenizer=classifier.preprocessor.tokenizer,
                              metadata={"finetune": {"task": "mrpc", "best_epoch": 1,
                                                     "settings": {}}})
    return path, classifier, root


@pytest.fixture(scope="module")
def exported(run):
    """Runs the export sequence once and records what each step left: version 1 from the run
    (text and ids signatures), version 2 from a `.keras` file with `--ids-only` (no TF-Text
    tracing: fast), a refused `--version 1`, and `--version 2 --overwrite`."""
    path, classifier, root = run
    out = str(root / "savedmodels")
    keras_file = str(root / "mrpc.keras")
    classifier.save(keras_file)
    record = {"out": out}
    record["first"] = _main("export", "--model", path, "--name", "mrpc", "--out", out)
    record["second"] = _main("export", "--model", keras_file, "--name", "mrpc", "--out", out,
                             "--ids-only")
    version_1, version_2 = (os.path.join(out, "mrpc", v) for v in ("1", "2"))
    record["hash_before"] = _tree_hash(version_1)
    record["config"] = open(os.path.join(out, MODELS_CONFIG)).read()
    record["refused"] = _main("export", "--model", path, "--name", "mrpc", "--out", out,
                              "--version", "1")
    record["hash_after"] = _tree_hash(version_1)
    record["entries_after_refusal"] = sorted(os.listdir(os.path.join(out, "mrpc")))
    with open(os.path.join(version_2, "stale.txt"), "w") as f:
        f.write("replaced by --overwrite")
    record["overwritten"] = _main("export", "--model", keras_file, "--name", "mrpc", "--out",
                                  out, "--version", "2", "--overwrite", "--ids-only")
    record["entries_after_overwrite"] = sorted(os.listdir(version_2))
    return record


def _main(*argv):
    """`(status, stdout, stderr)` of `keras-bert ARGV` (module fixtures cannot use capsys)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_versions_count_up_and_an_existing_one_is_kept(exported):
    out = exported["out"]
    status, printed, error = exported["first"]
    assert status == 0, error
    assert re.fullmatch(
        re.escape(f"export: wrote {os.path.join(out, 'mrpc', '1')} (serving_default, "
                  "serve_ids; ") + r"\d+\.\d MB" + re.escape(
            f") and {os.path.join(out, 'models.config')}\n"), printed), printed
    status, printed, error = exported["second"]
    assert status == 0 and os.path.join(out, "mrpc", "2") in printed, error
    status, printed, error = exported["refused"]
    assert status == 2 and printed == ""
    assert error.startswith("error:") and len(error.strip().splitlines()) == 1
    assert "mrpc/1 already exists" in error and "--overwrite" in error and "version 3" in error
    assert exported["hash_after"] == exported["hash_before"]
    assert exported["entries_after_refusal"] == ["1", "2"]  # no temp folder left


def test_overwrite_replaces_the_whole_version(exported):
    status, _, error = exported["overwritten"]
    assert status == 0, error
    assert "stale.txt" not in exported["entries_after_overwrite"]
    assert "saved_model.pb" in exported["entries_after_overwrite"]
    assert sorted(os.listdir(os.path.join(exported["out"], "mrpc"))) == ["1", "2"]


def test_models_config_is_tf_servings_model_server_config(exported):
    from google.protobuf import text_format

    config_pb2 = pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
    config = text_format.Parse(exported["config"], config_pb2.ModelServerConfig())
    models = config.model_config_list.config
    assert [(m.name, m.base_path, m.model_platform) for m in models] == [
        ("mrpc", "/models/mrpc", "tensorflow")]


def _warmup_requests(version):
    """`[(model name, signature name, {input: array})]` parsed with tensorflow-serving-api."""
    import tensorflow as tf

    log_pb2 = pytest.importorskip("tensorflow_serving.apis.prediction_log_pb2")
    requests = []
    for record in tf.data.TFRecordDataset(os.path.join(version, WARMUP_FILE)):
        log = log_pb2.PredictionLog.FromString(record.numpy())
        assert log.WhichOneof("log_type") == "predict_log"
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        requests.append((request.model_spec.name, request.model_spec.signature_name, inputs))
    return requests


def test_warmup_records_parse_and_run(exported, run):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401

    version = os.path.join(exported["out"], "mrpc", "1")
    requests = _warmup_requests(version)
    assert [(m, s, sorted(i)) for m, s, i in requests] == (
        [("mrpc", "serve_ids", ["padding_mask", "segment_ids", "token_ids"])] * 2
        + [("mrpc", "serving_default", ["text_a", "text_b"])] * 2)
    loaded = tf.saved_model.load(version)
    label_names = set(LABELS)
    for _, signature, inputs in requests:
        outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
        batch = len(next(iter(inputs.values())))
        assert outputs["probabilities"].shape == (batch, 2)
        if signature == "serving_default":
            assert {label.decode() for label in outputs["label"].numpy()} <= label_names
    # The warmup texts are real sentences (MRPC), not placeholders.
    text_a = [t.decode() for t in requests[-1][2]["text_a"]]
    assert len(text_a) == 3 and all(len(t.split()) > 5 for t in text_a)
    # The ids-only version warms serve_ids alone.
    ids_only = _warmup_requests(os.path.join(exported["out"], "mrpc", "2"))
    assert [s for _, s, _ in ids_only] == ["serve_ids", "serve_ids"]


def test_predict_answers_like_tf_serving_with_the_keras_labels(exported, run, capsys):
    _, classifier, _ = run
    argv = ["predict", "--model", os.path.join(exported["out"], "mrpc", "1")]
    for a, b in zip(TEXT_A, TEXT_B):
        argv += ["--text", a, "--text-b", b]
    status, printed, error = _cli(capsys, *argv)
    assert status == 0, error
    answer = json.loads(printed)
    assert list(answer) == ["predictions"] and len(answer["predictions"]) == len(TEXT_A)
    assert all(sorted(row) == ["label", "label_id", "probabilities"]
               for row in answer["predictions"])
    logits = _logits(classifier).astype("float64")
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    assert [row["label"] for row in answer["predictions"]] == [
        LABELS[i] for i in probabilities.argmax(-1)]
    assert len({row["label"] for row in answer["predictions"]}) == 2  # the head is sharp
    np.testing.assert_allclose([row["probabilities"] for row in answer["predictions"]],
                               probabilities, atol=1e-5)


def test_predict_reads_jsonl_and_calls_serve_ids(exported, run, capsys, tmp_path):
    _, classifier, _ = run
    rows = [{"text_a": a, "text_b": b} for a, b in zip(TEXT_A, TEXT_B)]
    texts = tmp_path / "pairs.jsonl"
    texts.write_text("".join(json.dumps(row) + "\n" for row in rows))
    version_1 = os.path.join(exported["out"], "mrpc", "1")
    status, printed, error = _cli(capsys, "predict", "--model", version_1, "--input", str(texts))
    assert status == 0, error
    by_text = json.loads(printed)["predictions"]
    # Token ids of different lengths, padded by predict; the model folder means its highest
    # version, the ids-only version 2.
    features = classifier.preprocessor((TEXT_A, TEXT_B))
    lengths = np.asarray(features["padding_mask"]).sum(-1)
    ids = tmp_path / "ids.jsonl"
    ids.write_text("".join(json.dumps({name: np.asarray(features[name])[i, :n].tolist()
                                       for name in ("token_ids", "segment_ids", "padding_mask")})
                           + "\n" for i, n in enumerate(lengths)))
    status, printed, error = _cli(capsys, "predict", "--model",
                                  os.path.join(exported["out"], "mrpc"),
                                  "--signature", "serve_ids", "--input", str(ids))
    assert status == 0, error
    by_ids = json.loads(printed)["predictions"]
    assert [row["label_id"] for row in by_ids] == [LABELS.index(r["label"]) for r in by_text]
    np.testing.assert_allclose([r["probabilities"] for r in by_ids],
                               [r["probabilities"] for r in by_text], atol=1e-5)


@pytest.mark.parametrize("argv, message", [
    (["export", "--model", "{run}", "--name", "bad name"], "is not a TF Serving model folder"),
    (["export", "--model", "{root}/nowhere", "--name", "m"], "nowhere does not exist"),
    (["export", "--model", "{root}", "--name", "m"], "neither a run directory"),
    (["export", "--model", "{run}", "--name", "m", "--version", "0"], "not a positive integer"),
    (["predict", "--model", "{root}/nowhere", "--text", "a"], "nowhere does not exist"),
    (["predict", "--model", "{out}/mrpc/1", "--text", "a"],
     "takes the inputs ['text_a', 'text_b'] (--text and --text-b, or --input FILE.jsonl"),
    (["predict", "--model", "{out}/mrpc/1", "--text", "a", "--text-b", "b", "--text", "c"],
     "different numbers of examples"),
    (["predict", "--model", "{out}/mrpc", "--signature", "nope", "--text", "a"],
     "has no signature 'nope'; it has ['serve_ids']"),
])
def test_bad_input_is_one_error_line(exported, run, capsys, argv, message):
    path, _, root = run
    argv = [a.format(run=path, root=root, out=exported["out"]) for a in argv]
    status, printed, error = _cli(capsys, *argv)
    assert status == 2 and printed == ""
    assert error.startswith("error:") and len(error.strip().splitlines()) == 1, error
    assert message in error
