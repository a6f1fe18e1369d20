"""Question answering SavedModels: a `BertSpanLabeler` with the real uncased MiniLM tokenizer
(a tiny random model of its vocabulary size) exported once, on 20 real SQuAD questions, and
loaded in a fresh process that imports only `tensorflow` and `tensorflow_text`; the same
serving functions run eagerly on a tiny vocabulary (accents, capitals, CJK, long contexts).

Checked: `serve_ids` gives the Keras model's start/end logits (max-abs 1e-5) with core ops
only; `serving_default` on raw `(question, context)` strings gives the host path's answers
(`labeler.answer`, i.e. `decode_spans` with the same `n_best_size` and `max_answer_length`):
the same answer texts and character offsets, scores within 1e-5, for contexts that fit one
window and for longer ones (windows built in the graph); TF Serving's session loader agrees;
edge cases answer as documented; `saved_model_cli` lists the signatures. The in-graph
offsets equal the host aligner's (`text.offsets.WordpieceAligner`) on every context of the
shared SQuAD files, and the in-graph windows equal `BertSpanPreprocessor.features`'.

Reference: the Keras model and the host decoder (`labeler.answer`); tolerance 1e-5.
"""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.export import export_saved_model, tf_text_op_names
from keras_bert_impl.export.graph_ops import saved_model_op_names
from keras_bert_impl.export.span_serving import answer_spans, piece_offsets, span_windows
from keras_bert_impl.models import BertClassifier, BertSpanLabeler
from keras_bert_impl.text import BertClassifierPreprocessor, BertSpanPreprocessor, BertTokenizer
from keras_bert_impl.text.offsets import WordpieceAligner
from tests.presets.helpers import minilm_dir
from tests.real_data import shared_file

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "what", "where", "did", "the",
         "fox", "ran", "far", "to", "a", "river", "in", "paris", "beyonce", "sang", "da",
         "##nce", "cafe", "creme", "east", "?", ".", ",", "!", "and", "is", "中"]
TINY = dict(num_layers=1, hidden_size=16, num_heads=2, intermediate_size=32)
# Contexts with accents and capitals (lowercasing and accent stripping change lengths),
# unknown words, CJK, a decomposed accent, and contexts longer than one window (24 pieces,
# room 24 - question - 3; doc_stride 4).
PAIRS = [
    ("Who sang?", "Beyoncé  sang, DANCE! The fox ran far."),
    ("Where did the fox run?", "The fox ran far to a river in Paris, East of the Café Crème."),
    ("What is 中?", "中 is a river in Paris and the fox sang. The fox ran far, far, far to "
                   "the river. Beyonce\u0301 sang and the fox ran to Paris, east of the cafe."),
    ("who?", "İstanbul zebra fox ran far, the river ran east and Beyoncé sang in Paris "
             "and the fox ran far to a creme cafe in Paris. The end!"),
]
# Serving-time edge cases: (question, context) bytes.
EDGE = [
    (b"", b"The fox ran far."),                         # empty question: no answer
    (b"who ran?", b""),                                 # empty context: no answer
    (b" \t\x00", b"the fox ran"),                       # question of no token: no answer
    (b"who ran?", " \t\u200b\x00".encode()),                # context of no token
    (b"who ran?", b"\xff the fox \xfe ran far \xff"),  # invalid UTF-8: answered
    (b"who ran?", "\x00\x07the\x1bfox\u200b ran\u0085 far\r\n".encode()),  # control chars
]
SQUAD_QUESTIONS = 20


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


_LOADER = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the TF-Text ops serving_default uses)


def plain(value):
    value = np.asarray(value)
    if value.dtype == object:
        value = np.vectorize(lambda b: b.hex(), otypes=[object])(value)
    return value.tolist()


def session_run(path, signature, inputs):
    with tf.compat.v1.Session(graph=tf.Graph()) as session:  # as TF Serving loads it
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
        spec = meta.signature_def[signature]
        fetched = session.run({k: v.name for k, v in spec.outputs.items()},
                              {spec.inputs[k].name: v for k, v in inputs.items()})
    return {k: plain(v) for k, v in fetched.items()}


