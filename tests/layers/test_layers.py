"""Layer tests: shapes, weights, config/.keras round trips, mixed precision, numerics.

Runs on the TensorFlow and the JAX backends (`make test` runs this module under both).
"""

import keras
import numpy as np
import pytest
from keras import ops

from keras_bert_impl.layers import (
    BertEmbeddings,
    LayerNorm,
    MaskedLMHead,
    NextSentenceHead,
    Pooler,
    TransformerEncoderBlock,
)
from keras_bert_impl.layers.transformer import attention_bias, rows_at
from tests.harness import assert_all_close, run_layer_test

BATCH, SEQ, HIDDEN, VOCAB = 2, 6, 16, 50


def token_inputs():
    rng = np.random.default_rng(0)
    return (
        rng.integers(0, VOCAB, (BATCH, SEQ)).astype("int32"),
        np.array([[0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 0, 0]], "int32"),
    )


def hidden_states():
    return np.random.default_rng(1).normal(size=(BATCH, SEQ, HIDDEN)).astype("float32")


PADDING = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], "int32")


def test_embeddings(tmp_path):
    layer = run_layer_test(
        BertEmbeddings,
        dict(vocab_size=VOCAB, hidden_size=HIDDEN, max_position_embeddings=SEQ + 2),
        token_inputs(),
        (BATCH, SEQ, HIDDEN),
        expected_num_trainable_weights=5,  # token, segment, position tables + LN gamma/beta
        tmp_path=tmp_path,
    )
    # Reference: the sum of the three lookups, then LayerNorm (gamma=1, beta=0 at init).
    token_ids, segment_ids = token_inputs()
    tables = [ops.convert_to_numpy(w) for w in layer.weights[:3]]
    summed = tables[0][token_ids] + tables[1][segment_ids] + tables[2][None, :SEQ]
    mean = summed.mean(-1, keepdims=True)
    var = summed.var(-1, keepdims=True)
    expected = (summed - mean) / np.sqrt(var + 1e-12)
    assert_all_close(layer(token_ids, segment_ids), expected, atol=1e-4, rtol=1e-4)


def test_embeddings_initializer_is_truncated_normal():
    layer = BertEmbeddings(vocab_size=2000, hidden_size=64, initializer_range=0.02)
    layer.build()
    table = ops.convert_to_numpy(layer.token_embeddings)
    assert np.abs(table).max() <= 0.04 + 1e-6  # truncated at 2 stddev
    assert 0.015 < table.std() < 0.02  # a truncated normal's std is ~0.88 of the stddev


def test_transformer_block(tmp_path):
    run_layer_test(
        TransformerEncoderBlock,
        dict(hidden_size=HIDDEN, num_heads=2, intermediate_size=4 * HIDDEN),
        (hidden_states(), PADDING),
        (BATCH, SEQ, HIDDEN),
        expected_num_trainable_weights=12,  # qkv, out, inter, output (kernel+bias) + 2 LN
        tmp_path=tmp_path,
    )


def _numpy_block(block, x, mask):
    """A NumPy reference of the post-LN BERT block (exact GELU)."""
    from math import erf

    w = {v.path.split("/", 1)[1]: ops.convert_to_numpy(v) for v in block.weights}
    heads, size = block.num_heads, block.head_size

    def dense(name, h):
        return h @ w[f"{name}/kernel"] + w[f"{name}/bias"]

    def layer_norm(name, h):
        mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
        return (h - mu) / np.sqrt(var + 1e-12) * w[f"{name}/gamma"] + w[f"{name}/beta"]

    b, t, _ = x.shape
    q, k, v = np.split(dense("qkv", x), 3, axis=-1)
    q, k, v = (a.reshape(b, t, heads, size).transpose(0, 2, 1, 3) for a in (q, k, v))
    logits = q @ k.transpose(0, 1, 3, 2) / np.sqrt(size)
    logits = np.where(mask[:, None, None, :] > 0, logits, -1e9)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ v).transpose(0, 2, 1, 3).reshape(b, t, heads * size)
    h = layer_norm("attention_layer_norm", x + dense("attention_output", context))
    inner = dense("intermediate", h)
    gelu = 0.5 * inner * (1 + np.vectorize(erf)(inner / np.sqrt(2)))
    return layer_norm("output_layer_norm", h + dense("output", gelu))


