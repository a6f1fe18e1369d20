"""The private Keras / tf.distribute names of `keras_bert_impl.keras_private` still exist, with
the signatures and behaviour the package relies on, in the pinned Keras; and no other module
of the package touches them.

When a Keras upgrade breaks one of these, the failure names the Keras version and the name;
fix `keras_bert_impl/keras_private.py` (and only it).
"""

import inspect
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_bert_impl
from keras_bert_impl import keras_private
from keras_bert_impl.keras_private import (
    PRIVATE_NAMES,
    ClipGradientsHook,
    in_multi_worker_mode,
    patch_multi_worker_fit,
    scale_loss_for_replicas,
    variable_index,
)

PINNED = f"Keras {keras.__version__} (pinned in pyproject.toml)"
TF_ONLY = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="TensorFlow-trainer names"
)


def _parameters(function):
    return list(inspect.signature(function).parameters)


def _require(owner, name, expected_parameters=None):
    """`getattr(owner, name)`, failing with the version and the name when it is gone."""
    where = f"{getattr(owner, '__qualname__', type(owner).__qualname__)}.{name}"
    assert hasattr(owner, name), (
        f"{PINNED} has no {where}, which keras_bert_impl.keras_private relies on; "
        "see that module's docstring for why it is used and rewrite the accessor."
    )
    value = getattr(owner, name)
    if expected_parameters is not None:
        assert _parameters(value) == expected_parameters, (
            f"{PINNED}: {where} now takes {_parameters(value)}, keras_bert_impl.keras_private "
            f"calls it as {expected_parameters}."
        )
    return value


def _multi_worker_extended_class():
    from tensorflow.python.distribute.collective_all_reduce_strategy import (
        CollectiveAllReduceExtended,
    )

    return CollectiveAllReduceExtended


# One check per entry of PRIVATE_NAMES.
def check_clip_gradients():
    _require(keras.optimizers.Optimizer, "_clip_gradients", ["self", "grads"])


def check_get_variable_index():
    _require(keras.optimizers.Optimizer, "_get_variable_index", ["self", "variable"])


def check_apply_weight_decay():
    _require(keras.optimizers.Optimizer, "_apply_weight_decay", ["self", "variables"])


def check_get_current_learning_rate():
    _require(keras.optimizers.Optimizer, "_get_current_learning_rate", ["self"])
    schedule = keras.optimizers.schedules.PolynomialDecay(1.0, decay_steps=10,
                                                        end_learning_rate=0.0)
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    optimizer.build([keras.Variable(np.zeros(1, "float32"))])
    optimizer.iterations.assign(3)
    assert float(optimizer._get_current_learning_rate()) == pytest.approx(0.7), (
        f"{PINNED}: Optimizer._get_current_learning_rate() no longer returns the schedule's "
        "value at the step count; ScheduleOnUpdatesHook relies on it.")


def check_use_weight_decay():
    _require(keras.optimizers.Optimizer, "_use_weight_decay", ["self", "variable"])


def _built_adam():
    optimizer = keras.optimizers.Adam()
    optimizer.build([keras.Variable(np.zeros(2, "float32"))])
    return optimizer


def check_momentums():
    assert len(_require(_built_adam(), "_momentums")) == 1


def check_velocities():
    assert len(_require(_built_adam(), "_velocities")) == 1


def check_distribute_strategy():
    model = keras.Sequential([keras.layers.Dense(1)])
    _require(model, "_distribute_strategy")


def check_maybe_symbolic_build():
    _require(keras.Model, "_maybe_symbolic_build", ["self", "iterator", "data_batch"])
    # fit() still goes through it (else our replacement would be silently skipped).
    assert "self._maybe_symbolic_build(" in inspect.getsource(keras.Model.fit), (
        f"{PINNED}: Model.fit no longer calls _maybe_symbolic_build; the keras#20585 patch "
        "in keras_bert_impl.keras_private.patch_multi_worker_fit no longer applies."
    )


