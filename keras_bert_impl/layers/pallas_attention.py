"""Training attention with dropout as Pallas (Triton) kernels, forward and backward, per
batch element and head: what `TransformerEncoderBlock` runs while training under JAX on an
NVIDIA GPU (`execution.runs_pallas_kernels()`), for sequences up to `MAX_BLOCKED`. Imported only
there: it imports JAX.

XLA runs the training attention as separate kernels: the head-layout transposes of q, k and v,
a batched matmul for the logits, the softmax's statistics and its normalization with the
dropout mask, a batched matmul with v, the transposes back, and as many again backward, with
the logits, the float32 probabilities and the mask written to memory and read back (about 5 ms
of an H200's 27 ms BERT-base step at seq 128 x batch 128, `benchmarks/results/`). Here a
program loads its head's query, key and value rows straight from the fused `[tokens, 3 *
hidden]` projection, keeps the `[seq, seq]` logits and probabilities in registers, draws the
dropout mask in place, and writes the context rows in the `[tokens, hidden]` layout the output
projection reads, plus each row's log-sum-exp; the backward recomputes the probabilities from
those and writes the gradient of the fused projection directly. On one H100
(`benchmarks/gpu_kernels.py`, BERT-base's `[128 x 128, 2304]` projection, bf16): forward 228
-> 74 us, forward and backward 537 -> 242 us; the whole train step 1.14x (4,163 -> 4,766 seq/s;
seq 512 x 32: 713 -> 813), `benchmarks/results/gpu_train_step-nvidia-h100.md`.

The numbers are the einsum form's (`TransformerEncoderBlock._attention_with_dropout`): the
same roundings to the compute dtype (the query scaled, the logits, the probabilities, the
gradients of each), the softmax in float32, and the same dropout mask for the same seed
(`dropout.hashed_keep_mask` over `[batch, heads, seq, seq]`, the Dropout layer's seed
generator advanced once). Sequence length and head size must be powers of two from 16 (a
Triton tile), the sequence at most `MAX_BLOCKED` (`supports`); other shapes take the einsum
form. Up to `MAX_SEQUENCE` a program holds a head's whole `[seq, seq]` tile (a forward program
can take `QUERY_ROWS` of its query rows instead; on an H200, 64 or 32 rows and 4 or 16 warps
all lost to the whole tile with 8 warps: 0.86-0.98x the step). Longer sequences
go in blocks of `BLOCK` positions (`_Blocks`): a forward program per query block takes two
passes over the key blocks (the rows' maximum and sum of exponentials, then the normalized
probabilities, rounded and dropped, times the values: the einsum form's roundings still); the
backward is a kernel per query block (each row's sum of probabilities times their gradients,
then the queries' gradient) and one per key block (the keys' and values' gradients, written
into the same gradient array). Where JAX has no GPU the kernels run in Pallas' interpreter
(how the tests check them on a CPU).
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from keras_bert_impl.layers import dropout
from keras_bert_impl.layers.dropout import FINALISER, GOLDEN, STEPS, hashed_keep_mask, seed_key

MAX_SEQUENCE = 128  # up to here one program holds a head's [seq, seq] logits
QUERY_ROWS = MAX_SEQUENCE  # up to there, query rows a forward program takes (all keys at once)
KEY_BLOCK = None  # up to there, key blocks the backward loops over (None: the whole tile)
BLOCK = 128  # longer sequences: query and key blocks of this size (`_Blocks`)
MAX_BLOCKED = 512


def supports(seq_len, head_size, batch, heads):
    """Whether the kernels take this shape (else the einsum form runs): static sizes,
    sequence and head size powers of two from 16, the sequence at most `MAX_BLOCKED`.

    Example:

    ```python
    supports(128, 64, batch=32, heads=12), supports(100, 64, batch=32, heads=12)  # True, False
    ```
    """
    if not all(isinstance(n, int) for n in (seq_len, head_size, batch, heads)):
        return False  # a symbolic size (a functional model's batch)

    def tile(n):
        return n >= 16 and n & (n - 1) == 0

    return (tile(seq_len) and seq_len <= MAX_BLOCKED and tile(head_size)
            and 0 < batch * heads * seq_len * seq_len < 2**32)


def _int32(bits):
    """The int32 with the 32 bits of the unsigned `bits` (the kernels hash in int32: the same
    bits under wrapping multiplication, xor and logical shifts, and no unsigned constants)."""
    return np.uint32(bits).view(np.int32)


def _keep(plane, rows, columns, seq_len, key_ref, steps):
    """`dropout.hashed_keep_mask` at the query positions `rows` and key positions `columns` of
    the `[seq, seq]` slice `plane` (= b * heads + n) of the `[batch, heads, seq, seq]`
    probabilities, `key_ref` holding the seed's key (`dropout.seed_key`) as int32."""
    bits = (plane * seq_len + rows[:, None]) * seq_len + columns[None, :]
    key = key_ref[0]
    for _ in range(dropout.ROUNDS):
        bits = (bits ^ key) * _int32(GOLDEN)
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


