"""LayerNorm forward and backward as one Pallas (Triton) kernel each: what `LayerNorm` runs
under JAX on an NVIDIA GPU (`execution.runs_pallas_kernels()`), the way attention runs each
backend's fused kernel. Imported only there: it imports JAX.

Under XLA, a BERT-base train step's 25 LayerNorms took 3.1 ms of an H200's 28.9 ms step
(seq 128 x batch 128, `benchmarks/gpu_profile.py`, 2026-11-27): the forward is two fusions
(the row statistics, then the normalization), the backward four (the standardized rows written
out in float32, the input gradient, the column sums for `gamma` and for `beta`), each at about
a third of the memory's bandwidth. Here the forward is one kernel (it reads each row once and
writes the output and each row's mean and `1 / std`), the backward one (it reads `x` and the
upstream gradient once and writes the input gradient and per-program partial sums of
`gamma`'s and `beta`'s gradients, which XLA adds up): 1.3 ms, and the step 1.02-1.07x
faster in four runs (`benchmarks/results/gpu_train_step-nvidia-h200.md`).

The rule and the order of operations are `normalization.LayerNorm`'s: float32 statistics,
`(x - mean) * rsqrt(var + epsilon) * gamma + beta`, the output in the layer's compute dtype.
Rows are tiles of `ROWS` (a power of two, as Triton needs); the features are one tile of the
next power of two with the padding masked, so any width works. Where JAX has no GPU,
`layer_norm` runs the same kernels in Pallas' interpreter (how the tests check them on a CPU).
"""

import functools

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

ROWS = 4  # rows a program normalizes at once
BACKWARD_BLOCKS = 8  # row tiles a backward program walks, adding up gamma's and beta's sums


def _tile(ref, rows, columns, row_ok, column_ok):
    """`ref[rows, columns]` as float32, zero where out of range."""
    mask = row_ok[:, None] & column_ok[None, :]
    values = plgpu.load(ref.at[rows[:, None], columns[None, :]], mask=mask, other=0.0)
    return values.astype(jnp.float32), mask


def _vector(ref, columns, column_ok):
    return plgpu.load(ref.at[columns], mask=column_ok, other=0.0).astype(jnp.float32)


def _forward_kernel(x_ref, gamma_ref, beta_ref, y_ref, mean_ref, rstd_ref, *, width, epsilon):
    count, features = x_ref.shape
    rows = pl.program_id(0) * ROWS + jnp.arange(ROWS)
    columns = jnp.arange(width)
    row_ok, column_ok = rows < count, columns < features
    x, mask = _tile(x_ref, rows, columns, row_ok, column_ok)
    mean = jnp.sum(x, axis=1) / features
    centered = jnp.where(mask, x - mean[:, None], 0.0)
    rstd = jax.lax.rsqrt(jnp.sum(centered * centered, axis=1) / features + epsilon)
    gamma, beta = _vector(gamma_ref, columns, column_ok), _vector(beta_ref, columns, column_ok)
    y = centered * rstd[:, None] * gamma[None, :] + beta[None, :]
    plgpu.store(y_ref.at[rows[:, None], columns[None, :]], y.astype(y_ref.dtype), mask=mask)
    plgpu.store(mean_ref.at[rows], mean, mask=row_ok)
    plgpu.store(rstd_ref.at[rows], rstd, mask=row_ok)


def _backward_kernel(x_ref, gamma_ref, mean_ref, rstd_ref, dy_ref,
                     dx_ref, dgamma_ref, dbeta_ref, *, width):
    count, features = x_ref.shape
    program = pl.program_id(0)
    columns = jnp.arange(width)
    column_ok = columns < features
    gamma = _vector(gamma_ref, columns, column_ok)

    def block(i, sums):
        rows = (program * BACKWARD_BLOCKS + i) * ROWS + jnp.arange(ROWS)
        row_ok = rows < count
        x, mask = _tile(x_ref, rows, columns, row_ok, column_ok)
        dy, _ = _tile(dy_ref, rows, columns, row_ok, column_ok)
        mean = plgpu.load(mean_ref.at[rows], mask=row_ok, other=0.0)
        rstd = plgpu.load(rstd_ref.at[rows], mask=row_ok, other=0.0)
        normalized = jnp.where(mask, (x - mean[:, None]) * rstd[:, None], 0.0)
        scaled = dy * gamma[None, :]
        mean_scaled = jnp.sum(scaled, axis=1) / features
        projection = jnp.sum(scaled * normalized, axis=1) / features
        dx = rstd[:, None] * (scaled - mean_scaled[:, None] - normalized * projection[:, None])
        plgpu.store(dx_ref.at[rows[:, None], columns[None, :]], dx.astype(dx_ref.dtype),
                    mask=mask)
        dgamma, dbeta = sums
        return dgamma + jnp.sum(dy * normalized, axis=0), dbeta + jnp.sum(dy, axis=0)

    zeros = jnp.zeros((width,), jnp.float32)
    dgamma, dbeta = jax.lax.fori_loop(0, BACKWARD_BLOCKS, block, (zeros, zeros))
    plgpu.store(dgamma_ref.at[program, columns], dgamma, mask=column_ok)
    plgpu.store(dbeta_ref.at[program, columns], dbeta, mask=column_ok)


