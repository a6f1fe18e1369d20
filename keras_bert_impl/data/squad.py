"""SQuAD v1.1 / v2.0 question answering data: the official JSON files, or TFDS `squad`.

`read_squad(path_or_json)` and `read_tfds_squad(split)` both return a `SquadData`: one
`SquadExample` per question (id, title, question, context, gold answers as
`(text, answer_start)`, `is_impossible`), the version, and the JSON `data` list that
`keras_bert_impl.metrics.squad_scores` scores predictions against. `squad_subset(data, ids)`
keeps some questions (a held-out split, a quick run) with the JSON cut to match.

Every record is checked where it is read, and a bad one is a `ValueError` naming the file
(or TFDS split) and the question id: an empty context or question, a missing field, a
repeated id, a v1.1 question without answers, an impossible question with answers, and an
answer whose text is not at its `answer_start` (the message shows what is there, and where
the text does occur). A wrong offset would otherwise train on the wrong span silently.

The version is `"2.0"` when some question is impossible (or the file says `"v2.0"`), else
`"1.1"`.
"""

import dataclasses
import json
import os

from keras_bert_impl.data.tfds_source import prepared_builder
from keras_bert_impl.user_files import open_text


@dataclasses.dataclass(frozen=True)
class SquadExample:
    """One SQuAD question.

    Attributes:
        id, title, question, context: as in the JSON.
        answers: tuple of `(text, answer_start)` (empty for an impossible question).
        is_impossible: SQuAD v2's flag (`False` in v1.1).

    Example:

    ```python
    example = SquadExample(id="q1", title="NFL", question="Who won?",
                           context="Denver won.", answers=(("Denver", 0),),
                           is_impossible=False)
    (example.answer_text, example.answer_start)  # ('Denver', 0)
    ```
    """

    id: str
    title: str
    question: str
    context: str
    answers: tuple
    is_impossible: bool = False

    @property
    def answer_text(self):
        """The first answer's text, or `None` without an answer (the training label)."""
        return self.answers[0][0] if self.answers else None

    @property
    def answer_start(self):
        """The first answer's character start, or `None` without an answer."""
        return self.answers[0][1] if self.answers else None


def _column(field, doc):
    """A read-only property: `field` of every example, as a list."""
    return property(lambda self: [getattr(example, field) for example in self.examples],
                    doc=doc)


@dataclasses.dataclass
class SquadData:
    """The questions of a SQuAD file or TFDS split, checked (see the module docstring).

    Attributes:
        examples: one `SquadExample` per question, in file order.
        version: `"1.1"` or `"2.0"`.
        dataset: the JSON `data` list (articles -> paragraphs -> qas), for
            `keras_bert_impl.metrics.squad_scores(data.dataset, predictions)`.
        path: where it was read from (a file path, `"tfds:<name>:<split>"`, or `None`).

    `features(preprocessor)` hands the questions, contexts and first answers to a
    `BertSpanPreprocessor`.

    Example:

    ```python
    data = read_squad({"version": "1.1", "data": [{"title": "NFL", "paragraphs": [{
        "context": "Denver won the game.",
        "qas": [{"id": "q1", "question": "Who won?",
                 "answers": [{"text": "Denver", "answer_start": 0}]}]}]}]})
    (len(data), data.version, data.ids)  # (1, '1.1', ['q1'])
    ```
    """

    examples: list
    version: str
    dataset: list
    path: str | None = None

    def __len__(self):
        return len(self.examples)

    ids = _column("id", "The question ids.")
    questions = _column("question", "The questions.")
    contexts = _column("context", "The context of each question.")
    answer_starts = _column("answer_start",
                            "The first answer's start per question (`None` for impossible ones).")
    answer_texts = _column("answer_text",
                           "The first answer's text per question (`None` for impossible ones).")

    def features(self, preprocessor, with_answers=True):
        """`preprocessor.features(...)` (a `BertSpanPreprocessor`) of every question, with
        the first answers as labels unless `with_answers=False`."""
        if with_answers:
            return preprocessor.features(self.questions, self.contexts, self.answer_starts,
                                         self.answer_texts, ids=self.ids)
        return preprocessor.features(self.questions, self.contexts, ids=self.ids)


