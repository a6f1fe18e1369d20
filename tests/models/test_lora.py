"""LoRA on our models (`keras_bert_impl.models.lora`): enabling changes no output, only the
adapters and the head train (every other encoder weight bit-identical after `fit`), merging
keeps the outputs (atol 1e-5), `.keras` and adapter-file round trips are exact, mismatched
adapter files are clear errors.

Runs on the TensorFlow and the JAX backends (`make test` runs tests/models under both).
"""

import os

import keras
import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder
from keras_bert_impl.models import BertClassifier, BertPretrainer
from keras_bert_impl.models.weights import assign_weights, extract_weights
from keras_bert_impl.presets.canonical import WeightLoadError
from tests.harness import assert_all_close, random_token_inputs, run_model_saving_test

TINY = BertConfig(vocab_size=120, hidden_size=16, num_layers=2, num_heads=2,
                  intermediate_size=32, max_position_embeddings=16)


def inputs(batch=4, seq=8):
    return random_token_inputs(batch, seq, 120, padded_from=5)


LABELS = np.array([0, 1, 1, 0])


def numpy_(x):
    return keras.ops.convert_to_numpy(x)


def classifier(config=TINY, num_classes=2):
    return BertClassifier(BertEncoder(config), num_classes=num_classes)


def fit(model, steps=2):
    """`steps` Adam steps without XLA (its compilation costs more than these tests). Adam,
    because B starts at zero, so A's first gradient is zero and its second one tiny: SGD
    would leave A bit-identical."""
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    model.fit(inputs(), LABELS, batch_size=4, epochs=steps, verbose=0)
    return model


@pytest.fixture(scope="module")
def trained():
    """`(model, base_weights, weights_before_fit)`: a classifier with LoRA on query and
    value, fine-tuned two steps; the tests below leave it as it is."""
    keras.utils.set_random_seed(0)
    model = classifier()
    base_weights = model.get_weights()
    model.enable_lora(2)
    before = {v.path: numpy_(v).copy() for v in model.weights}
    return fit(model), base_weights, before


def copy_of(model, **lora):
    """A new LoRA classifier with `model`'s weights (a model the test may change)."""
    clone = classifier()
    clone.enable_lora(2, **lora)
    clone.set_weights(model.get_weights())
    return clone


def test_enable_lora_keeps_outputs_and_trains_only_adapters_and_head():
    model = classifier()
    x = inputs()
    before = numpy_(model(x))
    model.enable_lora(2)
    assert_all_close(model(x), before, atol=0, rtol=0)
    # A and B for query and value in 2 blocks, then the classifier's kernel and bias.
    trainable = [v.path for v in model.trainable_weights]
    assert len(trainable) == 2 * 2 * 2 + 2
    assert all("lora_kernel" in p for p in trainable[:-2])
    assert trainable[-2:] == ["classifier/kernel", "classifier/bias"]
    assert model.lora_config() == {"rank": 2, "targets": ["query", "value"], "alpha": 2}
    # keras-hub spells it task.backbone.enable_lora: ours is the same on the encoder.
    assert model.encoder.lora_config() == model.lora_config()


def test_fit_moves_the_adapters_and_the_head_only(trained):
    model, _, before = trained
    trainable = {v.path for v in model.trainable_weights}
    assert len(trainable) == 10
    for v in model.weights:
        if v.path in trainable:
            assert not np.array_equal(numpy_(v), before[v.path]), f"{v.path} did not move"
        else:
            np.testing.assert_array_equal(numpy_(v), before[v.path], err_msg=v.path)


@pytest.mark.parametrize("targets, per_block", [
    ("key", 2),
    (("query", "key", "value", "attention_output", "intermediate", "output"), 12),
])
def test_any_targets_start_from_the_same_outputs(targets, per_block):
    encoder = BertEncoder(TINY)
    x = inputs()
    before = numpy_(encoder(x)["sequence_output"])
    encoder.enable_lora(4, targets=targets, alpha=8)
    assert len(encoder.trainable_weights) == TINY.num_layers * per_block
    assert_all_close(encoder(x)["sequence_output"], before, atol=0, rtol=0)


def test_merge_lora_keeps_outputs_and_leaves_a_plain_model(trained):
    model = copy_of(trained[0])
    x = inputs()
    before = numpy_(model(x))
    assert_all_close(before, trained[0](x), atol=0, rtol=0)
    count = len(model.weights)
    model.merge_lora()
    assert_all_close(model(x), before, atol=1e-5, rtol=0)
    assert not any("lora" in v.path for v in model.weights)
    assert len(model.weights) == count - 2 * 2 * 2
    assert model.lora_config() is None and "lora" not in model.get_config()["encoder"]["config"]
    assert len(model.trainable_weights) == len(model.weights)  # everything trains again
    with pytest.raises(ValueError, match="no LoRA adapters to merge"):
        model.merge_lora()


