"""TensorFlow Model Garden's object-based BERT checkpoints (official/nlp, TF2) -> our models.

The checkpoints in `tests/presets/model_garden/` were written by Model Garden itself
(`make_model_garden_checkpoints.py`, `tf-models-official` 2.20, every variable random) with
its outputs on fixed inputs: loading them here must give the same numbers (with Model
Garden's tanh GELU, `hidden_act="gelu_approximate"`), for the functional `BertEncoder`
(`layer_with_weights-N` names), `BertEncoderV2` (attribute names), `BertPretrainerV2` (its
masked LM, the word embeddings stored once as the tied `embedding_table`) and a fine-tuned
`BertClassifier` (the encoder nested in it, the head on the pooled output).
"""

import hashlib
import os
import shutil

import keras
import numpy as np
import pytest

from keras_bert_impl import BertClassifier, BertEncoder, BertPretrainer
from keras_bert_impl.presets import WeightLoadError, detect_format

tf = pytest.importorskip("tensorflow")

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model_garden")
TANH_GELU = {"hidden_act": "gelu_approximate"}


@pytest.fixture(scope="module")
def reference():
    with np.load(os.path.join(HERE, "outputs.npz")) as data:
        return dict(data)


def _inputs(reference):
    return {key: reference[key] for key in ("token_ids", "segment_ids", "padding_mask")}


def test_the_fixture_is_the_one_model_garden_wrote():
    # Regenerating it (make_model_garden_checkpoints.py) changes these hashes on purpose.
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(HERE)):
        for name in sorted(files):
            with open(os.path.join(root, name), "rb") as f:
                digest.update(name.encode() + f.read())
    assert digest.hexdigest()[:16] == "3a602466e3f529c3"


@pytest.mark.parametrize("name", ["encoder_v1", "encoder_v2"])
def test_an_encoder_checkpoint_gives_model_gardens_outputs(reference, name):
    path = os.path.join(HERE, name)
    assert detect_format(path) == "google"  # bert_config.json + a TF checkpoint
    encoder = BertEncoder.from_preset(path, **TANH_GELU)
    outputs = encoder.predict_on_batch(_inputs(reference))
    mask = reference["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(outputs["sequence_output"])[mask],
                               reference[f"{name}_sequence_output"][mask], atol=2e-5, rtol=0)
    np.testing.assert_allclose(outputs["pooled_output"], reference[f"{name}_pooled_output"],
                               atol=2e-5, rtol=0)
    # As for Google's checkpoints, "gelu" loads as the exact GELU: close, not equal.
    exact = BertEncoder.from_preset(path).predict_on_batch(_inputs(reference))
    drift = np.abs(np.asarray(exact["sequence_output"])[mask]
                   - reference[f"{name}_sequence_output"][mask]).max()
    assert 1e-5 < drift < 0.1


def test_a_pretrainer_checkpoint_gives_model_gardens_masked_lm_logits(reference, recwarn):
    model = BertPretrainer.from_preset(os.path.join(HERE, "pretrainer"), **TANH_GELU)
    outputs = model.predict_on_batch(dict(_inputs(reference),
                                          mask_positions=reference["mask_positions"]))
    np.testing.assert_allclose(outputs["mlm_logits"], reference["pretrainer_mlm_logits"],
                               atol=5e-5, rtol=0)
    # Model Garden's BertPretrainerV2 has no NSP head (nor a trained pooler): said so.
    assert any("nsp" in str(w.message) for w in recwarn)


def test_a_fine_tuned_classifier_checkpoint_gives_model_gardens_logits(reference):
    # Model Garden's BertClassifier: the encoder nested as its first layer, out_proj on the
    # pooled output; the number of classes is read from the checkpoint.
    classifier = BertClassifier.from_preset(os.path.join(HERE, "classifier"), **TANH_GELU)
    assert classifier.num_classes == 3
    logits = classifier.predict_on_batch(_inputs(reference))
    np.testing.assert_allclose(logits, reference["classifier_logits"], atol=2e-5, rtol=0)
    assert np.abs(reference["classifier_logits"]).mean() > 0.1  # not a near-zero output


