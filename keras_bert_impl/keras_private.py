"""Every private Keras (and `tf.distribute`) name the package relies on, in one place.

Keras is pinned (`pyproject.toml`); the names below have no public alias in that version. The
rest of the package reaches them only through this module, so an upgrade has one file to
read, and `tests/test_keras_private.py` fails naming the Keras version and the name as soon as
a pinned version drops one or changes its signature.

Private names used, with why:

* `keras.optimizers.Optimizer._clip_gradients(grads)`: the one hook that sees all gradients
  of a step after aggregation and before the update; our cross-replica global-norm clipping
  replaces it (`ClipGradientsHook`).
* `keras.optimizers.Optimizer._get_variable_index(variable)`: the slot index of a variable in
  `update_step` (a mirrored variable arrives as a different object than the one `build` saw;
  only Keras' `_var_key` maps both to one key); `Lamb` uses it (`variable_index`).
* `keras.optimizers.Optimizer._apply_weight_decay(variables)`: Keras applies decoupled weight
  decay as a pass of its own over every variable, before the update step; `AdamW` folds it
  into its fused update step instead (`WeightDecayHook`).
* `keras.optimizers.Optimizer._get_current_learning_rate()`: Keras calls a learning-rate
  schedule with `_iterations`, the count of `apply` calls, which under
  `gradient_accumulation_steps=N` is N per update, so a schedule sized in updates (ours:
  warmup and decay lengths are optimizer updates) would warm up N times too briefly and reach
  its end rate after 1/N of the run; our optimizers call it with `iterations`, the updates
  (`ScheduleOnUpdatesHook`).
* `keras.optimizers.Optimizer._use_weight_decay(variable)`: whether a variable is decayed
  (Keras' exclusion lists and patterns), and `keras.optimizers.Adam._momentums` /
  `_velocities`: Adam's slot variables, which have no public accessor; `AdamW`'s fused update
  reads and writes them (`uses_weight_decay`, `adam_moments`).
* `Model._distribute_strategy` (TensorFlow trainer): the strategy the model was created under,
  or `None`; the public `distribute_strategy` falls back to the default strategy and cannot
  say "none", which `patch_multi_worker_fit`'s build needs to know.
* `Model._maybe_symbolic_build(iterator, data_batch)` and `Model._symbolic_build(data_batch)`
  (TensorFlow trainer): the first reduces a data batch across replicas with "MEAN", which
  fails for a bool input (`padding_mask`) under any strategy and for every input under
  `MultiWorkerMirroredStrategy` (keras-team/keras#20585); our models build from one local
  replica's batch instead (`OneReplicaBuildHook`; `patch_multi_worker_fit` for any model).
* `Model.train_function` / `Model.test_function`: the traced step functions, cached; reset to
  `None` so that `fit` re-traces the patched steps.
* `MultiWorkerMirroredStrategy.extended._in_multi_worker_mode()` (TensorFlow): whether the
  strategy spans several workers; no public property says so (`in_multi_worker_mode`).

* `keras.callbacks.TensorBoard._log_epoch_metrics(epoch, logs)` and its `summary` module:
  Keras leaves its batch-level `record_if(step % update_freq == 0)` in force when it writes
  the epoch scalars, so an epoch whose last step is not a multiple of `update_freq` loses
  its `epoch_*` and validation scalars; `TensorBoard` writes them unconditionally.

* `Dense._kernel`, `Layer._tracker` (`unlock()` / `lock()`) and
  `Layer._untrack_variable(variable)`: `LoraDense` (`layers/lora.py`) adds adapter variables to
  a built `Dense` and removes them again, as Keras' own `Dense.enable_lora` does; `_kernel` is
  the kernel variable behind the `kernel` property, which adds the adapters
  (`dense_kernel`, `adding_variables`, `remove_variable`). Removing through `del` would work
  too, but Keras' `Layer.__delattr__` runs a full `gc.collect()` per variable (about 0.5 s
  each in a process with TensorFlow loaded: half a minute to merge BERT-base's adapters).

* `Layer._int8_call(*args, **kwargs)`, `Layer._is_quantized` and `Layer._flatten_layers()`:
  Keras' int8 quantization. A layer whose dtype policy is `int8_from_*` is called through
  `_int8_call` instead of `call`, and Keras' `quantize` wrapper refuses a layer whose
  `_is_quantized` is set; `BertEmbeddings` implements these hooks the way Keras' `Embedding`
  does (`Int8CallHook`, `mark_quantized`). `Model.quantize` walks `_flatten_layers()` and
  quantizes only leaf layers; `flatten_layers` gives the same walk to the code that quantizes
  the rest and records the quantized layers' policies (`keras_bert_impl.models.quantize`).

Reproduced rather than imported (the `keras.src` function is not public API):

* `keras.src.losses.loss.scale_loss_for_distribution`: `scale_loss_for_replicas`.
"""

