"""The `keras-bert` command line.

Each subcommand lives beside the code it drives; this module only wires them:
`keras-bert demo | vocab | pretrain | convert | ...`. Subcommands import their modules
lazily so that `keras-bert --help` starts fast and works without TensorFlow.
"""

import argparse
import sys

# name -> (module, help). Each module defines `add_arguments(parser)` and `run(args)`, and
# imports TensorFlow/Keras only inside `run`, so that building the parser stays cheap.
COMMANDS = {
    "demo": ("keras_bert_impl.demo", "pretrain bert_tiny on the bundled corpus, save and reload it"),
    "vocab": ("keras_bert_impl.text.vocab_cli", "learn a WordPiece vocab.txt from a text corpus"),
    "pretrain": ("keras_bert_impl.training.pretrain_cli", "pretrain BERT (MLM+NSP) with model.fit under tf.distribute"),
}


def build_parser():
    import importlib

    parser = argparse.ArgumentParser(prog="keras-bert", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text)
        sub.set_defaults(_module=module_name)
        importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv=None):
    import importlib

    args = build_parser().parse_args(argv)
    return importlib.import_module(args._module).run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
