"""`pallas_layer_norm`, the LayerNorm kernels `LayerNorm` runs on an NVIDIA GPU under JAX,
checked here in Pallas' interpreter (the same kernel code, run on the CPU): values and all three
gradients equal the `keras.ops` form's, with widths and row counts that are not multiples of
the kernels' tiles; they lower to Triton for CUDA; and `LayerNorm` reaches them exactly where
`runs_pallas_kernels()` says."""

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="Pallas kernels are JAX's")


def reference(x, gamma, beta, epsilon=1e-12):
    """The `keras.ops` form `LayerNorm` runs elsewhere, float32 statistics, output in x's dtype."""
    import jax.numpy as jnp

    from keras_bert_impl.layers.normalization import standardize

    return (standardize(x.astype(jnp.float32), epsilon) * gamma + beta).astype(x.dtype)


def values_and_gradients(norm, x, gamma, beta, upstream):
    import jax
    import jax.numpy as jnp

    def loss(x, gamma, beta):
        return jnp.sum(norm(x, gamma, beta).astype(jnp.float32) * upstream)

    return [norm(x, gamma, beta), *jax.grad(loss, argnums=(0, 1, 2))(x, gamma, beta)]


@pytest.mark.parametrize("shape, dtype, rtol", [
    ((3, 37, 100), "float32", 2e-6),   # 100 features: a 128-wide tile with 28 masked
    ((70, 768), "float32", 2e-6),      # 70 rows: the last backward program's tiles part empty
    ((2, 33, 128), "bfloat16", 1e-2),  # the train step's dtype: bf16 in and out
])
def test_kernels_equal_the_ops_form(shape, dtype, rtol):
    import jax.numpy as jnp

    from keras_bert_impl.layers.pallas_layer_norm import layer_norm

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=shape) * 2 + 0.5, dtype)
    gamma = jnp.asarray(rng.normal(size=shape[-1]), "float32")
    beta = jnp.asarray(rng.normal(size=shape[-1]), "float32")
    upstream = jnp.asarray(rng.normal(size=shape), "float32")
    ours = values_and_gradients(lambda *a: layer_norm(*a, 1e-12, interpret=True), x, gamma,
                                beta, upstream)
    theirs = values_and_gradients(reference, x, gamma, beta, upstream)
    for name, a, b in zip(("y", "dx", "dgamma", "dbeta"), ours, theirs):
        assert a.shape == b.shape and a.dtype == b.dtype, name
        a, b = np.asarray(a, "float32"), np.asarray(b, "float32")
        scale = np.abs(b).max()
        assert np.abs(a - b).max() <= rtol * scale, (name, np.abs(a - b).max() / scale)
    # The gradient is not trivially right: it moves with the upstream gradient's direction.
    assert np.abs(np.asarray(ours[1], "float32")).max() > 0.1


def test_an_empty_batch_gives_an_empty_output_and_gradients():
    import jax
    import jax.numpy as jnp

    from keras_bert_impl.layers.pallas_layer_norm import layer_norm

    x = jnp.zeros((0, 5, 32), "bfloat16")
    assert layer_norm(x, jnp.ones(32), jnp.zeros(32), 1e-12).shape == (0, 5, 32)
    grads = jax.grad(lambda x, g: layer_norm(x, g, jnp.zeros(32), 1e-12).astype("float32").sum(),
                     argnums=(0, 1))(x, jnp.ones(32))
    assert grads[0].shape == (0, 5, 32) and np.all(np.asarray(grads[1]) == 0)


def test_output_dtype_is_the_one_asked_for():
    import jax.numpy as jnp

    from keras_bert_impl.layers.pallas_layer_norm import layer_norm

    x = jnp.linspace(-2, 3, 2 * 48, dtype="float32").reshape(2, 48)
    y = layer_norm(x, jnp.ones(48), jnp.zeros(48), 1e-12, dtype="bfloat16", interpret=True)
    assert y.dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(y), np.asarray(
        reference(x, jnp.ones(48), jnp.zeros(48)).astype("bfloat16")))


def test_layer_norm_runs_the_kernels_where_runs_pallas_kernels_says(monkeypatch):
    import jax
    import jax.numpy as jnp

    from keras_bert_impl.layers import execution, normalization
    from keras_bert_impl.layers.normalization import LayerNorm

    assert not execution.runs_pallas_kernels()  # JAX on a CPU: XLA's fusions
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(2, 9, 40)), "float32")
    upstream = jnp.asarray(rng.normal(size=(2, 9, 40)), "float32")
    layer = LayerNorm(epsilon=1e-12, dtype="mixed_bfloat16")
    layer.build(x.shape)
    layer.gamma.assign(rng.normal(size=40).astype("float32"))

    def run():
        def loss(x):
            return jnp.sum(layer(x).astype(jnp.float32) * upstream)

        kernels = "pallas_call" in str(jax.make_jaxpr(loss)(x))
        return kernels, np.asarray(layer(x), "float32"), np.asarray(jax.grad(loss)(x))

    xla_kernels, xla_y, xla_dx = run()
    monkeypatch.setattr(normalization, "runs_pallas_kernels", lambda: True)
    pallas_kernels, pallas_y, pallas_dx = run()
    assert (xla_kernels, pallas_kernels) == (False, True)
    assert layer(x).dtype == "bfloat16"
    np.testing.assert_allclose(pallas_y, xla_y, atol=0.02 * np.abs(xla_y).max())
    np.testing.assert_allclose(pallas_dx, xla_dx, atol=0.02 * np.abs(xla_dx).max())


def test_kernels_lower_to_triton_for_cuda():
    """Pallas' lowering to Triton (what runs first on a GPU) at BERT-base's width, forward and
    backward, done here for CUDA without one: it rejects what Triton cannot express."""
    import jax
    import jax.numpy as jnp

    from keras_bert_impl.layers.pallas_layer_norm import layer_norm

    def step(x, gamma, beta, upstream):
        y, backward = jax.vjp(lambda *a: layer_norm(*a, 1e-12, interpret=False), x, gamma, beta)
        return y, backward(upstream)

    args = [jax.ShapeDtypeStruct(shape, dtype) for shape, dtype in [
        ((256, 768), jnp.bfloat16), ((768,), jnp.float32), ((768,), jnp.float32),
        ((256, 768), jnp.bfloat16)]]
    text = jax.jit(step).trace(*args).lower(lowering_platforms=("cuda",)).as_text()
    assert text.count("__gpu$xla.gpu.triton") == 2  # the forward and the backward kernel


def test_runs_pallas_kernels_on_one_nvidia_gpu_without_a_distribution(monkeypatch):
    import jax

    from keras_bert_impl.layers import execution

    data_parallel = keras.distribution.DataParallel(devices=jax.devices())

    class Device:
        device_kind = "NVIDIA H200"

    assert not execution.runs_pallas_kernels()  # this CPU
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    monkeypatch.setattr(jax, "devices", lambda *a: [Device()])
    assert execution.runs_pallas_kernels()
    monkeypatch.setenv("KERAS_BERT_PALLAS", "0")  # the way back to XLA's fusions
    assert not execution.runs_pallas_kernels()
    monkeypatch.delenv("KERAS_BERT_PALLAS")
    with data_parallel.scope():  # a distributed step: XLA's own fusions
        assert not execution.runs_pallas_kernels()
    Device.device_kind = "AMD Instinct MI300X"
    assert not execution.runs_pallas_kernels()
