"""SQuAD metrics against the official evaluation scripts (`evaluate-v1.1.py`,
`evaluate-v2.0.py`): hand-checked cases whose expected numbers follow the scripts' rules
(tolerance 1e-12 relative), plus the real shared SQuAD v1.1 dev split."""

import json

import pytest

from keras_bert_impl.metrics import squad
from keras_bert_impl.metrics.squad import (
    exact_match_score,
    f1_score,
    normalize_answer,
    squad_scores,
)
from tests.real_data import shared_file


def approx(value):
    return pytest.approx(value, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("text, expected", [
    ("The Eiffel Tower", "eiffel tower"),
    ("a cat and an owl the end", "cat and owl end"),
    ("anthem theory another", "anthem theory another"),  # articles only as whole words
    ("A-B", "ab"),  # punctuation goes before articles are looked for
    ("the.end", "theend"),
    ("It's   a\ttest\n", "its test"),
    ("  (1,000) $ ", "1000"),
    ("Théâtre «Royal» — Ünïcode", "théâtre «royal» — ünïcode"),  # non-ASCII punctuation stays
    ("café the", "café"),
    ("theé", "theé"),  # \b is Unicode-aware: "theé" is one word
    ("", ""),
    ("The", ""),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_exact_match_score():
    assert exact_match_score("The Broncos.", "broncos") is True
    assert exact_match_score("Denver  Broncos", "denver broncos!") is True
    assert exact_match_score("Broncos", "Denver Broncos") is False
    assert exact_match_score("the", "") is True  # both normalise to ""
    # lowercasing, not case folding, as the official script
    assert exact_match_score("ÉCOLE", "école") is True
    assert exact_match_score("FUSSACH", "Fußach") is False


def test_f1_score_by_hand():
    # pred {big, red, dog}, gold {big, dog}: precision 2/3, recall 1 -> 0.8
    assert f1_score("the big red dog", "Big dog.") == approx(0.8)
    # Counter overlap: pred dog,dog,cat / gold dog,cat,cat share one dog and one cat
    assert f1_score("dog dog cat", "dog cat cat") == approx(2 / 3)
    assert f1_score("Denver Broncos", "Carolina Panthers") == 0.0
    assert f1_score("Broncos", "Broncos") == 1.0
    # v1.1: an empty answer scores 0, even against an empty gold
    assert f1_score("", "") == 0.0
    assert f1_score("the", "a") == 0.0
    # v2.0: empty vs empty is 1, empty vs non-empty is 0
    assert f1_score("", "", empty_matches_empty=True) == 1.0
    assert f1_score("the", "", empty_matches_empty=True) == 1.0
    assert f1_score("", "Broncos", empty_matches_empty=True) == 0.0
    assert f1_score("Broncos", "", empty_matches_empty=True) == 0.0


def _dataset(qas):
    return {"version": "test", "data": [{"title": "t", "paragraphs": [
        {"context": "c", "qas": qas[:2]}, {"context": "c", "qas": qas[2:]}]}]}


V1_QAS = [
    {"id": "q1", "answers": [{"text": "Denver Broncos"}, {"text": "the Broncos"},
                             {"text": "Broncos"}]},
    {"id": "q2", "answers": [{"text": "Santa Clara, California"}, {"text": "Santa Clara"}]},
    {"id": "q3", "answers": [{"text": "Levi's Stadium"}]},
    {"id": "q4", "answers": [{"text": "February 7, 2016"}]},
]


def test_v1_several_gold_answers_and_missing_prediction():
    predictions = {
        "q1": "The Broncos!",               # EM with "Broncos" / "the Broncos"; F1 1
        "q2": "in Santa Clara",             # best gold "Santa Clara": P 2/3, R 1 -> F1 0.8
        "q3": "Levis stadium in California",  # P 2/4, R 2/2 -> F1 2/3
        # q4 missing: scores 0 and still counts in the denominator
    }
    scores = squad_scores(_dataset(V1_QAS), predictions)
    assert scores["exact_match"] == approx(100.0 * 1 / 4)
    assert scores["f1"] == approx(100.0 * (1 + 0.8 + 2 / 3) / 4)
    assert scores["missing"] == 1
    assert set(scores) == {"exact_match", "f1", "missing"}


def test_v1_keys_and_all_correct():
    predictions = {qa["id"]: qa["answers"][-1]["text"] for qa in V1_QAS}
    scores = squad_scores(_dataset(V1_QAS), predictions)
    assert scores == {"exact_match": 100.0, "f1": 100.0}
    # the "data" list and the dict give the same result
    assert squad_scores(_dataset(V1_QAS)["data"], predictions) == scores


V2_QAS = [
    {"id": "q1", "answers": [{"text": "Paris"}], "is_impossible": False},
    {"id": "q2", "answers": [{"text": "Rhine River"}, {"text": "the Rhine"}],
     "is_impossible": False},
    {"id": "q3", "answers": [], "is_impossible": True},
    {"id": "q4", "answers": [], "is_impossible": True},
    {"id": "q5", "answers": [{"text": "1990"}], "is_impossible": False},
]
V2_PREDICTIONS = {"q1": "Paris", "q2": "Rhine Valley", "q3": "", "q4": "Berlin", "q5": ""}
V2_NA_PROBS = {"q1": 0.1, "q2": 0.6, "q3": 0.9, "q4": 0.7, "q5": 0.95}
# raw per-question scores (v2.0 rules):
#   q1 EM 1 F1 1; q2 EM 0, F1 max(0.5 vs "rhine river", 2/3 vs "rhine") = 2/3;
#   q3 "" vs no-answer: EM 1 F1 1; q4 "Berlin" vs no-answer: 0 0; q5 "" vs "1990": 0 0.


def test_v2_without_na_probs():
    scores = squad_scores(_dataset(V2_QAS), V2_PREDICTIONS)
    expected = {
        "exact": 100.0 * 2 / 5, "f1": 100.0 * (1 + 2 / 3 + 1) / 5, "total": 5,
        "HasAns_exact": 100.0 / 3, "HasAns_f1": 100.0 * (1 + 2 / 3) / 3, "HasAns_total": 3,
        "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2,
    }
    assert list(scores) == list(expected) + ["exact_match"]  # the script's key order
    for key, value in expected.items():
        assert scores[key] == approx(value), key
    assert scores["exact_match"] == scores["exact"]


def test_v2_na_probs_threshold_and_best_thresholds():
    scores = squad_scores(_dataset(V2_QAS), V2_PREDICTIONS, na_probs=V2_NA_PROBS,
                          na_prob_threshold=0.65)
    # above 0.65: q4 (0.7), q3 (0.9) become "no answer" (correct: 1); q5 (0.95) too (wrong: 0)
    assert scores["exact"] == approx(100.0 * 3 / 5)
    assert scores["f1"] == approx(100.0 * (1 + 2 / 3 + 1 + 1) / 5)
    assert scores["HasAns_exact"] == approx(100.0 / 3)
    assert scores["NoAns_exact"] == approx(100.0)
    assert scores["NoAns_f1"] == approx(100.0)
    # best thresholds sweep the questions by na_prob, starting from "all abstain" = 2 correct:
    # q1 (0.1) +1 -> 3 (best, EM and F1); q2 (0.6) +0 EM / +2/3 F1 (best F1: 3 2/3);
    # q4 (0.7) answered "Berlin" -1; q3 0; q5 0.
    assert scores["best_exact"] == approx(100.0 * 3 / 5)
    assert scores["best_exact_thresh"] == 0.1
    assert scores["best_f1"] == approx(100.0 * (3 + 2 / 3) / 5)
    assert scores["best_f1_thresh"] == 0.6
    # the default threshold 1.0 changes nothing; the best figures do not depend on it
    default = squad_scores(_dataset(V2_QAS), V2_PREDICTIONS, na_probs=V2_NA_PROBS)
    assert default["exact"] == approx(40.0)
    assert default["best_f1"] == scores["best_f1"]


def test_v2_best_threshold_when_abstaining_everywhere_is_best():
    predictions = dict(V2_PREDICTIONS, q1="London")  # q1 now wrong
    na_probs = {"q1": 0.2, "q2": 0.3, "q3": 0.4, "q4": 0.5, "q5": 0.6}
    scores = squad_scores(_dataset(V2_QAS), predictions, na_probs=na_probs)
    # sweep EM: 2, q1 +0, q2 +0, q3 +0, q4 -1, q5 +0 -> best stays 2 at threshold 0.0
    assert scores["best_exact"] == approx(40.0)
    assert scores["best_exact_thresh"] == 0.0


def test_v2_gold_answers_that_normalise_to_nothing_mean_no_answer():
    qas = [{"id": "a", "answers": [{"text": "The"}]}, {"id": "b", "answers": []}]
    scores = squad_scores({"data": [{"paragraphs": [{"qas": qas}]}]}, {"a": "", "b": ""})
    assert scores["exact"] == 100.0 and scores["f1"] == 100.0
    assert scores["HasAns_total"] == 1 and scores["NoAns_total"] == 1


def test_v2_missing_prediction_scores_zero():
    predictions = dict(V2_PREDICTIONS)
    del predictions["q3"]  # a no-answer question left out is not credited as "no answer"
    scores = squad_scores(_dataset(V2_QAS), predictions)
    assert scores["total"] == 5 and scores["missing"] == 1
    assert scores["exact"] == approx(100.0 * 1 / 5)
    assert scores["NoAns_exact"] == 0.0


def test_v2_na_probs_must_cover_predictions():
    with pytest.raises(ValueError, match="no probability for 1 predicted question.*q5"):
        squad_scores(_dataset(V2_QAS), V2_PREDICTIONS,
                     na_probs={k: v for k, v in V2_NA_PROBS.items() if k != "q5"})


def test_bad_inputs():
    with pytest.raises(ValueError, match="without a 'data' key"):
        squad_scores({"version": "1.1"}, {})
    with pytest.raises(TypeError, match="must be a dict question id"):
        squad_scores(_dataset(V1_QAS), [("q1", "x")])
    with pytest.raises(ValueError, match="no questions"):
        squad_scores({"data": []}, {})


def test_no_tensorflow_or_keras_imported_by_the_module():
    source = open(squad.__file__, encoding="utf-8").read()
    assert "tensorflow" not in source and "import keras" not in source


# ---- the real shared SQuAD v1.1 dev split -------------------------------------------------


@pytest.fixture(scope="module")
def dev_part_b():
    path = shared_file("squad", "dev-v1.1-part-b.json")
    with open(path, encoding="utf-8") as f:
        return path, json.load(f)


def _all_qas(dataset):
    return [qa for article in dataset["data"] for paragraph in article["paragraphs"]
            for qa in paragraph["qas"]]


def test_real_dev_first_gold_answer_scores_100(dev_part_b):
    path, dataset = dev_part_b
    qas = _all_qas(dataset)
    assert len(qas) > 5000
    predictions = {qa["id"]: qa["answers"][0]["text"] for qa in qas}
    assert squad_scores(str(path), predictions) == {"exact_match": 100.0, "f1": 100.0}
    # ASCII case, punctuation, articles and spacing do not matter (non-ASCII case can:
    # "Fußach".upper() is "FUSSACH", which lowercases to "fussach")
    noisy = {qid: "  The " + "".join(c.upper() if c.isascii() else c for c in text) + " ."
             for qid, text in predictions.items()}
    assert squad_scores(dataset, noisy) == {"exact_match": 100.0, "f1": 100.0}


def test_real_dev_empty_predictions_score_0(dev_part_b):
    _, dataset = dev_part_b
    predictions = {qa["id"]: "" for qa in _all_qas(dataset)}
    assert squad_scores(dataset, predictions) == {"exact_match": 0.0, "f1": 0.0}
    # and nothing predicted at all: every question missing
    scores = squad_scores(dataset, {})
    assert scores["exact_match"] == 0.0 and scores["f1"] == 0.0
    assert scores["missing"] == len(_all_qas(dataset))


def test_real_dev_half_right(dev_part_b):
    _, dataset = dev_part_b
    qas = _all_qas(dataset)
    predictions = {qa["id"]: qa["answers"][0]["text"] for qa in qas[::2]}
    scores = squad_scores(dataset, predictions)
    assert scores["exact_match"] == approx(100.0 * len(qas[::2]) / len(qas))
    assert scores["f1"] == approx(100.0 * len(qas[::2]) / len(qas))
