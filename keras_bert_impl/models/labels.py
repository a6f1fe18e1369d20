"""`class_ids`: the labels a user passes to `fit` / `evaluate` as NumPy or lists, checked as
class ids of the model before any graph runs.

Keras would take a label name (`"positive"`) or an id past the model's classes inside the
training graph, where it surfaces as `Cast string to int64 is not supported` or `Received a
label value of 2 which is outside the valid range of [0, 2)` under a page of graph trace.
Here names are mapped through the model's `label_names` (as Hugging Face's `label2id` does),
and a name the model does not know, a fractional value or an id outside `0..num_classes-1`
is a `ValueError` naming the label, its position and the fix. Labels of one example each
(`[batch]`, a classifier) and of one word each (lists of lists, a tagger) are both taken; a
task leaves unchecked labels with one more axis than its ids (`label_axes`: one-hot or soft
labels, for a loss the user compiled).

Example:

```python
class_ids(["neg", "pos", "pos"], 2, ["neg", "pos"]).tolist()  # [0, 1, 1]
class_ids([[0, 2], [1]], 3)  # [[0, 2], [1]]
```
"""

import numbers

import numpy as np


def _is_name(value):
    return isinstance(value, (str, bytes, np.str_, np.bytes_))


def _name(value):
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def _position(index):
    return "y[" + ", ".join(str(i) for i in index) + "]"


def _checked(value, index, num_classes, ids, owner):
    """One label as a class id, or the error naming it."""
    if _is_name(value):
        name = _name(value)
        if ids is None:
            raise ValueError(
                f"{_position(index)} = {name!r} is a label name, but this {owner} has no "
                f"label_names: pass class ids 0..{num_classes - 1}, or build the model with "
                f"label_names=[...] (the {num_classes} names in id order) to train on names.")
        if name not in ids:
            raise ValueError(f"{_position(index)} = {name!r} is not one of this {owner}'s "
                             f"label_names {list(ids)}.")
        return ids[name]
    if isinstance(value, (bool, np.bool_)):
        value = int(value)
    if not isinstance(value, numbers.Real) or not float(value).is_integer():
        raise ValueError(f"{_position(index)} = {value!r} is not a class id: this {owner} "
                         f"takes integers 0..{num_classes - 1} (num_classes={num_classes}).")
    if not 0 <= value < num_classes:
        fix = (f"build it with num_classes={int(value) + 1} or more if the data has that many "
               "classes, else fix the labels" if value >= num_classes else "fix the labels")
        raise ValueError(f"{_position(index)} = {int(value)} is outside this {owner}'s class "
                         f"ids 0..{num_classes - 1} (num_classes={num_classes}); {fix}.")
    return int(value)


def label_axes(y):
    """How many axes of `y` (NumPy, or lists) index labels: NumPy's `ndim` without a trailing
    axis of 1 (Keras' `[batch, 1]` sparse labels), 2 for lists of lists, else 1. A task that
    takes class ids on `k` axes checks `y` where this is at most `k`: one more axis is a
    one-hot or soft label per class, for a loss the user compiled.

    Example:

    ```python
    import numpy as np
    label_axes([0, 2, 1]), label_axes(np.zeros((4, 1))), label_axes([[0.9, 0.1]])  # (1, 1, 2)
    ```
    """
    if isinstance(y, np.ndarray):
        return y.ndim - 1 if y.ndim > 1 and y.shape[-1] == 1 else y.ndim
    rows = list(y)
    return 2 if rows and all(isinstance(r, (list, tuple, np.ndarray)) for r in rows) else 1


def class_ids(y, num_classes, label_names=None, owner="model"):
    """`y` with every label a class id in `0..num_classes - 1`: an array or list of one label
    per example, or a list of lists (one label per word); names are mapped through
    `label_names`. Returns an int32 array for one label per example, lists of ints for
    nested lists. Raises `ValueError` at the first label that is not a class id (see the
    module docstring); `owner` names the model in the message."""
    ids = None if label_names is None else {str(n): i for i, n in enumerate(label_names)}
    if isinstance(y, (list, tuple)) and y and all(isinstance(v, numbers.Integral) for v in y):
        y = np.asarray(y)  # a flat list of ids: the vectorized check below
    if isinstance(y, np.ndarray) and y.dtype != object:
        flat = y.reshape(-1)
        if y.dtype.kind in "biu":  # integers: one vectorized range check
            bad = np.flatnonzero((flat < 0) | (flat >= num_classes))
            if bad.size:
                index = np.unravel_index(bad[0], y.shape)
                _checked(int(flat[bad[0]]), index, num_classes, ids, owner)
            return y.astype("int32")
        values = [_checked(v, np.unravel_index(i, y.shape), num_classes, ids, owner)
                  for i, v in enumerate(flat.tolist())]
        return np.asarray(values, "int32").reshape(y.shape)
    rows = list(y)
    if rows and all(isinstance(row, (list, tuple, np.ndarray)) for row in rows):
        return [[_checked(v, (i, j), num_classes, ids, owner) for j, v in enumerate(row)]
                for i, row in enumerate(rows)]
    return np.asarray([_checked(v, (i,), num_classes, ids, owner)
                       for i, v in enumerate(rows)], "int32")
