"""AdamW and LAMB against NumPy re-implementations; the LayerNorm/bias exclusion on the real
bert_tiny variables; exact schedule values; gradient accumulation; config round trips.
Tolerance for the NumPy comparisons: 1e-6 relative (float32)."""

import keras
import numpy as np
import pytest

from keras_bert_impl import BertPretrainer
from keras_bert_impl.optimizers import (
    NO_DECAY_NAMES,
    AdamW,
    Lamb,
    WarmupPolynomialDecay,
    create_adamw,
    create_optimizer,
)

B1, B2, EPS, LR, WD = 0.9, 0.999, 1e-6, 1e-2, 0.1


def _problem():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 4)).astype("float32")
    bias = rng.normal(size=(4,)).astype("float32")
    grads = [[rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4,)).astype("float32")]
             for _ in range(3)]
    return kernel, bias, grads


def _run(optimizer, kernel, bias, grads):
    variables = [keras.Variable(kernel, name="kernel"), keras.Variable(bias, name="bias")]
    for step_grads in grads:
        optimizer.apply(step_grads, variables)
    return [keras.ops.convert_to_numpy(v) for v in variables]


def numpy_adamw(w, grads, decay):
    m, v = np.zeros_like(w), np.zeros_like(w)
    w = w.astype("float64")
    for t, g in enumerate(grads, start=1):
        if decay:
            w = w - w * WD * LR  # Keras' decoupled decay, applied before the Adam step
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        alpha = LR * np.sqrt(1 - B2**t) / (1 - B1**t)
        w = w - alpha * m / (np.sqrt(v) + EPS)
    return w


def numpy_lamb(w, grads, decay):
    m, v = np.zeros_like(w), np.zeros_like(w)
    w = w.astype("float64")
    for t, g in enumerate(grads, start=1):
        m = B1 * m + (1 - B1) * g
        v = B2 * v + (1 - B2) * g * g
        update = (m / (1 - B1**t)) / (np.sqrt(v / (1 - B2**t)) + EPS)
        if decay:
            update = update + WD * w
            update = np.linalg.norm(w) / np.linalg.norm(update) * update
        w = w - LR * update
    return w


@pytest.mark.parametrize("name, reference", [("adamw", numpy_adamw), ("lamb", numpy_lamb)])
def test_updates_match_numpy_reference(name, reference):
    kernel, bias, grads = _problem()
    optimizer = create_optimizer(name, LR, weight_decay=WD, clipnorm=None)
    new_kernel, new_bias = _run(optimizer, kernel, bias, grads)
    np.testing.assert_allclose(new_kernel, reference(kernel, [g[0] for g in grads], True),
                               rtol=1e-6, atol=1e-7)
    # `bias` is excluded from decay (and, for LAMB, from layer adaptation).
    np.testing.assert_allclose(new_bias, reference(bias, [g[1] for g in grads], False),
                               rtol=1e-6, atol=1e-7)
    assert not np.allclose(new_kernel, kernel)


@pytest.mark.parametrize("name, shrink", [("adamw", 1 - LR * WD), ("lamb", 1 - LR)])
def test_layer_norm_and_biases_get_no_decay_on_bert_tiny(name, shrink):
    model = BertPretrainer.from_preset("bert_tiny", vocab_size=64)
    variables = model.trainable_variables
    before = [keras.ops.convert_to_numpy(v) for v in variables]
    optimizer = create_optimizer(name, LR, weight_decay=WD, clipnorm=None)
    # Zero gradients: the Adam direction is 0, so any change is weight decay alone.
    optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)
    excluded = decayed = 0
    assert len(variables) == len(before)
    for variable, old in zip(variables, before, strict=True):
        new = keras.ops.convert_to_numpy(variable)
        if variable.name in ("gamma", "beta") or "bias" in variable.name:
            np.testing.assert_array_equal(new, old, err_msg=variable.path)
            excluded += 1
        else:
            np.testing.assert_allclose(new, old * shrink, rtol=1e-6, err_msg=variable.path)
            decayed += 1
    # bert_tiny: 2 layers x (2 LayerNorms x 2 + 4 biases: qkv, attention output,
    # intermediate, output) + embeddings LN (2) + MLM head (LN 2 + transform bias + output
    # bias) + pooler bias + NSP bias.
    assert excluded == 2 * (4 + 4) + 2 + 4 + 1 + 1
    # 3 embedding tables, 2 x 4 kernels, pooler, MLM transform and NSP kernels.
    assert decayed == 3 + 2 * 4 + 1 + 1 + 1


