"""Training attention with dropout as one Pallas (Triton) kernel forward and one backward, per
batch element and head, for JAX on an NVIDIA GPU: the candidate that `gpu_train_step.py`'s
`attn_pallas` ablation puts in `TransformerEncoderBlock` where the sequence fits one tile. Not
yet measured on a GPU (its one device try, 2026-11-27, used `pl.dot`, which JAX 0.11 removed;
the kernels now use `lax.dot_general` and lower to Triton for CUDA here, as a test checks);
once it wins there it moves into `keras_bert_impl.layers` beside `pallas_layer_norm`.

XLA runs the training attention as separate kernels: the head-layout transposes of q, k and v,
a batched matmul for the logits, the softmax's statistics and its normalization with the
dropout mask, a batched matmul with v, the transposes back, and as many again backward, with
the logits, the float32 probabilities and the mask written to memory and read back (about 5 ms
of an H200's 27 ms BERT-base step at seq 128 x batch 128, `results/gpu_train_step-nvidia-h200.md`).
Here a program loads its head's query, key and value rows straight from the fused `[tokens, 3 *
hidden]` projection, keeps the `[seq, seq]` logits and probabilities in registers, draws the
dropout mask in place, and writes the context rows in the `[tokens, hidden]` layout the output
projection reads, plus each row's log-sum-exp; the backward recomputes the probabilities from
those and writes the gradient of the fused projection directly.

The numbers are the einsum form's (`TransformerEncoderBlock._attention_with_dropout`): the
same roundings to the compute dtype (the query scaled, the logits, the probabilities, the
gradients of each), the softmax in float32, and the same dropout mask for the same seed
(`dropout.hashed_keep_mask` over `[batch, heads, seq, seq]`, the Dropout layer's seed
generator advanced once). Sequence length and head size must be powers of two from 16 (a
Triton tile) and the sequence at most `MAX_SEQUENCE` (one tile of logits per program); other
shapes take the einsum form. Where JAX has no GPU the same kernels run in Pallas' interpreter.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from keras_bert_impl.layers.dropout import FINALISER, GOLDEN, STEPS, hashed_keep_mask

MAX_SEQUENCE = 128  # the [seq, seq] logits of one head stay in a program's registers


def supports(seq_len, head_size, batch, heads):
    """Whether the kernels take this shape (else the einsum form runs)."""
    def tile(n):
        return n >= 16 and n & (n - 1) == 0

    return (tile(seq_len) and seq_len <= MAX_SEQUENCE and tile(head_size)
            and batch * heads * seq_len * seq_len < 2**32)


def _int32(bits):
    """The int32 with the 32 bits of the unsigned `bits` (the kernels hash in int32: the same
    bits under wrapping multiplication, xor and logical shifts, and no unsigned constants)."""
    return np.uint32(bits).view(np.int32)


def _keep(program, seq_len, seed_ref, steps):
    """`dropout.hashed_keep_mask` of the `[seq, seq]` slice `program` (= b * heads + n) of the
    `[batch, heads, seq, seq]` probabilities, `seed_ref` holding its two words as int32."""
    rows = jnp.arange(seq_len, dtype=jnp.int32)
    bits = (program * seq_len + rows[:, None]) * seq_len + rows[None, :]
    for word in (seed_ref[0], seed_ref[1]):
        bits = (bits ^ word) * _int32(GOLDEN)
        for shift, multiplier in FINALISER:
            bits = (bits ^ jax.lax.shift_right_logical(bits, np.int32(shift))) * \
                _int32(multiplier)
        bits = bits ^ jax.lax.shift_right_logical(bits, np.int32(16))
    # unsigned bits >= threshold, compared as int32 with the sign bits flipped
    sign = _int32(2**31)
    return (bits ^ sign) >= (_int32(steps * 2**21) ^ sign)


def _dot(a, b, contract=(1, 0)):
    """`a @ b` contracting `a`'s axis `contract[0]` with `b`'s `contract[1]`, float32 sums."""
    return jax.lax.dot_general(a, b, (((contract[0],), (contract[1],)), ((), ())),
                               preferred_element_type=jnp.float32)


def _head(ref, rows, offset, head_size):
    columns = offset + jnp.arange(head_size)
    return ref.at[rows[:, None], columns[None, :]]


def _program_scores(qkv_ref, bias_ref, seed_ref, *, heads, seq_len, head_size, steps,
                    dtype):
    """One program's token rows, scaled query, key, value, float32 scores (logits + bias) and
    dropout mask: its batch element and head are the program's ids."""
    batch_index, head = pl.program_id(0), pl.program_id(1)
    rows = batch_index * seq_len + jnp.arange(seq_len)
    offset, hidden = head * head_size, heads * head_size
    query = plgpu.load(_head(qkv_ref, rows, offset, head_size))
    key = plgpu.load(_head(qkv_ref, rows, hidden + offset, head_size))
    value = plgpu.load(_head(qkv_ref, rows, 2 * hidden + offset, head_size))
    scaled = (query.astype(jnp.float32) * (1.0 / math.sqrt(head_size))).astype(dtype)
    logits = _dot(scaled, key, (1, 1)).astype(dtype).astype(jnp.float32)
    bias = plgpu.load(bias_ref.at[batch_index, jnp.arange(seq_len)])
    keep = _keep(batch_index * heads + head, seq_len, seed_ref, steps)
    return rows, scaled, key, value, logits + bias[None, :], keep


