"""`LoraDense`: a `keras.layers.Dense` whose kernel can carry low-rank adapters (LoRA).

LoRA (Hu et al., 2021) trains `W + (alpha / rank) * A @ B` with the pretrained `W` frozen, `A`
`[in, rank]` and `B` `[rank, out]`, `B` zero-initialised so that enabling it changes nothing.
Keras' `Dense.enable_lora` does this for a whole kernel; BERT's attention here reads query, key
and value from ONE fused `[hidden, 3 * hidden]` kernel, where Hugging Face's peft adapts
`query` and `value` on their own. `LoraDense` covers both with one mechanism:

* `num_slices=1` (attention output, intermediate, output): `enable_lora` is Keras' own
  (variables `lora_kernel_a`, `lora_kernel_b`, as keras-hub's backbones have them);
* `num_slices=3` (the fused qkv): the kernel is 3 equal column blocks and each adapted block
  gets its own `lora_kernel_a_{i}` / `lora_kernel_b_{i}`; the adapted kernel is
  `kernel + concat([A_0 @ B_0, 0, A_2 @ B_2]) * alpha / rank` for query and value, with no
  variable at all for the block left alone.

Unlike Keras' `Dense` (which stays trainable apart from its kernel), an adapted layer freezes its
bias too: only the adapters train (peft's default, `bias="none"`). Keras' `Dense` saves the
merged kernel and zeroes the adapters on load; `LoraDense` saves the frozen kernel and the
adapters as they are, so a `.keras` / `.weights.h5` round trip gives back the same weights, not
only the same outputs. `merge_lora()` folds the adapters into the kernel and removes them.

Input gradient: with `batched_input_gradient=True`, while training on a backend where it is
faster (`execution.batches_input_gradients()`: TensorFlow), a 2-D input's gradient is computed
as a one-batch matmul with the kernel's adjoint (`project_with_batched_input_gradient`) instead
of autodiff's 2-D `MatMul` with `transpose_b`. The encoder block sets it on its intermediate
projection, the one whose input gradient contracts over the widest axis (BERT-base train step
on 2 CPU cores: 1.003-1.027x in eight interleaved A/Bs; with the fused q/k/v projection too,
0.95-1.01x, so only there). Same values, the same gradients up to float rounding.

Quantization: `quantize("int8")` (what `model.quantize("int8")` calls on every leaf layer) is
Keras' own `Dense.quantize`, which skips subclasses unless they opt in; `LoraDense` opts in
when it has no adapters (merge them first).

Precision: the adapters are float32 (Keras' choice, against underflow in their small updates);
outside a call `kernel` is the merged float32 kernel, inside one under `mixed_bfloat16` the
autocast kernel plus the delta in the compute dtype.
"""

import keras
from keras import ops

from keras_bert_impl.keras_private import adding_variables, dense_kernel, remove_variable
from keras_bert_impl.layers.execution import batches_input_gradients


