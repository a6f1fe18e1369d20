"""`keras-bert finetune --lora-rank`: a tiny LoRA fine-tuning from raw text writes the merged
preset (which `evaluate` scores exactly as the LoRA model scored during training), the adapter
file beside it (which on the base model gives the preset's predictions) and the parameter
counts; the encoder's embeddings leave untouched."""

import json
import os

import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.models import BertClassifier, BertEncoder
from keras_bert_impl.presets import TokenizerSpec
from keras_bert_impl.presets.ours import read_weights

WORDS = ["good", "bad", "film", "plot", "acting", "great", "awful", "the", "was", "."]
TINY = dict(num_layers=1, hidden_size=16, num_heads=2, intermediate_size=32,
            max_position_embeddings=32)


@pytest.fixture(scope="module")
def base_and_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    base = str(root / "base")
    BertEncoder.from_preset("bert_tiny", vocab_size=len(vocab), **TINY).save_to_preset(
        base, tokenizer=TokenizerSpec(vocabulary=vocab, lowercase=True, source="test"))
    rows = ["text,label"] + [f"{'good film' if i % 2 else 'awful plot'} {WORDS[i % 10]},"
                             f"{'pos' if i % 2 else 'neg'}" for i in range(40)]
    (root / "reviews.csv").write_text("\n".join(rows) + "\n")
    return base, str(root / "reviews.csv")


def test_finetune_with_lora_writes_merged_preset_and_adapters(tmp_path, capsys, base_and_data):
    base, data = base_and_data
    out = str(tmp_path / "run")
    assert main(["finetune", "--task", "csv", "--data", data, "--init", base, "--out", out,
                 "--seq-len", "16", "--epochs", "1", "--batch-size", "16", "--no-xla",
                 "--lr", "1e-3", "--lora-rank", "2", "--lora-targets", "query,value"]) == 0
    printed = capsys.readouterr().out
    record = json.load(open(os.path.join(out, "metrics.json")))
    # 1 block x (query, value) x (A [16, 2] + B [2, 16]) + the classifier's 16 x 2 + 2.
    assert record["parameters"]["trainable"] == 2 * (16 * 2 + 2 * 16) + 16 * 2 + 2
    total = record["parameters"]["total"]
    assert f"trained 162 of {total:,} parameters" in printed
    assert "training LoRA rank 2 on query,value (alpha 2) + head" in printed
    assert record["lora"] == {"rank": 2, "targets": ["query", "value"], "alpha": 2,
                              "file": "lora.safetensors"}
    assert os.path.isfile(os.path.join(out, "lora.safetensors"))

    # The preset is the merged model: a plain classifier, embeddings as in the base.
    merged = BertClassifier.from_preset(out)
    assert merged.lora_config() is None
    run_weights, _ = read_weights(out)
    base_weights, _ = read_weights(base)
    for name in ("embeddings/token_embeddings", "layer_0/output/kernel"):
        np.testing.assert_array_equal(run_weights[name], base_weights[name])
    assert not np.array_equal(run_weights["layer_0/qkv/kernel"], base_weights["layer_0/qkv/kernel"])

    # The base + the adapter file predicts what the merged preset predicts.
    with pytest.warns(UserWarning, match="classifier"):  # a fresh head: the file brings it
        adapted = BertClassifier.from_preset(base, num_classes=2, label_names=["neg", "pos"])
    adapted.enable_lora(2)
    adapted.load_lora_weights(os.path.join(out, "lora.safetensors"))
    adapted.preprocessor = merged.preprocessor
    texts = ["good film the", "awful plot was", "great acting ."]
    np.testing.assert_allclose(adapted.predict(texts, verbose=0),
                               merged.predict(texts, verbose=0), atol=1e-5)

    # evaluate reads the preset and reproduces the best epoch's figure.
    assert main(["evaluate", "--task", "csv", "--model", out]) == 0
    scores = json.load(open(os.path.join(out, "eval_dev.json")))["scores"]
    assert scores["accuracy"] == pytest.approx(record["validation"]["accuracy"], abs=1e-12)


def test_lora_flags_need_a_rank(tmp_path, capsys, base_and_data):
    base, data = base_and_data
    code = main(["finetune", "--task", "csv", "--data", data, "--init", base,
                 "--out", str(tmp_path / "run"), "--lora-targets", "query"])
    assert code != 0
    assert "need a LoRA rank (--lora-rank R)" in capsys.readouterr().err
    code = main(["finetune", "--task", "csv", "--data", data, "--init", base,
                 "--out", str(tmp_path / "run"), "--lora-rank", "2", "--lora-targets", "qury"])
    assert code != 0
    assert "Unknown LoRA target(s) ['qury']" in capsys.readouterr().err
