"""SavedModels for TF Serving: a fresh process that imports only `tensorflow` and
`tensorflow_text` loads the export (after the directory moved) and gives the Keras model's
outputs (max-abs 1e-5, same labels) for a classifier, a pair classifier, a regressor and a
tagger; `serve_ids` agrees with `serving_default` and holds no TF-Text op; serving-time edge
cases answer instead of failing; the export directory is written atomically.

Reference: the Keras model itself (`predict` on the preprocessor's features; the tagger's
`tag`, which reads a sentence longer than the sequence in windows); tolerance 1e-5.
"""

import json
import os
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_bert_impl.export import (
    export_saved_model,
    graph_op_names,
    tf_text_op_names,
)
from keras_bert_impl.export.graph_ops import saved_model_op_names
from keras_bert_impl.models import BertClassifier, BertTokenClassifier
from keras_bert_impl.text import (
    BertClassifierPreprocessor,
    BertTokenClassifierPreprocessor,
    BertTokenizer,
)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "film", "good", "bad", "of",
         "and", "to", "in", ",", ".", "'", "s", "##s", "john"]
TINY = dict(vocab_size=len(VOCAB), num_layers=1, hidden_size=16, num_heads=2,
            intermediate_size=32)
TAGS = ["O", "B-PER", "I-PER", "B-LOC", "B-ORG"]
# Real lines: SST-2, MRPC and CoNLL-2003 (valid), as in ../shared/data.
SENTENCES = [
    "a stirring , funny and finally transporting re imagining of beauty and the beast",
    "apparently reassembled from the cutting room floor of any given daytime soap",
    "Amrozi accused his brother, whom he called \"the witness\", of deliberately distorting "
    "his evidence.",
    "Yucaipa owned Dominick's before selling the chain to Safeway in 1998 for $2.5 billion.",
    "LEICESTERSHIRE TAKE OVER AT TOP AFTER INNINGS VICTORY .",
    "Café crème à Zürich — naïve façade, 東京 and Ωmega",
]
SECOND = [
    "the film was good",
    "Referring to him as only \"the witness\", Amrozi accused his brother.",
    "Yucaipa bought Dominick's in 1995 for $693 million.",
    "",
    "good good good",
    "a bad film",
]
# Serving-time edge cases: empty, whitespace only, longer than any sequence length (truncated),
# invalid UTF-8 bytes, control and format characters.
EDGE = [b"", b"   \t ", b" ".join([b"good film"] * 40), b"\xff\xfe bad \xc3\x28 film \xe2\x82",
        "\x00\x07the\x1bfilm\u200b is\u0085 good\r\n".encode()]
TEXTS = [s.encode() for s in SENTENCES] + EDGE
TEXTS_B = [s.encode() for s in SECOND] + [b"a film", b"", b"the", b"\xff", b"good"]

_LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF-Text ops serving_default uses)


def plain(value):
    value = np.asarray(value)
    if value.dtype == object:
        value = np.vectorize(lambda b: b.decode(), otypes=[object])(value)
    return value.tolist()


def session_run(path, signature, inputs):
    # TF Serving's way: a TF1 session, the restore op, and the signature's tensor names.
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        spec = meta.signature_def[signature]
        fetched = session.run({k: v.name for k, v in spec.outputs.items()},
                              {spec.inputs[k].name: v for k, v in inputs.items()})
    return {k: plain(v) for k, v in fetched.items()}


spec = json.loads(open(sys.argv[1]).read())
out = {}
for name, job in spec.items():
    loaded = tf.saved_model.load(job["path"])
    text = {k: [bytes.fromhex(t) for t in v] for k, v in job["text"].items()}
    served = loaded.signatures["serving_default"](
        **{k: tf.constant(v, tf.string) for k, v in text.items()})
    empty = loaded.signatures["serving_default"](
        **{k: tf.zeros([0], tf.string) for k in text})
    ids = loaded.signatures["serve_ids"](**{k: tf.constant(v, tf.int32)
                                            for k, v in job["ids"].items()})
    out[name] = {
        "signatures": sorted(loaded.signatures),
        "text": {k: plain(v) for k, v in served.items()},
        "empty": {k: list(v.shape) for k, v in empty.items()},
        "ids": {k: plain(v) for k, v in ids.items()},
        "session_text": session_run(job["path"], "serving_default", text),
        "session_ids": session_run(job["path"], "serve_ids", job["ids"]),
    }
