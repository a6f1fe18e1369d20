"""Preset names: architecture names (random weights) and hub names (real weights).

* Architecture names (`bert_tiny` ... `bert_large`, `keras_bert_impl.config.PRESETS`) are
  sizes only: a model built from one starts from random weights.
* Hub names (keras-hub's spelling, `list_presets()`) name real checkpoints. They are looked up
  in the local preset cache (`$KERAS_BERT_PRESETS`, default
  `~/.cache/keras_bert_impl/presets/<name>/`), then downloaded from the Hugging Face hub when
  `huggingface_hub` is installed and the network is there; otherwise the error says which
  files to place in which directory. `"hf://owner/repo"` works the same for any repository.

Example:

```python
sorted(list_presets())[:2]  # ['bert_base_en', 'bert_base_en_uncased']
```
"""

import os

from keras_bert_impl.config import PRESETS

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


def list_presets():
    """`{name: Hugging Face repository}` of the preset names that come with real weights.

    Architecture names (`keras_bert_impl.config.PRESETS`) are not listed: they are sizes,
    and a model built from one has random weights.
    """
    return dict(HUB_PRESETS)


def preset_cache_dir():
    """Where named presets are looked up and downloaded to (`$KERAS_BERT_PRESETS`)."""
    return os.environ.get(
        "KERAS_BERT_PRESETS",
        os.path.join(os.path.expanduser("~"), ".cache", "keras_bert_impl", "presets"),
    )


def missing_directory(path):
    """The `FileNotFoundError` for a preset `path` that is not a directory, saying what it is
    instead: a file of a checkpoint (pass its directory), a TensorFlow checkpoint prefix (the
    reference's `init_checkpoint`), a Hugging Face repository id (write `hf://owner/name`) or
    nothing at all.

    Example:

    ```python
    error = missing_directory("google-bert/bert-base-uncased")
    "write 'hf://google-bert/bert-base-uncased'" in str(error)  # True
    ```
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isfile(path):
        return FileNotFoundError(f"{path} is a file, not a BERT preset directory; pass the "
                                 f"directory that holds it: {folder}.")
    if os.path.isfile(path + ".index"):
        return FileNotFoundError(
            f"{path} is a TensorFlow checkpoint prefix, not a BERT preset directory; pass its "
            f"directory ({folder}), holding bert_config.json, vocab.txt and that checkpoint "
            f"as bert_model.ckpt (or as its only checkpoint).")
    message = f"BERT preset directory not found: {path}"
    if (path.count("/") == 1 and not path.startswith((".", "/", "~"))
            and not os.path.exists(os.path.dirname(path))):
        message += f"; for the Hugging Face Hub repository write 'hf://{path}'."
    return FileNotFoundError(message)


def resolve_preset_path(name):
    """A local directory for `name`: the directory itself, the cache, or a hub download."""
    if os.path.isdir(name):
        return name
    if name.startswith("hf://"):
        repo, local_name = name[len("hf://"):], name[len("hf://"):].replace("/", "--")
    elif name in HUB_PRESETS:
        repo, local_name = HUB_PRESETS[name], name
    elif os.sep in name or "/" in name or name.startswith("."):
        raise missing_directory(name)
    elif name in PRESETS:
        trained = sorted(h for h in HUB_PRESETS if h.startswith(name + "_")) or sorted(
            HUB_PRESETS)
        raise ValueError(
            f"{name!r} is an architecture name (a model's sizes, random weights): it has no "
            f"vocabulary or checkpoint files to read. Pass a directory holding vocab.txt (or "
            f"tokenizer.json), e.g. a pretraining run, or a preset with weights "
            f"({', '.join(trained)}).")
    else:
        raise ValueError(
            f"Unknown preset {name!r}: it is neither a directory, an architecture name "
            f"(random weights: {', '.join(sorted(PRESETS))}), a preset with weights "
            f"({', '.join(sorted(HUB_PRESETS))}) nor an 'hf://owner/repo' handle (a Hugging "
            f"Face repository: 'hf://{name}' or 'hf://OWNER/{name}')."
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