def _dropout(values, keep, steps):
    """`Dropout`'s `where(keep, values * scale, 0)` in `values`' dtype."""
    dtype = values.dtype
    scale = np.float32(np.asarray(1.0 / (1.0 - steps / STEPS), dtype))
    return jnp.where(keep, (values.astype(jnp.float32) * scale).astype(dtype),
                     jnp.zeros((), dtype))


class _Blocks:
    """One program's view of a `[seq, seq]` head split into `block`-sized query and key
    blocks (one block of the whole sequence up to `MAX_SEQUENCE`): loads of a block's query,
    key and value rows from the fused projection, its scores and its dropout mask."""

    def __init__(self, qkv_ref, bias_ref, key_ref, *, heads, seq_len, head_size, steps,
                 block, dtype):
        self.qkv_ref, self.bias_ref, self.key_ref = qkv_ref, bias_ref, key_ref
        self.seq_len, self.head_size, self.steps, self.block = seq_len, head_size, steps, block
        self.dtype, self.hidden = dtype, heads * head_size
        self.batch_index, self.head = pl.program_id(0), pl.program_id(1)
        self.plane = self.batch_index * heads + self.head
        self.offset = self.head * head_size
        self.count = seq_len // block
        self.query_scale = 1.0 / math.sqrt(head_size)

    def positions(self, index):
        return index * self.block + jnp.arange(self.block)

    def rows(self, positions):
        return self.batch_index * self.seq_len + positions

    def load(self, positions, part):
        """Query (0), key (1) or value (2) rows at `positions`; queries come scaled."""
        values = plgpu.load(_head(self.qkv_ref, self.rows(positions),
                                  part * self.hidden + self.offset, self.head_size))
        if part == 0:
            values = (values.astype(jnp.float32) * self.query_scale).astype(self.dtype)
        return values

    def scores(self, scaled, key, key_positions):
        logits = _dot(scaled, key, (1, 1)).astype(self.dtype).astype(jnp.float32)
        bias = plgpu.load(self.bias_ref.at[self.batch_index, key_positions])
        return logits + bias[None, :]

    def keep(self, query_positions, key_positions):
        return _keep(self.plane, query_positions, key_positions, self.seq_len, self.key_ref,
                     self.steps)

    def stats(self, ref, positions):
        return ref.at[self.batch_index, self.head, positions]

    def query_gradient(self, dscaled):
        """The unscaled queries' gradient from the float32 sums `dscaled` of the scaled ones':
        rounded to the compute dtype, scaled as `load` scales the queries, rounded again (the
        einsum form's roundings)."""
        return (dscaled.astype(self.dtype).astype(jnp.float32)
                * self.query_scale).astype(self.dtype)


def _forward_kernel(qkv_ref, bias_ref, key_ref, out_ref, lse_ref, *, rows, **shape):
    view = _Blocks(qkv_ref, bias_ref, key_ref, block=rows, dtype=out_ref.dtype, **shape)
    queries, keys = view.positions(pl.program_id(2)), jnp.arange(view.seq_len)
    scores = view.scores(view.load(queries, 0), view.load(keys, 1), keys)
    peak = jnp.max(scores, axis=1)
    exps = jnp.exp(scores - peak[:, None])
    total = jnp.sum(exps, axis=1)
    dropped = _dropout((exps / total[:, None]).astype(view.dtype), view.keep(queries, keys),
                       view.steps)
    context = _dot(dropped, view.load(keys, 2)).astype(view.dtype)
    plgpu.store(_head(out_ref, view.rows(queries), view.offset, view.head_size), context)
    plgpu.store(view.stats(lse_ref, queries), peak + jnp.log(total))