def test_schedule_values_are_exact():
    schedule = WarmupPolynomialDecay(1e-4, decay_steps=100, warmup_steps=10)
    value = lambda step: float(keras.ops.convert_to_numpy(schedule(step)))  # noqa: E731
    assert value(0) == 0.0
    assert value(5) == pytest.approx(5e-5, rel=1e-6)
    assert value(10) == pytest.approx(9e-5, rel=1e-6)  # warmup end (decay on global step)
    assert value(99) == pytest.approx(1e-6, rel=1e-4)
    assert value(100) == 0.0  # the last step
    assert value(150) == 0.0
    squared = WarmupPolynomialDecay(1e-4, 100, warmup_steps=0, end_learning_rate=1e-5, power=2)
    assert float(keras.ops.convert_to_numpy(squared(50))) == pytest.approx(
        9e-5 * 0.25 + 1e-5, rel=1e-6)
    restored = WarmupPolynomialDecay.from_config(schedule.get_config())
    assert float(keras.ops.convert_to_numpy(restored(10))) == value(10)
    with pytest.raises(ValueError, match="warmup_steps"):
        WarmupPolynomialDecay(1e-4, decay_steps=10, warmup_steps=20)


def test_gradient_accumulation_equals_one_step_on_the_mean_gradient():
    kernel, bias, grads = _problem()
    accumulated = create_optimizer("adamw", LR, weight_decay=WD, gradient_accumulation_steps=2,
                                   clipnorm=None)
    once = create_optimizer("adamw", LR, weight_decay=WD, clipnorm=None)
    a = _run(accumulated, kernel, bias, grads[:2])
    mean = [[(grads[0][i] + grads[1][i]) / 2 for i in range(2)]]
    b = _run(once, kernel, bias, mean)
    assert len(a) == len(b) == 2
    for x, y in zip(a, b, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    assert int(keras.ops.convert_to_numpy(accumulated.iterations)) == 1


@pytest.mark.parametrize("name", ["adamw", "lamb"])
def test_the_schedule_counts_updates_under_gradient_accumulation(name):
    # 3 updates of 2 batches each follow the same warmup + decay (4 updates long) as 3
    # updates on the mean gradients: the schedule is sized in updates, not batches.
    rng = np.random.default_rng(1)
    kernel, bias, _ = _problem()
    batches = [[rng.normal(size=(3, 4)).astype("float32"), rng.normal(size=(4,)).astype(
        "float32")] for _ in range(6)]
    means = [[(batches[i][j] + batches[i + 1][j]) / 2 for j in range(2)]
             for i in range(0, 6, 2)]
    schedule = dict(total_steps=4, warmup_steps=2, weight_decay=WD, clipnorm=None)
    accumulated = create_optimizer(name, LR, gradient_accumulation_steps=2, **schedule)
    once = create_optimizer(name, LR, **schedule)
    for x, y in zip(_run(accumulated, kernel, bias, batches), _run(once, kernel, bias, means),
                    strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    # after 3 updates (6 batches) of 4: a quarter of the peak (at batch 6 of 8: 0)
    assert float(keras.ops.convert_to_numpy(accumulated.learning_rate)) == pytest.approx(
        LR / 4)


def test_global_clipnorm_and_config_round_trip():
    kernel, bias, grads = _problem()
    clipped = create_optimizer("lamb", LR, weight_decay=WD, clipnorm=1e-3)
    unclipped = create_optimizer("lamb", LR, weight_decay=WD, clipnorm=None)
    # LAMB/Adam are scale-invariant on the first step; compare after 3 steps with the same
    # direction scaled: clipping all steps to the same tiny norm changes m/v ratios.
    assert not np.allclose(_run(clipped, kernel, bias, grads)[1],
                           _run(unclipped, kernel, bias, grads)[1])
    config = clipped.get_config()
    assert config["global_clipnorm"] == 1e-3 and config["weight_decay"] == WD
    assert Lamb.from_config(config).get_config()["exclude_from_decay"] == ["gamma", "beta", "bias"]
    assert create_adamw(1e-3).global_clipnorm is None
    with pytest.raises(ValueError, match="Unknown optimizer 'sgd'"):
        create_optimizer("sgd")


def test_lamb_trust_ratio_on_a_hand_computed_step():
    # One step, w = [3, 4] (||w|| = 5), g = [1, -1]. Bias-corrected moments: m_hat = g,
    # v_hat = g^2, so the Adam direction is g / (|g| + eps) = [1, -1] (to 1e-6).
    # Decayed ("kernel"): u = [1, -1] + 0.1 * [3, 4] = [1.3, -0.6], ||u|| = sqrt(2.05),
    # trust ratio r = 5 / sqrt(2.05) = 3.4921..., w' = w - 0.01 * r * u.
    ratio = 5.0 / np.sqrt(2.05)
    assert ratio == pytest.approx(3.49215, rel=1e-5)
    expected = np.array([3.0, 4.0]) - 0.01 * ratio * np.array([1.3, -0.6])
    np.testing.assert_allclose(expected, [2.954602, 4.020953], rtol=1e-6)  # written out
    kernel = keras.Variable(np.array([3.0, 4.0], "float32"), name="kernel")
    bias = keras.Variable(np.array([3.0, 4.0], "float32"), name="bias")
    optimizer = Lamb(learning_rate=0.01, weight_decay=0.1, epsilon=1e-6)
    gradient = np.array([1.0, -1.0], "float32")
    optimizer.apply([gradient, gradient], [kernel, bias])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(kernel), expected, rtol=1e-6,
                               atol=1e-6)
    # Excluded from decay: no decay term and no layer adaptation (ratio 1): w - 0.01 * [1, -1].
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bias), [2.99, 4.01], rtol=1e-6,
                               atol=1e-6)


