"""`decode_spans`: n-best decoding of start/end logits over every window (google-research/bert
`write_predictions`), on hand-built cases, and the oracle round trip on the real SQuAD files:
gold positions turned into logits must decode to the gold answers (official EM/F1 100)."""

import numpy as np
import pytest

from keras_bert_impl.data.squad import read_squad
from keras_bert_impl.metrics import exact_match_score, squad_scores
from keras_bert_impl.text.span_decoding import decode_spans
from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor
from keras_bert_impl.text.tokenizer import BertTokenizer
from tests.presets.helpers import minilm_dir
from tests.real_data import shared_file

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "a", "b", "c", "d", "e",
         "f", "g", "h", "."]
ID = {token: i for i, token in enumerate(VOCAB)}
CONTEXT = "A b c d. E f g h"  # pieces a b c d . e f g h at characters 0 2 4 6 7 9 11 13 15


@pytest.fixture(scope="module")
def features():
    """One short question, one window (positions 4..12 are the context's 9 pieces)."""
    preprocessor = BertSpanPreprocessor(BertTokenizer(VOCAB), sequence_length=16,
                                        max_query_length=4)
    return preprocessor.features(["who?"], [CONTEXT], ids=["q"])


def _logits(features, starts=(), ends=()):
    start = np.zeros(features.max_context.shape)
    end = np.zeros(features.max_context.shape)
    for position, value in starts:
        start[0, position] = value
    for position, value in ends:
        end[0, position] = value
    return start, end


def test_best_span_is_cut_from_the_original_context(features):
    assert features.offsets[0, 4].tolist() == [0, 1] and features.offsets[0, 12].tolist() == [
        15, 16]
    start, end = _logits(features, [(5, 3.0)], [(9, 2.0)])  # "b" .. "e"
    answer = decode_spans(start, end, features)["q"]
    assert (answer.text, answer.start_char, answer.end_char) == ("b c d. E", 2, 10)
    assert answer.score == 5.0
    assert answer.n_best[0] == {"text": "b c d. E", "start_char": 2, "end_char": 10,
                                "score": 5.0, "start_logit": 3.0, "end_logit": 2.0,
                                "probability": answer.n_best[0]["probability"]}


def test_max_answer_length_and_order_of_the_n_best(features):
    # Positions 4..12 are the pieces a b c d . e f g h.
    start, end = _logits(features, [(4, 5.0), (10, 4.5), (11, 1.0)], [(12, 4.0), (6, 3.0)])
    assert decode_spans(start, end, features)["q"].text == "A b c d. E f g h"  # 9.0
    # With at most 3 pieces; on equal scores the earlier span comes first.
    answer = decode_spans(start, end, features, max_answer_length=3, n_best_size=4)["q"]
    assert answer.text == "f g h"
    assert [(c["text"], c["score"]) for c in answer.n_best] == [
        ("f g h", 8.5), ("A b c", 8.0), ("A", 5.0), ("A b", 5.0)]
    probabilities = [c["probability"] for c in answer.n_best]
    assert sum(probabilities) == pytest.approx(1.0)
    assert probabilities == sorted(probabilities, reverse=True)


def test_only_context_positions_and_forward_spans_count(features):
    # Huge logits on the question ("who" at 1), [CLS] (0), [SEP] (13) and padding (14, 15)
    # are ignored, and so is "e" .. "b" (end before start). The reference would take the
    # two best starts (1, 13) and find nothing; the two best VALID ones are "e" and "a".
    start, end = _logits(features, [(9, 9.0), (1, 50.0), (13, 50.0), (15, 50.0)],
                         [(5, 9.0), (0, 50.0), (14, 50.0)])
    answer = decode_spans(start, end, features, n_best_size=2)["q"]
    assert (answer.text, answer.score) == ("A b", 9.0)
    assert [c["text"] for c in answer.n_best] == ["A b", "A"]


def test_candidates_from_every_window_and_max_context():
    # Two windows over the context (room 7, stride 2): pieces 0..6 and 2..8. "e" (piece 5)
    # is at position 9 of window 0 and 7 of window 1, its max-context window.
    preprocessor = BertSpanPreprocessor(BertTokenizer(VOCAB), sequence_length=12,
                                        doc_stride=2, max_query_length=4)
    two = preprocessor.features(["who?"], [CONTEXT], ids=["q"])
    assert two.example_index.tolist() == [0, 0]
    assert not two.max_context[0, 9] and two.max_context[1, 7]
    start, end = np.zeros((2, 12)), np.zeros((2, 12))
    start[0, 9], end[0, 10] = 10.0, 1.0  # "E f" in window 0: not allowed to start there
    start[1, 7], end[1, 8] = 3.0, 3.0  # "E f" in window 1
    answer = decode_spans(start, end, two)["q"]
    assert (answer.text, answer.score) == ("E f", 6.0)
    assert len({c["text"] for c in answer.n_best}) == len(answer.n_best) == 20


def test_v2_null_answer_threshold(features):
    start, end = _logits(features, [(0, 2.0), (6, 1.0)], [(0, 1.5), (6, 1.0)])  # null 3.5
    v1 = decode_spans(start, end, features)["q"]
    assert (v1.text, v1.score, v1.null_score, v1.null_odds) == ("c", 2.0, 3.5, 1.5)
    assert "" not in [c["text"] for c in v1.n_best]
    predictions = decode_spans(start, end, features, null_score_diff_threshold=0.0)
    v2 = predictions["q"]
    assert (v2.text, v2.start_char, v2.end_char, v2.null_odds) == ("", -1, -1, 1.5)
    assert v2.n_best[0]["text"] == "" and v2.n_best[0]["score"] == 3.5
    assert v2.n_best[1]["text"] == "c" and len(v2.n_best) == 20
    assert predictions.texts() == {"q": ""} and predictions.null_odds() == {"q": 1.5}
    assert decode_spans(start, end, features, null_score_diff_threshold=2.0)["q"].text == "c"


