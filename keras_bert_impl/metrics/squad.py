"""SQuAD exact match and F1, as the official evaluation scripts compute them.

Reference: `evaluate-v1.1.py` and `evaluate-v2.0.py` of the SQuAD authors (also in the
TensorFlow Model Garden as `official/nlp/tools/squad_evaluate_v1_1.py` and
`squad_evaluate_v2_0.py`). Both normalise an answer the same way: lowercase, drop ASCII
punctuation (`string.punctuation`), drop the whole words "a", "an" and "the", collapse
whitespace. Exact match compares normalised strings; F1 is the token-level F1 of the
normalised strings' bags of words (`Counter` overlap); a question scores the best over its
gold answers; the averages are percentages.

One function, `squad_scores`, reads either version:

- A v1.1 dataset (every question has answers) gives `{"exact_match", "f1"}` exactly as
  `evaluate-v1.1.py`: a question missing from `predictions` scores 0 and counts in the
  denominator. `"missing"` (how many such questions) is added only when some are missing.
- A v2.0 dataset (some question with `is_impossible` or an empty `answers` list), or any
  dataset scored with `na_probs`, gives the keys of `evaluate-v2.0.py`: `exact`, `f1`,
  `total`, `HasAns_exact`, `HasAns_f1`, `HasAns_total`, `NoAns_exact`, `NoAns_f1`,
  `NoAns_total` and, with `na_probs`,
  `best_exact`, `best_exact_thresh`, `best_f1`, `best_f1_thresh`; plus `exact_match` (the same
  number as `exact`) so that code reading `exact_match` and `f1` works for both versions.
  In v2.0 the empty string is the answer of an unanswerable question: its F1 against a
  non-empty answer is 0, against an empty one 1. The official v2.0 script stops with a
  `KeyError` when a prediction is missing; here a missing question scores 0 (as in v1.1),
  counts in every total, and is never credited as a no-answer; with every prediction present
  the numbers are the script's exactly.
"""

import collections
import json
import os
import re
import string

from keras_bert_impl.user_files import open_text

__all__ = ["normalize_answer", "exact_match_score", "f1_score", "squad_scores"]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def normalize_answer(text):
    """The official SQuAD normalisation of an answer string.

    Lowercases, removes ASCII punctuation (`string.punctuation`; other punctuation such as
    "«" or "—" stays), removes the articles "a", "an", "the" as whole words, and collapses
    runs of whitespace to one space.

    ```python
    normalize_answer("The  Eiffel-Tower!")  # 'eiffeltower'
    normalize_answer("An apple a day")  # 'apple day'
    normalize_answer("Théâtre  «Royal»")  # 'théâtre «royal»'
    ```
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction, ground_truth):
    """Whether the two answers are equal after `normalize_answer` (a bool).

    ```python
    exact_match_score("the Broncos", "Broncos.")  # True
    exact_match_score("Denver Broncos", "Broncos")  # False
    ```
    """
    return normalize_answer(prediction) == normalize_answer(ground_truth)


def _tokens(text):
    return normalize_answer(text).split() if text else []


def f1_score(prediction, ground_truth, empty_matches_empty=False):
    """Token-level F1 of the normalised answers, in [0, 1].

    With `empty_matches_empty=False` (SQuAD v1.1) an answer that normalises to nothing
    scores 0. With `empty_matches_empty=True` (SQuAD v2.0, where "" means "no answer") the
    F1 of an empty against a non-empty answer is 0 and of two empty answers 1.

    ```python
    f1_score("the Denver Broncos", "Broncos")  # 0.6666666666666666
    f1_score("Carolina Panthers", "Denver Broncos")  # 0.0
    f1_score("", "")  # 0.0
    f1_score("", "", empty_matches_empty=True)  # 1.0
    ```
    """
    prediction_tokens = _tokens(prediction)
    truth_tokens = _tokens(ground_truth)
    if empty_matches_empty and (not prediction_tokens or not truth_tokens):
        return float(prediction_tokens == truth_tokens)
    common = collections.Counter(prediction_tokens) & collections.Counter(truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _articles(dataset):
    """The list of articles of `dataset` (a path, the parsed JSON, or its "data" list)."""
    if isinstance(dataset, (str, os.PathLike)):
        with open_text(dataset, "a SQuAD JSON file") as f:
            dataset = json.load(f)
    if isinstance(dataset, dict):
        if "data" not in dataset:
            raise ValueError(
                f"`dataset` is a dict without a 'data' key (keys: {sorted(dataset)[:5]}); "
                "pass the parsed SQuAD JSON, its 'data' list, or the path of the file.")
        dataset = dataset["data"]
    if not isinstance(dataset, (list, tuple)):
        raise TypeError(
            f"`dataset` must be a SQuAD JSON path, dict or list of articles; got "
            f"{type(dataset).__name__}.")
    return dataset


def _questions(articles):
    """Yields every question dict of the dataset, in file order."""
    for article in articles:
        for paragraph in article["paragraphs"]:
            yield from paragraph["qas"]


def _is_v2(questions):
    return any(qa.get("is_impossible") or not qa["answers"] for qa in questions)


def _v1_scores(questions, predictions):
    exact_match = f1 = total = missing = 0
    for qa in questions:
        total += 1
        if qa["id"] not in predictions:
            missing += 1
            continue
        prediction = predictions[qa["id"]]
        truths = [answer["text"] for answer in qa["answers"]]
        exact_match += max(exact_match_score(prediction, truth) for truth in truths)
        f1 += max(f1_score(prediction, truth) for truth in truths)
    if total == 0:
        raise ValueError("The dataset has no questions.")
    scores = {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}
    if missing:
        scores["missing"] = missing
    return scores


def _find_best_thresh(predictions, scores, na_probs, has_answer):
    """`evaluate-v2.0.py`'s `find_best_thresh` (missing predictions never abstain)."""
    score = best_score = sum(1 for qid in scores if not has_answer[qid] and qid in predictions)
    best_thresh = 0.0
    for qid in sorted(na_probs, key=lambda k: na_probs[k]):
        if qid not in scores or qid not in predictions:
            continue
        if has_answer[qid]:
            diff = scores[qid]
        else:
            diff = -1 if predictions[qid] else 0
        score += diff
        if score > best_score:
            best_score = score
            best_thresh = na_probs[qid]
    return 100.0 * best_score / len(scores), best_thresh