out = {}
for name, job in json.loads(open(sys.argv[1]).read()).items():
    loaded = tf.saved_model.load(job["path"])
    serve = loaded.signatures["serving_default"]
    text = {k: [bytes.fromhex(t) for t in v] for k, v in job["text"].items()}
    served = serve(**{k: tf.constant(v, tf.string) for k, v in text.items()})
    empty = serve(**{k: tf.zeros([0], tf.string) for k in text})
    ids = loaded.signatures["serve_ids"](**{k: tf.constant(v, tf.int32)
                                            for k, v in job["ids"].items()})
    out[name] = {"signatures": sorted(loaded.signatures),
                 "text": {k: plain(v) for k, v in served.items()},
                 "empty": {k: [list(v.shape), v.dtype.name] for k, v in empty.items()},
                 "ids": {k: plain(v) for k, v in ids.items()},
                 "session_text": session_run(job["path"], "serving_default", text)}
out["modules"] = sorted(m for m in sys.modules if m.startswith("keras_bert_impl"))
print(json.dumps(out))
"""


def _squad_pairs():
    """The first question of each of the first `SQUAD_QUESTIONS` paragraphs of the shared
    SQuAD dev file: contexts of 25 to 180 words."""
    data = json.loads(shared_file("squad", "dev-v1.1-part-b.json").read_text("utf-8"))
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    return [(p["qas"][0]["question"], p["context"]) for p in paragraphs[:SQUAD_QUESTIONS]]


def _labeler(tokenizer, sequence_length, doc_stride, max_query_length, seed):
    keras.utils.set_random_seed(seed)
    labeler = BertSpanLabeler.from_preset(
        "bert_tiny", vocab_size=tokenizer.vocabulary_size(),
        preprocessor=BertSpanPreprocessor(tokenizer, sequence_length=sequence_length,
                                          doc_stride=doc_stride,
                                          max_query_length=max_query_length), **TINY)
    # A random tiny model's logits barely vary along the sequence; a large head spreads them.
    kernel = labeler.span_dense.kernel
    kernel.assign(np.random.default_rng(seed).normal(0.0, 3.0, kernel.shape))
    return labeler


def _expected(labeler, pairs, max_answer_length):
    questions, contexts = [q for q, _ in pairs], [c for _, c in pairs]
    features = labeler.span_features({"question": questions, "context": contexts})
    logits = labeler.predict(features.x, verbose=0)
    answers = labeler.answer(questions, contexts, n_best_size=20,
                             max_answer_length=max_answer_length)
    return {"features": features, "logits": logits,
            "answers": [answers[str(i)] for i in range(len(pairs))]}


@pytest.fixture(scope="module")
def minilm():
    return BertTokenizer.from_preset(str(minilm_dir()))


@pytest.fixture(scope="module")
def tiny():
    """A tiny labeler on a tiny vocabulary, short windows (24: long contexts get several)."""
    return _labeler(BertTokenizer(VOCAB), 24, 4, 6, seed=1)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, minilm):
    """The real-vocabulary labeler exported once (max_answer_length 12: the export's
    argument, not the default, decodes), and what a fresh process reads from it."""
    root = tmp_path_factory.mktemp("span")
    labeler, pairs = _labeler(minilm, 128, 32, 32, seed=2), _squad_pairs()
    path = export_saved_model(labeler, root / "squad", max_answer_length=12)
    expected = _expected(labeler, pairs, max_answer_length=12)
    text = [(q.encode(), c.encode()) for q, c in pairs] + EDGE
    spec = {"squad": {
        "path": str(path),
        "text": {"question": [q.hex() for q, _ in text], "context": [c.hex() for _, c in text]},
        "ids": {k: np.asarray(v).astype("int32").tolist()
                for k, v in expected["features"].x.items()},
    }}
    (root / "spec.json").write_text(json.dumps(spec))
    result = subprocess.run([sys.executable, "-c", _LOADER, str(root / "spec.json")],
                            capture_output=True, text=True, env=_env())
    assert result.returncode == 0, result.stderr[-4000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    return {"path": path, "labeler": labeler, "pairs": pairs, "expected": expected,
            "served": served["squad"], "modules": served["modules"]}


def _check_answers(answers, expected, pairs):
    """`answers` (`answer_text` as str, `start_char`, `end_char`, `score` lists) are the
    host decoder's for `pairs`."""
    windows = np.bincount(expected["features"].example_index)
    assert (windows == 1).any() and (windows > 1).any()  # both kinds of context are served
    for i, ((_, context), want) in enumerate(zip(pairs, expected["answers"], strict=True)):
        assert want.text, f"the host found no answer for example {i}"
        got = (answers["answer_text"][i], answers["start_char"][i], answers["end_char"][i])
        assert got == (want.text, want.start_char, want.end_char), \
            f"example {i} ({windows[i]} windows)"
        assert context[got[1]:got[2]] == got[0]
        assert abs(answers["score"][i] - want.score) <= 1e-5
    texts = answers["answer_text"][:len(pairs)]
    assert len(set(texts)) > len(pairs) // 2  # the answers are not one span throughout


