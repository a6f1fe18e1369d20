"""The one front door: load any BERT directory or preset name, save our own presets.

`load_preset(path_or_name, model_cls)` accepts

* an **architecture name** of `keras_bert_impl.config.PRESETS` (`"bert_tiny"` ...): an
  untrained model of that size;
* a **local directory** in one of three formats, detected from its files:
  - ours (`preset.json` + `model.safetensors` [+ `vocab.txt`]), written by `save_preset`;
  - Hugging Face (`config.json` + `model.safetensors` or `pytorch_model.bin`);
  - Google's original checkpoints (`bert_config.json` + `bert_model.ckpt.index`);
  anything else raises an error listing the files that were found;
* a **hub name** (`"bert_base_en_uncased"`, ... see `HUB_PRESETS`) or `"hf://owner/repo"`:
  looked up first in the local preset cache (`$KERAS_BERT_PRESETS`, default
  `~/.cache/keras_bert_impl/presets/<name>/`), then downloaded from the Hugging Face hub when
  `huggingface_hub` is installed and the network is there; otherwise the error says which
  files to place in which directory.

Our own format stores weights under our canonical names (see `convert.weights`) in
`model.safetensors`, so any of our models loads from any of our presets (an encoder from a
pretrainer's preset, a classifier from an encoder's preset with a fresh head). Writes are
atomic per file and `preset.json` is written last: a preset interrupted mid-write is not
detected as one.

The tokenizer side: `resolve_tokenizer_spec(path)` finds the vocabulary (`vocab.txt`, or the
WordPiece vocab inside `tokenizer.json`) and the casing (`do_lower_case` of
`tokenizer_config.json`, our `preset.json`, the normaliser in `tokenizer.json`, or the
vocabulary itself) and warns when the casing contradicts the checkpoint (a `cased` name with
a lowercasing tokenizer, a vocabulary with capitals read by a lowercasing tokenizer, ...).

Example:

```python
import os, tempfile
from keras_bert_impl.convert.presets import detect_format, load_preset, save_preset
from keras_bert_impl.models import BertEncoder

encoder = load_preset("bert_tiny", BertEncoder)          # untrained, by architecture name
path = os.path.join(tempfile.mkdtemp(), "tiny")
save_preset(encoder, path)
detect_format(path).kind  # 'keras_bert_impl'
restored = load_preset(path, BertEncoder)
```
"""

import dataclasses
import json
import os
import warnings

import numpy as np

from keras_bert_impl.config import PRESETS, BertConfig
from keras_bert_impl.convert.weights import assign_weights, extract_weights

PRESET_FILE = "preset.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
FORMAT_NAME = "keras_bert_impl"
FORMAT_VERSION = 1

# Hub names (keras-hub's spelling) -> the Hugging Face repository holding the same weights.
HUB_PRESETS = {
    "bert_tiny_en_uncased": "google/bert_uncased_L-2_H-128_A-2",
    "bert_small_en_uncased": "google/bert_uncased_L-4_H-512_A-8",
    "bert_medium_en_uncased": "google/bert_uncased_L-8_H-512_A-8",
    "bert_base_en_uncased": "google-bert/bert-base-uncased",
    "bert_base_en": "google-bert/bert-base-cased",
    "bert_large_en_uncased": "google-bert/bert-large-uncased",
    "bert_large_en": "google-bert/bert-large-cased",
    "bert_base_multi": "google-bert/bert-base-multilingual-cased",
}
HUB_FILES = [
    "config.json",
    "model.safetensors",
    "pytorch_model.bin",
    "vocab.txt",
    "tokenizer_config.json",
    "tokenizer.json",
]


# --- models --------------------------------------------------------------------------------
def _model_classes():
    from keras_bert_impl.models.classifier import BertClassifier
    from keras_bert_impl.models.encoder import BertEncoder
    from keras_bert_impl.models.pretrainer import BertPretrainer
    from keras_bert_impl.models.span_labeler import BertSpanLabeler
    from keras_bert_impl.models.token_classifier import BertTokenClassifier

    return {
        cls.__name__: cls
        for cls in (
            BertEncoder,
            BertPretrainer,
            BertClassifier,
            BertTokenClassifier,
            BertSpanLabeler,
        )
    }


