"""`keras-bert vocab`: learn a WordPiece vocab.txt from text files.

Example: `keras-bert vocab --corpus "data/*.txt" --size 8000 --out vocab.txt`.

While words are counted it prints a progress line every `--progress-every` seconds (lines
and bytes read, the share of the corpus, words and distinct words), then a summary line
before and after learning the pieces; while the pieces are learned (no measurable progress)
a line on stderr shows the seconds elapsed, when stderr is a terminal. A corpus without any
text (empty or whitespace-only files) is a `ValueError` naming the files, raised before any
word is counted; so is one whose files start with more than `--max-bad-lines` (10%) of lines
that are not text (binary, not UTF-8: `corpus_checks.check_bad_lines`, as `keras-bert
pretrain` checks its corpus), which would otherwise become a vocabulary of byte soup. Building
the parser imports nothing heavy; TensorFlow is imported by `run`.
"""


from keras_bert_impl.flags import Progress, add_bad_lines_flag, add_casing_flags


def add_arguments(parser):
    parser.add_argument("--corpus", required=True, action="append",
                        help="glob of UTF-8 text files (repeat the flag for several globs)")
    parser.add_argument("--size", required=True, type=int, help="target vocabulary size")
    add_casing_flags(parser)
    parser.add_argument("--out", required=True, help="path of the vocab.txt to write")
    add_bad_lines_flag(parser)
    parser.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                        help="print a counting progress line every SECONDS; 0 = after every "
                             "batch of lines")


def _size(n):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return None  # unreachable


class _Progress:
    """Prints counting progress at most every `every` seconds (`learn_vocab(progress=...)`)."""

    def __init__(self, total_bytes, every, clock, vocab_size):
        self.total_bytes, self.every, self.clock = total_bytes, every, clock
        self.vocab_size = vocab_size
        self.start = self.last = clock()
        self.counted = None  # when counting ended
        self.totals = (0, 0, 0, 0)
        self.learning = Progress(f"keras-bert vocab: learning {vocab_size:,} WordPieces")

    def __call__(self, lines, size, words, distinct, done=False):
        # `size` counts the lines' bytes without their newlines; add them for the share.
        self.totals = (lines, size + lines, words, distinct)
        now = self.clock()
        if done:
            self.counted = now
            print(f"keras-bert vocab: counted: {self.describe()}; now learning "
                  f"{self.vocab_size:,} WordPieces from them (minutes for a large corpus)",
                  flush=True)
            self.learning.__enter__()  # seconds elapsed on a terminal, until `run` ends it
        elif now - self.last >= self.every:
            self.last = now
            print(f"keras-bert vocab: {self.describe()}", flush=True)

    def describe(self):
        lines, size, words, distinct = self.totals
        share = f" ({min(size / self.total_bytes, 1):.0%})" if self.total_bytes else ""
        return (f"read {lines:,} lines, {_size(size)} of {_size(self.total_bytes)}{share}; "
                f"{words:,} words ({distinct:,} distinct); {self.clock() - self.start:.0f} s")


def _check_has_text(samples):
    """Raises `ValueError` naming the files when none holds any text, from their
    `corpus_checks.sample_file` samples (the start of each file)."""
    from keras_bert_impl.text.corpus_checks import SAMPLE_BYTES

    if any(sample.has_text or sample.size > SAMPLE_BYTES for sample in samples):
        return
    empty = [f"{s.path} ({'empty' if not s.size else 'whitespace only'})" for s in samples]
    shown = ", ".join(empty[:5]) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
    raise ValueError(f"keras-bert vocab: the corpus holds no text: {len(samples)} file(s) "
                     f"matched ({shown}); a vocabulary is learned from UTF-8 text files.")


def run(args):
    import glob
    import os
    import time

    files = []
    for pattern in args.corpus:
        matched = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matched:
            raise SystemExit(f"keras-bert vocab: --corpus {pattern!r} matches no files.")
        files += matched
    from keras_bert_impl.text.corpus_checks import check_bad_lines, sample_file

    samples = [sample_file(path) for path in files]  # the start of each file, read once
    _check_has_text(samples)
    check_bad_lines(samples, args.max_bad_line_fraction, parameter=None)
    total = sum(os.path.getsize(f) for f in files)
    print(f"keras-bert vocab: counting words in {len(files):,} file(s), {_size(total)} "
          f"({'uncased' if args.lowercase else 'cased'})", flush=True)

    import tensorflow as tf

    from keras_bert_impl.text.vocab import learn_vocab

    progress = _Progress(total, args.progress_every, time.monotonic, args.size)
    lines = tf.data.TextLineDataset(files)
    try:
        tokens = learn_vocab(lines, args.size, lowercase=args.lowercase, out_path=args.out,
                             progress=progress)
    finally:
        progress.learning.__exit__(None, None, None)
    now = time.monotonic()
    fewer = (f" (fewer than --size {args.size:,}: the corpus has no more distinct pieces)"
             if len(tokens) < args.size else "")
    print(f"keras-bert vocab: wrote {len(tokens):,} tokens{fewer} to {args.out} from "
          f"{len(files):,} file(s) in {now - progress.start:.0f} s (counting "
          f"{progress.counted - progress.start:.0f} s, learning {now - progress.counted:.0f} s)")
    return 0
