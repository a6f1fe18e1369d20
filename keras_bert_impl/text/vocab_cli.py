"""`keras-bert vocab`: learn a WordPiece vocab.txt from text files.

Example: `keras-bert vocab --corpus "data/*.txt" --size 8000 --out vocab.txt`.
"""


from keras_bert_impl.flags import add_casing_flags


def add_arguments(parser):
    parser.add_argument("--corpus", required=True, action="append",
                        help="glob of UTF-8 text files (repeat the flag for several globs)")
    parser.add_argument("--size", required=True, type=int, help="target vocabulary size")
    add_casing_flags(parser)
    parser.add_argument("--out", required=True, help="path of the vocab.txt to write")


def run(args):
    import glob
    import os

    files = []
    for pattern in args.corpus:
        matched = sorted(p for p in glob.glob(pattern) if os.path.isfile(p))
        if not matched:
            raise SystemExit(f"keras-bert vocab: --corpus {pattern!r} matches no files.")
        files += matched

    import tensorflow as tf

    from keras_bert_impl.text.vocab import learn_vocab

    lines = tf.data.TextLineDataset(files).filter(lambda line: tf.strings.length(line) > 0)
    try:
        tokens = learn_vocab(lines, args.size, lowercase=args.lowercase, out_path=args.out)
    except ValueError as error:
        raise SystemExit(f"keras-bert vocab: {error}") from error
    print(f"wrote {len(tokens)} tokens to {args.out} from {len(files)} file(s)")
    return 0