def _backward_kernel(qkv_ref, bias_ref, key_ref, lse_ref, dout_ref, dqkv_ref, **shape):
    view = _Blocks(qkv_ref, bias_ref, key_ref, block=shape["seq_len"], dtype=dqkv_ref.dtype,
                   **shape)
    dtype, offset, hidden = view.dtype, view.offset, view.hidden
    positions = view.positions(0)
    rows = view.rows(positions)
    scaled, key = view.load(positions, 0), view.load(positions, 1)
    probs = jnp.exp(view.scores(scaled, key, positions)
                    - plgpu.load(view.stats(lse_ref, positions))[:, None])
    keep = view.keep(positions, positions)
    dropped = _dropout(probs.astype(dtype), keep, view.steps)
    upstream = plgpu.load(_head(dout_ref, rows, offset, view.head_size))
    dvalue = _dot(dropped, upstream, (0, 0)).astype(dtype)
    ddropped = _dot(upstream, view.load(positions, 2), (1, 1)).astype(dtype)
    dprobs = _dropout(ddropped, keep, view.steps).astype(jnp.float32)
    dlogits = (probs * (dprobs - jnp.sum(dprobs * probs, axis=1)[:, None])).astype(dtype)
    dkey = _dot(dlogits, scaled, (0, 0)).astype(dtype)
    plgpu.store(_head(dqkv_ref, rows, offset, view.head_size),
                view.query_gradient(_dot(dlogits, key)))
    plgpu.store(_head(dqkv_ref, rows, hidden + offset, view.head_size), dkey)
    plgpu.store(_head(dqkv_ref, rows, 2 * hidden + offset, view.head_size), dvalue)


def _blocked_gradients(view, scaled, upstream, queries, keys, lse, delta=None):
    """A query block's and a key block's float32 probabilities, dropped probabilities and,
    given each query row's `delta` (the sum of its probabilities times their gradients), the
    logits' gradient (rounded); without `delta`, the probabilities' gradient instead."""
    key = view.load(keys, 1)
    probs = jnp.exp(view.scores(scaled, key, keys) - lse[:, None])
    keep = view.keep(queries, keys)
    dropped = _dropout(probs.astype(view.dtype), keep, view.steps)
    ddropped = _dot(upstream, view.load(keys, 2), (1, 1)).astype(view.dtype)
    dprobs = _dropout(ddropped, keep, view.steps).astype(jnp.float32)
    if delta is None:
        return probs, dprobs
    dlogits = (probs * (dprobs - delta[:, None])).astype(view.dtype)
    return key, dropped, dlogits


def _looped_backward_kernel(qkv_ref, bias_ref, key_ref, lse_ref, dout_ref, out_ref, dqkv_ref,
                            *, key_block, **shape):
    """`_backward_kernel` over key blocks of `key_block` (`KEY_BLOCK`): a `[seq, key_block]`
    slice of the scores at a time instead of the whole `[seq, seq]` tile, the queries'
    gradient added up over the blocks. Each row's sum of probabilities times their gradients
    is flash attention's `sum(d_context * context)` (equal in exact arithmetic; within the
    compute dtype's rounding of the context otherwise)."""
    view = _Blocks(qkv_ref, bias_ref, key_ref, block=key_block, dtype=dqkv_ref.dtype, **shape)
    dtype, offset, hidden = view.dtype, view.offset, view.hidden
    queries = jnp.arange(view.seq_len)
    rows = view.rows(queries)
    scaled = view.load(queries, 0)
    upstream = plgpu.load(_head(dout_ref, rows, offset, view.head_size))
    lse = plgpu.load(view.stats(lse_ref, queries))
    context = plgpu.load(_head(out_ref, rows, offset, view.head_size))
    delta = jnp.sum(upstream.astype(jnp.float32) * context.astype(jnp.float32), axis=1)

    def key_block_gradients(j, dscaled):
        keys = view.positions(j)
        key, dropped, dlogits = _blocked_gradients(view, scaled, upstream, queries, keys, lse,
                                                   delta)
        key_rows = view.rows(keys)
        plgpu.store(_head(dqkv_ref, key_rows, hidden + offset, view.head_size),
                    _dot(dlogits, scaled, (0, 0)).astype(dtype))
        plgpu.store(_head(dqkv_ref, key_rows, 2 * hidden + offset, view.head_size),
                    _dot(dropped, upstream, (0, 0)).astype(dtype))
        return dscaled + _dot(dlogits, key)

    dscaled = jax.lax.fori_loop(0, view.count, key_block_gradients,
                                jnp.zeros((view.seq_len, view.head_size), jnp.float32))
    plgpu.store(_head(dqkv_ref, rows, offset, view.head_size), view.query_gradient(dscaled))