def check_symbolic_build():
    _require(keras.Model, "_symbolic_build", ["self", "iterator", "data_batch"])


def check_train_function():
    _require(keras.Sequential([keras.layers.Dense(1)]), "train_function")
    source = inspect.getsource(keras.Model.make_train_function)
    assert "self.train_function is not None and not force" in source, (
        f"{PINNED}: make_train_function no longer re-traces when train_function is None."
    )


def check_test_function():
    _require(keras.Sequential([keras.layers.Dense(1)]), "test_function")
    source = inspect.getsource(keras.Model.make_test_function)
    assert "self.test_function is not None and not force" in source, (
        f"{PINNED}: make_test_function no longer re-traces when test_function is None."
    )


def check_in_multi_worker_mode():
    _require(_multi_worker_extended_class(), "_in_multi_worker_mode", ["self"])


def check_log_epoch_metrics():
    _require(keras.callbacks.TensorBoard, "_log_epoch_metrics", ["self", "epoch", "logs"])
    _require(keras.callbacks.TensorBoard(), "summary")


def check_dense_kernel():
    layer = keras.layers.Dense(1)
    layer.build((None, 2))
    assert _require(layer, "_kernel") is layer.kernel


def check_tracker():
    tracker = _require(keras.layers.Dense(1), "_tracker")
    _require(tracker, "lock", ["msg"])
    _require(tracker, "unlock", [])


def check_untrack_variable():
    _require(keras.layers.Layer, "_untrack_variable", ["self", "variable"])


def check_int8_call():
    _require(keras.layers.Layer, "_int8_call")
    from keras_bert_impl.keras_private import Int8CallHook

    class Tripled(Int8CallHook, keras.layers.Layer):
        def call(self, x):
            return x

        def int8_call(self, x):
            return x * 3

    assert float(Tripled(dtype="int8_from_float32")(np.ones((1,), "float32"))[0]) == 3.0, (
        f"{PINNED} no longer calls Layer._int8_call for an int8 dtype policy.")


def check_is_quantized():
    layer = keras.layers.Dense(2)
    layer.build((None, 2))
    layer.quantize("int8")
    assert _require(layer, "_is_quantized") is True


def check_flatten_layers():
    _require(keras.layers.Layer, "_flatten_layers", ["self", "include_self", "recursive"])


CHECKS = {
    ("keras.optimizers.Optimizer", "_clip_gradients"): check_clip_gradients,
    ("keras.optimizers.Optimizer", "_get_variable_index"): check_get_variable_index,
    ("keras.optimizers.Optimizer", "_apply_weight_decay"): check_apply_weight_decay,
    ("keras.optimizers.Optimizer", "_use_weight_decay"): check_use_weight_decay,
    ("keras.optimizers.Optimizer", "_get_current_learning_rate"):
        check_get_current_learning_rate,
    ("keras.optimizers.Adam", "_momentums"): check_momentums,
    ("keras.optimizers.Adam", "_velocities"): check_velocities,
    ("keras.Model", "_distribute_strategy"): check_distribute_strategy,
    ("keras.Model", "_maybe_symbolic_build"): check_maybe_symbolic_build,
    ("keras.Model", "_symbolic_build"): check_symbolic_build,
    ("keras.Model", "train_function"): check_train_function,
    ("keras.Model", "test_function"): check_test_function,
    ("tf.distribute.MultiWorkerMirroredStrategy.extended", "_in_multi_worker_mode"):
        check_in_multi_worker_mode,
    ("keras.callbacks.TensorBoard", "_log_epoch_metrics"): check_log_epoch_metrics,
    ("keras.layers.Dense", "_kernel"): check_dense_kernel,
    ("keras.layers.Layer", "_tracker"): check_tracker,
    ("keras.layers.Layer", "_untrack_variable"): check_untrack_variable,
    ("keras.layers.Layer", "_int8_call"): check_int8_call,
    ("keras.layers.Layer", "_is_quantized"): check_is_quantized,
    ("keras.layers.Layer", "_flatten_layers"): check_flatten_layers,
}


