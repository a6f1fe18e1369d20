"""The attention forms of `TransformerEncoderBlock`, side by side on the current Keras backend:
Keras' own `keras.ops.dot_product_attention` (the peer: what keras-hub's attention and our
block on JAX/PyTorch run), the heads-first batched matmuls our block runs at inference on
TensorFlow, and the einsums it trains with.

Each contender takes the block's fused Q/K/V projection of the same `[batch * seq, hidden]`
rows (the projection's matmul included, as in the block) and the same padding bias, and
returns the context rows; one `tf.function`/jit per contender makes `--repeat` independent
calls, so per-call overhead does not dominate small sizes. Times are the best of interleaved
rounds (`bench_common.interleaved_best_seconds`); the ratio is Keras' op's time / ours (> 1:
ours is faster). The three contexts are checked to agree before timing.

The second peer is Hugging Face's attention on PyTorch (`BertSdpaSelfAttention`'s steps: the
projection, a view and permute to heads, `F.scaled_dot_product_attention` with the additive
mask, and back to rows) with the same weights, rows and padding, in `torch.inference_mode`:
what the HF forward that `encoder_throughput` and `forward_overheads` compare with spends on
attention. Its context is checked against ours too (absent without torch).

Measured on 2 cores of an AVX2-only AMD EPYC (float32, batch 8 x 128, 2026-11-28, TensorFlow
without oneDNN): `bert_base` heads-first 32.5 ms against PyTorch's 29.6 (0.91x), `bert_tiny`
2.46 against 1.58 (0.64x), each with its Q/K/V projection. That projection alone is as fast as
PyTorch's (`forward_overheads --preset bert_base`, same day: 20.6 vs 23.0 ms), so the core
itself takes about 12 ms per `bert_base` layer against PyTorch's 6.6: TensorFlow's batched
matmuls of 128 x 64 x 128 run at about half PyTorch's rate (4.1 vs 2.0 ms for the 96 products
of one layer) and its softmax at about half (1.7 vs 0.9 ms). Over 12 layers that is about 70 ms
of the `bert_base` forward's 160 ms gap to HF (1,368 vs 1,207 ms), in kernels that `keras.ops`
on TensorFlow cannot choose; under XLA the forward is 1.07x HF's.

    python benchmarks/attention_forms.py [--sizes bert_tiny bert_base] [--batch 8] [--seq 128]
        [--rounds 15] [--repeat 4] [--dtype float32|bfloat16]
"""

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import interleaved_best_seconds, result  # noqa: E402
from keras import ops  # noqa: E402

from keras_bert_impl import BertConfig  # noqa: E402
from keras_bert_impl.layers import TransformerEncoderBlock  # noqa: E402
from keras_bert_impl.layers.transformer import attention_bias  # noqa: E402


def contenders(block, batch, seq):
    """`{name: function(rows, bias) -> context rows}` for the three forms."""

    def split(rows):
        return block._split_heads(block.qkv_dense(rows), batch, seq)

    def keras_op(rows, bias):
        query, key, value = split(rows)
        context = ops.dot_product_attention(query, key, value, bias=bias)
        return ops.reshape(context, (-1, block.hidden_size))

    def heads_first(rows, bias):
        return block._heads_first_attention(block.qkv_dense(rows), batch, seq, bias)

    def einsums(rows, bias):
        query, key, value = split(rows)
        context = block._attention_with_dropout(query, key, value, bias, training=False)
        return ops.reshape(context, (-1, block.hidden_size))

    return {"keras dot_product_attention": keras_op, "heads-first (ours, TensorFlow)":
            heads_first, "einsums (ours, training)": einsums}


def torch_attention(block, rows, bias, batch, seq, repeat, dtype):
    """`(calls, context)`: a function making `repeat` HF-style attentions (PyTorch SDPA) of
    `rows` with `block`'s fused Q/K/V weights and the additive `bias`, and the first one's
    context rows as float32 NumPy; `(None, None)` without torch."""
    try:
        import torch
    except ImportError:
        return None, None
    torch_dtype = getattr(torch, dtype)
    as_torch = lambda t: torch.from_numpy(  # noqa: E731
        np.asarray(ops.convert_to_numpy(ops.cast(t, "float32")))).to(torch_dtype)
    kernel = as_torch(block.qkv_dense.kernel).T.contiguous()  # F.linear's [out, in]
    qkv_bias = as_torch(block.qkv_dense.bias)
    x, mask = as_torch(rows), as_torch(bias)
    heads, size = block.num_heads, block.head_size

    def attention(a):
        qkv = torch.nn.functional.linear(a, kernel, qkv_bias)
        query, key, value = qkv.view(batch, seq, 3, heads, size).permute(2, 0, 3, 1, 4)
        context = torch.nn.functional.scaled_dot_product_attention(query, key, value,
                                                                   attn_mask=mask)
        return context.transpose(1, 2).reshape(batch * seq, heads * size)

    def calls():
        with torch.inference_mode():
            return [attention(x + float(i)) for i in range(repeat)]

    return calls, calls()[0].float().numpy()


