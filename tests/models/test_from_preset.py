"""`from_preset` says what it does: one base class for every model, architecture names say
once that their weights are random, unknown names and arguments fail naming the valid ones,
and `save_to_preset` keeps the vocabulary a model carries."""

import logging
import os

import numpy as np
import pytest

from keras_bert_impl.models import (
    BertClassifier,
    BertEncoder,
    BertModelBase,
    BertPretrainer,
    BertSpanLabeler,
    BertTokenClassifier,
)
from keras_bert_impl.models import base as base_module
from keras_bert_impl.models.weights import extract_weights
from keras_bert_impl.presets import TokenizerSpec, list_presets

SMALL = {"vocab_size": 30, "hidden_size": 8, "num_layers": 1, "num_heads": 2}
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(25)]


@pytest.mark.parametrize("cls", [BertEncoder, BertPretrainer, BertClassifier,
                                 BertTokenClassifier, BertSpanLabeler])
def test_every_model_shares_one_base(cls):
    assert issubclass(cls, BertModelBase)
    assert cls.from_preset.__func__ is BertModelBase.from_preset.__func__
    assert cls.save_to_preset is BertModelBase.save_to_preset


def test_architecture_name_says_once_that_weights_are_random(caplog, monkeypatch):
    monkeypatch.setattr(base_module, "_ANNOUNCED_RANDOM", set())
    with caplog.at_level(logging.WARNING, logger="keras_bert_impl"):
        BertEncoder.from_preset("bert_tiny", vocab_size=50)
        BertEncoder.from_preset("bert_tiny", vocab_size=50)
    messages = [r.getMessage() for r in caplog.records if "random" in r.getMessage()]
    assert len(messages) == 1
    assert "'bert_tiny' is an architecture name, so the weights are random" in messages[0]


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(ValueError) as error:
        BertEncoder.from_preset("bert_tinyy")
    message = str(error.value)
    assert "Unknown preset 'bert_tinyy'" in message
    for name in ("bert_tiny", "bert_large", *list_presets()):
        assert name in message


def test_list_presets_names_the_weights_behind_each_name():
    presets = list_presets()
    assert presets["bert_base_en_uncased"] == "google-bert/bert-base-uncased"
    assert "bert_tiny" not in presets  # an architecture, not weights


def test_unknown_keyword_argument_is_a_type_error():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'num_clases'"):
        BertClassifier.from_preset("bert_tiny", num_clases=2)
    with pytest.raises(TypeError, match=r"unknown BertConfig field\(s\) \['hiden_size'\]"):
        BertEncoder.from_preset("bert_tiny", config_overrides={"hiden_size": 64})


def test_keyword_arguments_go_to_the_model_then_to_the_config():
    classifier = BertClassifier.from_preset(
        "bert_tiny", num_classes=3, dropout=0.3, vocab_size=64,
        config_overrides={"dropout": 0.0},
    )
    assert (classifier.num_classes, classifier.dropout) == (3, 0.3)
    assert classifier.encoder.config.vocab_size == 64
    assert classifier.encoder.config.dropout == 0.0
    encoder = BertEncoder.from_preset("bert_tiny", dropout=0.2)  # the encoder has no dropout arg
    assert encoder.config.dropout == 0.2


def test_a_required_head_argument_is_named():
    with pytest.raises(TypeError, match=r"needs num_classes= .*from_preset\('bert_tiny', "
                                        r"num_classes=2\)"):
        BertClassifier.from_preset("bert_tiny")


def test_save_to_preset_writes_the_vocab_the_model_carries(tmp_path):
    encoder = BertEncoder(SMALL)
    first = str(tmp_path / "first")
    encoder.save_to_preset(first, tokenizer=TokenizerSpec(VOCAB, lowercase=False, source="t"))
    classifier = BertClassifier.from_preset(first, num_classes=2)
    assert classifier.tokenizer_spec.lowercase is False
    second = str(tmp_path / "second")
    classifier.save_to_preset(second)  # no tokenizer passed: the carried one is written
    assert sorted(os.listdir(second)) == ["model.safetensors", "preset.json", "vocab.txt"]
    assert (tmp_path / "second" / "vocab.txt").read_text().split("\n")[:-1] == VOCAB
    reloaded = BertClassifier.from_preset(second)
    assert reloaded.num_classes == 2 and reloaded.tokenizer_spec.lowercase is False
    assert reloaded.build_tokenizer().get_vocabulary() == VOCAB
    for name, value in extract_weights(classifier).items():
        np.testing.assert_array_equal(extract_weights(reloaded)[name], value, name)


def test_model_without_vocab_says_how_to_get_a_tokenizer():
    with pytest.raises(ValueError, match="carries no vocabulary"):
        BertEncoder(SMALL).build_tokenizer()


def test_load_weights_false_builds_the_architecture_only(tmp_path):
    trained = BertEncoder(SMALL)
    path = str(tmp_path / "preset")
    trained.save_to_preset(path)
    fresh = BertEncoder.from_preset(path, load_weights=False)
    assert fresh.config == trained.config
    assert not np.allclose(fresh.token_embeddings.numpy(), trained.token_embeddings.numpy())
    assert 0.01 < fresh.token_embeddings.numpy().std() < 0.03


def test_another_num_classes_starts_a_new_head_on_the_checkpoints_encoder(tmp_path):
    # keras-hub's rule (a given num_classes takes the preset's backbone, not its head); here
    # a head that fits is still loaded, and one that does not is named in a warning.
    two = BertClassifier(BertEncoder(SMALL), num_classes=2, label_names=["no", "yes"])
    path = str(tmp_path / "two")
    two.save_to_preset(path, tokenizer=TokenizerSpec(VOCAB, lowercase=True, source="t"))
    trained = extract_weights(two)
    same = BertClassifier.from_preset(path, num_classes=2)
    assert same.label_names == ["no", "yes"]
    for name, value in extract_weights(same).items():
        np.testing.assert_array_equal(value, trained[name], name)
    for cls in (BertClassifier, BertTokenClassifier):
        with pytest.warns(UserWarning, match=r"has a classifier head of other shapes than this "
                                             rf"{cls.__name__}'s \(classifier/dense/kernel "
                                             r"\(8, 2\) there, \(8, 3\) here, "
                                             r"classifier/dense/bias \(2,\) there, \(3,\) here\)"):
            three = cls.from_preset(path, num_classes=3)
        assert three.num_classes == 3 and three.label_names is None
        loaded = extract_weights(three)
        for name, value in loaded.items():
            if name.startswith("classifier/"):
                assert value.shape[-1] == 3
            elif name in trained:
                np.testing.assert_array_equal(value, trained[name], name)
    with pytest.warns(UserWarning, match="new head starts from random initial values"):
        named = BertClassifier.from_preset(path, num_classes=3, label_names=["a", "b", "c"])
    assert named.label_names == ["a", "b", "c"]
