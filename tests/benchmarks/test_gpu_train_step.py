"""`benchmarks/gpu_train_step.py`'s pieces that need no GPU: the batch every contender trains
on (shapes, special tokens, masking, padding, text-like repetition), the plan's parsing, and
`gpu_profile.py`'s kernel kinds; and, marked slow, a whole run of the driver on JAX's CPU with
`bert_tiny` (waves, the barrier, the lock, the table)."""

import functools
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import gpu_profile  # noqa: E402
import gpu_train_step  # noqa: E402


@pytest.fixture(autouse=True)
def _restore_kernel_switches(monkeypatch):
    """`ln_xla` switches the Pallas LayerNorm off: undone after each test."""
    from keras_bert_impl.layers import normalization

    monkeypatch.setattr(normalization, "runs_pallas_kernels", normalization.runs_pallas_kernels)


def test_realistic_batch_is_a_masked_text_batch():
    batch = gpu_train_step.realistic_batch(40, 128, 20)
    ids, padding = batch["token_ids"], batch["padding_mask"]
    assert ids.shape == batch["segment_ids"].shape == padding.shape == (40, 128)
    assert batch["mask_positions"].shape == batch["mask_ids"].shape == (40, 20)
    assert (ids[:, 0] == gpu_train_step.CLS).all()
    # 10% of sequences end early; padding is [PAD] with segment 0 and mask 0
    short = np.where(padding.min(axis=1) == 0)[0]
    assert short.tolist() == [0, 10, 20, 30]
    assert ((ids == gpu_train_step.PAD) == (padding == 0)).all()
    assert (batch["segment_ids"][padding == 0] == 0).all()
    # every masked position holds [MASK]; its label is a word id, never a special token
    masked = np.take_along_axis(ids, batch["mask_positions"], 1)
    assert (masked == gpu_train_step.MASK).all()
    assert (batch["mask_ids"] >= 999).all()
    assert np.diff(batch["mask_positions"], axis=1).min() > 0
    # text-like repetition: the commonest word fills ~2% of the tokens (uniform ids: 0.003%)
    words = ids[(ids >= 999)]
    assert np.bincount(words).max() / words.size > 0.015
    assert set(np.unique(batch["next_sentence_labels"])) == {0, 1}


def test_plan_entries_name_a_contender_and_its_shape():
    assert gpu_train_step.contender("ours")[:3] == ("ours", 128, 128)
    name, seq, batch, spec = gpu_train_step.contender("tok_scatter:512x32")
    assert (name, seq, batch, spec["runner"]) == ("tok_scatter", 512, 32, "ours")
    assert gpu_train_step.contender("hf-compile")[3] == {"runner": "hf", "compile": True}
    name, _, _, spec = gpu_train_step.contender("no_attn_dropout+no_dropout+attn_heads_first")
    assert spec == {"config": {"attention_dropout": 0.0, "dropout": 0.0},
                    "attention_heads_first": True, "runner": "ours"}
    spec = gpu_train_step.contender("triton_gemm+xla_cublaslt")[3]
    assert spec["xla_flags"] == ("--xla_gpu_enable_triton_gemm=true "
                                 "--xla_gpu_enable_cublaslt=true")
    with pytest.raises(SystemExit, match="unknown contender 'bert'"):
        gpu_train_step.contender("bert")
    with pytest.raises(SystemExit, match="unknown contender 'ours\\+bert'"):
        gpu_train_step.contender("ours+bert")


@pytest.mark.parametrize("kernel, kind", [
    ("nvjet_sm90_tst_128x128_64x6_2x1_v_bz_NNT", "matmul"), ("gemm_fusion_dot_57", "matmul"),
    ("input_scatter_fusion", "scatter"), ("loop_multiply_fusion_11", "other fusions"),
    ("MemcpyD2D", "copy")])
def test_profile_kernel_kinds(kernel, kind):
    assert gpu_profile.kind(kernel) == kind


