"""The memory-bound pieces of a BERT-base train step, one at a time on a GPU (JAX): LayerNorm
and GELU at the step's shapes (seq 128 x batch 128: `[16384, 768]` and `[16384, 3072]`,
bf16), forward alone and forward with backward, each form against a copy of the same bytes
(the memory's ceiling, measured in the same run).

    KERAS_BACKEND=jax python benchmarks/gpu_kernels.py

Forms: LayerNorm as XLA fuses its `keras.ops` form (`xla`: what runs off NVIDIA GPUs) and as
the two Pallas kernels it runs on one (`pallas`: `keras_bert_impl.layers.pallas_layer_norm`),
whose outputs and gradients are checked against XLA's first; the exact GELU as shipped (`erf`
in float32), its tanh approximation and `x * sigmoid(1.702 x)` (probes of what `erf` costs).
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


def gelu_forms():
    import jax
    import jax.numpy as jnp

    from keras_bert_impl.layers.transformer import exact_gelu

    def in_float32(function):
        return lambda x: function(x.astype(jnp.float32)).astype(x.dtype)

    return {"exact (shipped)": exact_gelu,
            "tanh (probe)": in_float32(lambda x: jax.nn.gelu(x, approximate=True)),
            "sigmoid (probe)": in_float32(lambda x: x * jax.nn.sigmoid(1.702 * x))}


def check_layer_norm(forms, x, gamma, beta):
    """Largest differences of the Pallas form's output and gradients from the shipped form's,
    relative to the largest value of each."""
    import jax
    import jax.numpy as jnp

    weights = jax.random.normal(jax.random.key(1), x.shape, jnp.float32)

    def loss(form):
        return lambda x, g, b: jnp.sum(form(x, g, b).astype(jnp.float32) * weights)

    differences = {}
    outputs = [jax.jit(form)(x, gamma, beta) for form in (forms["xla"], forms["pallas"])]
    grads = [jax.jit(jax.grad(loss(form), argnums=(0, 1, 2)))(x, gamma, beta)
             for form in (forms["xla"], forms["pallas"])]
    for name, (a, b) in {"y": outputs, "dx": (grads[0][0], grads[1][0]),
                         "dgamma": (grads[0][1], grads[1][1]),
                         "dbeta": (grads[0][2], grads[1][2])}.items():
        a, b = a.astype(jnp.float32), b.astype(jnp.float32)
        differences[name] = float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(a)))
    return differences


def main():
    import jax
    import jax.numpy as jnp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--hidden", type=int, default=768)
    parser.add_argument("--intermediate", type=int, default=3072)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    interpret = jax.default_backend() != "gpu"
    key = jax.random.key(0)
    x = jax.random.normal(key, (args.tokens, args.hidden), jnp.bfloat16)
    dy = jax.random.normal(jax.random.key(2), x.shape, jnp.bfloat16)
    gamma = 1 + 0.1 * jax.random.normal(jax.random.key(3), (args.hidden,), jnp.float32)
    beta = 0.1 * jax.random.normal(jax.random.key(4), (args.hidden,), jnp.float32)
    h = jax.random.normal(key, (args.tokens, args.intermediate), jnp.bfloat16)
    dh = jax.random.normal(jax.random.key(5), h.shape, jnp.bfloat16)
    records = []

    def report(piece, form, seconds, nbytes, copy_rate):
        rate = nbytes / seconds
        records.append({"piece": piece, "form": form, "us": seconds * 1e6, "gb_s": rate / 1e9,
                        "of_copy": rate / copy_rate if copy_rate else None})
        share = f"{rate / copy_rate:6.1%}" if copy_rate else "     -"
        print(f"{piece:<24} {form:<18} {seconds * 1e6:9.1f} us {rate / 1e9:8.0f} GB/s {share}",
              flush=True)

    copy = jax.jit(lambda a: a * 2)
    copy_seconds = timed(copy, h, reps=args.reps)
    copy_rate = 2 * h.nbytes / copy_seconds
    report("copy [tokens, inter]", "x * 2", copy_seconds, 2 * h.nbytes, copy_rate)

    forms = layer_norm_forms(interpret)
    try:
        print("pallas LayerNorm vs shipped (relative):",
              json.dumps(check_layer_norm(forms, x, gamma, beta)), flush=True)
    except Exception as error:  # a lowering failure must not lose the other figures
        print(f"pallas LayerNorm FAILED: {type(error).__name__}: {error}"[:2000], flush=True)
        forms.pop("pallas")
    for name, form in forms.items():
        forward = jax.jit(form)
        both = jax.jit(lambda x, g, b, dy, form=form: jax.vjp(form, x, g, b)[1](dy))
        report("LayerNorm forward", name, timed(forward, x, gamma, beta, reps=args.reps),
               2 * x.nbytes, copy_rate)
        report("LayerNorm fwd+bwd", name, timed(both, x, gamma, beta, dy, reps=args.reps),
               5 * x.nbytes, copy_rate)
    for name, form in gelu_forms().items():
        forward = jax.jit(form)
        both = jax.jit(lambda h, dh, form=form: jax.vjp(form, h)[1](dh))
        report("GELU forward", name, timed(forward, h, reps=args.reps), 2 * h.nbytes,
               copy_rate)
        report("GELU fwd+bwd", name, timed(both, h, dh, reps=args.reps), 5 * h.nbytes,
               copy_rate)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump({"device": str(jax.devices()[0].device_kind), "records": records},
                      handle, indent=1)


if __name__ == "__main__":
    main()
