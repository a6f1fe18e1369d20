"""The `keras-bert` command line.

Each subcommand lives beside the code it drives; this module only wires them:
`keras-bert demo | vocab | pretrain | convert | ...`. Only the named subcommand's module is
imported, so `keras-bert --help` starts fast and works without TensorFlow.
"""

import argparse
import os
import sys

# name -> (module, help). Each module defines `add_arguments(parser)` and `run(args)`, and
# imports TensorFlow/Keras only inside `run`, so that building the parser stays cheap.
COMMANDS = {
    "demo": ("keras_bert_impl.demo", "pretrain bert_tiny on the bundled corpus, save and reload it"),
    "vocab": ("keras_bert_impl.text.vocab_cli", "learn a WordPiece vocab.txt from a text corpus"),
    "pretrain": ("keras_bert_impl.training.pretrain_cli", "pretrain BERT (MLM+NSP) with model.fit under tf.distribute"),
    "convert": ("keras_bert_impl.convert.command", "convert a Hugging Face / Google BERT checkpoint to our preset format"),
}


def build_parser(argv):
    """The parser; only the subcommand named in `argv` has its module imported."""
    import importlib

    parser = argparse.ArgumentParser(prog="keras-bert", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        if argv[:1] == [name]:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv).parse_args(argv)
    return args._run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