def build_model(model_cls, config, encoder_weights_follow=False, **model_kwargs):
    """A fresh `model_cls` of `config` (task models get a new `BertEncoder` inside).

    `encoder_weights_follow=True` (loaders, which always overwrite every encoder weight or
    fail) skips drawing random encoder weights; heads keep their real initialisation, since a
    checkpoint may lack them.
    """
    from keras_bert_impl.layers.initializers import weights_will_be_loaded
    from keras_bert_impl.models.encoder import BertEncoder

    def new_encoder():
        if not encoder_weights_follow:
            return BertEncoder(config)
        with weights_will_be_loaded():
            return BertEncoder(config)

    if model_cls is BertEncoder:
        if model_kwargs:
            raise TypeError(f"BertEncoder takes no model arguments, got {sorted(model_kwargs)}.")
        return new_encoder()
    if model_cls.__name__ not in _model_classes():
        raise TypeError(
            f"Cannot load weights into {model_cls!r}; supported models are "
            f"{sorted(_model_classes())}."
        )
    return model_cls(new_encoder(), **model_kwargs)


# --- format detection ----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DetectedPreset:
    """What `detect_format` found: `kind` is `keras_bert_impl`, `huggingface` or `google`."""

    kind: str
    path: str


def detect_format(path):
    """Detects the checkpoint format of directory `path` from its files.

    Raises `FileNotFoundError` when `path` is not a directory and `ValueError` listing the
    files found when no supported format matches.
    """
    if not os.path.isdir(path):
        raise FileNotFoundError(f"BERT preset directory not found: {path}")
    files = sorted(os.listdir(path))
    has = set(files).__contains__
    if has(PRESET_FILE):
        return DetectedPreset(FORMAT_NAME, path)
    if has("config.json") and (has("model.safetensors") or has("pytorch_model.bin")):
        return DetectedPreset("huggingface", path)
    if has("bert_config.json") and any(f.endswith(".index") for f in files):
        return DetectedPreset("google", path)
    hints = []
    if has("config.json") and has("model.weights.h5"):
        hints.append(
            "this looks like a keras-hub preset (config.json + model.weights.h5), which is "
            "not supported; load it with keras_hub and save it with transformers, or convert "
            "the original Hugging Face or Google files instead"
        )
    elif has("config.json"):
        hints.append("config.json is there but no model.safetensors / pytorch_model.bin")
    if any(f.endswith(".index.json") for f in files):
        hints.append("sharded Hugging Face checkpoints (*.index.json) are not supported")
    if has("bert_config.json"):
        hints.append("bert_config.json is there but no bert_model.ckpt.index")
    shown = files[:30] + (["..."] if len(files) > 30 else [])
    raise ValueError(
        f"{path} is not a BERT checkpoint directory; found files {shown}. Expected one of: "
        f"our preset ({PRESET_FILE} + {WEIGHTS_FILE}), Hugging Face (config.json + "
        f"model.safetensors or pytorch_model.bin), Google (bert_config.json + "
        f"bert_model.ckpt.index/.data-*)." + ("".join(f" Note: {h}." for h in hints))
    )


# --- hub names -----------------------------------------------------------------------------
def preset_cache_dir():
    """Where named presets are looked up and downloaded to (`$KERAS_BERT_PRESETS`)."""
    return os.environ.get(
        "KERAS_BERT_PRESETS",
        os.path.join(os.path.expanduser("~"), ".cache", "keras_bert_impl", "presets"),
    )


def resolve_preset_path(name):
    """A local directory for `name`: the directory itself, the cache, or a hub download."""
    if os.path.isdir(name):
        return name
    if name.startswith("hf://"):
        repo, local_name = name[len("hf://"):], name[len("hf://"):].replace("/", "--")
    elif name in HUB_PRESETS:
        repo, local_name = HUB_PRESETS[name], name
    elif os.sep in name or "/" in name or name.startswith("."):
        raise FileNotFoundError(f"BERT preset directory not found: {name}")
    else:
        raise ValueError(
            f"{name!r} is neither a directory, an architecture name ({sorted(PRESETS)}), a hub "
            f"preset ({sorted(HUB_PRESETS)}) nor an 'hf://owner/repo' handle."
        )
    cached = os.path.join(preset_cache_dir(), local_name)
    if os.path.isdir(cached) and os.listdir(cached):
        return cached
    url = f"https://huggingface.co/{repo}"
    place = (
        f"Download config.json, model.safetensors (or pytorch_model.bin), vocab.txt and "
        f"tokenizer_config.json from {url} and place them in {cached}/ (or set "
        f"KERAS_BERT_PRESETS), or pass the directory's path to from_preset()."
    )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise FileNotFoundError(
            f"Preset {name!r} is not on this machine and huggingface_hub is not installed to "
            f"download it. {place}"
        ) from None
    try:
        return snapshot_download(repo, allow_patterns=HUB_FILES, local_dir=cached)
    except Exception as e:  # offline, repository missing, hub errors of every kind
        raise FileNotFoundError(
            f"Preset {name!r} is not on this machine and downloading {url} failed "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). {place}"
        ) from e


