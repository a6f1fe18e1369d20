"""`keras-bert convert --from DIR --to DIR`: any supported checkpoint -> our preset format.

Reads a Hugging Face directory, a Google checkpoint directory or one of our presets (format
detected from the files), builds the requested model with its weights, and writes our preset
(config + `model.safetensors` + `vocab.txt` and casing) that `from_preset(out_dir)` reloads.
"""

from keras_bert_impl.flags import add_casing_flags

MODELS = ("encoder", "pretrainer", "classifier", "token_classifier", "span_labeler")


def add_arguments(parser):
    parser.add_argument("--from", dest="source", required=True,
                        help="checkpoint directory (Hugging Face, Google or ours) or hub name")
    parser.add_argument("--to", dest="target", required=True, help="output preset directory")
    parser.add_argument("--model", choices=MODELS, default="encoder",
                        help="which model to build and save (default: encoder)")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classes of a classifier / token classifier (default: from the "
                             "checkpoint's config)")
    add_casing_flags(parser, default=None)  # default: the checkpoint's casing
    parser.add_argument("--no-vocab", action="store_true",
                        help="convert without a vocabulary (otherwise a missing vocab is an error)")


def run(args):
    from keras_bert_impl.models import (
        BertClassifier,
        BertEncoder,
        BertPretrainer,
        BertSpanLabeler,
        BertTokenClassifier,
    )
    from keras_bert_impl.presets import resolve_tokenizer_spec

    model_cls = {
        "encoder": BertEncoder,
        "pretrainer": BertPretrainer,
        "classifier": BertClassifier,
        "token_classifier": BertTokenClassifier,
        "span_labeler": BertSpanLabeler,
    }[args.model]
    kwargs = {}
    if args.num_classes is not None:
        kwargs["num_classes"] = args.num_classes
    # The tokenizer first: a missing vocab fails before the (slow) weight conversion.
    spec = None if args.no_vocab else resolve_tokenizer_spec(args.source, lowercase=args.lowercase)
    model = model_cls.from_preset(args.source, **kwargs)
    model.tokenizer_spec = spec
    model.save_to_preset(args.target)
    params = model.count_params()
    print(f"Converted {args.source} -> {args.target}: {type(model).__name__}, "
          f"{params:,} parameters, tokenizer "
          + ("none" if spec is None else f"lowercase={spec.lowercase} from {spec.source}"))
    return 0
