"""Character offsets of word pieces (`text.offsets`) and the SQuAD windows of
`BertSpanPreprocessor`: hand-checked cases on a tiny vocabulary, the reference's windowing
rules (doc_stride, max_query_length, labels, max-context), and the offsets of the real MiniLM
tokenizer on every context of the shared SQuAD files and on hard real lines."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_impl.text.offsets import WordpieceAligner, tokenize_with_offsets
from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor
from keras_bert_impl.text.tokenizer import BertTokenizer
from tests.presets.helpers import minilm_dir
from tests.real_data import shared_file

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + ["beyonce", "sang", ",", "!", "da", "##nce", "the", "fox", "ran", "far",
                   ".", "who", "?", "中", "xy", "a", "b", "c", "d", "e", "f", "g", "h",
                   "é", "déjà", "vu", "what", "is"]
ID = {token: i for i, token in enumerate(VOCAB)}


@pytest.fixture(scope="module")
def uncased():
    return BertTokenizer(VOCAB, max_chars_per_word=8)


@pytest.fixture(scope="module")
def cased():
    return BertTokenizer(VOCAB, lowercase=False)


@pytest.fixture(scope="module")
def minilm():
    return BertTokenizer.from_preset(str(minilm_dir()))


def _pieces(tokenizer, text):
    [(ids, offsets)] = tokenize_with_offsets(tokenizer, [text])
    assert ids.tolist() == tokenizer(tf.constant([text])).to_list()[0]
    return [(tokenizer.vocabulary[i], text[a:b]) for i, (a, b) in zip(ids, offsets.tolist(),
                                                                      strict=True)]


# -- offsets -------------------------------------------------------------------------------


def test_offsets_point_into_the_original_text(uncased):
    assert _pieces(uncased, "Beyoncé  sang,  DANCE!") == [
        ("beyonce", "Beyoncé"), ("sang", "sang"), (",", ","), ("da", "DA"), ("##nce", "NCE"),
        ("!", "!")]
    # Tabs, newlines, several spaces, a control character inside a word (removed, so "x\0y"
    # is the word "xy"), a CJK character (a word of its own) glued to its neighbours.
    assert _pieces(uncased, "\tthe\n\n fox \r\n x\x00y中the") == [
        ("the", "the"), ("fox", "fox"), ("xy", "x\x00y"), ("中", "中"), ("the", "the")]
    # A decomposed accent belongs to the piece before it; a leading format character
    # (zero-width no-break space) to none.
    assert _pieces(uncased, "\ufeffBeyonce\u0301 ran") == [
        ("beyonce", "Beyonce\u0301"), ("ran", "ran")]
    # Unknown words and words over max_chars_per_word (8) are one [UNK] over the whole word.
    assert _pieces(uncased, "the abcdefghi zebra fox") == [
        ("the", "the"), ("[UNK]", "abcdefghi"), ("[UNK]", "zebra"), ("fox", "fox")]
    assert _pieces(uncased, "") == [] and _pieces(uncased, " \t\x00 ") == []


def test_offsets_cased_keep_accents_and_capitals(cased):
    assert _pieces(cased, "déjà vu, Fox fox") == [
        ("déjà", "déjà"), ("vu", "vu"), (",", ","), ("[UNK]", "Fox"), ("fox", "fox")]


def test_offsets_keep_the_tokenizer_ids_and_texts_on_real_contexts(minilm):
    """Every context of both shared SQuAD files: the aligned ids are the tokenizer's, and
    each piece's text, normalised by the tokenizer, is the piece (`[UNK]`s excepted)."""
    contexts = []
    for name in ("dev-v1.1-part-b.json", "train-v1.1-notre-dame.json"):
        data = json.loads(shared_file("squad", name).read_text("utf-8"))["data"]
        contexts += [p["context"] for article in data for p in article["paragraphs"]]
    assert len(contexts) == 1209
    _check_alignment(minilm, contexts)