def test_null_score_is_the_minimum_over_windows():
    preprocessor = BertSpanPreprocessor(BertTokenizer(VOCAB), sequence_length=12,
                                        doc_stride=2, max_query_length=4)
    two = preprocessor.features(["who?"], [CONTEXT], ids=["q"])
    start, end = np.zeros((2, 12)), np.zeros((2, 12))
    start[:, 0], end[:, 0] = [4.0, 1.0], [0.0, 0.5]  # null scores 4.0 and 1.5
    start[1, 7], end[1, 7] = 1.0, 1.0  # "E": 2.0
    answer = decode_spans(start, end, two, null_score_diff_threshold=-1.0)["q"]
    assert (answer.null_score, answer.null_odds, answer.text) == (1.5, -0.5, "")
    assert decode_spans(start, end, two, null_score_diff_threshold=0.0)["q"].text == "E"


def test_bad_arguments_are_clear(features):
    start, end = _logits(features)
    with pytest.raises(ValueError, match=r"start_logits has shape \(2, 16\) but the features "
                                         r"have 1 windows of length 16"):
        decode_spans(np.zeros((2, 16)), end, features)
    with pytest.raises(ValueError, match="n_best_size must be a positive int"):
        decode_spans(start, end, features, n_best_size=0)
    with pytest.raises(ValueError, match="max_answer_length must be a positive int"):
        decode_spans(start, end, features, max_answer_length=0)


# -- the oracle round trip on real SQuAD --------------------------------------------------

# Questions none of whose gold answers a span of pieces can give with the uncased MiniLM
# vocabulary at sequence_length=128, doc_stride=48 (their other gold answers are tried too, as
# the official evaluation takes the best over them). Every other question decodes to a gold.
UNREACHABLE = {
    "dev-v1.1-part-b.json": {
        # Every gold answer is 'four', the start of the single piece 'fourth'.
        "56dfa1d34a1a83140091ebd4": "'four' is the start of the one piece 'fourth'",
        # Every gold answer is 31 pieces long, and the max-context window of its first piece
        # (the only window where it may start an answer, as in the reference) ends before it.
        "5726ed6cf1498d1400e8f00d": "'those who feel ... medication.' crosses its window",
    },
    "train-v1.1-notre-dame.json": {},
}


def _oracle_predictions(preprocessor, examples, k):
    """Decoded answers when the logits point at the gold pieces of each example's k-th
    answer (10.0 at its start and end in every window holding it, 0 elsewhere)."""
    features = preprocessor.features(
        [e.question for e in examples], [e.context for e in examples],
        answer_starts=[e.answers[k][1] for e in examples],
        answer_texts=[e.answers[k][0] for e in examples], ids=[e.id for e in examples])
    start = np.zeros(features.max_context.shape, np.float32)
    end = np.zeros(features.max_context.shape, np.float32)
    labelled = np.flatnonzero(features.y["start_positions"] > 0)
    start[labelled, features.y["start_positions"][labelled]] = 10.0
    end[labelled, features.y["end_positions"][labelled]] = 10.0
    # The longest gold answers exceed the default max_answer_length of 30 pieces.
    return features, decode_spans(start, end, features, max_answer_length=128).texts()


@pytest.fixture(scope="module")
def minilm_preprocessor():
    tokenizer = BertTokenizer.from_preset(str(minilm_dir()))
    return BertSpanPreprocessor(tokenizer, sequence_length=128, doc_stride=48)


@pytest.mark.parametrize("name, questions", [("dev-v1.1-part-b.json", 5609),
                                             ("train-v1.1-notre-dame.json", 269)])
def test_oracle_round_trip_on_real_squad(minilm_preprocessor, name, questions):
    """Gold start/end pieces -> logits 10.0 there (0 elsewhere) in every window holding the
    answer -> decode_spans -> official EM and F1 of 100 on every question but the two known
    unreachable ones (see UNREACHABLE). The first gold
    answer is used; for the few questions whose first gold starts or ends inside a word piece
    (e.g. 'h International' inside 'With'), the next gold answers are tried."""
    data = read_squad(shared_file("squad", name))
    assert len(data) == questions
    features, predictions = _oracle_predictions(minilm_preprocessor, data.examples, 0)
    assert len(features) > 1.4 * questions  # long contexts take several windows

    def missed(examples):
        return [e for e in examples
                if not any(exact_match_score(predictions[e.id], text) for text, _ in e.answers)]

    first_missed = missed(data.examples)
    assert len(first_missed) < 0.002 * questions
    for k in range(1, 6):
        pending = [e for e in missed(first_missed) if len(e.answers) > k]
        if pending:
            predictions.update(_oracle_predictions(minilm_preprocessor, pending, k)[1])
    assert {e.id for e in missed(data.examples)} == set(UNREACHABLE[name])
    scores = squad_scores(data.dataset, predictions)
    if not UNREACHABLE[name]:
        assert scores == {"exact_match": 100.0, "f1": 100.0}
    else:  # 2 of 5,609: EM 99.964
        assert scores["exact_match"] == pytest.approx(
            100.0 * (questions - len(UNREACHABLE[name])) / questions)