import contextlib
import types

import keras

# The names above, as the drift test checks them: (owner, attribute).
PRIVATE_NAMES = (
    ("keras.optimizers.Optimizer", "_clip_gradients"),
    ("keras.optimizers.Optimizer", "_get_variable_index"),
    ("keras.optimizers.Optimizer", "_apply_weight_decay"),
    ("keras.optimizers.Optimizer", "_use_weight_decay"),
    ("keras.optimizers.Optimizer", "_get_current_learning_rate"),
    ("keras.optimizers.Adam", "_momentums"),
    ("keras.optimizers.Adam", "_velocities"),
    ("keras.Model", "_distribute_strategy"),
    ("keras.Model", "_maybe_symbolic_build"),
    ("keras.Model", "_symbolic_build"),
    ("keras.Model", "train_function"),
    ("keras.Model", "test_function"),
    ("tf.distribute.MultiWorkerMirroredStrategy.extended", "_in_multi_worker_mode"),
    ("keras.callbacks.TensorBoard", "_log_epoch_metrics"),
    ("keras.layers.Dense", "_kernel"),
    ("keras.layers.Layer", "_tracker"),
    ("keras.layers.Layer", "_untrack_variable"),
    ("keras.layers.Layer", "_int8_call"),
    ("keras.layers.Layer", "_is_quantized"),
    ("keras.layers.Layer", "_flatten_layers"),
)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras' `TensorBoard` callback, with every epoch's scalars written.

    Keras writes `epoch_*` scalars (and validation ones) under the batch-level condition
    `step % update_freq == 0` of the epoch's last step, so with `update_freq=10` an epoch of
    15 steps logs no epoch scalars at all; here they are always written.

    Example:

    ```python
    import tempfile
    import numpy as np
    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    logs = tempfile.mkdtemp()
    model.fit(np.ones((15, 2)), np.ones((15, 1)), batch_size=1, epochs=2, verbose=0,
              callbacks=[TensorBoard(logs, update_freq=10)])  # epoch_loss at steps 0 and 1
    ```
    """

    def _log_epoch_metrics(self, epoch, logs):
        with self.summary.record_if(True):
            super()._log_epoch_metrics(epoch, logs)


class ClipGradientsHook:
    """Mixin for a `keras.optimizers.Optimizer` subclass: owns Keras' `_clip_gradients` hook.

    Keras calls `_clip_gradients(grads)` once per update, after gradient accumulation and
    before weight decay and the update step. A subclass overrides the public
    `clip_gradients_hook(grads, keras_clip)` instead; `keras_clip(grads)` is Keras' own
    clipping (`clipnorm`, `global_clipnorm`, `clipvalue`).

    Example:

    ```python
    import numpy as np

    class HalfGradients(ClipGradientsHook, keras.optimizers.SGD):
        def clip_gradients_hook(self, grads, keras_clip):
            return [g * 0.5 for g in keras_clip(grads)]

    w = keras.Variable(np.ones(2, "float32"))
    HalfGradients(learning_rate=1.0).apply([np.ones(2, "float32")], [w])
    keras.ops.convert_to_numpy(w)  # [0.5, 0.5]
    ```
    """

    def _clip_gradients(self, grads):
        return self.clip_gradients_hook(grads, super()._clip_gradients)

    def clip_gradients_hook(self, grads, keras_clip):
        """Returns the gradients to apply; the default is Keras' own clipping."""
        return keras_clip(grads)


