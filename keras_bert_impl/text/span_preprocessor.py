"""Question answering (SQuAD) inputs: `(question, context)` pairs -> windows of packed ids.

The semantics are google-research/bert `run_squad.py`'s (also Model Garden's `squad_lib.py`
and Hugging Face's `run_qa.py`):

- each window is `[CLS] question [SEP] context-window [SEP] [PAD]...`, the question cut to its
  first `max_query_length` pieces (a longer question is truncated, as the reference does);
- a context longer than a window's room (`sequence_length - len(question) - 3` pieces) gets
  several windows, starting `doc_stride` pieces apart (capped at the window's length, so
  no piece is ever skipped), the last one ending at the context's end;
- a piece in several windows has one "max context" window: the one where it has the most
  context on its shorter side (`min(left, right) + 0.01 * window length`, earlier window on
  ties); decoding only starts an answer at a piece in its max-context window;
- training labels are the answer's first and last piece in each window that holds the whole
  answer, and `0` (the `[CLS]` position) in the others.

Two choices where the anchors differ, each the simpler one for the user:

- The answer's pieces are found by character offsets (as Hugging Face does): the first
  piece that ends after the answer's first character and the last piece that starts before
  its end, so leading or trailing spaces in an answer do not move it (Google's whitespace
  words move a leading space to the previous word).
- Offsets come from `offsets.WordpieceAligner`, so a predicted span is cut from the original
  context with its own casing, accents and punctuation (Google re-aligns a detokenized
  answer heuristically, `get_final_text`).

`BertSpanPreprocessor.features(...)` builds all windows on the host (NumPy), with the
offsets and max-context flags that `span_decoding.decode_spans` needs; `call` packs ONE
window in the graph (question truncated, context truncated to fit), for serving a model on
`(question, context)` strings without the host.
"""

import dataclasses
import functools

import keras
import numpy as np

from keras_bert_impl.text._base import PackedTextLayer
from keras_bert_impl.text.offsets import WordpieceAligner, as_string_list
from keras_bert_impl.text.packing import BertPacker
from keras_bert_impl.text.tokenizer import BertTokenizer


@dataclasses.dataclass
class SpanFeatures:
    """The windows of a batch of `(question, context)` pairs (`BertSpanPreprocessor.features`).

    Attributes:
        x: `{"token_ids": int32, "segment_ids": int32, "padding_mask": bool}`, each
            `[num_windows, sequence_length]`.
        y: `{"start_positions": int32, "end_positions": int32}`, each `[num_windows]`, when
            answers were given (0, the `[CLS]` position, in windows without the answer),
            else `None`.
        example_index: int32 `[num_windows]`: the example (index into `ids`) of each window.
        offsets: int32 `[num_windows, sequence_length, 2]`: `(start, end)` characters of
            each context piece in its ORIGINAL context; `-1` for question, special and
            padding positions.
        max_context: bool `[num_windows, sequence_length]`: the piece's max-context window
            is this one.
        ids: the example ids, one per example.
        contexts: the original contexts, one per example.

    Example:

    ```python
    import numpy as np
    features = SpanFeatures(
        x={"token_ids": np.zeros((1, 4), "int32")}, y=None,
        example_index=np.zeros(1, "int32"), offsets=np.full((1, 4, 2), -1, "int32"),
        max_context=np.zeros((1, 4), bool), ids=["q1"], contexts=["some text"])
    len(features)  # 1
    ```
    """

    x: dict
    y: dict | None
    example_index: np.ndarray
    offsets: np.ndarray
    max_context: np.ndarray
    ids: list
    contexts: list

    def __len__(self):
        """Number of windows."""
        return len(self.example_index)