@pytest.mark.slow
def test_driver_runs_ours_and_an_ablation_on_jax_cpu(tmp_path):
    out = tmp_path / "results.jsonl"
    env = dict(os.environ, KERAS_BACKEND="jax")
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / "gpu_train_step.py"), "--preset", "bert_tiny",
         "--plan", "ours:32x4,tok_scatter:32x4", "--steps", "2", "--epochs", "2",
         "--matmul", "128", "--out", str(out), "--logs", str(tmp_path / "logs"),
         "--lock", str(tmp_path / "lock")],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    records = {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert set(records) == {"matmul", "ours", "tok_scatter"}
    assert all(r["ok"] and r["rate"] > 0 for r in records.values())
    assert "tok_scatter" in result.stdout and "vs ours" in result.stdout


def committed_run(file_name):
    """A committed run (`benchmarks/results/FILE_NAME`) as `python -m benchmarks` records,
    keyed by contender (`"ours"` or the ablation's name) and shape (`"128x128"`)."""
    found = {}
    for record in gpu_train_step.records(BENCHMARKS / "results" / file_name, "bert_base"):
        seq, batch = re.search(r"seq=(\d+) batch=(\d+)", record["config"]).groups()
        name = record["name"].removeprefix("GPU train step ablation ")
        found["ours" if name == "GPU train step (MLM+NSP)" else name, f"{seq}x{batch}"] = record
    return found


def ablation_rates(run, shape=None):
    """{ablation: its seq/s, rounded} of a `committed_run`, at `shape` (default: any)."""
    return {name: round(record["ours"]) for (name, at), record in run.items()
            if name != "ours" and shape in (None, at)}


def peer_rates(record):
    return {peer: round(rate) for peer, rate in record["peers"].items()}


def test_records_of_the_h200_run():
    """The committed H200 run as `python -m benchmarks` records: ours per shape against the
    peers measured at that shape, each ablation against ours as shipped, MFU in the notes."""
    run = committed_run("gpu_train_step-nvidia-h200.jsonl")
    main = run["ours", "128x128"]
    assert main["config"] == "bert_base seq=128 batch=128 mixed_bfloat16 JAX fit"
    assert round(main["ours"]) == 3720 and main["dtype"] == "bfloat16"
    assert peer_rates(main) == {"keras-hub": 3678, "hf-eager": 2240, "hf-compile": 3805}
    assert "MFU 33.8% of the 774 TFLOP/s" in main["notes"]
    assert round(run["ours", "512x32"]["peers"]["hf-compile"]) == 848
    scatter = run["tok_scatter", "128x128"]
    assert round(scatter["ours"]) == 1953 and round(scatter["peers"]["ours as shipped"]) == 3720


def test_records_of_the_h200_runs_of_2026_11_27():
    """Run 3 (fb814a9: LayerNorm as Pallas kernels) against the peers and `ln_xla`, the XLA
    LayerNorm it replaced; run 2, where the Pallas LayerNorm was the ablation `ln_pallas`."""
    run3 = committed_run("gpu_train_step-nvidia-h200-2026-11-27-run3.jsonl")
    main = run3["ours", "128x128"]
    assert round(main["ours"]) == 4559
    assert peer_rates(main) == {"keras-hub": 2070, "hf-compile": 3812}
    assert "MFU 41.0% of the 783 TFLOP/s" in main["notes"]
    assert ablation_rates(run3)["ln_xla"] == 4458
    pallas = committed_run("gpu_train_step-nvidia-h200-2026-11-27-run2.jsonl")[
        "ln_pallas", "128x128"]
    assert (round(pallas["ours"]), round(pallas["peers"]["ours as shipped"])) == (4711, 4422)


def test_records_of_the_pallas_attention_runs():
    """H200 run 5: `ours` with the Pallas attention and the LayerNorms writing bfloat16,
    against `attn_xla`, `ln_f32_out`, both (the code before) and the peers; H100 run 4, where
    the Pallas attention was the ablation `attn_pallas`; H200 run 6: the one-round dropout
    hash against `drop_hash2`, and the batch sweep."""
    run5 = committed_run("gpu_train_step-nvidia-h200-2026-11-27-run5.jsonl")
    main = run5["ours", "128x128"]
    assert round(main["ours"]) == 5329
    assert peer_rates(main) == {"keras-hub": 2070, "hf-compile": 3831}
    assert "MFU 46.5% of the 807 TFLOP/s" in main["notes"]
    assert round(run5["ours", "512x32"]["ours"]) == 884
    assert ablation_rates(run5, "128x128") == {"attn_xla": 4769, "ln_f32_out": 5084,
                                               "attn_xla+ln_f32_out": 4579}
    pallas = committed_run("gpu_train_step-nvidia-h100-2026-11-27-run4.jsonl")[
        "attn_pallas", "128x128"]
    assert (round(pallas["ours"]), round(pallas["peers"]["ours as shipped"])) == (4766, 4163)
    run6 = committed_run("gpu_train_step-nvidia-h200-2026-11-27-run6.jsonl")
    assert {shape: round(record["ours"]) for (name, shape), record in run6.items()
            if name == "ours"} == {"128x128": 5345, "128x64": 4795, "128x256": 5745,
                                   "512x32": 929}
    assert ablation_rates(run6) == {"drop_hash2": 5218}
    run7 = committed_run("gpu_train_step-nvidia-h200-2026-11-27-run7.jsonl")
    main = run7["ours", "128x128"]
    assert round(main["ours"]) == 5327 and "MFU 46.8% of the 802 TFLOP/s" in main["notes"]
    assert peer_rates(main) == {"keras-hub": 2043, "hf-compile": 3765}
    ablations = ablation_rates(run7)
    assert ablations["attn_bwd_warps16"] == 4578 and ablations["spe8"] == 5365


def test_records_of_the_h100_runs():
    """The committed H100 run (2026-11-27, run 2): its `ours` is 41b4d93 (Triton gemms on);
    `xla_no_triton_gemm` is the code shipped since, 1.08x; the ablations that chose the
    hashed dropout mask and the sorted token gradient."""
    run = committed_run("gpu_train_step-nvidia-h100.jsonl")
    main = run["ours", "128x128"]
    assert round(main["ours"]) == 3814
    assert peer_rates(main) == {"keras-hub": 1872, "hf-compile": 3535}
    assert "MFU 33.7% of the 797 TFLOP/s" in main["notes"]
    assert ablation_rates(run) == {"xla_no_triton_gemm": 4126, "tok_one_hot": 3539,
                                   "drop_paired": 3721, "no_dropout": 3950}
    assert round(run["ours", "512x32"]["peers"]["hf-compile"]) == 793


def test_results_needs_a_gpu(monkeypatch):
    import machine

    monkeypatch.setattr(machine, "gpu_name", lambda: None)
    with pytest.raises(SystemExit, match="needs a GPU that JAX sees"):
        gpu_train_step.results()


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_layer_norm_and_mlm_ablations_keep_values_and_gradients(monkeypatch):
    """The `ln_closed_form` and `mlm_autodiff` patches change how gradients are computed,
    not what they are: values and gradients equal the shipped code's (float32 rounding)."""
    import jax

    from keras_bert_impl.layers import embeddings, normalization
    from keras_bert_impl.layers.normalization import LayerNorm

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 16)).astype("float32") * 3 + 1
    upstream = rng.normal(size=(3, 5, 16)).astype("float32")
    layer = LayerNorm(epsilon=1e-12)
    layer.build((None, None, 16))
    layer.gamma.assign(rng.normal(size=16).astype("float32"))
    layer.beta.assign(rng.normal(size=16).astype("float32"))
    table = rng.normal(size=(40, 16)).astype("float32")

    def outputs_and_gradients():
        def loss(x, gamma, beta, table):
            y = layer.stateless_call([gamma, beta], [], x)[0]
            return (y * upstream).sum() + embeddings.scores_against_rows(y, table).sum()

        args = (x, layer.gamma.value, layer.beta.value, table)
        return [np.asarray(layer(x))] + [np.asarray(g) for g in
                                          jax.grad(loss, argnums=(0, 1, 2, 3))(*args)]

    shipped = outputs_and_gradients()
    shipped_rule, shipped_scores = normalization.standardize, embeddings.scores_against_rows
    monkeypatch.setattr(normalization, "runs_pallas_kernels", normalization.runs_pallas_kernels)
    monkeypatch.setattr(normalization, "standardize", shipped_rule)
    monkeypatch.setattr(embeddings, "scores_against_rows", shipped_scores)
    gpu_train_step.apply_variant({"ln_closed_form": True, "mlm_autodiff": True})
    assert normalization.standardize is not shipped_rule  # the patches reach the model's code
    assert embeddings.scores_against_rows is not shipped_scores
    for ours, theirs in zip(shipped, outputs_and_gradients()):
        np.testing.assert_allclose(theirs, ours, atol=2e-5, rtol=1e-5)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_ln_xla_ablation_turns_the_pallas_kernels_off(monkeypatch):
    """`ln_xla` (and `ln_closed_form`, which patches the `keras.ops` form) take LayerNorm off
    the Pallas kernels it runs on an NVIDIA GPU (here pretended, the kernels interpreted)."""
    import jax

    from keras_bert_impl.layers import normalization
    from keras_bert_impl.layers.normalization import LayerNorm

    monkeypatch.setattr(normalization, "runs_pallas_kernels", lambda: True)
    layer = LayerNorm(epsilon=1e-12)
    x = np.random.default_rng(0).normal(size=(4, 24)).astype("float32")
    kernels = lambda: "pallas_call" in str(jax.make_jaxpr(lambda x: layer(x))(x))  # noqa: E731
    pallas = np.asarray(layer(x))
    assert kernels()
    assert gpu_train_step.VARIANTS["ln_closed_form"]["ln_xla"]
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["ln_xla"])
    assert not kernels()
    np.testing.assert_allclose(np.asarray(layer(x)), pallas, atol=1e-5)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_ln_f32_out_ablation_keeps_the_blocks_output(monkeypatch):
    """`ln_f32_out` gives the LayerNorms inside the layers the float32 policy again (a float32
    output the block rounds): the same bfloat16 block output."""
    from keras_bert_impl.layers import embeddings, heads, transformer

    for module in (embeddings, heads, transformer):
        monkeypatch.setattr(module, "inner_layer_norm", module.inner_layer_norm)
    x = np.random.default_rng(0).normal(size=(2, 8, 16)).astype("float32")

    def block():
        made = transformer.TransformerEncoderBlock(hidden_size=16, num_heads=2,
                                                   intermediate_size=32, dtype="mixed_bfloat16")
        made(x, np.ones((2, 8), "int32"))
        return made

    shipped = block()
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["ln_f32_out"])
    ablation = block()
    ablation.set_weights(shipped.get_weights())
    assert (shipped.output_layer_norm.dtype_policy.name,
            ablation.output_layer_norm.dtype_policy.name) == ("mixed_bfloat16", "float32")
    np.testing.assert_array_equal(np.asarray(ablation(x, np.ones((2, 8), "int32")), "float32"),
                                  np.asarray(shipped(x, np.ones((2, 8), "int32")), "float32"))


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_drop_hash2_hashes_the_layers_and_the_kernels_masks_twice(monkeypatch):
    """`drop_hash2` (the cost of the two-round mask): the Dropout layer's mask and the Pallas
    attention's are still the same mask, at the same rate, another than one round's."""
    import jax.numpy as jnp
    import keras

    from keras_bert_impl.layers import dropout
    from keras_bert_impl.layers.pallas_attention import attention_with_dropout, einsum_attention

    monkeypatch.setattr(dropout, "ROUNDS", dropout.ROUNDS)
    qkv = jnp.asarray(np.random.default_rng(0).normal(size=(2 * 16, 3 * 32)), "float32")
    args = (qkv, jnp.zeros((2, 16)), jnp.asarray([3, 4], "uint32"))
    options = {"batch": 2, "heads": 2, "steps": 205}

    def masks():
        keep = dropout.hashed_keep_mask((256, 512), 205, keras.random.SeedGenerator(1))
        return (np.asarray(keep), np.asarray(attention_with_dropout(*args, **options)),
                np.asarray(einsum_attention(*args, **options)))

    one = masks()
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["drop_hash2"])
    assert dropout.ROUNDS == 2
    two = masks()
    assert abs(1 - two[0].mean() - 0.1) < 0.005 and (one[0] != two[0]).mean() > 0.1
    np.testing.assert_allclose(two[1], two[2], atol=1e-5)
    assert np.abs(one[1] - two[1]).max() > 0.1


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_attention_ablations_reach_the_pallas_attention(monkeypatch):
    """`attn_xla` takes the block's training attention off the Pallas kernels (here pretended
    on); `attn_blocks64` and the `attn_*warps*` ones change the kernels' tiles and warps."""
    from keras_bert_impl.layers import pallas_attention, transformer

    monkeypatch.setattr(transformer, "runs_pallas_kernels", lambda: True)
    for name in ("MAX_SEQUENCE", "BLOCK", "_warps"):
        monkeypatch.setattr(pallas_attention, name, getattr(pallas_attention, name))
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["attn_xla"])
    assert not transformer.runs_pallas_kernels()
    monkeypatch.setattr(pallas_attention, "QUERY_ROWS", pallas_attention.QUERY_ROWS)
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["attn_fwd_rows64"])
    assert pallas_attention.QUERY_ROWS == 64
    monkeypatch.setattr(pallas_attention, "KEY_BLOCK", pallas_attention.KEY_BLOCK)
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["attn_bwd_loop64"])
    assert pallas_attention.KEY_BLOCK == 64
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["attn_blocks64"])
    assert (pallas_attention.MAX_SEQUENCE, pallas_attention.BLOCK) == (64, 64)
    assert pallas_attention.supports(128, 64, 2, 12)
    for warps in (4, 16):
        gpu_train_step.apply_variant(gpu_train_step.VARIANTS[f"attn_warps{warps}"])
        assert pallas_attention._warps(128, "attention_backward") == warps
    for variant, kernel, warps in [("attn_fwd_warps4", "attention_forward", 4),
                                   ("attn_bwd_warps16", "attention_backward", 16)]:
        monkeypatch.setattr(pallas_attention, "_warps", pallas_attention._warps)
        shipped = pallas_attention._warps
        gpu_train_step.apply_variant(gpu_train_step.VARIANTS[variant])
        assert pallas_attention._warps(128, kernel) == warps
        other = ({"attention_forward", "attention_backward"} - {kernel}).pop()
        assert pallas_attention._warps(128, other) == shipped(128, other)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
