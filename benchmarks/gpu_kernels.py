"""The memory-bound pieces of a BERT-base train step, one at a time on a GPU (JAX): LayerNorm,
the training attention and GELU at the step's shapes (seq 128 x batch 128: `[16384, 768]`,
the fused projection `[16384, 2304]`, `[16384, 3072]`, bf16), forward alone and forward with
backward, each form against a copy of the same bytes (the memory's ceiling, same run).

    KERAS_BACKEND=jax python benchmarks/gpu_kernels.py

Forms: LayerNorm as XLA fuses its `keras.ops` form (`xla`: what runs off NVIDIA GPUs) and as
the two Pallas kernels it runs on one (`pallas`: `keras_bert_impl.layers.pallas_layer_norm`),
whose outputs and gradients are checked against XLA's first; the training attention with
dropout as XLA runs the einsum form (`xla`) and as the Pallas kernels it runs on an NVIDIA GPU
(`pallas`: `keras_bert_impl.layers.pallas_attention`, checked likewise); the exact GELU as
shipped (`erf` in float32), its tanh approximation and `x * sigmoid(1.702 x)` (probes of what
`erf` costs).
A line per form: microseconds per call (`--reps` calls queued back to back, waited for once),
GB/s of the bytes it must move at least, and that as a fraction of the copy's.
"""

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
os.environ.setdefault("KERAS_BACKEND", "jax")


def timed(function, *args, reps=50):
    """Seconds per call of `function(*args)` (compiled first): `reps` calls queued back to back
    (JAX dispatches asynchronously, so the GPU runs them without host gaps), waited for once."""
    import jax

    jax.block_until_ready(function(*args))
    start = time.perf_counter()
    for _ in range(reps):
        out = function(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / reps


def layer_norm_forms(interpret):
    """name -> f(x, gamma, beta) of each LayerNorm form (output in x's dtype)."""
    import jax.numpy as jnp

    from keras_bert_impl.layers.normalization import standardize
    from keras_bert_impl.layers.pallas_layer_norm import layer_norm

    def shipped(x, gamma, beta):
        return (standardize(x.astype(jnp.float32), 1e-12) * gamma + beta).astype(x.dtype)

    return {"xla": shipped,
            "pallas": lambda x, gamma, beta: layer_norm(x, gamma, beta, 1e-12,
                                                         interpret=interpret)}


def attention_forms(batch, heads, interpret):
    """name -> f(qkv, bias, seed) of each training-attention form, dropout 0.1: the einsum
    form XLA runs (`xla`) and the Pallas kernels (`pallas`)."""
    from keras_bert_impl.layers.pallas_attention import attention_with_dropout, einsum_attention

    options = {"batch": batch, "heads": heads, "steps": 205}
    return {"xla": lambda qkv, bias, seed: einsum_attention(qkv, bias, seed, **options),
            "pallas": lambda qkv, bias, seed: attention_with_dropout(
                qkv, bias, seed, interpret=interpret, **options)}


def gelu_forms():
    import jax
    import jax.numpy as jnp

    from keras_bert_impl.layers.transformer import exact_gelu

    def in_float32(function):
        return lambda x: function(x.astype(jnp.float32)).astype(x.dtype)

    return {"exact (shipped)": exact_gelu,
            "tanh (probe)": in_float32(lambda x: jax.nn.gelu(x, approximate=True)),
            "sigmoid (probe)": in_float32(lambda x: x * jax.nn.sigmoid(1.702 * x))}


def differences(forms, args, differentiated, upstream):
    """Largest differences of the `pallas` form's output and gradients (for the first
    `differentiated` args) from the `xla` form's, each relative to the largest of the `xla`
    form's."""
    import jax
    import jax.numpy as jnp

    def loss(form):
        return lambda *a: jnp.sum(form(*a).astype(jnp.float32) * upstream)

    argnums = tuple(range(differentiated))
    found = {}
    for name, form in (("xla", forms["xla"]), ("pallas", forms["pallas"])):
        found[name] = [jax.jit(form)(*args),
                       *jax.jit(jax.grad(loss(form), argnums=argnums))(*args)]
    return {label: float(jnp.max(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))
                         / float(jnp.max(jnp.abs(a.astype(jnp.float32)))))
            for label, a, b in zip(["y"] + [f"d{i}" for i in argnums], found["xla"],
                                   found["pallas"])}