# --- loading -------------------------------------------------------------------------------
def read_preset_file(path):
    preset_path = os.path.join(path, PRESET_FILE)
    try:
        with open(preset_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{preset_path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{preset_path} is not a {FORMAT_NAME} preset (no 'format' key).")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{preset_path} has format_version {meta['format_version']}; this version of "
            f"keras_bert_impl reads up to {FORMAT_VERSION}. Upgrade keras_bert_impl."
        )
    return meta


def _load_own(path, model_cls, config_overrides, model_kwargs):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    meta = read_preset_file(path)
    try:
        config = BertConfig.from_dict(meta["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"Invalid config in {os.path.join(path, PRESET_FILE)}: {e}") from e
    if config_overrides:
        config = config.replace(**config_overrides)
    if meta.get("model_class") == model_cls.__name__:
        model_kwargs = {**meta.get("model_kwargs", {}), **model_kwargs}
    weights_path = os.path.join(path, meta.get("weights", WEIGHTS_FILE))
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"{weights_path} (named in {PRESET_FILE}) does not exist.")
    try:
        weights = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"Cannot read {weights_path} (truncated?): {e}") from e
    model = build_model(model_cls, config, encoder_weights_follow=True, **model_kwargs)
    assign_weights(model, weights, source=weights_path)
    return model


def load_preset(path_or_name, model_cls, config_overrides=None, **model_kwargs):
    """Builds `model_cls` from an architecture name, a hub name or a directory (any format).

    Args:
        path_or_name: see the module docstring.
        model_cls: `BertEncoder`, `BertPretrainer`, `BertClassifier`, `BertTokenClassifier`
            or `BertSpanLabeler`.
        config_overrides: `BertConfig` fields to change (e.g. `{"dropout": 0.0}`).
        **model_kwargs: task-model arguments (`num_classes`, `dropout`).

    Returns:
        The model, with every weight of the checkpoint loaded (heads the checkpoint lacks keep
        their initial values, with a warning). Nothing is returned when loading fails.
    """
    config_overrides = dict(config_overrides or {})
    if isinstance(path_or_name, str) and path_or_name in PRESETS and not os.path.isdir(
        path_or_name
    ):
        return build_model(
            model_cls, BertConfig.from_preset(path_or_name, **config_overrides), **model_kwargs
        )
    path = resolve_preset_path(os.fspath(path_or_name))
    kind = detect_format(path).kind
    if kind == FORMAT_NAME:
        return _load_own(path, model_cls, config_overrides, model_kwargs)
    if kind == "huggingface":
        from keras_bert_impl.convert.huggingface import load_huggingface_model

        return load_huggingface_model(path, model_cls, config_overrides, **model_kwargs)
    from keras_bert_impl.convert.google_checkpoint import load_google_checkpoint

    return load_google_checkpoint(path, model_cls, config_overrides, **model_kwargs)


# --- saving --------------------------------------------------------------------------------
def _atomic_write_text(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _model_kwargs(model):
    config = model.get_config()
    return {k: config[k] for k in ("num_classes", "dropout") if k in config}


def save_preset(model, preset_dir, tokenizer=None):
    """Writes `model` in our preset format (config + weights [+ vocab and casing]).

    Args:
        model: any of our models.
        preset_dir: target directory (created; existing preset files are replaced).
        tokenizer: optional `TokenizerSpec`, a directory to resolve one from, or an object
            with `vocabulary` (list or path) and `lowercase` attributes (our `BertTokenizer`).
    """
    from safetensors.numpy import save_file

    from keras_bert_impl.convert.weights import find_encoder

    os.makedirs(preset_dir, exist_ok=True)
    weights = extract_weights(model)
    weights_path = os.path.join(preset_dir, WEIGHTS_FILE)
    tmp = f"{weights_path}.tmp-{os.getpid()}"
    save_file(
        {k: np.ascontiguousarray(v) for k, v in weights.items()},
        tmp,
        metadata={"format": FORMAT_NAME},
    )
    os.replace(tmp, weights_path)
    tokenizer_meta = None
    if tokenizer is not None:
        spec = _as_tokenizer_spec(tokenizer)
        _atomic_write_text(os.path.join(preset_dir, VOCAB_FILE), "\n".join(spec.tokens()) + "\n")
        tokenizer_meta = {"vocabulary": VOCAB_FILE, "lowercase": spec.lowercase}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "model_kwargs": _model_kwargs(model),
        "config": find_encoder(model).config.to_dict(),
        "weights": WEIGHTS_FILE,
        "tokenizer": tokenizer_meta,
    }
    _atomic_write_text(
        os.path.join(preset_dir, PRESET_FILE), json.dumps(meta, indent=2, sort_keys=True) + "\n"
    )
    return preset_dir


# --- tokenizer -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class TokenizerSpec:
    """What a tokenizer needs from a checkpoint directory.

    `vocabulary` is a `vocab.txt` path or a list of tokens (index = id); `lowercase` the
    casing; `source` names the file(s) both came from.

    Example:

    ```python
    spec = TokenizerSpec(["[PAD]", "[UNK]", "the"], lowercase=True, source="inline")
    spec.tokens()  # ['[PAD]', '[UNK]', 'the']
    ```
    """

    vocabulary: object
    lowercase: bool
    source: str

    def tokens(self):
        """The vocabulary as a list of tokens."""
        if isinstance(self.vocabulary, (list, tuple)):
            return list(self.vocabulary)
        return read_vocab_file(self.vocabulary)


def read_vocab_file(path):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Vocabulary file not found: {path}")
    with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n").rstrip("\r") for line in f]
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise ValueError(f"Vocabulary file {path} is empty.")
    return tokens


def vocab_from_tokenizer_json(path):
    """The WordPiece vocabulary (list, index = id) inside a HF `tokenizer.json`."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e
    model = data.get("model") or {}
    if model.get("type") != "WordPiece" or not isinstance(model.get("vocab"), dict):
        raise ValueError(
            f"{path} does not hold a WordPiece vocabulary (model.type is "
            f"{model.get('type')!r}); BERT needs WordPiece."
        )
    vocab = model["vocab"]
    tokens = [None] * len(vocab)
    for token, index in vocab.items():
        if not 0 <= index < len(tokens) or tokens[index] is not None:
            raise ValueError(f"{path}: WordPiece ids are not 0..{len(vocab) - 1} without gaps.")
        tokens[index] = token
    return tokens, (data.get("normalizer") or {}).get("lowercase")


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {}


def _casing_hints(path, kind):
    """Names that say `cased`/`uncased`: the directory name and HF's `_name_or_path`."""
    hints = [os.path.basename(os.path.normpath(path))]
    if kind == "huggingface":
        hints.append(str(_read_json(os.path.join(path, "config.json")).get("_name_or_path", "")))
    return [h for h in hints if h]


def _hint_casing(text):
    text = text.lower()
    if "uncased" in text:
        return True
    if "cased" in text:
        return False
    return None


def _vocab_is_cased(tokens):
    words = [t for t in tokens if not (t.startswith("[") and t.endswith("]"))]
    capitalised = sum(1 for t in words if any(c.isupper() for c in t))
    return capitalised > max(10, 0.01 * len(words)), capitalised


def resolve_tokenizer_spec(path, lowercase=None, warn=True):
    """The vocabulary and casing of the checkpoint in `path` (any supported format).

    Args:
        path: a preset directory (or name, resolved like `load_preset`), or a folder holding
            just a tokenizer (`vocab.txt` or `tokenizer.json`, optional
            `tokenizer_config.json`).
        lowercase: force the casing; by default it is read from the directory.
        warn: warn when the casing contradicts the checkpoint's name, its config or its
            vocabulary (an uncased tokenizer on a cased vocabulary loses every capitalised
            token; a cased tokenizer on an uncased vocabulary turns capitals into `[UNK]`).

    Raises `FileNotFoundError` naming the files looked for when there is no vocabulary.
    """
    path = resolve_preset_path(os.fspath(path))
    try:
        kind = detect_format(path).kind
    except ValueError:
        # A tokenizer-only folder (vocab.txt or tokenizer.json, maybe tokenizer_config.json).
        if not any(os.path.isfile(os.path.join(path, f)) for f in (VOCAB_FILE, "tokenizer.json")):
            raise
        kind = "tokenizer"
    vocabulary, found_lowercase, source = None, None, None
    if kind == FORMAT_NAME:
        meta = read_preset_file(path).get("tokenizer") or {}
        if meta.get("vocabulary"):
            vocabulary = os.path.join(path, meta["vocabulary"])
            found_lowercase = meta.get("lowercase")
            source = os.path.join(path, PRESET_FILE)
    else:
        vocab_path = os.path.join(path, VOCAB_FILE)
        tokenizer_json = os.path.join(path, "tokenizer.json")
        if os.path.isfile(vocab_path):
            vocabulary, source = vocab_path, vocab_path
        elif os.path.isfile(tokenizer_json):
            vocabulary, found_lowercase = vocab_from_tokenizer_json(tokenizer_json)
            source = tokenizer_json
        tokenizer_config = os.path.join(path, "tokenizer_config.json")
        if "do_lower_case" in _read_json(tokenizer_config):
            found_lowercase = bool(_read_json(tokenizer_config)["do_lower_case"])
            source = f"{source} + {tokenizer_config}"
    if vocabulary is None:
        looked_for = (
            f"a 'tokenizer' entry in {PRESET_FILE}"
            if kind == FORMAT_NAME
            else f"{VOCAB_FILE} or tokenizer.json"
        )
        raise FileNotFoundError(
            f"No vocabulary in {path}: looked for {looked_for}. Place the checkpoint's "
            f"{VOCAB_FILE} there (it must be the one the model was trained with)."
        )
    tokens = vocabulary if isinstance(vocabulary, list) else read_vocab_file(vocabulary)
    vocab_cased, capitalised = _vocab_is_cased(tokens)
    name_hints = {h: _hint_casing(h) for h in _casing_hints(path, kind)}
    if lowercase is None:
        lowercase = found_lowercase
    if lowercase is None:
        named = [v for v in name_hints.values() if v is not None]
        lowercase = named[0] if named else not vocab_cased
    if warn:
        problems = []
        for hint, hint_lower in name_hints.items():
            if hint_lower is not None and hint_lower != lowercase:
                problems.append(
                    f"the checkpoint is named {hint!r} ({'uncased' if hint_lower else 'cased'})"
                )
        if lowercase and vocab_cased:
            problems.append(
                f"the vocabulary has {capitalised} capitalised tokens (a cased vocabulary), "
                f"which a lowercasing tokenizer can never produce"
            )
        if not lowercase and not vocab_cased:
            problems.append(
                "the vocabulary has no capitalised tokens (an uncased vocabulary), so "
                "capitalised words would become [UNK] or split oddly"
            )
        if problems:
            warnings.warn(
                f"Tokenizer casing for {path} is lowercase={lowercase}, but "
                + "; and ".join(problems)
                + f". The tokenizer must match the model's training: pass lowercase="
                f"{not lowercase} if the model is {'cased' if lowercase else 'uncased'}.",
                stacklevel=2,
            )
    return TokenizerSpec(vocabulary=vocabulary, lowercase=bool(lowercase), source=source)


def _as_tokenizer_spec(tokenizer):
    if isinstance(tokenizer, TokenizerSpec):
        return tokenizer
    if isinstance(tokenizer, (str, os.PathLike)):
        return resolve_tokenizer_spec(tokenizer)
    vocabulary = getattr(tokenizer, "vocabulary", None)
    lowercase = getattr(tokenizer, "lowercase", None)
    if vocabulary is None or lowercase is None:
        raise TypeError(
            f"tokenizer must be a TokenizerSpec, a checkpoint directory or an object with "
            f"`vocabulary` and `lowercase` attributes; got {tokenizer!r}."
        )
    if not isinstance(vocabulary, (str, os.PathLike)):
        vocabulary = list(vocabulary)
    return TokenizerSpec(vocabulary=vocabulary, lowercase=bool(lowercase), source=repr(tokenizer))


def load_tokenizer(path, lowercase=None, **kwargs):
    """Our `keras_bert_impl.text.BertTokenizer` for the checkpoint in `path`.

    `kwargs` go to the tokenizer's constructor.
    """
    try:
        from keras_bert_impl.text import BertTokenizer
    except ImportError as e:
        raise ImportError(
            "keras_bert_impl.text.BertTokenizer is not available in this installation."
        ) from e
    spec = resolve_tokenizer_spec(path, lowercase=lowercase)
    vocabulary = spec.vocabulary if isinstance(spec.vocabulary, str) else spec.tokens()
    return BertTokenizer(vocabulary=vocabulary, lowercase=spec.lowercase, **kwargs)