def test_with_a_vocabulary_it_takes_raw_text_at_the_length_its_positions_allow(tmp_path):
    # The fixture's encoder has 32 positions: the default preprocessor packs 32 tokens, not
    # the task's usual 128 (which the model would refuse), so the checkpoint with a vocab.txt
    # beside it predicts on raw text (and `keras-bert convert` + `export` serve it).
    directory = tmp_path / "classifier"
    shutil.copytree(os.path.join(HERE, "classifier"), directory)
    words = [f"w{i}" for i in range(59)]
    (directory / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]) + "\n")
    classifier = BertClassifier.from_preset(str(directory))
    assert classifier.preprocessor.sequence_length == 32
    assert classifier.predict([" ".join(words[:40])], verbose=0).shape == (1, 3)


def test_a_tf_hub_encoder_saved_model_loads_with_its_masked_lm_vocabulary_and_casing(
        reference, recwarn):
    # Model Garden's TF Hub export of the pretrainer's weights with its masked LM (as TF Hub's
    # BERTs since version 4): a Keras SavedModel whose variables are `variables/N` (their
    # layers found through the object graph) with an `mlm` sub-model, no bert_config.json
    # (the sizes from the shapes, the heads from the einsum kernels), assets/vocab.txt and a
    # do_lower_case variable (False here, against the vocabulary).
    from keras_bert_impl.presets import read_checkpoint
    from keras_bert_impl.text import BertTokenizer

    path = os.path.join(HERE, "tf_hub_encoder")
    assert detect_format(path) == "saved_model"
    checkpoint = read_checkpoint(path)
    config = checkpoint.config
    assert (config.vocab_size, config.hidden_size, config.num_layers, config.num_heads,
            config.intermediate_size, config.max_position_embeddings,
            config.type_vocab_size) == (64, 16, 2, 2, 32, 32, 2)
    assert checkpoint.tokenizer.lowercase is False
    with pytest.warns(UserWarning, match="lowercase=False, but the vocabulary has no "
                                         "capitalised tokens"):
        assert BertTokenizer.from_preset(path).lowercase is False
    outputs = BertEncoder.from_preset(path, **TANH_GELU).predict_on_batch(_inputs(reference))
    mask = reference["padding_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(outputs["sequence_output"])[mask],
                               reference["pretrainer_sequence_output"][mask], atol=2e-5, rtol=0)
    np.testing.assert_allclose(outputs["pooled_output"], reference["pretrainer_pooled_output"],
                               atol=2e-5, rtol=0)
    model = BertPretrainer.from_preset(path, **TANH_GELU)
    logits = model.predict_on_batch(dict(_inputs(reference),
                                         mask_positions=reference["mask_positions"]))
    np.testing.assert_allclose(logits["mlm_logits"], reference["pretrainer_mlm_logits"],
                               atol=5e-5, rtol=0)


def test_a_saved_model_that_is_not_a_bert_encoder_is_named(tmp_path):
    module = tf.Module()
    module.table = tf.Variable(np.zeros((3, 4), "float32"))
    tf.saved_model.save(module, str(tmp_path / "other"))
    with pytest.raises(WeightLoadError, match=r"other is a SavedModel but not a TF Hub BERT "
                                              r"encoder .*pass the run directory .*table"):
        BertEncoder.from_preset(str(tmp_path / "other"))


def test_variables_of_another_model_are_named(tmp_path):
    # An object-based checkpoint that is not a BERT (here a bare variable beside a
    # bert_config.json) is refused naming the variable, as a Google checkpoint's would be.
    directory = tmp_path / "other"
    shutil.copytree(os.path.join(HERE, "encoder_v2"), directory)
    for path in directory.glob("bert_model.ckpt*"):
        path.unlink()
    module = tf.Module()
    module.table = tf.Variable(np.zeros((3, 4), "float32"))
    tf.train.Checkpoint(model=module).write(str(directory / "bert_model.ckpt"))
    with pytest.raises(WeightLoadError, match=r"holds variables that are not part of Model "
                                              r"Garden's BERT encoder or masked LM \(1\): "
                                              r"model/table/.ATTRIBUTES/VARIABLE_VALUE \(3, 4\)"):
        BertEncoder.from_preset(str(directory))
    keras.backend.clear_session()
