"""The tokenizer side of a checkpoint: its vocabulary and its casing, as data.

`resolve_tokenizer_spec(path)` finds the vocabulary (`vocab.txt`, or the WordPiece vocab
inside `tokenizer.json`) and the casing (`do_lower_case` of `tokenizer_config.json`, our
`preset.json`, the normaliser in `tokenizer.json`, or the vocabulary itself) and warns when
the casing contradicts the checkpoint (a `cased` name with a lowercasing tokenizer, a
vocabulary with capitals read by a lowercasing tokenizer, ...). It returns a
`TokenizerSpec`; `keras_bert_impl.text.BertTokenizer.from_preset` builds the tokenizer.

Our own presets store the casing (`preset.json`'s `tokenizer.lowercase`), so it is read,
never guessed, for them and for pretraining runs.

Example:

```python
import os, tempfile
folder = tempfile.mkdtemp()
with open(os.path.join(folder, "vocab.txt"), "w") as f:
    f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello"]))
spec = resolve_tokenizer_spec(folder)
spec.lowercase, len(spec.tokens())  # (True, 6)
```
"""

import collections
import dataclasses
import json
import os
import warnings

from keras_bert_impl.presets.detect import detect_format
from keras_bert_impl.presets.hub import resolve_preset_path
from keras_bert_impl.presets.model_garden import saved_model_lowercase
from keras_bert_impl.presets.ours import PRESET_FILE, VOCAB_FILE, read_preset_file
from keras_bert_impl.user_files import open_text


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


VOCAB_FILE_KIND = "a vocab.txt (UTF-8, one WordPiece token per line)"


def read_vocab_file(path):
    """The tokens of a `vocab.txt`, one a line, in id order (trailing blank lines dropped); a
    missing, empty or non-UTF-8 file is an error naming it."""
    with open_text(path, VOCAB_FILE_KIND) as f:
        tokens = f.read().split("\n")
    while tokens and tokens[-1] == "":
        tokens.pop()
    if not tokens:
        raise ValueError(f"The vocabulary file {path} is empty; pass {VOCAB_FILE_KIND}.")
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


class VocabCasing(collections.namedtuple("VocabCasing", "casing capitalised words")):
    """What a vocabulary says about its casing (see `vocab_casing`).

    Example:

    ```python
    casing = VocabCasing("cased", 4210, 28991)
    casing.evidence  # '4,210 of 28,991 tokens have capitals'
    ```
    """

    __slots__ = ()

    @property
    def evidence(self):
        """E.g. `"4,210 of 28,996 tokens have capitals"` (special `[...]` tokens not counted)."""
        return f"{self.capitalised:,} of {self.words:,} tokens have capitals"


def vocab_casing(tokens):
    """Reads a vocabulary's casing off its tokens: `VocabCasing(casing, capitalised, words)`.

    `casing` is `"cased"` when more than max(10, 1%) of the word tokens (all but the special
    `[...]` ones) have a capital letter, `"uncased"` when there are at least 1,000 word tokens
    and at most 0.1% of them have one (an uncased vocabulary keeps a few letters that have no
    lowercase, like `ℝ`), and `None` when the vocabulary is too small or too mixed to tell (a
    small test vocabulary is `None` unless more than 10 of its tokens are capitalised).
    Released cased BERT vocabularies have thousands of capitalised tokens; the uncased ones
    (the Hugging Face MiniLM: 2 of 29,523) are `"uncased"`.

    Example:

    ```python
    words = ["the", "cat", "London", "Paris", "Monday"]
    vocab_casing(["[PAD]", "[UNK]"] + words).casing  # None
    vocab_casing([w.capitalize() for w in words * 3] + ["x"]).casing  # 'cased'
    vocab_casing([f"w{i}" for i in range(2000)]).casing  # 'uncased'
    vocab_casing(["Anna", "Bob"] * 10).evidence  # '20 of 20 tokens have capitals'
    ```
    """
    words = [t for t in tokens if not (t.startswith("[") and t.endswith("]"))]
    capitalised = sum(1 for t in words if any(c.isupper() for c in t))
    casing = None
    if capitalised > max(10, 0.01 * len(words)):
        casing = "cased"
    elif len(words) >= 1000 and capitalised <= 0.001 * len(words):
        casing = "uncased"
    return VocabCasing(casing, capitalised, len(words))


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
        kind = detect_format(path)
    except ValueError:
        # A tokenizer-only folder (vocab.txt or tokenizer.json, maybe tokenizer_config.json).
        if not any(os.path.isfile(os.path.join(path, f)) for f in (VOCAB_FILE, "tokenizer.json")):
            raise
        kind = "tokenizer"
    vocabulary, found_lowercase, source = None, None, None
    if kind == "keras_bert_impl":
        meta = read_preset_file(path).get("tokenizer") or {}
        if meta.get("vocabulary"):
            vocabulary = os.path.join(path, meta["vocabulary"])
            found_lowercase = meta.get("lowercase")
            source = os.path.join(path, PRESET_FILE)
    else:
        vocab_path = os.path.join(path, "assets" if kind == "saved_model" else "", VOCAB_FILE)
        tokenizer_json = os.path.join(path, "tokenizer.json")
        if os.path.isfile(vocab_path):
            vocabulary, source = vocab_path, vocab_path
        elif os.path.isfile(tokenizer_json):
            vocabulary, found_lowercase = vocab_from_tokenizer_json(tokenizer_json)
            source = tokenizer_json
        if kind == "saved_model":
            found_lowercase = saved_model_lowercase(path)
        tokenizer_config = os.path.join(path, "tokenizer_config.json")
        if "do_lower_case" in _read_json(tokenizer_config):
            found_lowercase = bool(_read_json(tokenizer_config)["do_lower_case"])
            source = f"{source} + {tokenizer_config}"
    if vocabulary is None:
        looked_for = (
            f"a 'tokenizer' entry in {PRESET_FILE}"
            if kind == "keras_bert_impl"
            else f"{VOCAB_FILE} or tokenizer.json"
        )
        raise FileNotFoundError(
            f"No vocabulary in {path}: looked for {looked_for}. Place the checkpoint's "
            f"{VOCAB_FILE} there (it must be the one the model was trained with)."
        )
    tokens = vocabulary if isinstance(vocabulary, list) else read_vocab_file(vocabulary)
    casing = vocab_casing(tokens)
    vocab_cased, capitalised = casing.casing == "cased", casing.capitalised
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


def as_tokenizer_spec(tokenizer):
    """`tokenizer` (a spec, a checkpoint directory, or an object with `vocabulary` and
    `lowercase`, like our `BertTokenizer`) as a `TokenizerSpec`."""
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
