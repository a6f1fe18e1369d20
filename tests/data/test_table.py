"""`read_table`: CSV (quoted fields), TSV (no quoting), JSON Lines; label names decided by the
file or given; regression; unlabelled; bad records naming file and line. Plus the shared
`ClassificationData` and `stratified_split`."""

import json

import pytest

from keras_bert_impl.data.classification import ClassificationData, stratified_split
from keras_bert_impl.data.table import read_table


def _write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def _jsonl(tmp_path, name, records):
    return _write(tmp_path, name, "".join(json.dumps(r) + "\n" for r in records))


def test_csv_with_quotes_newlines_and_bom(tmp_path):
    path = _write(tmp_path, "reviews.csv",
                  '\ufeffid,text,label\n'
                  'r1,"Great, really ""great""",pos\n'
                  'r2,"Two\nlines",neg\n'
                  '\n'
                  'r3,Fine,pos\n')
    data = read_table(path, id_column="id")
    assert data.texts == (['Great, really "great"', "Two\nlines", "Fine"],)
    assert data.label_names == ["neg", "pos"] and data.labels == [1, 0, 1]
    assert data.ids == ["r1", "r2", "r3"] and data.path == str(path)
    # Default ids are "<file>:<line>", the line a record starts on.
    assert read_table(path).ids == ["reviews.csv:2", "reviews.csv:3", "reviews.csv:6"]


def test_tsv_pairs_without_quoting(tmp_path):
    path = _write(tmp_path, "pairs.tsv",
                  'premise\thypothesis\tlabel\n'
                  'He said "hi.\tHe spoke.\tyes\n'
                  'It rains.\tIt is dry.\tno\n')
    data = read_table(path, text_columns=("premise", "hypothesis"))
    assert data.num_segments == 2
    assert data.texts == (['He said "hi.', "It rains."], ["He spoke.", "It is dry."])
    assert data.label_names == ["no", "yes"] and data.labels == [1, 0]


def test_jsonl_integer_labels_are_ids(tmp_path):
    path = _jsonl(tmp_path, "topics.jsonl", [
        {"text": "stocks fell", "label": 0}, {"text": "a new phone", "label": 3},
        {"text": "the election", "label": "2"}])
    data = read_table(path)
    assert data.label_names == ["0", "1", "2", "3"] and data.labels == [0, 3, 2]
    assert data.num_classes == 4  # class 1 is absent from this file but keeps its id


def test_given_label_names_fix_the_ids(tmp_path):
    path = _write(tmp_path, "valid.csv", "text,label\nok,pos\nmeh,pos\n")
    data = read_table(path, label_names=["neg", "pos"])
    assert data.labels == [1, 1] and data.label_names == ["neg", "pos"]
    with pytest.raises(ValueError, match=r"valid.csv, line 2: label 'pos' is not one of "
                                         r"label_names \['neg', 'neutral'\]"):
        read_table(path, label_names=["neg", "neutral"])
    ids = _write(tmp_path, "ids.csv", "text,label\nok,1\n")
    with pytest.raises(ValueError, match=r"look like class ids: leave label_names=None"):
        read_table(ids, label_names=["neg", "pos"])


def test_regression_and_unlabelled(tmp_path):
    path = _jsonl(tmp_path, "scores.jsonl", [
        {"a": "A plane takes off.", "b": "An airplane departs.", "score": 4.8},
        {"a": "A man eats.", "b": "A cat sleeps.", "score": "0.25"}])
    data = read_table(path, text_columns=("a", "b"), label_column="score", regression=True)
    assert data.is_regression and data.num_classes == 1 and data.labels == [4.8, 0.25]
    unlabelled = read_table(path, text_columns=("a", "b"), label_column=None)
    assert unlabelled.labels is None and len(unlabelled) == 2
    named = read_table(path, text_columns="a", label_column=None, label_names=["x", "y"])
    assert named.labels is None and named.num_classes == 2 and named.num_segments == 1
    with pytest.raises(ValueError, match="regression=True reads numeric labels; leave "
                                         "label_names=None"):
        read_table(path, label_names=["x"], regression=True)


def test_scores_read_as_classes_are_refused_unless_the_classes_are_named(tmp_path):
    # Read as classes, 4.8 and 0.25 would be two classes of one example each.
    path = _jsonl(tmp_path, "scores.jsonl", [
        {"text": "A plane takes off.", "score": 4.8}, {"text": "A man eats.", "score": 3},
        {"text": "A cat sleeps.", "score": "0.25"}])
    with pytest.raises(ValueError, match=r"scores.jsonl: the labels are numbers, not classes "
                                         r"\(e.g. '4.8' at line 1; 3 distinct values among 3 "
                                         r"examples\); read them as scores with "
                                         r"regression=True \(keras-bert: --task csv_regression\)"):
        read_table(path, label_column="score")
    # Whole numbers written as floats, numbers among words, and named classes stay classes.
    whole = _jsonl(tmp_path, "whole.jsonl", [{"text": "a", "label": 1.0},
                                             {"text": "b", "label": 0.0}])
    assert read_table(whole).label_names == ["0.0", "1.0"]
    mixed = _jsonl(tmp_path, "mixed.jsonl", [{"text": "a", "label": "2.5"},
                                             {"text": "b", "label": "n/a"}])
    assert read_table(mixed).label_names == ["2.5", "n/a"]
    named = read_table(path, label_column="score", label_names=["0.25", "3", "4.8"])
    assert named.labels == [2, 1, 0]