def squad_subset(data, ids):
    """The questions of `data` (a `SquadData`) whose id is in `ids`, in `data`'s order, with
    `dataset` cut down to them (articles and paragraphs left without questions dropped), so
    that `squad_scores(subset.dataset, ...)` scores exactly those questions. An id that
    `data` lacks is a `ValueError`.

    Example:

    ```python
    data = read_squad({"data": [{"title": "NFL", "paragraphs": [{
        "context": "Denver won the game.",
        "qas": [{"id": "q1", "question": "Who won?",
                 "answers": [{"text": "Denver", "answer_start": 0}]},
                {"id": "q2", "question": "What was won?",
                 "answers": [{"text": "the game", "answer_start": 11}]}]}]}]})
    subset = squad_subset(data, ["q2"])
    (subset.ids, len(subset.dataset[0]["paragraphs"][0]["qas"]))  # (['q2'], 1)
    ```
    """
    wanted = set(ids)
    unknown = wanted - {e.id for e in data.examples}
    if unknown:
        raise ValueError(f"squad_subset: {len(unknown)} id(s) are not questions of the data "
                         f"({sorted(unknown)[:5]}).")
    articles = []
    for article in data.dataset:
        paragraphs = []
        for paragraph in article["paragraphs"]:
            qas = [qa for qa in paragraph["qas"] if qa["id"] in wanted]
            if qas:
                paragraphs.append({**paragraph, "qas": qas})
        if paragraphs:
            articles.append({**article, "paragraphs": paragraphs})
    return SquadData(examples=[e for e in data.examples if e.id in wanted],
                     version=data.version, dataset=articles, path=data.path)


def read_squad(path_or_json):
    """A SQuAD v1.1 or v2.0 file (a path, or the parsed JSON dict) as `SquadData`.

    Raises `FileNotFoundError` for a missing file and `ValueError` naming the file and
    question id for a bad record (see the module docstring).

    Example:

    ```python
    data = read_squad({"data": [{"title": "NFL", "paragraphs": [{
        "context": "Denver won the game.",
        "qas": [{"id": "q1", "question": "Who won?",
                 "answers": [{"text": "Denver", "answer_start": 0}]},
                {"id": "q2", "question": "Who lost?", "answers": [],
                 "is_impossible": True}]}]}]})
    (data.version, data.answer_texts)  # ('2.0', ['Denver', None])
    ```
    """
    if isinstance(path_or_json, (str, os.PathLike)):
        path = os.fspath(path_or_json)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"The SQuAD file {path!r} does not exist; pass the path of "
                                    "a SQuAD JSON file (e.g. dev-v1.1.json).")
        with open_text(path, "a SQuAD JSON file") as f:
            try:
                parsed = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}: not valid JSON ({error}); a SQuAD file is one JSON "
                                 "object with a 'data' list.") from error
        return _parse(parsed, path, path)
    if isinstance(path_or_json, dict):
        return _parse(path_or_json, "the SQuAD JSON passed in", None)
    raise TypeError(f"read_squad takes a path or the parsed SQuAD JSON (a dict); got "
                    f"{type(path_or_json).__name__}.")


