"""BERT MLM+NSP train step on a GPU (JAX backend, no TensorFlow): ours, its ablations, and the
peers (keras-hub on JAX, Hugging Face transformers on PyTorch eager and `torch.compile`), all
in one run on one machine, with the machine's dense bf16 matmul peak measured in that run.

    KERAS_BACKEND=jax python benchmarks/gpu_train_step.py --out results.jsonl

On a GPU machine with JAX, PyTorch and transformers but no Keras (as the lent H100/H200
machines are), bring Keras and keras-hub as wheels, made here:

    pip download --no-deps --only-binary=:all: --python-version 3.12 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 -d .whl \
        keras==3.15.1 keras-hub==0.32.0 namex==0.1.0 optree==0.20.0

and there, before the command: `pip install --no-index --no-deps --target /tmp/site .whl/*.whl
&& export PYTHONPATH=/tmp/site`. A full plan takes about 5 minutes on an H200.

Every contender is its own process. They run in waves of `--parallel`: a wave compiles
together, then its contenders time their steps one at a time under a file lock, so a timed
step never shares the GPU with another contender's steps or compile-time autotuning. Each contender
trains through what its users call: `fit` (ours, keras-hub; the time between epoch ends, so
`fit`'s own per-call set-up is left out, while each epoch's boundary is in: the metrics' results
computed eagerly, the callbacks, the next epoch's start, about 17 ms on an H200, which is why an
epoch is 64 steps by default), a Python loop of `optimizer.step()` (Hugging Face, synchronized
every `--steps` steps).
The batch is the same for all: real-looking ids (a Zipf law over the vocabulary, `[CLS]`,
`[SEP]`, 10% of sequences padded from the middle), 20 masked positions at seq 128 (77 at seq
512), NSP labels. MFU is our model's FLOPs per sequence (`bench_common.model_flops`: 70.38
GFLOP at seq 128, the issue counts 70.05) times sequences/s over the measured peak, for every
contender (the useful work; Hugging Face's head does more).

Our variants (`--plan` names them; each patches one code path before the model is built, to
measure what it costs or what an alternative would give): `ours` as shipped;
- the token table's gradient: `tok_scatter` the gather's scatter-add (what a CPU runs),
  `tok_one_hot` the one-hot matmul (shipped before 2026-11-27), `tok_transposed` the same in
  `[hidden, vocab]` orientation, `tok_sorted` a sorted segment-sum (ours: a segmented scan of
  the rows sorted by id);
- dropout masks: `drop_paired` one float32 draw per two elements (what TensorFlow runs; ours
  on JAX: a hash of each element's index and the seed, fused by XLA), `drop_keras` Keras' draw
  (one threefry float per element), `drop_rbg` JAX's `rbg` generator, `drop_u16` half a
  threefry word per element; `drop_hash2` the hash in two finaliser rounds per element (the
  cost of the mask shipped up to 1e71388, where each seed word was mixed in per element);
  `no_attn_dropout` / `no_dropout` without (attention) dropout;
- `attn_cudnn` attention with dropout as one cuDNN fused kernel (JAX's private API; a fixed
  dropout seed, so a speed probe only); `attn_heads_first` the attention in its heads-first
  form (one transpose of the fused q/k/v projection in, one out, with dropout); `attn_xla` the
  einsum form through XLA (shipped up to 3c81c01) instead of the Pallas kernels
  (`pallas_attention`, seq <= 512); `attn_warps4` / `attn_warps16` those with 4 or 16 warps a
  program (8), `attn_fwd_warps4`, `attn_bwd_warps4`, `attn_bwd_warps16` only the forward's or
  the backward's, `attn_fwd_rows64` / `attn_fwd_rows32` the forward in programs of 64 / 32
  query rows (each against all keys), `attn_bwd_loop64` / `attn_bwd_loop32` the backward
  looping over key blocks of 64 / 32 (`KEY_BLOCK`), `attn_blocks64` in blocks of 64 at every
  length;
- `gelu_erfc` the exact GELU through `erfc`; `gelu_recompute` its gradient recomputing
  `Phi(x)` rather than keeping it; `softmax_bf16` attention's softmax in bf16;
  `softmax_recompute` its float32 softmax with the gradient recomputing the probabilities
  from the bf16 logits and each row's log-sum-exp (no float32 probabilities kept);
  `mlm_autodiff` the tied MLM projection differentiated op by op; `ln_xla` LayerNorm as XLA's
  fusions (shipped before 2026-11-27) instead of its Pallas kernels (`pallas_layer_norm`);
  `ln_closed_form` that with its gradient written out; `ln_f32_out` the LayerNorms inside the
  layers writing float32 (shipped up to 3c81c01) rather than bfloat16 (`inner_layer_norm`);
  `last_block_whole` the last block at every row, the heads reading theirs out of it (shipped
  up to 85d6b1e), where `BertEncoder.last_block_at` computes `[CLS]` and the masked rows alone;
  `ln_rows2`, `ln_rows8`, `ln_blocks16`, `ln_blocks2` the Pallas LayerNorm's tiles (rows per
  program 4 and backward tiles per program 8 shipped: 512 backward programs at 128 x 128, 4
  warps each; `ln_blocks2` makes 2,048); `gelu_tanh` the tanh GELU (other numerics: a probe of
  what the exact GELU's `erf` costs); `spe4` / `spe8` four / eight steps per `fit` execution;
- XLA flags: `triton_gemm` XLA's Triton gemm fusions, which importing our package turns off
  (`keras_bert_impl.xla_flags`); `xla_cublaslt` XLA's cuBLASLt matmuls (bias epilogues);
  `cmdbuf_off` no CUDA graphs (XLA's command buffers); `cmdbuf_min1` graphs of any size.
Variants join with `+` (`attn_heads_first+gelu_recompute`: both patches in one model).
Peers: `keras-hub` (with XLA's default flags, as its users run it), `hf-eager`, `hf-compile`.

The figures and profile readings: `benchmarks/results/gpu_train_step-nvidia-h100.md` (2026-11-27)
and `gpu_train_step-nvidia-h200.md` (2026-11-27 and 26); `gpu_profile.py` reads a trace.
"""

