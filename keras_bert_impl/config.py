"""`BertConfig`: the sizes and numerics of a BERT model, as data.

One dataclass describes every BERT we build, from `bert_tiny` to `bert_large` and any custom
size. It reads and writes two spellings of the same facts:

* its own field names (`BertConfig.to_dict()` / `BertConfig.from_dict()`), used in our presets
  and in `get_config()` of the models;
* the keys of Google's `bert_config.json` (`hidden_size`, `num_hidden_layers`,
  `num_attention_heads`, `intermediate_size`, `hidden_act`, `hidden_dropout_prob`,
  `attention_probs_dropout_prob`, ...), which Hugging Face's `config.json` also uses.

Example:

```python
from keras_bert_impl import BertConfig

config = BertConfig.from_preset("bert_tiny")
config.hidden_size  # 128
custom = BertConfig(vocab_size=8000, hidden_size=256, num_layers=4, num_heads=4)
custom.intermediate_size  # 1024 (4 x hidden_size unless given)
BertConfig.from_bert_config_json(custom.to_bert_config_dict()) == custom  # True
```
"""

import dataclasses
import json
import os

ACTIVATIONS = ("gelu", "gelu_approximate")

# Google's bert_config.json (and HF config.json) key -> our field name.
_GOOGLE_KEYS = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_size",
    "hidden_act": "hidden_act",
    "hidden_dropout_prob": "dropout",
    "attention_probs_dropout_prob": "attention_dropout",
    "max_position_embeddings": "max_position_embeddings",
    "type_vocab_size": "type_vocab_size",
    "initializer_range": "initializer_range",
    "layer_norm_eps": "layer_norm_epsilon",
}
# Spellings of the activation in the wild -> ours. Google's TF code calls its tanh
# approximation "gelu"; HF calls the exact erf form "gelu" and the tanh form "gelu_new".
_ACTIVATION_ALIASES = {
    "gelu": "gelu",
    "gelu_exact": "gelu",
    "gelu_approximate": "gelu_approximate",
    "gelu_new": "gelu_approximate",
    "gelu_pytorch_tanh": "gelu_approximate",
    "gelu_fast": "gelu_approximate",
}