@pytest.mark.parametrize("training", [False, True])
def test_transformer_block_matches_numpy_reference(training):
    # training=True with attention_dropout=0 exercises the explicit (non-fused) path.
    block = TransformerEncoderBlock(
        hidden_size=HIDDEN, num_heads=4, intermediate_size=32, dropout=0.0,
        attention_dropout=0.0 if training else 0.1,
    )
    x = hidden_states()
    actual = block(x, PADDING, training=training)
    assert_all_close(actual, _numpy_block(block, x, PADDING), atol=1e-5, rtol=1e-5)


def test_transformer_block_explicit_attention_equals_fused():
    block = TransformerEncoderBlock(hidden_size=HIDDEN, num_heads=2, intermediate_size=32)
    x = hidden_states()
    fused = block(x, PADDING, training=False)
    # Dropout layers at rate 0; attention_dropout_rate stays 0.1, so training=True still takes
    # the explicit softmax path, which must then equal the fused op.
    for layer in (block.attention_dropout, block.attention_output_dropout, block.output_dropout):
        layer.rate = 0.0
    explicit = block(x, PADDING, training=True)
    assert_all_close(explicit, fused, atol=1e-5, rtol=1e-5)


def test_the_three_attention_forms_compute_the_same_context():
    """The fused op, the einsums (the training form) and the heads-first batched matmuls
    (TensorFlow's inference form): the same context for the same projection and padding, in float32
    and in bfloat16 (the same rounding: the query scale 1/8 is exact)."""
    for dtype, tolerance in (("float32", 1e-5), ("bfloat16", 2e-2)):
        block = TransformerEncoderBlock(hidden_size=HIDDEN, num_heads=2, intermediate_size=32,
                                        dtype=dtype)
        block(hidden_states(), PADDING)
        rows = ops.reshape(ops.cast(hidden_states(), dtype), (-1, HIDDEN))
        qkv = block.qkv_dense(rows)
        bias = attention_bias(PADDING)
        heads = (BATCH, SEQ, 2, HIDDEN // 2)
        query, key, value = block._split_heads(qkv, BATCH, SEQ)
        forms = {
            "fused": ops.dot_product_attention(query, key, value, bias=bias),
            "einsum": block._attention_with_dropout(query, key, value, bias, training=False),
            "heads first": ops.reshape(
                block._heads_first_attention(qkv, BATCH, SEQ, bias), heads),
        }
        outputs = {name: ops.convert_to_numpy(ops.cast(context, "float32"))
                   for name, context in forms.items()}
        for name in ("einsum", "heads first"):
            np.testing.assert_allclose(outputs[name], outputs["fused"], atol=tolerance,
                                       rtol=tolerance, err_msg=f"{name} ({dtype})")


def test_heads_first_attention_drops_what_the_einsum_form_drops():
    """Training with attention dropout, the heads-first form (the GPU benchmark's
    `attn_heads_first` ablation) and the einsum form draw the same mask from the same seed
    state: the same context, and not the undropped one."""
    block = TransformerEncoderBlock(hidden_size=HIDDEN, num_heads=2, intermediate_size=32,
                                    attention_dropout=0.5)
    block(hidden_states(), PADDING)
    qkv = block.qkv_dense(ops.reshape(hidden_states(), (-1, HIDDEN)))
    bias = attention_bias(PADDING)
    state = block.attention_dropout.seed_generator.state
    start = ops.convert_to_numpy(state.value)
    query, key, value = block._split_heads(qkv, BATCH, SEQ)
    einsum = ops.reshape(block._attention_with_dropout(query, key, value, bias, training=True),
                         (-1, HIDDEN))
    state.assign(start)
    heads_first = block._heads_first_attention(qkv, BATCH, SEQ, bias, training=True)
    undropped = block._heads_first_attention(qkv, BATCH, SEQ, bias)
    assert_all_close(heads_first, einsum, atol=1e-6)
    assert float(np.abs(ops.convert_to_numpy(heads_first - undropped)).max()) > 1e-2


QUERY_POSITIONS = np.array([[0, 2, 5], [0, 3, 5]], "int32")  # row 1 pads positions 4 and 5


@pytest.mark.parametrize("training", [False, True])
def test_block_at_query_positions_is_the_whole_block_at_those_rows(training):
    """`query_positions`: the block computed at those rows only, attending to every real key,
    equals the whole block's output there, in values and in gradients (dropout off; with
    `training=True` the einsum form with its softmax)."""
    block = TransformerEncoderBlock(hidden_size=HIDDEN, num_heads=2, intermediate_size=32,
                                    dropout=0.0, attention_dropout=0.0)
    x = hidden_states()
    weights = np.random.default_rng(2).normal(size=(BATCH, 3, HIDDEN)).astype("float32")

    def at_rows(v):
        return block(v, PADDING, query_positions=QUERY_POSITIONS, training=training)

    def whole(v):
        return rows_at(block(v, PADDING, training=training), QUERY_POSITIONS)

    assert tuple(at_rows(x).shape) == (BATCH, 3, HIDDEN)
    assert_all_close(at_rows(x), whole(x), atol=1e-5, rtol=1e-5)
    gradients = [_gradients(lambda v, f=f: ops.sum(f(v) * weights), x)[0]
                 for f in (at_rows, whole)]
    np.testing.assert_allclose(gradients[0], gradients[1], atol=1e-5, rtol=1e-4)
    assert np.abs(gradients[0]).max() > 1e-2


def test_block_at_query_positions_symbolic_shape():
    block = TransformerEncoderBlock(hidden_size=HIDDEN, num_heads=2, intermediate_size=32)
    y = block(keras.Input((None, HIDDEN)), keras.Input((None,), dtype="int32"),
              query_positions=keras.Input((3,), dtype="int32"))
    assert tuple(y.shape) == (None, 3, HIDDEN)


def test_gelu_approximate_differs_from_exact():
    x = hidden_states()
    blocks = {}
    for act in ("gelu", "gelu_approximate"):
        keras.utils.set_random_seed(7)
        blocks[act] = TransformerEncoderBlock(HIDDEN, 2, 32, hidden_act=act)
    outs = {a: ops.convert_to_numpy(b(x, PADDING)) for a, b in blocks.items()}
    diff = np.abs(outs["gelu"] - outs["gelu_approximate"]).max()
    assert 0 < diff < 1e-2, diff


def test_transformer_block_rejects_bad_heads():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        TransformerEncoderBlock(hidden_size=10, num_heads=3, intermediate_size=40)
    with pytest.raises(ValueError, match="hidden_act"):
        TransformerEncoderBlock(hidden_size=8, num_heads=2, intermediate_size=8, hidden_act="relu6")


def test_pooler(tmp_path):
    layer = run_layer_test(
        Pooler,
        dict(hidden_size=HIDDEN),
        hidden_states(),
        (BATCH, HIDDEN),
        expected_num_trainable_weights=2,
        tmp_path=tmp_path,
    )
    kernel, bias = (ops.convert_to_numpy(w) for w in layer.weights)
    assert_all_close(layer(hidden_states()), np.tanh(hidden_states()[:, 0] @ kernel + bias), atol=1e-5)


def test_next_sentence_head(tmp_path):
    run_layer_test(
        NextSentenceHead,
        {},
        hidden_states()[:, 0],
        (BATCH, 2),
        expected_num_trainable_weights=2,
        tmp_path=tmp_path,
    )


def _mlm_head(**kwargs):
    embeddings = BertEmbeddings(vocab_size=VOCAB, hidden_size=HIDDEN, **kwargs)
    embeddings.build()
    return MaskedLMHead(embeddings, **kwargs)


MASK_POSITIONS = np.array([[1, 4, 0], [2, 3, 5]], "int32")


def test_masked_lm_head(tmp_path):
    # Trainable weights: transform kernel+bias, LN gamma+beta, output bias, and the tied
    # embeddings layer's 5 (the head owns no copy of the token table).
    run_layer_test(
        MaskedLMHead,
        dict(embeddings=BertEmbeddings(vocab_size=VOCAB, hidden_size=HIDDEN)),
        (hidden_states(), MASK_POSITIONS),
        (BATCH, 3, VOCAB),
        expected_num_trainable_weights=10,
        tmp_path=tmp_path,
    )


def test_masked_lm_head_matches_numpy_reference():
    from math import erf

    head = _mlm_head()
    x = hidden_states()
    logits = ops.convert_to_numpy(head(x, MASK_POSITIONS))
    assert logits.dtype == np.float32
    w = {v.path.split("/")[-1] if "transform" not in v.path else "t_" + v.path.split("/")[-1]:
         ops.convert_to_numpy(v) for v in head.weights}
    gathered = np.take_along_axis(x, MASK_POSITIONS[..., None], axis=1)
    h = gathered @ w["t_kernel"] + w["t_bias"]
    h = 0.5 * h * (1 + np.vectorize(erf)(h / np.sqrt(2)))
    h = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-12)
    expected = h @ ops.convert_to_numpy(head.embeddings.token_embeddings).T + w["output_bias"]
    np.testing.assert_allclose(logits, expected, atol=1e-5, rtol=1e-5)