def _warps(width):
    return min(max(width * ROWS // 1024, 1), 8)


def _forward(x, gamma, beta, epsilon, dtype, interpret):
    count, features = x.shape
    width = pl.next_power_of_2(features)
    y, mean, rstd = pl.pallas_call(
        functools.partial(_forward_kernel, width=width, epsilon=epsilon),
        grid=(pl.cdiv(count, ROWS),),
        out_shape=[jax.ShapeDtypeStruct(x.shape, dtype),
                   jax.ShapeDtypeStruct((count,), jnp.float32),
                   jax.ShapeDtypeStruct((count,), jnp.float32)],
        compiler_params=plgpu.CompilerParams(num_warps=_warps(width)),
        interpret=interpret, name="layer_norm_forward",
    )(x, gamma, beta)
    return y, mean, rstd


def _backward(x, gamma, mean, rstd, dy, interpret):
    count, features = x.shape
    width = pl.next_power_of_2(features)
    programs = pl.cdiv(count, ROWS * BACKWARD_BLOCKS)
    dx, dgamma, dbeta = pl.pallas_call(
        functools.partial(_backward_kernel, width=width),
        grid=(programs,),
        out_shape=[jax.ShapeDtypeStruct(x.shape, x.dtype),
                   jax.ShapeDtypeStruct((programs, features), jnp.float32),
                   jax.ShapeDtypeStruct((programs, features), jnp.float32)],
        compiler_params=plgpu.CompilerParams(num_warps=_warps(width)),
        interpret=interpret, name="layer_norm_backward",
    )(x, gamma, mean, rstd, dy)
    return dx, jnp.sum(dgamma, axis=0), jnp.sum(dbeta, axis=0)


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4, 5))
def _layer_norm_rows(x, gamma, beta, epsilon, dtype, interpret):
    return _forward(x, gamma, beta, epsilon, dtype, interpret)[0]


def _layer_norm_rows_forward(x, gamma, beta, epsilon, dtype, interpret):
    y, mean, rstd = _forward(x, gamma, beta, epsilon, dtype, interpret)
    return y, (x, gamma, beta, mean, rstd)


def _layer_norm_rows_backward(epsilon, dtype, interpret, residuals, dy):
    x, gamma, beta, mean, rstd = residuals
    dx, dgamma, dbeta = _backward(x, gamma, mean, rstd, dy, interpret)
    return dx, dgamma.astype(gamma.dtype), dbeta.astype(beta.dtype)


_layer_norm_rows.defvjp(_layer_norm_rows_forward, _layer_norm_rows_backward)


def layer_norm(x, gamma, beta, epsilon, dtype=None, interpret=None):
    """LayerNorm of `x` over its last axis (float32 statistics, the output in `dtype`, by
    default `x`'s), its forward and its gradient each one Pallas kernel; `interpret` (default:
    where JAX has no GPU) runs them in Pallas' interpreter.

    Example:

    ```python
    import numpy as np
    y = layer_norm(np.array([[1.0, 2.0, 3.0]], "float32"), np.ones(3, "float32"),
                   np.zeros(3, "float32"), 1e-12)
    np.round(np.asarray(y), 4).tolist()  # [[-1.2247, 0.0, 1.2247]]
    ```
    """
    if interpret is None:
        interpret = jax.default_backend() != "gpu"
    x = jnp.asarray(x)
    dtype = jnp.dtype(dtype or x.dtype)
    if x.size == 0:  # no rows: no programs to run (an empty grid), and nothing to normalize
        return jnp.zeros(x.shape, dtype)
    rows = x.reshape(-1, x.shape[-1])
    return _layer_norm_rows(rows, gamma, beta, epsilon, dtype, interpret).reshape(x.shape)
