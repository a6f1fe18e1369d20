"""Our preset directory format: `preset.json` + `model.safetensors` [+ `vocab.txt`].

```
preset.json        {"format": "keras_bert_impl", "format_version": 1, "config": {...},
                    "model_class": "BertPretrainer", "model_kwargs": {...},
                    "weights": "model.safetensors",
                    "tokenizer": {"vocabulary": "vocab.txt", "lowercase": true} | null,
                    "metadata": {...}}
model.safetensors  {canonical_name: array} (see `keras_bert_impl.presets.canonical`)
vocab.txt          one WordPiece per line (index = id)
```

Any of our models loads from any of our presets (an encoder from a pretrainer's preset, a
classifier from an encoder's preset with a fresh head). Every file is written to a temp path
and renamed, and `preset.json` is written last: a preset interrupted mid-write is not
detected as one, and a directory that is already a preset (a pretraining run rewriting its
preset at each checkpoint) always holds a complete one. Files get the usual 0644 mode.

Example:

```python
import os, tempfile
import numpy as np
from keras_bert_impl.config import BertConfig
folder = os.path.join(tempfile.mkdtemp(), "preset")
write_preset(folder, BertConfig.from_preset("bert_tiny"),
             {"pooler/dense/bias": np.zeros(128, "float32")}, model_class="BertEncoder")
read_preset_file(folder)["model_class"]  # 'BertEncoder'
```
"""

import json
import os

import numpy as np

from keras_bert_impl.config import BertConfig

PRESET_FILE = "preset.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
FORMAT_NAME = "keras_bert_impl"
FORMAT_VERSION = 1


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _publish(tmp, path):
    """Gives `tmp` the mode a plain `open(path, "w")` would have, then renames it to `path`."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temp file in the same directory and a rename."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_preset_file(path):
    """The parsed `preset.json` of our preset directory `path` (validated)."""
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


def read_config(path):
    """The `BertConfig` stored in our preset `path`."""
    try:
        return BertConfig.from_dict(read_preset_file(path)["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"Invalid config in {os.path.join(path, PRESET_FILE)}: {e}") from e


def read_weights(path):
    """`({canonical: array}, weights_file)` of our preset `path`."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    meta = read_preset_file(path)
    weights_path = os.path.join(path, meta.get("weights", WEIGHTS_FILE))
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"{weights_path} (named in {PRESET_FILE}) does not exist.")
    try:
        return load_file(weights_path), weights_path
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"Cannot read {weights_path} (truncated?): {e}") from e


def write_preset(preset_dir, config, weights, model_class, model_kwargs=None, tokenizer=None,
                 metadata=None):
    """Writes our preset into `preset_dir` (created if needed); returns `preset_dir`.

    Args:
        preset_dir: target directory; files of an earlier preset there are replaced.
        config: the `BertConfig`.
        weights: `{canonical_name: array}`.
        model_class: name of the class that wrote it (`"BertPretrainer"`, ...).
        model_kwargs: the model's own constructor arguments (`num_classes`, `dropout`).
        tokenizer: optional `TokenizerSpec` (vocabulary + casing), written as `vocab.txt`.
        metadata: optional JSON-able dict kept under `"metadata"` (e.g. a run's step).
    """
    from safetensors.numpy import save_file

    os.makedirs(preset_dir, exist_ok=True)
    weights_path = os.path.join(preset_dir, WEIGHTS_FILE)
    tmp = f"{weights_path}.tmp-{os.getpid()}"
    try:
        save_file(
            {k: np.ascontiguousarray(v) for k, v in weights.items()},
            tmp,
            metadata={"format": FORMAT_NAME},
        )
        _publish(tmp, weights_path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    tokenizer_meta = None
    if tokenizer is not None:
        atomic_write_text(
            os.path.join(preset_dir, VOCAB_FILE), "\n".join(tokenizer.tokens()) + "\n"
        )
        tokenizer_meta = {"vocabulary": VOCAB_FILE, "lowercase": bool(tokenizer.lowercase)}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_class": model_class,
        "model_kwargs": dict(model_kwargs or {}),
        "config": config.to_dict(),
        "weights": WEIGHTS_FILE,
        "tokenizer": tokenizer_meta,
        "metadata": dict(metadata or {}),
    }
    atomic_write_text(
        os.path.join(preset_dir, PRESET_FILE), json.dumps(meta, indent=2, sort_keys=True) + "\n"
    )
    return preset_dir
