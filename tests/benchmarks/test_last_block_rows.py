"""`benchmarks/last_block_rows.py`: its ablation computes the last block at every row while
patched (and only then), with the same values, and it records both jobs against it."""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_common  # noqa: E402

from keras_bert_impl.layers import TransformerEncoderBlock  # noqa: E402


def test_the_whole_block_ablation_computes_every_row_while_patched(monkeypatch):
    calls = []
    for name in ("_attention", "_attention_at"):
        shipped = getattr(TransformerEncoderBlock, name)
        monkeypatch.setattr(TransformerEncoderBlock, name,
                            lambda self, *a, _f=shipped, _n=name, **k: calls.append(_n)
                            or _f(self, *a, **k))
    block = TransformerEncoderBlock(hidden_size=16, num_heads=2, intermediate_size=32)
    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    padding, positions = np.ones((2, 6), "int32"), np.array([[0, 4], [0, 2]], "int32")
    shipped = block(x, padding, query_positions=positions)
    restore = bench_common.compute_whole_last_block()
    try:
        whole = block(x, padding, query_positions=positions)
    finally:
        restore()
    again = block(x, padding, query_positions=positions)
    assert calls == ["_attention_at", "_attention", "_attention_at"]
    np.testing.assert_allclose(np.asarray(whole), np.asarray(shipped), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(again), np.asarray(shipped))


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the benchmark times the TensorFlow backend")
def test_records_the_train_step_and_the_classifier_against_the_whole_block():
    import last_block_rows

    records = last_block_rows.results(["bert_tiny"], batch=2, seq=16, steps=1)
    assert [r["name"] for r in records] == [
        "train step (MLM+NSP), last block at the read rows",
        "classifier forward, last block at [CLS]"]
    for record in records:
        assert record["ours"] > 0 and record["peers"]["whole last block"] > 0
        assert "keras-hub" in record["peers"] and record["flops_per_item"] > 0
