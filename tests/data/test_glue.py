"""GLUE readers: the real shared SST-2 (SentEval layout) and MRPC (GLUE layout, BOM) files,
small files in each other task's GLUE layout (real headers), bad records naming file and line,
and TFDS `glue/<task>` through `tfds.testing.mock_data` (no download)."""

import pytest

from keras_bert_impl.data.classification import ClassificationData
from keras_bert_impl.data.glue import GLUE_TASKS, glue_task, read_glue, read_tfds_glue
from keras_bert_impl.metrics.glue import GLUE_METRICS
from tests.real_data import shared_file


def _write(folder, name, lines, bom=False):
    path = folder / name
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def _tsv(*rows):
    return ["\t".join(row) for row in rows]


# ---- the real shared files -------------------------------------------------------------------

def test_real_sst2_senteval_layout():
    folder = shared_file("sst2", "train.tsv").parent
    data = read_glue("sst2", folder)
    assert isinstance(data, ClassificationData) and len(data) == 6920
    assert data.num_segments == 1 and data.label_names == ["negative", "positive"]
    assert data.texts[0][0].startswith("a stirring , funny and finally transporting")
    assert data.labels[:3] == [1, 0, 0] and set(data.labels) == {0, 1}
    assert 0.4 < sum(data.labels) / len(data) < 0.6  # SST-2 is roughly balanced
    assert data.ids[:2] == ["train.tsv:1", "train.tsv:2"]  # no header: data from line 1
    assert data.path == str(folder / "train.tsv") and not data.is_regression


def test_real_mrpc_glue_layout_with_bom():
    folder = shared_file("mrpc", "train.tsv").parent
    data = read_glue("MRPC", folder)
    assert len(data) == 3668 and data.num_segments == 2 and data.num_classes == 2
    assert data.texts[0][0].startswith("Amrozi accused his brother")
    assert data.texts[1][0].startswith('Referring to him as only "the witness"')  # quotes kept
    assert data.labels[:2] == [1, 0]
    assert sum(data.labels) == 2474  # MRPC train: 67.4% paraphrases
    assert data.ids[0] == "train.tsv:2"  # the header is line 1
    assert data.label_names == ["not_equivalent", "equivalent"]


# ---- every other task's layout ---------------------------------------------------------------

MNLI_TRAIN_HEADER = ("index", "promptID", "pairID", "genre", "sentence1_binary_parse",
                     "sentence2_binary_parse", "sentence1_parse", "sentence2_parse",
                     "sentence1", "sentence2", "label1", "gold_label")
MNLI_DEV_HEADER = MNLI_TRAIN_HEADER[:-1] + ("label2", "label3", "label4", "label5",
                                            "gold_label")
MNLI_TEST_HEADER = MNLI_TRAIN_HEADER[:10]
STSB_HEADER = ("index", "genre", "filename", "year", "old_index", "source1", "source2",
               "sentence1", "sentence2", "score")


def _mnli_row(index, s1, s2, *labels):
    return (str(index), "31193", f"{index}n", "government", "( ( x ) )", "( ( y ) )",
            "(ROOT (S))", "(ROOT (S))", s1, s2, *labels)


def test_mnli_columns_by_header_and_class_order(tmp_path):
    _write(tmp_path, "train.tsv", _tsv(
        MNLI_TRAIN_HEADER,
        _mnli_row(0, "Conceptually cream skimming has two basic dimensions.",
                  "Product and geography are what make cream skimming work. ", "neutral",
                  "neutral"),
        _mnli_row(1, 'He said, "yes.', "He refused.", "contradiction", "contradiction"),
        _mnli_row(2, "One of our number will carry out your instructions.",
                  "A member of my team will execute your orders.", "entailment",
                  "entailment")))
    _write(tmp_path, "dev_matched.tsv", _tsv(
        MNLI_DEV_HEADER,
        _mnli_row(7, "The new rights are nice enough", "Everyone really likes the rights.",
                  "neutral", "entailment", "neutral", "neutral", "neutral", "neutral")))
    _write(tmp_path, "test_mismatched.tsv", _tsv(
        MNLI_TEST_HEADER, _mnli_row(0, "What a day.", "It was a day.")))
    train = read_glue("mnli", tmp_path)
    assert train.label_names == ["contradiction", "entailment", "neutral"]
    assert train.labels == [2, 0, 1] and train.ids == ["0", "1", "2"]
    assert train.texts[0][1] == 'He said, "yes.' and train.texts[1][0].endswith("work. ")
    dev = read_glue("mnli", tmp_path, "dev_matched")
    assert dev.labels == [2] and dev.texts[1] == ["Everyone really likes the rights."]
    assert read_glue("mnli", tmp_path, "validation_matched").labels == [2]
    test = read_glue("mnli", tmp_path, "test_mismatched")
    assert test.labels is None and test.num_classes == 3 and test.texts[0] == ["What a day."]
    with pytest.raises(ValueError, match=r"GLUE mnli has no split 'dev'; use one of "
                                         r"\['dev_matched', 'dev_mismatched'\]"):
        read_glue("mnli", tmp_path, "dev")


