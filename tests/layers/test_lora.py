"""LoRA in the layers: `LoraDense` (whole kernel, or column slices of the fused qkv) and
`TransformerEncoderBlock.enable_lora`. The adapted kernel is checked against NumPy
(`kernel + concat([A_q @ B_q, 0, A_v @ B_v]) * alpha / rank`), saving keeps the adapters as they
are, merging keeps the outputs.

Runs on the TensorFlow and the JAX backends (`make test` runs tests/layers under both).
"""

import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_bert_impl.layers import TransformerEncoderBlock
from keras_bert_impl.layers.lora import LoraDense
from tests.harness import assert_all_close, run_layer_test

BATCH, SEQ, HIDDEN = 2, 5, 8
PADDING = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32")
BLOCK = dict(hidden_size=HIDDEN, num_heads=2, intermediate_size=16, dropout=0.0,
             attention_dropout=0.0)


def hidden_states():
    return np.random.default_rng(0).normal(size=(BATCH, SEQ, HIDDEN)).astype("float32")


def randomize(variables, seed=1):
    rng = np.random.default_rng(seed)
    for v in variables:
        v.assign(rng.normal(scale=0.1, size=v.shape).astype("float32"))


def numpy_(x):
    return ops.convert_to_numpy(x)


def test_sliced_adapters_update_only_their_slices():
    layer = LoraDense(3 * HIDDEN, num_slices=3)
    layer.build((None, HIDDEN))
    x = hidden_states()
    plain = numpy_(layer(x))
    layer.enable_lora(2, lora_alpha=4, slices=(0, 2))
    assert_all_close(layer(x), plain, atol=0, rtol=0)  # B starts at zero
    # Only the adapters train (the bias too is frozen); none for the key slice.
    assert [v.name for v in layer.trainable_weights] == [
        "lora_kernel_a_0", "lora_kernel_b_0", "lora_kernel_a_2", "lora_kernel_b_2"]
    randomize(layer.trainable_weights)
    a0, b0, a2, b2 = (numpy_(v) for v in layer.trainable_weights)
    kernel = numpy_(layer._kernel)
    delta = np.concatenate([a0 @ b0, np.zeros((HIDDEN, HIDDEN)), a2 @ b2], axis=-1) * 4 / 2
    np.testing.assert_allclose(numpy_(layer.kernel), kernel + delta, atol=1e-6)
    expected = x @ (kernel + delta) + numpy_(layer.bias)
    assert_all_close(layer(x), expected, atol=1e-5, rtol=1e-5)
    # The key slice's output is untouched by the adapters.
    np.testing.assert_allclose(numpy_(layer(x))[..., HIDDEN:2 * HIDDEN],
                               plain[..., HIDDEN:2 * HIDDEN], atol=1e-6)


def test_whole_kernel_takes_keras_enable_lora_and_freezes_the_bias():
    layer = LoraDense(HIDDEN)
    layer.build((None, HIDDEN))
    layer.enable_lora(2)
    assert [v.name for v in layer.trainable_weights] == ["lora_kernel_a", "lora_kernel_b"]
    assert layer.lora_alpha == 2 and layer.lora_slices == (0,)


def test_merge_keeps_outputs_and_removes_the_adapters():
    layer = LoraDense(3 * HIDDEN, num_slices=3)
    layer.build((None, HIDDEN))
    layer.enable_lora(2, slices=(1,))
    randomize(layer.trainable_weights)
    x = hidden_states()
    before = numpy_(layer(x))
    layer.merge_lora()
    assert_all_close(layer(x), before, atol=1e-5, rtol=0)
    assert [v.name for v in layer.weights] == ["kernel", "bias"]
    assert len(layer.trainable_weights) == 2 and not layer.lora_enabled
    assert "lora_rank" not in layer.get_config()


def test_config_rebuilds_the_adapters():
    layer = LoraDense(3 * HIDDEN, num_slices=3)
    layer.build((None, HIDDEN))
    layer.enable_lora(2, lora_alpha=8, slices=(0, 2))
    clone = LoraDense.from_config(layer.get_config())
    clone.build((None, HIDDEN))
    assert [v.name for v in clone.weights] == [v.name for v in layer.weights]
    assert (clone.lora_rank, clone.lora_alpha, clone.lora_slices) == (2, 8, (0, 2))
    assert "batched_input_gradient" not in layer.get_config()  # the default is not written
    wide = LoraDense.from_config(LoraDense(16, batched_input_gradient=True).get_config())
    assert wide.batched_input_gradient and not clone.batched_input_gradient
    with pytest.raises(ValueError, match="num_slices"):
        LoraDense(10, num_slices=3)
    bad = LoraDense(6, num_slices=3)
    bad.build((None, 4))
    with pytest.raises(ValueError, match=r"slices must be indices in \[0, 3\)"):
        bad.enable_lora(2, slices=(3,))


