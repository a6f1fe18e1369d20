"""`BertClassifierPreprocessor`: keras-hub's `(x, y, sample_weight)` contract, pairs and their
truncation, `tf.data`, serialization; and real MRPC pairs against the reference (Hugging Face
`tokenizers` WordPiece + google-research/bert's `_truncate_seq_pair`), id for id."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data.glue import read_glue
from keras_bert_impl.text.classifier_preprocessor import BertClassifierPreprocessor
from keras_bert_impl.text.preprocessors import BertPreprocessor
from keras_bert_impl.text.tokenizer import BertTokenizer
from tests.presets.helpers import minilm_dir
from tests.real_data import shared_file

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "ran", "far", "a", "dog",
         "sat", "."]
# ids:     0        1        2        3        4      5      6      7      8     9     10
#          11     12


@pytest.fixture(scope="module")
def preprocessor():
    return BertClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=10)


def _ids(x):
    return x["token_ids"].numpy().tolist()


def test_single_text_shapes_and_types(preprocessor):
    assert isinstance(preprocessor, BertPreprocessor)
    assert BertClassifierPreprocessor(BertTokenizer(VOCAB)).sequence_length == 128
    x = preprocessor(tf.constant(["The fox ran far.", "a dog"]))
    assert sorted(x) == ["padding_mask", "segment_ids", "token_ids"]
    assert _ids(x) == [[2, 5, 6, 7, 8, 12, 3, 0, 0, 0], [2, 9, 10, 3, 0, 0, 0, 0, 0, 0]]
    assert x["segment_ids"].numpy().sum() == 0
    assert x["padding_mask"].dtype == tf.bool
    assert x["padding_mask"].numpy().sum(1).tolist() == [7, 4]
    # A scalar gives unbatched outputs; a Python list of strings is one batch, not segments.
    assert preprocessor(tf.constant("a dog"))["token_ids"].shape == (10,)
    assert preprocessor("a dog")["token_ids"].numpy().tolist() == [2, 9, 10, 3, 0, 0, 0, 0, 0, 0]
    assert _ids(preprocessor(["a dog", "the fox"]))[1][:4] == [2, 5, 6, 3]


def test_pairs_truncate_round_robin(preprocessor):
    a = tf.constant(["the fox ran far . the fox", "a"])
    b = tf.constant(["a dog sat", "the fox ran far . a dog sat"])
    x = preprocessor((a, b))
    # 10 positions - [CLS] - 2 [SEP] = 7 tokens: longest first, so the short side stays whole.
    assert _ids(x) == [[2, 5, 6, 7, 8, 3, 9, 10, 11, 3], [2, 9, 3, 5, 6, 7, 8, 12, 9, 3]]
    assert x["segment_ids"].numpy().tolist() == [[0] * 6 + [1] * 4, [0] * 3 + [1] * 7]
    # Both long: the budget is shared (the first segment gets the odd token).
    long = tf.constant(["the fox ran far . the fox"])
    assert _ids(preprocessor((long, long))) == [[2, 5, 6, 7, 8, 3, 5, 6, 7, 3]]
    # A list of segments is the same as a tuple; waterfall keeps the first one whole.
    assert _ids(preprocessor([a, b])) == _ids(x)
    waterfall = BertClassifierPreprocessor(BertTokenizer(VOCAB), 10, truncate="waterfall")
    assert _ids(waterfall((long, long))) == [[2, 5, 6, 7, 8, 12, 5, 6, 3, 3]]


def test_labels_and_sample_weights_pass_through(preprocessor):
    texts = tf.constant(["the fox", "a dog"])
    labels, weights = tf.constant([1, 0]), tf.constant([0.5, 2.0])
    x = preprocessor(texts)
    assert isinstance(x, dict)  # no y, no sample_weight: only the features
    out = preprocessor(texts, labels)
    assert isinstance(out, tuple) and len(out) == 2 and out[1] is labels
    assert _ids(out[0]) == _ids(x)
    out = preprocessor(texts, labels, weights)
    assert len(out) == 3 and out[1] is labels and out[2] is weights
    out = preprocessor(texts, y=labels, sample_weight=weights)
    assert out[2] is weights
    regression = tf.constant([[0.5], [4.25]])
    assert preprocessor(texts, regression)[1] is regression  # any label shape and dtype


def test_inside_tf_data(preprocessor):
    single = tf.data.Dataset.from_tensor_slices((["the fox ran", "a dog", "far"], [1, 0, 1]))
    batches = list(single.batch(2).map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE))
    assert [b[0]["token_ids"].shape for b in batches] == [(2, 10), (1, 10)]
    assert [b[1].numpy().tolist() for b in batches] == [[1, 0], [1]]
    assert _ids(batches[0][0])[1] == [2, 9, 10, 3, 0, 0, 0, 0, 0, 0]

    # ((a, b), labels, weights) arrives as x=(a, b), y=labels, sample_weight=weights.
    pairs = tf.data.Dataset.from_tensor_slices(((["the fox", "a"], ["ran", "dog sat"]),
                                                [1, 0], [1.0, 0.5]))
    x, y, w = next(iter(pairs.batch(2).map(preprocessor)))
    assert _ids(x) == [[2, 5, 6, 3, 7, 3, 0, 0, 0, 0], [2, 9, 3, 10, 11, 3, 0, 0, 0, 0]]
    assert x["segment_ids"].numpy()[1].tolist() == [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    assert y.numpy().tolist() == [1, 0] and w.numpy().tolist() == [1.0, 0.5]


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_config_and_keras_file_round_trip(preprocessor, tmp_path):
    config = preprocessor.get_config()
    assert (config["sequence_length"], config["truncate"]) == (10, "round_robin")
    clone = BertClassifierPreprocessor.from_config(config)
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(preprocessor))
    texts = (tf.constant(["the fox ran far"]), tf.constant(["a dog sat ."]))
    for other in (clone, revived):
        assert type(other) is BertClassifierPreprocessor
        assert other.get_config() == config
        assert _ids(other(texts)) == _ids(preprocessor(texts))
    # A .keras file (the layer inside a Sequential model: it has no symbolic output spec).
    model = keras.Sequential([preprocessor])
    path = tmp_path / "preprocessor.keras"
    model.save(path)
    restored = keras.saving.load_model(path).layers[0]
    assert type(restored) is BertClassifierPreprocessor
    assert restored.tokenizer.get_vocabulary() == VOCAB and restored.sequence_length == 10
    x, y = restored(texts, tf.constant([1]))
    assert _ids(x) == _ids(preprocessor(texts)) and y.numpy().tolist() == [1]


def test_bad_input_is_a_clear_error(preprocessor):
    with pytest.raises(TypeError, match="expects tf.string input; got a tensor of dtype int32"):
        preprocessor(tf.constant([1, 2]))
    with pytest.raises(TypeError, match="tokenizer must be a BertTokenizer"):
        BertClassifierPreprocessor(VOCAB)


@pytest.fixture(scope="module")
def minilm_tokenizer():
    return BertTokenizer.from_preset(str(minilm_dir()))


def _reference_pack(ids_a, ids_b, length, cls=101, sep=102):
    """google-research/bert `run_classifier.py`: `_truncate_seq_pair` (drop the last token of
    the longer segment, of B on ties) then `[CLS] A [SEP] B [SEP]` and zero padding."""
    a, b = list(ids_a), list(ids_b)
    while len(a) + len(b) > length - 3:
        (a if len(a) > len(b) else b).pop()
    token_ids = [cls, *a, sep, *b, sep]
    segment_ids = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    pad = length - len(token_ids)
    return token_ids + [0] * pad, segment_ids + [0] * pad, [1] * len(token_ids) + [0] * pad


def test_real_mrpc_pairs_match_the_reference(minilm_tokenizer):
    """Real MRPC pairs through `as_dataset()` -> `map(preprocessor)` in tf.data, against
    Hugging Face `tokenizers`' WordPiece ids of each sentence packed by the reference's
    truncation. (HF's fast tokenizer itself gives the *second* segment the odd token when
    both segments are cut, unlike the reference, so its truncated pairs are not the reference
    here.)"""
    from tokenizers import Tokenizer

    data = read_glue("mrpc", shared_file("mrpc", "train.tsv").parent).subset(range(256))
    length = 48  # MRPC pairs are ~50 tokens: most are truncated, some padded
    preprocessor = BertClassifierPreprocessor(minilm_tokenizer, sequence_length=length)
    batches = list(data.as_dataset().batch(64).map(preprocessor))
    ours = {key: np.concatenate([x[key].numpy() for x, _ in batches]) for key in batches[0][0]}
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), data.labels)

    hf = Tokenizer.from_file(str(minilm_dir() / "tokenizer.json"))
    hf.no_padding()
    hf.no_truncation()
    pieces = [[e.ids for e in hf.encode_batch(texts, add_special_tokens=False)]
              for texts in data.texts]
    reference = [_reference_pack(a, b, length) for a, b in zip(*pieces)]
    for k, key in enumerate(("token_ids", "segment_ids", "padding_mask")):
        np.testing.assert_array_equal(ours[key].astype("int32"),
                                      np.array([r[k] for r in reference]), err_msg=key)
    lengths = ours["padding_mask"].sum(1)
    assert (lengths == length).mean() > 0.3 and lengths.min() < length  # both cases present
    cut_both = sum(len(a) > (length - 3) // 2 and len(b) > (length - 3) // 2
                   for a, b in zip(*pieces))
    assert cut_both > 50  # the tie-breaking rule is exercised
