"""Dynamic padding of raw-text batches (`text_inputs.trim_padding`, `pad_to_multiple`): each
batch is cut to its longest example rounded up to 16 tokens, per-token labels with it, and the
model gives the same logits, losses and metrics as on fully padded batches."""

import keras
import numpy as np
import pytest

from keras_bert_impl.models import BertClassifier, BertSpanLabeler, BertTokenClassifier
from keras_bert_impl.models.text_inputs import trim_padding
from keras_bert_impl.text import (
    BertClassifierPreprocessor,
    BertSpanPreprocessor,
    BertTokenClassifierPreprocessor,
    BertTokenizer,
)
from tests.models.tiny_text import QUICK, TINY, VOCAB

# Batch 0: the longest has 2 + 17 = 19 tokens -> 32; batch 1: 2 + 2 tokens -> 16.
SENTENCES = ["good film " * 8 + "bad", "good", "bad film", "good"]
LABELS = [0, 1, 0, 1]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def _lengths(dataset):
    return [tuple(x["token_ids"].shape) for x, *_ in dataset]


def test_trim_padding_cuts_to_the_longest_row_rounded_up():
    import tensorflow as tf

    mask = tf.constant([[True] * 5 + [False] * 11, [True] * 2 + [False] * 14])
    x = {"token_ids": tf.where(mask, 7, 0), "padding_mask": mask}
    tags = tf.where(mask, 1, 0)
    cut_x, cut_y, cut_w = trim_padding(4, per_token_labels=True)(x, tags, tf.cast(mask, "float32"))
    assert cut_x["token_ids"].shape == cut_x["padding_mask"].shape == (2, 8)
    assert cut_y.shape == cut_w.shape == (2, 8)
    assert int(tf.reduce_sum(cut_y)) == int(tf.reduce_sum(tags))  # only padding was cut
    # Labels of a sequence classifier are one per example: they pass untouched.
    _, labels = trim_padding(4)(x, tf.constant([3, 4]))
    assert labels.numpy().tolist() == [3, 4]
    # Never past the packed length, never below one token.
    assert trim_padding(32)(x)["token_ids"].shape == (2, 16)
    empty = {"token_ids": tf.zeros((1, 16), "int32"), "padding_mask": tf.zeros((1, 16), bool)}
    assert trim_padding(4)(empty)["token_ids"].shape == (1, 1)
    with pytest.raises(ValueError, match="positive"):
        trim_padding(0)


def test_classifier_batches_are_cut_and_outputs_do_not_change(tokenizer):
    keras.utils.set_random_seed(0)
    classifier = BertClassifier.from_preset(
        "bert_tiny", num_classes=2,
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=64), **TINY)
    classifier.compile(**QUICK)
    classifier.pad_to_multiple = 16
    assert _lengths(classifier._text_dataset(SENTENCES, LABELS, batch_size=2)) == [
        (2, 32), (2, 16)]
    trimmed = classifier.predict(SENTENCES, batch_size=2, verbose=0)
    trimmed_scores = classifier.evaluate(SENTENCES, LABELS, batch_size=2, verbose=0)
    classifier.pad_to_multiple = None
    assert _lengths(classifier._text_dataset(SENTENCES, LABELS, batch_size=2)) == [
        (2, 64), (2, 64)]
    np.testing.assert_allclose(classifier.predict(SENTENCES, batch_size=2, verbose=0),
                               trimmed, atol=1e-5)
    np.testing.assert_allclose(classifier.evaluate(SENTENCES, LABELS, batch_size=2, verbose=0),
                               trimmed_scores, atol=1e-5)


