"""Optimizers and learning-rate schedules for BERT, with the reference's weight-decay rule.

* **Weight decay rule** (google-research/bert `optimization.py`, TF Model Garden): no decay on
  LayerNorm parameters and biases. Keras names LayerNorm parameters `gamma`/`beta` and biases
  `bias` (our MLM head's is `output_bias`); the reference excludes `LayerNorm`, `layer_norm`
  and `bias`. `NO_DECAY_NAMES` holds our spelling of that rule; both optimizers apply it.
* **AdamW** (`create_adamw`): Keras' `AdamW` (decoupled decay `w -= lr * wd * w`, then the
  bias-corrected Adam step) with BERT's betas/epsilon and the exclusions above, which are part
  of its config (Keras' own `AdamW` drops them on `get_config`, so a reloaded `.keras` model
  would decay LayerNorm and biases).
* **One fused update per variable** (TensorFlow backend): Keras' `AdamW` is about fifteen
  elementwise kernels per variable and step (the decay pass, then `m`, `v` and the update, each
  op a pass over memory): 0.38 s per step for BERT-base's 109M parameters on a 2-core CPU, an
  eighth of the train step. Our `AdamW.update_step` computes the same formula, in the same
  order, as one XLA-compiled kernel per variable that reads `w, m, v, g` once and writes
  `w, m, v` once, the decay included (0.125 s). JAX compiles Keras' ops into such a kernel by
  itself, so there (and with `amsgrad`) Keras' own update runs. A gather's sparse gradient
  (an embedding table's, in fine-tuning) is summed into the dense gradient first, as TF's
  Keras 2 Adam deduplicated it: Adam of the true gradient. (Keras 3's own update squares each
  repeat of a row before summing them into `v`.)
* **LAMB** (`Lamb`): You et al. 2019 as TF Model Garden's `LAMB` computes it: the Adam
  direction plus `wd * w` (for decayed variables) scaled by the trust ratio
  `||w|| / ||update||`; variables excluded from decay also skip layer adaptation (ratio 1),
  as Model Garden's default. Keras ships a `Lamb` without weight decay in the update, so we
  own this one.
* **Schedule** (`WarmupPolynomialDecay`): the reference's: linear warmup `peak * step / warmup`
  for `step < warmup_steps`, then polynomial decay computed on the *global* step,
  `(peak - end) * (1 - step / decay_steps) ** power + end`, so that the rate reaches `end`
  exactly at `decay_steps`. `power=1` is linear decay. Steps are optimizer updates (with
  gradient accumulation, one update per `gradient_accumulation_steps` batches).
* **Clipping / accumulation**: `global_clipnorm` and Keras' `gradient_accumulation_steps`
  (gradients averaged over N batches, then clipped, decayed and applied once).
* **Clipping under `tf.distribute`**: Keras 3.15 clips each replica's *partial* gradient
  before the cross-replica sum, so `global_clipnorm` means something different on 1 and on N
  replicas (and a mirrored run drifts from a one-device run of the same global batch). Our
  optimizers (`ReplicaGlobalClipMixin`) compute the norm of the *summed* gradient (one extra
  all-reduce of the gradients, only when clipping is on and there is more than one replica)
  and scale every replica's gradient by the same factor, so the clipped global gradient is
  the one a single device computes. Turn clipping off (`clipnorm=0`) to save that all-reduce.

`create_optimizer(...)` builds any of these from plain values (the CLI's flags).
"""

import functools
import warnings

import keras
from keras import ops

from keras_bert_impl.keras_private import (
    ClipGradientsHook,
    ScheduleOnUpdatesHook,
    WeightDecayHook,
    adam_moments,
    uses_weight_decay,
    variable_index,
)

