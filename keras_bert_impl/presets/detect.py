"""Which checkpoint format a directory holds, from its file names alone.

Example:

```python
import tempfile
try:
    detect_format(tempfile.mkdtemp())
except ValueError as error:
    print(error)  # lists the files found and the formats expected
```
"""

import os

from keras_bert_impl.presets.hub import missing_directory
from keras_bert_impl.presets.model_garden import is_saved_model
from keras_bert_impl.presets.ours import FORMAT_NAME, PRESET_FILE, WEIGHTS_FILE

FORMATS = (FORMAT_NAME, "huggingface", "google", "saved_model")


def detect_format(path):
    """The checkpoint format of directory `path`: `keras_bert_impl`, `huggingface`, `google`
    (Google's and TF Model Garden's checkpoints) or `saved_model` (a TF Hub BERT encoder).

    Raises `FileNotFoundError` when `path` is not a directory and `ValueError` listing the
    files found when no supported format matches.
    """
    if not os.path.isdir(path):
        raise missing_directory(path)
    files = sorted(os.listdir(path))
    has = set(files).__contains__
    if has(PRESET_FILE):
        return FORMAT_NAME
    if has("config.json") and (has("model.safetensors") or has("pytorch_model.bin")):
        return "huggingface"
    if has("bert_config.json") and any(f.endswith(".index") for f in files):
        return "google"
    if is_saved_model(path):
        return "saved_model"  # a TF Hub encoder (Model Garden's export)
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
        f"model.safetensors or pytorch_model.bin), Google or TF Model Garden (bert_config.json + "
        f"bert_model.ckpt.index/.data-*), a TF Hub encoder (saved_model.pb + variables/)."
        + ("".join(f" Note: {h}." for h in hints))
    )
