"""Start/end logits of every window -> answer text per question (SQuAD n-best decoding).

Follows google-research/bert `run_squad.py` (`write_predictions`), which Model Garden's
`squad_lib.py` and Hugging Face's `postprocess_qa_predictions` also follow:

- a candidate is a `(start, end)` pair of context pieces of one window, scored
  `start_logit + end_logit`; pairs with a non-context piece, `end < start`, more than
  `max_answer_length` pieces, or a start that is not in its max-context window are left out;
- the candidates of all windows of a question are ranked by score; the first
  `n_best_size` distinct answer texts are its n-best list, with softmax probabilities over
  their scores;
- the answer text is cut from the ORIGINAL context by the pieces' character offsets;
- SQuAD v2: the null score is `start_logit + end_logit` at `[CLS]` (position 0), the
  minimum over the question's windows; `null_odds = null_score - best non-null score`, and
  with `null_score_diff_threshold` given the answer is `""` when `null_odds` exceeds it
  (the null answer then also takes its place in the n-best list).

One difference, simpler for the user: the reference takes the `n_best_size` best start and
end positions of a window BEFORE leaving out the invalid ones (so a window whose best starts
are all question pieces yields nothing); here invalid positions are left out first, so the
`n_best_size` best valid starts and ends are paired.
"""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class SpanAnswer:
    """The decoded answer of one question.

    Attributes:
        text: the answer, cut from the original context (`""` when the null answer wins).
        start_char, end_char: its character span in the context (`-1, -1` for `""`).
        score: `start_logit + end_logit` of the best non-null span.
        n_best: the best distinct answers, best first: dicts with `text`, `start_char`,
            `end_char`, `score`, `start_logit`, `end_logit` and `probability` (softmax over
            the list's scores).
        null_score: the smallest `[CLS]` score over the question's windows.
        null_odds: `null_score - score` (SQuAD v2's `null_odds.json`; higher means "no
            answer" is likelier).

    Example:

    ```python
    answer = SpanAnswer(text="Denver", start_char=0, end_char=6, score=3.5, n_best=[],
                        null_score=0.5, null_odds=-3.0)
    answer.text  # 'Denver'
    ```
    """

    text: str
    start_char: int
    end_char: int
    score: float
    n_best: list
    null_score: float
    null_odds: float


@dataclasses.dataclass
class SpanPredictions:
    """`SpanAnswer` per question id, as `decode_spans` returns them.

    `texts()` is the `{id: answer text}` dict `keras_bert_impl.metrics.squad_scores` takes;
    `null_odds()` is `{id: null_odds}` (SQuAD v2's `na_probs`).

    Example:

    ```python
    answer = SpanAnswer(text="Denver", start_char=0, end_char=6, score=3.5, n_best=[],
                        null_score=0.5, null_odds=-3.0)
    predictions = SpanPredictions({"q1": answer})
    predictions.texts()  # {'q1': 'Denver'}
    predictions["q1"].start_char  # 0
    ```
    """

    answers: dict

    def texts(self):
        """`{id: answer text}`."""
        return {key: answer.text for key, answer in self.answers.items()}

    def null_odds(self):
        """`{id: null_odds}`."""
        return {key: answer.null_odds for key, answer in self.answers.items()}

    def __getitem__(self, example_id):
        return self.answers[example_id]

    def __len__(self):
        return len(self.answers)

    def __iter__(self):
        return iter(self.answers)


