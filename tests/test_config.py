"""`BertConfig`: presets, validation, both JSON spellings."""

import json

import pytest

from keras_bert_impl import PRESETS, BertConfig

EXPECTED_SIZES = {  # name: (layers, hidden, heads)
    "bert_tiny": (2, 128, 2),
    "bert_mini": (4, 256, 4),
    "bert_small": (4, 512, 8),
    "bert_medium": (8, 512, 8),
    "bert_base": (12, 768, 12),
    "bert_large": (24, 1024, 16),
}


@pytest.mark.parametrize("name", sorted(EXPECTED_SIZES))
def test_presets(name):
    config = BertConfig.from_preset(name)
    layers, hidden, heads = EXPECTED_SIZES[name]
    assert (config.num_layers, config.hidden_size, config.num_heads) == (layers, hidden, heads)
    assert config.intermediate_size == 4 * hidden
    assert config.vocab_size == 30522 and config.max_position_embeddings == 512
    assert config.hidden_act == "gelu" and config.layer_norm_epsilon == 1e-12
    assert set(PRESETS) == set(EXPECTED_SIZES)


def test_preset_overrides():
    config = BertConfig.from_preset("bert_tiny", vocab_size=1000, dropout=0.0)
    assert (config.vocab_size, config.dropout, config.hidden_size) == (1000, 0.0, 128)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(hidden_size=100, num_heads=3), r"hidden_size \(100\) must be divisible by num_heads \(3\)"),
        (dict(hidden_size=0), "hidden_size must be a positive integer"),
        (dict(num_layers=-1), "num_layers must be a positive integer"),
        (dict(vocab_size=2.5), "vocab_size must be a positive integer"),
        (dict(hidden_act="relu"), r"hidden_act must be one of \('gelu', 'gelu_approximate'\)"),
        (dict(dropout=1.0), r"dropout must be in \[0, 1\)"),
        (dict(layer_norm_epsilon=0.0), "layer_norm_epsilon must be positive"),
    ],
)
def test_invalid_configs_name_the_field(kwargs, match):
    with pytest.raises(ValueError, match=match):
        BertConfig(**kwargs)


def test_unknown_preset_lists_allowed():
    with pytest.raises(ValueError, match="bert_huge.*allowed presets are.*bert_base"):
        BertConfig.from_preset("bert_huge")


def test_unknown_field():
    with pytest.raises(ValueError, match="Unknown BertConfig field.*hidden_sise"):
        BertConfig.from_dict({"hidden_sise": 12})


GOOGLE_BERT_BASE_JSON = {  # the published uncased_L-12_H-768_A-12/bert_config.json
    "attention_probs_dropout_prob": 0.1,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "hidden_size": 768,
    "initializer_range": 0.02,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "type_vocab_size": 2,
    "vocab_size": 30522,
}


def test_reads_google_bert_config_json(tmp_path):
    path = tmp_path / "bert_config.json"
    path.write_text(json.dumps(GOOGLE_BERT_BASE_JSON))
    assert BertConfig.from_json_file(str(path)) == BertConfig.from_preset("bert_base")


def test_json_round_trips_in_both_spellings(tmp_path):
    config = BertConfig(vocab_size=777, hidden_size=96, num_layers=3, num_heads=6,
                        hidden_act="gelu_approximate", dropout=0.05)
    for google_format in (False, True):
        path = str(tmp_path / f"config_{google_format}.json")
        config.to_json_file(path, google_format=google_format)
        assert BertConfig.from_json_file(path) == config
    assert json.load(open(tmp_path / "config_True.json"))["hidden_act"] == "gelu_new"
    assert BertConfig.from_dict(config.to_dict()) == config


def test_activation_aliases():
    for alias, ours in [("gelu_new", "gelu_approximate"), ("gelu_pytorch_tanh", "gelu_approximate")]:
        assert BertConfig.from_bert_config_json({"hidden_act": alias}).hidden_act == ours
    with pytest.raises(ValueError, match="hidden_act 'swish'.*allowed values"):
        BertConfig.from_bert_config_json({"hidden_act": "swish"})


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        BertConfig.from_json_file(str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json is not valid JSON"):
        BertConfig.from_json_file(str(bad))
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"num_hidden_layers": 2, "hidden_size": 10, "num_attention_heads": 4}))
    with pytest.raises(ValueError, match="Invalid BERT config in .*wrong.json.*divisible"):
        BertConfig.from_json_file(str(wrong))


def test_check_sequence_length_names_the_setting_and_its_fix():
    config = BertConfig.from_preset("bert_tiny", max_position_embeddings=64)
    for fits in (None, 1, 64):
        assert config.check_sequence_length(fits) is None
    with pytest.raises(ValueError) as python:
        config.check_sequence_length(65, model="this BertClassifier's encoder")
    assert str(python.value) == (
        "sequence_length=65 is longer than the 64 positions of this BertClassifier's encoder "
        "(max_position_embeddings=64); pass sequence_length=64 or less, or a model with more "
        "positions.")
    with pytest.raises(ValueError) as command_line:
        config.check_sequence_length(600, model="bert_tiny", argument="seq_len",
                                     flag="--seq-len")
    assert str(command_line.value) == (
        "--seq-len 600 is longer than the 64 positions of bert_tiny (max_position_embeddings="
        "64); pass --seq-len 64 or less (in Python: seq_len=), or a model with more positions.")
