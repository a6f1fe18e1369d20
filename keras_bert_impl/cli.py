"""The `keras-bert` command line.

Each subcommand lives beside the code it drives; this module only wires them:
`keras-bert demo | vocab | pretrain | convert | ...`. Only the named subcommand's module is
imported, so `keras-bert --help` starts fast and works without TensorFlow.

Errors in what the user passed (a missing file, a bad flag value, a checkpoint that does not
fit, Ctrl-C) print one line, `error: ...`, and exit with status 2; `--debug` (before or after
the subcommand) shows the traceback instead, and TensorFlow's own start-up log lines.
"""

import argparse
import os
import re
import sys

# name -> (module, help). Each module defines `add_arguments(parser)` and `run(args)`, and
# imports TensorFlow/Keras only inside `run`, so that building the parser stays cheap.
COMMANDS = {
    "demo": ("keras_bert_impl.demo", "pretrain bert_tiny on the bundled corpus, save and reload it"),
    "vocab": ("keras_bert_impl.text.vocab_cli", "learn a WordPiece vocab.txt from a text corpus"),
    "pretrain": ("keras_bert_impl.training.pretrain_cli", "pretrain BERT (MLM+NSP) with model.fit under tf.distribute"),
    "convert": ("keras_bert_impl.convert.command", "convert a Hugging Face / Google BERT checkpoint to our preset format"),
    "finetune": ("keras_bert_impl.training.finetune_cli", "fine-tune a preset or run on GLUE, CoNLL-2003, SQuAD, BBC News or a CSV, from raw text"),
    "evaluate": ("keras_bert_impl.training.evaluate_cli", "score a fine-tuned run with its task's official metric"),
    "export": ("keras_bert_impl.export.export_cli", "export a fine-tuned run as a SavedModel in TF Serving's layout (savedmodels/NAME/VERSION, models.config, warmup)"),
    "predict": ("keras_bert_impl.export.predict_cli", "ask an exported SavedModel and print TF Serving's REST-shaped answer"),
}
USAGE_ERROR = 2  # argparse's exit status for bad flags; ours for bad input of every kind
DEBUG_HELP = "show the traceback of an error, and TensorFlow's start-up log lines"

# Set before TensorFlow loads (unless the user set them): its C++ logging, gRPC's and glog's.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "3"}
# Lines TensorFlow prints while it loads, before its log level applies (absl's C++ logging
# is not initialised yet): "WARNING: All log messages before absl::InitializeLog() ...",
# "I0000 00:00:... cudart_stub.cc:31] Could not find cuda drivers ...", oneDNN and CPU
# instruction notices.
_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)"
    r"|[IWEF]\d{4} [\d:.]+\s+\d+ [\w./-]+:\d+\]"
    r"|.*oneDNN custom operations are on"
    r"|.*This TensorFlow binary is optimized to use available CPU instructions"
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r")"
)


def _command_name(argv):
    """The subcommand in `argv`: its first word that is not a (global) option."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv):
    """The parser; only the subcommand named in `argv` has its module imported."""
    import importlib

    parser = argparse.ArgumentParser(prog="keras-bert", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = _command_name(argv)
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        # Accepted after the subcommand too; SUPPRESS keeps a --debug given before it.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=DEBUG_HELP)
        if command == name:
            module = importlib.import_module(module_name)
            module.add_arguments(sub)
            sub.set_defaults(_run=module.run)
    return parser


def _import_tensorflow_quietly():
    """Imports TensorFlow (when installed) with its load-time log lines filtered out of
    stderr; any other line it prints still shows, and all of them when the import fails."""
    import importlib.util
    import tempfile

    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            import tensorflow  # noqa: F401
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode("utf-8", "replace").splitlines()
            kept = lines if failed else [line for line in lines if not _NOISE.match(line)]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")
                sys.stderr.flush()


def user_error_types():
    """Exceptions that mean bad input, not a bug: one `error:` line, no traceback."""
    from keras_bert_impl.presets.canonical import WeightLoadError  # a ValueError; named here

    types = [OSError, ValueError, TypeError, FloatingPointError, WeightLoadError,
             KeyboardInterrupt]
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    for name in ("NotFoundError", "PermissionDeniedError"):
        if isinstance(getattr(errors, name, None), type):
            types.append(getattr(errors, name))
    return tuple(types)


def error_line(error, command=None):
    """The one line `keras-bert` prints for a user error."""
    if isinstance(error, KeyboardInterrupt):
        text = "interrupted"
        if command == "pretrain":
            text += "; rerun the same command to resume from the last checkpoint"
    elif isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
        if error.filename2:
            text += f" -> {error.filename2}"
    else:
        text = getattr(error, "message", None) or str(error) or type(error).__name__
        if isinstance(error, TypeError):
            text += " (keras-bert --debug shows the traceback)"
    return f"error: {text}"


def main(argv=None):
    """Runs `keras-bert ARGV`; returns the exit status (2 for bad input).

    Example (prints `error: --from bert_tiny is an architecture name ...`, writes nothing):

    ```python
    main(["convert", "--from", "bert_tiny", "--to", "out"])  # 2
    ```
    """
    import warnings

    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    if not debug:
        for name, value in QUIET_ENV.items():
            os.environ.setdefault(name, value)
    args = build_parser(argv).parse_args(argv)
    if args.debug:
        return args._run(args) or 0
    shown = warnings.showwarning

    def one_line(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=file or sys.stderr)

    warnings.showwarning = one_line  # not the source line that raised it
    try:
        _import_tensorflow_quietly()
        return args._run(args) or 0
    except user_error_types() as error:
        print(error_line(error, args.command), file=sys.stderr)
        return USAGE_ERROR
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