def test_every_private_name_has_a_check():
    assert set(CHECKS) == set(PRIVATE_NAMES)


@TF_ONLY
@pytest.mark.parametrize("owner, name", PRIVATE_NAMES, ids=[n for _, n in PRIVATE_NAMES])
def test_pinned_keras_has_the_private_name(owner, name):
    CHECKS[(owner, name)]()


def test_clip_gradients_hook_runs_once_per_update_with_keras_clipping():
    calls = []

    class Recording(ClipGradientsHook, keras.optimizers.SGD):
        def clip_gradients_hook(self, grads, keras_clip):
            calls.append(len(grads))
            return [g * 0.5 for g in keras_clip(grads)]

    w = keras.Variable(np.array([1.0, 1.0], "float32"))
    # Keras' own clipping still runs inside: the gradient [3, 4] (norm 5) is clipped to norm 1,
    # then halved; SGD with lr 1 moves w by [0.3, 0.4].
    Recording(learning_rate=1.0, global_clipnorm=1.0).apply([np.array([3.0, 4.0], "float32")],
                                                            [w])
    assert calls == [1]
    np.testing.assert_allclose(keras.ops.convert_to_numpy(w), [0.7, 0.6], rtol=1e-6)


def test_variable_index_is_the_build_order():
    optimizer = keras.optimizers.Adam()
    variables = [keras.Variable(np.zeros(n, "float32")) for n in (1, 2, 3)]
    optimizer.build(variables)
    assert [variable_index(optimizer, v) for v in variables] == [0, 1, 2]


@TF_ONLY
def test_in_multi_worker_mode_is_false_off_multi_worker():
    import tensorflow as tf

    assert in_multi_worker_mode(tf.distribute.get_strategy()) is False
    assert in_multi_worker_mode(object()) is False


def test_patch_multi_worker_fit_replaces_only_this_instance():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.train_on_batch(np.ones((2, 2), "float32"), np.ones((2, 1), "float32"))
    assert model.train_function is not None
    patch_multi_worker_fit(model)
    assert model.train_function is None and model.test_function is None
    assert model._maybe_symbolic_build.__func__.__name__ == "_symbolic_build_from_one_replica"
    assert "_maybe_symbolic_build" not in vars(other)
    # Scalar logs leave the patched step as 1-element vectors (reduced with axis=0 by Keras).
    logs = model.train_step((np.ones((2, 2), "float32"), np.ones((2, 1), "float32")))
    assert tuple(keras.ops.shape(logs["loss"])) == (1,)


def test_scale_loss_for_replicas_is_a_no_op_on_one_device():
    value = keras.ops.convert_to_tensor(3.0)
    assert float(keras.ops.convert_to_numpy(scale_loss_for_replicas(value))) == 3.0


SCALE_SCRIPT = textwrap.dedent(
    """
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras.src.losses.loss import scale_loss_for_distribution
    from keras_bert_impl.keras_private import scale_loss_for_replicas

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    ours = strategy.run(lambda: scale_loss_for_replicas(tf.constant(3.0)))
    keras_ = strategy.run(lambda: scale_loss_for_distribution(tf.constant(3.0)))
    print("REPLICA", [float(v) for v in strategy.experimental_local_results(ours)],
          [float(v) for v in strategy.experimental_local_results(keras_)])
    with strategy.scope():  # cross-replica context: nothing sums the value, ours keeps it
        print("CROSS", float(scale_loss_for_replicas(tf.constant(3.0))),
              float(scale_loss_for_distribution(tf.constant(3.0))))
    print("NONE", float(scale_loss_for_replicas(tf.constant(3.0))),
          float(scale_loss_for_distribution(tf.constant(3.0))))
    """
)