@keras.saving.register_keras_serializable(package="keras_bert_impl")
class BertSpanPreprocessor(PackedTextLayer):
    """`(question, context)` pairs -> BERT windows for span prediction (SQuAD).

    `features(questions, contexts, answer_starts=None, answer_texts=None, ids=None)` is the
    main method: it runs on the host and returns a `SpanFeatures` with every window of every
    pair (see the module docstring for the windowing rules), its labels when answers are
    given, and the character offsets and max-context flags `decode_spans` reads.

    Calling the layer on `(questions, contexts)` (`tf.string` batches or scalars) packs ONE
    window per pair in the graph: `{"token_ids", "segment_ids", "padding_mask"}`, the
    question cut to `max_query_length` pieces and the context to what is left; use it to
    serve short contexts from strings alone.

    Args:
        tokenizer: a `BertTokenizer`.
        sequence_length: window length.
        doc_stride: pieces between the starts of consecutive windows of a context.
        max_query_length: questions longer than this many pieces are truncated to it.

    Example:

    ```python
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "ran", "?", "the", "fox",
             "far", "."]
    preprocessor = BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=10,
                                        doc_stride=2, max_query_length=4)
    features = preprocessor.features(["Who ran?"], ["The fox ran far."],
                                     answer_starts=[4], answer_texts=["fox"], ids=["q1"])
    features.x["token_ids"][0].tolist()  # [2, 5, 6, 7, 3, 8, 9, 6, 10, 3]
    features.x["token_ids"][1].tolist()  # [2, 5, 6, 7, 3, 6, 10, 11, 3, 0]
    features.y["start_positions"].tolist()  # [6, 0]
    features.offsets[0, 6].tolist()  # [4, 7]
    features.max_context[1, 5:8].tolist()  # [False, True, True]
    ```
    """

    def __init__(self, tokenizer, sequence_length=384, doc_stride=128, max_query_length=64,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer; got {type(tokenizer).__name__}.")
        for name, value in (("sequence_length", sequence_length), ("doc_stride", doc_stride),
                            ("max_query_length", max_query_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int; got {value!r}.")
        self.tokenizer = tokenizer
        self.doc_stride = doc_stride
        self.max_query_length = max_query_length
        self.sequence_length = sequence_length
        self.packer = BertPacker.from_tokenizer(tokenizer, sequence_length, truncate="waterfall")
        self._aligner = None

    def _check_sequence_length(self, value):
        super()._check_sequence_length(value, minimum=1)
        if value - self.max_query_length - 3 < 1:
            raise ValueError(
                f"sequence_length={value} leaves no room for the context after a "
                f"question of max_query_length={self.max_query_length} pieces and [CLS], "
                f"[SEP], [SEP]; use sequence_length > max_query_length + 3 (e.g. 384 and 64).")

    # -- in the graph: one window ---------------------------------------------------------

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise TypeError("BertSpanPreprocessor takes a (questions, contexts) pair of string "
                            "batches (or scalars).")
        questions, contexts = inputs
        question = self.tokenizer(questions)
        question = question[..., :self.max_query_length]
        return self.packer((question, self.tokenizer(contexts)))

    # -- on the host: every window ---------------------------------------------------------

    def features(self, questions, contexts, answer_starts=None, answer_texts=None, ids=None):
        """Every window of each `(question, context)` pair, as NumPy (see `SpanFeatures`).

        Args:
            questions, contexts: lists of strings of one length.
            answer_starts, answer_texts: optional lists (both or neither): the character
                start of each answer in its context and its text (`None` or `""` for a
                question without an answer, whose labels are all 0). Only the first answer
                of a question is a label; pass the others to the metric.
            ids: optional example ids (default `"0"`, `"1"`, ...); they name the examples
                in errors and key `decode_spans`' predictions.

        Raises `ValueError` naming the example id for an empty question or context, an
        answer that is not at its `answer_start`, or an answer that covers no piece.
        """
        questions = as_string_list(questions, "questions")
        contexts = as_string_list(contexts, "contexts")
        if not questions:
            raise ValueError("features() got no questions; pass lists of questions and "
                             "contexts.")
        if len(questions) != len(contexts):
            raise ValueError(f"Got {len(questions)} questions but {len(contexts)} contexts; "
                             "pass one context per question (repeat a shared context).")
        ids = [str(i) for i in range(len(questions))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(questions):
            raise ValueError(f"Got {len(ids)} ids for {len(questions)} questions.")
        if len(set(ids)) != len(ids):
            repeated = sorted({i for i in ids if ids.count(i) > 1})[:5]
            raise ValueError(f"ids must be unique (they key the predictions); {repeated} "
                             "repeat.")
        for kind, texts in (("question", questions), ("context", contexts)):
            for example_id, text in zip(ids, texts, strict=True):
                if not text.strip():
                    raise ValueError(f"Example {example_id!r} has an empty {kind}; every "
                                     f"example needs a question and a context to answer from.")
        answers = self._answer_spans(ids, contexts, answer_starts, answer_texts)
        question_ids = self._question_ids(ids, questions)
        context_tokens = self._context_tokens(ids, contexts)
        return self._windows(ids, contexts, question_ids, context_tokens, answers)

    def _question_ids(self, ids, questions):
        import tensorflow as tf

        tokens = self.tokenizer(tf.constant([q.encode("utf-8", "surrogatepass")
                                             for q in questions]))
        values, splits = tokens.flat_values.numpy(), tokens.row_splits.numpy()
        out = []
        for row, example_id in enumerate(ids):
            pieces = values[splits[row]:splits[row + 1]][:self.max_query_length]
            if not len(pieces):
                raise ValueError(f"The question of example {example_id!r} has no tokens (it "
                                 f"holds only whitespace or control characters: "
                                 f"{questions[row]!r}); give it a question.")
            out.append(pieces.astype(np.int32))
        return out

    def _context_tokens(self, ids, contexts):
        """`(ids, offsets)` per example, each distinct context tokenized once."""
        if self._aligner is None:
            self._aligner = WordpieceAligner(self.tokenizer)
        distinct = list(dict.fromkeys(contexts))
        aligned = dict(zip(distinct, self._aligner(distinct), strict=True))
        out = []
        for example_id, context in zip(ids, contexts, strict=True):
            pieces, offsets = aligned[context]
            if not len(pieces):
                raise ValueError(f"The context of example {example_id!r} has no tokens (it "
                                 f"holds only whitespace or control characters: "
                                 f"{context[:80]!r}); give it a context.")
            out.append((pieces, offsets))
        return out

    @staticmethod
    def _answer_spans(ids, contexts, answer_starts, answer_texts):
        """`(start_char, end_char)` per example (`None` without an answer), checked."""
        if (answer_starts is None) != (answer_texts is None):
            raise ValueError("Pass both answer_starts and answer_texts (or neither).")
        if answer_starts is None:
            return None
        answer_starts, answer_texts = list(answer_starts), list(answer_texts)
        if not len(answer_starts) == len(answer_texts) == len(ids):
            raise ValueError(f"Got {len(answer_starts)} answer_starts and {len(answer_texts)} "
                             f"answer_texts for {len(ids)} questions; give one each (None for "
                             "a question without an answer).")
        spans = []
        for example_id, context, start, text in zip(ids, contexts, answer_starts, answer_texts,
                                                    strict=True):
            if start is None or text is None or text == "":
                spans.append(None)
                continue
            start = int(start)
            found = context[start:start + len(text)] if start >= 0 else ""
            if found != text:
                where = context.find(text)
                hint = f"; the text occurs at {where}" if where >= 0 else ""
                raise ValueError(f"Example {example_id!r}: the answer {text!r} is not at "
                                 f"answer_start={start} of its context (found {found!r} "
                                 f"there{hint}); fix answer_start or the answer text.")
            spans.append((start, start + len(text)))
        return spans

    def _windows(self, ids, contexts, question_ids, context_tokens, answers):
        length = self.sequence_length
        plans = []  # (example, question ids, window start, window length, max context)
        labels = []
        for example, (question, (pieces, offsets)) in enumerate(
                zip(question_ids, context_tokens, strict=True)):
            room = length - len(question) - 3
            starts, best = _window_plan(len(pieces), room, self.doc_stride)
            answer = None
            if answers is not None and answers[example] is not None:
                answer = _answer_pieces(offsets, *answers[example])
                if answer is None:
                    raise ValueError(f"Example {ids[example]!r}: the answer "
                                     f"{contexts[example][slice(*answers[example])]!r} covers "
                                     "no token of its context (only whitespace or control "
                                     "characters); fix or drop it.")
            for window, start in enumerate(starts):
                size = min(room, len(pieces) - start)
                plans.append((example, start, size, best[start:start + size] == window))
                first = len(question) + 2
                if answer is not None and start <= answer[0] and answer[1] < start + size:
                    labels.append((first + answer[0] - start, first + answer[1] - start))
                else:
                    labels.append((0, 0))
        count = len(plans)
        token_ids = np.full((count, length), self.tokenizer.pad_token_id, np.int32)
        segment_ids = np.zeros((count, length), np.int32)
        padding_mask = np.zeros((count, length), bool)
        window_offsets = np.full((count, length, 2), -1, np.int32)
        max_context = np.zeros((count, length), bool)
        example_index = np.empty(count, np.int32)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        for row, (example, start, size, is_max) in enumerate(plans):
            question = question_ids[example]
            pieces, offsets = context_tokens[example]
            first = len(question) + 2  # first context position
            stop = first + size
            token_ids[row, 0] = cls
            token_ids[row, 1:first - 1] = question
            token_ids[row, first - 1] = sep
            token_ids[row, first:stop] = pieces[start:start + size]
            token_ids[row, stop] = sep
            segment_ids[row, first:stop + 1] = 1
            padding_mask[row, :stop + 1] = True
            window_offsets[row, first:stop] = offsets[start:start + size]
            max_context[row, first:stop] = is_max
            example_index[row] = example
        x = {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}
        y = None
        if answers is not None:
            positions = np.array(labels, np.int32).reshape(count, 2)
            y = {"start_positions": positions[:, 0].copy(),
                 "end_positions": positions[:, 1].copy()}
        return SpanFeatures(x=x, y=y, example_index=example_index, offsets=window_offsets,
                            max_context=max_context, ids=list(ids), contexts=list(contexts))

    def get_config(self):
        config = super().get_config()
        config.update({
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "sequence_length": self.sequence_length,
            "doc_stride": self.doc_stride,
            "max_query_length": self.max_query_length,
        })
        return config


@functools.lru_cache(maxsize=4096)
def _window_plan(num_pieces, room, doc_stride):
    """`(window starts, max-context window of each piece)`; cached (many contexts share a
    length and many questions a room)."""
    starts = _window_starts(num_pieces, room, doc_stride)
    best = _max_context_windows(num_pieces, starts, room)
    best.flags.writeable = False
    return starts, best


def _window_starts(num_pieces, room, doc_stride):
    """First context piece of each window (the reference's `doc_spans`)."""
    starts, start = [], 0
    while True:
        starts.append(start)
        size = min(room, num_pieces - start)
        if start + size >= num_pieces:
            return starts
        start += min(size, doc_stride)


def _max_context_windows(num_pieces, starts, room):
    """For each context piece, the window in which it has the most context (the reference's
    `_check_is_max_context`: `min(left, right) + 0.01 * window length`, first on ties)."""
    best = np.full(num_pieces, -1, np.int64)
    best_score = np.full(num_pieces, -np.inf)
    for window, start in enumerate(starts):
        size = min(room, num_pieces - start)
        position = np.arange(size)
        score = np.minimum(position, size - 1 - position) + 0.01 * size
        better = score > best_score[start:start + size]
        best[start:start + size][better] = window
        best_score[start:start + size][better] = score[better]
    return best


def _answer_pieces(offsets, start_char, end_char):
    """First and last piece overlapping `[start_char, end_char)`, or `None`."""
    overlapping = np.flatnonzero((offsets[:, 1] > start_char) & (offsets[:, 0] < end_char))
    if not len(overlapping):
        return None
    return int(overlapping[0]), int(overlapping[-1])