def main():
    import jax
    import jax.numpy as jnp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--intermediate", type=int, default=3072)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    interpret = jax.default_backend() != "gpu"
    records = []

    def normal(seed, shape, dtype=jnp.bfloat16, scale=1.0):
        return scale * jax.random.normal(jax.random.key(seed), shape, dtype)

    def report(piece, form, seconds, nbytes, copy_rate):
        rate = nbytes / seconds
        records.append({"piece": piece, "form": form, "us": seconds * 1e6, "gb_s": rate / 1e9,
                        "of_copy": rate / copy_rate if copy_rate else None})
        share = f"{rate / copy_rate:6.1%}" if copy_rate else "     -"
        print(f"{piece:<24} {form:<18} {seconds * 1e6:9.1f} us {rate / 1e9:8.0f} GB/s {share}",
              flush=True)

    h = normal(0, (args.tokens, args.intermediate))
    copy_seconds = timed(jax.jit(lambda a: a * 2), h, reps=args.reps)
    copy_rate = 2 * h.nbytes / copy_seconds
    report("copy [tokens, inter]", "x * 2", copy_seconds, 2 * h.nbytes, copy_rate)

    batch = args.tokens // args.seq
    bias = jnp.zeros((batch, args.seq)).at[::10, args.seq // 2:].set(-10000.0)
    pieces = [  # name, forms, inputs, how many are differentiated, bytes forward / fwd+bwd
        ("LayerNorm", layer_norm_forms(interpret),
         [normal(1, (args.tokens, args.hidden)), 1 + normal(3, (args.hidden,), jnp.float32, 0.1),
          normal(4, (args.hidden,), jnp.float32, 0.1)], 3, (2, 5)),
        ("attention", attention_forms(batch, args.heads, interpret),
         [normal(5, (args.tokens, 3 * args.hidden)), bias,
          jnp.asarray([12345, 678], jnp.uint32)], 1, (4 / 3, 11 / 3)),
    ]
    for piece, forms, inputs, differentiated, (forward_bytes, both_bytes) in pieces:
        out_shape = jax.eval_shape(forms["xla"], *inputs)
        upstream = normal(2, out_shape.shape, jnp.float32)
        try:
            print(f"pallas {piece} vs XLA (relative):",
                  json.dumps(differences(forms, inputs, differentiated, upstream)), flush=True)
        except Exception as error:  # a lowering failure must not lose the other figures
            print(f"pallas {piece} FAILED: {type(error).__name__}: {error}"[:2000], flush=True)
            forms.pop("pallas")
        for name, form in forms.items():
            forward = jax.jit(form)
            both = jax.jit(lambda dy, *a, form=form, n=differentiated: jax.vjp(
                lambda *d: form(*d, *a[n:]), *a[:n])[1](dy))
            dy = upstream.astype(out_shape.dtype)
            report(f"{piece} forward", name, timed(forward, *inputs, reps=args.reps),
                   forward_bytes * inputs[0].nbytes, copy_rate)
            report(f"{piece} fwd+bwd", name, timed(both, dy, *inputs, reps=args.reps),
                   both_bytes * inputs[0].nbytes, copy_rate)
    for name, form in gelu_forms().items():
        forward = jax.jit(form)
        both = jax.jit(lambda h, dh, form=form: jax.vjp(form, h)[1](dh))
        report("GELU forward", name, timed(forward, h, reps=args.reps), 2 * h.nbytes,
               copy_rate)
        report("GELU fwd+bwd", name, timed(both, h, normal(6, h.shape), reps=args.reps),
               5 * h.nbytes, copy_rate)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"device": str(jax.devices()[0].device_kind), "records": records},
                      handle, indent=1)


if __name__ == "__main__":
    main()