def test_offsets_on_hard_real_lines(minilm, real_lines):
    """Real lines with accents, CJK, emoji, control and zero-width characters, full-width
    forms and over-long words inserted (`tests/text/conftest.py`), uncased and cased."""
    hard = real_lines[-2010:]
    _check_alignment(minilm, hard)
    cased = BertTokenizer(minilm.vocabulary, lowercase=False, max_chars_per_word=20)
    _check_alignment(cased, hard[:500])


def _check_alignment(tokenizer, texts):
    aligned = WordpieceAligner(tokenizer)(texts)
    expected = tokenizer(tf.constant(texts))
    pieces, cut = [], []
    for (ids, offsets), want, text in zip(aligned, expected.to_list(), texts, strict=True):
        assert ids.tolist() == want
        assert offsets.dtype == np.int32 and offsets.shape == (len(ids), 2)
        assert (np.diff(offsets[:, 0]) >= 0).all() and (offsets[:, 1] > offsets[:, 0]).all()
        previous = None
        for i, (a, b) in zip(ids, offsets.tolist(), strict=True):
            if i == tokenizer.unk_token_id:
                previous = None
                continue
            piece = tokenizer.vocabulary[i].removeprefix("##")
            if (a, b) == previous:  # pieces inside one character (a Hangul syllable's jamo)
                pieces[-1] += piece
            else:
                pieces.append(piece)
                cut.append(text[a:b])
            previous = (a, b)
    words = tokenizer.split_words(tf.constant(cut)).to_list()
    normalised = [b"".join(w).decode("utf-8") for w in words]
    wrong = [(p, c) for p, c, n in zip(pieces, cut, normalised, strict=True) if p != n]
    assert not wrong, wrong[:10]
    assert len(pieces) > 1000


def test_aligner_rejects_a_single_string(uncased):
    with pytest.raises(TypeError, match="wrap it"):
        WordpieceAligner(uncased)("the fox")
    with pytest.raises(TypeError, match="BertTokenizer"):
        WordpieceAligner(VOCAB)


# -- windows --------------------------------------------------------------------------------


def _ids(*tokens):
    return [ID[t] for t in tokens]


def test_long_context_windows_overlap_by_doc_stride(uncased):
    # 12 context pieces; question "who ran ?" (3 pieces); room = 14 - 3 - 3 = 8 pieces.
    context = "a b c d e f g h the fox ran far"
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=14, doc_stride=3,
                                        max_query_length=5)
    features = preprocessor.features(["Who ran?", "Who ran?"], [context, context],
                                      answer_starts=[context.index("fox"), 2],
                                      answer_texts=["fox ran", "b"], ids=["q1", "q2"])
    question = _ids("who", "ran", "?")
    pieces = context.split()
    # Windows start at pieces 0, 3 and 6 (the last one reaches the end: 6 + 6 = 12).
    expected_windows = [pieces[0:8], pieces[3:11], pieces[6:12]]
    assert len(features) == 6
    assert features.example_index.tolist() == [0, 0, 0, 1, 1, 1]
    for row, window in enumerate(expected_windows * 2):
        tokens = [ID["[CLS]"]] + question + [ID["[SEP]"]] + _ids(*window) + [ID["[SEP]"]]
        tokens += [0] * (14 - len(tokens))
        assert features.x["token_ids"][row].tolist() == tokens
        assert features.x["segment_ids"][row].tolist() == (
            [0] * 5 + [1] * (len(window) + 1) + [0] * (14 - 6 - len(window)))
        assert features.x["padding_mask"][row].tolist() == (
            [True] * (6 + len(window)) + [False] * (14 - 6 - len(window)))
    # "fox ran" (pieces 9, 10) is whole only in windows 2 and 3; "b" (piece 1) in window 1.
    assert features.y["start_positions"].tolist() == [0, 5 + 9 - 3, 5 + 9 - 6, 5 + 1, 0, 0]
    assert features.y["end_positions"].tolist() == [0, 5 + 10 - 3, 5 + 10 - 6, 5 + 1, 0, 0]
    # Offsets: -1 outside the context, the characters of the piece inside.
    offsets = features.offsets[1]
    assert (offsets[:5] == -1).all() and (offsets[13:] == -1).all()
    assert [context[a:b] for a, b in offsets[5:13].tolist()] == pieces[3:11]
    # Max context: piece p belongs to the window where min(left, right) is largest.
    best = [_reference_max_context_window(p, [(0, 8), (3, 8), (6, 6)]) for p in range(12)]
    assert best == [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2]  # ties go to the earlier window
    for row, (start, size) in enumerate([(0, 8), (3, 8), (6, 6)]):
        flags = features.max_context[row]
        assert flags[5:5 + size].tolist() == [best[start + i] == row for i in range(size)]
        assert not flags[:5].any() and not flags[5 + size:].any()