def _decay_step(optimizer):
    """One step with zero gradients (pure decay) on `gamma` and `kernel` variables."""
    gamma = keras.Variable(np.full(3, 2.0, "float32"), name="gamma")
    kernel = keras.Variable(np.full(3, 2.0, "float32"), name="kernel")
    optimizer.apply([np.zeros(3, "float32")] * 2, [gamma, kernel])
    return keras.ops.convert_to_numpy(gamma), keras.ops.convert_to_numpy(kernel)


def test_adamw_decay_exclusions_survive_get_config():
    original = create_adamw(LR, weight_decay=WD)
    restored = AdamW.from_config(original.get_config())
    assert original.exclude_from_decay == restored.exclude_from_decay == NO_DECAY_NAMES
    assert original.get_config()["exclude_from_decay"] == ["gamma", "beta", "bias"]
    # Through Keras' generic (de)serialization too (what a .keras file uses).
    generic = keras.optimizers.deserialize(keras.optimizers.serialize(original))
    assert type(generic) is AdamW and generic.exclude_from_decay == NO_DECAY_NAMES
    for optimizer in (original, restored, generic):
        gamma, kernel = _decay_step(optimizer)
        np.testing.assert_array_equal(gamma, [2.0, 2.0, 2.0])  # excluded: no decay
        np.testing.assert_allclose(kernel, [2.0 * (1 - LR * WD)] * 3, rtol=1e-6)  # 1.998


def test_adamw_exclusions_set_after_construction_are_serialized():
    optimizer = AdamW(learning_rate=LR, weight_decay=WD, exclude_from_decay=())
    assert optimizer.get_config()["exclude_from_decay"] == []
    gamma, _ = _decay_step(AdamW.from_config(optimizer.get_config()))
    np.testing.assert_allclose(gamma, [2.0 * (1 - LR * WD)] * 3, rtol=1e-6)  # decayed
    optimizer.exclude_from_weight_decay(var_names=["gamma"])
    restored = AdamW.from_config(optimizer.get_config())
    assert restored.exclude_from_decay == ("gamma",)
    gamma, kernel = _decay_step(restored)
    np.testing.assert_array_equal(gamma, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(kernel, [2.0 * (1 - LR * WD)] * 3, rtol=1e-6)
    # Exclusions by variable object cannot travel in a config: say so.
    optimizer.exclude_from_weight_decay(var_list=[keras.Variable(np.zeros(1), name="v")])
    with pytest.warns(UserWarning, match="var_list.*not serialized"):
        optimizer.get_config()


def test_fused_adamw_update_equals_keras_adamw_in_a_traced_step():
    """On TensorFlow our AdamW runs decay + Adam as one XLA kernel per variable; it must give
    Keras' own `AdamW` (same settings) within float32 rounding, traced as `fit` runs it, for a
    decayed kernel, an excluded bias and a sparse (gathered rows) gradient. On JAX both run
    Keras' ops, and the test checks the same equality.

    A gather's gradient that hits a row twice is summed first, as a dense gradient would be
    (Keras 3's own Adam squares each repeat's part before summing them into `v`)."""
    rng = np.random.default_rng(3)
    shapes = {"kernel": (33, 7), "bias": (7,), "token_embeddings": (50, 7)}
    start = {name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
    grads = [{name: rng.normal(size=shape).astype("float32") for name, shape in shapes.items()}
             for _ in range(4)]

    def run(optimizer, rows, sparse):
        """The embedding gradient hits `rows`: as IndexedSlices when `sparse` (TensorFlow),
        else as the dense gradient they sum to."""
        variables = [keras.Variable(value, name=name) for name, value in start.items()]

        def step(values):
            optimizer.apply(values, variables)

        def embedding_gradient(g):
            dense = np.zeros_like(g)
            np.add.at(dense, rows, g[:len(rows)])
            return dense
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            step = tf.function(step)
            if sparse:
                def embedding_gradient(g):
                    return tf.IndexedSlices(tf.constant(g[:len(rows)]), tf.constant(rows),
                                            tf.constant(g.shape))
        for step_grads in grads:
            step([step_grads["kernel"], step_grads["bias"],
                  embedding_gradient(step_grads["token_embeddings"])])
        return [keras.ops.convert_to_numpy(v) for v in variables]

    def keras_adamw():
        optimizer = keras.optimizers.AdamW(LR, weight_decay=WD, beta_1=B1, beta_2=B2,
                                           epsilon=EPS)
        optimizer.exclude_from_weight_decay(var_names=list(NO_DECAY_NAMES))
        return optimizer

    distinct, repeated = [0, 3, 9, 12], [0, 3, 3, 9]
    for ours, want in [
        (run(create_adamw(LR, weight_decay=WD), distinct, True), run(keras_adamw(), distinct, True)),
        (run(create_adamw(LR, weight_decay=WD), repeated, True),
         run(keras_adamw(), repeated, False)),
    ]:
        for got, expected, name in zip(ours, want, shapes):
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6, err_msg=name)
            assert not np.allclose(got, start[name])