def _blocked_forward_kernel(qkv_ref, bias_ref, key_ref, out_ref, lse_ref, *, block, **shape):
    view = _Blocks(qkv_ref, bias_ref, key_ref, block=block, dtype=out_ref.dtype, **shape)
    queries = view.positions(pl.program_id(2))
    scaled = view.load(queries, 0)

    def statistics(j, carry):  # the rows' maximum and sum of exponentials, online
        peak, total = carry
        scores = view.scores(scaled, view.load(view.positions(j), 1), view.positions(j))
        new_peak = jnp.maximum(peak, jnp.max(scores, axis=1))
        total = total * jnp.exp(peak - new_peak) + jnp.sum(
            jnp.exp(scores - new_peak[:, None]), axis=1)
        return new_peak, total

    start = (jnp.full((block,), -jnp.inf, jnp.float32), jnp.zeros((block,), jnp.float32))
    peak, total = jax.lax.fori_loop(0, view.count, statistics, start)

    def context(j, sums):  # the normalized probabilities, rounded and dropped, times values
        keys = view.positions(j)
        scores = view.scores(scaled, view.load(keys, 1), keys)
        probs = (jnp.exp(scores - peak[:, None]) / total[:, None]).astype(view.dtype)
        dropped = _dropout(probs, view.keep(queries, keys), view.steps)
        return sums + _dot(dropped, view.load(keys, 2))

    sums = jax.lax.fori_loop(0, view.count, context,
                             jnp.zeros((block, view.head_size), jnp.float32))
    plgpu.store(_head(out_ref, view.rows(queries), view.offset, view.head_size),
                sums.astype(view.dtype))
    plgpu.store(view.stats(lse_ref, queries), peak + jnp.log(total))


def _blocked_query_kernel(qkv_ref, bias_ref, key_ref, lse_ref, dout_ref, dqkv_ref, delta_ref,
                          *, block, **shape):
    view = _Blocks(qkv_ref, bias_ref, key_ref, block=block, dtype=dqkv_ref.dtype, **shape)
    queries = view.positions(pl.program_id(2))
    scaled = view.load(queries, 0)
    rows = view.rows(queries)
    upstream = plgpu.load(_head(dout_ref, rows, view.offset, view.head_size))
    lse = plgpu.load(view.stats(lse_ref, queries))

    def deltas(j, delta):
        probs, dprobs = _blocked_gradients(view, scaled, upstream, queries, view.positions(j),
                                           lse)
        return delta + jnp.sum(probs * dprobs, axis=1)

    delta = jax.lax.fori_loop(0, view.count, deltas, jnp.zeros((block,), jnp.float32))

    def query_gradient(j, sums):
        key, _, dlogits = _blocked_gradients(view, scaled, upstream, queries,
                                             view.positions(j), lse, delta)
        return sums + _dot(dlogits, key)

    sums = jax.lax.fori_loop(0, view.count, query_gradient,
                             jnp.zeros((block, view.head_size), jnp.float32))
    plgpu.store(_head(dqkv_ref, rows, view.offset, view.head_size), view.query_gradient(sums))
    plgpu.store(view.stats(delta_ref, queries), delta)


def _blocked_key_kernel(qkv_ref, bias_ref, key_ref, lse_ref, dout_ref, delta_ref, _,
                        dqkv_ref, *, block, **shape):
    view = _Blocks(qkv_ref, bias_ref, key_ref, block=block, dtype=dqkv_ref.dtype, **shape)
    keys = view.positions(pl.program_id(2))

    def key_and_value_gradients(i, sums):
        queries = view.positions(i)
        scaled = view.load(queries, 0)
        upstream = plgpu.load(_head(dout_ref, view.rows(queries), view.offset,
                                    view.head_size))
        lse = plgpu.load(view.stats(lse_ref, queries))
        delta = plgpu.load(view.stats(delta_ref, queries))
        _, dropped, dlogits = _blocked_gradients(view, scaled, upstream, queries, keys, lse,
                                                 delta)
        dkey, dvalue = sums
        return dkey + _dot(dlogits, scaled, (0, 0)), dvalue + _dot(dropped, upstream, (0, 0))

    zeros = jnp.zeros((block, view.head_size), jnp.float32)
    dkey, dvalue = jax.lax.fori_loop(0, view.count, key_and_value_gradients, (zeros, zeros))
    rows = view.rows(keys)
    plgpu.store(_head(dqkv_ref, rows, view.hidden + view.offset, view.head_size),
                dkey.astype(view.dtype))
    plgpu.store(_head(dqkv_ref, rows, 2 * view.hidden + view.offset, view.head_size),
                dvalue.astype(view.dtype))


