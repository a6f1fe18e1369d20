"""`BertTokenClassifierPreprocessor`: words and tag ids -> packed inputs with each word's tag on
its first wordpiece; hand-checked alignment on a tiny vocabulary, and an oracle round trip on
the real CoNLL-2003 validation set with the real uncased MiniLM tokenizer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.data.conll import read_conll
from keras_bert_impl.metrics import entity_scores
from keras_bert_impl.text.tag_decoding import decode_tags
from keras_bert_impl.text.token_classifier_preprocessor import BertTokenClassifierPreprocessor
from keras_bert_impl.text.tokenizer import BertTokenizer
from tests.presets.helpers import minilm_dir
from tests.real_data import shared_file

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "fox", "jump", "##ed", "u", ".",
         "s"]
# Hand-checked pieces: "The" -> the(5); "fox" -> fox(6); "jumped" -> jump(7) ##ed(8);
# "U.S." -> u(9) .(10) s(11) .(10); "\x07\x01" (control characters only) -> nothing;
# "zebra" -> [UNK](1); "." -> .(10).
WORDS = [["The", "fox", "jumped", "U.S.", "\x07\x01", "zebra", "."], ["fox"]]
TAGS = [[1, 2, 3, 4, 5, 6, 7], [8]]


@pytest.fixture(scope="module")
def preprocessor():
    return BertTokenClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=14)


def test_first_piece_alignment_by_hand(preprocessor):
    x, y, w = preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant(TAGS))
    assert sorted(x) == ["padding_mask", "segment_ids", "token_ids"]
    assert (x["token_ids"].dtype, x["segment_ids"].dtype, x["padding_mask"].dtype) == (
        tf.int32, tf.int32, tf.bool)
    assert (y.dtype, w.dtype) == (tf.int32, tf.float32)
    assert x["token_ids"].shape == y.shape == w.shape == (2, 14)
    np.testing.assert_array_equal(x["token_ids"].numpy(), [
        [2, 5, 6, 7, 8, 9, 10, 11, 10, 1, 10, 3, 0, 0],
        [2, 6, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(x["segment_ids"].numpy(), np.zeros((2, 14)))
    np.testing.assert_array_equal(x["padding_mask"].numpy(), x["token_ids"].numpy() != 0)
    # Tags on first pieces only: positions 1 (The), 2 (fox), 3 (jump), 5 (u), 9 (zebra),
    # 10 (.); the control-character word (tag 5) has no piece, so its tag is nowhere.
    np.testing.assert_array_equal(y.numpy(), [
        [0, 1, 2, 3, 0, 4, 0, 0, 0, 6, 7, 0, 0, 0],
        [0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(w.numpy(), [
        [0, 1, 1, 1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0],
        [0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]])
    starts = preprocessor.word_starts(tf.ragged.constant(WORDS))
    assert starts.dtype == tf.int32
    assert starts.to_list() == [[1, 2, 3, 5, -1, 9, 10], [1]]
    # Without y: the same features, nothing else.
    features = preprocessor(tf.ragged.constant(WORDS))
    assert sorted(features) == sorted(x)
    np.testing.assert_array_equal(features["token_ids"].numpy(), x["token_ids"].numpy())


def test_truncation_drops_whole_words_from_the_end():
    short = BertTokenClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=8)
    # 6 positions for pieces: The fox jump ##ed fit (4); "U.S." (4 pieces) does not, so it
    # and every word after it are dropped, even "zebra" and "." that would fit alone.
    x = short(tf.ragged.constant(WORDS))
    np.testing.assert_array_equal(x["token_ids"].numpy(), [[2, 5, 6, 7, 8, 3, 0, 0],
                                                           [2, 6, 3, 0, 0, 0, 0, 0]])
    # One unbatched example with its tags stays one example: truncated the same way.
    x, y, w = short(tf.constant(WORDS[0]), tf.constant(TAGS[0]))
    np.testing.assert_array_equal(x["token_ids"].numpy(), [2, 5, 6, 7, 8, 3, 0, 0])
    np.testing.assert_array_equal(y.numpy(), [0, 1, 2, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(w.numpy(), [0, 1, 1, 1, 0, 0, 0, 0])
    assert short.word_starts(tf.ragged.constant(WORDS)).to_list() == [
        [1, 2, 3, -1, -1, -1, -1], [1]]
    # Exactly full: 6 pieces in 6 positions, nothing dropped.
    exact = short(tf.ragged.constant([["the", "fox", "the", "fox", "jumped"]]))
    np.testing.assert_array_equal(exact["token_ids"].numpy(), [[2, 5, 6, 5, 6, 7, 8, 3]])
    # A first word too long for the sequence leaves only [CLS] [SEP].
    assert short.word_starts(tf.ragged.constant([["U.S.U.S.", "fox"]])).to_list() == [[-1, -1]]


def test_long_sentences_split_into_windows_of_whole_words():
    short = BertTokenClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=8)
    # 6 positions: The fox jumped (4 pieces) | "U.S." (4) + the piece-less word + zebra + .
    # (6) | the second sentence. A word longer than a window is a window of its own.
    windows, words = short.split_into_windows(tf.ragged.constant(WORDS + [["U.S.U.S.", "fox"]]))
    assert windows.to_list() == [[b"The", b"fox", b"jumped"],
                                 [b"U.S.", b"\x07\x01", b"zebra", b"."], [b"fox"],
                                 [b"U.S.U.S."], [b"fox"]]
    assert words.row_lengths().numpy().tolist() == [7, 1, 2]
    assert short.word_starts(windows).to_list() == [[1, 2, 3], [1, -1, 5, 6], [1], [-1], [1]]
    # The first window is what call() keeps.
    kept = short(tf.ragged.constant(WORDS[:1]))["token_ids"]
    np.testing.assert_array_equal(short(windows[:1])["token_ids"].numpy(), kept.numpy())
    # Sentences as strings, empty ones (one empty window each), inside tf.function.
    texts = tf.constant(["", "The fox jumped U.S. zebra .", "  "])
    windows, words = tf.function(short.split_into_windows)(texts)
    assert windows.to_list() == [[], [b"The", b"fox", b"jumped"], [b"U.S.", b"zebra", b"."],
                                 []]
    assert words.row_lengths().numpy().tolist() == [0, 6, 0]
    windows, words = short.split_into_windows(tf.zeros([0], tf.string))
    assert (windows.nrows().numpy(), words.nrows().numpy()) == (0, 0)


def test_a_labelled_batch_has_a_row_per_window_so_every_word_is_learned():
    short = BertTokenClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=8)
    words = tf.ragged.constant(WORDS + [[], ["U.S.U.S.", "fox"]])
    tags = tf.ragged.constant(TAGS + [[], [9, 10]], dtype=tf.int32)
    x, y, w = short(words, tags, tf.constant([1.0, 2.0, 3.0, 0.5]))
    # Windows (see the test above): The fox jumped | U.S. <no piece> zebra . | fox | (empty)
    # | U.S.U.S. (too long for any window) | fox.
    np.testing.assert_array_equal(x["token_ids"].numpy(), [
        [2, 5, 6, 7, 8, 3, 0, 0],
        [2, 9, 10, 11, 10, 1, 10, 3],
        [2, 6, 3, 0, 0, 0, 0, 0],
        [2, 3, 0, 0, 0, 0, 0, 0],
        [2, 3, 0, 0, 0, 0, 0, 0],
        [2, 6, 3, 0, 0, 0, 0, 0]])
    np.testing.assert_array_equal(y.numpy(), [
        [0, 1, 2, 3, 0, 0, 0, 0],
        [0, 4, 0, 0, 0, 6, 7, 0],
        [0, 8, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 10, 0, 0, 0, 0, 0, 0]])
    # Each example's weight on each of its windows; words without a place in any window
    # (no piece, longer than a window) weigh nothing.
    np.testing.assert_array_equal(w.numpy(), [
        [0, 1, 1, 1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0, 1, 1, 0],
        [0, 2, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0.5, 0, 0, 0, 0, 0, 0]])
    # The same inside tf.data, where fit reads it: batches grow by their extra windows.
    dataset = tf.data.Dataset.from_tensor_slices((words, tags)).batch(2).map(short)
    assert [int(x["token_ids"].shape[0]) for x, _, _ in dataset] == [3, 3]
    # pack_in_windows gives the windows' inputs and word starts, tokenizing once.
    features, starts, same_words = short.pack_in_windows(words)
    windows, _ = short.split_into_windows(words)
    np.testing.assert_array_equal(features["token_ids"].numpy(), x["token_ids"].numpy())
    assert starts.to_list() == short.word_starts(windows).to_list() == [
        [1, 2, 3], [1, -1, 5, 6], [1], [], [-1], [1]]
    assert same_words.to_list() == words.to_list()


def test_input_forms_agree(preprocessor):
    ragged = preprocessor(tf.ragged.constant([["The", "fox", "jumped"], ["U.S.", "fox"]]))
    sentences = preprocessor(tf.constant(["The fox  jumped", " U.S.\tfox"]))
    lists = preprocessor([["The", "fox", "jumped"], ["U.S.", "fox"]])
    dense = preprocessor(tf.constant([["The", "fox"], ["U.S.", "fox"]]))
    for out in (sentences, lists):
        np.testing.assert_array_equal(out["token_ids"].numpy(), ragged["token_ids"].numpy())
    np.testing.assert_array_equal(dense["token_ids"].numpy()[1], ragged["token_ids"].numpy()[1])
    assert preprocessor.word_starts(tf.constant(["The fox jumped", "U.S. fox"])).to_list() == [
        [1, 2, 3], [1, 5]]
    # One unbatched example: a sentence string, or 1-D words with 1-D tags.
    one = preprocessor(tf.constant("The fox jumped"))
    assert one["token_ids"].shape == (14,)
    np.testing.assert_array_equal(one["token_ids"].numpy(), ragged["token_ids"].numpy()[0])
    assert preprocessor.word_starts(tf.constant("U.S. fox")).numpy().tolist() == [1, 5]
    x, y, w = preprocessor(tf.constant(["U.S.", "fox"]), tf.constant([3, 4]), 0.5)
    assert x["token_ids"].shape == y.shape == w.shape == (14,)
    np.testing.assert_array_equal(y.numpy()[:7], [0, 3, 0, 0, 0, 4, 0])
    np.testing.assert_array_equal(w.numpy()[:7], [0, 0.5, 0, 0, 0, 0.5, 0])
    x, y, w = preprocessor(tf.constant("U.S. fox"), [3, 4])
    np.testing.assert_array_equal(y.numpy()[:7], [0, 3, 0, 0, 0, 4, 0])


def test_sample_weight_scales_each_example(preprocessor):
    _, _, w = preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant(TAGS),
                           tf.constant([2.0, 0.25]))
    _, _, unweighted = preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant(TAGS))
    np.testing.assert_array_equal(w.numpy(), unweighted.numpy() * [[2.0], [0.25]])
    with pytest.raises(ValueError, match=r"one weight per example, \[batch\]"):
        preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant(TAGS), tf.ones((2, 14)))


def test_clear_errors(preprocessor):
    with pytest.raises(ValueError, match="Example 1 has 1 words and 2 tag ids"):
        preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant([TAGS[0], [1, 2]]))
    with pytest.raises(ValueError, match="x has 2 examples and y 1"):
        preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant(TAGS[:1]))
    with pytest.raises(TypeError, match="tag_ids"):
        preprocessor(tf.ragged.constant(WORDS), tf.ragged.constant([["O"], ["O"]]))
    with pytest.raises(ValueError, match="y is one example's tag ids"):
        preprocessor(tf.ragged.constant(WORDS), tf.constant([1, 2]))
    with pytest.raises(TypeError, match="expects tf.string input"):
        preprocessor(tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match="sequence_length must be an int >= 3"):
        BertTokenClassifierPreprocessor(BertTokenizer(VOCAB), sequence_length=2)
    with pytest.raises(TypeError, match="must be a BertTokenizer"):
        BertTokenClassifierPreprocessor(VOCAB)


def test_in_tf_data_map_on_batched_ragged_input(preprocessor):
    words = tf.ragged.constant(WORDS * 3)
    tags = tf.ragged.constant(TAGS * 3)
    dataset = tf.data.Dataset.from_tensor_slices((words, tags)).ragged_batch(4).map(
        preprocessor, num_parallel_calls=tf.data.AUTOTUNE)
    batches = list(dataset)
    assert [b[0]["token_ids"].shape[0] for b in batches] == [4, 2]
    x, y, w = preprocessor(words, tags)
    for expected, got in zip((x["token_ids"], y, w), zip(*[(b[0]["token_ids"], b[1], b[2])
                                                            for b in batches])):
        np.testing.assert_array_equal(np.concatenate([g.numpy() for g in got]), expected.numpy())
    # A tag count that does not match fails inside the graph too.
    bad = tf.data.Dataset.from_tensor_slices(
        (words, tf.ragged.constant([[1]] * 6))).ragged_batch(2).map(preprocessor)
    with pytest.raises(tf.errors.InvalidArgumentError, match="differs from the number of words"):
        list(bad)


def test_serialization_round_trips(preprocessor, tmp_path):
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(
        preprocessor))
    assert type(clone) is BertTokenClassifierPreprocessor
    assert clone.get_config() == preprocessor.get_config()
    assert clone.sequence_length == 14 and clone.tokenizer.vocabulary == VOCAB
    words = tf.ragged.constant(WORDS)
    for a, b in zip(clone(words, tf.ragged.constant(TAGS))[1:],
                    preprocessor(words, tf.ragged.constant(TAGS))[1:]):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # `.keras` file: a Sequential model holding the layer (as the other text layers).
    model = keras.Sequential([preprocessor])
    sentences = tf.constant(["The fox jumped U.S.", "zebra ."])
    expected = model(sentences)
    path = tmp_path / "tagger_preprocessor.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored.layers[0]) is BertTokenClassifierPreprocessor
    got = restored(sentences)
    for key in expected:
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())


@pytest.fixture(scope="module")
def conll_valid():
    return read_conll(shared_file("conll2003", "valid.txt"))


def test_oracle_round_trip_on_real_conll_gives_f1_one(conll_valid):
    """Gold tags -> ids -> labels/weights -> logits certain at the labelled positions (and
    random elsewhere) -> decode_tags -> exactly the gold tags: entity F1 1.0 (seqeval IOB1)."""
    data = conll_valid
    assert len(data) == 3250
    preprocessor = BertTokenClassifierPreprocessor(
        BertTokenizer.from_preset(str(minilm_dir())), sequence_length=192)
    words = tf.ragged.constant(data.words)
    x, labels, weights = preprocessor(words, tf.ragged.constant(data.tag_ids()))
    starts = preprocessor.word_starts(words)
    labels, weights = labels.numpy(), weights.numpy()
    # Nothing truncated (longest sentence: 146 positions) and every word has a piece.
    assert x["padding_mask"].numpy().sum(axis=1).max() < 192
    assert starts.flat_values.numpy().min() >= 1
    assert weights.sum() == data.num_words == 51_362
    # Weighted positions are exactly the word starts; labels are zero elsewhere.
    rows = np.repeat(np.arange(len(data)), starts.row_lengths().numpy())
    expected_weights = np.zeros_like(weights)
    expected_weights[rows, starts.flat_values.numpy()] = 1.0
    np.testing.assert_array_equal(weights, expected_weights)
    assert not labels[weights == 0].any()
    # Continuation pieces exist (so alignment is really tested): U.S.-like words, numbers.
    assert x["padding_mask"].numpy().sum() - 2 * len(data) > 1.2 * data.num_words

    rng = np.random.default_rng(0)
    names = data.label_names
    logits = rng.normal(size=labels.shape + (len(names),)).astype("float32")
    logits[weights == 1, :] = 0.0
    logits[weights == 1, labels[weights == 1]] = 20.0
    decoded = decode_tags(logits, starts, names)
    assert decoded == data.tags
    scores = entity_scores(data.tags, decoded, scheme="IOB1")
    assert (scores["precision"], scores["recall"], scores["f1"]) == (1.0, 1.0, 1.0)
    assert sum(t["support"] for t in scores["per_type"].values()) == 5942  # valid entities
    # Decoding at the wrong place (one position late) is visibly wrong: the test can fail.
    shifted = decode_tags(logits, [[min(p + 1, 191) for p in row] for row in starts.to_list()],
                          names)
    assert entity_scores(data.tags, shifted, scheme="IOB1")["f1"] < 0.5


def test_windows_of_real_conll_sentences_are_full_and_in_order(conll_valid):
    """At sequence length 16 (14 piece positions) the CoNLL validation sentences split into
    windows that hold every word once, in order; every window fits, and the next window's
    first word would not have fitted in it (greedy: no window is cut early)."""
    tokenizer = BertTokenizer.from_preset(str(minilm_dir()))
    preprocessor = BertTokenClassifierPreprocessor(tokenizer, sequence_length=16)
    words = tf.ragged.constant(conll_valid.words)
    windows, same_words = preprocessor.split_into_windows(words)
    assert same_words.to_list() == words.to_list()
    np.testing.assert_array_equal(windows.flat_values.numpy(), words.flat_values.numpy())
    counts = tokenizer(windows.flat_values).row_lengths().numpy()
    pieces = tf.RaggedTensor.from_row_lengths(counts, windows.row_lengths()).to_list()
    used = np.array([sum(row) for row in pieces])
    assert used.max() <= 14 and windows.nrows() > len(conll_valid) + 300  # many split
    assert (preprocessor.word_starts(windows).flat_values.numpy() >= 0).all()
    sentence_of_window = words.value_rowids().numpy()[windows.row_starts().numpy()]
    same_sentence = sentence_of_window[1:] == sentence_of_window[:-1]
    next_first = np.array([row[0] for row in pieces[1:]])
    assert same_sentence.sum() == windows.nrows() - len(conll_valid)
    assert (used[:-1][same_sentence] + next_first[same_sentence] > 14).all()
    # Trained on, every word has its tag once, at its place in its window.
    x, labels, weights = preprocessor(words, tf.ragged.constant(conll_valid.tag_ids()))
    assert labels.shape == (windows.nrows(), 16)
    assert weights.numpy().sum() == conll_valid.num_words == 51_362
    starts = preprocessor.word_starts(windows)
    rows = starts.value_rowids().numpy()
    np.testing.assert_array_equal(labels.numpy()[rows, starts.flat_values.numpy()],
                                  np.concatenate(conll_valid.tag_ids()))