def _dropout(values, keep, steps):
    """`Dropout`'s `where(keep, values * scale, 0)` in `values`' dtype."""
    dtype = values.dtype
    scale = np.float32(np.asarray(1.0 / (1.0 - steps / STEPS), dtype))
    return jnp.where(keep, (values.astype(jnp.float32) * scale).astype(dtype),
                     jnp.zeros((), dtype))


def _lse(ref, seq_len):
    return ref.at[pl.program_id(0), pl.program_id(1), jnp.arange(seq_len)]


def _forward_kernel(qkv_ref, bias_ref, seed_ref, out_ref, lse_ref, *, heads, seq_len,
                    head_size, steps):
    dtype = out_ref.dtype
    rows, _, _, value, scores, keep = _program_scores(
        qkv_ref, bias_ref, seed_ref, heads=heads, seq_len=seq_len, head_size=head_size,
        steps=steps, dtype=dtype)
    peak = jnp.max(scores, axis=1)
    exps = jnp.exp(scores - peak[:, None])
    total = jnp.sum(exps, axis=1)
    dropped = _dropout((exps / total[:, None]).astype(dtype), keep, steps)
    context = _dot(dropped, value).astype(dtype)
    plgpu.store(_head(out_ref, rows, pl.program_id(1) * head_size, head_size), context)
    plgpu.store(_lse(lse_ref, seq_len), peak + jnp.log(total))


def _backward_kernel(qkv_ref, bias_ref, seed_ref, lse_ref, dout_ref, dqkv_ref, *, heads,
                     seq_len, head_size, steps):
    dtype = dqkv_ref.dtype
    rows, scaled, key, value, scores, keep = _program_scores(
        qkv_ref, bias_ref, seed_ref, heads=heads, seq_len=seq_len, head_size=head_size,
        steps=steps, dtype=dtype)
    probs = jnp.exp(scores - plgpu.load(_lse(lse_ref, seq_len))[:, None])
    dropped = _dropout(probs.astype(dtype), keep, steps)
    offset, hidden = pl.program_id(1) * head_size, heads * head_size
    upstream = plgpu.load(_head(dout_ref, rows, offset, head_size))
    dvalue = _dot(dropped, upstream, (0, 0)).astype(dtype)
    ddropped = _dot(upstream, value, (1, 1)).astype(dtype)
    dprobs = _dropout(ddropped, keep, steps).astype(jnp.float32)
    dlogits = (probs * (dprobs - jnp.sum(dprobs * probs, axis=1)[:, None])).astype(dtype)
    dscaled = _dot(dlogits, key).astype(dtype)
    dquery = (dscaled.astype(jnp.float32) * (1.0 / math.sqrt(head_size))).astype(dtype)
    dkey = _dot(dlogits, scaled, (0, 0)).astype(dtype)
    plgpu.store(_head(dqkv_ref, rows, offset, head_size), dquery)
    plgpu.store(_head(dqkv_ref, rows, hidden + offset, head_size), dkey)
    plgpu.store(_head(dqkv_ref, rows, 2 * hidden + offset, head_size), dvalue)


def _warps(seq_len):
    return 8 if seq_len >= 128 else 4


def _call(kernel, out_shape, args, shape, interpret, name):
    batch, heads, seq_len, head_size, steps = shape
    return pl.pallas_call(
        functools.partial(kernel, heads=heads, seq_len=seq_len, head_size=head_size,
                          steps=steps),
        grid=(batch, heads), out_shape=out_shape,
        compiler_params=plgpu.CompilerParams(num_warps=_warps(seq_len)),
        interpret=interpret, name=name,
    )(*args)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _attention(qkv, bias, seed, shape, interpret):
    return _attention_forward(qkv, bias, seed, shape, interpret)[0]


