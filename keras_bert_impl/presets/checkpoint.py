"""`read_checkpoint`: any BERT checkpoint directory or preset name -> config, weights, vocab.

One entry point reads every format (detected from the files, see `detect_format`):

* ours (`preset.json` + `model.safetensors` [+ `vocab.txt`]), written by `write_preset`, by
  `save_to_preset` of our models and by every checkpoint of a pretraining run;
* Hugging Face (`config.json` + `model.safetensors` or `pytorch_model.bin`);
* Google's original checkpoints (`bert_config.json` + `bert_model.ckpt.index`), and TensorFlow
  Model Garden's object-based ones in the same layout (`presets.model_garden`);
* TF Hub BERT encoders (Model Garden's SavedModel export: `saved_model.pb`, `variables/`,
  `assets/vocab.txt`);

and hub names (`list_presets()`, `"hf://owner/repo"`), resolved to a local directory first.
It returns a `Checkpoint`: plain data (a `BertConfig`, NumPy arrays under canonical names, a
`TokenizerSpec`), from which `keras_bert_impl.models` builds a model and
`keras_bert_impl.text` a tokenizer. Nothing here builds either.

Example:

```python
import os, tempfile
import numpy as np
from keras_bert_impl.config import BertConfig
from keras_bert_impl.presets.ours import write_preset
folder = os.path.join(tempfile.mkdtemp(), "preset")
write_preset(folder, BertConfig.from_preset("bert_tiny"),
             {"pooler/dense/bias": np.zeros(128, "float32")}, model_class="BertEncoder")
checkpoint = read_checkpoint(folder)
checkpoint.format, checkpoint.config.hidden_size  # ('keras_bert_impl', 128)
checkpoint.tokenizer is None  # True: this preset has no vocab.txt
```
"""

import dataclasses
import os

from keras_bert_impl.presets import google, huggingface, model_garden, ours
from keras_bert_impl.presets.canonical import WeightLoadError
from keras_bert_impl.presets.detect import detect_format
from keras_bert_impl.presets.hub import resolve_preset_path
from keras_bert_impl.presets.tokenizer_spec import TokenizerSpec, resolve_tokenizer_spec


@dataclasses.dataclass
class Checkpoint:
    """What a checkpoint directory holds, in our terms.

    Attributes:
        path: the local directory read.
        format: `"keras_bert_impl"`, `"huggingface"`, `"google"` or `"saved_model"`.
        config: the `BertConfig`.
        weights: `{canonical_name: np.ndarray}` (empty when read with `weights=False`).
        source: the weights file (named in errors).
        source_names: `{canonical_name: name in the source file}`, for messages.
        tokenizer: the `TokenizerSpec` (vocabulary + casing), or `None` without a vocab.
        model_class: name of our class that saved it (our format), else `None`.
        model_kwargs: head arguments the checkpoint decides (`num_classes`, `dropout`).
        metadata: free-form facts our format stores (a pretraining run's step, ...).

    Example:

    ```python
    from keras_bert_impl.config import BertConfig
    checkpoint = Checkpoint(path="run", format="keras_bert_impl",
                            config=BertConfig.from_preset("bert_tiny"), weights={},
                            source="run/model.safetensors", metadata={"step": 100})
    checkpoint.metadata["step"]  # 100
    ```
    """

    path: str
    format: str
    config: object
    weights: dict
    source: str
    source_names: dict = dataclasses.field(default_factory=dict)
    tokenizer: TokenizerSpec = None
    model_class: str = None
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    metadata: dict = dataclasses.field(default_factory=dict)


def _own_tokenizer(path, meta):
    entry = meta.get("tokenizer") or {}
    if not entry.get("vocabulary"):
        return None
    return TokenizerSpec(
        vocabulary=os.path.join(path, entry["vocabulary"]),
        lowercase=bool(entry["lowercase"]),
        source=os.path.join(path, ours.PRESET_FILE),
    )


def _found_tokenizer(path):
    """The vocab and casing of a HF / Google directory, or `None` when it has no vocab."""
    try:
        return resolve_tokenizer_spec(path, warn=False)
    except FileNotFoundError:
        return None


def read_checkpoint(path_or_name, weights=True):
    """Reads the checkpoint at `path_or_name` (a directory of any format, or a hub name).

    Args:
        path_or_name: see the module docstring.
        weights: `False` reads only the config, tokenizer and head arguments (cheap).

    Returns:
        A `Checkpoint`. Raises `FileNotFoundError` / `ValueError` (`WeightLoadError` for
        weights that are not BERT's) naming the file and what is wrong with it.
    """
    path = resolve_preset_path(os.fspath(path_or_name))
    kind = detect_format(path)
    if kind == ours.FORMAT_NAME:
        meta = ours.read_preset_file(path)
        arrays, source = ours.read_weights(path) if weights else ({}, path)
        return Checkpoint(
            path=path, format=kind, config=ours.read_config(path), weights=arrays,
            source=source, tokenizer=_own_tokenizer(path, meta),
            model_class=meta.get("model_class"), model_kwargs=meta.get("model_kwargs") or {},
            metadata=meta.get("metadata") or {},
        )
    if kind == "huggingface":
        config, raw = huggingface.read_config(path)
        arrays, names, source = huggingface.read_weights(path) if weights else ({}, {}, path)
        return Checkpoint(
            path=path, format=kind, config=config, weights=arrays, source=source,
            source_names=names, tokenizer=_found_tokenizer(path),
            model_kwargs=huggingface.task_kwargs(raw),
        )
    if kind == "saved_model":
        return _saved_model(path)
    config = google.read_config(path)
    arrays, names, source = google.read_weights(path) if weights else ({}, {}, path)
    return Checkpoint(
        path=path, format=kind, config=config, weights=arrays, source=source,
        source_names=names, tokenizer=_found_tokenizer(path),
        model_kwargs=google.task_kwargs(arrays),
    )


def _saved_model(path):
    """A TF Hub BERT encoder: weights from its variables, the config from their shapes (or a
    `bert_config.json` beside them), the vocabulary and casing it stores."""
    prefix = os.path.join(path, model_garden.SAVED_MODEL_VARIABLES)
    variables = google.read_variables(prefix)
    try:
        arrays, names = model_garden.model_garden_to_canonical(variables, source=prefix)
    except WeightLoadError as error:
        raise WeightLoadError(
            f"{path} is a SavedModel but not a TF Hub BERT encoder (Model Garden's export); "
            "a SavedModel of keras-bert export is not read back: pass the run directory it "
            f"was exported from. ({error})") from None
    config = (google.read_config(path)
              if os.path.isfile(os.path.join(path, google.CONFIG_FILE))
              else model_garden.infer_config(arrays, variables))
    return Checkpoint(path=path, format="saved_model", config=config, weights=arrays,
                      source=prefix, source_names=names, tokenizer=_found_tokenizer(path),
                      model_kwargs=google.task_kwargs(arrays))