out["modules"] = sorted(m for m in sys.modules if m.startswith("keras_bert_impl"))
print(json.dumps(out))
"""


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _run(code, *args):
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                            text=True, env=_env())
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout.strip().splitlines()[-1]


def _sharpen_head(model, inputs, seed):
    """A random tiny model says nearly the same for every text; a large head kernel, with a
    bias that centres the logits on the test batch, makes its answers vary."""
    kernel, bias = model.classifier_dense.kernel, model.classifier_dense.bias
    kernel.assign(np.random.default_rng(seed).normal(0.0, 30.0, kernel.shape))
    logits = model.predict(_features(model, inputs)[0], verbose=0)
    bias.assign(bias.numpy() - logits.reshape(-1, logits.shape[-1]).mean(0))


def _models():
    """`{name: (model, serving_default's input names)}`."""
    tokenizer = BertTokenizer(VOCAB)
    keras.utils.set_random_seed(0)
    classifier = BertClassifier.from_preset(
        "bert_tiny", num_classes=3, label_names=["negative", "neutral", "positive"],
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=16), **TINY)
    pairs = BertClassifier.from_preset(  # no label_names: labels are the ids as strings
        "bert_tiny", num_classes=2,
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=16), **TINY)
    regressor = BertClassifier.from_preset(
        "bert_tiny", num_classes=1,
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=16), **TINY)
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=len(TAGS), label_names=TAGS,
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=12), **TINY)
    models = {"classifier": (classifier, ("text",)), "pairs": (pairs, ("text_a", "text_b")),
              "regressor": (regressor, ("text",)), "tagger": (tagger, ("text",))}
    for seed, (model, text_inputs) in enumerate(models.values()):
        _sharpen_head(model, _inputs(text_inputs), seed)
    return models


def _inputs(text_inputs):
    """The test texts for `serving_default`'s inputs: one list of bytes per input."""
    return [TEXTS, TEXTS_B][:len(text_inputs)]


def _features(model, inputs):
    import tensorflow as tf

    segments = [tf.constant(texts, tf.string) for texts in inputs]
    features = model.preprocessor(segments[0] if len(segments) == 1 else tuple(segments))
    return {k: np.asarray(v).astype("int32") for k, v in features.items()}, segments[0]


def _keras_answers(model, inputs):
    """What the Keras model says for the raw texts `inputs` (one list per text input)."""
    features, _ = _features(model, inputs)
    logits = model.predict(features, verbose=0).astype("float64")
    if isinstance(model, BertTokenClassifier):  # sentences longer than 12 read in windows
        labels, scores = model.tag(inputs[0], return_scores=True)
        return {"labels": labels, "scores": scores}, features
    if model.num_classes == 1:
        return {"score": logits[:, 0]}, features
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    names = model.label_names or [str(i) for i in range(model.num_classes)]
    return {"probabilities": probabilities,
            "label": [names[i] for i in probabilities.argmax(-1)]}, features


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    models = _models()
    for name, (model, text_inputs) in models.items():
        export_saved_model(model, root / "built" / name, pairs=len(text_inputs) == 2)
    # Everything a SavedModel needs travels with its directory (vocab asset included).
    shutil.move(root / "built", root / "moved")
    spec, expected = {}, {}
    for name, (model, text_inputs) in models.items():
        inputs = _inputs(text_inputs)
        expected[name], features = _keras_answers(model, inputs)
        spec[name] = {"path": str(root / "moved" / name),
                      "text": {key: [t.hex() for t in texts]
                               for key, texts in zip(text_inputs, inputs)},
                      "ids": {k: v.tolist() for k, v in features.items()}}
    (root / "spec.json").write_text(json.dumps(spec))
    served = json.loads(_run(_LOADER, str(root / "spec.json")))
    return {"root": root / "moved", "models": models, "expected": expected, "served": served}


def test_fresh_process_and_session_loader_with_only_tensorflow_and_tf_text(exported):
    served = exported["served"]
    assert served["modules"] == []  # keras_bert_impl was never imported
    for name in exported["models"]:
        assert served[name]["signatures"] == ["serve_ids", "serving_default"]
        # TF Serving's loader (a TF1 session filled by the restore op) gives the same answers.
        for signature in ("text", "ids"):
            answers, in_session = served[name][signature], served[name][f"session_{signature}"]
            assert sorted(in_session) == sorted(answers)
            for key, value in answers.items():
                if key in ("label", "labels"):
                    assert in_session[key] == value
                else:
                    np.testing.assert_allclose(in_session[key], value, atol=1e-6)
        assert (exported["root"] / name / "assets" / "vocab.txt").read_text().split("\n")[:-1] \
            == VOCAB