@dataclasses.dataclass(frozen=True)
class BertConfig:
    """Sizes and numerics of a BERT encoder.

    Args:
        vocab_size: number of WordPiece tokens.
        hidden_size: width of every layer (H).
        num_layers: number of Transformer blocks (L).
        num_heads: attention heads per block (A); must divide `hidden_size`.
        intermediate_size: feed-forward width; `4 * hidden_size` when `None`.
        hidden_act: `"gelu"` (exact erf form, the default) or `"gelu_approximate"` (tanh form,
            as Google's original TensorFlow code computes it).
        dropout: dropout rate on embeddings, attention output and feed-forward output.
        attention_dropout: dropout rate on attention probabilities.
        max_position_embeddings: rows of the learned position table (longest sequence).
        type_vocab_size: number of segment ids.
        initializer_range: stddev of the truncated normal initializer.
        layer_norm_epsilon: LayerNorm epsilon.

    Example:

    ```python
    config = BertConfig(vocab_size=1000, hidden_size=64, num_layers=2, num_heads=2)
    config.head_size  # 32
    ```
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = None
    hidden_act: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_epsilon: float = 1e-12

    def __post_init__(self):
        if self.intermediate_size is None:
            object.__setattr__(self, "intermediate_size", 4 * self.hidden_size)
        for name in (
            "vocab_size",
            "hidden_size",
            "num_layers",
            "num_heads",
            "intermediate_size",
            "max_position_embeddings",
            "type_vocab_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(
                    f"BertConfig.{name} must be a positive integer, got {value!r}."
                )
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"BertConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_heads ({self.num_heads}); allowed num_heads are the divisors of "
                f"{self.hidden_size}, e.g. {_divisors(self.hidden_size)}."
            )
        if self.hidden_act not in ACTIVATIONS:
            raise ValueError(
                f"BertConfig.hidden_act must be one of {ACTIVATIONS}, got "
                f"{self.hidden_act!r}."
            )
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"BertConfig.{name} must be in [0, 1), got {value!r}.")
        for name in ("initializer_range", "layer_norm_epsilon"):
            if not getattr(self, name) > 0:
                raise ValueError(
                    f"BertConfig.{name} must be positive, got {getattr(self, name)!r}."
                )

    @property
    def head_size(self):
        return self.hidden_size // self.num_heads

    def check_sequence_length(self, length, model="the encoder", argument="sequence_length",
                              flag=None):
        """Raise a `ValueError` when sequences of `length` tokens do not fit the position
        table (a batch that long fails in the graph, or reads past the table on a GPU).

        Args:
            length: the sequence length asked for, or `None` (nothing to check).
            model: how the message names the model, e.g. `"bert_tiny"`.
            argument: the Python argument that set `length`.
            flag: the command-line flag that set it, when it came from the command line.

        Example:

        ```python
        config = BertConfig.from_preset("bert_tiny")
        config.check_sequence_length(512)  # fits: returns None
        try:
            config.check_sequence_length(600, model="bert_tiny", flag="--seq-len")
        except ValueError as error:
            print(error)  # --seq-len 600 is longer than the 512 positions of bert_tiny ...
        ```
        """
        positions = self.max_position_embeddings
        if length is None or length <= positions:
            return
        if flag:
            given = f"{flag} {length}"
            fix = f"{flag} {positions} or less (in Python: {argument}=)"
        else:
            given = f"{argument}={length}"
            fix = f"{argument}={positions} or less"
        raise ValueError(f"{given} is longer than the {positions} positions of {model} "
                         f"(max_position_embeddings={positions}); pass {fix}, or a model "
                         "with more positions.")

    # --- our own spelling -------------------------------------------------------------
    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"Unknown BertConfig field(s) {unknown}; allowed fields are {sorted(fields)}."
            )
        return cls(**values)

    # --- Google's bert_config.json spelling (also Hugging Face config.json) ------------
    def to_bert_config_dict(self):
        """Returns the keys of Google's `bert_config.json`."""
        ours = self.to_dict()
        values = {google: ours[field] for google, field in _GOOGLE_KEYS.items()}
        values["hidden_act"] = "gelu" if self.hidden_act == "gelu" else "gelu_new"
        return values

    @classmethod
    def from_bert_config_json(cls, values):
        """Builds a config from a `bert_config.json`/`config.json` dict (extra keys ignored)."""
        kwargs = {}
        for google, field in _GOOGLE_KEYS.items():
            if google in values:
                kwargs[field] = values[google]
        if "layer_norm_epsilon" in values:
            kwargs["layer_norm_epsilon"] = values["layer_norm_epsilon"]
        if "hidden_act" in kwargs:
            act = kwargs["hidden_act"]
            if act not in _ACTIVATION_ALIASES:
                raise ValueError(
                    f"hidden_act {act!r} in the BERT config is not supported; allowed "
                    f"values are {sorted(_ACTIVATION_ALIASES)}."
                )
            kwargs["hidden_act"] = _ACTIVATION_ALIASES[act]
        return cls(**kwargs)

    # --- files --------------------------------------------------------------------------
    @classmethod
    def from_json_file(cls, path):
        """Reads either spelling from a JSON file (detected by its keys)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"BERT config file not found: {path}")
        try:
            with open(path, encoding="utf-8") as f:
                values = json.load(f)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"BERT config file {path} is not valid JSON: {e}") from e
        if not isinstance(values, dict):
            raise ValueError(f"BERT config file {path} must hold a JSON object.")
        try:
            if "num_hidden_layers" in values:
                return cls.from_bert_config_json(values)
            return cls.from_dict(values)
        except (TypeError, ValueError) as e:
            raise ValueError(f"Invalid BERT config in {path}: {e}") from e

    def to_json_file(self, path, google_format=False):
        """Writes the config (atomically); `google_format=True` writes `bert_config.json` keys."""
        values = self.to_bert_config_dict() if google_format else self.to_dict()
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(values, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)

    # --- presets ------------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name, **overrides):
        """A named size from `PRESETS` (e.g. `"bert_base"`), with optional overrides."""
        if name not in PRESETS:
            raise ValueError(
                f"Unknown BERT preset {name!r}; allowed presets are {sorted(PRESETS)}."
            )
        return dataclasses.replace(PRESETS[name], **overrides)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


def _divisors(n):
    return [d for d in range(1, min(n, 64) + 1) if n % d == 0]


def _preset(layers, hidden, heads):
    return BertConfig(num_layers=layers, hidden_size=hidden, num_heads=heads)


# Google's published sizes (google-research/bert README; the small ones from
# "Well-Read Students Learn Better"). Intermediate size is 4 x hidden throughout.
PRESETS = {
    "bert_tiny": _preset(2, 128, 2),
    "bert_mini": _preset(4, 256, 4),
    "bert_small": _preset(4, 512, 8),
    "bert_medium": _preset(8, 512, 8),
    "bert_base": _preset(12, 768, 12),
    "bert_large": _preset(24, 1024, 16),
}
