"""Per-token predictions back to one tag per word, and string tags to class ids.

`BertTokenClassifierPreprocessor` puts each word's tag on the word's first wordpiece, and its
`word_starts(x)` gives the packed position of that piece (-1 for a word with no piece, or one
truncated away). `decode_tags` reads the prediction at those positions, so the tags it
returns line up one to one with the input words, as `metrics.entity_scores` expects. This is
the reference's reading (Hugging Face `run_ner.py` and Model Garden's tagging task score the
first sub-token of each word and ignore the others).

Pure NumPy: no TensorFlow needed to decode (a ragged `word_starts` tensor is read through
its `to_list()`).
"""

import numpy as np

__all__ = ["decode_tags", "tag_ids"]


def _check_label_names(label_names):
    if isinstance(label_names, str):
        raise TypeError(f"label_names must be a list of tag strings, not the string "
                        f"{label_names!r}; e.g. ['O', 'B-PER', 'I-PER'].")
    names = [str(name) for name in label_names]
    if not names:
        raise ValueError("label_names is empty; pass the tag of each class id, in id order.")
    seen = set()
    repeated = sorted({name for name in names if name in seen or seen.add(name)})
    if repeated:
        raise ValueError(f"label_names repeats {repeated}; each tag must name one class id.")
    return names


def tag_ids(tags, label_names):
    """String tags -> class ids (`label_names.index(tag)`), per sentence.

    Args:
        tags: a list of tag sequences (one per sentence), or one flat sequence.
        label_names: the tag of each class id, in id order.

    Returns:
        A list of lists of ints (a flat list for a flat `tags`). A tag that is not in
        `label_names` is a `ValueError` naming the sentence, the word and the tag.

    Example:

    ```python
    names = ["O", "B-PER", "I-PER", "B-LOC"]
    tag_ids([["B-PER", "I-PER", "O"], ["B-LOC"]], names)  # [[1, 2, 0], [3]]
    tag_ids(["O", "B-LOC"], names)  # [0, 3]
    ```
    """
    names = _check_label_names(label_names)
    index = {name: i for i, name in enumerate(names)}
    if isinstance(tags, str):
        raise TypeError(f"tags must be a sequence of tags, not the string {tags!r}.")
    tags = list(tags)
    flat = all(isinstance(tag, str) for tag in tags)
    sentences = [tags] if flat else tags
    ids = []
    for s, sentence in enumerate(sentences):
        if isinstance(sentence, str):
            raise TypeError(f"tags mixes tags and tag sequences (item {s} is the string "
                            f"{sentence!r}); pass one flat sequence or a list of sequences.")
        row = []
        for w, tag in enumerate(sentence):
            if tag not in index:
                where = f"word {w}" if flat else f"sentence {s}, word {w}"
                raise ValueError(f"Tag {tag!r} ({where}) is not in label_names {names}; add "
                                 "it to label_names or fix the tag.")
            row.append(index[tag])
        ids.append(row)
    return ids[0] if flat else ids


def _as_rows(word_starts):
    """`word_starts` (ragged tensor, dense tensor/array or lists) as a list of int lists."""
    if hasattr(word_starts, "to_list"):  # tf.RaggedTensor
        word_starts = word_starts.to_list()
    elif hasattr(word_starts, "numpy"):  # a dense tf.Tensor
        word_starts = word_starts.numpy().tolist()
    elif isinstance(word_starts, np.ndarray):
        word_starts = word_starts.tolist()
    if isinstance(word_starts, (str, bytes)) or not hasattr(word_starts, "__iter__"):
        raise TypeError("word_starts must be a ragged tensor or a list (per example) of lists "
                        f"(per word) of positions; got {type(word_starts).__name__}.")
    rows = [list(row) if hasattr(row, "__iter__") else row for row in word_starts]
    if any(not isinstance(row, list) for row in rows):
        raise ValueError("word_starts must be batched: one list of positions per example "
                         "(wrap one example's positions in a list).")
    return rows


