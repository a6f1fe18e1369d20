"""`benchmarks/forward_overheads.py` on a tiny size: its ablations remove their piece from the
traced model while open (and only then), and it records each call path against HF."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import forward_overheads  # noqa: E402

from keras_bert_impl import BertConfig, BertEncoder  # noqa: E402


@pytest.mark.parametrize("variant", forward_overheads.ABLATIONS[1:])
def test_an_ablation_changes_the_traced_model_only_while_open(variant):
    import tensorflow as tf

    config = BertConfig.from_preset("bert_tiny")
    x = {"token_ids": np.array([[2, 5, 7, 3, 9, 4]] * 2, "int32"),
         "segment_ids": np.array([[0, 0, 0, 1, 1, 1]] * 2, "int32"),
         "padding_mask": np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")}
    encoder = BertEncoder(config)
    shipped = encoder.predict_on_batch(x)["sequence_output"]
    with forward_overheads.ablated(variant):
        function = tf.function(lambda d: encoder(d, training=False)["sequence_output"])
        traced = function(x).numpy()
        ops = {op.type for op in function.get_concrete_function(x).graph.get_operations()}
    after = encoder.predict_on_batch(x)["sequence_output"]
    np.testing.assert_array_equal(after, shipped)
    if variant == "segment_gather":  # the same numbers, looked up without a one-hot matmul
        np.testing.assert_allclose(traced, shipped, atol=1e-5)
        assert "OneHot" not in ops
    else:
        assert np.abs(traced - shipped).max() > 1e-2


def test_records_each_call_path_against_hf_and_the_projections_against_pytorch():
    records = forward_overheads.results("bert_tiny", batch=2, seq=16, rounds=1)
    assert [r["name"] for r in records] == [
        "encoder forward: predict_on_batch", "encoder forward: tf.function",
        "encoder forward: tf.function + XLA", "projection matmul: qkv",
        "projection matmul: attention_output", "projection matmul: intermediate",
        "projection matmul: output", "projection matmuls: all layers"]
    for record in records:
        assert record["unit"] == "ms" and not record["higher_is_better"]
        assert 0 < record["ours"] < 10_000
        peer = "HF PyTorch" if record["name"].startswith("encoder") else "PyTorch"
        assert list(record["peers"]) == [peer]
    assert [r["config"].split()[-1] for r in records[3:7]] == [
        "128->384", "128->128", "128->512", "512->128"]  # bert_tiny's hidden 128, FFN 512
    # the layers' sum: two layers of the four projections
    projections = [r["ours"] for r in records[3:7]]
    assert records[-1]["ours"] == pytest.approx(2 * sum(projections))


def test_projections_in_bfloat16_are_timed_and_recorded_in_bfloat16():
    records = forward_overheads.projection_records("bert_tiny", batch=2, seq=16, rounds=1,
                                                   dtype="bfloat16")
    assert [r["name"] for r in records][-1] == "projection matmuls: all layers"
    assert {r["dtype"] for r in records} == {"bfloat16"}
    assert all(r["config"].startswith("bert_tiny rows=32 bfloat16") for r in records)
    assert all(0 < r["ours"] < 10_000 and 0 < r["peers"]["PyTorch"] < 10_000 for r in records)