def test_masked_lm_head_reads_rows_already_at_the_positions():
    """Without `mask_positions` the head scores the rows it is given (the pretrainer's last
    block computes only those): the logits of the same rows picked from the sequence."""
    head = _mlm_head()
    x = hidden_states()
    picked = head(rows_at(x, MASK_POSITIONS))
    assert tuple(picked.shape) == (BATCH, 3, VOCAB)
    assert_all_close(picked, head(x, MASK_POSITIONS), atol=1e-6)


def test_masked_lm_head_is_tied_to_the_embedding_variable():
    head = _mlm_head()
    head(hidden_states(), MASK_POSITIONS)
    table = head.embeddings.token_embeddings
    assert sum(w is table for w in head.weights) == 1
    # Changing the embedding variable changes the logits: the head reads it, not a copy.
    before = ops.convert_to_numpy(head(hidden_states(), MASK_POSITIONS))
    table.assign(np.zeros(table.shape, "float32"))
    after = ops.convert_to_numpy(head(hidden_states(), MASK_POSITIONS))
    bias = ops.convert_to_numpy(head.output_bias)
    np.testing.assert_allclose(after, np.broadcast_to(bias, after.shape), atol=1e-6)
    assert not np.allclose(before, after)


def _gradients(loss, *inputs):
    """The gradients of the scalar `loss(*inputs)` for each of `inputs`, on the current
    backend, as NumPy arrays."""
    if keras.backend.backend() == "jax":
        import jax

        argnums = tuple(range(len(inputs)))
        return [np.asarray(g) for g in jax.grad(loss, argnums=argnums)(*inputs)]
    import tensorflow as tf

    inputs = [tf.constant(t) for t in inputs]
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = loss(*inputs)
    return [g.numpy() for g in tape.gradient(value, inputs)]