def _warps(seq_len, kernel):
    """Warps a program of `kernel` (its name) runs at a tile of `seq_len` positions."""
    del kernel  # the same for each kernel (`gpu_train_step.py`'s ablations try others)
    return 8 if seq_len >= 128 else 4


def _call(kernel, out_shape, args, shape, interpret, name, rows=None, **options):
    """`kernel` over a grid of (batch, heads, blocks): query or key blocks of `BLOCK` where
    the sequence is longer than one tile (`_Blocks`), else `rows` query rows a program (the
    whole sequence by default)."""
    batch, heads, seq_len, head_size, steps = shape
    keywords = {"heads": heads, "seq_len": seq_len, "head_size": head_size, "steps": steps}
    if seq_len > MAX_SEQUENCE:
        keywords["block"] = blocks = BLOCK
    elif rows is not None:
        keywords["rows"] = blocks = rows
    else:
        blocks = seq_len
    return pl.pallas_call(
        functools.partial(kernel, **keywords), grid=(batch, heads, seq_len // blocks),
        out_shape=out_shape,
        compiler_params=plgpu.CompilerParams(num_warps=_warps(min(seq_len, BLOCK), name)),
        interpret=interpret, name=name, **options,
    )(*args)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _attention(qkv, bias, key, shape, interpret):
    return _attention_forward(qkv, bias, key, shape, interpret)[0]


def _attention_forward(qkv, bias, key, shape, interpret):
    batch, heads, seq_len, head_size, _ = shape
    out_shape = [jax.ShapeDtypeStruct((qkv.shape[0], heads * head_size), qkv.dtype),
                 jax.ShapeDtypeStruct((batch, heads, seq_len), jnp.float32)]
    kernel = _forward_kernel if seq_len <= MAX_SEQUENCE else _blocked_forward_kernel
    context, lse = _call(kernel, out_shape, (qkv, bias, key), shape, interpret,
                         "attention_forward", rows=min(QUERY_ROWS, seq_len))
    return context, (qkv, bias, key, lse, context)


def _attention_backward(shape, interpret, residuals, dcontext):
    qkv, bias, key, lse, context = residuals
    batch, heads, seq_len, _, _ = shape
    gradient = jax.ShapeDtypeStruct(qkv.shape, qkv.dtype)
    args = (qkv, bias, key, lse, dcontext.astype(qkv.dtype))
    if seq_len <= MAX_SEQUENCE and KEY_BLOCK and KEY_BLOCK < seq_len:
        dqkv = _call(functools.partial(_looped_backward_kernel, key_block=KEY_BLOCK), gradient,
                     (*args, context), shape, interpret, "attention_backward")
    elif seq_len <= MAX_SEQUENCE:
        dqkv = _call(_backward_kernel, gradient, args, shape, interpret, "attention_backward")
    else:  # queries' gradients and each row's delta, then keys' and values' into the same
        dqkv, delta = _call(_blocked_query_kernel, [
            gradient, jax.ShapeDtypeStruct((batch, heads, seq_len), jnp.float32)], args,
            shape, interpret, "attention_backward_queries")
        dqkv = _call(_blocked_key_kernel, gradient, (*args, delta, dqkv), shape, interpret,
                     "attention_backward_keys", input_output_aliases={6: 0})
    return dqkv, jnp.zeros_like(bias), np.zeros(key.shape, jax.dtypes.float0)


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
    key = jax.lax.bitcast_convert_type(jnp.asarray(seed_key(seed), jnp.uint32), jnp.int32)
    return _attention(qkv, jnp.asarray(bias, jnp.float32), key[None], shape, interpret)


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
    keep = jnp.asarray(hashed_keep_mask((batch, heads, seq_len, seq_len), steps, _Words(seed)))
    scale = jnp.asarray(1 / (1 - steps / STEPS), qkv.dtype)
    probs = jnp.where(keep, probs * scale, jnp.zeros((), qkv.dtype))
    context = jnp.einsum("bnts,bsnh->btnh", probs, value)
    return context.reshape(batch * seq_len, heads * head_size)