BAD_FILES = [  # (file name, content, read_table arguments, the message of its error)
    ("a.csv", "text,label\nok,1\n,0\n", {},
     r"a.csv, line 3: column 'text' is empty; every example needs a non-empty text"),
    ("a.csv", "sentence,label\nok,1\n", {},
     r"a.csv: the header has no column\(s\) \['text'\]; its columns are \['label', "
     r"'sentence'\]\. Pass text_columns="),
    ("a.csv", "text,label\nok,1\nno,0,extra\n", {},
     r"a.csv, line 3: 3 fields, the header has 2 \(\['text', 'label'\]\); fix the line "
     r"\(quote fields that hold a comma\)"),
    ("a.tsv", "text\tlabel\nok\t1\nno\tgo\t0\n", {},
     r"a.tsv, line 3: 3 fields, .* \(a text may not hold a tab: TSV has no quoting\)"),
    ("a.csv", "text,score\nok,1.5\nno,high\n", {"label_column": "score", "regression": True},
     r"a.csv, line 3: label 'high' is not a finite number; regression=True needs numeric"),
    ("a.csv", "text,score\nok,nan\n", {"label_column": "score", "regression": True},
     r"a.csv, line 2: label 'nan' is not a finite number"),
    ("a.jsonl", '{"text": "ok", "label": 1}\n{"text": "no", "label": 0,}\n', {},
     r"a.jsonl, line 2: not valid JSON \(.*\); write one JSON object per line"),
    ("a.jsonl", '{"text": "ok", "label": 1}\n["no", 0]\n', {},
     r"a.jsonl, line 2: a JSON list, not an object"),
    ("a.jsonl", '{"text": "ok", "label": 1}\n{"txt": "no", "label": 0}\n', {},
     r"a.jsonl: line 2 has no column\(s\) \['text'\]; its columns are \['label', 'txt'\]"),
    ("a.jsonl", '{"text": 5, "label": 1}\n', {},
     r"a.jsonl, line 1: column 'text' is 5; every example needs a non-empty text"),
    ("a.csv", "text,label\n", {}, r"a.csv holds no records"),
    ("a.txt", "text,label\nok,1\n", {}, r"a.txt: unknown format '.txt'; read_table reads "
                                        r"\.csv, \.tsv, \.jsonl files"),
]


def test_bad_records_name_file_and_line(tmp_path):
    for name, text, kwargs, message in BAD_FILES:
        path = _write(tmp_path, name, text)
        with pytest.raises(ValueError, match=message):
            read_table(path, **kwargs)


def test_invalid_utf8_and_missing_file(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"text,label\nbad \xff,1\n")
    with pytest.raises(ValueError, match=r"a.csv, line 1: not valid UTF-8 .* save the file as "
                                         r"UTF-8"):
        read_table(path)
    with pytest.raises(FileNotFoundError, match=r"missing.jsonl does not exist"):
        read_table(tmp_path / "missing.jsonl")


# ---- ClassificationData and stratified_split ------------------------------------------------

def _data(labels, names=("a", "b", "c")):
    n = len(labels)
    return ClassificationData(texts=([f"text {i}" for i in range(n)],), labels=labels,
                              label_names=list(names), ids=[str(i) for i in range(n)])


def test_classification_data_checks_itself():
    with pytest.raises(ValueError, match=r"labels must be class ids in \[0, 2\) for label_names "
                                         r"\['a', 'b'\]; got 2 at example 1 \(id '1'\)"):
        _data([0, 2], names=("a", "b"))
    with pytest.raises(ValueError, match="must have one entry per example"):
        ClassificationData((["x", "y"],), [0], ["a"], ["1", "2"])
    with pytest.raises(TypeError, match=r"wrap a single list of strings as \(texts,\)"):
        ClassificationData(["x", "y"], [0, 0], ["a"], ["1", "2"])
    regression = ClassificationData((["x"], ["y"]), [3], None, [7])
    assert regression.labels == [3.0] and regression.ids == ["7"] and regression.is_regression


def test_stratified_split_keeps_proportions_and_is_deterministic():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    data = _data(labels)
    train, validation, test = stratified_split(data, (0.1, 0.2), seed=3)
    assert (len(train), len(validation), len(test)) == (70, 10, 20)
    for part, fraction in ((validation, 0.1), (test, 0.2)):
        assert [part.labels.count(c) for c in range(3)] == [50 * fraction, 30 * fraction,
                                                            20 * fraction]
    ids = [set(p.ids) for p in (train, validation, test)]
    assert set.union(*ids) == set(data.ids) and sum(map(len, ids)) == 100  # a partition
    assert train.ids == sorted(train.ids, key=int)  # file order kept inside each part
    again = stratified_split(data, (0.1, 0.2), seed=3)
    assert [p.ids for p in again] == [p.ids for p in (train, validation, test)]
    other = stratified_split(data, (0.1, 0.2), seed=4)
    assert other[2].ids != test.ids
    with pytest.raises(ValueError, match="fractions must each be in"):
        stratified_split(data, (0.5, 0.5))


def test_as_dataset_elements():
    pairs = ClassificationData((["a1", "a2"], ["b1", "b2"]), [1, 0], ["n", "y"], ["1", "2"])
    (a, b), y = next(iter(pairs.as_dataset().batch(2)))
    assert a.numpy().tolist() == [b"a1", b"a2"] and b.numpy().tolist() == [b"b1", b"b2"]
    assert y.dtype.name == "int32" and y.numpy().tolist() == [1, 0]
    unlabelled = ClassificationData((["a1"], ["b1"]), None, ["n", "y"], ["1"])
    element = next(iter(unlabelled.as_dataset()))
    assert len(element) == 1 and len(element[0]) == 2  # ((a, b),): never (a, b)
    scores = ClassificationData((["a"],), [2.5], None, ["1"])
    assert next(iter(scores.as_dataset()))[1].dtype.name == "float32"
