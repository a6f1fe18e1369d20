"""Where a CPU forward's time goes on TensorFlow, against Hugging Face's `BertModel` on PyTorch:
the call path, and at most what each piece of the model could give.

One process measures, interleaved (each timed call after an untimed one, `bench_common`), the
same encoder called three ways and HF's forward on the same batch:

* `predict_on_batch`: what `encoder_throughput.py` times (Keras' predict function, NumPy in);
* `tf.function`: the model called in a plain `tf.function` on tensors (the same graph);
* `tf.function + XLA`: the same with `jit_compile=True`.

The gaps between the first two and to HF split the forward into Keras' per-call cost and the
graph's own. With `--ablations`, each variant then runs in a process of its own, timed against
HF in that process (a ratio, so that processes compare): `shipped`, `no_layer_norm` (every
LayerNorm returns its input), `no_attention_core` (the block's attention is the query third of
the fused projection: no batched matmuls, softmax or transposes), `segment_gather` (the segment
embedding looked up with a gather instead of DESIGN rule 6's one-hot matmul). A removed piece's
ratio over `shipped`'s is the most that making it free could give.

It also times the block's four projections (fused q/k/v, attention output, intermediate,
output; `tokens x in -> out` plus bias, in the forward's `--dtype`) as TensorFlow runs them
(`tf.matmul` + `bias_add` on variables in a `tf.function`: oneDNN's `_MklNativeFusedMatMul`)
and as PyTorch does (`F.linear`), interleaved, and sums them over the layers: the share of the
forward that is matmuls, and what HF / ours would be were TensorFlow's matmuls as fast as
PyTorch's at those shapes.

    python benchmarks/forward_overheads.py [--preset bert_tiny] [--batch 8] [--seq 128]
        [--dtype float32|bfloat16] [--rounds 30] [--ablations] [--no-projections]

Measured on 2 cores of an AMD EPYC (AVX-512, float32, `bert_tiny`, batch 8 x 128, three
runs of 2026-11-27): `predict_on_batch` 9.6-10.2 ms, `tf.function` 8.8-9.7, XLA 7.1-7.9, HF
7.6-8.4 (HF / ours: 0.77-0.83, 0.84-0.87, 1.04-1.06); ablations, each variant's ratio over
`shipped`'s: no LayerNorm 1.06-1.19x, no attention core 1.09-1.22x, segment gather 0.91-1.07x
(noise). The five LayerNorms (~260 us each over `[1024, 128]` in every form tried: ours,
Keras' `layer_normalization`, moments, `E[x^2] - E[x]^2`, matmul reductions; PyTorch's fused
kernel: 46 us) and the two attention cores (batched matmuls, softmax and transposes; PyTorch
runs a fused CPU flash attention) are what PyTorch's eager forward does in fused kernels.
The projections (two runs of 2026-11-28, same machine kind; forward HF / ours 0.82-0.88 via
`tf.function`, 1.04-1.05 with XLA): TensorFlow's oneDNN matmuls at these shapes take 5.43-5.60
ms for the two layers against PyTorch's 4.35 (0.78-0.80x; q/k/v 0.77-0.80x, attention output
0.55-0.57x, intermediate 0.80-0.81x, output 0.85-0.89x), 63-66% of the `tf.function`
forward; at PyTorch's rate the forward would be 0.93-1.03x HF's. The matmuls are about half of
the gap, the op-by-op LayerNorms and attention cores the rest; none of the three is in the
model's code to change without XLA (which fuses the ops and calls its own matmuls). In
bfloat16 (`--dtype bfloat16`, same day: forward HF / ours 0.79 via `tf.function`, 0.64 with
XLA) the projections take 4.23 ms against PyTorch's 2.39 (0.57x; attention output 0.40x),
59% of the forward; at PyTorch's rate HF / ours would be 1.06x: there the matmuls are the
whole gap. A batched form of the products against a transposed matrix (`BatchMatMulV2` with
`adj_y`, faster than `MatMul` with `transpose_b` for some single products: BERT-base's
intermediate input gradient 28.1 -> 22.7 ms, the MLM scores of 152 rows 47.2 -> 39.0) gave
1.009x on the BERT-base train step and 0.969x on `bert_tiny`'s (A/B in one process): not
used.
"""

import argparse
import contextlib
import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import interleaved_best_seconds, result  # noqa: E402
from encoder_throughput import hugging_face_calls, make_batch  # noqa: E402
from keras import ops  # noqa: E402

from keras_bert_impl import BertConfig, BertEncoder  # noqa: E402
from keras_bert_impl.layers import embeddings, normalization, transformer  # noqa: E402

ABLATIONS = ("shipped", "no_layer_norm", "no_attention_core", "segment_gather")


