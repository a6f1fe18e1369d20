"""Filling `[MASK]` in raw text with a pretrainer's masked-LM head: what Hugging Face's
`pipeline("fill-mask")` does, for a look at what a pretraining run has learned.

Each text is split at the literal `[MASK]` (case-sensitive, as Hugging Face matches its special
tokens before lower-casing), the pieces between are tokenized, and the model reads `[CLS]
piece [MASK] piece ... [SEP]` (one segment). At each mask the head's logits over the
vocabulary go through a softmax; the `top_k` most probable tokens come back with their
probabilities, best first.

Example:

```python
from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.text import BertTokenizer
vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat"]
pretrainer = BertPretrainer.from_preset("bert_tiny", vocab_size=len(vocab))
guesses = fill_mask(pretrainer, "the cat [MASK]", top_k=3, tokenizer=BertTokenizer(vocab))
len(guesses), len(guesses[0])  # (1, 3): one mask, three guesses
```
"""

import collections

import numpy as np

from keras_bert_impl.models.text_inputs import as_texts, check_texts

MASK = "[MASK]"
Guess = collections.namedtuple("Guess", ["token", "id", "score"])
Guess.__doc__ = """One filling of a mask: the token, its id and its probability (`score`).

Example:

```python
Guess("paris", 3000, 0.25).token  # 'paris'
```
"""


def _rows(texts, tokenizer, max_length):
    """`[CLS] piece [MASK] ... [SEP]` ids of each text, and the positions of its masks."""
    pieces = [text.split(MASK) for text in texts]
    without = [i for i, parts in enumerate(pieces) if len(parts) == 1]
    if without:
        raise ValueError(f"texts[{without[0]}] = {texts[without[0]]!r:.80} has no {MASK}; "
                         f"write {MASK} where a token should be guessed, e.g. 'Paris is the "
                         f"{MASK} of France.' (upper case, as the tokenizer's special token).")
    piece_ids = iter(tokenizer([piece for parts in pieces for piece in parts]).to_list())
    rows, positions = [], []
    for i, parts in enumerate(pieces):
        row, masks = [tokenizer.cls_token_id], []
        for j in range(len(parts)):
            if j:
                masks.append(len(row))
                row.append(tokenizer.mask_token_id)
            row.extend(next(piece_ids))
        row.append(tokenizer.sep_token_id)
        if len(row) > max_length:
            raise ValueError(
                f"texts[{i}] is {len(row)} tokens long with [CLS] and [SEP], more than the "
                f"model's {max_length} positions (max_position_embeddings); shorten it around "
                f"its {MASK}.")
        rows.append(row)
        positions.append(masks)
    return rows, positions


def _batch(rows, positions, pad_id):
    """Token ids, segment ids, padding mask and mask positions of rows, padded."""
    length = max(len(row) for row in rows)
    count = max(len(masks) for masks in positions)
    token_ids = np.full((len(rows), length), pad_id, "int32")
    padding_mask = np.zeros((len(rows), length), bool)
    mask_positions = np.zeros((len(rows), count), "int32")
    for i, (row, masks) in enumerate(zip(rows, positions, strict=True)):
        token_ids[i, :len(row)] = row
        padding_mask[i, :len(row)] = True
        mask_positions[i, :len(masks)] = masks
    return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
            "padding_mask": padding_mask, "mask_positions": mask_positions}


def fill_mask(pretrainer, texts, top_k=5, batch_size=32, tokenizer=None):
    """The `top_k` most probable tokens at each `[MASK]` of `texts`, by `pretrainer`'s
    masked-LM head.

    Args:
        pretrainer: a `BertPretrainer`.
        texts: a string, or a list of strings, each with at least one `[MASK]`.
        top_k: guesses per mask.
        batch_size: texts per forward pass.
        tokenizer: a `keras_bert_impl.text.BertTokenizer`; default: the pretrainer's own
            (`build_tokenizer()`, from the preset it was loaded from).

    Returns:
        For one string, a list with one entry per mask, each a list of `top_k` `Guess(token,
        id, score)`, best first (`score` is the softmax probability); for a list of strings, a
        list of those.
    """
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    if not texts:
        raise ValueError("texts holds no examples; pass at least one text with a [MASK].")
    check_texts(texts, "texts")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
    if "mlm" in pretrainer.random_heads:
        raise ValueError("This model's masked-LM head was not in its checkpoint (random "
                         "weights), so its guesses would be noise; load a checkpoint with one: "
                         "a pretraining run, or Hugging Face's BertForMaskedLM / "
                         "BertForPreTraining, Google's original checkpoints.")
    tokenizer = tokenizer or pretrainer.build_tokenizer()
    vocabulary = tokenizer.get_vocabulary()
    if len(vocabulary) != pretrainer.encoder.config.vocab_size:
        raise ValueError(f"The tokenizer has {len(vocabulary)} tokens but the model "
                         f"{pretrainer.encoder.config.vocab_size}; pass the vocabulary the "
                         "model was trained with.")
    top_k = min(top_k, len(vocabulary))
    texts = as_texts(texts)
    rows, positions = _rows(texts, tokenizer,
                            pretrainer.encoder.config.max_position_embeddings)
    results = []
    for start in range(0, len(rows), batch_size):
        batch = _batch(rows[start:start + batch_size], positions[start:start + batch_size],
                       tokenizer.pad_token_id)
        logits = np.asarray(pretrainer.predict_on_batch(batch)["mlm_logits"], "float64")
        logits -= logits.max(axis=-1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=-1, keepdims=True)
        for row, masks in zip(probabilities, positions[start:start + batch_size], strict=True):
            guesses = []
            for scores in row[:len(masks)]:
                best = np.argsort(-scores, kind="stable")[:top_k]
                guesses.append([Guess(vocabulary[j], int(j), float(scores[j])) for j in best])
            results.append(guesses)
    return results[0] if single else results
