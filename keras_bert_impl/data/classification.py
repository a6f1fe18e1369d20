"""What every classification reader returns: texts, labels and their names, as plain Python.

`ClassificationData` is the one result type of `glue.read_glue` / `glue.read_tfds_glue`,
`table.read_table` and `bbc_news.read_bbc_classification`, so that a fine-tuning run does not
care where its examples came from:

- `texts`: a tuple of lists of strings, one list per segment (one for single sentences, two for
  sentence pairs), all of the same length;
- `labels`: class ids (`int`, indexing `label_names`), scores (`float`, regression), or `None`
  for an unlabelled set (a GLUE test split);
- `label_names`: the class names by id, or `None` for regression;
- `ids`: one string per example (the file's id column, else `"<file>:<line>"`);
- `path`: where the examples were read from.

`as_dataset()` turns it into the `tf.data` elements `BertClassifierPreprocessor` maps over, and
`stratified_split(...)` holds out validation/test parts with each class in proportion.
"""

import dataclasses
import math
import numbers
import random


@dataclasses.dataclass(frozen=True)
class ClassificationData:
    """Examples of a text classification (or regression) task.

    Args:
        texts: a tuple of lists of strings, one list per segment (1 for single texts, 2 for
            pairs), each with one string per example.
        labels: a list of class ids (`int`, in `[0, len(label_names))`), of scores (`float`,
            when `label_names` is `None`: regression), or `None` (unlabelled).
        label_names: class names by id, or `None` for regression.
        ids: one string per example.
        path: where the examples came from (a file, a folder or a TFDS name).

    Example:

    ```python
    data = ClassificationData(texts=(["a fine film", "dull"],), labels=[1, 0],
                              label_names=["negative", "positive"], ids=["1", "2"])
    len(data), data.num_classes, data.is_regression  # (2, 2, False)
    ```
    """

    texts: tuple
    labels: list | None
    label_names: list | None
    ids: list
    path: str | None = None

    def __post_init__(self):
        texts = self.texts
        if isinstance(texts, list) and texts and all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a tuple of lists (one per segment); wrap a single "
                            "list of strings as (texts,).")
        texts = tuple(list(segment) for segment in texts)
        object.__setattr__(self, "texts", texts)
        object.__setattr__(self, "ids", [str(i) for i in self.ids])
        if not texts:
            raise ValueError("texts must hold at least one list of strings (one per segment).")
        sizes = {len(segment) for segment in texts} | {len(self.ids)}
        if self.labels is not None:
            object.__setattr__(self, "labels", list(self.labels))
            sizes.add(len(self.labels))
        if len(sizes) != 1:
            raise ValueError(
                f"texts ({[len(s) for s in texts]} per segment), ids ({len(self.ids)}) and "
                f"labels ({'None' if self.labels is None else len(self.labels)}) must have one "
                "entry per example.")
        if self.label_names is not None:
            object.__setattr__(self, "label_names", [str(n) for n in self.label_names])
            if not self.label_names:
                raise ValueError("label_names is empty; pass the class names, or None for "
                                 "regression.")
            if self.labels is not None:
                bad = [(i, y) for i, y in enumerate(self.labels)
                       if isinstance(y, bool) or not isinstance(y, numbers.Integral)
                       or not 0 <= y < len(self.label_names)]
                if not bad:
                    object.__setattr__(self, "labels", [int(y) for y in self.labels])
                else:
                    raise ValueError(
                        f"labels must be class ids in [0, {len(self.label_names)}) for "
                        f"label_names {self.label_names}; got {bad[0][1]!r} at example "
                        f"{bad[0][0]} (id {self.ids[bad[0][0]]!r}).")
        elif self.labels is not None:
            object.__setattr__(self, "labels", [float(y) for y in self.labels])

    def __len__(self):
        return len(self.ids)

    @property
    def is_regression(self):
        """`True` when the labels are scores (no `label_names`)."""
        return self.label_names is None

    @property
    def num_classes(self):
        """Outputs a model needs: the number of classes, 1 for regression."""
        return 1 if self.is_regression else len(self.label_names)

    @property
    def num_segments(self):
        """1 for single texts, 2 for sentence pairs."""
        return len(self.texts)

    def subset(self, indices):
        """The examples at `indices` (in that order), as a new `ClassificationData`.

        Example:

        ```python
        data = ClassificationData((["a", "b", "c"],), [0, 1, 0], ["x", "y"], ["1", "2", "3"])
        data.subset([2, 0]).ids  # ["3", "1"]
        ```
        """
        indices = list(indices)
        return dataclasses.replace(
            self,
            texts=tuple([segment[i] for i in indices] for segment in self.texts),
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            ids=[self.ids[i] for i in indices])

    def as_dataset(self):
        """An unbatched `tf.data.Dataset` for `BertClassifierPreprocessor`.

        Elements are `(x, y)`: `x` a `tf.string` scalar (or a tuple of them, one per
        segment), `y` an int32 class id or a float32 score. Unlabelled data gives `(x,)`, so
        that `dataset.map(preprocessor)` never reads a pair's second text as a label.

        Example:

        ```python
        data = ClassificationData((["a fine film", "dull"],), [1, 0], ["neg", "pos"], ["1", "2"])
        x, y = next(iter(data.as_dataset().batch(2)))
        y.numpy()  # [1, 0]
        ```
        """
        import tensorflow as tf

        x = self.texts[0] if len(self.texts) == 1 else tuple(self.texts)
        x = tf.nest.map_structure(lambda t: tf.constant(t, tf.string), x)
        if self.labels is None:
            return tf.data.Dataset.from_tensor_slices((x,))
        y = tf.constant(self.labels, tf.float32 if self.is_regression else tf.int32)
        return tf.data.Dataset.from_tensor_slices((x, y))


def stratified_split(data, fractions, seed=0):
    """Splits `data` into `len(fractions) + 1` parts: the rest, then one part per fraction.

    Each class is shuffled on its own (`random.Random(seed)`) and gives
    `round(fraction * class size)` examples to each held-out part, so the parts keep the class
    proportions; regression or unlabelled data is split at random as a whole. The split is a
    pure function of `seed`; inside each part the examples keep their original order.

    Args:
        data: a `ClassificationData`.
        fractions: the held-out fractions, e.g. `(0.1, 0.1)` for validation and test.
        seed: the shuffling seed.

    Example:

    ```python
    data = ClassificationData((["t"] * 10,), [0] * 5 + [1] * 5, ["a", "b"],
                              [str(i) for i in range(10)])
    train, test = stratified_split(data, [0.2], seed=0)
    len(train), len(test), sorted(test.labels)  # (8, 2, [0, 1])
    ```
    """
    fractions = [float(f) for f in fractions]
    if any(not 0.0 <= f < 1.0 for f in fractions) or sum(fractions) >= 1.0:
        raise ValueError(f"fractions must each be in [0, 1) and sum to less than 1 (the rest "
                         f"is the first part); got {fractions}.")
    if data.labels is None or data.is_regression:
        groups = [list(range(len(data)))]
    else:
        by_class = {}
        for i, label in enumerate(data.labels):
            by_class.setdefault(label, []).append(i)
        groups = [by_class[label] for label in sorted(by_class)]
    rng = random.Random(seed)
    parts = [[] for _ in range(len(fractions) + 1)]
    for group in groups:
        group = list(group)
        rng.shuffle(group)
        start = 0
        for k, fraction in enumerate(fractions):
            count = math.floor(fraction * len(group) + 0.5)
            parts[k + 1].extend(group[start:start + count])
            start += count
        parts[0].extend(group[start:])
    return tuple(data.subset(sorted(part)) for part in parts)