@contextlib.contextmanager
def ablated(variant):
    """The model's code with the piece `variant` names removed (see the module docstring)
    while the context is open. It must stay open while the model is traced, not only while
    it is built: a functional model calls its layers' `call` again at every trace."""
    patches = {
        "shipped": (None, None, None),
        "no_layer_norm": (normalization.LayerNorm, "call",
                          lambda self, inputs: ops.cast(inputs, self.compute_dtype)),
        "no_attention_core": (transformer.TransformerEncoderBlock, "_attention",
                              lambda self, rows, batch, seq_len, padding_mask, training:
                              self.qkv_dense(rows)[:, : self.hidden_size]),
        "segment_gather": (embeddings.BertEmbeddings, "_segments",
                           lambda self, segment_ids: ops.take(
                               self.segment_embeddings, ops.cast(segment_ids, "int32"), axis=0)),
    }
    owner, name, replacement = patches[variant]
    if owner is None:
        yield
        return
    shipped = owner.__dict__[name]
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, shipped)


def contenders(preset, batch, seq, dtype, call_paths=True):
    """`{name: callable}`: our encoder called through `predict_on_batch` and, with
    `call_paths`, in a plain `tf.function` with and without XLA; and HF's forward ("hf",
    absent without torch/transformers)."""
    import tensorflow as tf

    config = BertConfig.from_preset(preset)
    x, positions, y = make_batch(config, batch, seq, 1)
    encoder = BertEncoder(config, dtype=dtype)
    encoder.compile()
    tensors = {k: tf.constant(v) for k, v in x.items()}
    calls = {"predict_on_batch": lambda: encoder.predict_on_batch(x)}
    if call_paths:
        for name, jit in (("tf.function", False), ("tf.function + XLA", True)):
            function = tf.function(lambda d: encoder(d, training=False)["sequence_output"],
                                   jit_compile=jit)
            calls[name] = lambda f=function: f(tensors).numpy()
    hf_forward, _ = hugging_face_calls(config, x, positions, y, dtype)
    if hf_forward is not None:
        calls["hf"] = hf_forward
    return calls


def projections(config):
    """`{name: (in, out)}`: the encoder block's four projections at `config`'s sizes."""
    hidden, intermediate = config.hidden_size, config.intermediate_size
    return {"qkv": (hidden, 3 * hidden), "attention_output": (hidden, hidden),
            "intermediate": (hidden, intermediate), "output": (intermediate, hidden)}


def projection_seconds(preset, batch, seq, rounds, dtype="float32", repeat=10):
    """`{name: {"tensorflow": s, "torch": s}}`: best seconds of each of the block's projections
    on `batch * seq` rows (with its bias) in `dtype` (float32 or bfloat16: inputs, kernels and
    bias), TensorFlow's `tf.matmul` + `bias_add` on variables in a `tf.function` and PyTorch's
    `F.linear` in inference mode, interleaved; `{}` without torch. Each timed call makes
    `repeat` projections one after the other (a
    control dependency between TensorFlow's; each with its own kernel, as the layers have, and
    each returned: TensorFlow's graph optimizer merges identical ops and drops unused ones), so
    that a call's own cost, which the model's graph pays once, is not charged to every
    matmul."""
    import tensorflow as tf
    try:
        import torch
    except ImportError:
        return {}
    rng = np.random.default_rng(0)
    rows = batch * seq
    calls = {}
    for name, (fan_in, fan_out) in projections(BertConfig.from_preset(preset)).items():
        x = rng.normal(size=(rows, fan_in)).astype("float32")
        kernels = (rng.normal(size=(repeat, fan_in, fan_out)) / np.sqrt(fan_in)).astype(
            "float32")
        bias = rng.normal(size=(fan_out,)).astype("float32")
        tf_x, tf_bias = tf.constant(x, dtype), tf.Variable(tf.constant(bias, dtype))
        tf_kernels = [tf.Variable(tf.constant(kernel, dtype)) for kernel in kernels]

        @tf.function
        def project(a=tf_x, ws=tf_kernels, b=tf_bias):
            outputs = []
            for w in ws:
                with tf.control_dependencies(outputs[-1:]):
                    outputs.append(tf.nn.bias_add(tf.matmul(a, w), b))
            return outputs

        calls[(name, "tensorflow")] = project
        torch_dtype = getattr(torch, dtype)
        torch_x, torch_bias = (torch.from_numpy(t).to(torch_dtype) for t in (x, bias))
        torch_kernels = [torch.from_numpy(kernel.T.copy()).to(torch_dtype) for kernel in kernels]

        def linear(a=torch_x, ws=torch_kernels, b=torch_bias):
            with torch.inference_mode():
                return [torch.nn.functional.linear(a, w, b) for w in ws]

        calls[(name, "torch")] = linear
    seconds = {}
    for (name, library), best in interleaved_best_seconds(calls, rounds).items():
        seconds.setdefault(name, {})[library] = best / repeat
    return seconds


def measure(preset, batch, seq, dtype, rounds, variant="shipped", call_paths=True):
    """Best seconds per call of each of `contenders(...)`, our model with `variant`'s piece
    removed throughout (built, traced and timed inside `ablated(variant)`)."""
    with ablated(variant):
        return interleaved_best_seconds(contenders(preset, batch, seq, dtype, call_paths),
                                        rounds)