def test_cola_headerless_train_and_header_test(tmp_path):
    _write(tmp_path, "train.tsv", _tsv(
        ("gj04", "1", "", "Our friends won't buy this analysis, let alone the next one."),
        ("gj04", "0", "*", "They drank the pub.")))
    _write(tmp_path, "test.tsv", _tsv(("index", "sentence"), ("0", "Bill whistled past.")))
    train = read_glue("CoLA", tmp_path)
    assert train.labels == [1, 0] and train.texts[0][1] == "They drank the pub."
    assert train.label_names == ["unacceptable", "acceptable"] and train.ids[0] == "train.tsv:1"
    test = read_glue("cola", tmp_path, "test")
    assert test.labels is None and test.ids == ["0"] and test.texts == (["Bill whistled past."],)


def test_stsb_is_regression(tmp_path):
    _write(tmp_path, "train.tsv", _tsv(
        STSB_HEADER,
        ("0", "main-captions", "MSRvid", "2012test", "0001", "none", "none",
         "A plane is taking off.", "An air plane is taking off.", "5.000"),
        ("1", "main-captions", "MSRvid", "2012test", "0004", "none", "none",
         "A man is playing a flute.", "A man is eating.", "0.5")))
    _write(tmp_path, "test.tsv", _tsv(STSB_HEADER[:-1], ("0",) + STSB_HEADER[1:-1]))
    data = read_glue("STS-B", tmp_path)
    assert data.is_regression and data.num_classes == 1 and data.label_names is None
    assert data.labels == [5.0, 0.5] and data.texts[1][1] == "A man is eating."
    assert read_glue("stsb", tmp_path, "test").labels is None


OTHER_LAYOUTS = [  # (task, header, row, label): one test, as each test costs a Keras reset
    ("qnli", ("index", "question", "sentence", "label"),
     ("0", "When did the war end?", "It ended in 1945.", "not_entailment"), 1),
    ("rte", ("index", "sentence1", "sentence2", "label"),
     ("0", "No weapons were found.", "Weapons were found.", "entailment"), 0),
    ("wnli", ("index", "sentence1", "sentence2", "label"),
     ("0", "I stuck a pin through a carrot.", "The carrot had a hole.", "1"), 1),
    ("qqp", ("id", "qid1", "qid2", "question1", "question2", "is_duplicate"),
     ("133273", "213221", "213222", "How is the life of a math student?",
      "Which level of prepration is enough?", "0"), 0),
    ("sst2", ("sentence", "label"), ("hide new secretions from the parental units ", "0"), 0),
]


def test_other_task_layouts(tmp_path):
    for task, header, row, label in OTHER_LAYOUTS:
        _write(tmp_path, "dev.tsv", _tsv(header, row))
        data = read_glue(task, tmp_path, "dev")
        assert data.labels == [label], task
        spec = GLUE_TASKS[task]
        assert data.texts == tuple([row[header.index(c)]] for c in spec.text_columns), task
        assert data.ids == ([row[0]] if spec.id_column in header else ["dev.tsv:2"]), task


def test_tasks_are_data_consistent_with_the_metrics():
    assert sorted(GLUE_TASKS) == ["cola", "mnli", "mrpc", "qnli", "qqp", "rte", "sst2", "stsb",
                                  "wnli"]
    for name, spec in GLUE_TASKS.items():
        assert spec.name == name and spec.metrics == GLUE_METRICS[name]
        assert len(spec.text_columns) == len(spec.tfds_text_features) in (1, 2)
        assert (spec.label_values is None) == (spec.label_names is None)
    assert GLUE_TASKS["stsb"].num_classes == 1 and GLUE_TASKS["mnli"].num_classes == 3
    assert glue_task("SST-2") is GLUE_TASKS["sst2"]
    with pytest.raises(ValueError, match="Unknown GLUE task 'sst5'; use one of"):
        glue_task("sst5")


# ---- bad records -----------------------------------------------------------------------------

RTE_HEADER = ("index", "sentence1", "sentence2", "label")


BAD_RECORDS = [  # (task, lines of dev.tsv, the message of its error)
    ("rte", _tsv(RTE_HEADER, ("0", "a", "b", "entailment"), ("1", "a", "b\tc", "entailment")),
     r"dev.tsv, line 3: 5 fields where the file's columns .* are 4; GLUE files are read "
     r"without quoting, so a tab inside a text splits it: fix or remove the line"),
    ("rte", _tsv(RTE_HEADER, ("0", "a", "b", "neutral")),
     r"dev.tsv, line 2: the label 'neutral' is not one of GLUE rte's labels "
     r"\['entailment', 'not_entailment'\]; fix or remove the line"),
    ("rte", _tsv(RTE_HEADER, ("0", "a", " ", "entailment")),
     r"dev.tsv, line 2: the text column 'sentence2' is empty"),
    ("stsb", _tsv(STSB_HEADER, ("0",) + STSB_HEADER[1:-1] + ("high",)),
     r"dev.tsv, line 2: the 'score' 'high' is not a number in \[0, 5\]"),
    ("stsb", _tsv(STSB_HEADER, ("0",) + STSB_HEADER[1:-1] + ("5.5",)),
     r"dev.tsv, line 2: the 'score' '5.5' is not a number in \[0, 5\]"),
    ("sst2", _tsv(("0", "a", "b")),
     r"dev.tsv, line 1: \['0', 'a', 'b'\] is not a GLUE sst2 header; the file needs a header "
     r"naming the columns \['sentence', 'label'\], or no header and 2 columns"),
    ("sst2", _tsv(("2", "great")), r"dev.tsv, line 1: the label '2' is not one of"),
    ("rte", _tsv(("index", "sentence1", "sentence2")),
     r"dev.tsv, line 1: the dev split needs the label column 'label'"),
    ("rte", _tsv(RTE_HEADER), r"dev.tsv holds no examples"),
]


