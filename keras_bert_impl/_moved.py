"""Old import paths that moved, and the error naming where each one went.

Example:

```python
try:
    import keras_bert_impl.convert.presets
except ImportError as error:
    print(error)  # names keras_bert_impl.presets and Model.from_preset
```
"""

MOVED = {
    "keras_bert_impl.convert.presets": (
        "keras_bert_impl.presets (read_checkpoint, write_preset, resolve_tokenizer_spec, "
        "list_presets); load_preset(path, Model) is Model.from_preset(path), "
        "save_preset(model, dir) is model.save_to_preset(dir), load_tokenizer(path) is "
        "keras_bert_impl.text.BertTokenizer.from_preset(path)"
    ),
    "keras_bert_impl.convert.huggingface": (
        "keras_bert_impl.presets.huggingface (the reader); load_huggingface_model(path, "
        "Model) is Model.from_preset(path)"
    ),
    "keras_bert_impl.convert.google_checkpoint": (
        "keras_bert_impl.presets.google (the reader); load_google_checkpoint(path, Model) is "
        "Model.from_preset(path)"
    ),
    "keras_bert_impl.convert.weights": (
        "keras_bert_impl.models.weights (assign_weights, extract_weights) and "
        "keras_bert_impl.presets.canonical (WeightLoadError, the canonical names)"
    ),
    "keras_bert_impl.training.optimizers": "keras_bert_impl.optimizers",
    "keras_bert_impl.text.pretraining_dataset": (
        "keras_bert_impl.text.make_pretraining_dataset(documents, tokenizer, *, "
        "batch_size=..., sequence_length=..., ...)"
    ),
}

# Names that `keras_bert_impl.convert` exported, and where each went.
CONVERT_NAMES = {
    "load_preset": "Model.from_preset(path) (e.g. keras_bert_impl.models.BertEncoder)",
    "save_preset": "model.save_to_preset(dir)",
    "load_tokenizer": "keras_bert_impl.text.BertTokenizer.from_preset(path)",
    "HUB_PRESETS": "keras_bert_impl.presets.HUB_PRESETS (or presets.list_presets())",
    "TokenizerSpec": "keras_bert_impl.presets.TokenizerSpec",
    "detect_format": "keras_bert_impl.presets.detect_format",
    "resolve_tokenizer_spec": "keras_bert_impl.presets.resolve_tokenizer_spec",
    "WeightLoadError": "keras_bert_impl.presets.WeightLoadError",
}


def moved(old):
    """Raises the `ImportError` that names where `old` (a module or name) went."""
    raise ImportError(f"{old} moved: use {MOVED[old]}.")
