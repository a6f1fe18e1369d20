"""`read_squad` / `read_tfds_squad`: the real SQuAD files parse, bad records name the file and
the question id, and TFDS `squad` (through `tfds.testing.mock_data`) gives the same data."""

import copy
import json

import pytest

from keras_bert_impl.data.squad import (
    SquadExample,
    read_squad,
    read_tfds_squad,
    squad_subset,
)
from keras_bert_impl.metrics import squad_scores
from tests.real_data import shared_file


@pytest.fixture(scope="module")
def notre_dame():
    return shared_file("squad", "train-v1.1-notre-dame.json")


def _small():
    return {"version": "1.1", "data": [{"title": "NFL", "paragraphs": [
        {"context": "Denver won the game.",
         "qas": [{"id": "q1", "question": "Who won?",
                  "answers": [{"text": "Denver", "answer_start": 0},
                              {"text": "the game", "answer_start": 11}]},
                 {"id": "q2", "question": "What was won?",
                  "answers": [{"text": "game", "answer_start": 15}]}]}]}]}


@pytest.mark.parametrize("name, questions, paragraphs", [
    ("dev-v1.1-part-b.json", 5609, 1154), ("train-v1.1-notre-dame.json", 269, 55)])
def test_real_files_parse(name, questions, paragraphs):
    path = shared_file("squad", name)
    data = read_squad(path)
    assert (len(data), data.version, data.path) == (questions, "1.1", str(path))
    assert len(set(data.contexts)) == paragraphs
    assert data.dataset == json.loads(path.read_text("utf-8"))["data"]
    example = data.examples[0]
    assert isinstance(example, SquadExample) and not example.is_impossible
    for e in data.examples:
        for text, start in e.answers:
            assert e.context[start:start + len(text)] == text
    # The gold answers score 100 against themselves.
    gold = dict(zip(data.ids, data.answer_texts, strict=True))
    assert squad_scores(data.dataset, gold) == {"exact_match": 100.0, "f1": 100.0}


def test_small_json_and_first_answers():
    data = read_squad(_small())
    assert data.path is None and data.ids == ["q1", "q2"]
    assert data.answer_starts == [0, 15] and data.answer_texts == ["Denver", "game"]
    assert data.examples[0].answers == (("Denver", 0), ("the game", 11))
    assert data.examples[0].title == "NFL"


def _broken(edit):
    parsed = _small()
    edit(parsed["data"][0]["paragraphs"][0])
    return parsed


@pytest.mark.parametrize("edit, match", [
    (lambda p: p["qas"][1]["answers"][0].update(answer_start=14),
     r"question 'q2': the answer 'game' is not at answer_start=14: the context has ' gam' "
     r"there; the text occurs at 15"),
    (lambda p: p["qas"][0]["answers"][0].update(text="Boston"),
     r"question 'q1': the answer 'Boston' .* has 'Denver' there; the text does not occur"),
    (lambda p: p.update(context="  "), r"question 'q1': its context .* is empty"),
    (lambda p: p["qas"][1].update(question=""), r"question 'q2': the question is empty"),
    (lambda p: p["qas"][1].update(id="q1"), r"question 'q1' appears twice"),
    (lambda p: p["qas"][1].update(answers=[]), r"question 'q2' has no answers; every SQuAD "
                                               r"v1.1 question needs one"),
    (lambda p: p["qas"][1]["answers"][0].pop("answer_start"), r"question 'q2': an answer "
                                                              r"needs a 'text' string"),
    (lambda p: p["qas"][1].pop("id"), r"question #1 of article 'NFL' \(#0\), paragraph #0 "
                                      r"has no 'id'"),
], ids=["offset", "text", "empty-context", "empty-question", "repeated-id", "no-answers",
        "answer-fields", "no-id"])
def test_bad_records_name_the_file_and_id(tmp_path, edit, match):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_broken(edit)), "utf-8")
    with pytest.raises(ValueError, match=match) as error:
        read_squad(path)
    assert str(error.value).startswith(str(path))
    with pytest.raises(ValueError, match=match):  # the same without a file
        read_squad(_broken(edit))