class WeightDecayHook:
    """Mixin for a `keras.optimizers.Optimizer` subclass: owns Keras' `_apply_weight_decay`.

    Keras calls `_apply_weight_decay(variables)` once per update, after clipping and before
    `update_step`, as a separate pass over every decayed variable. A subclass overrides the
    public `apply_weight_decay_hook(variables, keras_decay)`; `keras_decay(variables)` is
    Keras' own pass. Returning without calling it leaves the decay to `update_step`.

    Example:

    ```python
    import numpy as np

    class DecayLater(WeightDecayHook, keras.optimizers.AdamW):
        def apply_weight_decay_hook(self, variables, keras_decay):
            pass  # this optimizer's update_step would decay instead

    w = keras.Variable(np.ones(2, "float32"))
    DecayLater(learning_rate=0.0, weight_decay=0.5).apply([np.zeros(2, "float32")], [w])
    keras.ops.convert_to_numpy(w)  # [1., 1.]: Keras' decay pass did not run
    ```
    """

    def _apply_weight_decay(self, variables):
        return self.apply_weight_decay_hook(variables, super()._apply_weight_decay)

    def apply_weight_decay_hook(self, variables, keras_decay):
        """Applies the decoupled decay; the default is Keras' own pass."""
        return keras_decay(variables)


