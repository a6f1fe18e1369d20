"""`benchmarks/input_gradient.py`: its ablation turns the batched input gradient off in the
intermediate projection of every block (and nowhere else), and it records the train step
against it."""

import sys
from pathlib import Path

import keras
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer  # noqa: E402


def test_the_ablation_turns_off_the_intermediate_projections_only():
    import input_gradient

    pretrainer = BertPretrainer(BertEncoder(BertConfig.from_preset("bert_tiny")))
    blocks = [pretrainer.encoder.get_layer(f"transformer_layer_{i}") for i in range(2)]
    assert all(block.intermediate_dense.batched_input_gradient for block in blocks)
    assert input_gradient.use_autodiff_input_gradients(pretrainer) == 2  # bert_tiny: 2 blocks
    assert not any(block.intermediate_dense.batched_input_gradient for block in blocks)
    assert input_gradient.use_autodiff_input_gradients(pretrainer) == 0


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the benchmark times the TensorFlow backend")
def test_records_the_train_step_against_the_autodiff_input_gradient():
    import input_gradient

    (record,) = input_gradient.results(["bert_tiny"], batch=2, seq=16, steps=1)
    assert record["name"] == "train step (MLM+NSP), batched intermediate input gradient"
    assert record["ours"] > 0 and record["peers"][input_gradient.AUTODIFF] > 0
    assert "keras-hub" in record["peers"] and record["flops_per_item"] > 0
