"""`pallas_attention`, the training attention with dropout as Pallas kernels that
`TransformerEncoderBlock` runs on an NVIDIA GPU under JAX, checked in Pallas' interpreter (the
same kernel code, on the CPU): the context and the gradient of the fused projection equal the
einsum form's with its dropout mask (float32 and bfloat16, padded keys); another seed gives
other values; the kernels lower to Triton for CUDA; and the block reaches them exactly where
`runs_pallas_kernels()` says and the shape fits, with the same numbers."""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="Pallas kernels are JAX's")

BATCH, HEADS, SEQ, HEAD = 2, 2, 16, 16


def context_and_gradient(attention, qkv, upstream):
    import jax
    import jax.numpy as jnp

    def loss(qkv):
        return jnp.sum(attention(qkv).astype("float32") * upstream)

    return np.asarray(attention(qkv), "float32"), np.asarray(jax.grad(loss)(qkv), "float32")


@pytest.mark.parametrize("tiling", ["one tile", "query rows", "key blocks", "blocks"])
@pytest.mark.parametrize("dtype, rtol", [("float32", 1e-5), ("bfloat16", 1e-2), ("float16", 2e-3)])
def test_kernels_equal_the_einsum_form_with_its_mask(monkeypatch, dtype, rtol, tiling):
    """One tile per head; its forward in programs of 4 query rows (`QUERY_ROWS`) against all
    keys; its backward looping over key blocks of 4 (`KEY_BLOCK`); or (as for sequences over
    `MAX_SEQUENCE`) blocks of 4 positions: 4 query blocks x 4 key blocks, the padding inside
    the third key block."""
    from keras_bert_impl.layers import pallas_attention

    if tiling == "query rows":
        monkeypatch.setattr(pallas_attention, "QUERY_ROWS", 4)
    if tiling == "key blocks":  # the backward over 4 key blocks (`_looped_backward_kernel`)
        monkeypatch.setattr(pallas_attention, "KEY_BLOCK", 4)
    if tiling == "blocks":
        monkeypatch.setattr(pallas_attention, "MAX_SEQUENCE", 4)
        monkeypatch.setattr(pallas_attention, "BLOCK", 4)
    import jax.numpy as jnp

    from keras_bert_impl.layers.pallas_attention import attention_with_dropout, einsum_attention

    rng = np.random.default_rng(0)
    qkv = jnp.asarray(rng.normal(size=(BATCH * SEQ, 3 * HEADS * HEAD)), dtype)
    bias = jnp.zeros((BATCH, SEQ)).at[1, 11:].set(-10000.0)  # the second row padded from 11
    upstream = jnp.asarray(rng.normal(size=(BATCH * SEQ, HEADS * HEAD)), "float32")
    words = jnp.asarray([12345, 678], "uint32")

    def fused(words):
        return lambda qkv: attention_with_dropout(qkv, bias, words, batch=BATCH, heads=HEADS,
                                                  steps=205, interpret=True)

    ours = context_and_gradient(fused(words), qkv, upstream)
    theirs = context_and_gradient(lambda qkv: einsum_attention(
        qkv, bias, words, batch=BATCH, heads=HEADS, steps=205), qkv, upstream)
    for a, b in zip(ours, theirs):
        assert np.abs(a - b).max() <= rtol * np.abs(b).max()
    # The mask is the seed's: other words drop other probabilities.
    other = context_and_gradient(fused(jnp.asarray([12346, 678], "uint32")), qkv, upstream)
    assert np.abs(other[0] - ours[0]).max() > 0.1 * np.abs(ours[0]).max()
    # Padded keys get no gradient through the attention (their probabilities are 0).
    np.testing.assert_allclose(ours[1][SEQ + 11:, HEADS * HEAD:], 0, atol=1e-6)


def test_shapes_the_kernels_take():
    from keras_bert_impl.layers.pallas_attention import supports

    assert supports(128, 64, 128, 12) and supports(16, 16, 1, 1)
    assert supports(512, 64, 32, 12)  # in blocks
    assert not supports(1024, 64, 8, 12)
    assert not supports(128, 64, 0, 12)  # an empty batch: no programs to run
    assert not supports(100, 64, 8, 12) and not supports(128, 48, 8, 12)  # not powers of two
    assert not supports(128, 64, None, 12)  # a symbolic batch