def _gradient(fn, x):
    """d sum(fn(x)) / dx on the current backend."""
    return _gradients(lambda v: ops.sum(fn(v)), x)[0]


def test_layer_norm(tmp_path):
    run_layer_test(LayerNorm, {"epsilon": 1e-12}, hidden_states(), (BATCH, SEQ, HIDDEN), 2,
                   tmp_path)


def test_layer_norm_equals_keras_layer_normalization_values_and_gradients():
    """`LayerNorm` computes Keras' `LayerNormalization` in fewer passes: the same values and
    the same gradients for the input, gamma and beta (float32 rounding), with the same weight
    names, so checkpoints load into either."""
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(3, 5, 16)) * 4 + 2).astype("float32")
    upstream = rng.normal(size=(3, 5, 16)).astype("float32")
    ours, keras_norm = LayerNorm(epsilon=1e-12), keras.layers.LayerNormalization(epsilon=1e-12)
    for layer in (ours, keras_norm):
        layer.build(x.shape)
    keras_norm.set_weights([rng.normal(size=16).astype("float32") for _ in range(2)])
    ours.set_weights(keras_norm.get_weights())
    assert [w.path.split("/")[-1] for w in ours.weights] == ["gamma", "beta"]
    assert_all_close(ours(x), keras_norm(x), atol=2e-6, rtol=1e-5)

    def gradients(layer):
        def loss(x, gamma, beta):
            return ops.sum(layer.stateless_call([gamma, beta], [], x)[0] * upstream)
        return _gradients(loss, x, *layer.get_weights())

    for mine, theirs in zip(gradients(ours), gradients(keras_norm)):
        np.testing.assert_allclose(mine, theirs, atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(7, 16), (2, 5, 16)])
