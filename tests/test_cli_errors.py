"""`keras-bert`: bad input is one `error:` line and exit status 2 (`--debug`, before or after
the subcommand, shows the traceback); TensorFlow's start-up log lines stay out of stderr;
`--help` imports no TensorFlow."""

import os
import re
import subprocess
import sys

import pytest

from keras_bert_impl import cli
from keras_bert_impl.cli import main
from keras_bert_impl.data.tfds_source import DatasetUnavailableError
from tests.training.helpers import REPO_ROOT

# What TensorFlow prints while loading when nothing filters it.
NOISE = re.compile(r"absl::InitializeLog|cudart_stub|cuInit|oneDNN|cpu_feature_guard|"
                   r"^[IWEF]\d{4} ", re.M)


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_CPP_MIN_LOG_LEVEL", "GRPC_VERBOSITY", "GLOG_minloglevel")}
    env.update(PYTHONPATH=str(REPO_ROOT), **extra)
    return env


def _keras_bert(*argv, timeout=300):
    return subprocess.run([sys.executable, "-m", "keras_bert_impl.cli", *argv], cwd=REPO_ROOT,
                          env=_env(), capture_output=True, text=True, timeout=timeout)


def _tiny_preset(path):
    from keras_bert_impl.models import BertEncoder
    from keras_bert_impl.presets import TokenizerSpec

    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]
    BertEncoder.from_preset("bert_tiny", vocab_size=50).save_to_preset(
        path, tokenizer=TokenizerSpec(tokens, lowercase=True, source="test"))
    return str(path)


# --- one line, exit status 2 ---------------------------------------------------------------
def test_architecture_name_has_no_weights_to_convert(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["convert", "--from", "bert_tiny", "--to", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: --from bert_tiny is an architecture")
    assert "no weights to convert" in err
    for accepted in ("Hugging Face directory", "Google or TF Model Garden checkpoint",
                     "preset.json", "bert_base_en_uncased", "hf://owner/repo"):
        assert accepted in err
    assert not out.exists()


def test_missing_source_is_one_line(tmp_path, capsys):
    missing = str(tmp_path / "no" / "such")
    assert main(["convert", "--from", missing, "--to", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err == f"error: BERT preset directory not found: {missing}\n"


def test_pretrain_missing_vocab_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["pretrain", "--out", str(run), "--corpus", str(tmp_path / "*.txt"),
                 "--vocab", str(tmp_path / "vocab.txt")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: Vocab file ")
    assert "vocab.txt" in err and "--vocab" in err
    assert not run.exists()


@pytest.mark.parametrize("argv", [
    ["--debug", "convert", "--from", "bert_tiny", "--to", "out"],
    ["convert", "--from", "bert_tiny", "--to", "out", "--debug"],
])
def test_debug_before_or_after_the_command_raises(argv):
    with pytest.raises(ValueError, match="architecture name"):
        main(argv)


@pytest.mark.parametrize("error, line", [
    (KeyboardInterrupt(), "error: interrupted; rerun the same command to resume"),
    (FileNotFoundError(2, "No such file or directory", "data/x.txt"),
     "error: No such file or directory: data/x.txt"),
    (TypeError("bad type"), "error: bad type (keras-bert --debug shows the traceback)"),
    (FloatingPointError("Training diverged: lower --learning-rate"),
     "error: Training diverged: lower --learning-rate"),
    (DatasetUnavailableError("Could not prepare the TFDS dataset 'wikipedia' (ConnectionError)"),
     "error: Could not prepare the TFDS dataset 'wikipedia' (ConnectionError)"),
])
def test_user_errors_of_every_kind(monkeypatch, capsys, error, line):
    from keras_bert_impl.training import pretrain_cli

    def fail(args):
        raise error

    monkeypatch.setattr(pretrain_cli, "run", fail)
    assert main(["pretrain", "--out", "x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(line) and err.count("\n") == 1, err


def test_a_bug_still_shows_its_traceback(monkeypatch):
    from keras_bert_impl.training import pretrain_cli

    def fail(args):
        raise KeyError("internal")

    monkeypatch.setattr(pretrain_cli, "run", fail)
    with pytest.raises(KeyError):
        main(["pretrain", "--out", "x"])


def test_error_from_the_shell_is_one_line(tmp_path):
    done = _keras_bert("pretrain", "--out", str(tmp_path / "run"), "--corpus",
                       str(tmp_path / "*.txt"), "--vocab", str(tmp_path / "vocab.txt"))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: Vocab file ") and done.stderr.count("\n") == 1, \
        done.stderr
    assert not (tmp_path / "run").exists()


# --- quiet start-up --------------------------------------------------------------------------
def test_tiny_convert_prints_no_tensorflow_start_up_lines(tmp_path):
    source = _tiny_preset(tmp_path / "source")
    done = _keras_bert("convert", "--from", source, "--to", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    assert not NOISE.search(done.stderr), done.stderr
    assert "Converted" in done.stdout
    assert sorted(os.listdir(tmp_path / "out")) == ["model.safetensors", "preset.json",
                                                    "vocab.txt"]


# `vocab --help` is its module's business (keras_bert_impl/text/vocab_cli.py).
@pytest.mark.parametrize("argv", [[], ["pretrain"], ["convert"], ["demo"], ["export"],
                                  ["predict"]])
def test_help_is_quiet_and_imports_no_tensorflow(argv):
    probe = (
        "import sys\n"
        "from keras_bert_impl.cli import main\n"
        "try:\n"
        f"    main({argv + ['--help']!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('TF_IMPORTED' if 'tensorflow' in sys.modules else 'NO_TF')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("NO_TF"), done.stdout[-500:]
    assert "--debug" in done.stdout
    assert done.stderr == ""


def test_noise_filter_keeps_other_lines():
    noise = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to "
        "STDERR",
        "I0000 00:00:1795616866.651179    9327 cudart_stub.cc:31] Could not find cuda drivers "
        "on your machine, GPU will not be used.",
        "E0000 00:00:1795616881.879937    9327 cuda_platform.cc:52] failed call to cuInit",
        "2025-01-01 10:00:00.000000: I tensorflow/core/util/port.cc:153] oneDNN custom "
        "operations are on. You may see slightly different numerical results.",
    ]
    assert all(cli._NOISE.match(line) for line in noise)
    assert not cli._NOISE.match("UserWarning: something the user should see")
