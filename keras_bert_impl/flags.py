"""Command-line pieces that several `keras-bert` commands share, defined once: the command
registry (`COMMANDS`), the casing and bad-lines flags, the help formatter that shows each
flag's default, and the progress display of long steps.

Example:

```python
import argparse
parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
add_casing_flags(parser)
parser.add_argument("--steps", type=int, default=1000, help="training steps")
parser.parse_args(["--cased"]).lowercase  # False
"(default: 1000)" in parser.format_help()  # True
```
"""

import argparse
import sys
import threading
import time

# The `keras-bert` commands: name -> (module, one-line help for `keras-bert --help`,
# description for `keras-bert NAME --help`). Each module defines `add_arguments(parser)` and
# `run(args)`, and imports TensorFlow/Keras only inside `run`, so that building the parser
# stays cheap. The one-line helps stay under 62 characters: one line each at 80 columns.
# `cli` wires them; the demo runs some of them in-process.
COMMANDS = {
    "demo": ("keras_bert_impl.demo",
             "the end-to-end demo on BBC News: pretrain, fine-tune, serve",
             "The end-to-end demo on bundled data (BBC News, no download): learn a vocab and "
             "pretrain bert_tiny, fine-tune it and a real pretrained MiniLM on BBC topics, "
             "export the classifier for TF Serving and ask it in a fresh process."),
    "vocab": ("keras_bert_impl.text.vocab_cli",
              "learn a WordPiece vocab.txt from text files",
              "Learn a WordPiece vocab.txt from UTF-8 text files (TF-Text's learner on our "
              "normalisation)."),
    "pretrain": ("keras_bert_impl.training.pretrain_cli",
                 "pretrain BERT (MLM + NSP) with model.fit and tf.distribute",
                 "Pretrain BERT with masked LM + next sentence prediction through model.fit "
                 "under a tf.distribute strategy. The run directory is a preset at every "
                 "checkpoint; rerunning the same command resumes from the last one."),
    "convert": ("keras_bert_impl.convert.command",
                "convert a Hugging Face / Google checkpoint to our preset",
                "Convert a Hugging Face, Google or TF Model Garden BERT checkpoint (or one of "
                "ours) to our preset format: preset.json + model.safetensors + vocab.txt with "
                "its casing."),
    "finetune": ("keras_bert_impl.training.finetune_cli",
                 "fine-tune on GLUE, NER in CoNLL columns, SQuAD or a CSV",
                 "Fine-tune a preset, checkpoint or pretraining run on GLUE, CoNLL-2003 (or "
                 "any tags in CoNLL columns), SQuAD, BBC News or a CSV/TSV/JSONL file, from "
                 "raw text; keeps the epoch "
                 "with the best official metric and writes a preset with metrics.json."),
    "evaluate": ("keras_bert_impl.training.evaluate_cli",
                 "score a fine-tuned run with its task's official metric",
                 "Score a fine-tuned run with its task's official metric: one `name: value` "
                 "line per metric, and the same as JSON."),
    "fill-mask": ("keras_bert_impl.training.fill_mask_cli",
                  "guess the tokens at [MASK] with a run's masked-LM head",
                  "Guess the tokens at each [MASK] of a text with the masked-LM head of a "
                  "pretraining run or checkpoint: the top-k tokens and their probabilities, "
                  "as Hugging Face's fill-mask pipeline gives them."),
    "export": ("keras_bert_impl.export.export_cli",
               "export a fine-tuned run as a SavedModel for TF Serving",
               "Export a fine-tuned run as a SavedModel in TF Serving's layout "
               "(savedmodels/NAME/VERSION, models.config, warmup requests), with the run's "
               "TF-Text preprocessing inside."),
    "predict": ("keras_bert_impl.export.predict_cli",
                "ask an exported SavedModel; prints TF Serving's REST JSON",
                "Ask an exported SavedModel (TensorFlow and TF-Text alone, no Keras model) "
                "and print the answer as TF Serving's REST API gives it: JSON on stdout."),
}


def add_command_arguments(parser, name):
    """Imports command `name`'s module, adds its flags to `parser` and returns its `run`
    (`cli` does this for the command named on the command line, the demo for each step).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    run = add_command_arguments(parser, "vocab")
    run.__module__  # 'keras_bert_impl.text.vocab_cli'
    ```
    """
    import importlib

    module = importlib.import_module(COMMANDS[name][0])
    module.add_arguments(parser)
    for action in parser._actions:  # a flag without help still shows its default
        if action.help is None and action.default not in (None, False, argparse.SUPPRESS):
            action.help = "(default: %(default)s)"
    return module.run


def add_casing_flags(parser, default=True):
    """`--uncased` (alias `--lowercase`) / `--cased`, stored as `args.lowercase`.

    `default=None` means "read it from the checkpoint" (for commands that load one).
    """
    case = parser.add_mutually_exclusive_group()
    known = " (default)" if default is True else ""
    if default is None:
        known = " (default: neither, the checkpoint's own casing)"
    case.add_argument("--uncased", "--lowercase", dest="lowercase", action="store_true",
                      default=default,
                      help=f"uncased text: lowercase and strip accents{known}")
    known = " (default)" if default is False else ""
    case.add_argument("--cased", dest="lowercase", action="store_false",
                      help=f"cased text: keep case and accents{known}")
    return case


def add_bad_lines_flag(parser):
    """`--max-bad-lines FRACTION` (`args.max_bad_line_fraction`, default 0.1): how much of a
    corpus file's first lines may be something other than text before a command reading it
    stops (`keras_bert_impl.text.corpus_checks.check_bad_lines`)."""
    parser.add_argument(
        "--max-bad-lines", dest="max_bad_line_fraction", type=float, default=0.1,
        metavar="FRACTION", help="stop when more than FRACTION of a corpus file's first lines "
        "are not text (binary, not UTF-8, mostly [UNK]); 1.0 = no check")