def test_written_out_layer_norm_gradient_equals_autodiff(shape):
    """`normalize_with_gradient` (the LayerNorm of backends that run op by op): the value and
    the gradients for x, gamma and beta of the autodiff form `standardize(x) * gamma + beta`,
    for row and sequence inputs."""
    from keras_bert_impl.layers.normalization import normalize_with_gradient, standardize

    rng = np.random.default_rng(2)
    x = (rng.normal(size=shape) * 3 + 1).astype("float32")
    gamma, beta = (rng.normal(size=shape[-1]).astype("float32") for _ in range(2))
    upstream = rng.normal(size=shape).astype("float32")

    def autodiff(x, gamma, beta):
        return standardize(x, 1e-12) * gamma + beta

    def written_out(x, gamma, beta):
        return normalize_with_gradient(x, gamma, beta, 1e-12)

    def value_and_gradients(function):
        def loss(x, gamma, beta):
            return ops.sum(function(x, gamma, beta) * upstream)
        return ([ops.convert_to_numpy(function(x, gamma, beta))]
                + _gradients(loss, x, gamma, beta))

    expected = value_and_gradients(autodiff)
    for name, mine, theirs in zip(["value", "x", "gamma", "beta"],
                                  value_and_gradients(written_out), expected):
        np.testing.assert_allclose(mine, theirs, atol=2e-5, rtol=1e-5, err_msg=name)


def test_layer_norm_computes_in_float32_and_fixes_its_axis():
    x = (np.random.default_rng(0).normal(size=(2, 16)) * 100 + 1000).astype("float32")
    mixed = LayerNorm(epsilon=1e-12, dtype="mixed_bfloat16")
    full = LayerNorm(epsilon=1e-12)
    y_mixed = ops.convert_to_numpy(ops.cast(mixed(ops.cast(x, "bfloat16")), "float32"))
    y_full = ops.convert_to_numpy(full(ops.cast(ops.cast(x, "bfloat16"), "float32")))
    np.testing.assert_allclose(y_mixed, y_full, atol=2e-2)
    with pytest.raises(ValueError, match="last axis"):
        LayerNorm(axis=1)
    with pytest.raises(ValueError, match="last axis"):
        LayerNorm(center=False)


def test_inner_layer_norm_rounds_its_float32_result_once_into_the_owners_dtype():
    """The LayerNorm inside a bfloat16 layer: float32 `gamma` and `beta` used unrounded (no
    autocast), float32 statistics, the output in bfloat16: exactly a float32 LayerNorm's
    output rounded once (what the layers did before, with an extra pass)."""
    from keras_bert_impl.layers.normalization import inner_layer_norm

    rng = np.random.default_rng(0)
    x = ops.cast(rng.normal(size=(64, HIDDEN)) * 3 + 1, "bfloat16")
    inner, full = inner_layer_norm(1e-12, "bfloat16", "n"), LayerNorm(epsilon=1e-12)
    for norm in (inner, full):
        norm.build((None, HIDDEN))
        norm.set_weights([1 + rng.normal(size=HIDDEN).astype("float32") / 7,
                          rng.normal(size=HIDDEN).astype("float32") / 7] if norm is inner
                         else inner.get_weights())
    y = inner(x)
    assert ops.convert_to_numpy(y).dtype.name == "bfloat16" and inner.gamma.dtype == "float32"
    np.testing.assert_array_equal(
        ops.convert_to_numpy(ops.cast(y, "float32")),
        ops.convert_to_numpy(ops.cast(ops.cast(full(ops.cast(x, "float32")), "bfloat16"),
                                      "float32")))
    block = TransformerEncoderBlock(hidden_size=HIDDEN, num_heads=2, intermediate_size=32,
                                    dtype="mixed_bfloat16")
    norm = block.output_layer_norm
    assert (norm.compute_dtype, norm.variable_dtype, norm.autocast) == ("bfloat16", "float32",
                                                                        False)
    assert inner_layer_norm(1e-12, "float32", "n").dtype_policy.name == "float32"