def ablation_ratios(preset, batch, seq, dtype, rounds):
    """`{variant: HF seconds / ours (predict_on_batch)}`, each variant in a fresh process."""
    ratios = {}
    for variant in ABLATIONS:
        command = [sys.executable, os.path.abspath(__file__), "--preset", preset, "--batch",
                   str(batch), "--seq", str(seq), "--dtype", dtype, "--rounds", str(rounds),
                   "--variant", variant]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        seconds = json.loads(output.strip().splitlines()[-1])
        ratios[variant] = seconds["hf"] / seconds["predict_on_batch"]
    return ratios


def results(preset="bert_tiny", batch=8, seq=128, dtype="float32", rounds=30, ablations=False,
            project=True):
    """Measures and prints the call paths (and, with `ablations`, each variant's ratio to HF;
    with `project`, the projections' matmuls against PyTorch's at the same shapes); returns
    `result` records in ms (lower is better; peers: HF PyTorch, PyTorch's matmuls)."""
    shape = f"{preset} batch={batch} seq={seq} dtype={dtype}"
    print(f"backend={keras.backend.backend()} {shape} rounds={rounds}; ms per forward, best "
          "of interleaved calls; ratio = HF / ours")
    ms = {name: 1000 * s for name, s in measure(preset, batch, seq, dtype, rounds).items()}
    hf = ms.pop("hf", None)
    records = []
    for name, value in ms.items():
        ratio = f" ({hf / value:.2f}x)" if hf else ""
        print(f"  {name:<20} {value:8.2f} ms{ratio}", flush=True)
        records.append(result(f"encoder forward: {name}", shape, value, "ms", {"HF PyTorch": hf},
                              higher_is_better=False, dtype=dtype,
                              notes="" if hf else "not installed: HF PyTorch"))
    print(f"  {'HF PyTorch':<20} {hf:8.2f} ms" if hf else "  HF PyTorch: not installed")
    if ablations and hf:
        ratios = ablation_ratios(preset, batch, seq, dtype, rounds)
        for variant, ratio in ratios.items():
            share = ratio / ratios["shipped"]
            print(f"  ablation {variant:<18} HF / ours {ratio:.3f} (x{share:.3f} of shipped)",
                  flush=True)
        records.append(result("encoder forward: ablations, HF / ours per process", shape,
                              ratios["shipped"], "ratio",
                              {variant: r for variant, r in ratios.items() if variant != "shipped"},
                              dtype=dtype, notes="peers: the same with that piece removed"))
    if project:
        records += projection_records(preset, batch, seq, rounds, dtype, ms.get("tf.function"),
                                      hf)
    return records


def projection_records(preset, batch, seq, rounds, dtype="float32", forward_ms=None,
                       hf_ms=None):
    """Prints and records the block's projections, TensorFlow against PyTorch (ms per call),
    and their sum over the layers: its share of our `tf.function` forward (`forward_ms`) and
    HF's forward over ours were TensorFlow's matmuls as fast as PyTorch's (`hf_ms`)."""
    seconds = projection_seconds(preset, batch, seq, rounds, dtype)
    if not seconds:
        print("  projections: torch not installed")
        return []
    config = BertConfig.from_preset(preset)
    shape = f"{preset} rows={batch * seq} {dtype}"
    print(f"  projections ({batch * seq} rows, {dtype}, ms): TensorFlow / PyTorch")
    records = []
    for name, (fan_in, fan_out) in projections(config).items():
        ours, theirs = (1000 * seconds[name][key] for key in ("tensorflow", "torch"))
        print(f"    {name:<17} {fan_in:>5} -> {fan_out:<5} {ours:7.3f} / {theirs:7.3f} "
              f"({theirs / ours:.2f}x)", flush=True)
        records.append(result(f"projection matmul: {name}", f"{shape} {fan_in}->{fan_out}",
                              ours, "ms", {"PyTorch": theirs}, higher_is_better=False,
                              dtype=dtype))
    ours, theirs = (config.num_layers * 1000 * sum(s[key] for s in seconds.values())
                    for key in ("tensorflow", "torch"))
    line = f"    all {config.num_layers} layers' projections {ours:.2f} / {theirs:.2f} ms"
    if forward_ms:
        line += f"; {ours / forward_ms:.0%} of our tf.function forward"
        if hf_ms:
            line += (f"; at PyTorch's matmul rate HF / ours would be "
                     f"{hf_ms / (forward_ms - ours + theirs):.2f}x")
    print(line, flush=True)
    records.append(result("projection matmuls: all layers", shape, ours, "ms",
                          {"PyTorch": theirs}, higher_is_better=False, dtype=dtype))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bert_tiny")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--ablations", action="store_true",
                        help="also each variant in its own process, as a ratio to HF")
    parser.add_argument("--no-projections", action="store_true",
                        help="skip the projections' matmuls against PyTorch's")
    parser.add_argument("--variant", choices=ABLATIONS,
                        help="(internal) time this variant and HF, print JSON seconds")
    args = parser.parse_args()
    if args.variant:
        print(json.dumps(measure(args.preset, args.batch, args.seq, args.dtype, args.rounds,
                                 args.variant, call_paths=False)))
        return
    results(args.preset, args.batch, args.seq, args.dtype, args.rounds, args.ablations,
            not args.no_projections)


if __name__ == "__main__":
    main()