def compiled(function, repeat):
    """`function` called on `repeat` shifted copies of the rows, in one graph."""
    def calls(rows, bias):
        return [function(rows + float(i), bias) for i in range(repeat)]

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        return tf.function(calls)
    if keras.backend.backend() == "jax":
        import jax
        return jax.jit(calls)
    return calls


def measure(size, batch, seq, rounds, repeat, dtype):
    """`({name: best seconds per attention}, max abs difference from Keras' op)`."""
    config = BertConfig.from_preset(size)
    block = TransformerEncoderBlock(hidden_size=config.hidden_size, num_heads=config.num_heads,
                                    intermediate_size=config.intermediate_size, dtype=dtype)
    rng = np.random.default_rng(0)
    rows = ops.cast(rng.normal(size=(batch * seq, config.hidden_size)).astype("float32"), dtype)
    block(ops.reshape(rows, (batch, seq, -1)), np.ones((batch, seq), "int32"))
    mask = np.ones((batch, seq), bool)
    mask[: batch // 2, seq * 3 // 4:] = False  # padding in half the sequences
    bias = attention_bias(mask)
    functions = {name: compiled(f, repeat) for name, f in contenders(block, batch, seq).items()}
    outputs = {name: ops.convert_to_numpy(ops.cast(f(rows, bias)[0], "float32"))
               for name, f in functions.items()}
    calls = {name: (lambda f=f: ops.convert_to_numpy(f(rows, bias)[-1])) for name, f in
             functions.items()}
    calls[TORCH], outputs[TORCH] = torch_attention(block, rows, bias, batch, seq, repeat,
                                                   dtype)
    if calls[TORCH] is None:
        del calls[TORCH], outputs[TORCH]
    reference = outputs["keras dot_product_attention"]
    difference = max(float(np.max(np.abs(o - reference))) for o in outputs.values())
    seconds = interleaved_best_seconds(calls, rounds)
    return {name: s / repeat for name, s in seconds.items()}, difference


TORCH = "HF PyTorch SDPA"


def results(sizes=("bert_tiny", "bert_base"), batch=8, seq=128, rounds=15, repeat=4,
            dtype="float32"):
    """Measures and prints each size; returns `result` records (ms per attention, lower is
    better; peer: Keras' `dot_product_attention`)."""
    print(f"backend={keras.backend.backend()} keras={keras.__version__} batch={batch} seq={seq} "
          f"dtype={dtype} rounds={rounds} repeat={repeat}; ms per attention (with its Q/K/V "
          "projection), best of interleaved calls; ratio = Keras' op / ours")
    records = []
    for size in sizes:
        ms, difference = measure(size, batch, seq, rounds, repeat, dtype)
        ms = {name: 1000 * s for name, s in ms.items()}
        peer = ms.pop("keras dot_product_attention")
        torch_ms = ms.pop(TORCH, None)
        peers = {"keras dot_product_attention": peer, TORCH: torch_ms}
        print(f"{size:<10} keras dot_product_attention {peer:8.3f} ms; "
              + (f"{TORCH} {torch_ms:8.3f} ms; " if torch_ms else f"{TORCH}: no torch; ")
              + "; ".join(f"{name} {value:8.3f} ms ({peer / value:.2f}x; PyTorch "
                          + (f"{torch_ms / value:.2f}x)" if torch_ms else "-)")
                          for name, value in ms.items())
              + f"; max abs difference {difference:.2g}", flush=True)
        for name, value in ms.items():
            records.append(result(f"attention: {name}", f"{size} batch={batch} seq={seq}",
                                  value, "ms", peers, higher_is_better=False, dtype=dtype,
                                  notes=f"max abs difference of the contexts "
                                        f"{difference:.2g}"
                                        + ("" if torch_ms else f"; not installed: {TORCH}")))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["bert_tiny", "bert_base"])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--repeat", type=int, default=4,
                        help="independent attentions per timed call")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    args = parser.parse_args()
    results(args.sizes, args.batch, args.seq, args.rounds, args.repeat, args.dtype)


if __name__ == "__main__":
    main()