def _reference_max_context_window(position, spans):
    """google-research/bert `_check_is_max_context`, written out."""
    best_score, best_index = None, None
    for index, (start, length) in enumerate(spans):
        end = start + length - 1
        if position < start or position > end:
            continue
        score = min(position - start, end - position) + 0.01 * length
        if best_score is None or score > best_score:
            best_score, best_index = score, index
    return best_index


def test_max_context_matches_the_reference_on_many_shapes(uncased):
    from keras_bert_impl.text.span_preprocessor import _max_context_windows, _window_starts

    for pieces in (1, 5, 17, 40, 101):
        for room in (1, 4, 9, 32):
            for stride in (1, 3, 7, 50):
                starts = _window_starts(pieces, room, stride)
                spans = [(s, min(room, pieces - s)) for s in starts]
                assert spans[-1][0] + spans[-1][1] == pieces
                covered = set().union(*(range(s, s + n) for s, n in spans))
                assert covered == set(range(pieces))
                best = _max_context_windows(pieces, starts, room)
                assert best.tolist() == [_reference_max_context_window(p, spans)
                                         for p in range(pieces)]


def test_question_truncated_to_max_query_length(uncased):
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=12, max_query_length=3)
    features = preprocessor.features(["what is the fox ? who ran"], ["the fox ran far."])
    assert features.x["token_ids"][0].tolist() == (
        [ID["[CLS]"]] + _ids("what", "is", "the") + [ID["[SEP]"]]
        + _ids("the", "fox", "ran", "far", ".") + [ID["[SEP]"], 0])
    assert features.y is None and features.ids == ["0"]


def test_answer_labels_follow_offsets_and_ignore_surrounding_spaces(uncased):
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=16, max_query_length=4)
    context = "Beyoncé  sang,  DANCE!"
    # " sang, " with its spaces, and "ANC" inside "da ##nce": the pieces that cover them.
    features = preprocessor.features(["who?", "who?", "who?"], [context] * 3,
                                     answer_starts=[8, 17, None],
                                     answer_texts=[" sang, ", "ANC", None])
    first = 4  # [CLS] who ? [SEP]
    assert features.y["start_positions"].tolist() == [first + 1, first + 3, 0]
    assert features.y["end_positions"].tolist() == [first + 2, first + 4, 0]
    row = features.offsets[1]
    assert context[row[first + 3, 0]:row[first + 4, 1]] == "DANCE"


@pytest.mark.parametrize("questions, contexts, match", [
    (["who?", " "], ["the fox", "the fox"], "Example '1' has an empty question"),
    (["who?", "who?"], ["the fox", "\n"], "Example '1' has an empty context"),
    (["\x00\x01", "who?"], ["the fox", "the fox"], "question of example '0' has no tokens"),
    (["who?"], ["\u200b\x00"], "context of example '0' has no tokens"),
])
def test_empty_question_or_context_names_the_example(uncased, questions, contexts, match):
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=16, max_query_length=4)
    with pytest.raises(ValueError, match=match):
        preprocessor.features(questions, contexts)