@pytest.mark.parametrize("name", ["classifier", "pairs"])
def test_classifier_matches_keras(exported, name):
    expected, served = exported["expected"][name], exported["served"][name]
    probabilities = np.array(served["text"]["probabilities"])
    assert probabilities.shape == (len(TEXTS), exported["models"][name][0].num_classes)
    assert np.abs(probabilities - expected["probabilities"]).max() <= 1e-5
    assert served["text"]["label"] == expected["label"]
    assert served["text"]["label_id"] == expected["probabilities"].argmax(-1).tolist()
    assert len(set(expected["label"])) > 1  # the batch is not one label throughout
    # The Keras model's own raw-text path (predict on strings) says the same.
    model = exported["models"][name][0]
    logits = model.predict(SENTENCES if name == "classifier" else (SENTENCES, SECOND),
                           verbose=0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(logits)),
                               probabilities[:len(SENTENCES)], atol=1e-5)
    assert served["empty"] == {"probabilities": [0, probabilities.shape[1]], "label_id": [0],
                               "label": [0]}
    # serve_ids on the same texts' ids: the same numbers, no strings.
    assert sorted(served["ids"]) == ["label_id", "probabilities"]
    np.testing.assert_allclose(served["ids"]["probabilities"], probabilities, atol=1e-6)
    assert served["ids"]["label_id"] == served["text"]["label_id"]


def test_pair_classifier_without_label_names_answers_ids_as_strings(exported):
    assert set(exported["served"]["pairs"]["text"]["label"]) <= {"0", "1"}


def test_regressor_matches_keras(exported):
    expected, served = exported["expected"]["regressor"], exported["served"]["regressor"]
    assert sorted(served["text"]) == ["score"]
    assert np.abs(np.array(served["text"]["score"]) - expected["score"]).max() <= 1e-5
    np.testing.assert_allclose(served["ids"]["score"], served["text"]["score"], atol=1e-6)
    assert served["empty"] == {"score": [0]}


def test_tagger_matches_keras_per_word(exported):
    expected, served = exported["expected"]["tagger"], exported["served"]["tagger"]
    labels, scores = served["text"]["labels"], np.array(served["text"]["scores"])
    words = [len(row) for row in expected["labels"]]
    assert words[:len(SENTENCES)] == [len(s.split()) for s in SENTENCES]
    assert np.array(labels).shape == scores.shape == (len(TEXTS), max(words))
    for i, count in enumerate(words):
        assert labels[i][:count] == expected["labels"][i]
        assert np.abs(scores[i, :count] - expected["scores"][i]).max(initial=0) <= 1e-5
        assert labels[i][count:] == [""] * (max(words) - count)  # padding
        assert not scores[i, count:].any()
    assert len({tag for row in expected["labels"] for tag in row}) > 1
    long = TEXTS.index(EDGE[2])  # 80 words, 10 fit in a sequence: read in 8 windows
    assert len(labels[long]) == 80 and scores[long].min() > 0
    assert labels[long] == labels[long][:10] * 8  # each window reads the same 10 words
    assert words[TEXTS.index(b"")] == 0 and words[TEXTS.index(EDGE[1])] == 0
    assert served["empty"] == {"labels": [0, 0], "scores": [0, 0]}
    # serve_ids gives per-token probabilities; at each word's first piece they are the scores.
    model = exported["models"]["tagger"][0]
    probabilities = np.array(served["ids"]["probabilities"])
    assert probabilities.shape == (len(TEXTS), 12, len(TAGS))
    import tensorflow as tf

    starts = model.preprocessor.word_starts(tf.constant(TEXTS)).to_list()
    for i, row in enumerate(starts):
        for w, start in enumerate(row):
            if start >= 0:
                assert abs(probabilities[i, start].max() - scores[i, w]) <= 1e-6
                assert TAGS[probabilities[i, start].argmax()] == labels[i][w]