@pytest.mark.parametrize("variant", ["ln_rows2", "ln_rows8", "ln_blocks16", "ln_blocks2"])
def test_layer_norm_tile_ablations_keep_values_and_gradients(monkeypatch, variant):
    import jax

    from keras_bert_impl.layers import pallas_layer_norm

    x = np.random.default_rng(0).normal(size=(100, 24)).astype("float32")
    upstream = np.random.default_rng(1).normal(size=(100, 24)).astype("float32")
    gamma, beta = np.linspace(0.5, 2, 24, dtype="float32"), np.zeros(24, "float32")

    def gradients():
        return jax.grad(lambda x, g: (pallas_layer_norm.layer_norm(x, g, beta, 1e-12)
                                      * upstream).sum(), argnums=(0, 1))(x, gamma)

    shipped = gradients()
    for name in ("ROWS", "BACKWARD_BLOCKS"):
        monkeypatch.setattr(pallas_layer_norm, name, getattr(pallas_layer_norm, name))
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS[variant])
    assert [pallas_layer_norm.ROWS, pallas_layer_norm.BACKWARD_BLOCKS] == \
        gpu_train_step.VARIANTS[variant]["ln_tiles"]
    for ours, theirs in zip(shipped, gradients()):
        np.testing.assert_allclose(theirs, ours, atol=1e-5)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_softmax_bf16_ablation_keeps_the_attention(monkeypatch):
    """`softmax_bf16` changes only the explicit attention's softmax dtype: with padded keys,
    the block's output stays the shipped one's (float32 here, so equal to rounding)."""
    from keras_bert_impl.layers import transformer

    block = transformer.TransformerEncoderBlock(hidden_size=16, num_heads=2,
                                                intermediate_size=32)
    for layer in (block.attention_dropout, block.attention_output_dropout, block.output_dropout):
        layer.rate = 0.0  # attention_dropout_rate stays 0.1: training takes the explicit path
    x = np.random.default_rng(0).normal(size=(2, 6, 16)).astype("float32")
    padding = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], "int32")
    shipped = np.asarray(block(x, padding, training=True))
    monkeypatch.setattr(transformer.TransformerEncoderBlock, "_attention_with_dropout",
                        transformer.TransformerEncoderBlock._attention_with_dropout)
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["softmax_bf16"])
    np.testing.assert_allclose(np.asarray(block(x, padding, training=True)), shipped,
                               atol=1e-5)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