def test_bad_answers_name_the_example(uncased):
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=16, max_query_length=4)
    with pytest.raises(ValueError, match=r"Example 'q7': the answer 'fox' is not at "
                                         r"answer_start=0 .*found 'the'.*occurs at 4"):
        preprocessor.features(["who?"], ["the fox"], [0], ["fox"], ids=["q7"])
    with pytest.raises(ValueError, match="Example 'q7'.* covers no token"):
        preprocessor.features(["who?"], ["the \x00 fox"], [4], ["\x00"], ids=["q7"])
    with pytest.raises(ValueError, match="both answer_starts and answer_texts"):
        preprocessor.features(["who?"], ["the fox"], [4])
    with pytest.raises(ValueError, match="ids must be unique"):
        preprocessor.features(["who?", "who?"], ["the fox", "a fox"], ids=["a", "a"])
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        preprocessor.features(["who?", "who?"], ["the fox"])
    with pytest.raises(ValueError, match="got no questions"):
        preprocessor.features([], [])


def test_constructor_checks_lengths(uncased):
    with pytest.raises(ValueError, match="no room for the context"):
        BertSpanPreprocessor(uncased, sequence_length=67, max_query_length=64)
    with pytest.raises(ValueError, match="doc_stride must be a positive int"):
        BertSpanPreprocessor(uncased, doc_stride=0)
    with pytest.raises(TypeError, match="BertTokenizer"):
        BertSpanPreprocessor(VOCAB)


# -- in the graph: one window ----------------------------------------------------------------


def test_call_packs_the_first_window_in_the_graph(uncased):
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=12, doc_stride=2,
                                        max_query_length=3)
    questions = ["Who ran?", "what is the fox ? who", "who?"]
    contexts = ["The fox ran far.", "a b c d e f g h", "Beyoncé sang"]
    features = preprocessor.features(questions, contexts)
    first_windows = np.flatnonzero(np.diff(features.example_index, prepend=-1))
    packed = tf.function(preprocessor)((tf.constant(questions), tf.constant(contexts)))
    for key, value in packed.items():
        np.testing.assert_array_equal(value.numpy(), features.x[key][first_windows])
    single = preprocessor((tf.constant(questions[0]), tf.constant(contexts[0])))
    assert single["token_ids"].numpy().tolist() == features.x["token_ids"][0].tolist()
    with pytest.raises(TypeError, match=r"\(questions, contexts\) pair"):
        preprocessor(tf.constant(questions))


def test_serialization_round_trip(uncased, tmp_path):
    preprocessor = BertSpanPreprocessor(uncased, sequence_length=12, doc_stride=2,
                                        max_query_length=3)
    clone = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(preprocessor))
    assert type(clone) is BertSpanPreprocessor and clone.get_config() == preprocessor.get_config()
    assert (clone.sequence_length, clone.doc_stride, clone.max_query_length) == (12, 2, 3)
    args = (["Who ran?"], ["The fox ran far, far, far."], [4], ["fox"])
    a, b = preprocessor.features(*args), clone.features(*args)
    for key in a.x:
        np.testing.assert_array_equal(a.x[key], b.x[key])
    np.testing.assert_array_equal(a.offsets, b.offsets)
    # `.keras` file: a Sequential model holding the layer (as tests/text/test_text_saving.py).
    model = keras.Sequential([preprocessor])
    inputs = (tf.constant(["Who ran?"]), tf.constant(["The fox ran far."]))
    expected = model(inputs)
    model.save(tmp_path / "span.keras")
    restored = keras.saving.load_model(tmp_path / "span.keras")
    assert isinstance(restored.layers[0], BertSpanPreprocessor)
    for key, value in restored(inputs).items():
        np.testing.assert_array_equal(value.numpy(), expected[key].numpy())