def test_exact_gelu_value_and_hand_written_gradient_match_the_erf_form():
    """`exact_gelu` (the "gelu" activation) computes Keras' exact GELU and differentiates it
    by hand; both match float64 NumPy (`Phi(x) + x phi(x)` for the derivative) and Keras'
    autodiff of its own GELU, within 1e-6, tails included."""
    from math import erf

    from keras_bert_impl.layers.transformer import exact_gelu

    x = np.linspace(-9.0, 9.0, 721).astype("float32")
    x64 = x.astype("float64")
    cdf = 0.5 * (1 + np.vectorize(erf)(x64 / np.sqrt(2)))
    pdf = np.exp(-0.5 * x64**2) / np.sqrt(2 * np.pi)
    np.testing.assert_allclose(ops.convert_to_numpy(exact_gelu(x)), x64 * cdf, atol=1e-6)
    ours = _gradient(exact_gelu, x)
    np.testing.assert_allclose(ours, cdf + x64 * pdf, atol=1e-6)
    keras_autodiff = _gradient(lambda v: keras.activations.gelu(v, approximate=False), x)
    np.testing.assert_allclose(ours, keras_autodiff, atol=1e-6)


def test_take_with_sorted_gradient_equals_the_gathers_value_and_gradient():
    """The token lookup an accelerator trains with: the same rows as `ops.take`, and a
    gradient (a segmented scan of the rows sorted by id) equal to the gather's scatter-add,
    repeated ids summed."""
    from keras_bert_impl.layers.embeddings import take_with_sorted_gradient

    rng = np.random.default_rng(0)
    table = rng.normal(size=(50, 8)).astype("float32")
    ids = np.concatenate([[0, 0, 0, 7], rng.integers(2, 50, 60)]).astype("int32")  # row 1 unused
    weights = rng.normal(size=(len(ids), 8)).astype("float32")
    np.testing.assert_array_equal(
        ops.convert_to_numpy(take_with_sorted_gradient(table, ids)), table[ids])
    ours = _gradient(lambda t: take_with_sorted_gradient(t, ids) * weights, table)
    reference = np.zeros_like(table)
    np.add.at(reference, ids, weights)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert np.abs(reference[0]).sum() > 0 and not reference[1].any()


def test_table_gradient_sums_long_runs_of_ids_exactly_enough():
    """Real text's shape of ids (a Zipf law, a run of 1,000 [PAD], ids 0 and vocab - 1, a
    bfloat16 upstream): every row equals the float64 sum of its rows within float32 rounding,
    and rows of unused ids are exactly zero."""
    from keras_bert_impl.layers.embeddings import table_gradient

    rng = np.random.default_rng(1)
    vocab = 3000
    ids = np.minimum(rng.zipf(1.3, 4096), vocab - 1).astype("int32")
    ids[:1000], ids[-1] = 0, vocab - 1
    upstream = rng.normal(size=(4096, 16)).astype("float32")
    for dtype in ("float32", "bfloat16"):
        rows = ops.cast(upstream, dtype)
        exact = np.zeros((vocab, 16))
        np.add.at(exact, ids, ops.convert_to_numpy(ops.cast(rows, "float32")).astype("float64"))
        got = table_gradient(ops.convert_to_tensor(ids), rows, vocab)
        assert keras.backend.standardize_dtype(got.dtype) == dtype
        got = ops.convert_to_numpy(ops.cast(got, "float32")).astype("float64")
        # float32 sums, then rounded to the upstream's dtype
        rtol = 1e-5 if dtype == "float32" else 2**-8
        np.testing.assert_allclose(got, exact, rtol=rtol, atol=1e-4)
        unused = np.setdiff1d(np.arange(vocab), ids)
        assert len(unused) > 1000 and not got[unused].any()


def test_embeddings_train_through_the_sorted_gradient_on_an_accelerator(monkeypatch):
    """On a GPU/TPU a training call takes its token rows through `take_with_sorted_gradient`
    (the same outputs); inference and CPUs keep the plain gather."""
    from keras_bert_impl.layers import embeddings

    calls = []
    real = embeddings.take_with_sorted_gradient
    monkeypatch.setattr(embeddings, "take_with_sorted_gradient",
                        lambda t, i: calls.append(1) or real(t, i))
    layer = BertEmbeddings(vocab_size=40, hidden_size=8, max_position_embeddings=16,
                           dropout=0.0)
    ids, segments = np.array([[2, 5, 5, 3]]), np.array([[0, 0, 1, 1]])
    on_cpu = ops.convert_to_numpy(layer(ids, segments, training=True))
    assert not calls
    monkeypatch.setattr(embeddings, "accelerator_in_use", lambda: True)
    on_accelerator = ops.convert_to_numpy(layer(ids, segments, training=True))
    assert calls == [1]
    np.testing.assert_allclose(on_accelerator, on_cpu, atol=1e-6)
    layer(ids, segments, training=False)
    assert calls == [1]


