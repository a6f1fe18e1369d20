"""The `keras-bert` command line.

Each subcommand lives beside the code it drives; this module only wires them:
`keras-bert demo | vocab | pretrain | convert | ...`. Only the named subcommand's module is
imported, so `keras-bert --help` starts fast and works without TensorFlow.

Errors in what the user passed (an unknown or missing flag, a missing file, a bad flag value,
a checkpoint that does not fit, a missing optional package, Ctrl-C) print one line,
`error: ...`, and exit with status 2; `--debug` (before or after the subcommand) shows the
traceback instead, and TensorFlow's own start-up log lines. Every command's `--help` shows
each flag's default (`flags.DefaultsHelpFormatter`); long steps without output of their own
show a progress line on stderr when it is a terminal (`flags.Progress`), never on stdout,
which carries results (`predict` prints JSON there).
"""

import argparse
import os
import re
import sys

from keras_bert_impl.flags import COMMANDS

USAGE_ERROR = 2  # argparse's exit status for bad flags; ours for bad input of every kind
DEBUG_HELP = "show the traceback of an error, and TensorFlow's start-up log lines"
OOM_HINT = ("Use a smaller --batch-size or --seq-len; pretrain keeps the effective batch "
            "with --grad-accum N and saves memory with --precision mixed_bfloat16 (or "
            "mixed_float16 on GPUs without bfloat16).")
DESCRIPTION = ("BERT for Keras 3: learn a vocab, pretrain, fine-tune, evaluate, export for TF "
               "Serving and predict, with TF-Text preprocessing in the graph.")
EPILOG = ("`keras-bert COMMAND --help` shows a command's flags and their defaults. An error "
          "is one `error: ...` line (exit status 2); --debug shows its traceback.")

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


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser, but a bad flag is one `error:` line naming `--help`, like every
    other error of `keras-bert` (argparse prints the whole usage first)."""

    command = None  # the subcommand named on the command line, set by `build_parser`

    def error(self, message):
        # Unknown flags after a subcommand are reported by the top parser: name its help.
        prog = f"{self.prog} {self.command}" if self.command in COMMANDS else self.prog
        self.exit(USAGE_ERROR, f"error: {message} (see `{prog} --help`)\n")


class CommandsHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, with room for the longest command name: argparse measures
    subcommands at their section's indent but prints them two columns deeper, so a name as
    long as `fill-mask` would push its one-line help onto a line of its own.

    Example:

    ```python
    parser = argparse.ArgumentParser(formatter_class=CommandsHelpFormatter)
    parser.add_subparsers(title="commands").add_parser("fill-mask", help="guess tokens")
    "fill-mask  guess tokens" in parser.format_help()  # True
    ```
    """

    def add_arguments(self, actions):
        super().add_arguments(actions)
        self._action_max_length += 2


def build_parser(argv):
    """The parser; only the subcommand named in `argv` has its module imported."""
    from keras_bert_impl.flags import DefaultsHelpFormatter, add_command_arguments

    parser = ArgumentParser(prog="keras-bert", description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=CommandsHelpFormatter)
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                       title="commands")
    command = parser.command = _command_name(argv)
    for name, (_, help_text, description) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=description,
                                    formatter_class=DefaultsHelpFormatter)
        # Accepted after the subcommand too; SUPPRESS keeps a --debug given before it.
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=DEBUG_HELP)
        if command == name:
            sub.set_defaults(_run=add_command_arguments(sub, name))
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

    types = [OSError, ValueError, TypeError, FloatingPointError, WeightLoadError, ImportError,
             KeyboardInterrupt]
    tf = sys.modules.get("tensorflow")
    errors = getattr(tf, "errors", None)
    for name in ("NotFoundError", "PermissionDeniedError", "ResourceExhaustedError"):
        if isinstance(getattr(errors, name, None), type):
            types.append(getattr(errors, name))
    tfds_source = sys.modules.get("keras_bert_impl.data.tfds_source")  # imported if used
    if tfds_source is not None:
        types.append(tfds_source.DatasetUnavailableError)
    return tuple(types)


def error_line(error, command=None):
    """The one line `keras-bert` prints for a user error."""
    if isinstance(error, KeyboardInterrupt):
        text = "interrupted"
        if command == "pretrain":
            text += "; rerun the same command to resume from the last checkpoint"
    elif type(error).__name__ == "ResourceExhaustedError":  # TensorFlow's out of memory
        first = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
        text = (f"out of memory ({first[:160]}{'...' if len(first) > 160 else ''}). {OOM_HINT}")
    elif isinstance(error, OSError) and error.strerror and error.filename:
        text = f"{error.strerror}: {error.filename}"
        if error.filename2:
            text += f" -> {error.filename2}"
    else:
        text = getattr(error, "message", None) or str(error) or type(error).__name__
        # One line: a multi-line message (TensorFlow's, say) is joined with spaces.
        text = " ".join(line.strip() for line in text.splitlines() if line.strip())
        if isinstance(error, (TypeError, ImportError)):
            text += " (keras-bert --debug shows the traceback)"
    return f"error: {text}"


class _UsageExit(SystemExit):
    """`SystemExit(2)` after its `error:` line is printed; `str()` is still the message."""

    def __init__(self, message):
        super().__init__(USAGE_ERROR)
        self.message = message

    def __str__(self):
        return self.message


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
    except SystemExit as exit_:
        if not isinstance(exit_.code, str):
            raise
        # `raise SystemExit("message")` in a command: the same one `error:` line.
        print(error_line(ValueError(exit_.code)), file=sys.stderr)
        raise _UsageExit(exit_.code) from None
    finally:
        warnings.showwarning = shown


if __name__ == "__main__":
    sys.exit(main())