NO_DECAY_NAMES = ("gamma", "beta", "bias")
OPTIMIZERS = ("adamw", "lamb")


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class WarmupPolynomialDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup, then polynomial (default linear) decay to `end_learning_rate`.

    Args:
        peak_learning_rate: the rate reached at the end of warmup.
        decay_steps: the step at which the rate reaches `end_learning_rate` (the total
            number of optimizer updates); the rate stays there afterwards.
        warmup_steps: number of warmup steps (0 disables warmup).
        end_learning_rate: final rate.
        power: polynomial power; 1.0 is linear decay.

    Example:

    ```python
    schedule = WarmupPolynomialDecay(1e-4, decay_steps=1000, warmup_steps=100)
    float(schedule(50))    # 5e-05 (half-way through warmup)
    float(schedule(100))   # 9e-05 (reference semantics: decay runs on the global step)
    float(schedule(1000))  # 0.0
    ```
    """

    def __init__(
        self,
        peak_learning_rate,
        decay_steps,
        warmup_steps=0,
        end_learning_rate=0.0,
        power=1.0,
    ):
        if not peak_learning_rate > 0:
            raise ValueError(f"peak_learning_rate must be > 0, got {peak_learning_rate!r}.")
        if int(decay_steps) <= 0:
            raise ValueError(f"decay_steps must be a positive integer, got {decay_steps!r}.")
        if not 0 <= int(warmup_steps) <= int(decay_steps):
            raise ValueError(
                f"warmup_steps ({warmup_steps!r}) must be in [0, decay_steps={decay_steps}]."
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.decay_steps = int(decay_steps)
        self.warmup_steps = int(warmup_steps)
        self.end_learning_rate = float(end_learning_rate)
        self.power = float(power)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        fraction = ops.minimum(step, float(self.decay_steps)) / float(self.decay_steps)
        decayed = (self.peak_learning_rate - self.end_learning_rate) * ops.power(
            1.0 - fraction, self.power
        ) + self.end_learning_rate
        if self.warmup_steps == 0:
            return decayed
        warmup = self.peak_learning_rate * step / float(self.warmup_steps)
        return ops.where(step < float(self.warmup_steps), warmup, decayed)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "decay_steps": self.decay_steps,
            "warmup_steps": self.warmup_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
        }


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class FitLengthWarmupDecay(WarmupPolynomialDecay):
    """`WarmupPolynomialDecay` whose length is set by the first `fit` of a task model.

    The default schedule of our task models' `compile()`: the number of updates is only known
    when `fit` sees the data and the epochs, so `fit` calls `set_total_steps(epochs *
    steps_per_epoch)`, which sets `decay_steps` and `warmup_steps = warmup_fraction *
    decay_steps` (Google's `warmup_proportion`, 0.1). Until then (and when the length cannot
    be known: an endless dataset without `steps_per_epoch`) the rate is the constant peak.
    A later `fit` continues the schedule; one that starts after it has ended (where it would
    train at `end_learning_rate`, 0 by default) sets it again from the update it starts at
    (`start_step`): a new warmup and decay over that fit.

    Example:

    ```python
    schedule = FitLengthWarmupDecay(2e-5)
    float(schedule(10))  # 2e-05 (length not set yet)
    schedule.set_total_steps(100)
    float(schedule(5))  # 1e-05 (half-way through the 10 warmup steps)
    float(schedule(100))  # 0.0
    schedule.set_total_steps(50, start_step=100)  # a second fit, after the first one's end
    float(schedule(105))  # 2e-05 (the end of its 5 warmup steps)
    ```
    """

    def __init__(self, peak_learning_rate, warmup_fraction=0.1, decay_steps=None,
                 end_learning_rate=0.0, power=1.0, start_step=0):
        if not 0.0 <= float(warmup_fraction) < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction!r}.")
        self.warmup_fraction = float(warmup_fraction)
        super().__init__(peak_learning_rate, decay_steps=1, warmup_steps=0,
                         end_learning_rate=end_learning_rate, power=power)
        self.decay_steps = None
        self.start_step = 0
        if decay_steps is not None:
            self.set_total_steps(decay_steps, start_step)

    @property
    def is_set(self):
        return self.decay_steps is not None

    @property
    def end_step(self):
        """The update at which the rate reaches `end_learning_rate` (`None` until set)."""
        return None if self.decay_steps is None else self.start_step + self.decay_steps

    def set_total_steps(self, total_steps, start_step=0):
        """Sets the schedule's length (optimizer updates) from update `start_step` on;
        warmup is `warmup_fraction` of it."""
        if int(total_steps) <= 0:
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}.")
        if int(start_step) < 0:
            raise ValueError(f"start_step must be 0 or more, got {start_step!r}.")
        self.decay_steps = int(total_steps)
        self.warmup_steps = int(self.warmup_fraction * self.decay_steps)
        self.start_step = int(start_step)

    def __call__(self, step):
        if self.decay_steps is None:
            return ops.cast(ops.full((), self.peak_learning_rate), "float32")
        if self.start_step:
            step = ops.maximum(ops.cast(step, "float32") - float(self.start_step), 0.0)
        return super().__call__(step)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_fraction": self.warmup_fraction,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "start_step": self.start_step,
        }


def _scale_gradient(gradient, factor):
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(
            gradient.values * tf.cast(factor, gradient.values.dtype),
            gradient.indices,
            gradient.dense_shape,
        )
    return gradient * tf.cast(factor, gradient.dtype)


def _handle(variable):
    """The TensorFlow resource handle of a Keras or tf variable (a mirrored one's local copy
    inside `tf.distribute`'s update call)."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable.handle


class ReplicaGlobalClipMixin(ClipGradientsHook):
    """Global-norm clipping on the cross-replica *sum* of gradients (see module docstring)."""

    def clip_gradients_hook(self, grads, keras_clip):
        if not self.global_clipnorm or keras.backend.backend() != "tensorflow":
            return keras_clip(grads)
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return keras_clip(grads)
        present = [g for g in grads if g is not None]
        summed = context.all_reduce(tf.distribute.ReduceOp.SUM, present)
        norm = tf.linalg.global_norm([tf.convert_to_tensor(g) for g in summed])
        factor = tf.minimum(1.0, self.global_clipnorm / tf.maximum(norm, 1e-12))
        return [None if g is None else _scale_gradient(g, factor) for g in grads]


@functools.cache
def _fused_adamw_step():
    """The TensorFlow function that applies decoupled decay and the Adam step to one variable,
    compiled by XLA into one kernel (built on first use; XLA compiles once per shape).

    Arguments: the resource handles of the variable, `m` and `v`; the gradient (in the
    variable's dtype); the scalars `decay = weight_decay * lr` (0 when excluded), `alpha =
    lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`, `1 - beta_1`, `1 - beta_2`, `epsilon`.
    """
    import tensorflow as tf

    def read(handle, dtype):
        return tf.raw_ops.ReadVariableOp(resource=handle, dtype=dtype)

    @tf.function(jit_compile=True, autograph=False)
    def step(variable, m, v, gradient, decay, alpha, one_minus_beta_1, one_minus_beta_2,
             epsilon):
        w = read(variable, gradient.dtype)
        w = w - w * decay
        m_new = read(m, gradient.dtype)
        m_new = m_new + (gradient - m_new) * one_minus_beta_1
        v_new = read(v, gradient.dtype)
        v_new = v_new + (tf.square(gradient) - v_new) * one_minus_beta_2
        tf.raw_ops.AssignVariableOp(resource=m, value=m_new)
        tf.raw_ops.AssignVariableOp(resource=v, value=v_new)
        tf.raw_ops.AssignVariableOp(resource=variable,
                                    value=w - m_new * alpha / (tf.sqrt(v_new) + epsilon))

    return step


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class AdamW(ReplicaGlobalClipMixin, ScheduleOnUpdatesHook, WeightDecayHook,
            keras.optimizers.AdamW):
    """Keras' `AdamW` with BERT's decay exclusions, serialized, and cross-replica clipping.

    Keras' `AdamW.exclude_from_weight_decay(var_names=...)` is not part of its `get_config`,
    so a reloaded optimizer (`from_config`, a `.keras` file of a compiled model) would decay
    everything. Here the exclusions are a constructor argument and part of the config.

    On the TensorFlow backend each variable's decay and Adam step run as one fused kernel
    (see the module docstring); the result is Keras' `AdamW`'s within float32 rounding.

    Args:
        exclude_from_decay: substrings of variable names that get no weight decay (default
            `NO_DECAY_NAMES`: LayerNorm `gamma`/`beta` and biases); `()` decays everything.
        *args, **kwargs: Keras `AdamW` arguments (`learning_rate`, `weight_decay`,
            `global_clipnorm`, ...).

    Example:

    ```python
    optimizer = AdamW(learning_rate=1e-4, weight_decay=0.01, global_clipnorm=1.0)
    restored = AdamW.from_config(optimizer.get_config())
    restored.exclude_from_decay  # ('gamma', 'beta', 'bias')
    ```
    """

    def __init__(self, *args, exclude_from_decay=NO_DECAY_NAMES, **kwargs):
        super().__init__(*args, **kwargs)
        self.exclude_from_decay = ()
        self._excludes_variables = False
        if exclude_from_decay:
            self.exclude_from_weight_decay(var_names=list(exclude_from_decay))

    def _fuses_update(self):
        return keras.backend.backend() == "tensorflow" and not self.amsgrad

    def apply_weight_decay_hook(self, variables, keras_decay):
        if not self._fuses_update():
            keras_decay(variables)
        # else: update_step decays each variable in the same kernel as its Adam step.

    def update_step(self, gradient, variable, learning_rate):
        if not self._fuses_update():
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        m, v = adam_moments(self, variable)
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        alpha = lr * tf.sqrt(1 - tf.pow(tf.cast(self.beta_2, dtype), step)) / (
            1 - tf.pow(tf.cast(self.beta_1, dtype), step))
        decay = (tf.cast(self.weight_decay, dtype) * lr if uses_weight_decay(self, variable)
                 else tf.zeros((), dtype))
        _fused_adamw_step()(
            _handle(variable), _handle(m), _handle(v),
            tf.cast(tf.convert_to_tensor(gradient), dtype),
            decay, alpha, tf.cast(1 - self.beta_1, dtype), tf.cast(1 - self.beta_2, dtype),
            tf.cast(self.epsilon, dtype))

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Keras' method (replaces earlier exclusions), recording `var_names` for the config.

        Exclusions by variable (`var_list`) cannot be serialized; `get_config` warns about
        them. Prefer `var_names` (or the `exclude_from_decay` argument).
        """
        super().exclude_from_weight_decay(var_list=var_list, var_names=var_names)
        self.exclude_from_decay = tuple(var_names or ())
        self._excludes_variables = bool(var_list)

    def get_config(self):
        if self._excludes_variables:
            warnings.warn(
                "AdamW.get_config(): exclusions given as `var_list` (variables) are not "
                "serialized; the reloaded optimizer decays those variables. Exclude them by "
                "name instead: exclude_from_weight_decay(var_names=[...]).",
                stacklevel=2,
            )
        config = super().get_config()
        config["exclude_from_decay"] = list(self.exclude_from_decay)
        return config


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class Lamb(ReplicaGlobalClipMixin, ScheduleOnUpdatesHook, keras.optimizers.Optimizer):
    """LAMB with BERT's weight-decay rule (decay inside the trust-ratio update).

    For each variable `w` with gradient `g` at update `t`:

    ```
    m = b1 m + (1 - b1) g;      v = b2 v + (1 - b2) g^2
    u = (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd * w     # wd only if decayed
    r = ||w|| / ||u||  (1 if either norm is 0, or if w is excluded from decay)
    w = w - lr * r * u
    ```

    Args:
        learning_rate: float or schedule.
        weight_decay: decay rate added to the update (not Keras' decoupled decay).
        beta_1, beta_2, epsilon: Adam moments.
        exclude_from_decay: substrings of variable names that get no decay and no layer
            adaptation (default `NO_DECAY_NAMES`).
        **kwargs: Keras optimizer arguments (`global_clipnorm`,
            `gradient_accumulation_steps`, ...).

    Example:

    ```python
    import numpy as np
    optimizer = Lamb(learning_rate=1e-3, weight_decay=0.01)
    w = keras.Variable(np.ones((2, 2), "float32"), name="kernel")
    optimizer.apply([np.full((2, 2), 0.5, "float32")], [w])
    ```
    """

    def __init__(
        self,
        learning_rate=1e-3,
        weight_decay=0.01,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-6,
        exclude_from_decay=NO_DECAY_NAMES,
        name="lamb",
        **kwargs,
    ):
        # The decay is part of the update here, so Keras' decoupled decay stays off.
        kwargs.pop("weight_decay", None)
        super().__init__(learning_rate=learning_rate, name=name, weight_decay=None, **kwargs)
        self.lamb_weight_decay = float(weight_decay or 0.0)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.exclude_from_decay = tuple(exclude_from_decay or ())

    def _decays(self, variable):
        path = getattr(variable, "path", None) or variable.name
        return self.lamb_weight_decay > 0 and not any(
            name in path for name in self.exclude_from_decay
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._lamb_m, self._lamb_v = self.add_optimizer_variables(
            var_list, ["momentum", "velocity"]
        )
        self._decay_flags = [self._decays(v) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        index = variable_index(self, variable)
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        m = self._lamb_m[index]
        v = self._lamb_v[index]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        m_hat = ops.divide(m, 1.0 - ops.power(ops.cast(self.beta_1, dtype), step))
        v_hat = ops.divide(v, 1.0 - ops.power(ops.cast(self.beta_2, dtype), step))
        update = ops.divide(m_hat, ops.add(ops.sqrt(v_hat), self.epsilon))
        if self._decay_flags[index]:
            update = update + ops.cast(self.lamb_weight_decay, dtype) * variable
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            u_norm = ops.sqrt(ops.sum(ops.square(update)))
            ratio = ops.where(
                ops.logical_and(w_norm > 0, u_norm > 0),
                w_norm / ops.maximum(u_norm, 1e-30),
                ops.ones_like(w_norm),
            )
            update = ratio * update
        self.assign_sub(variable, lr * update)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "weight_decay": self.lamb_weight_decay,
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "epsilon": self.epsilon,
                "exclude_from_decay": list(self.exclude_from_decay),
            }
        )
        return config


def create_adamw(learning_rate=1e-4, weight_decay=0.01, clipnorm=None, **kwargs):
    """AdamW as BERT uses it: betas (0.9, 0.999), epsilon 1e-6, no decay on LN and biases.

    Args:
        learning_rate: float or schedule.
        weight_decay: decoupled decay rate.
        clipnorm: global-norm clipping threshold (`None` = off).
        **kwargs: other Keras optimizer arguments (`gradient_accumulation_steps`, ...).

    Example:

    ```python
    optimizer = create_adamw(learning_rate=5e-5)
    ```
    """
    kwargs.setdefault("beta_1", 0.9)
    kwargs.setdefault("beta_2", 0.999)
    kwargs.setdefault("epsilon", 1e-6)
    kwargs.setdefault("exclude_from_decay", NO_DECAY_NAMES)
    return AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        global_clipnorm=clipnorm,
        **kwargs,
    )


def create_optimizer(
    name="adamw",
    learning_rate=1e-4,
    total_steps=None,
    warmup_steps=0,
    end_learning_rate=0.0,
    power=1.0,
    weight_decay=0.01,
    clipnorm=1.0,
    gradient_accumulation_steps=None,
):
    """An optimizer from plain values: `adamw` or `lamb`, warmup + decay, clipping, accumulation.

    Args:
        name: `"adamw"` or `"lamb"`.
        learning_rate: peak learning rate.
        total_steps: optimizer updates until the rate reaches `end_learning_rate`; `None`
            keeps the rate constant (no schedule).
        warmup_steps: linear warmup steps.
        end_learning_rate, power: the decay's end value and polynomial power (1 = linear).
        weight_decay: decay rate (LayerNorm and biases excluded).
        clipnorm: global-norm clipping threshold, `None`/0 for none (the reference uses 1.0).
        gradient_accumulation_steps: average gradients over this many batches per update
            (`None` or 1 = off).

    Example:

    ```python
    optimizer = create_optimizer("lamb", 1e-3, total_steps=1000, warmup_steps=100)
    ```
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer {name!r}; choose one of {OPTIMIZERS}.")
    if total_steps:
        learning_rate = WarmupPolynomialDecay(
            learning_rate,
            decay_steps=total_steps,
            warmup_steps=warmup_steps,
            end_learning_rate=end_learning_rate,
            power=power,
        )
    kwargs = {}
    if gradient_accumulation_steps and gradient_accumulation_steps > 1:
        kwargs["gradient_accumulation_steps"] = int(gradient_accumulation_steps)
    clipnorm = clipnorm or None
    if name == "adamw":
        return create_adamw(learning_rate, weight_decay, clipnorm=clipnorm, **kwargs)
    return Lamb(learning_rate, weight_decay=weight_decay, global_clipnorm=clipnorm, **kwargs)