def read_tfds_squad(split, data_dir=None, name="squad"):
    """A TFDS SQuAD split (`"train"`, `"validation"`, or a slice like `"validation[:10%]"`)
    as `SquadData`; `name` is `"squad"` (v1.1, the default) or `"squad/v2.0"`.

    The examples are regrouped into the JSON form (articles by title, paragraphs by
    context) so that `squad_scores` reads them, and checked like a file. Preparing the
    dataset downloads it the first time: offline, a dataset not already in `data_dir` is a
    `RuntimeError` that says so.

    Example:

    ```python
    import tensorflow as tf
    import tensorflow_datasets as tfds
    # Offline stand-in for the download: TFDS' mock serves this one record.
    record = {"id": ["q1"], "title": ["NFL"], "context": ["Denver won."],
              "question": ["Who won?"],
              "answers": {"text": tf.ragged.constant([["Denver"]]),
                          "answer_start": tf.ragged.constant([[0]])}}
    def serve(self, split, **kwargs):
        return tf.data.Dataset.from_tensor_slices(record)
    with tfds.testing.mock_data(as_dataset_fn=serve):
        data = read_tfds_squad("validation")  # the real call, once downloaded
    (data.ids, data.answer_texts, data.path)  # (['q1'], ['Denver'], 'tfds:squad:validation')
    ```
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:  # pragma: no cover - a dev/runtime dependency
        raise ImportError("read_tfds_squad needs tensorflow-datasets: pip install "
                          "tensorflow-datasets.") from error
    source = f"tfds:{name}:{split}"
    builder = prepared_builder(name, data_dir, "read the SQuAD JSON with read_squad(path)")
    dataset = builder.as_dataset(split=split, shuffle_files=False)
    articles, paragraphs = {}, {}
    for record in tfds.as_numpy(dataset):
        title = _text(record.get("title", b""))
        context = _text(record["context"])
        answers = record["answers"]
        qa = {
            "id": _text(record["id"]),
            "question": _text(record["question"]),
            "answers": [{"text": _text(text), "answer_start": int(start)}
                        for text, start in zip(answers["text"], answers["answer_start"],
                                               strict=True)],
        }
        if "is_impossible" in record:
            qa["is_impossible"] = bool(record["is_impossible"])
        article = articles.setdefault(title, {"title": title, "paragraphs": []})
        paragraph = paragraphs.get((title, context))
        if paragraph is None:
            paragraph = paragraphs[(title, context)] = {"context": context, "qas": []}
            article["paragraphs"].append(paragraph)
        paragraph["qas"].append(qa)
    version = "2.0" if name.endswith("v2.0") else "1.1"
    return _parse({"version": version, "data": list(articles.values())}, source, source)


def _text(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _parse(parsed, source, path):
    """`SquadData` of a parsed SQuAD JSON, every record checked; `source` names it."""
    if not isinstance(parsed, dict) or not isinstance(parsed.get("data"), list):
        raise ValueError(f"{source}: a SQuAD file is a JSON object with a 'data' list of "
                         "articles; this one has none.")
    stated = str(parsed.get("version", "")).lstrip("v")
    articles = parsed["data"]
    version = "2.0" if stated.startswith("2") or _has_impossible(articles) else "1.1"
    examples, seen = [], set()
    for a, article in enumerate(articles):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise ValueError(f"{source}: article #{a} has no 'paragraphs' list.")
        title = str(article.get("title", ""))
        for p, paragraph in enumerate(article["paragraphs"]):
            where = f"article {title!r} (#{a}), paragraph #{p}"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                raise ValueError(f"{source}: {where} has no 'qas' list.")
            context = paragraph.get("context")
            for q, qa in enumerate(paragraph["qas"]):
                qid = qa.get("id") if isinstance(qa, dict) else None
                if not isinstance(qid, str) or not qid:
                    raise ValueError(f"{source}: question #{q} of {where} has no 'id'.")
                name = f"{source}: question {qid!r}"
                if qid in seen:
                    raise ValueError(f"{name} appears twice; question ids must be unique.")
                seen.add(qid)
                if not isinstance(context, str) or not context.strip():
                    raise ValueError(f"{name}: its context ({where}) is empty "
                                     f"({context!r}); give the paragraph its text.")
                question = qa.get("question")
                if not isinstance(question, str) or not question.strip():
                    raise ValueError(f"{name}: the question is empty ({question!r}).")
                examples.append(SquadExample(
                    id=qid, title=title, question=question, context=context,
                    answers=_answers(qa, context, name, version),
                    is_impossible=bool(qa.get("is_impossible", False))))
    if not examples:
        raise ValueError(f"{source}: no questions found.")
    return SquadData(examples=examples, version=version, dataset=articles, path=path)


def _has_impossible(articles):
    """Whether some question is marked `is_impossible` (malformed parts are skipped here and
    reported by `_parse`)."""
    try:
        return any(qa.get("is_impossible") for article in articles
                   for paragraph in article["paragraphs"] for qa in paragraph["qas"])
    except (AttributeError, KeyError, TypeError):
        return False


def _answers(qa, context, name, version):
    """The checked `(text, answer_start)` tuples of one question."""
    answers = qa.get("answers")
    if not isinstance(answers, list):
        raise ValueError(f"{name} has no 'answers' list.")
    impossible = bool(qa.get("is_impossible", False))
    if impossible and answers:
        raise ValueError(f"{name} is marked is_impossible but has {len(answers)} answer(s); "
                         "drop them (SQuAD v2 keeps those as 'plausible_answers').")
    if not answers and not impossible and version == "1.1":
        raise ValueError(f"{name} has no answers; every SQuAD v1.1 question needs one (mark "
                         "it is_impossible in a v2.0 file).")
    out = []
    for answer in answers:
        text = answer.get("text") if isinstance(answer, dict) else None
        start = answer.get("answer_start") if isinstance(answer, dict) else None
        if not isinstance(text, str) or isinstance(start, bool) or not isinstance(start, int):
            raise ValueError(f"{name}: an answer needs a 'text' string and an 'answer_start' "
                             f"int; got {answer!r}.")
        if not text.strip():
            raise ValueError(f"{name}: an answer's text is empty ({text!r}).")
        found = context[start:start + len(text)] if start >= 0 else ""
        if found != text:
            where = context.find(text)
            hint = (f"; the text occurs at {where}" if where >= 0
                    else "; the text does not occur in the context")
            raise ValueError(f"{name}: the answer {text!r} is not at answer_start={start}: the "
                             f"context has {found!r} there{hint}. Fix answer_start or the "
                             "text.")
        out.append((text, start))
    return tuple(out)