def _check_edge_cases(answers):
    """`answers` of `PAIRS + EDGE` (or `EDGE` alone) end with the documented edge cases."""
    rows = range(len(answers["answer_text"]) - len(EDGE), len(answers["answer_text"]))
    got = [(answers["answer_text"][i], answers["start_char"][i], answers["end_char"][i],
            answers["score"][i]) for i in rows]
    for i in range(4):  # no question or no context: no answer, never an error
        assert got[i] == (b"", -1, -1, -math.inf), EDGE[i]
    # Invalid UTF-8 is answered; offsets count its replacement characters (U+FFFD).
    invalid = EDGE[4][1].decode("utf-8", "replace")
    assert 0 <= got[4][1] < got[4][2] and invalid[got[4][1]:got[4][2]].encode() == got[4][0]
    assert got[4][3] > -math.inf
    # Control characters keep their place in the offsets ("\x1b" joins a word).
    control = EDGE[5][1].decode()
    assert 0 <= got[5][1] < got[5][2] and control[got[5][1]:got[5][2]].encode() == got[5][0]
    assert got[5][0].replace(b"\x1b", b"").replace(b"\xe2\x80\x8b", b"").strip()


def test_serve_ids_gives_the_keras_logits(exported):
    served, expected = exported["served"], exported["expected"]
    assert exported["modules"] == []  # keras_bert_impl was never imported
    assert served["signatures"] == ["serve_ids", "serving_default"]
    assert sorted(served["ids"]) == ["end_logits", "start_logits"]
    mask = np.asarray(expected["features"].x["padding_mask"], bool)
    for key in ("start_logits", "end_logits"):
        logits = np.array(served["ids"][key])
        assert logits.shape == mask.shape
        assert np.abs(logits - expected["logits"][key])[mask].max() <= 1e-5
        assert (logits[~mask] == -1e9).all()


def test_serving_default_answers_as_the_host_decoder(exported):
    served = exported["served"]
    text = dict(served["text"])
    assert sorted(text) == ["answer_text", "end_char", "score", "start_char"]
    text["answer_text"] = [bytes.fromhex(h).decode() for h in text["answer_text"]]
    _check_answers(text, exported["expected"], exported["pairs"])
    # TF Serving's loader (a TF1 session filled by the restore op) gives the same answers.
    session = served["session_text"]
    for key in ("answer_text", "start_char", "end_char"):
        assert session[key] == served["text"][key]
    np.testing.assert_allclose(session["score"], served["text"]["score"], atol=1e-6)
    assert served["empty"] == {"answer_text": [[0], "string"], "start_char": [[0], "int64"],
                               "end_char": [[0], "int64"], "score": [[0], "float32"]}


def test_edge_cases_answer_as_documented(exported):
    text = dict(exported["served"]["text"])
    text["answer_text"] = [bytes.fromhex(h) for h in text["answer_text"]]
    _check_edge_cases(text)


def test_tiny_vocabulary_answers_as_the_host_decoder(tiny):
    """Accents, capitals, unknown words, CJK and multi-window contexts on a tiny vocabulary,
    decoded eagerly by the serving functions (the SavedModel runs the same ops)."""
    expected = _expected(tiny, PAIRS, max_answer_length=5)
    text = [(q.encode(), c.encode()) for q, c in PAIRS] + EDGE
    answers = answer_spans(tiny, tiny.preprocessor, tf.constant([q for q, _ in text]),
                           tf.constant([c for _, c in text]), max_answer_length=5)
    answers = {k: v.numpy().tolist() for k, v in answers.items()}
    _check_edge_cases(answers)
    answers["answer_text"] = [a.decode() for a in answers["answer_text"]]
    _check_answers(answers, expected, PAIRS)
    with pytest.raises(tf.errors.InvalidArgumentError, match="one context per question"):
        answer_spans(tiny, tiny.preprocessor, tf.constant(["who?"]), tf.constant(["a", "b"]))


