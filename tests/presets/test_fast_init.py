"""Loaders skip the random start of encoder weights they overwrite, never of heads they lack."""

import numpy as np
import pytest

from keras_bert_impl import BertConfig, BertEncoder, BertPretrainer
from keras_bert_impl.models.weights import assign_weights, extract_weights

CONFIG = BertConfig(vocab_size=60, hidden_size=16, num_layers=1, num_heads=2)


def test_encoder_starts_at_zero_when_weights_follow():
    encoder = BertEncoder.from_bert_config(CONFIG, encoder_weights_follow=True)
    assert not np.any(encoder.token_embeddings.numpy())
    fresh = BertEncoder.from_bert_config(CONFIG)
    assert 0.01 < fresh.token_embeddings.numpy().std() < 0.03


def test_missing_heads_get_a_real_random_start():
    source = extract_weights(BertEncoder(CONFIG))
    del source["pooler/dense/kernel"], source["pooler/dense/bias"]
    pretrainer = BertPretrainer.from_bert_config(CONFIG, encoder_weights_follow=True)
    with pytest.warns(UserWarning, match="pooler"):
        assign_weights(pretrainer, source, source="test.safetensors")
    np.testing.assert_array_equal(pretrainer.encoder.token_embeddings.numpy(),
                                  source["embeddings/token_embeddings"])
    for kernel in (pretrainer.encoder.pooler.dense.kernel, pretrainer.mlm_head.transform.kernel,
                   pretrainer.nsp_head.dense.kernel):
        assert 0.01 < kernel.numpy().std() < 0.03, kernel.path