@TF_ONLY
def test_scale_loss_for_replicas_matches_keras_helper_in_replica_context():
    """Our copy of `keras.src.losses.loss.scale_loss_for_distribution` agrees with it where
    the pretrainer calls it (inside `strategy.run`, two replicas: x 1/2; no strategy: x 1)."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=os.path.dirname(os.path.dirname(keras_bert_impl.__file__)))
    result = subprocess.run([sys.executable, "-c", SCALE_SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in result.stdout.splitlines()
             if line.split(" ", 1)[0] in ("REPLICA", "CROSS", "NONE")}
    assert lines["REPLICA"] == "[1.5, 1.5] [1.5, 1.5]", (PINNED, lines)
    assert lines["NONE"] == "3.0 3.0", (PINNED, lines)
    # The one deliberate difference (documented in scale_loss_for_replicas).
    assert lines["CROSS"] == "3.0 1.5", (PINNED, lines)


PRIVATE = {n for _, n in PRIVATE_NAMES if n.startswith("_")} | {
    "_aggregate_additional_loss", "_var_key",
}


def _private_uses(path):
    """`(line, name)` of private Keras names used in code: attributes, strings (getattr), and
    `keras.src` imports; docstrings and comments may name them."""
    import ast

    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in PRIVATE:
            yield node.lineno, node.attr
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in PRIVATE:
            yield node.lineno, node.name  # an override
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docstrings and node.value in PRIVATE:
            yield node.lineno, node.value
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src"):
            yield node.lineno, node.module
        elif isinstance(node, ast.Import) and any(
            a.name.startswith("keras.src") for a in node.names
        ):
            yield node.lineno, "keras.src"


def test_private_use_finder_finds_planted_uses(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        '"""Docstring naming _clip_gradients is fine."""\n'
        "from keras.src.losses.loss import scale_loss_for_distribution\n"
        "x = getattr(model, '_distribute_strategy', None)\n"
        "y = optimizer._get_variable_index(v)  # a comment naming _var_key is fine\n"
        "def _clip_gradients(self, grads):\n"
        '    """Docstring."""\n'
    )
    assert sorted(_private_uses(planted)) == [
        (2, "keras.src.losses.loss"), (3, "_distribute_strategy"), (4, "_get_variable_index"),
        (5, "_clip_gradients"),
    ]


def test_no_other_module_touches_a_private_keras_name():
    root = os.path.dirname(keras_bert_impl.__file__)
    found = []
    for folder, _, files in os.walk(root):
        for file in files:
            path = os.path.join(folder, file)
            if not file.endswith(".py") or path == keras_private.__file__:
                continue
            found += [f"{os.path.relpath(path, root)}:{line}: {name}"
                      for line, name in _private_uses(path)]
    assert not found, "private Keras names outside keras_private.py:\n" + "\n".join(found)


@TF_ONLY
def test_tensorboard_writes_every_epoch_whatever_update_freq(tmp_path):
    import numpy as np

    from keras_bert_impl.keras_private import TensorBoard
    from keras_bert_impl.training.curves import read_scalars

    model = keras.Sequential([keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    for callback, folder in ((keras.callbacks.TensorBoard, "keras"), (TensorBoard, "ours")):
        model.fit(np.ones((15, 2)), np.ones((15, 1)), batch_size=1, epochs=2, verbose=0,
                  validation_data=(np.ones((3, 2)), np.ones((3, 1))),
                  callbacks=[callback(str(tmp_path / folder), update_freq=10)])
    # 15 steps an epoch, update_freq 10: Keras' own loses epoch 0's scalars (its last step,
    # 15, is not a multiple of 10; epoch 1's, 30, is).
    keras_own = read_scalars(str(tmp_path / "keras" / "train"))
    assert [step for step, _ in keras_own["epoch_loss"]] == [1]
    train = read_scalars(str(tmp_path / "ours" / "train"))
    assert [step for step, _ in train["epoch_loss"]] == [0, 1]
    assert [step for step, _ in train["batch_loss"]] == [10, 20, 30]
    validation = read_scalars(str(tmp_path / "ours" / "validation"))
    assert [step for step, _ in validation["epoch_loss"]] == [0, 1]