def test_attn_cudnn_ablation_replaces_the_training_attention(monkeypatch):
    """`attn_cudnn` replaces the explicit attention with dropout (the path training takes)
    by JAX's cuDNN fused kernel; inference keeps `ops.dot_product_attention`. (The kernel
    itself needs an NVIDIA GPU, so it runs in the benchmark only.)"""
    from keras_bert_impl.layers import transformer

    block = transformer.TransformerEncoderBlock
    monkeypatch.setattr(block, "_attention_with_dropout", block._attention_with_dropout)
    shipped = block._attention_with_dropout
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS["attn_cudnn"])
    assert block._attention_with_dropout is not shipped
    assert block._attention_with_dropout.__module__ == gpu_train_step.__name__


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
@pytest.mark.parametrize("variant", ["attn_heads_first", "softmax_recompute", "gelu_recompute"])
def test_layout_and_recompute_ablations_train_the_same_block(monkeypatch, variant):
    """`attn_heads_first` changes the training attention's layout, `softmax_recompute` and
    `gelu_recompute` what the softmax and the GELU keep for the backward pass: with dropout
    on and the same seeds, the block's output and its gradient stay the shipped ones."""
    import jax
    import keras

    from keras_bert_impl.layers import transformer

    rng = np.random.default_rng(0)
    x, weights = rng.normal(size=(2, 2, 6, 16)).astype("float32")
    padding = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], "int32")

    def output_and_input_gradient():
        keras.utils.set_random_seed(3)
        block = transformer.TransformerEncoderBlock(hidden_size=16, num_heads=2,
                                                    intermediate_size=32, attention_dropout=0.3)
        block(x, padding)
        kernel = block.qkv_dense.kernel  # logits of order 1: the softmax's gradient counts
        kernel.assign(kernel * 30.0)
        keras.utils.set_random_seed(4)
        # a projection, not the sum of squares (which a LayerNorm output keeps constant)
        return jax.value_and_grad(
            lambda x: (block(x, padding, training=True) * weights).sum())(x)

    shipped = output_and_input_gradient()
    owner, name = {"attn_heads_first": (transformer.TransformerEncoderBlock, "_attention"),
                   "softmax_recompute": (transformer.TransformerEncoderBlock, "_probabilities"),
                   "gelu_recompute": (transformer.ACTIVATIONS, "gelu")}[variant]
    get = owner.get if isinstance(owner, dict) else functools.partial(getattr, owner)
    shipped_code = get(name)
    if isinstance(owner, dict):
        monkeypatch.setitem(owner, name, shipped_code)
    else:
        monkeypatch.setattr(owner, name, shipped_code)
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS[variant])
    assert get(name) is not shipped_code  # the patch reaches the block's code
    for ours, theirs in zip(shipped, output_and_input_gradient()):
        np.testing.assert_allclose(np.asarray(theirs), np.asarray(ours), atol=2e-5, rtol=1e-5)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