def test_tagger_cuts_labels_with_the_tokens_and_keeps_its_metrics(tokenizer):
    keras.utils.set_random_seed(0)
    tagger = BertTokenClassifier.from_preset(
        "bert_tiny", num_classes=3,
        preprocessor=BertTokenClassifierPreprocessor(tokenizer, sequence_length=64), **TINY)
    tagger.compile(**QUICK)
    words = [["john", "lives", "in", "paris"] * 5, ["paris", "good"]]
    tags = [[1, 0, 0, 2] * 5, [2, 0]]
    (x, y, weight), = list(tagger._text_dataset(words, tags, batch_size=2))
    assert x["token_ids"].shape == y.shape == weight.shape == (2, 22)  # [CLS] 20 words [SEP]
    assert float(np.sum(weight)) == 22.0  # every word's label survived the cut
    trimmed = tagger.evaluate(words, tags, batch_size=2, verbose=0)
    tagger.pad_to_multiple = None
    np.testing.assert_allclose(tagger.evaluate(words, tags, batch_size=2, verbose=0), trimmed,
                               atol=1e-5)
    tagger.pad_to_multiple = 16
    history = tagger.fit(words, tags, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # predict keeps per-token outputs at the full length so batches concatenate.
    assert tagger.predict(words, batch_size=1, verbose=0).shape == (2, 64, 3)


def test_span_labeler_windows_are_cut_for_training(tokenizer):
    labeler = BertSpanLabeler.from_preset(
        "bert_tiny", preprocessor=BertSpanPreprocessor(
            tokenizer, sequence_length=64, doc_stride=16, max_query_length=8), **TINY)
    labeler.compile(**QUICK)
    context = "John lives in Paris."
    x = {"question": ["Where does John live?"] * 2, "context": [context] * 2}
    y = {"answer_start": [context.index("Paris")] * 2, "answer_text": ["Paris"] * 2}
    (features, positions), = list(labeler._text_dataset(x, y, batch_size=2))
    longest = int(np.max(np.sum(features["padding_mask"], axis=1)))
    assert features["token_ids"].shape == (2, longest) and longest < 64
    assert labeler.fit(x, y, batch_size=2, epochs=1, verbose=0).history["loss"]


def test_task_models_leave_xla_to_keras_on_cpu(tokenizer):
    classifier = BertClassifier.from_preset("bert_tiny", num_classes=2, **TINY)
    classifier.compile()
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        on_gpu = bool(tf.config.list_physical_devices("GPU"))
        assert classifier.jit_compile is on_gpu


def test_shortest_first_orders_every_column_by_the_examples_characters():
    import tensorflow as tf

    from keras_bert_impl.models.text_inputs import shortest_first

    pairs = (np.array(["a b c", "a", "a b"]), tf.constant(["x", "x y z w", ""]))
    order, (x, y, weights) = shortest_first(pairs, [0, 1, 2], np.array([0.5, 1.0, 2.0]))
    assert order.tolist() == [2, 0, 1]  # 3, 6 and 8 characters
    assert x[0].tolist() == ["a b", "a b c", "a"] and x[1].tolist() == [b"", b"x", b"x y z w"]
    assert y == [2, 0, 1] and weights.tolist() == [2.0, 0.5, 1.0]
    questions = {"question": ["why?", "?"], "context": ["c", "c"]}
    order, (x, _, _) = shortest_first(questions)
    assert order.tolist() == [1, 0] and x == {"question": ["?", "why?"], "context": ["c", "c"]}
    # One text, a dataset and word lists (a tagger's) keep their order.
    assert shortest_first("one text")[0] is None
    assert shortest_first(tf.data.Dataset.from_tensor_slices(["b a", "a"]).batch(2))[0] is None
    assert shortest_first([["a", "b"], ["c"]])[0] is None


def test_classifier_predict_reads_texts_shortest_first_and_returns_them_in_order(tokenizer):
    keras.utils.set_random_seed(0)
    classifier = BertClassifier.from_preset(
        "bert_tiny", num_classes=2,
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=64), **TINY)
    texts = ["good film " * 8 + "bad", "good", "bad film good", "film"]
    one_by_one = np.concatenate([classifier.predict([text], verbose=0) for text in texts])
    seen = []

    class RecordBatches(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            seen.append(np.asarray(logs["outputs"]))

    outputs = classifier.predict(texts, batch_size=2, verbose=0, callbacks=[RecordBatches()])
    np.testing.assert_allclose(outputs, one_by_one, atol=1e-5)  # back in the texts' order
    # The first batch held the two shortest texts, cut to 16 positions; the second the rest.
    np.testing.assert_allclose(seen[0], one_by_one[[1, 3]], atol=1e-5)
    np.testing.assert_allclose(seen[1], one_by_one[[2, 0]], atol=1e-5)
    # Lengths are counted in wordpieces: 20 characters of one unknown word come first.
    assert classifier._shortest_first(["good film good", "z" * 20])[0].tolist() == [1, 0]
    # With steps, the texts are read in their own order: the first two.
    np.testing.assert_allclose(classifier.predict(texts, batch_size=2, steps=1, verbose=0),
                               one_by_one[:2], atol=1e-5)
    # Pairs are ordered by both segments' characters.
    pairs = (["good film good film", "good", "film"], ["bad", "bad film good film", "good"])
    one_by_one = np.concatenate([classifier.predict(([a], [b]), verbose=0)
                                 for a, b in zip(*pairs)])
    np.testing.assert_allclose(classifier.predict(pairs, batch_size=2, verbose=0), one_by_one,
                               atol=1e-5)
    # evaluate reads them shortest first too; its loss is the same as in order.
    scores = classifier.evaluate(texts, [0, 1, 0, 1], batch_size=3, verbose=0)
    classifier.pad_to_multiple = None  # no cut: read in order
    np.testing.assert_allclose(classifier.evaluate(texts, [0, 1, 0, 1], batch_size=3,
                                                   verbose=0), scores, atol=1e-5)


def test_auto_cuts_to_the_exact_longest_unless_each_length_compiles(tokenizer):
    """`pad_to_multiple="auto"`: 16 under XLA (each batch length compiles), the batch's exact
    longest where operations run one by one (TensorFlow without XLA, a SavedModel)."""
    classifier = BertClassifier.from_preset(
        "bert_tiny", num_classes=2,
        preprocessor=BertClassifierPreprocessor(tokenizer, sequence_length=64), **TINY)
    assert classifier.pad_to_multiple == "auto"
    assert (classifier.padding_multiple(compiled=True),
            classifier.padding_multiple(compiled=False)) == (16, 1)
    classifier.compile(jit_compile=False)
    assert _lengths(classifier._text_dataset(SENTENCES, LABELS, batch_size=2)) == [
        (2, 19), (2, 4)]
    classifier.compile(jit_compile=True)
    assert classifier.padding_multiple() == 16
    assert _lengths(classifier._text_dataset(SENTENCES, LABELS, batch_size=2)) == [
        (2, 32), (2, 16)]
    classifier.pad_to_multiple = 8  # a number is kept as it is
    assert classifier.padding_multiple(compiled=True) == 8
