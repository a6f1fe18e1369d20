"""`keras-bert convert --from DIR --to DIR`: any supported checkpoint -> our preset format.

Reads a Hugging Face directory, a Google or TF Model Garden checkpoint directory or one of
our presets (format detected from the files), builds the requested model with its weights,
and writes our preset (config + `model.safetensors` + `vocab.txt` and casing) that
`from_preset(out_dir)` reloads.

`--to` must be new, empty or (with `--overwrite`) an existing preset; a non-empty directory
that is not one of our presets (a Hugging Face directory, say) is refused unless
`--overwrite`, which replaces only our three files there. `--to` is never the `--from`
directory, nor one holding it. All of this is checked before the (slow) conversion, and the
preset is written into a temp directory beside `--to` and renamed into place.
"""

import os

from keras_bert_impl.flags import add_casing_flags

MODELS = ("encoder", "pretrainer", "classifier", "token_classifier", "span_labeler")
ACCEPTED = (
    "a Hugging Face directory (config.json + model.safetensors or pytorch_model.bin), a "
    "Google or TF Model Garden checkpoint directory (bert_config.json + "
    "bert_model.ckpt.index/.data-*), one of "
    "our presets (preset.json + model.safetensors), a preset name with weights ({names}) or "
    "an 'hf://owner/repo' handle"
)


def add_arguments(parser):
    parser.add_argument("--from", dest="source", required=True,
                        help="checkpoint directory (Hugging Face, Google, Model Garden or ours) "
                        "or hub name")
    parser.add_argument("--to", dest="target", required=True,
                        help="output preset directory (new or empty, see --overwrite)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the preset already in --to, or our preset files "
                             "(model.safetensors, preset.json, vocab.txt) in a non-empty "
                             "--to; its other files are kept. Never allowed onto --from")
    parser.add_argument("--model", choices=MODELS, default="encoder",
                        help="which model to build and save (default: encoder)")
    parser.add_argument("--num-classes", type=int, default=None,
                        help="classes of a classifier / token classifier (default: from the "
                             "checkpoint's config)")
    add_casing_flags(parser, default=None)  # default: the checkpoint's casing
    parser.add_argument("--no-vocab", action="store_true",
                        help="convert without a vocabulary (otherwise a missing vocab is an error)")


def check_paths(source, target, overwrite=False):
    """Raises before any conversion when `--from`/`--to` cannot work or would lose data.

    Example:

    ```python
    try:
        check_paths("bert_tiny", "out")
    except ValueError as error:
        print(error)  # an architecture name has no weights to convert; lists what --from takes
    ```
    """
    from keras_bert_impl.config import PRESETS
    from keras_bert_impl.presets import list_presets
    from keras_bert_impl.presets.ours import check_preset_target

    source, target = os.fspath(source), os.fspath(target)
    if source in PRESETS and not os.path.isdir(source):
        raise ValueError(
            f"--from {source} is an architecture name (a size; its weights would be random), "
            f"so there are no weights to convert. --from takes "
            + ACCEPTED.format(names=", ".join(sorted(list_presets())))
            + f". (An untrained model in our format: "
            f"BertEncoder.from_preset({source!r}).save_to_preset(DIR).)"
        )
    if os.path.exists(source):
        real_source, real_target = os.path.realpath(source), os.path.realpath(target)
        if real_target == real_source or real_source.startswith(real_target.rstrip(os.sep)
                                                                 + os.sep):
            where = "is the --from directory" if real_target == real_source else (
                f"holds the --from directory {source}")
            raise ValueError(
                f"--to {target} {where}: convert never writes over its source. Choose another "
                "--to directory."
            )
    check_preset_target(target, overwrite=overwrite)


def run(args):
    from keras_bert_impl.models import (
        BertClassifier,
        BertEncoder,
        BertPretrainer,
        BertSpanLabeler,
        BertTokenClassifier,
    )
    from keras_bert_impl.presets import resolve_tokenizer_spec

    overwrite = getattr(args, "overwrite", False)
    check_paths(args.source, args.target, overwrite=overwrite)
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
    # The whole preset goes to a temp directory beside --to, then is renamed into place.
    model.save_to_preset(args.target, overwrite=overwrite)
    params = model.count_params()
    print(f"Converted {args.source} -> {args.target}: {type(model).__name__}, "
          f"{params:,} parameters, tokenizer "
          + ("none" if spec is None else f"lowercase={spec.lowercase} from {spec.source}"))
    return 0
