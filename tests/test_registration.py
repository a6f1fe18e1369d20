"""`import keras_bert_impl` is enough for `keras.saving.load_model` of every class we save,
in a fresh process (no submodule imported first, either import order), and the package's
names are reachable as `kb.text.BertTokenizer`, `kb.layers...`, `kb.models...` without
importing TensorFlow up front."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.models import (
    BertClassifier,
    BertEncoder,
    BertPretrainer,
    BertSpanLabeler,
    BertTokenClassifier,
)
from keras_bert_impl.text import (
    BertPacker,
    BertPreprocessor,
    BertPretrainingPreprocessor,
    BertTokenizer,
    MaskedLMMasker,
)
from tests.training.helpers import REPO_ROOT, worker_env

SMALL = {"vocab_size": 40, "hidden_size": 8, "num_layers": 1, "num_heads": 2,
         "max_position_embeddings": 16}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "."]


def _run(code):
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=worker_env(),
                               capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def _saved_files(tmp_path):
    """`{file: (class name, expected output)}` of one `.keras` file per class we save."""
    x = {"token_ids": np.array([[2, 5, 6, 3, 0]], "int32"),
         "segment_ids": np.zeros((1, 5), "int32"),
         "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}
    models = {
        "encoder": BertEncoder(SMALL),
        "pretrainer": BertPretrainer(BertEncoder(SMALL)),
        "classifier": BertClassifier(BertEncoder(SMALL), num_classes=3),
        "token_classifier": BertTokenClassifier(BertEncoder(SMALL), num_classes=4),
        "span_labeler": BertSpanLabeler(BertEncoder(SMALL)),
    }
    files = {}
    for name, model in models.items():
        inputs = dict(x, mask_positions=np.array([[1, 2]], "int32")) if name == "pretrainer" \
            else x
        outputs = model(inputs)
        first = outputs if not isinstance(outputs, dict) else outputs[sorted(outputs)[0]]
        path = str(tmp_path / f"{name}.keras")
        model.save(path)
        files[path] = (type(model).__name__, float(np.sum(keras.ops.convert_to_numpy(first))))
    tokenizer = BertTokenizer(VOCAB)
    text_models = {
        "tokenizer_packer": [tokenizer, BertPacker.from_tokenizer(tokenizer, 8)],
        "preprocessor": [BertPreprocessor(tokenizer, sequence_length=8)],
        "masker": [MaskedLMMasker(vocabulary=VOCAB, max_predictions_per_seq=2)],
        "pretraining_preprocessor": [BertPretrainingPreprocessor(tokenizer, sequence_length=8,
                                                                 max_predictions_per_seq=2)],
    }
    for name, layers in text_models.items():
        path = str(tmp_path / f"{name}.keras")
        keras.Sequential(layers, name=name).save(path)
        files[path] = (type(layers[-1]).__name__, None)
    return files


IMPORT_ORDERS = {
    "package_first": "import keras_bert_impl\nimport keras\n",
    "keras_first": "import keras\nimport keras_bert_impl\n",
    # A submodule that itself imports keras: registration waits until it is fully imported.
    "submodule_first": "import keras_bert_impl.optimizers\nimport keras\n",
}


@pytest.mark.parametrize("order", sorted(IMPORT_ORDERS))
def test_load_model_in_a_fresh_process_after_import_keras_bert_impl(tmp_path, order):
    files = _saved_files(tmp_path)
    imports = "import warnings\nwarnings.simplefilter('error')\n" + IMPORT_ORDERS[order]
    code = imports + f"""
import json, sys
import numpy as np
result = {{}}
for path in {sorted(files)!r}:
    model = keras.saving.load_model(path)
    last = model.layers[-1] if isinstance(model, keras.Sequential) else model
    result[path] = type(last).__name__
    if not isinstance(model, keras.Sequential):
        x = {{"token_ids": np.array([[2, 5, 6, 3, 0]], "int32"),
              "segment_ids": np.zeros((1, 5), "int32"),
              "padding_mask": np.array([[1, 1, 1, 1, 0]], "int32")}}
        if type(model).__name__ == "BertPretrainer":
            x["mask_positions"] = np.array([[1, 2]], "int32")
        out = model(x)
        first = out if not isinstance(out, dict) else out[sorted(out)[0]]
        result[path + ":sum"] = float(np.sum(keras.ops.convert_to_numpy(first)))
print(json.dumps(result))
"""
    result = json.loads(_run(code).strip().splitlines()[-1])
    for path, (class_name, expected_sum) in files.items():
        assert result[path] == class_name
        if expected_sum is not None:
            assert result[path + ":sum"] == pytest.approx(expected_sum, rel=1e-6, abs=1e-6)


def test_names_are_reachable_lazily_without_tensorflow():
    out = _run("""
import sys
import keras_bert_impl as kb
assert "tensorflow" not in sys.modules and "keras" not in sys.modules
names = [kb.text.BertTokenizer.__name__, kb.layers.TransformerEncoderBlock.__name__,
         kb.models.BertClassifier.__name__, kb.presets.list_presets.__name__,
         kb.optimizers.create_adamw.__name__, kb.BertEncoder.__name__, kb.BertConfig.__name__]
print(",".join(names))
""")
    assert out.split()[-1] == ("BertTokenizer,TransformerEncoderBlock,BertClassifier,"
                               "list_presets,create_adamw,BertEncoder,BertConfig")


def test_tokenizer_graph_still_runs_after_registration():
    # Registration imports our text modules early; they must not have built TF state.
    assert BertTokenizer(VOCAB)(tf.constant(["the cat sat."])).to_list() == [[5, 6, 7, 8]]