def test_block_with_lora_runs_the_layer_harness(tmp_path):
    # Config and .keras round trips, symbolic call, mixed_bfloat16, with LoRA in the config.
    block = run_layer_test(
        TransformerEncoderBlock,
        dict(**BLOCK, lora={"rank": 2, "targets": ["value", "query"]}),
        (hidden_states(), PADDING),
        (BATCH, SEQ, HIDDEN),
        expected_num_trainable_weights=4,  # A and B for query and value
        tmp_path=tmp_path,
    )
    assert block.get_config()["lora"] == {"rank": 2, "targets": ["query", "value"], "alpha": 2}
    assert sorted(block.lora_adapters()) == ["query", "value"]


@pytest.mark.parametrize("targets, count", [
    (("query", "value"), 4),
    (("key",), 2),
    (("query", "key", "value", "attention_output", "intermediate", "output"), 12),
])
def test_block_enable_lora_freezes_everything_else(targets, count):
    block = TransformerEncoderBlock(**BLOCK)
    x = hidden_states()
    before = numpy_(block(x, PADDING))
    block.enable_lora(2, targets=targets)
    assert len(block.trainable_weights) == count
    assert all("lora_kernel" in v.name for v in block.trainable_weights)
    assert_all_close(block(x, PADDING), before, atol=0, rtol=0)
    assert block.lora_config()["targets"] == [t for t in targets]


def test_block_keras_round_trip_keeps_the_adapters_exactly(tmp_path):
    block = TransformerEncoderBlock(**BLOCK, lora={"rank": 2, "targets": ["query", "output"],
                                                   "alpha": 3.0})
    x = keras.Input((SEQ, HIDDEN)), keras.Input((SEQ,), dtype="int32")
    model = keras.Model(x, block(*x))
    randomize(block.trainable_weights)
    path = os.path.join(tmp_path, "block.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    for saved, loaded in zip(model.weights, restored.weights, strict=True):
        assert saved.path == loaded.path
        np.testing.assert_array_equal(numpy_(loaded), numpy_(saved))
    assert_all_close(restored([hidden_states(), PADDING]), model([hidden_states(), PADDING]),
                     atol=0, rtol=0)
    assert len(restored.trainable_weights) == 4


def test_block_merge_gives_the_same_outputs():
    block = TransformerEncoderBlock(**BLOCK)
    block(hidden_states(), PADDING)
    block.enable_lora(4, targets="query,key,value,intermediate", alpha=8)
    randomize(block.trainable_weights)
    before = numpy_(block(hidden_states(), PADDING))
    block.merge_lora()
    assert_all_close(block(hidden_states(), PADDING), before, atol=1e-5, rtol=0)
    assert not any("lora" in v.name for v in block.weights)
    assert len(block.trainable_weights) == 12 and block.lora_config() is None
    assert "lora" not in block.get_config()


def test_lora_in_mixed_bfloat16():
    block = TransformerEncoderBlock(**BLOCK, dtype="mixed_bfloat16")
    block(hidden_states(), PADDING)
    block.enable_lora(2)
    randomize(block.trainable_weights)
    out = block(hidden_states(), PADDING)
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    assert np.all(np.isfinite(numpy_(ops.cast(out, "float32"))))
    assert {v.dtype for v in block.trainable_weights} == {"float32"}
    assert keras.backend.standardize_dtype(block.qkv_dense.kernel.dtype) == "float32"


def test_bad_lora_settings_are_clear_errors():
    block = TransformerEncoderBlock(**BLOCK)
    with pytest.raises(ValueError, match="not built"):
        block.enable_lora(2)
    block(hidden_states(), PADDING)
    with pytest.raises(ValueError, match=r"Unknown LoRA target\(s\) \['keys'\].*'key'"):
        block.enable_lora(2, targets=("query", "keys"))
    with pytest.raises(ValueError, match="rank must be a positive integer"):
        block.enable_lora(0)
    block.enable_lora(2)
    with pytest.raises(ValueError, match="already enabled"):
        block.enable_lora(2)
