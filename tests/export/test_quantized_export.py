"""`keras-bert export --quantize int8 / --dtype bfloat16` and `keras-bert evaluate --dtype
bfloat16` on the tiny MRPC run of `test_export_cli` (a sharpened head, so that labels differ
between examples).

References: the Keras model's inference variant (`inference_model`) for the SavedModel's
answers (labels equal, probabilities within 1e-5), and the float32 model for the labels of
every variant (equal on these examples: the head is sharp, so no margin is near the int8 /
bfloat16 rounding). The int8 SavedModel is served in a fresh process that imports only
TensorFlow and TF-Text; the bfloat16 one is loaded in this process with `tf.saved_model.load`.
"""

import json
import os

import numpy as np
import pytest

from keras_bert_impl.models.inference import inference_model
from tests.export.test_export_cli import LABELS, TEXT_A, TEXT_B, _logits, _main, make_run
from tests.export.test_saved_model import _run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    # Weights drawn with stddev 0.5 (not BERT's 0.02) make the [CLS] vector depend on the
    # text enough that the two classes' logits differ by 15 or more on the test pairs
    # (measured: the int8 and bfloat16 variants move them by under 2); at 0.02 they differ
    # by 0.01, below any rounding.
    return make_run(tmp_path_factory.mktemp("quantized_export"), initializer_range=0.5)


# Serves `serving_default` of the SavedModel argv[1] on the pairs argv[2], argv[3] (JSON lists)
# with TensorFlow and TF-Text alone; prints the probabilities, the labels and whether
# keras_bert_impl got imported.
_SERVE_IN_A_FRESH_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401 (the ops of the string signature)
signature = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
out = signature(text_a=tf.constant(json.loads(sys.argv[2])),
                text_b=tf.constant(json.loads(sys.argv[3])))
print(json.dumps({"probabilities": out["probabilities"].numpy().tolist(),
                  "dtype": out["probabilities"].dtype.name,
                  "label": [label.decode() for label in out["label"].numpy()],
                  "imported": "keras_bert_impl" in sys.modules}))