def test_scores_against_rows_equals_the_matmul_value_and_gradients():
    """The tied MLM projection `x @ table^T` with its hand-written gradients (`upstream @
    table` for `x`, `upstream^T @ x` for the table): the matmul's values and gradients, for
    rows and for `[batch, predictions, hidden]`."""
    from keras_bert_impl.layers.embeddings import scores_against_rows

    rng = np.random.default_rng(0)
    table = rng.normal(size=(30, 8)).astype("float32")
    for shape in ((6, 8), (2, 3, 8)):
        x = rng.normal(size=shape).astype("float32")
        upstream = rng.normal(size=shape[:-1] + (30,)).astype("float32")
        np.testing.assert_allclose(ops.convert_to_numpy(scores_against_rows(x, table)),
                                   x @ table.T, atol=1e-5)
        rows, up_rows = x.reshape(-1, 8), upstream.reshape(-1, 30)
        np.testing.assert_allclose(
            _gradient(lambda t: scores_against_rows(x, t) * upstream, table),
            up_rows.T @ rows, atol=1e-4)
        np.testing.assert_allclose(
            _gradient(lambda v: scores_against_rows(v, table) * upstream, x),
            (up_rows @ table).reshape(shape), atol=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="TensorFlow's graph optimizer (grappler) on a CPU")
def test_tensorflow_fuses_the_blocks_bias_adds_and_gelu_into_its_matmuls():
    """At inference the block's four projections are 2-D matmuls that TensorFlow's graph
    optimizer fuses with their bias add, and with the exact GELU where oneDNN is on (TF's
    default on x86): no separate BiasAdd or Erf is left to run (the 3-D form kept both). The
    attention mask and the LayerNorms take their short forms."""
    import collections

    import tensorflow as tf
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer
    from tensorflow.python.util import _pywrap_util_port

    block = TransformerEncoderBlock(hidden_size=32, num_heads=2, intermediate_size=64)
    block(np.zeros((2, 8, 32), "float32"), np.ones((2, 8), "int32"))
    function = tf.function(lambda x, mask: block(x, mask, training=False)).get_concrete_function(
        tf.TensorSpec((None, None, 32)), tf.TensorSpec((None, None), tf.int32))
    graph_def = function.graph.as_graph_def()
    for node in graph_def.node:
        node.device = "/device:CPU:0"
    meta_graph = tf.compat.v1.train.export_meta_graph(graph_def=graph_def, graph=function.graph)
    meta_graph.collection_def["train_op"].node_list.value.extend(
        t.name.split(":")[0] for t in function.outputs)
    optimized = tf_optimizer.OptimizeGraph(config_pb2.ConfigProto(), meta_graph)
    counts = collections.Counter(node.op for node in optimized.node)
    fused = sorted(tuple(s.decode() for s in node.attr["fused_ops"].list.s)
                   for node in optimized.node if node.op == "_FusedMatMul")
    assert counts["MatMul"] == counts["BiasAdd"] == 0, counts
    # Padding reaches attention as a [batch, 1, 1, seq] additive bias (one small select), not
    # a boolean mask expanded to the logits' shape; LayerNorm takes no SquaredDifference/Neg.
    assert counts["SelectV2"] == 1 and counts["LogicalAnd"] == counts["Fill"] == 0, counts
    assert counts["SquaredDifference"] == counts["Neg"] == 0 and counts["Rsqrt"] == 2, counts
    # Attention: one transpose of the fused projection into heads and one back, two batched
    # matmuls, no einsum (Keras' TensorFlow `dot_product_attention` transposes inside both).
    assert counts["Einsum"] == 0 and counts["Transpose"] == 2 and counts["Unpack"] == 1, counts
    assert counts["BatchMatMulV2"] + counts["_MklFusedBatchMatMulV2"] == 2, counts
    if _pywrap_util_port.IsMklEnabled():
        assert fused == [("BiasAdd",)] * 3 + [("BiasAdd", "GeluExact")], fused
        assert counts["Erf"] == 0, counts
    else:
        assert len(fused) == 4, fused