def decode_tags(logits, word_starts, label_names, outside="O", return_scores=False):
    """The predicted tag of each word: the prediction at the word's first wordpiece.

    Args:
        logits: float `[batch, sequence_length, num_classes]` scores (logits or
            probabilities), or int `[batch, sequence_length]` class ids. NumPy arrays or
            tensors.
        word_starts: the packed position of each word's first piece, per example: a ragged
            tensor `[batch, (words)]` or a list of lists, as
            `BertTokenClassifierPreprocessor.word_starts(x)` returns; -1 marks a word with no
            piece in the sequence.
        label_names: the tag of each class id, in id order (`num_classes` of them).
        outside: the tag of a word at position -1 (it had no piece, or was truncated away).
        return_scores: also return, per word, the softmax probability of the chosen tag
            (needs float `logits`; 0.0 for a word at position -1).

    Returns:
        A list (per example) of lists (per word) of tag strings; with `return_scores`, the
        pair `(tags, scores)`.

    Example:

    ```python
    import numpy as np
    names = ["O", "B-PER", "I-PER"]
    logits = np.zeros((1, 6, 3), "float32")
    logits[0, 1, 1] = logits[0, 3, 2] = 5.0  # the first pieces of words 0 and 1
    tags, scores = decode_tags(logits, [[1, 3, 4, -1]], names, return_scores=True)
    tags  # [["B-PER", "I-PER", "O", "O"]]
    [round(s, 3) for s in scores[0]]  # [0.987, 0.987, 0.333, 0.0]
    decode_tags(np.array([[0, 1, 0, 2]]), [[1, 3]], names)  # [["B-PER", "I-PER"]]
    ```
    """
    names = _check_label_names(label_names)
    predictions = np.asarray(logits)
    if predictions.dtype.kind == "f":
        if predictions.ndim != 3:
            raise ValueError("float logits must be [batch, sequence_length, num_classes]; got "
                             f"shape {predictions.shape}.")
        if predictions.shape[-1] != len(names):
            raise ValueError(f"logits have {predictions.shape[-1]} classes but label_names "
                             f"has {len(names)} tags; they must match (one tag per class id).")
    elif predictions.dtype.kind in "iu":
        if predictions.ndim != 2:
            raise ValueError("int class ids must be [batch, sequence_length]; got shape "
                             f"{predictions.shape}.")
        if return_scores:
            raise ValueError("return_scores needs float logits (class ids carry no "
                             "probabilities); pass the model's logits.")
    else:
        raise TypeError("logits must be float scores [batch, sequence_length, num_classes] or "
                        f"int class ids [batch, sequence_length]; got dtype {predictions.dtype}.")
    rows = _as_rows(word_starts)
    batch, length = predictions.shape[:2]
    if len(rows) != batch:
        raise ValueError(f"word_starts has {len(rows)} examples and logits {batch}; they must "
                         "match (one row of word positions per example).")
    counts = [len(row) for row in rows]
    positions = np.array([p for row in rows for p in row], dtype=np.int64)
    if positions.size and (positions.min() < -1 or positions.max() >= length):
        bad = positions[(positions < -1) | (positions >= length)][0]
        raise ValueError(f"word_starts holds position {bad}, outside [-1, {length}) for "
                         f"sequences of length {length}; pass the word_starts of the inputs "
                         "these logits were computed on.")
    examples = np.repeat(np.arange(batch), counts)
    kept = positions >= 0
    chosen = predictions[examples[kept], positions[kept]]  # [kept words, (num_classes)]
    ids = np.zeros(positions.shape, np.int64)
    scores = np.zeros(positions.shape, np.float64)
    if predictions.dtype.kind == "f":
        chosen = chosen.astype(np.float64)
        ids[kept] = chosen.argmax(-1)
        if return_scores:
            exp = np.exp(chosen - chosen.max(-1, keepdims=True))
            scores[kept] = exp.max(-1) / exp.sum(-1)
    else:
        ids[kept] = chosen
        if chosen.size and (chosen.min() < 0 or chosen.max() >= len(names)):
            bad = chosen[(chosen < 0) | (chosen >= len(names))][0]
            raise ValueError(f"Class id {bad} is outside label_names' {len(names)} tags.")
    table = np.array(names + [outside], dtype=object)
    ids[~kept] = len(names)
    tags = table[ids].tolist()
    splits = np.cumsum([0] + counts)
    tags = [tags[a:b] for a, b in zip(splits[:-1], splits[1:])]
    if not return_scores:
        return tags
    scores = scores.tolist()
    return tags, [scores[a:b] for a, b in zip(splits[:-1], splits[1:])]
