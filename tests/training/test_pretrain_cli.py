"""`keras-bert pretrain` flags map onto `pretrain(...)`; bad input fails clearly."""

import argparse

import pytest

from keras_bert_impl.training import pretrain_cli


def parse(argv):
    parser = argparse.ArgumentParser()
    pretrain_cli.add_arguments(parser)
    return parser.parse_args(argv)


def test_issue_command_line_parses():
    args = parse("--preset bert_tiny --corpus data/*.txt --vocab vocab.txt --seq-len 128 "
                 "--batch-size 32 --steps 1000 --strategy mirrored --precision mixed_bfloat16 "
                 "--xla --out runs/tiny".split())
    assert (args.preset, args.corpus, args.seq_len, args.batch_size, args.steps) == (
        "bert_tiny", ["data/*.txt"], 128, 32, 1000)
    assert (args.strategy, args.precision, args.xla, args.out) == (
        "mirrored", "mixed_bfloat16", True, "runs/tiny")


def test_run_with_empty_corpus_is_a_clear_error(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")
    (tmp_path / "empty.txt").write_text("")
    args = parse(["--corpus", str(tmp_path / "empty.txt"), "--vocab",
                  str(tmp_path / "vocab.txt"), "--out", str(tmp_path / "run"),
                  "--steps", "100"])
    with pytest.raises(ValueError, match="corpus is empty"):
        pretrain_cli.run(args)
    assert not (tmp_path / "run").exists()  # nothing created before validation