class ScheduleOnUpdatesHook:
    """Mixin for a `keras.optimizers.Optimizer` subclass: its learning-rate schedule counts
    optimizer updates (`iterations`), also under gradient accumulation.

    Keras calls `schedule(_iterations)`, the number of batches applied; with
    `gradient_accumulation_steps=N` that runs the schedule N times faster than the updates
    it is sized in. Without accumulation both counts are the same.

    Example:

    ```python
    import numpy as np

    class SGD(ScheduleOnUpdatesHook, keras.optimizers.SGD):
        pass

    schedule = keras.optimizers.schedules.PolynomialDecay(1.0, 10, end_learning_rate=0.0)
    optimizer = SGD(learning_rate=schedule, gradient_accumulation_steps=2)
    w = keras.Variable(np.zeros(1, "float32"))
    for _ in range(4):  # 4 batches: 2 updates
        optimizer.apply([np.ones(1, "float32")], [w])
    float(optimizer.learning_rate)  # 0.8 (Keras' own: 0.6)
    ```
    """

    def _get_current_learning_rate(self):
        if isinstance(self._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            return self._learning_rate(self.iterations)
        return super()._get_current_learning_rate()


def uses_weight_decay(optimizer, variable):
    """Whether `optimizer` decays `variable` (its `weight_decay` set and the variable not
    excluded).

    Example:

    ```python
    import numpy as np
    optimizer = keras.optimizers.AdamW(weight_decay=0.01)
    optimizer.exclude_from_weight_decay(var_names=["bias"])
    uses_weight_decay(optimizer, keras.Variable(np.zeros(2), name="bias"))  # False
    ```
    """
    return optimizer.weight_decay is not None and optimizer._use_weight_decay(variable)


def adam_moments(optimizer, variable):
    """`(m, v)`: the first and second moment variables an `Adam`/`AdamW` keeps for `variable`.

    Example:

    ```python
    import numpy as np
    optimizer = keras.optimizers.Adam()
    w = keras.Variable(np.zeros(3))
    optimizer.build([w])
    [tuple(slot.shape) for slot in adam_moments(optimizer, w)]  # [(3,), (3,)]
    ```
    """
    index = optimizer._get_variable_index(variable)
    return optimizer._momentums[index], optimizer._velocities[index]


def variable_index(optimizer, variable):
    """The index of `variable` in the optimizer's slot lists (built in `build`).

    Example:

    ```python
    import numpy as np
    optimizer = keras.optimizers.SGD()
    a, b = keras.Variable(np.zeros(2)), keras.Variable(np.zeros(3))
    optimizer.build([a, b])
    variable_index(optimizer, b)  # 1
    ```
    """
    return optimizer._get_variable_index(variable)


def dense_kernel(layer):
    """The kernel variable of a built `keras.layers.Dense` (its `kernel` property may return
    the kernel with LoRA adapters added instead).

    Example:

    ```python
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    dense_kernel(layer) is layer.kernel  # True
    ```
    """
    return layer._kernel


@contextlib.contextmanager
def adding_variables(layer):
    """A block in which `layer.add_weight` works on a built (locked) layer.

    Example:

    ```python
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    with adding_variables(layer):
        layer.extra = layer.add_weight(shape=(2,), name="extra")
    len(layer.weights)  # 3
    ```
    """
    layer._tracker.unlock()
    try:
        yield layer
    finally:
        layer._tracker.lock()


def remove_variable(layer, name):
    """Deletes the variable attribute `name` of `layer` and stops tracking it (what
    `del layer.name` does, without its `gc.collect()`).

    Example:

    ```python
    layer = keras.layers.Dense(3)
    layer.build((None, 2))
    remove_variable(layer, "bias")
    [v.name for v in layer.weights]  # ['kernel']
    ```
    """
    layer._untrack_variable(getattr(layer, name))
    super(keras.layers.Layer, layer).__delattr__(name)


class Int8CallHook:
    """Mixin for a `keras.layers.Layer` that implements Keras' int8 quantization: Keras calls
    `_int8_call(*args, **kwargs)` instead of `call` once the layer's dtype policy is
    `int8_from_*`; a subclass defines the public `int8_call` with `call`'s arguments.

    Example:

    ```python
    import numpy as np

    class Doubling(Int8CallHook, keras.layers.Layer):
        def call(self, x):
            return x * 2

        def int8_call(self, x):
            return x * 3

    layer = Doubling(dtype="int8_from_float32")
    float(layer(np.ones((1,), "float32"))[0])  # 3.0
    ```
    """

    def _int8_call(self, *args, **kwargs):
        return self.int8_call(*args, **kwargs)

    def int8_call(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no int8 call.")


def mark_quantized(layer):
    """Records that `layer` holds quantized variables (what Keras' own `quantized_build`
    sets): Keras' `quantize` then refuses to quantize it again.

    Example:

    ```python
    layer = keras.layers.Dense(2)
    layer.build((None, 2))
    mark_quantized(layer)
    try:
        layer.quantize("int8")
    except ValueError as error:
        print("already quantized" in str(error))  # True
    ```
    """
    layer._is_quantized = True


def flatten_layers(layer):
    """Every layer inside `layer` (recursively, depth first; not `layer` itself): the walk
    `keras.Model.quantize` makes.

    Example:

    ```python
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    [type(x).__name__ for x in flatten_layers(model)]  # ['InputLayer', 'Dense', 'Dense']
    ```
    """
    return list(layer._flatten_layers(include_self=False))


def in_multi_worker_mode(strategy):
    """Whether a `MultiWorkerMirroredStrategy` spans more than one worker.

    Example:

    ```python
    import tensorflow as tf
    in_multi_worker_mode(tf.distribute.get_strategy())  # False
    ```
    """
    extended = getattr(strategy, "extended", None)
    check = getattr(extended, "_in_multi_worker_mode", None)
    return bool(check()) if check is not None else False


def scale_loss_for_replicas(value):
    """`value / num_replicas_in_sync` in a `tf.distribute` replica context, else `value`.

    `tf.distribute` sums the per-replica gradients; a loss computed by hand on one replica's
    share of the batch is scaled by this so that the sum is the global-batch mean (what Keras'
    own losses do through `keras.src.losses.loss.scale_loss_for_distribution`). A no-op on one
    replica, outside `strategy.run` (cross-replica context: nothing sums the value there,
    where Keras' helper would still scale), and on other backends.

    Example:

    ```python
    float(scale_loss_for_replicas(keras.ops.convert_to_tensor(3.0)))  # 3.0 on one device
    ```
    """
    if keras.backend.backend() != "tensorflow":
        return value
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
        return value
    return keras.ops.multiply(value, keras.ops.cast(1.0 / replicas, value.dtype))


class OneReplicaBuildHook:
    """Mixin for a `keras.Model` subclass: under a `tf.distribute` strategy, the model is built
    from one local replica's first batch.

    Keras' TensorFlow trainer builds a model created under a strategy from the first batch
    reduced across replicas with "MEAN" (`_maybe_symbolic_build`), only for its shapes and
    dtypes. The reduction fails for a bool input, our `padding_mask` (TensorFlow's `AddN` has
    no bool kernel), so `fit` under `MirroredStrategy` failed before its first step; across
    workers it fails for every input (keras-team/keras#20585). One replica's batch has the
    same shapes and dtypes. Other backends never call the method.

    Example:

    ```python
    import numpy as np

    class Model(OneReplicaBuildHook, keras.Sequential):
        pass

    model = Model([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(loss="mse")
    model.fit(np.ones((4, 2)), np.ones((4, 1)), verbose=0).history["loss"][0] > 0  # True
    ```
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        return _symbolic_build_from_one_replica(self, iterator, data_batch)


def _first_local_replica(value):
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


def _symbolic_build_from_one_replica(self, iterator=None, data_batch=None):
    """`_maybe_symbolic_build` that takes one local replica's batch (no cross-worker reduce)."""
    from keras import tree

    if self._distribute_strategy is None:
        return
    if iterator is not None:
        for _, _, it in iterator:
            data_batch = tree.map_structure(_first_local_replica, next(it))
            break
    with self.distribute_strategy.scope():
        self._symbolic_build(data_batch=data_batch)


def _vector_logs(step_function):
    """Wraps a train/test step so that scalar logs leave it as shape-[1] tensors."""
    from keras import ops, tree

    def step(data):
        logs = step_function(data)
        return tree.map_structure(
            lambda v: ops.reshape(v, (1,)) if len(ops.shape(v)) == 0 else v, logs
        )

    return step


def patch_multi_worker_fit(model):
    """Installs the keras-team/keras#20585 workaround on `model` (this instance only).

    1. `_maybe_symbolic_build` builds from one local replica's batch instead of reducing a
       `PerReplica` data batch across workers (which fails).
    2. `train_step`/`test_step` return scalar logs as 1-element vectors, so that Keras'
       `strategy.reduce("MEAN", v, axis=0)` of the logs gives the cross-replica mean.

    The traced `train_function`/`test_function` are dropped so that `fit` re-traces. Call it
    only under a multi-worker strategy (`keras_bert_impl.training.distribute` decides).
    Returns `model`.

    Example:

    ```python
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    patch_multi_worker_fit(model)
    model.train_function is None  # True: the next fit traces the patched step
    ```
    """
    # `object.__setattr__`: an instance attribute that Keras' tracking does not record.
    object.__setattr__(
        model, "_maybe_symbolic_build", types.MethodType(_symbolic_build_from_one_replica, model)
    )
    object.__setattr__(model, "train_step", _vector_logs(model.train_step))
    object.__setattr__(model, "test_step", _vector_logs(model.test_step))
    drop_traced_steps(model)  # functions traced before the override would keep the old steps
    return model


def drop_traced_steps(model):
    """Drops `model`'s traced `train_function` / `test_function`, so that the next `fit` or
    `evaluate` traces its step again (after a change to what the step computes, e.g. a
    learning-rate schedule's lengths, which a traced step holds as constants).

    Example:

    ```python
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    drop_traced_steps(model)
    model.train_function is None  # True
    ```
    """
    model.train_function = None
    model.test_function = None