def block_outputs(block, state, x, mask, upstream):
    """Whether the block's training gradient runs Pallas kernels, its training output and that
    gradient, each from the dropout seeds `state`."""
    import jax
    import jax.numpy as jnp

    def run(fn):
        for variable, value in zip(block.non_trainable_variables, state):
            variable.assign(value)  # the same dropout seed for each form
        return fn()

    def loss(x):
        return jnp.sum(block(x, mask, training=True).astype("float32") * upstream)

    kernels = run(lambda: "pallas_call" in str(jax.make_jaxpr(loss)(x)))
    y = run(lambda: np.asarray(block(x, mask, training=True), "float32"))
    dx = run(lambda: np.asarray(jax.grad(loss)(x), "float32"))
    return kernels, y, dx


@pytest.mark.parametrize("seq, block, rate, fused", [(16, None, 0.1, True),
                                                   (24, None, 0.1, False),  # not a tile
                                                   (16, None, 0.01, False),  # Keras' draw
                                                   (32, 8, 0.1, True)])  # in blocks
def test_block_runs_the_kernels_where_runs_pallas_kernels_says(monkeypatch, seq, block, rate,
                                                               fused):
    import jax.numpy as jnp

    from keras_bert_impl.layers import pallas_attention, transformer
    from keras_bert_impl.layers.transformer import TransformerEncoderBlock

    if block:
        monkeypatch.setattr(pallas_attention, "MAX_SEQUENCE", block)
        monkeypatch.setattr(pallas_attention, "BLOCK", block)
    rng = np.random.default_rng(1)
    block = TransformerEncoderBlock(hidden_size=32, num_heads=2, intermediate_size=64,
                                    dropout=0.1, attention_dropout=rate)
    x = jnp.asarray(rng.normal(size=(2, seq, 32)), "float32")
    mask = np.ones((2, seq), "int32")
    mask[1, seq - 5:] = 0
    upstream = jnp.asarray(rng.normal(size=(2, seq, 32)), "float32")
    block(x, mask)
    seeds = [np.asarray(v) for v in block.non_trainable_variables]
    einsum = block_outputs(block, seeds, x, mask, upstream)  # JAX on a CPU: XLA's einsums
    monkeypatch.setattr(transformer, "runs_pallas_kernels", lambda: True)
    pallas = block_outputs(block, seeds, x, mask, upstream)
    assert (einsum[0], pallas[0]) == (False, fused)
    np.testing.assert_allclose(pallas[1], einsum[1], atol=2e-5)
    np.testing.assert_allclose(pallas[2], einsum[2], atol=2e-5)
    # Not while predicting: inference has no dropout (Keras' fused attention op runs).
    import jax

    assert "pallas_call" not in str(jax.make_jaxpr(lambda x: block(x, mask))(x))


@pytest.mark.parametrize("seq, kernels, rows, key_block", [
    (128, 2, 128, None), (128, 2, 64, 64), (512, 3, 128, None)])
def test_kernels_lower_to_triton_for_cuda(monkeypatch, seq, kernels, rows, key_block):
    """Pallas' lowering to Triton (what runs first on a GPU) at BERT-base's head shape, forward
    and backward (one tile; in blocks, the backward in two kernels), done here for CUDA without
    one: it rejects what Triton cannot express."""
    import jax
    import jax.numpy as jnp

    from keras_bert_impl.layers import pallas_attention
    from keras_bert_impl.layers.pallas_attention import attention_with_dropout

    monkeypatch.setattr(pallas_attention, "QUERY_ROWS", rows)  # the forward's query rows
    monkeypatch.setattr(pallas_attention, "KEY_BLOCK", key_block)  # the backward's key blocks
    batch, heads, head = 2, 12, 64

    def step(qkv, bias, seed, upstream):
        context, backward = jax.vjp(lambda q: attention_with_dropout(
            q, bias, seed, batch=batch, heads=heads, steps=205, interpret=False), qkv)
        return context, backward(upstream)

    args = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in [
        ((batch * seq, 3 * heads * head), jnp.bfloat16), ((batch, seq), jnp.float32),
        ((2,), jnp.uint32), ((batch * seq, heads * head), jnp.bfloat16)]]
    text = jax.jit(step).trace(*args).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("__gpu$xla.gpu.triton") == kernels