def decode_spans(start_logits, end_logits, features, n_best_size=20, max_answer_length=30,
                 null_score_diff_threshold=None):
    """The best answer span of each question from its windows' logits (NumPy).

    Args:
        start_logits, end_logits: `[num_windows, sequence_length]` arrays (NumPy or
            tensors), in the order of `features`' windows.
        features: the `SpanFeatures` the windows came from
            (`BertSpanPreprocessor.features`).
        n_best_size: start and end positions considered per window, and answers kept per
            question.
        max_answer_length: longest answer, in pieces.
        null_score_diff_threshold: `None` (SQuAD v1.1: always answer) or a float (SQuAD
            v2: answer `""` when `null_odds` exceeds it; 0.0 is the reference's default).

    Returns:
        `SpanPredictions`: a `SpanAnswer` per question id (see the module docstring).

    Example:

    ```python
    import numpy as np
    from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor
    from keras_bert_impl.text.tokenizer import BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "won", "?", "denver",
             "broncos", "did", "."]
    preprocessor = BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=12,
                                        max_query_length=4)
    features = preprocessor.features(["Who won?"], ["Denver  Broncos did."], ids=["q1"])
    start, end = np.zeros((2, 1, 12))
    start[0, 5], end[0, 6] = 4.0, 3.0  # "denver" .. "broncos"
    predictions = decode_spans(start, end, features)
    predictions.texts()  # {'q1': 'Denver  Broncos'}
    predictions["q1"].score  # 7.0
    (predictions["q1"].start_char, predictions["q1"].end_char)  # (0, 15)
    ```
    """
    start_logits = _logits(start_logits, features, "start_logits")
    end_logits = _logits(end_logits, features, "end_logits")
    if isinstance(n_best_size, bool) or not isinstance(n_best_size, int) or n_best_size < 1:
        raise ValueError(f"n_best_size must be a positive int; got {n_best_size!r}.")
    if (isinstance(max_answer_length, bool) or not isinstance(max_answer_length, int)
            or max_answer_length < 1):
        raise ValueError(f"max_answer_length must be a positive int; got {max_answer_length!r}.")
    offsets = np.asarray(features.offsets)
    in_context = offsets[..., 0] >= 0
    starts = np.where(in_context & np.asarray(features.max_context), start_logits, -np.inf)
    ends = np.where(in_context, end_logits, -np.inf)
    windows, length = starts.shape
    k = min(n_best_size, length)
    # The k best valid starts and ends of each window (the first positions on ties, as the
    # reference's stable sort), in position order; the score of every pair of them:
    # [windows, k, k], -inf where the pair is not a valid answer.
    top_start = np.sort(np.argsort(-starts, axis=1, kind="stable")[:, :k], axis=1)
    top_end = np.sort(np.argsort(-ends, axis=1, kind="stable")[:, :k], axis=1)
    span = top_end[:, None, :] - top_start[:, :, None]
    score = (np.take_along_axis(starts, top_start, 1)[:, :, None]
             + np.take_along_axis(ends, top_end, 1)[:, None, :])
    score = np.where((span >= 0) & (span < max_answer_length), score, -np.inf)
    score = score.reshape(windows, k * k)

    null = start_logits[:, 0] + end_logits[:, 0]
    example_index = np.asarray(features.example_index)
    by_example = np.argsort(example_index, kind="stable")
    window_bounds = np.searchsorted(example_index[by_example], np.arange(len(features.ids) + 1))
    answers = {}
    for index, example_id in enumerate(features.ids):
        context = features.contexts[index]
        own = by_example[window_bounds[index]:window_bounds[index + 1]]
        null_window = own[np.argmin(null[own])] if len(own) else None
        null_score = float(null[null_window]) if len(own) else float("inf")
        # The example's candidates, best first; ties in window, then position order.
        scores = score[own].ravel()
        candidates = np.flatnonzero(scores > -np.inf)
        candidates = candidates[np.argsort(-scores[candidates], kind="stable")]
        window, pair = np.divmod(candidates, k * k)
        window = own[window]
        first, last = top_start[window, pair // k], top_end[window, pair % k]
        columns = (offsets[window, first, 0], offsets[window, last, 1], score[window, pair],
                   start_logits[window, first], end_logits[window, last])
        n_best, seen = [], set()
        position = 0
        while position < len(candidates) and len(n_best) < n_best_size:
            # Candidates in chunks: most questions need only the first few.
            chunk = slice(position, position + 2 * n_best_size)
            position = chunk.stop
            for start_char, end_char, total, start_logit, end_logit in zip(
                    *(column[chunk].tolist() for column in columns)):
                text = context[start_char:end_char]
                if text in seen:
                    continue
                seen.add(text)
                n_best.append({"text": text, "start_char": start_char, "end_char": end_char,
                               "score": total, "start_logit": start_logit,
                               "end_logit": end_logit})
                if len(n_best) == n_best_size:
                    break
        best = n_best[0] if n_best else {"text": "", "start_char": -1, "end_char": -1,
                                         "score": -np.inf}
        null_odds = null_score - best["score"]
        abstain = null_score_diff_threshold is not None and (
            not n_best or null_odds > null_score_diff_threshold)
        if null_score_diff_threshold is not None and null_window is not None \
                and "" not in seen:
            n_best.append({"text": "", "start_char": -1, "end_char": -1, "score": null_score,
                           "start_logit": float(start_logits[null_window, 0]),
                           "end_logit": float(end_logits[null_window, 0])})
            n_best.sort(key=lambda candidate: -candidate["score"])
            n_best = n_best[:n_best_size]
        _add_probabilities(n_best)
        text, start_char, end_char = ("", -1, -1) if abstain else (
            best["text"], best["start_char"], best["end_char"])
        answers[example_id] = SpanAnswer(text=text, start_char=start_char, end_char=end_char,
                                         score=float(best["score"]), n_best=n_best,
                                         null_score=null_score, null_odds=float(null_odds))
    return SpanPredictions(answers)


def _add_probabilities(n_best):
    if not n_best:
        return
    top = max(candidate["score"] for candidate in n_best)
    weights = [math.exp(candidate["score"] - top) for candidate in n_best]
    total = sum(weights)
    for candidate, weight in zip(n_best, weights, strict=True):
        candidate["probability"] = weight / total


def _logits(values, features, name):
    values = np.asarray(values).astype(np.float64)  # also bfloat16 from mixed precision
    expected = tuple(np.shape(features.max_context))
    if values.shape != expected:
        raise ValueError(f"{name} has shape {values.shape} but the features have "
                         f"{expected[0]} windows of length {expected[1]}: pass the model's "
                         "outputs on features.x, in the same order.")
    return values