def test_projection_with_batched_input_gradient_equals_the_matmuls_value_and_gradients():
    """`project_with_batched_input_gradient` (the intermediate projection while training on
    TensorFlow): `x @ kernel + bias` and its autodiff gradients for x, kernel and bias."""
    from keras_bert_impl.layers.lora import project_with_batched_input_gradient

    rng = np.random.default_rng(3)
    x, kernel = rng.normal(size=(6, 8)).astype("float32"), rng.normal(size=(8, 20)).astype(
        "float32")
    bias, upstream = rng.normal(size=20).astype("float32"), rng.normal(size=(6, 20)).astype(
        "float32")
    np.testing.assert_allclose(
        ops.convert_to_numpy(project_with_batched_input_gradient(x, kernel, bias)),
        x @ kernel + bias, atol=1e-5)
    gradients = _gradients(
        lambda *a: ops.sum(project_with_batched_input_gradient(*a) * upstream), x, kernel, bias)
    for name, mine, expected in zip(["x", "kernel", "bias"], gradients,
                                    [upstream @ kernel.T, x.T @ upstream, upstream.sum(0)]):
        np.testing.assert_allclose(mine, expected, atol=1e-4, err_msg=name)


@pytest.mark.parametrize("variant", ["float32", "lora", "mixed_bfloat16"])
def test_block_trains_the_same_with_the_batched_intermediate_input_gradient(variant):
    """The encoder block's intermediate projection takes its input gradient as a batched
    matmul with the kernel's transpose while training on TensorFlow (one `BatchMatMulV2` of
    a `[1, intermediate, hidden]` kernel in the traced gradient, none with the flag off; the
    graph optimizer folds the transpose into `adj_y`): the block's output and its gradients
    for the input and every weight equal the autodiff form's: in float32, with LoRA adapters
    on the intermediate projection (the gradient reaches them through the merged kernel) and
    under `mixed_bfloat16` (bfloat16 rounding)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the batched input gradient is TensorFlow's (batches_input_gradients)")
    import tensorflow as tf

    block = TransformerEncoderBlock(
        hidden_size=16, num_heads=2, intermediate_size=64, dropout=0.0, attention_dropout=0.0,
        dtype="mixed_bfloat16" if variant == "mixed_bfloat16" else None)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 6, 16)).astype("float32")
    projection = tf.constant(rng.normal(size=(2, 6, 16)).astype("float32"))
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")
    block(x, mask)
    if variant == "lora":
        block.enable_lora(2, targets=("intermediate",))
        for v in block.trainable_variables:
            v.assign(rng.normal(scale=0.1, size=v.shape).astype("float32"))
    assert block.intermediate_dense.batched_input_gradient

    def outputs_and_gradients(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = block(inputs, mask, training=True)
            # a random projection: every term counts
            loss = tf.reduce_sum(tf.cast(y, tf.float32) * projection)
        return [y] + tape.gradient(loss, [inputs] + block.trainable_variables)

    def run():
        """A fresh trace (the flag is read while tracing): how many batched input gradients
        of the intermediate kernel its graph has, and its values in float32."""
        function = tf.function(outputs_and_gradients)
        graph = function.get_concrete_function(tf.constant(x)).graph
        batched_input_gradients = [op for op in graph.get_operations()
                                   if op.type == "BatchMatMulV2"
                                   and op.inputs[1].shape.as_list() == [1, 64, 16]]
        values = function(tf.constant(x))
        return len(batched_input_gradients), [tf.cast(t, tf.float32).numpy() for t in values]

    batched_count, batched = run()
    block.intermediate_dense.batched_input_gradient = False
    autodiff_count, autodiff = run()
    assert (batched_count, autodiff_count) == (1, 0)
    names = ["output", "input"] + [v.path for v in block.trainable_variables]
    assert len(batched) == len(names) == (4 if variant == "lora" else 14)
    tolerance = 3e-2 if variant == "mixed_bfloat16" else 1e-5
    for name, mine, expected in zip(names, batched, autodiff):
        np.testing.assert_allclose(mine, expected, atol=tolerance, rtol=tolerance, err_msg=name)