# Keras dtype policies a training command takes (`keras_bert_impl.training.precision.PRECISIONS`,
# spelled out here so that building a parser imports no Keras; a test keeps them equal).
PRECISION_CHOICES = ("float32", "mixed_bfloat16", "mixed_float16")


def add_training_precision_flags(parser):
    """`--precision` (`args.precision`, a Keras dtype policy, default `float32`) and
    `--grad-accum N` (`args.grad_accum`, default 1): what a training command shares."""
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default="float32",
        help="Keras dtype policy; mixed keeps LayerNorm and softmax in float32, "
        "mixed_float16 scales the loss dynamically")
    parser.add_argument(
        "--grad-accum", type=int, default=1, metavar="N",
        help="gradient accumulation: one optimizer update per N batches (an effective batch "
        "of N x --batch-size); warmup and decay count updates")


# `--dtype` and `--quantize` values: `keras_bert_impl.models.inference.INFERENCE_DTYPES` and
# `keras_bert_impl.models.quantize.QUANTIZATION_MODES` (spelled out here so that building a
# parser imports no Keras; a test keeps them equal).
INFERENCE_DTYPE_CHOICES = ("float32", "bfloat16")
QUANTIZATION_CHOICES = ("int8",)


def add_inference_flags(parser, quantize=True):
    """`--dtype` (`float32` | `bfloat16`) and, with `quantize`, `--quantize` (`int8`): the
    model's inference variant (`keras_bert_impl.models.inference.inference_model`). Both
    default to `None`: the model as it was saved.

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser()
    add_inference_flags(parser)
    args = parser.parse_args(["--dtype", "bfloat16", "--quantize", "int8"])
    args.dtype, args.quantize  # ('bfloat16', 'int8')
    ```
    """
    parser.add_argument(
        "--dtype", choices=INFERENCE_DTYPE_CHOICES,
        help="compute dtype; bfloat16: weights and matmuls in bfloat16, LayerNorm and "
             "softmax in float32, logits returned as float32 (default: the model's own, "
             "float32 for a fine-tuned run)")
    if quantize:
        parser.add_argument(
            "--quantize", choices=QUANTIZATION_CHOICES,
            help="store the weights as int8 with a float32 scale per channel (Keras' int8 "
                 "quantization of every dense layer and the token embeddings): about 4x "
                 "smaller, outputs close to float32's (default: float weights)")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Shows `(default: VALUE)` after each flag's help, the way
    `argparse.ArgumentDefaultsHelpFormatter` does, but only where it informs: not when the help
    already says what the default is (it contains "default"), not for switches (`--overwrite`),
    and not for a default of `None` (the help says what leaving the flag out does).

    Example:

    ```python
    import argparse
    parser = argparse.ArgumentParser(formatter_class=DefaultsHelpFormatter)
    parser.add_argument("--lr", type=float, default=2e-5, help="peak learning rate")
    parser.add_argument("--overwrite", action="store_true", help="replace the run")
    " ".join(parser.format_help().split()).count("(default: 2e-05)")  # 1
    ```
    """

    def _get_help_string(self, action):
        text = action.help or ""
        if ("default" in text or not action.option_strings or action.nargs == 0
                or action.default in (None, argparse.SUPPRESS) or action.required):
            return text
        return f"{text} (default: %(default)s)"


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


class Progress:
    """A one-line progress display on stderr for a step that takes long.

    With `total`, `update(done)` draws a bar (`label [=====>    ] 12/40 3 s`); without it, the
    line shows the seconds elapsed, refreshed every second by a background thread, for steps
    that report no progress of their own (tracing and saving a SavedModel, learning
    WordPieces). It draws only when the stream is a terminal: piped or captured output (and
    stdout, which commands keep for their results) never sees it. The line is erased when the
    step ends, so an `error:` line or the result stands alone.

    Example:

    ```python
    import io
    stream = io.StringIO()  # not a terminal: nothing is drawn
    with Progress("predict", total=3, stream=stream) as progress:
        for done in range(1, 4):
            progress.update(done)
    stream.getvalue()  # ''
    ```
    """

    def __init__(self, label, total=None, stream=None, enabled=None, width=30,
                 clock=time.monotonic, interval=1.0):
        self.label, self.total, self.width = label, total, width
        self.stream = sys.stderr if stream is None else stream
        self.enabled = _is_terminal(self.stream) if enabled is None else enabled
        self.clock, self.interval = clock, interval
        self.done, self.start, self._shown = 0, None, 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        self.start = self.clock()
        self._draw()
        if self.enabled and self.total is None:
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.erase()
        return False

    def update(self, done):
        self.done = done
        self._draw()

    def text(self):
        """The line as it is drawn now."""
        elapsed = f"{self.clock() - self.start:.0f} s"
        if not self.total:
            return f"{self.label}: {elapsed}"
        share = min(max(self.done / self.total, 0.0), 1.0)
        filled = int(round(share * self.width))
        bar = "=" * filled + (">".ljust(self.width - filled) if filled < self.width else "")
        return f"{self.label} [{bar}] {self.done:,}/{self.total:,} {elapsed}"

    def erase(self):
        with self._lock:
            if self.enabled and self._shown:
                self.stream.write("\r" + " " * self._shown + "\r")
                self.stream.flush()
                self._shown = 0

    def _draw(self):
        if not self.enabled:
            return
        with self._lock:
            line = self.text()
            self.stream.write("\r" + line.ljust(self._shown))
            self.stream.flush()
            self._shown = len(line)

    def _tick(self):
        while not self._stop.wait(self.interval):
            self._draw()