def test_unreadable_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        read_squad(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{not json", "utf-8")
    with pytest.raises(ValueError, match="broken.json: not valid JSON"):
        read_squad(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="a JSON object with a 'data' list"):
        read_squad({"version": "1.1"})
    with pytest.raises(TypeError, match="a path or the parsed SQuAD JSON"):
        read_squad([1, 2])


def test_v2_impossible_questions():
    parsed = _small()
    qas = parsed["data"][0]["paragraphs"][0]["qas"]
    qas.append({"id": "q3", "question": "Who lost?", "answers": [], "is_impossible": True,
                "plausible_answers": [{"text": "Denver", "answer_start": 0}]})
    data = read_squad(parsed)
    assert data.version == "2.0"
    assert data.examples[2].is_impossible and data.examples[2].answers == ()
    assert data.answer_texts == ["Denver", "game", None]
    qas[2]["answers"] = [{"text": "Denver", "answer_start": 0}]
    with pytest.raises(ValueError, match="'q3' is marked is_impossible but has 1 answer"):
        read_squad(parsed)


def test_subset_cuts_the_json_to_its_questions(notre_dame):
    data = read_squad(notre_dame)
    keep = [e.id for e in data.examples[::10]]
    subset = squad_subset(data, reversed(keep))
    assert subset.ids == keep and subset.version == "1.1" and subset.path == data.path
    assert [qa["id"] for a in subset.dataset for p in a["paragraphs"] for qa in p["qas"]] == keep
    assert all(p["qas"] for a in subset.dataset for p in a["paragraphs"])
    gold = dict(zip(subset.ids, subset.answer_texts, strict=True))
    assert squad_scores(subset.dataset, gold) == {"exact_match": 100.0, "f1": 100.0}
    assert len(data) == 269  # the original is untouched
    with pytest.raises(ValueError, match=r"1 id\(s\) are not questions of the data \(\['nope'"):
        squad_subset(data, ["nope"])


def test_features_of_the_data():
    from keras_bert_impl.text.span_preprocessor import BertSpanPreprocessor
    from keras_bert_impl.text.tokenizer import BertTokenizer

    data = read_squad(_small())
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "won", "?", "denver",
             "the", "game", ".", "what", "was"]
    features = data.features(BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=16,
                                                  max_query_length=5))
    assert features.ids == ["q1", "q2"]
    assert features.y["start_positions"].tolist() == [5, 9]  # "denver", "game"
    unlabelled = data.features(BertSpanPreprocessor(BertTokenizer(vocab), sequence_length=16,
                                                    max_query_length=5), with_answers=False)
    assert unlabelled.y is None


def _tfds_records(path):
    """The records TFDS' squad builder generates from a SQuAD file (`qa_utils`)."""
    records = []
    for article in json.loads(path.read_text("utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                records.append({
                    "id": qa["id"], "title": article["title"], "context": paragraph["context"],
                    "question": qa["question"],
                    "answers": {"text": [a["text"] for a in qa["answers"]],
                                "answer_start": [a["answer_start"] for a in qa["answers"]]}})
    return records


def test_tfds_squad_through_mock_data(notre_dame):
    import tensorflow as tf
    import tensorflow_datasets as tfds

    records = _tfds_records(notre_dame)
    served = []

    def as_dataset(self, split, **kwargs):
        served.append((self.name, split))

        def generate():
            yield from records

        text = tf.TensorSpec([], tf.string)
        return tf.data.Dataset.from_generator(generate, output_signature={
            "id": text, "title": text, "context": text, "question": text,
            "answers": {"text": tf.TensorSpec([None], tf.string),
                        "answer_start": tf.TensorSpec([None], tf.int32)}})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        data = read_tfds_squad("train")
    assert served == [("squad", "train")]
    expected = read_squad(notre_dame)
    assert (data.version, data.path, len(data)) == ("1.1", "tfds:squad:train", 269)
    assert data.examples == expected.examples
    # Regrouped into articles and paragraphs: the metric reads it like the file.
    assert [len(a["paragraphs"]) for a in data.dataset] == [55]
    gold = dict(zip(data.ids, data.answer_texts, strict=True))
    assert squad_scores(data.dataset, gold) == {"exact_match": 100.0, "f1": 100.0}

    # A bad record from TFDS names the split and the id.
    broken = copy.deepcopy(records)
    broken[3]["answers"]["answer_start"][0] += 1
    records[:] = broken
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        with pytest.raises(ValueError, match=rf"tfds:squad:validation: question "
                                             rf"'{broken[3]['id']}': the answer"):
            read_tfds_squad("validation")


def test_tfds_unknown_dataset_is_a_clear_error():
    with pytest.raises(RuntimeError, match="Could not prepare the TFDS dataset 'no_such_squad"):
        read_tfds_squad("train", name="no_such_squad_xyz")