def test_serve_ids_holds_only_core_ops(exported):
    path = exported["path"]
    ids_ops = set(saved_model_op_names(path, "serve_ids"))
    assert {"MatMul", "Softmax"} <= ids_ops and not ids_ops & tf_text_op_names()
    assert "FastWordpieceTokenizeWithOffsets" in saved_model_op_names(path, "serving_default")
    assert os.path.isfile(os.path.join(path, "assets", "vocab.txt"))


def test_saved_model_cli_lists_the_span_signatures(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    if not os.path.exists(cli):
        pytest.skip(f"{cli} is not installed")
    shown = subprocess.run([cli, "show", "--dir", str(exported["path"]), "--all"],
                           capture_output=True, text=True, env=_env(), check=True).stdout
    text = shown.split("signature_def['serving_default']")[1]
    ids = shown.split("signature_def['serve_ids']")[1].split("signature_def[")[0]
    for name in ("question", "context"):
        assert f"inputs['{name}'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" \
            in text
    for name, dtype in (("answer_text", "DT_STRING"), ("start_char", "DT_INT64"),
                        ("end_char", "DT_INT64"), ("score", "DT_FLOAT")):
        assert f"outputs['{name}'] tensor_info:\n        dtype: {dtype}\n        shape: (-1)" \
            in text
    for name in ("token_ids", "segment_ids", "padding_mask"):
        assert f"inputs['{name}'] tensor_info:\n        dtype: DT_INT32\n        shape: " \
               "(-1, -1)" in ids
    for name in ("start_logits", "end_logits"):
        assert f"outputs['{name}'] tensor_info:\n        dtype: DT_FLOAT\n        shape: " \
               "(-1, -1)" in ids


def test_in_graph_offsets_equal_the_host_aligner_on_all_squad_contexts(minilm):
    contexts = []
    for name in ("dev-v1.1-part-b.json", "train-v1.1-notre-dame.json"):
        data = json.loads(shared_file("squad", name).read_text("utf-8"))
        contexts += [p["context"] for a in data["data"] for p in a["paragraphs"]]
    contexts += [c for _, c in PAIRS] + ["", " \t\x00 ", "ΣΑΣ ﬁne Straße e\u0301\u0302x 東京"]
    ids, offsets = piece_offsets(minilm, tf.constant([c.encode() for c in contexts]))
    host = WordpieceAligner(minilm)(contexts)
    for i, (want_ids, want_offsets) in enumerate(host):
        assert ids[i].numpy().tolist() == want_ids.tolist(), i
        assert offsets[i].numpy().tolist() == want_offsets.tolist(), (i, contexts[i][:80])


def test_in_graph_windows_equal_the_host_windows(tiny):
    preprocessor, pairs = tiny.preprocessor, PAIRS
    features = tiny.span_features({"question": [q for q, _ in pairs],
                                   "context": [c for _, c in pairs]})
    ids, offsets = piece_offsets(preprocessor.tokenizer, tf.constant([c.encode()
                                                                      for _, c in pairs]))
    question_ids = preprocessor.tokenizer(tf.constant([q.encode() for q, _ in pairs]))
    windows = span_windows(preprocessor, question_ids, ids)
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(windows[key].numpy(), features.x[key])
    np.testing.assert_array_equal(windows["example"].numpy(), features.example_index)
    np.testing.assert_array_equal(windows["max_context"].numpy(), features.max_context)
    piece = windows["piece"].numpy()
    flat = offsets.flat_values.numpy()
    placed = np.where((piece >= 0)[..., None], flat[np.maximum(piece, 0)], -1)
    np.testing.assert_array_equal(placed, features.offsets)
    assert len(features) > 2 * len(pairs)  # several windows per long context


def test_bad_arguments_say_what_to_do(tiny):
    labeler = tiny
    classifier = BertClassifier.from_preset(
        "bert_tiny", vocab_size=len(VOCAB), num_classes=2,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=8),
        **TINY)
    with pytest.raises(ValueError, match="max_answer_length decode answer spans: pass them "
                                         "only when exporting a BertSpanLabeler"):
        export_saved_model(classifier, "unused", max_answer_length=10)
    with pytest.raises(ValueError, match="n_best_size must be a positive int"):
        export_saved_model(labeler, "unused", n_best_size=0)
    with pytest.raises(ValueError, match="pairs=True is for classifiers.*leave pairs out"):
        export_saved_model(labeler, "unused", pairs=True)
    with pytest.raises(TypeError, match="served through a BertSpanPreprocessor"):
        export_saved_model(labeler, "unused", preprocessor=classifier.preprocessor)
    assert not os.path.exists("unused")