def test_edge_cases_answer_as_documented(exported):
    served = exported["served"]["classifier"]["text"]
    probabilities = np.array(served["probabilities"])
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-6)
    # An empty or whitespace-only text is "[CLS] [SEP]"; invalid bytes and control
    # characters are dropped (the reference's clean_text: "\x1b" joins "the" and "film").
    empty, blank = TEXTS.index(EDGE[0]), TEXTS.index(EDGE[1])
    np.testing.assert_allclose(probabilities[empty], probabilities[blank], atol=1e-7)
    model = exported["models"]["classifier"][0]
    features, _ = _features(model, [[EDGE[3], b"bad ( film", EDGE[4], b"thefilm is good"]])
    np.testing.assert_array_equal(features["token_ids"][0], features["token_ids"][1])
    np.testing.assert_array_equal(features["token_ids"][2], features["token_ids"][3])


@pytest.mark.parametrize("name", ["classifier", "tagger"])
def test_serve_ids_holds_only_core_ops(exported, name):
    import tensorflow as tf

    text_ops = tf_text_op_names()
    assert {"FastWordpieceTokenizeWithOffsets", "TFText>RoundRobinTrim"} <= text_ops
    path = exported["root"] / name
    ids_ops = set(saved_model_op_names(path, "serve_ids"))
    assert {"MatMul", "Softmax"} <= ids_ops and not ids_ops & text_ops
    assert "FastWordpieceTokenizeWithOffsets" in saved_model_op_names(path, "serving_default")
    # The same through the loaded concrete functions' graphs and function libraries.
    loaded = tf.saved_model.load(str(path))
    assert not set(graph_op_names(loaded.signatures["serve_ids"])) & text_ops
    assert set(graph_op_names(loaded.signatures["serving_default"])) & text_ops


def test_saved_model_cli_lists_both_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip(f"{cli} is not installed")
    shown = subprocess.run([cli, "show", "--dir", str(exported["root"] / "pairs"), "--all"],
                           capture_output=True, text=True, env=_env(), check=True).stdout
    text, ids = shown.split("signature_def['serving_default']")[1], \
        shown.split("signature_def['serve_ids']")[1].split("signature_def[")[0]
    for name in ("text_a", "text_b"):
        assert f"inputs['{name}'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" \
            in text
    assert "outputs['label'] tensor_info:\n        dtype: DT_STRING" in text
    assert "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: " \
           "(-1, 2)" in text
    for name in ("token_ids", "segment_ids", "padding_mask"):
        assert f"inputs['{name}'] tensor_info:\n        dtype: DT_INT32\n        shape: " \
               "(-1, -1)" in ids
    assert "outputs['label_id'] tensor_info:\n        dtype: DT_INT64" in ids


_WITHOUT_TF_TEXT = r"""
import json, sys
import tensorflow as tf

ids_only, full, ids = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
answer = tf.saved_model.load(ids_only).signatures["serve_ids"](
    **{k: tf.constant(v, tf.int32) for k, v in ids.items()})
with tf.compat.v1.Session(graph=tf.Graph()) as session:  # as TF Serving loads it
    spec = tf.compat.v1.saved_model.loader.load(session, ["serve"], ids_only).signature_def
    in_session = session.run(spec["serve_ids"].outputs["probabilities"].name,
                             {spec["serve_ids"].inputs[k].name: v for k, v in ids.items()})
errors = []
for load in (lambda: tf.saved_model.load(full),
             lambda: tf.compat.v1.saved_model.loader.load(
                 tf.compat.v1.Session(graph=tf.Graph()), ["serve"], full)):
    try:
        load()
        errors.append(None)
    except Exception as error:
        errors.append(str(error))
print(json.dumps({"probabilities": answer["probabilities"].numpy().tolist(),
                  "session": in_session.tolist(), "full_errors": errors,
                  "tf_text": "tensorflow_text" in sys.modules}))
"""


def test_ids_only_export_loads_without_tf_text(exported, tmp_path):
    model = exported["models"]["classifier"][0]
    path = export_saved_model(model, tmp_path / "ids_only", text_signature=False)
    assert not set(saved_model_op_names(path, "serve_ids")) & tf_text_op_names()
    expected, features = _keras_answers(model, [TEXTS[:4]])
    result = json.loads(_run(_WITHOUT_TF_TEXT, str(path), str(exported["root"] / "classifier"),
                             json.dumps({k: v.tolist() for k, v in features.items()})))
    assert result["tf_text"] is False
    assert np.abs(np.array(result["probabilities"]) - expected["probabilities"]).max() <= 1e-5
    np.testing.assert_allclose(result["session"], result["probabilities"], atol=1e-6)
    # The two-signature export needs TF-Text's ops to load at all, with either loader
    # (documented in export_saved_model).
    assert all("Op type not registered" in error for error in result["full_errors"])