def _eval_dict(exact, f1, qids):
    total = len(qids)
    return {
        "exact": 100.0 * sum(exact[qid] for qid in qids) / total,
        "f1": 100.0 * sum(f1[qid] for qid in qids) / total,
        "total": total,
    }


def _v2_scores(questions, predictions, na_probs, na_prob_threshold):
    has_answer, exact_raw, f1_raw = {}, {}, {}
    for qa in questions:
        qid = qa["id"]
        has_answer[qid] = bool(qa["answers"])
        truths = [a["text"] for a in qa["answers"] if normalize_answer(a["text"])] or [""]
        if qid not in predictions:
            exact_raw[qid] = f1_raw[qid] = 0
            continue
        prediction = predictions[qid]
        exact_raw[qid] = max(int(exact_match_score(truth, prediction)) for truth in truths)
        f1_raw[qid] = max(f1_score(prediction, truth, empty_matches_empty=True)
                          for truth in truths)
    if not has_answer:
        raise ValueError("The dataset has no questions.")
    probs = na_probs if na_probs is not None else {qid: 0.0 for qid in predictions}
    if na_probs is not None:
        lacking = [qid for qid in predictions if qid in has_answer and qid not in na_probs]
        if lacking:
            raise ValueError(
                f"`na_probs` has no probability for {len(lacking)} predicted question(s), "
                f"e.g. {lacking[:3]}; give one for every question in `predictions`.")

    def thresholded(raw):
        out = {}
        for qid, score in raw.items():
            if qid in predictions and probs[qid] > na_prob_threshold:
                out[qid] = float(not has_answer[qid])
            else:
                out[qid] = score
        return out

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    result = _eval_dict(exact, f1, list(exact))
    for prefix, wanted in (("HasAns", True), ("NoAns", False)):
        qids = [qid for qid, has in has_answer.items() if has == wanted]
        if qids:
            for key, value in _eval_dict(exact, f1, qids).items():
                result[f"{prefix}_{key}"] = value
    if na_probs is not None:
        result["best_exact"], result["best_exact_thresh"] = _find_best_thresh(
            predictions, exact_raw, na_probs, has_answer)
        result["best_f1"], result["best_f1_thresh"] = _find_best_thresh(
            predictions, f1_raw, na_probs, has_answer)
    result["exact_match"] = result["exact"]
    missing = sum(1 for qid in has_answer if qid not in predictions)
    if missing:
        result["missing"] = missing
    return result


def squad_scores(dataset, predictions, na_probs=None, na_prob_threshold=1.0):
    """SQuAD v1.1 or v2.0 scores of `predictions`, as the official scripts give them.

    Args:
        dataset: the SQuAD JSON (a path, the parsed dict with "data", or the "data" list).
        predictions: dict question id -> predicted answer text ("" for "no answer").
        na_probs: (v2.0) optional dict question id -> probability of "no answer"; adds the
            best-threshold figures and is used with `na_prob_threshold`.
        na_prob_threshold: (v2.0) a question whose no-answer probability exceeds this is
            scored as answered "no answer" (the script's `--na-prob-thresh`, default 1.0).

    Returns:
        v1.1: `{"exact_match", "f1"}` in percent (plus `"missing"` when predictions lack some
        questions, which score 0). v2.0 (when the dataset has unanswerable questions or
        `na_probs` is given):
        `exact`, `f1`, `total`, `HasAns_*`, `NoAns_*`, the `best_*` figures when `na_probs`
        is given, and `exact_match` equal to `exact`. See the module docstring.

    ```python
    data = [{"paragraphs": [{"qas": [
        {"id": "q1", "answers": [{"text": "Denver Broncos"}, {"text": "the Broncos"}]},
        {"id": "q2", "answers": [{"text": "Santa Clara"}]},
    ]}]}]
    predictions = {"q1": "Broncos", "q2": "Santa Clara, California"}
    squad_scores(data, predictions)  # {"exact_match": 50.0, "f1": 90.0}
    squad_scores(data, {"q1": "The Broncos!"})  # {"exact_match": 50.0, "f1": 50.0, "missing": 1}
    data[0]["paragraphs"][0]["qas"].append({"id": "q3", "answers": [], "is_impossible": True})
    v2 = squad_scores(data, {"q1": "Broncos", "q2": "Santa Clara", "q3": ""})
    (v2["exact"], v2["NoAns_exact"], v2["NoAns_total"])  # (100.0, 100.0, 1)
    ```
    """
    questions = list(_questions(_articles(dataset)))
    if not isinstance(predictions, dict):
        raise TypeError(
            f"`predictions` must be a dict question id -> answer text; got "
            f"{type(predictions).__name__}.")
    if _is_v2(questions) or na_probs is not None:
        return _v2_scores(questions, predictions, na_probs, na_prob_threshold)
    return _v1_scores(questions, predictions)