@pytest.mark.parametrize("variant", ["drop_keras", "drop_rbg", "drop_u16", "drop_paired"])
def test_dropout_ablations_reach_the_models_dropout_and_keep_its_rate(monkeypatch, variant):
    """Each dropout ablation replaces the draw of the `Dropout` our layers build (not Keras'
    base class, which it overrides): another mask, the same rate and scale."""
    from keras_bert_impl.layers import dropout

    monkeypatch.setattr(dropout.Dropout, "call", dropout.Dropout.call)
    monkeypatch.setattr(dropout, "masks_fuse", dropout.masks_fuse)
    x = np.ones((256, 512), "float32")
    shipped = np.asarray(dropout.Dropout(0.1, seed=0)(x, training=True))
    gpu_train_step.apply_variant(gpu_train_step.VARIANTS[variant])
    y = np.asarray(dropout.Dropout(0.1, seed=0)(x, training=True))
    assert ((y == 0) != (shipped == 0)).mean() > 0.1
    assert abs((y == 0).mean() - 0.1) < 0.003
    np.testing.assert_allclose(np.unique(y[y != 0]), 1 / 0.9, rtol=2e-3)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND") != "jax",
                    reason="the GPU benchmark's patches run on JAX")
@pytest.mark.parametrize("kind", ["one_hot", "one_hot_transposed", "sorted"])
def test_token_gradient_ablations_keep_the_gathers_gradient(monkeypatch, kind):
    """`tok_one_hot`, `tok_transposed` and `tok_sorted` replace only
    `embeddings.table_gradient`: the token lookup's gradient stays the gather's scatter-add,
    repeated ids summed."""
    import jax

    from keras_bert_impl.layers import embeddings

    monkeypatch.setattr(embeddings, "table_gradient", embeddings.table_gradient)
    monkeypatch.setattr(embeddings, "accelerator_in_use", embeddings.accelerator_in_use)
    gpu_train_step.apply_variant({"token_gradient": kind})
    rng = np.random.default_rng(0)
    table = rng.normal(size=(30, 8)).astype("float32")
    ids = np.array([0, 0, 5, 7, 5, 29, 0], "int32")
    upstream = rng.normal(size=(len(ids), 8)).astype("float32")
    gradient = jax.grad(
        lambda t: (embeddings.take_with_sorted_gradient(t, ids) * upstream).sum())(table)
    expected = np.zeros_like(table)
    np.add.at(expected, ids, upstream)
    np.testing.assert_allclose(np.asarray(gradient), expected, atol=1e-5)
    assert embeddings.accelerator_in_use()
    assert embeddings.table_gradient.__name__ == {"one_hot": "one_hot_table_gradient",
                                                  "one_hot_transposed": "one_hot_transposed",
                                                  "sorted": "sorted_segment_sum"}[kind]