def test_bad_records_name_file_and_line(tmp_path):
    for task, lines, message in BAD_RECORDS:
        _write(tmp_path, "dev.tsv", lines)
        with pytest.raises(ValueError, match=message):
            read_glue(task, tmp_path, "dev")


def test_invalid_utf8_names_the_line(tmp_path):
    (tmp_path / "dev.tsv").write_bytes(b"sentence\tlabel\ngood\t1\nbad \xff byte\t0\n")
    with pytest.raises(ValueError, match=r"dev.tsv, line \d: not valid UTF-8"):
        read_glue("sst2", tmp_path, "dev")


def test_missing_split_names_the_path(tmp_path):
    _write(tmp_path, "train.tsv", _tsv(("sentence", "label"), ("fine", "1")))
    with pytest.raises(FileNotFoundError, match=r"GLUE sst2 dev split: .*dev.tsv does not "
                                                r"exist \(the folder holds \['train.tsv'\]\)"):
        read_glue("sst2", tmp_path, "validation")
    with pytest.raises(FileNotFoundError, match=r"\(no such folder\)\. Pass the folder of "
                                                r"GLUE's mrpc files \(e\.g\. glue_data/MRPC\)"):
        read_glue("mrpc", tmp_path / "MRPC")
    with pytest.raises(ValueError, match=r"GLUE rte has no split 'valid'"):
        read_glue("rte", tmp_path, "valid")


# ---- TFDS ------------------------------------------------------------------------------------

def test_tfds_glue_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=6):
        sst2 = read_tfds_glue("sst2", "validation")
        stsb = read_tfds_glue("stsb", "dev")
    assert len(sst2) == 6 and sst2.num_segments == 1 and sst2.label_names == ["negative",
                                                                              "positive"]
    assert all(isinstance(t, str) and t for t in sst2.texts[0]) and set(sst2.labels) <= {0, 1}
    assert sst2.path == "tfds:glue/sst2:validation"
    assert stsb.is_regression and stsb.num_segments == 2 and len(stsb) == 6
    assert all(isinstance(y, float) for y in stsb.labels)


def test_tfds_finds_what_it_downloads_on_a_fresh_install(tmp_path):
    # Before downloading, download_and_prepare reads the builder's checksums through
    # importlib_resources, which the etils tensorflow-datasets 4.9.10 installs no longer
    # brings: without our pin `--tfds` failed with ModuleNotFoundError, online or not.
    tfds = pytest.importorskip("tensorflow_datasets")
    builder = tfds.builder("glue/sst2", data_dir=str(tmp_path))
    assert builder.code_path.name == "glue.py"
    assert any("SST-2" in url for url in builder.url_infos)


def test_tfds_glue_maps_class_ids_by_name_and_reads_tests_unlabelled():
    tfds = pytest.importorskip("tensorflow_datasets")
    import tensorflow as tf

    served = []

    def as_dataset(self, split, **kwargs):
        served.append((self.name, self.builder_config.name, split))
        labels = [-1, -1] if split.startswith("test") else [0, 2]  # TFDS: entailment, contra.
        return tf.data.Dataset.from_tensor_slices({
            "premise": ["A man sleeps.", "It rains."], "hypothesis": ["He rests.", "It's dry."],
            "label": tf.constant(labels, tf.int64), "idx": tf.constant([3, 9], tf.int32)})

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        dev = read_tfds_glue("mnli", "dev_matched")
        test = read_tfds_glue("MNLI", "test_mismatched")
    assert served == [("glue", "mnli", "validation_matched"), ("glue", "mnli", "test_mismatched")]
    assert dev.label_names == ["contradiction", "entailment", "neutral"]
    assert dev.labels == [1, 0]  # TFDS 0 (entailment) -> 1, TFDS 2 (contradiction) -> 0
    assert dev.texts == (["A man sleeps.", "It rains."], ["He rests.", "It's dry."])
    assert dev.ids == ["3", "9"]
    assert test.labels is None and test.num_classes == 3
    with pytest.raises(ValueError, match=r"TFDS glue/mnli has no split 'validation'; use one "
                                         r"of \['train', 'validation_matched', "):
        read_tfds_glue("mnli", "validation")