def test_keras_round_trip_keeps_adapters_exactly(trained, tmp_path):
    model = trained[0]
    restored = run_model_saving_test(model, inputs(), tmp_path)
    assert restored.lora_config() == model.lora_config()
    assert [v.path for v in restored.trainable_weights] == \
        [v.path for v in model.trainable_weights]
    for saved, loaded in zip(model.weights, restored.weights, strict=True):
        np.testing.assert_array_equal(numpy_(loaded), numpy_(saved), err_msg=saved.path)
    assert_all_close(restored(inputs()), model(inputs()), atol=0, rtol=0)


def test_adapter_file_onto_a_fresh_base_gives_the_same_outputs(trained, tmp_path):
    model, base_weights, _ = trained
    path = os.path.join(tmp_path, "run.lora.safetensors")
    model.save_lora_weights(path)
    assert os.path.getsize(path) < 4_000  # adapters and head only

    fresh = classifier()  # another random head: the file brings the trained one
    fresh.set_weights(base_weights)
    fresh.enable_lora(2)
    fresh.load_lora_weights(path)
    assert_all_close(fresh(inputs()), model(inputs()), atol=0, rtol=0)


def test_mismatched_adapter_files_are_clear_errors(trained, tmp_path):
    path = os.path.join(tmp_path, "rank2.lora.safetensors")
    trained[0].save_lora_weights(path)

    plain = classifier()
    with pytest.raises(ValueError, match=r"no LoRA adapters.*model\.enable_lora\(rank=2, "
                                         r"targets=\('query', 'value'\), alpha=2\)"):
        plain.load_lora_weights(path)
    wrong_rank = classifier()
    wrong_rank.enable_lora(4)
    with pytest.raises(ValueError, match=r"rank 2 in the file, 4 in the model.*"
                                         r"enable_lora\(rank=2"):
        wrong_rank.load_lora_weights(path)
    wrong_targets = classifier()
    wrong_targets.enable_lora(2, targets="query,key")
    with pytest.raises(ValueError, match=r"targets \['query', 'value'\] in the file"):
        wrong_targets.load_lora_weights(path)
    three_classes = classifier(num_classes=3)
    three_classes.enable_lora(2)
    with pytest.raises(WeightLoadError, match=r"classifier/dense/kernel: \(16, 2\) in the file, "
                                              r"\(16, 3\) in the model"):
        three_classes.load_lora_weights(path)
    with pytest.raises(ValueError, match="no LoRA adapters to save"):
        plain.save_lora_weights(os.path.join(tmp_path, "none.lora.safetensors"))
    with pytest.raises(FileNotFoundError, match="No LoRA adapter file"):
        wrong_rank.load_lora_weights(os.path.join(tmp_path, "absent.lora.safetensors"))


def test_save_to_preset_writes_the_merged_model(trained, tmp_path):
    model = trained[0]
    model.save_to_preset(os.path.join(tmp_path, "merged"))
    reloaded = BertClassifier.from_preset(os.path.join(tmp_path, "merged"))
    assert reloaded.lora_config() is None
    assert_all_close(reloaded(inputs()), model(inputs()), atol=1e-5, rtol=0)
    assert model.lora_config() is not None  # the model keeps its adapters
    with pytest.raises(ValueError, match="LoRA adapters enabled.*load the weights first"):
        assign_weights(model, extract_weights(reloaded))


def test_pretrainer_trains_adapters_and_its_heads():
    pretrainer = BertPretrainer(BertEncoder(TINY))
    heads = len(pretrainer.trainable_weights) - len(pretrainer.encoder.trainable_weights)
    pretrainer.enable_lora(2)
    assert len(pretrainer.trainable_weights) == 2 * 2 * 2 + heads


def test_lora_trains_in_mixed_bfloat16():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = classifier(TINY.replace(dropout=0.0, attention_dropout=0.0))
    model.enable_lora(2)
    assert {v.dtype for v in model.encoder.trainable_weights} == {"float32"}
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=False)
    loss = model.train_on_batch(inputs(), LABELS)
    assert np.all(np.isfinite(loss))  # loss and accuracy
    before = numpy_(model(inputs()))
    model.merge_lora()
    # bfloat16 compute: the merged kernel rounds once where the adapters added in bfloat16.
    assert_all_close(model(inputs()), before, atol=0.05, rtol=0)