import argparse
import contextlib
import fcntl
import functools
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import numpy as np  # noqa: E402

VOCAB, PAD, CLS, SEP, MASK = 30522, 0, 101, 102, 103


def realistic_batch(batch, seq, predictions, seed=0):
    """Token ids with text's repetition (Zipf over the vocabulary), [CLS]/[SEP], padding."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, VOCAB - 999)
    p = 1.0 / (ranks + 5.0)
    ids = 999 + rng.choice(len(ranks), size=(batch, seq), p=p / p.sum())
    ids[:, 0] = CLS
    half = seq // 2
    ids[:, half - 1] = SEP
    ids[:, -1] = SEP
    segments = np.zeros((batch, seq), "int32")
    segments[:, half:] = 1
    padding = np.ones((batch, seq), "int32")
    for row in range(0, batch, 10):  # 10% of sequences end early
        end = rng.integers(seq // 2, seq)
        ids[row, end - 1] = SEP
        ids[row, end:] = PAD
        segments[row, end:] = 0
        padding[row, end:] = 0
    # masked positions: word tokens only (no [CLS], [SEP] or padding), as a masker picks them
    positions = np.sort(np.stack([rng.choice(np.flatnonzero(row >= 999), predictions,
                                             replace=False) for row in ids]), 1).astype("int32")
    labels = np.take_along_axis(ids, positions, 1).astype("int32")
    ids = ids.astype("int32")
    np.put_along_axis(ids, positions, MASK, 1)
    return {
        "token_ids": ids, "segment_ids": segments, "padding_mask": padding,
        "mask_positions": positions, "mask_ids": labels,
        "mask_weights": np.ones((batch, predictions), "float32"),
        "next_sentence_labels": rng.integers(0, 2, (batch,)).astype("int32"),
    }


@contextlib.contextmanager
def gpu_lock(path):
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def wait_for_wave(args):
    """Says this contender has compiled, then waits until its whole wave has: no compile
    (whose autotuning runs kernels) shares the GPU with a timed step."""
    open(os.path.join(args.wave_dir, f"ready_{os.getpid()}"), "w").close()
    while not os.path.exists(os.path.join(args.wave_dir, "go")):
        time.sleep(0.2)


def predictions_for(seq):
    return 20 if seq == 128 else round(0.15 * seq)


# --- our variants: patches applied before the model is built (ablations) -----------------
def _patch_token_gradient(kind):
    """The token table's gradient as the gather's scatter-add (`"scatter"`, what a CPU runs),
    or, replacing `embeddings.table_gradient` (the rule `take_with_sorted_gradient` applies),
    the one-hot matmul (`"one_hot"`), the same in `[hidden, n] x [n, vocab]` orientation
    (`"one_hot_transposed"`) or a sorted segment-sum (`"sorted"`)."""
    from keras import ops

    from keras_bert_impl.layers import embeddings

    if kind == "scatter":
        embeddings.accelerator_in_use = lambda: False
        return

    def one_hot_transposed(ids, upstream, vocab):
        one_hot = ops.one_hot(ids, vocab, dtype=upstream.dtype)
        return ops.transpose(ops.matmul(ops.transpose(upstream), one_hot))

    def sorted_segment_sum(ids, upstream, vocab):
        order = ops.argsort(ids)
        return ops.segment_sum(ops.take(upstream, order, axis=0), ops.take(ids, order, axis=0),
                               vocab, sorted=True)

    embeddings.accelerator_in_use = lambda: True
    embeddings.table_gradient = {"one_hot_transposed": one_hot_transposed,
                                 "sorted": sorted_segment_sum,
                                 "one_hot": embeddings.one_hot_table_gradient}[kind]


def _patch_dropout(kind):
    import jax
    import jax.numpy as jnp
    import keras
    from keras.src.random.seed_generator import draw_seed

    from keras_bert_impl.layers import dropout

    if kind == "keras":
        dropout.Dropout.call = keras.layers.Dropout.call
        return
    if kind == "paired":
        dropout.masks_fuse = lambda: False
        return

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        words = draw_seed(self.seed_generator)
        if kind == "rbg":
            words = jnp.asarray(words, jnp.uint32)
            key = jax.random.wrap_key_data(
                jnp.concatenate([words, words[::-1] ^ jnp.uint32(0x9E3779B9)]), impl="rbg")
            bits = jax.random.bits(key, inputs.shape, jnp.uint32)
            keep = bits >= jnp.uint32(round(self.rate * 2.0**32))
        else:  # "u16": one threefry word split into two 16-bit draws
            shape = inputs.shape[:-1] + ((inputs.shape[-1] + 1) // 2,)
            bits = jax.random.bits(words, shape, jnp.uint32)
            halves = jnp.concatenate([bits & 0xFFFF, bits >> 16], axis=-1)[..., :inputs.shape[-1]]
            keep = halves >= jnp.uint32(round(self.rate * 65536))
        return jnp.where(keep, inputs * jnp.asarray(1.0 / (1.0 - self.rate), inputs.dtype),
                         jnp.zeros((), inputs.dtype))

    dropout.Dropout.call = call


def _patch_gelu_erfc():
    """The exact GELU through `erfc` (Keras' and JAX's form) instead of `erf`."""
    import math

    from keras import ops

    from keras_bert_impl.layers import transformer

    transformer.ACTIVATIONS["gelu"] = transformer.gelu_with_cdf(
        lambda x: 0.5 * ops.erfc(x * ops.cast(-1.0 / math.sqrt(2.0), x.dtype)))


def _patch_gelu_recompute():
    """The exact GELU whose gradient recomputes `Phi(x)` from `x` instead of keeping the
    forward's `Phi(x)` (a `[tokens, intermediate]` residual: 100 MB per layer in bf16 at
    128 x 128, written forward and read backward)."""
    from keras import ops

    from keras_bert_impl.layers import transformer

    @ops.custom_gradient
    def gelu(x):
        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return upstream * (transformer.normal_cdf(x) + x * transformer.normal_pdf(x))

        return x * transformer.normal_cdf(x), gradient

    transformer.ACTIVATIONS["gelu"] = gelu


def _patch_softmax_bf16():
    from keras import ops

    from keras_bert_impl.layers import transformer

    def attention(self, query, key, value, bias, training):
        query = query * ops.cast(1.0 / (self.head_size**0.5), query.dtype)
        logits = ops.einsum("btnh,bsnh->bnts", query, key)
        logits = logits + ops.cast(bias, logits.dtype)
        probs = self.attention_dropout(ops.softmax(logits, axis=-1), training=training)
        return ops.einsum("bnts,bsnh->btnh", probs, value)

    transformer.TransformerEncoderBlock._attention_with_dropout = attention


def _patch_attention_cudnn():
    """Attention with dropout in one cuDNN fused kernel (flash attention with dropout), through
    JAX's private `jax._src.cudnn` API (its public `jax.nn.dot_product_attention` has no
    dropout). Measures the headroom of a fused attention with dropout only: the kernel's
    dropout seed is a constant, so every step drops the same positions."""
    import jax.numpy as jnp
    from jax._src.cudnn.fused_attention_stablehlo import dot_product_attention

    from keras_bert_impl.layers import transformer

    def attention(self, query, key, value, bias, training):
        batch, seq = query.shape[0], query.shape[1]
        bias = jnp.broadcast_to(jnp.asarray(bias, query.dtype), (batch, 1, seq, seq))
        return dot_product_attention(query, key, value, bias, scale=self.head_size**-0.5,
                                     dropout_rate=self.attention_dropout_rate,
                                     qkv_layout="BTNH")

    transformer.TransformerEncoderBlock._attention_with_dropout = attention


def _patch_attention_heads_first():
    """Training attention in the heads-first form (TensorFlow's inference form, with the
    attention dropout): one transpose of the fused q/k/v projection to `[3, batch, heads,
    seq, head]` and one back, instead of three per-tensor head-layout transposes and the
    concatenation that is `split`'s gradient (about 2.4 ms of the H100 step in run 2's
    trace); the same mask for the same seed (a test checks it)."""
    from keras_bert_impl.layers import transformer

    def attention(self, rows, batch, seq_len, padding_mask, training):
        return self._heads_first_attention(self.qkv_dense(rows), batch, seq_len,
                                           transformer.attention_bias(padding_mask), training)

    transformer.TransformerEncoderBlock._attention = attention


def _patch_softmax_recompute():
    """The attention softmax (float32, as shipped) with its gradient written out from the
    logits (kept in the compute dtype, bf16) and each row's float32 log-sum-exp, recomputing
    the probabilities as flash attention does, instead of keeping autodiff's residual, the
    float32 probabilities (`[batch, heads, seq, seq]`: 100 MB per layer at 128 x 128, 400 MB
    at 512 x 32, written forward and read backward). The same values: the backward's
    probabilities are the forward's, recomputed by the same operations."""
    from keras import ops

    from keras_bert_impl.layers import transformer

    def probabilities(self, logits, bias, training):
        def scores(logits):
            return ops.cast(logits, "float32") + bias

        @ops.custom_gradient
        def softmax(logits):
            forward_scores = scores(logits)
            log_sum = ops.logsumexp(forward_scores, axis=-1, keepdims=True)

            def gradient(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                probs = ops.exp(scores(logits) - log_sum)  # recomputed, not kept
                upstream = ops.cast(upstream, "float32")
                inner = ops.sum(upstream * probs, axis=-1, keepdims=True)
                return ops.cast(probs * (upstream - inner), logits.dtype)

            return ops.exp(forward_scores - log_sum), gradient

        return self.attention_dropout(ops.cast(softmax(logits), self.compute_dtype),
                                      training=training)

    transformer.TransformerEncoderBlock._probabilities = probabilities


def _patch_mlm_autodiff():
    """The tied MLM projection `x @ table^T` differentiated op by op (before 223fd05: the
    table's gradient as the transpose of a `[hidden, vocab]` one) instead of
    `scores_against_rows`' hand-written `[vocab, hidden]` gradient."""
    from keras import ops

    from keras_bert_impl.layers import embeddings

    embeddings.scores_against_rows = lambda x, table: ops.matmul(x, ops.transpose(table))


def _patch_layer_norm_closed_form():
    """LayerNorm's standardization with its gradient written out, `rstd * (g - mean(g) - xhat
    * mean(g * xhat))`, instead of autodiff's passes; replaces `normalization.standardize`
    (the rule `LayerNorm` applies), so gamma and beta keep autodiff's gradients."""
    from keras import ops

    from keras_bert_impl.layers import normalization

    def standardize(x, epsilon):
        @ops.custom_gradient
        def closed_form(x):
            centered = x - ops.mean(x, axis=-1, keepdims=True)
            rstd = ops.rsqrt(ops.mean(ops.square(centered), axis=-1, keepdims=True) + epsilon)
            xhat = centered * rstd

            def gradient(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return rstd * (upstream - ops.mean(upstream, axis=-1, keepdims=True)
                               - xhat * ops.mean(upstream * xhat, axis=-1, keepdims=True))

            return xhat, gradient

        return closed_form(x)

    normalization.standardize = standardize


def _patch_layer_norm_xla():
    """LayerNorm as XLA's fusions of its `keras.ops` form (two forward, four backward), the
    form shipped before 2026-11-27, instead of the Pallas kernels (`pallas_layer_norm`) it
    runs on an NVIDIA GPU."""
    from keras_bert_impl.layers import normalization

    normalization.runs_pallas_kernels = lambda: False


def _patch_layer_norm_float32_output():
    """The LayerNorms inside the encoder, the embeddings and the MLM head with the `float32`
    policy (shipped up to 3c81c01): a float32 output that the layer rounds to bfloat16 in
    a pass of its own (and the gradient's converted back), where `inner_layer_norm` writes
    bfloat16 directly."""
    from keras_bert_impl.layers import embeddings, heads, normalization, transformer

    def float32_layer_norm(epsilon, compute_dtype, name):
        return normalization.LayerNorm(epsilon=epsilon, dtype="float32", name=name)

    for module in (embeddings, heads, transformer):
        module.inner_layer_norm = float32_layer_norm


def _patch_hash_rounds(rounds):
    """Dropout masks (the layer's and the Pallas attention's) hashing each element's index
    with `rounds` finaliser rounds (one shipped; up to 1e71388 each of the seed's two words
    was mixed in per element, two rounds' cost)."""
    from keras_bert_impl.layers import dropout

    dropout.ROUNDS = rounds


def _patch_attention_xla():
    """The training attention as XLA runs the block's einsum form (shipped up to
    3c81c01) instead of the Pallas kernels (`pallas_attention`) it runs on an NVIDIA GPU."""
    from keras_bert_impl.layers import transformer

    transformer.runs_pallas_kernels = lambda: False


def _patch_attention_warps(warps):
    """The Pallas attention's programs with `warps` warps (8 by default at seq 128: fewer
    hold more of the `[seq, seq]` tiles per thread, more share them out): a number for every
    kernel, or `{kernel name: warps}` for some."""
    from keras_bert_impl.layers import pallas_attention

    shipped = pallas_attention._warps
    chosen = warps if isinstance(warps, dict) else None

    def patched(seq_len, kernel):
        if chosen is None:
            return warps
        return chosen.get(kernel) or shipped(seq_len, kernel)

    pallas_attention._warps = patched


def _patch_attention_query_rows(rows):
    """The Pallas attention's one-tile forward in programs of `rows` query rows, each against
    all keys (128 shipped: a program a head at seq 128), so more programs with smaller tiles."""
    from keras_bert_impl.layers import pallas_attention

    pallas_attention.QUERY_ROWS = rows


def _patch_attention_key_blocks(block):
    """The Pallas attention's one-tile backward looping over key blocks of `block` (a
    `[seq, block]` slice of the scores live at a time, the queries' gradient summed over
    them; each row's delta from the context, flash attention's way), instead of the whole
    `[seq, seq]` tile at once."""
    from keras_bert_impl.layers import pallas_attention

    pallas_attention.KEY_BLOCK = block


def _patch_attention_blocks(block):
    """The Pallas attention in blocks of `block` positions from that length on (by default one
    tile per head up to 128, blocks of 128 beyond): smaller tiles, more programs."""
    from keras_bert_impl.layers import pallas_attention

    pallas_attention.MAX_SEQUENCE = pallas_attention.BLOCK = block


def _patch_layer_norm_tiles(rows, blocks):
    """The Pallas LayerNorm's tiles: `rows` rows a program normalizes at once (forward and
    backward), `blocks` such tiles a backward program walks."""
    from keras_bert_impl.layers import pallas_layer_norm

    pallas_layer_norm.ROWS, pallas_layer_norm.BACKWARD_BLOCKS = rows, blocks


# XLA's own setting of the flags `keras_bert_impl.xla_flags` changes on import: ours without
# them (the `triton_gemm` ablation), and keras-hub as its users run it.
XLA_DEFAULTS = "--xla_gpu_enable_triton_gemm=true"

VARIANTS = {
    "ours": {},
    "tok_scatter": {"token_gradient": "scatter"},
    "tok_sorted": {"token_gradient": "sorted"},
    "tok_transposed": {"token_gradient": "one_hot_transposed"},
    "tok_one_hot": {"token_gradient": "one_hot"},
    "gelu_erfc": {"gelu_erfc": True},
    "gelu_recompute": {"gelu_recompute": True},
    "drop_keras": {"dropout": "keras"},
    "drop_rbg": {"dropout": "rbg"},
    "drop_u16": {"dropout": "u16"},
    "drop_paired": {"dropout": "paired"},
    "softmax_bf16": {"softmax_bf16": True},
    "attn_cudnn": {"attention_cudnn": True},
    "attn_heads_first": {"attention_heads_first": True},
    "softmax_recompute": {"softmax_recompute": True},
    "no_attn_dropout": {"config": {"attention_dropout": 0.0}},
    "no_dropout": {"config": {"attention_dropout": 0.0, "dropout": 0.0}},
    "spe4": {"steps_per_execution": 4},
    "spe8": {"steps_per_execution": 8},
    "mlm_autodiff": {"mlm_autodiff": True},
    "ln_closed_form": {"ln_closed_form": True, "ln_xla": True},
    "ln_xla": {"ln_xla": True},
    "attn_xla": {"attention_xla": True},
    "drop_hash2": {"hash_rounds": 2},
    "ln_f32_out": {"ln_float32_output": True},
    "attn_warps4": {"attn_warps": 4},
    "attn_warps16": {"attn_warps": 16},
    "attn_fwd_warps4": {"attn_warps": {"attention_forward": 4}},
    "attn_bwd_warps4": {"attn_warps": {"attention_backward": 4}},
    "attn_bwd_warps16": {"attn_warps": {"attention_backward": 16}},
    "attn_blocks64": {"attn_blocks": 64},
    "attn_fwd_rows64": {"attn_query_rows": 64},
    "attn_fwd_rows32": {"attn_query_rows": 32},
    "attn_bwd_loop64": {"attn_key_block": 64},
    "attn_bwd_loop32": {"attn_key_block": 32},
    "ln_rows2": {"ln_tiles": [2, 16]},
    "ln_rows8": {"ln_tiles": [8, 4]},
    "ln_blocks16": {"ln_tiles": [4, 16]},
    "ln_blocks2": {"ln_tiles": [4, 2]},
    "cmdbuf_off": {"xla_flags": "--xla_gpu_enable_command_buffer="},
    "cmdbuf_min1": {"xla_flags": "--xla_gpu_graph_min_graph_size=1"},
    "gelu_tanh": {"config": {"hidden_act": "gelu_approximate"}},
    "xla_cublaslt": {"xla_flags": "--xla_gpu_enable_cublaslt=true"},
    "triton_gemm": {"xla_flags": XLA_DEFAULTS},
    "last_block_whole": {"last_block_whole": True},
}


def apply_variant(spec):
    if "token_gradient" in spec:
        _patch_token_gradient(spec["token_gradient"])
    if "dropout" in spec:
        _patch_dropout(spec["dropout"])
    if spec.get("softmax_bf16"):
        _patch_softmax_bf16()
    if spec.get("attention_cudnn"):
        _patch_attention_cudnn()
    if spec.get("attention_heads_first"):
        _patch_attention_heads_first()
    if spec.get("softmax_recompute"):
        _patch_softmax_recompute()
    if spec.get("gelu_erfc"):
        _patch_gelu_erfc()
    if spec.get("gelu_recompute"):
        _patch_gelu_recompute()
    if spec.get("mlm_autodiff"):
        _patch_mlm_autodiff()
    if spec.get("ln_closed_form"):
        _patch_layer_norm_closed_form()
    if spec.get("ln_xla"):
        _patch_layer_norm_xla()
    if spec.get("ln_float32_output"):
        _patch_layer_norm_float32_output()
    if "hash_rounds" in spec:
        _patch_hash_rounds(spec["hash_rounds"])
    if spec.get("attention_xla"):
        _patch_attention_xla()
    if "attn_warps" in spec:
        _patch_attention_warps(spec["attn_warps"])
    if "attn_query_rows" in spec:
        _patch_attention_query_rows(spec["attn_query_rows"])
    if "attn_key_block" in spec:
        _patch_attention_key_blocks(spec["attn_key_block"])
    if "attn_blocks" in spec:
        _patch_attention_blocks(spec["attn_blocks"])
    if "ln_tiles" in spec:
        _patch_layer_norm_tiles(*spec["ln_tiles"])
    if spec.get("last_block_whole"):
        from bench_common import compute_whole_last_block

        compute_whole_last_block()


# --- contenders -------------------------------------------------------------------------
def run_ours(args, spec):
    import keras
    from bench_common import model_flops

    from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer
    from keras_bert_impl.optimizers import create_adamw

    apply_variant(spec)
    keras.config.set_dtype_policy("mixed_bfloat16")
    config = BertConfig.from_preset(args.preset).replace(**spec.get("config", {}))
    model = BertPretrainer(BertEncoder(config))
    model.compile(optimizer=create_adamw(1e-4),
                  steps_per_execution=spec.get("steps_per_execution", 1))
    data = realistic_batch(args.batch, args.seq, predictions_for(args.seq))
    x = {k: data[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    y = {k: data[k] for k in ("mask_ids", "mask_weights", "next_sentence_labels")}
    rate, compile_seconds = _fit_rate(model.fit, model, x, y, None, args)
    flops = model_flops(config, 1, args.seq, predictions_for(args.seq), train=True)
    return {"rate": rate, "compile_s": compile_seconds, "flops_per_seq": flops}


def run_keras_hub(args, spec):
    import keras
    from bench_common import model_flops
    from encoder_throughput import keras_hub_models

    from keras_bert_impl import BertConfig

    keras.config.set_dtype_policy("mixed_bfloat16")
    config = BertConfig.from_preset(args.preset)
    _, model = keras_hub_models(config)
    if model is None:
        raise ImportError("keras-hub is not installed")
    data = realistic_batch(args.batch, args.seq, predictions_for(args.seq))
    x = {k: data[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    # keras.Model.fit: keras-hub's own `fit` wraps numpy batches with grain or tf.data
    # (neither is on the GPU machine); with `preprocessor=None` it adds nothing else.
    fit = functools.partial(keras.Model.fit, model)
    rate, compile_seconds = _fit_rate(fit, model, x, data["mask_ids"], data["mask_weights"],
                                      args)
    flops = model_flops(config, 1, args.seq, predictions_for(args.seq), train=True)
    return {"rate": rate, "compile_s": compile_seconds, "flops_per_seq": flops,
            "note": "MLM only (no NSP head)"}


def _fit_rate(fit, model, x, y, sample_weight, args):
    """seq/s of `fit` (`model`'s) from the time between epoch ends (after a compiling `fit`),
    and the seconds of that compiling call."""
    import jax
    import keras

    reps = lambda a: np.concatenate([a] * args.steps)  # noqa: E731
    x, y = {k: reps(v) for k, v in x.items()}, keras.tree.map_structure(reps, y)
    w = None if sample_weight is None else reps(sample_weight)
    ends = []

    class EpochEnds(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            jax.block_until_ready(model.trainable_variables[0].value)
            ends.append(time.perf_counter())

    start = time.perf_counter()
    fit(x, y, sample_weight=w, batch_size=args.batch, epochs=1, verbose=0, shuffle=False,
        steps_per_epoch=2)
    compile_seconds = time.perf_counter() - start
    wait_for_wave(args)
    with gpu_lock(args.lock):
        fit(x, y, sample_weight=w, batch_size=args.batch, epochs=args.epochs + 1,
            verbose=0, shuffle=False, callbacks=[EpochEnds()])
        if profiled(args):
            shape = f"{args.seq}x{args.batch}"
            with jax.profiler.trace(os.path.join(args.profile_dir, f"{args.name}_{shape}")):
                fit(x, y, sample_weight=w, batch_size=args.batch, epochs=1, verbose=0,
                    shuffle=False, steps_per_epoch=6)
                jax.block_until_ready(model.trainable_variables[0].value)
    best = min(b - a for a, b in zip(ends, ends[1:]))
    return args.steps * args.batch / best, compile_seconds


def profiled(args):
    """Whether `--profile-names` names this contender: `name:SEQxBATCH`, or `name` for its
    default shape (128 x 128)."""
    shape = f"{args.seq}x{args.batch}"
    names = args.profile_names.split(",")
    return f"{args.name}:{shape}" in names or (args.name in names and shape == "128x128")


def run_hugging_face(args, spec):
    import torch
    import transformers
    from encoder_throughput import hugging_face_config

    from keras_bert_impl.config import BertConfig

    ours = BertConfig.from_preset(args.preset)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = transformers.BertForPreTraining(hugging_face_config(ours))
    model = model.to(device).train()
    if spec.get("compile"):
        model = torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01,
                                  fused=device == "cuda")
    data = realistic_batch(args.batch, args.seq, predictions_for(args.seq))
    labels = np.full(data["token_ids"].shape, -100, "int64")
    np.put_along_axis(labels, data["mask_positions"], data["mask_ids"], 1)
    inputs = {name: torch.tensor(data[key], dtype=torch.long, device=device) for name, key in (
        ("input_ids", "token_ids"), ("token_type_ids", "segment_ids"),
        ("attention_mask", "padding_mask"), ("next_sentence_label", "next_sentence_labels"))}
    inputs["labels"] = torch.tensor(labels, device=device)
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step(inputs):
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    start = time.perf_counter()
    for _ in range(3):
        step(inputs)
    synchronize()
    compile_seconds = time.perf_counter() - start
    wait_for_wave(args)
    best = float("inf")
    with gpu_lock(args.lock):
        for _ in range(args.epochs):
            synchronize()
            begin = time.perf_counter()
            for _ in range(args.steps):
                step(inputs)
            synchronize()
            best = min(best, time.perf_counter() - begin)
    from bench_common import model_flops

    return {"rate": args.steps * args.batch / best, "compile_s": compile_seconds,
            "flops_per_seq": model_flops(ours, 1, args.seq, predictions_for(args.seq)),
            "note": "MLM logits at every token (the model's own head); MFU counts ours"}


def run_matmul(args, spec):
    import jax
    import jax.numpy as jnp

    n = args.matmul
    wait_for_wave(args)
    with gpu_lock(args.lock):
        keys = jax.random.split(jax.random.PRNGKey(0), 6)
        pairs = [(jax.random.normal(keys[2 * i], (n, n), jnp.bfloat16),
                  jax.random.normal(keys[2 * i + 1], (n, n), jnp.bfloat16)) for i in range(3)]
        matmul = jax.jit(lambda a, b: a @ b)
        for a, b in pairs:
            matmul(a, b).block_until_ready()
        best = float("inf")
        for _ in range(10):
            start = time.perf_counter()
            for a, b in pairs * 4:
                out = matmul(a, b)
            out.block_until_ready()
            best = min(best, (time.perf_counter() - start) / 12)
    return {"rate": 2 * n**3 / best, "device": str(jax.devices()[0].device_kind), "n": n}


RUNNERS = {"ours": run_ours, "keras-hub": run_keras_hub, "hf": run_hugging_face,
           "matmul": run_matmul}


def worker(args):
    spec = json.loads(args.spec)
    kind = spec.pop("runner")
    started = time.perf_counter()
    try:
        record = RUNNERS[kind](args, spec)
        record["ok"] = True
    except Exception as error:  # one contender failing must not lose the others' figures
        import traceback

        traceback.print_exc()
        record = {"ok": False, "error": f"{type(error).__name__}: {error}"[:400]}
    record.update(name=args.name, seq=args.seq, batch=args.batch,
                  wall_s=round(time.perf_counter() - started, 1))
    with open(args.out, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def variant_spec(name):
    """The spec of our variant `name`: one of `VARIANTS`, or several joined by `+` (their
    patches together, configs merged, XLA flags appended); `None` for another name."""
    if not all(part in VARIANTS for part in name.split("+")):
        return None
    spec = {}
    for part in name.split("+"):
        for key, value in VARIANTS[part].items():
            if key == "config":
                value = {**spec.get("config", {}), **value}
            elif key == "xla_flags":
                value = with_flags(spec.get("xla_flags", ""), value)
            spec[key] = value
    return spec


def contender(entry):
    """(name, seq, batch, spec) of one `--plan` entry, `name` or `name:SEQxBATCH`."""
    name, _, shape = entry.partition(":")
    seq, batch = (int(v) for v in (shape or "128x128").split("x"))
    spec = variant_spec(name)
    if spec is not None:
        return name, seq, batch, dict(spec, runner="ours")
    if name == "keras-hub":
        return name, seq, batch, {"runner": "keras-hub", "xla_flags": XLA_DEFAULTS}
    if name in ("hf-eager", "hf-compile"):
        return name, seq, batch, {"runner": "hf", "compile": name == "hf-compile"}
    raise SystemExit(f"unknown contender {name!r}: one of {sorted(VARIANTS)} (or several "
                     "joined by '+'), keras-hub, hf-eager, hf-compile")


def with_flags(current, extra):
    """The XLA flags `current` with `extra` appended, each flag of `extra` replacing one of the
    same name (so a contender's setting wins over the driver's environment)."""
    from keras_bert_impl.xla_flags import flag_name

    names = {flag_name(flag) for flag in extra.split()}
    kept = [flag for flag in current.split() if flag_name(flag) not in names]
    return " ".join(kept + extra.split())


def drive(args):
    plan = [("matmul", 0, 0, {"runner": "matmul"})]
    plan += [contender(entry) for entry in args.plan.split(",") if entry]
    env = dict(os.environ, KERAS_BACKEND="jax", XLA_PYTHON_CLIENT_PREALLOCATE="false",
               TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    os.makedirs(args.logs, exist_ok=True)
    deadline = time.time() + args.budget
    waves = [plan[:1]] + [plan[i:i + args.parallel] for i in range(1, len(plan), args.parallel)]
    for number, wave in enumerate(waves):
        if time.time() > deadline:
            print(f"budget spent: {[c[0] for c in wave]} not started", flush=True)
            continue
        wave_dir = os.path.join(args.logs, f"wave{number}")
        os.makedirs(wave_dir, exist_ok=True)
        running = []
        for name, seq, batch, spec in wave:
            log = open(os.path.join(args.logs, f"{name}_{seq}x{batch}.log"), "w")
            flags = with_flags(env.get("XLA_FLAGS", ""), spec.get("xla_flags", ""))
            running.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", "--name", name, "--seq", str(seq),
                 "--batch", str(batch), "--spec", json.dumps(spec), "--out", args.out,
                 "--lock", args.lock, "--steps", str(args.steps), "--epochs",
                 str(args.epochs), "--preset", args.preset, "--matmul", str(args.matmul),
                 "--profile-names", args.profile_names, "--profile-dir", args.profile_dir,
                 "--wave-dir", wave_dir], env=dict(env, XLA_FLAGS=flags), stdout=log,
                stderr=subprocess.STDOUT))
        # Timing starts once every process of the wave has compiled (or stopped).
        while True:
            ready = {f for f in os.listdir(wave_dir) if f.startswith("ready_")}
            if all(f"ready_{p.pid}" in ready or p.poll() is not None for p in running):
                break
            time.sleep(0.5)
        open(os.path.join(wave_dir, "go"), "w").close()
        for p in running:
            try:
                p.wait(timeout=max(1, deadline + args.grace - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
    table(args.out)


def table(path):
    records = [json.loads(line) for line in open(path)]
    peak = next((r["rate"] for r in records if r["name"] == "matmul" and r["ok"]), None)
    if peak:
        matmul = next(r for r in records if r["name"] == "matmul")
        print(f"device {matmul['device']}: bf16 {matmul['n']}^3 matmul {peak / 1e12:.0f} TFLOP/s")
    base = {(r["seq"], r["batch"]): r["rate"] for r in records
            if r["name"] == "ours" and r["ok"]}
    print(f"{'contender':<16} {'seq':>4} {'batch':>5} {'seq/s':>8} {'MFU':>6} {'vs ours':>7} "
          f"{'compile s':>9}")
    for r in sorted(records, key=lambda r: (r["seq"], r["batch"], r["name"])):
        if r["name"] == "matmul":
            continue
        if not r["ok"]:
            print(f"{r['name']:<16} {r['seq']:>4} {r['batch']:>5} FAILED {r['error'][:80]}")
            continue
        flops = r.get("flops_per_seq")
        mfu = f"{r['rate'] * flops / peak:.1%}" if peak and flops else "-"
        ref = base.get((r["seq"], r["batch"]))
        print(f"{r['name']:<16} {r['seq']:>4} {r['batch']:>5} {r['rate']:>8.0f} {mfu:>6} "
              f"{(r['rate'] / ref if ref else 0):>7.2f} {r.get('compile_s', 0):>9.0f}")


def argument_parser():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true")
    parser.add_argument("--name", default="ours")
    parser.add_argument("--spec", default="{}")
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--preset", default="bert_base")
    parser.add_argument("--plan", default="ours,keras-hub,hf-eager,hf-compile,ours:512x32",
                        help="contenders in order, each name or name:SEQxBATCH (default "
                             "128x128), comma-separated")
    parser.add_argument("--steps", type=int, default=64,
                        help="steps per timed epoch (fit's epoch boundary, ~17 ms on an H200, "
                             "is charged to them)")
    parser.add_argument("--epochs", type=int, default=4, help="timed epochs (best is kept)")
    parser.add_argument("--parallel", type=int, default=6,
                        help="contenders per wave (compiled at once, then timed in turn)")
    parser.add_argument("--wave-dir", default=".", help="(worker) its wave's barrier folder")
    parser.add_argument("--budget", type=float, default=420, help="seconds to start contenders")
    parser.add_argument("--grace", type=float, default=60,
                        help="seconds after the budget before running contenders are stopped")
    parser.add_argument("--matmul", type=int, default=8192, help="peak-FLOPs matmul size")
    parser.add_argument("--profile-names", default="",
                        help="contenders (ours/keras-hub; name or name:SEQxBATCH) whose 6 steps "
                             "to trace after timing, each in PROFILE_DIR/NAME_SEQxBATCH")
    parser.add_argument("--profile-dir", default="profiles")
    parser.add_argument("--out", default="gpu_train_step.jsonl")
    parser.add_argument("--logs", default=".")
    parser.add_argument("--lock", default="/tmp/gpu_train_step.lock")
    return parser


PEERS = ("keras-hub", "hf-eager", "hf-compile")


def records(path, preset):
    """`bench_common.result` records of a run's JSON lines: ours per shape against the peers
    at that shape, and each ablation against ours as shipped."""
    from bench_common import result

    rows = [json.loads(line) for line in open(path)]
    matmul = next((r for r in rows if r["name"] == "matmul" and r["ok"]), None)
    rates = {(r["name"], r["seq"], r["batch"]): r for r in rows if r["ok"] and "flops_per_seq" in r}
    found = []
    for (name, seq, batch), row in sorted(rates.items(), key=lambda item: item[0][1:]):
        if name in PEERS:
            continue
        where = f"{preset} seq={seq} batch={batch} mixed_bfloat16 JAX fit"
        mfu = (f"MFU {row['rate'] * row['flops_per_seq'] / matmul['rate']:.1%} of the "
               f"{matmul['rate'] / 1e12:.0f} TFLOP/s bf16 matmul on {matmul['device']}, same run"
               if matmul else "")
        if name == "ours":
            peers = {peer: rates[peer, seq, batch]["rate"] if (peer, seq, batch) in rates
                     else None for peer in PEERS}
            found.append(result("GPU train step (MLM+NSP)", where, row["rate"], "seq/s",
                                {p: v for p, v in peers.items() if v is not None},
                                flops_per_item=row["flops_per_seq"], dtype="bfloat16",
                                notes=mfu))
        else:
            base = rates.get(("ours", seq, batch))
            found.append(result(f"GPU train step ablation {name}", where, row["rate"], "seq/s",
                                {"ours as shipped": base["rate"] if base else None},
                                flops_per_item=row["flops_per_seq"], dtype="bfloat16",
                                notes=mfu))
    return found


def results(preset="bert_base", plan="ours,keras-hub,hf-eager,hf-compile,ours:512x32",
            steps=64, epochs=4, matmul=8192, parallel=6):
    """Runs the plan (see the module docstring) in a temporary folder and returns its
    `bench_common.result` records, for `python -m benchmarks gpu_train_step`. Needs a GPU that
    JAX sees."""
    import tempfile

    from machine import gpu_name

    if not gpu_name():
        raise SystemExit("gpu_train_step needs a GPU that JAX sees, and this machine has none "
                         "(the H100 figures: benchmarks/results/gpu_train_step-nvidia-h100.md)")
    with tempfile.TemporaryDirectory() as folder:
        args = argument_parser().parse_args([
            "--preset", preset, "--plan", plan, "--steps", str(steps), "--epochs", str(epochs),
            "--matmul", str(matmul), "--parallel", str(parallel),
            "--out", os.path.join(folder, "results.jsonl"), "--logs", folder,
            "--lock", os.path.join(folder, "lock")])
        drive(args)
        return records(args.out, preset)


def main():
    args = argument_parser().parse_args()
    if args.worker:
        worker(args)
    else:
        drive(args)


if __name__ == "__main__":
    main()