"""


def _serve_in_a_fresh_process(version):
    return json.loads(_run(_SERVE_IN_A_FRESH_PROCESS, version, json.dumps(TEXT_A),
                           json.dumps(TEXT_B)))


def _variables_size(version):
    folder = os.path.join(version, "variables")
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))


def _probabilities(logits):
    logits = logits.astype("float64")
    return np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)


def test_int8_export_serves_the_keras_int8_labels_from_raw_text(run, tmp_path):
    path, classifier, _ = run
    out = str(tmp_path / "savedmodels")
    status, printed, error = _main("export", "--model", path, "--name", "mrpc", "--out", out,
                                   "--quantize", "int8", "--no-warmup")
    assert status == 0, error
    version = os.path.join(out, "mrpc", "1")
    assert f"export: wrote {version} (serving_default, serve_ids; " in printed
    assert " MB, int8) and " in printed
    served = _serve_in_a_fresh_process(version)
    assert not served["imported"] and served["dtype"] == "float32"
    int8 = _probabilities(_logits(inference_model(classifier, quantize="int8")))
    np.testing.assert_allclose(served["probabilities"], int8, atol=1e-5)
    labels = served["label"]
    assert labels == [LABELS[i] for i in int8.argmax(-1)]
    float32 = _probabilities(_logits(classifier))
    assert labels == [LABELS[i] for i in float32.argmax(-1)] and len(set(labels)) == 2

    # The same model in float32 (serve_ids alone: no TF-Text tracing) holds larger variables.
    status, printed, error = _main("export", "--model", path, "--name", "mrpc", "--out", out,
                                   "--ids-only", "--no-warmup")
    assert status == 0 and "MB) and " in printed, error
    assert _variables_size(version) < _variables_size(os.path.join(out, "mrpc", "2"))


def test_bfloat16_export_answers_in_float32_with_the_float32_labels(run, tmp_path):
    import tensorflow as tf

    path, classifier, _ = run
    out = str(tmp_path / "savedmodels")
    status, printed, error = _main("export", "--model", path, "--name", "mrpc", "--out", out,
                                   "--dtype", "bfloat16", "--ids-only", "--no-warmup")
    assert status == 0 and " MB, bfloat16) and " in printed, error
    features = {name: tf.cast(value, tf.int32) for name, value in
                classifier.preprocessor((tf.constant(TEXT_A), tf.constant(TEXT_B))).items()}
    served = tf.saved_model.load(os.path.join(out, "mrpc", "1")).signatures["serve_ids"](
        **features)
    assert served["probabilities"].dtype == tf.float32
    bfloat16 = _probabilities(_logits(inference_model(classifier, dtype="bfloat16")))
    np.testing.assert_allclose(served["probabilities"].numpy(), bfloat16, atol=1e-5)
    float32 = _probabilities(_logits(classifier))
    np.testing.assert_array_equal(served["label_id"].numpy(), float32.argmax(-1))
    np.testing.assert_allclose(bfloat16, float32, atol=0.05)  # bf16: 8 mantissa bits


def test_evaluate_in_bfloat16_and_int8_scores_as_float32(run, tmp_path):
    path, _, _ = run
    pairs = zip(TEXT_A[:3] * 4, TEXT_B[:3] * 4)  # (the 4th pair's text_b is empty)
    rows = ["text_a,text_b,label"] + [f'"{a}","{b}",{LABELS[i % 2]}'
                                      for i, (a, b) in enumerate(pairs)]
    data = tmp_path / "pairs.csv"
    data.write_text("\n".join(rows) + "\n")
    common = ["evaluate", "--task", "csv", "--data", str(data), "--model", path, "--split",
              "train", "--text-columns", "text_a", "text_b", "--label-names", *LABELS]
    scores = {}
    for variant in (["--dtype", "float32"], ["--dtype", "bfloat16"], ["--quantize", "int8"]):
        output = str(tmp_path / f"{variant[1]}.json")
        status, _, error = _main(*common, *variant, "--output", output)
        assert status == 0, error
        record = json.load(open(output))
        assert record[variant[0][2:]] == variant[1]
        scores[variant[1]] = record["scores"]
    assert scores["bfloat16"] == scores["float32"] == scores["int8"]
    # Without --output, the variant names the file.
    status, _, error = _main(*common, "--dtype", "bfloat16", "--quantize", "int8")
    assert status == 0, error
    assert json.load(open(os.path.join(path, "eval_train.bfloat16.int8.json")))["scores"] \
        == scores["float32"]


def test_predict_on_a_run_answers_as_its_variants_savedmodel(run, tmp_path):
    path, classifier, _ = run
    argv = ["predict", "--model", path]
    for a, b in zip(TEXT_A, TEXT_B):
        argv += ["--text", a, "--text-b", b]
    for variant in ([], ["--dtype", "bfloat16", "--quantize", "int8"]):
        status, printed, error = _main(*argv, *variant)
        assert status == 0, error
        rows = json.loads(printed)["predictions"]
        assert all(sorted(row) == ["label", "label_id", "probabilities"] for row in rows)
        options = dict(zip(variant[::2], variant[1::2]))
        expected = _probabilities(_logits(inference_model(
            classifier, dtype=options.get("--dtype"), quantize=options.get("--quantize"))))
        np.testing.assert_allclose([row["probabilities"] for row in rows], expected, atol=1e-5)
        assert [row["label"] for row in rows] == [LABELS[i] for i in expected.argmax(-1)]
    # A SavedModel computes as it was exported: --dtype there is an error naming the fix.
    out = str(tmp_path / "savedmodels")
    status, _, error = _main("export", "--model", path, "--name", "mrpc", "--out", out,
                             "--ids-only", "--no-warmup")
    assert status == 0, error
    status, _, error = _main("predict", "--model", os.path.join(out, "mrpc"), "--text", "a",
                             "--text-b", "b", "--dtype", "bfloat16")
    assert status != 0 and "is a SavedModel, which computes as it was exported" in error


@pytest.mark.parametrize("argv, message", [
    (["export", "--model", "m", "--name", "m", "--quantize", "int4"],
     "error: argument --quantize: invalid choice: 'int4' (choose from 'int8')"),
    (["evaluate", "--task", "sst2", "--model", "m", "--dtype", "float16"],
     "error: argument --dtype: invalid choice: 'float16' (choose from 'float32', 'bfloat16')"),
])
def test_unknown_mode_or_dtype_names_the_allowed_ones(argv, message, capsys):
    from keras_bert_impl.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(message)


def test_flag_choices_are_the_models_values():
    from keras_bert_impl.flags import INFERENCE_DTYPE_CHOICES, QUANTIZATION_CHOICES
    from keras_bert_impl.models.inference import INFERENCE_DTYPES
    from keras_bert_impl.models.quantize import QUANTIZATION_MODES

    assert INFERENCE_DTYPE_CHOICES == tuple(INFERENCE_DTYPES)
    assert QUANTIZATION_CHOICES == QUANTIZATION_MODES