def _attention_forward(qkv, bias, seed, shape, interpret):
    batch, heads, seq_len, head_size, _ = shape
    out_shape = [jax.ShapeDtypeStruct((qkv.shape[0], heads * head_size), qkv.dtype),
                 jax.ShapeDtypeStruct((batch, heads, seq_len), jnp.float32)]
    context, lse = _call(_forward_kernel, out_shape, (qkv, bias, seed), shape, interpret,
                         "attention_forward")
    return context, (qkv, bias, seed, lse)


def _attention_backward(shape, interpret, residuals, dcontext):
    qkv, bias, seed, lse = residuals
    dqkv = _call(_backward_kernel, jax.ShapeDtypeStruct(qkv.shape, qkv.dtype),
                 (qkv, bias, seed, lse, dcontext.astype(qkv.dtype)), shape, interpret,
                 "attention_backward")
    return dqkv, jnp.zeros_like(bias), np.zeros(seed.shape, jax.dtypes.float0)


_attention.defvjp(_attention_forward, _attention_backward)


def attention_with_dropout(qkv, bias, seed, *, batch, heads, steps, interpret=None):
    """Attention of the fused projection `qkv` (`[batch * seq, 3 * hidden]`: query, key and
    value, each `heads` heads wide) with its probabilities dropped with probability `steps /
    2048` (the mask of `dropout.hashed_keep_mask` for the two uint32 words `seed`); `bias`:
    the `[batch, seq]` additive key bias (`attention_bias`). Returns the context rows `[batch
    * seq, hidden]` in `qkv`'s dtype. `interpret` (default: where JAX has no GPU) runs the
    kernels in Pallas' interpreter.

    Example:

    ```python
    import numpy as np
    qkv = np.random.default_rng(0).normal(size=(2 * 16, 3 * 32)).astype("float32")
    context = attention_with_dropout(qkv, np.zeros((2, 16), "float32"),
                                     np.array([1, 2], "uint32"), batch=2, heads=2, steps=205)
    context.shape  # (32, 32)
    ```
    """
    if interpret is None:
        interpret = jax.default_backend() != "gpu"
    qkv = jnp.asarray(qkv)
    seq_len = qkv.shape[0] // batch
    head_size = qkv.shape[1] // (3 * heads)
    shape = (batch, heads, seq_len, head_size, steps)
    seed = jax.lax.bitcast_convert_type(jnp.asarray(seed, jnp.uint32), jnp.int32)
    return _attention(qkv, jnp.asarray(bias, jnp.float32), seed, shape, interpret)


class _Words:
    """The two seed words as `hashed_keep_mask` asks for them (a seed generator's `next`)."""

    def __init__(self, words):
        self.words = words

    def next(self):
        return self.words


def einsum_attention(qkv, bias, seed, *, batch, heads, steps):
    """What `attention_with_dropout` computes, as `TransformerEncoderBlock`'s einsum form with
    `Dropout`'s hashed mask for the words `seed`: the reference the kernels are checked and
    timed against.

    Example:

    ```python
    import numpy as np
    qkv = np.random.default_rng(0).normal(size=(2 * 16, 3 * 32)).astype("float32")
    args = (qkv, np.zeros((2, 16), "float32"), np.array([1, 2], "uint32"))
    fused = attention_with_dropout(*args, batch=2, heads=2, steps=205)
    reference = einsum_attention(*args, batch=2, heads=2, steps=205)
    bool(np.abs(np.asarray(fused) - np.asarray(reference)).max() < 1e-5)  # True
    ```
    """
    qkv = jnp.asarray(qkv)
    seq_len = qkv.shape[0] // batch
    head_size = qkv.shape[1] // (3 * heads)
    query, key, value = (t.reshape(batch, seq_len, heads, head_size)
                         for t in jnp.split(qkv, 3, axis=-1))
    scaled = query * jnp.asarray(head_size**-0.5, qkv.dtype)
    logits = jnp.einsum("btnh,bsnh->bnts", scaled, key)
    probs = jax.nn.softmax(logits.astype(jnp.float32) + bias[:, None, None, :], axis=-1)
    probs = probs.astype(qkv.dtype)
    keep = hashed_keep_mask((batch, heads, seq_len, seq_len), steps, _Words(seed))
    scale = jnp.asarray(1 / (1 - steps / STEPS), qkv.dtype)
    probs = jnp.where(keep, probs * scale, jnp.zeros((), qkv.dtype))
    context = jnp.einsum("bnts,bsnh->btnh", probs, value)
    return context.reshape(batch * seq_len, heads * head_size)