def project_with_batched_input_gradient(x, kernel, bias):
    """`x @ kernel + bias` for a 2-D `x`, differentiated with the input gradient as the batched
    matmul `[1, rows, units] x [1, in, units]^T` (TensorFlow: `BatchMatMulV2` with `adj_y`),
    the kernel's gradient as `x^T @ dy` and the bias's as the sum of `dy` over rows.

    Example:

    ```python
    import numpy as np
    x, kernel = np.ones((2, 3), "float32"), np.ones((3, 4), "float32")
    y = project_with_batched_input_gradient(x, kernel, np.zeros(4, "float32"))
    np.asarray(y).tolist()[0]  # [3.0, 3.0, 3.0, 3.0]
    ```
    """

    @ops.custom_gradient
    def project(x, kernel, bias):
        def gradient(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            input_gradient = ops.matmul(upstream[None], ops.transpose(kernel)[None])
            return (ops.squeeze(input_gradient, 0), ops.matmul(ops.transpose(x), upstream),
                    ops.sum(upstream, axis=0))

        return ops.matmul(x, kernel) + bias, gradient

    return project(x, kernel, bias)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class LoraDense(keras.layers.Dense):
    """A `Dense` layer with optional low-rank adapters on its whole kernel or on equal column
    slices of it.

    Without LoRA it is `keras.layers.Dense` (same variables, same saved layout).

    Args:
        units: output width; a multiple of `num_slices`.
        num_slices: the kernel's equal column blocks that adapters can target one by one
            (3 for a fused query/key/value projection).
        lora_slices: the slices adapted when built with `lora_rank` (`from_config`); `None`
            is all of them.
        batched_input_gradient: while training, compute a 2-D input's gradient as a batched
            matmul where the backend runs that faster (`project_with_batched_input_gradient`).
        **kwargs: `keras.layers.Dense`'s arguments (`lora_rank`, `lora_alpha` included).

    Example:

    ```python
    import numpy as np
    qkv = LoraDense(12, num_slices=3)
    qkv.build((None, 4))
    qkv.enable_lora(2, slices=(0, 2))  # query and value only
    len(qkv.trainable_weights), tuple(qkv.lora_kernel_b_2.shape)  # (4, (2, 4))
    x = np.ones((1, 4), "float32")
    before = qkv(x)
    qkv.merge_lora()
    bool(np.allclose(qkv(x), before)), qkv.lora_enabled  # (True, False)
    ```
    """

    def __init__(self, units, num_slices=1, lora_slices=None, batched_input_gradient=False,
                 **kwargs):
        super().__init__(units, **kwargs)
        if isinstance(num_slices, bool) or not isinstance(num_slices, int) or num_slices < 1 \
                or units % num_slices:
            raise ValueError(f"num_slices must be a positive integer dividing units ({units}); "
                             f"got {num_slices!r}.")
        self.num_slices = num_slices
        self.lora_slices = None if lora_slices is None else tuple(lora_slices)
        self.batched_input_gradient = bool(batched_input_gradient)

    def build(self, input_shape):
        # Dense.build would call enable_lora(rank) and drop alpha and the slices: do it here.
        rank, alpha = self.lora_rank, self.lora_alpha
        self.lora_rank = None
        super().build(input_shape)
        if rank:
            self.enable_lora(rank, alpha, slices=self.lora_slices)

    def call(self, inputs, training=None):
        if not (training and self.batched_input_gradient and batches_input_gradients()
                and len(inputs.shape) == 2 and self.bias is not None
                and self.quantization_mode is None):
            return super().call(inputs, training=training)
        kernel = ops.cast(self.kernel, self.compute_dtype)
        outputs = project_with_batched_input_gradient(
            inputs, kernel, ops.cast(self.bias, self.compute_dtype))
        return outputs if self.activation is None else self.activation(outputs)

    # --- LoRA ---------------------------------------------------------------------------
    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform",
                    b_initializer="zeros", slices=None):
        """Adds rank-`rank` adapters (`B` zero, so outputs are unchanged) and freezes the
        kernel and bias; the adapted kernel is `kernel + delta * lora_alpha / rank`
        (`lora_alpha` defaults to `rank`). `slices`: indices of the column blocks to adapt
        (default all); a layer of one slice takes Keras' own `Dense.enable_lora`."""
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ValueError(f"LoRA rank must be a positive integer, got {rank!r}.")
        slices = tuple(range(self.num_slices)) if slices is None else tuple(sorted(set(slices)))
        if not slices or any(not 0 <= i < self.num_slices for i in slices):
            raise ValueError(f"slices must be indices in [0, {self.num_slices}) of the "
                             f"kernel's column blocks; got {slices!r}.")
        if self.num_slices == 1:
            super().enable_lora(rank, lora_alpha, a_initializer, b_initializer)
        else:
            self._enable_sliced_lora(rank, lora_alpha, a_initializer, b_initializer, slices)
        self.lora_slices = slices
        if self.bias is not None:
            self.bias.trainable = False

    def _enable_sliced_lora(self, rank, lora_alpha, a_initializer, b_initializer, slices):
        if not self.built:
            raise ValueError("Cannot enable lora on a layer that isn't yet built.")
        if self.lora_enabled:
            raise ValueError("lora is already enabled. This can only be done once per layer.")
        if self.kernel_constraint or self.quantization_mode:
            raise ValueError("LoRA on column slices needs a float kernel without constraint; "
                             f"this layer has kernel_constraint={self.kernel_constraint!r}, "
                             f"quantization_mode={self.quantization_mode!r}.")
        kernel = dense_kernel(self)
        input_dim, width = kernel.shape[0], self.units // self.num_slices
        with adding_variables(self):
            for i in slices:
                for name, shape, initializer in (("a", (input_dim, rank), a_initializer),
                                                 ("b", (rank, width), b_initializer)):
                    setattr(self, f"lora_kernel_{name}_{i}", self.add_weight(
                        name=f"lora_kernel_{name}_{i}", shape=shape,
                        initializer=keras.initializers.get(initializer), dtype="float32",
                        regularizer=self.kernel_regularizer))
        kernel.trainable = False
        self.lora_enabled = True
        self.lora_rank = rank
        self.lora_alpha = lora_alpha if lora_alpha is not None else rank

    def _adapter_attributes(self):
        if self.num_slices == 1:
            return ["lora_kernel_a", "lora_kernel_b"]
        return [f"lora_kernel_{ab}_{i}" for i in self.lora_slices for ab in "ab"]

    def lora_adapters(self):
        """`[(slice_index, A, B)]`, the adapter variables in slice order (`[]` without
        LoRA)."""
        if not self.lora_enabled:
            return []
        if self.num_slices == 1:
            return [(0, self.lora_kernel_a, self.lora_kernel_b)]
        return [(i, getattr(self, f"lora_kernel_a_{i}"), getattr(self, f"lora_kernel_b_{i}"))
                for i in self.lora_slices]

    def lora_delta(self):
        """`(lora_alpha / lora_rank) * concat(A_i @ B_i, zeros for the other slices)`, the
        `[in, units]` update the adapters make to the kernel."""
        products = {i: ops.matmul(a, b) for i, a, b in self.lora_adapters()}
        if self.num_slices == 1:
            delta = products[0]
        else:
            some = next(iter(products.values()))
            zeros = ops.zeros(ops.shape(some), dtype=keras.backend.standardize_dtype(some.dtype))
            delta = ops.concatenate(
                [products.get(i, zeros) for i in range(self.num_slices)], axis=-1)
        return ops.multiply(delta, ops.cast(self.lora_alpha / self.lora_rank, delta.dtype))

    @property
    def kernel(self):
        if not self.lora_enabled or self.quantization_mode:
            return super().kernel
        kernel = ops.convert_to_tensor(dense_kernel(self))
        dtype = keras.backend.standardize_dtype(kernel.dtype)
        return ops.add(kernel, ops.cast(self.lora_delta(), dtype))

    def merge_lora(self):
        """Folds the adapters into the kernel (in the variables' dtype), removes them and
        makes kernel and bias trainable again: a plain `Dense` computing the same outputs."""
        if not self.lora_enabled:
            raise ValueError(f"Layer {self.name!r} has no LoRA adapters to merge.")
        if self.quantization_mode:
            raise NotImplementedError("merge_lora() of a quantized layer is not supported.")
        kernel = dense_kernel(self)
        kernel.assign(ops.cast(self.kernel, kernel.dtype))
        for name in self._adapter_attributes():
            remove_variable(self, name)
        kernel.trainable = True
        if self.bias is not None:
            self.bias.trainable = True
        self.lora_enabled = False
        self.lora_rank = self.lora_alpha = self.lora_slices = None

    # --- quantization ---------------------------------------------------------------------
    def quantize(self, mode=None, type_check=True, config=None):
        """Keras' `Dense.quantize` (int8: per-output-channel scales, `kernel_scale`), which
        refuses subclasses unless told otherwise: `LoraDense` without adapters is a `Dense`.
        Adapters are refused: `merge_lora()` first."""
        if type_check and type(self) is not LoraDense:
            raise self._not_implemented_error(self.quantize)
        if self.lora_enabled:
            raise ValueError(f"Layer {self.name!r} has LoRA adapters; merge_lora() before "
                             "quantize() (the adapters are folded into the kernel, which is "
                             "then quantized).")
        super().quantize(mode, type_check=False, config=config)

    # --- saving: the frozen kernel and the adapters as they are ---------------------------
    def _saved_variables(self):
        own = [dense_kernel(self)] + ([self.bias] if self.bias is not None else [])
        return own + [v for _, a, b in self.lora_adapters() for v in (a, b)]

    def save_own_variables(self, store):
        if not self.lora_enabled or self.quantization_mode:
            return super().save_own_variables(store)
        for i, variable in enumerate(self._saved_variables()):
            store[str(i)] = variable

    def load_own_variables(self, store):
        if not self.lora_enabled or self.quantization_mode:
            return super().load_own_variables(store)
        variables = self._saved_variables()
        if len(store.keys()) != len(variables):
            raise ValueError(
                f"Layer {self.name!r} has LoRA adapters (rank {self.lora_rank}, slices "
                f"{list(self.lora_slices)}): it loads {len(variables)} variables (kernel, "
                f"bias, adapters), but the saved layer holds {len(store.keys())}. Load "
                f"weights saved without LoRA before enable_lora(), and weights saved with "
                f"LoRA into a model with the same LoRA settings.")
        for i, variable in enumerate(variables):
            variable.assign(store[str(i)])

    def get_config(self):
        config = super().get_config()
        config["num_slices"] = self.num_slices
        if self.batched_input_gradient:
            config["batched_input_gradient"] = True
        if self.lora_enabled:
            config["lora_slices"] = list(self.lora_slices)
        return config