def test_peers_and_the_triton_gemm_ablation_run_with_xlas_default_flags():
    """`keras_bert_impl.xla_flags` changes XLA's defaults on import: keras-hub (run as its
    users run it) and the `triton_gemm` ablation name XLA's own settings of those flags, which
    the import then leaves alone; ours keeps the package's."""
    from keras_bert_impl.xla_flags import GPU_FLAGS, add_gpu_flags

    defaults = gpu_train_step.XLA_DEFAULTS
    assert {flag.lstrip("-").split("=")[0] for flag in defaults.split()} == set(GPU_FLAGS)
    assert gpu_train_step.contender("keras-hub")[3]["xla_flags"] == defaults
    assert gpu_train_step.contender("triton_gemm")[3]["xla_flags"] == defaults
    assert "xla_flags" not in gpu_train_step.contender("ours")[3]
    environ = {"XLA_FLAGS": defaults}
    assert add_gpu_flags(environ) == [] and environ["XLA_FLAGS"] == defaults
    # A driver that imported our package itself hands its flags down: the contender's win.
    assert gpu_train_step.with_flags("--xla_dump_to=/tmp/x --xla_gpu_enable_triton_gemm=false",
                                     defaults) == f"--xla_dump_to=/tmp/x {defaults}"
    assert gpu_train_step.with_flags("--xla_dump_to=/tmp/x", "") == "--xla_dump_to=/tmp/x"