def test_existing_path_is_refused_unless_overwrite(exported, tmp_path):
    model = exported["models"]["regressor"][0]
    target = tmp_path / "model"
    shutil.copytree(exported["root"] / "classifier", target)
    (target / "marker").write_text("old")
    with pytest.raises(FileExistsError, match="not empty; pass overwrite=True"):
        export_saved_model(model, target)
    assert (target / "marker").exists()
    export_saved_model(model, target, overwrite=True)
    assert not (target / "marker").exists() and (target / "saved_model.pb").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temp dir left
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="not a directory"):
        export_saved_model(model, tmp_path / "file", overwrite=True)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="patches tf.saved_model")
def test_a_failed_export_leaves_nothing(exported, tmp_path, monkeypatch):
    import tensorflow as tf

    def broken(module, folder, signatures=None):
        open(os.path.join(folder, "saved_model.pb"), "w").close()
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", broken)
    (tmp_path / "empty").mkdir()
    for target in (tmp_path / "new", tmp_path / "empty"):
        with pytest.raises(OSError, match="disk full"):
            export_saved_model(exported["models"]["regressor"][0], target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
    assert not os.listdir(tmp_path / "empty")


def test_bad_arguments_say_what_to_do(exported):
    classifier, tagger = exported["models"]["classifier"][0], exported["models"]["tagger"][0]
    bare = BertClassifier.from_preset("bert_tiny", num_classes=2, **TINY)
    with pytest.raises(ValueError, match="has no preprocessor.*preprocessor="):
        export_saved_model(bare, "unused")
    with pytest.raises(TypeError, match="served through a BertTokenClassifierPreprocessor"):
        export_saved_model(tagger, "unused", preprocessor=classifier.preprocessor)
    with pytest.raises(ValueError, match="pairs=True is for classifiers"):
        export_saved_model(tagger, "unused", pairs=True)
    long = BertClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=1024)
    with pytest.raises(ValueError, match="^the preprocessor's sequence_length=1024 is longer than the 512 "
                       "positions of this BertClassifier's encoder .*pass the preprocessor's "
                       "sequence_length=512 or less"):
        export_saved_model(classifier, "unused", preprocessor=long)
    with pytest.raises(TypeError, match="exports a BertClassifier or BertTokenClassifier"):
        export_saved_model(classifier.encoder, "unused")


_JAX_EXPORT = r"""
import json, sys
import keras
import numpy as np
import tensorflow as tf
from keras_bert_impl.export import export_saved_model
from keras_bert_impl.models import BertClassifier
from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer

assert keras.backend.backend() == "jax"
vocab, tiny, path = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
keras.utils.set_random_seed(0)
model = BertClassifier.from_preset("bert_tiny", num_classes=2, label_names=["no", "yes"],
    preprocessor=BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=16), **tiny)
model.classifier_dense.kernel.assign(np.random.default_rng(0).normal(0, 3, (16, 2)))
texts = ["the film was good", "a bad film", ""]
logits = np.asarray(model.predict(texts, verbose=0), "float64")
expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
export_saved_model(model, path)
served = tf.saved_model.load(path).signatures["serving_default"](text=tf.constant(texts))
print(json.dumps({"difference": float(np.abs(served["probabilities"].numpy() - expected).max()),
                  "labels": [x.decode() for x in served["label"].numpy()],
                  "expected": [["no", "yes"][i] for i in expected.argmax(-1)]}))
"""


@pytest.mark.slow  # about 35 s: a JAX process, then the TensorFlow process it exports through
def test_a_jax_model_exports_through_a_tensorflow_process(tmp_path):
    pytest.importorskip("jax")
    result = subprocess.run(
        [sys.executable, "-c", _JAX_EXPORT, json.dumps(VOCAB), json.dumps(TINY),
         str(tmp_path / "jax")], capture_output=True, text=True,
        env={**_env(), "KERAS_BACKEND": "jax"})
    assert result.returncode == 0, result.stderr[-4000:]
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["difference"] <= 1e-5 and answer["labels"] == answer["expected"]
