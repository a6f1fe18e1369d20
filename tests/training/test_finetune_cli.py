"""`keras-bert finetune` / `evaluate` end to end with tiny models on real data: each task kind
trains from raw text, writes a preset with its preprocessor, labels and `metrics.json`, and
`evaluate` on the same split reproduces the best epoch's validation figures exactly. A
pretraining run fine-tunes as it is. Bad input is one `error:` line."""

import json
import os
import re

import numpy as np
import pytest

from keras_bert_impl.cli import main
from keras_bert_impl.data.conll import read_conll
from keras_bert_impl.models import BertClassifier, BertEncoder, BertTokenClassifier
from keras_bert_impl.text import BertTokenizer
from tests.presets.helpers import minilm_dir
from tests.real_data import shared_file

TINY = dict(num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64)
COMMON = ["--epochs", "2", "--batch-size", "16", "--no-xla"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny random encoder with the real uncased MiniLM vocabulary, as a preset."""
    tokenizer = BertTokenizer.from_preset(str(minilm_dir()))
    path = str(tmp_path_factory.mktemp("base") / "tiny")
    BertEncoder.from_preset("bert_tiny", vocab_size=tokenizer.vocabulary_size(), **TINY) \
        .save_to_preset(path, tokenizer=tokenizer)
    return path


def _finetune_and_evaluate(tmp_path, capsys, task, data, *extra):
    run = str(tmp_path / task)
    code = main(["finetune", "--task", task, "--data", str(data), "--init", extra[0],
                 "--out", run, *extra[1:], *COMMON])
    assert code == 0
    record = json.load(open(os.path.join(run, "metrics.json")))
    assert [h["epoch"] for h in record["history"]] == [1, 2]
    assert record["best_epoch"] in (1, 2)
    capsys.readouterr()
    assert main(["evaluate", "--task", task, "--model", run]) == 0
    printed = capsys.readouterr().out
    scores = json.load(open(os.path.join(run, "eval_dev.json")))["scores"]
    return run, record, scores, printed


def test_sst2_finetune_then_evaluate(tmp_path, capsys, base):
    run, record, scores, printed = _finetune_and_evaluate(
        tmp_path, capsys, "sst2", shared_file("sst2", "train.tsv").parent, base,
        "--max-train-examples", "48", "--max-eval-examples", "32", "--seq-len", "32",
        "--seed", "1", "--split-seed", "0")
    assert record["validation_examples"] == 32 and record["train_examples"] == 48
    assert (record["settings"]["seed"], record["settings"]["split_seed"]) == (1, 0)
    # `evaluate` rebuilds the held-out split from split_seed 0 (seed 1 would hold out others).
    assert scores["accuracy"] == pytest.approx(record["validation"]["accuracy"], abs=1e-12)
    assert f"accuracy: {scores['accuracy']:.4f}" in printed
    model = BertClassifier.from_preset(run)
    assert model.label_names == ["negative", "positive"]
    assert model.preprocessor.sequence_length == 32
    assert model.tokenizer_spec.lowercase is True


def test_mixed_precision_and_gradient_accumulation(tmp_path, capsys, base):
    import keras

    from keras_bert_impl.flags import PRECISION_CHOICES
    from keras_bert_impl.training.precision import PRECISIONS

    assert PRECISION_CHOICES == PRECISIONS  # the flag's choices, spelled out without Keras

    run = str(tmp_path / "sst2_mixed")
    assert main(["finetune", "--task", "sst2", "--data",
                 str(shared_file("sst2", "train.tsv").parent), "--init", base, "--out", run,
                 "--max-train-examples", "48", "--max-eval-examples", "32", "--seq-len", "32",
                 "--precision", "mixed_bfloat16", "--grad-accum", "2", *COMMON]) == 0
    printed = capsys.readouterr().out
    assert "2 epoch(s) of batch 16 (an update per 2 batches: 32 examples), lr 2e-05, " \
        "mixed_bfloat16;" in printed
    record = json.load(open(os.path.join(run, "metrics.json")))
    assert (record["settings"]["precision"],
            record["settings"]["gradient_accumulation_steps"]) == ("mixed_bfloat16", 2)
    assert keras.config.dtype_policy().name == "float32"  # the run's policy is undone
    model = BertClassifier.from_preset(run)  # written in float32, loads in the global policy
    assert {w.dtype for w in model.weights} == {"float32"}
    assert main(["finetune", "--task", "sst2", "--data", "x", "--init", base, "--out",
                 str(tmp_path / "bad"), "--grad-accum", "0"]) == 2
    assert capsys.readouterr().err == ("error: gradient accumulation (--grad-accum) must be a "
                                       "positive number of batches per update, got 0.\n")


def test_conll_finetune_then_evaluate(tmp_path, capsys, base):
    run, record, scores, printed = _finetune_and_evaluate(
        tmp_path, capsys, "conll2003", shared_file("conll2003", "valid.txt").parent, base,
        "--max-train-examples", "48", "--max-eval-examples", "32", "--seq-len", "48")
    for name in ("precision", "recall", "f1"):
        assert scores[name] == pytest.approx(record["validation"][name], abs=1e-12)
    assert "per_type.PER.support:" in printed
    tagger = BertTokenClassifier.from_preset(run)
    assert tagger.label_names[:3] == ["O", "B-PER", "I-PER"]
    assert len(tagger.tag([["Peter", "lives", "in", "Berlin"]])[0]) == 4


def _as_iobes(tags):
    """IOB1 tags as IOBES, with the entity types in lower case (a tag set of another corpus)."""
    from keras_bert_impl.metrics.tagging import get_entities

    out = ["O"] * len(tags)
    for type_, start, end in get_entities(tags, scheme="IOB1"):
        type_ = type_.lower()
        if start == end:
            out[start] = f"S-{type_}"
            continue
        out[start], out[end] = f"B-{type_}", f"E-{type_}"
        out[start + 1:end] = [f"I-{type_}"] * (end - start - 1)
    return out


def test_any_tag_set_in_conll_columns_finetunes_then_evaluates(tmp_path, capsys, base):
    # Real CoNLL-2003 sentences re-tagged in IOBES with other type names, as two columns.
    valid = read_conll(shared_file("conll2003", "valid.txt"))
    data = tmp_path / "iobes"
    data.mkdir()
    for name, rows in (("train.txt", range(0, 64)), ("dev.txt", range(64, 96))):
        (data / name).write_text("\n\n".join(
            "\n".join(f"{word}\t{tag}" for word, tag in zip(valid.words[i],
                                                           _as_iobes(valid.tags[i])))
            for i in rows) + "\n")
    run, record, scores, printed = _finetune_and_evaluate(
        tmp_path, capsys, "conll", data, base, "--seq-len", "48")
    assert record["validation_examples"] == 32
    assert scores["f1"] == pytest.approx(record["validation"]["f1"], abs=1e-12)
    assert "per_type.per.support:" in printed
    tagger = BertTokenClassifier.from_preset(run)
    in_files = {line.split("\t")[1] for name in ("train.txt", "dev.txt")
                for line in (data / name).read_text().splitlines() if line}
    assert tagger.label_names[0] == "O" and set(tagger.label_names) == in_files
    assert {"S-per", "E-per", "B-org"} <= in_files  # IOBES, scored as such
    # --label-names fixes the order; CoNLL-2003's task names the way to other tag sets.
    names = ["O", *(f"{p}-{t}" for p in "BIES" for t in ("per", "org", "loc", "misc"))]
    assert main(["finetune", "--task", "conll", "--data", str(data), "--init", base,
                 "--out", str(tmp_path / "ordered"), "--label-names", *names,
                 "--max-train-examples", "16", *COMMON]) == 0
    assert BertTokenClassifier.from_preset(str(tmp_path / "ordered")).label_names == names
    capsys.readouterr()
    assert main(["finetune", "--task", "conll2003", "--data", str(data), "--init", base,
                 "--out", str(tmp_path / "refused")]) == 2
    error = capsys.readouterr().err
    assert len(error.splitlines()) == 1 and re.search(r"tag '[BIES]-[a-z]+' is not in", error)
    assert "--task conll" in error and not os.path.exists(tmp_path / "refused")


def test_squad_finetune_then_evaluate(tmp_path, capsys, base):
    run, record, scores, _ = _finetune_and_evaluate(
        tmp_path, capsys, "squad", shared_file("squad", "train-v1.1-notre-dame.json"), base,
        "--max-train-examples", "32", "--max-eval-examples", "16", "--seq-len", "96",
        "--doc-stride", "48")
    assert record["settings"]["sequence_length"] == 96
    assert scores["f1"] == pytest.approx(record["validation"]["f1"], abs=1e-9)
    assert scores["exact_match"] == pytest.approx(record["validation"]["exact_match"], abs=1e-9)
    preset = json.load(open(os.path.join(run, "preset.json")))
    assert preset["model_kwargs"]["preprocessor"]["doc_stride"] == 48


def test_csv_regression_trains_on_scores_and_csv_refuses_them(tmp_path, capsys, base):
    # Real SST-2 sentences with a score per line (the label plus noise): what --task csv
    # would have read as one class per distinct score.
    rng = np.random.default_rng(0)
    lines = shared_file("sst2", "train.tsv").read_text().splitlines()[:60]
    data = tmp_path / "scores.jsonl"
    data.write_text("".join(json.dumps({"text": text, "score": round(4 * int(label)
                                        + rng.uniform(0, 1), 3)}) + "\n"
                            for label, text in (line.split("\t") for line in lines)))
    assert main(["finetune", "--task", "csv", "--data", str(data), "--label-column", "score",
                 "--init", base, "--out", str(tmp_path / "classes")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "(keras-bert: --task csv_regression)" in error
    assert not os.path.exists(tmp_path / "classes")

    run, record, scores, printed = _finetune_and_evaluate(
        tmp_path, capsys, "csv_regression", data, base, "--label-column", "score",
        "--seq-len", "32")
    assert record["best_metric"] == "pearson" and record["validation_examples"] == 6
    for name in ("pearson", "spearman"):
        assert -1 <= scores[name] <= 1
        assert scores[name] == pytest.approx(record["validation"][name], abs=1e-12)
    assert f"pearson: {scores['pearson']:.4f}" in printed
    model = BertClassifier.from_preset(run)
    assert model.is_regression and model.label_names is None
    assert model.predict(["a stirring , funny film"], verbose=0).shape == (1, 1)


def test_a_pretraining_run_fine_tunes_as_it_is(tmp_path, capsys):
    from keras_bert_impl.training.pretrain import pretrain

    words = ["good", "bad", "film", "plot", "acting", "great", "awful", "the", "was", "."]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    rng = np.random.default_rng(0)
    documents = ["\n".join(" ".join(rng.choice(words, 5)) for _ in range(3)) for _ in range(6)]
    (tmp_path / "corpus.txt").write_text("\n\n".join(documents) + "\n")
    run = str(tmp_path / "pretrained")
    pretrain(run, preset="bert_tiny", corpus=[str(tmp_path / "corpus.txt")],
             vocab=str(tmp_path / "vocab.txt"), seq_len=32, batch_size=4, steps=4,
             max_predictions=4, checkpoint_every=4, xla=False,
             config_overrides={"num_layers": 1})
    rows = ["text,label"] + [f"{'good film' if i % 2 else 'awful plot'} {i % 3},"
                             f"{'pos' if i % 2 else 'neg'}" for i in range(40)]
    (tmp_path / "reviews.csv").write_text("\n".join(rows) + "\n")
    out = str(tmp_path / "classifier")
    assert main(["finetune", "--task", "csv", "--data", str(tmp_path / "reviews.csv"),
                 "--init", run, "--out", out, "--seq-len", "16", *COMMON]) == 0
    assert "best epoch" in capsys.readouterr().out
    classifier = BertClassifier.from_preset(out)
    assert classifier.label_names == ["neg", "pos"]
    assert classifier.preprocessor.tokenizer.vocabulary == vocab
    assert classifier.get_encoder().config.num_layers == 1

    # The baseline: the same architecture and vocabulary from random weights, with logs.
    from keras_bert_impl.training.curves import read_scalars

    random_out, logs = str(tmp_path / "random"), str(tmp_path / "logs")
    assert main(["finetune", "--task", "csv", "--data", str(tmp_path / "reviews.csv"),
                 "--init", run, "--random-init", "--logs", logs, "--out", random_out,
                 "--seq-len", "16", *COMMON]) == 0
    assert "(random weights)" in capsys.readouterr().out
    assert json.load(open(os.path.join(random_out, "metrics.json")))["load_weights"] is False
    assert BertClassifier.from_preset(random_out).get_encoder().config.num_layers == 1
    # Keras' TensorBoard writes val_* (the best-epoch scores) under validation/.
    validation = read_scalars(os.path.join(logs, "validation"))
    history = json.load(open(os.path.join(random_out, "metrics.json")))["history"]
    assert validation["epoch_accuracy"] == [(i, h["accuracy"]) for i, h in enumerate(history)]
    assert len(read_scalars(os.path.join(logs, "train"))["epoch_loss"]) == 2


def test_bad_input_is_one_error_line(tmp_path, capsys, base):
    missing = str(tmp_path / "nowhere")
    assert main(["finetune", "--task", "sst2", "--data", missing, "--init", base,
                 "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error:") and "nowhere does not exist" in error
    assert len(error.splitlines()) == 1
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("keep me")
    assert main(["finetune", "--task", "bbc", "--init", base, "--out", str(occupied)]) == 2
    assert "is not empty" in capsys.readouterr().err
    assert (occupied / "notes.txt").read_text() == "keep me"
    assert main(["evaluate", "--task", "sst2", "--model", str(tmp_path / "absent")]) == 2
    assert capsys.readouterr().err.startswith("error:")
    long = str(tmp_path / "long")
    assert main(["finetune", "--task", "bbc", "--max-per-topic", "10", "--init", base,
                 "--out", long, "--seq-len", "600"]) == 2
    assert capsys.readouterr().err == (
        f"error: --seq-len 600 is longer than the 512 positions of {base} "
        "(max_position_embeddings=512); pass --seq-len 512 or less (in Python: "
        "sequence_length=), or a model with more positions.\n")
    assert not os.path.exists(long)


def test_squad_v2_unanswerable_questions_train_and_score(tmp_path, capsys, base):
    context = "The Broncos won Super Bowl 50 in Santa Clara, California, in February 2016."
    questions = [("Who won Super Bowl 50?", "The Broncos", 0),
                 ("Where was Super Bowl 50 played?", "Santa Clara, California", 33),
                 ("Who won Super Bowl 51?", None, None),
                 ("When was the game played?", "February 2016", 61)]
    articles = []
    for a in range(4):
        qas = []
        for q, (question, text, start) in enumerate(questions):
            qa = {"id": f"a{a}q{q}", "question": question,
                  "answers": [] if text is None else [{"text": text, "answer_start": start}]}
            if text is None:
                qa["is_impossible"] = True
            qas.append(qa)
        articles.append({"title": f"article{a}", "paragraphs": [{"context": context,
                                                                  "qas": qas}]})
    path = tmp_path / "v2.json"
    path.write_text(json.dumps({"version": "v2.0", "data": articles}))
    run = str(tmp_path / "v2run")
    assert main(["finetune", "--task", "squad", "--data", str(path), "--init", base,
                 "--out", run, "--seq-len", "48", "--max-query-length", "16",
                 "--validation-fraction", "0.25",
                 *COMMON]) == 0
    validation = json.load(open(os.path.join(run, "metrics.json")))["validation"]
    assert validation["total"] == 4 and validation["NoAns_total"] == 1
    assert validation["HasAns_total"] == 3 and "best_f1_thresh" in validation


def test_the_split_seed_chooses_the_held_out_examples():
    """Split seeds 0 and 1 hold out different SST-2 sentences: `evaluate` agreeing with the
    run in `test_sst2_finetune_then_evaluate` (seed 1, split seed 0) means it used the split
    seed."""
    from keras_bert_impl.training.finetune_data import load_splits

    data = shared_file("sst2", "train.tsv").parent

    def held_out(split_seed):
        validation = load_splits("sst2", data, validation_fraction=0.1,
                                 seed=split_seed)["validation"]
        return validation.texts[0][:50]
    assert held_out(0) != held_out(1)
