"""Training curves: scalars read back from TensorBoard event files, drawn as one PNG.

`read_scalars(logdir)` reads what Keras' `TensorBoard` callback wrote (`batch_*` every
`update_freq` steps, `epoch_*` per epoch; `logs/train` and `logs/validation` of a run), so
the curves of a finished, resumed or killed run can be drawn without TensorBoard (a file whose
last record a kill cut short gives the events before it, with a warning). `save_curves` draws
panels of named series with matplotlib (the `demo` extra), headless.
"""

import glob
import os
import warnings


def read_scalars(logdir):
    """`{tag: [(step, value), ...]}` of the scalar summaries in `logdir`'s event files,
    sorted by step; a step written twice (a resumed run) keeps its last value. A missing
    folder gives `{}`; a file whose last record was cut short (a run killed while writing it)
    gives the events before that record, with a warning.

    Example:

    ```python
    import tempfile
    import tensorflow as tf
    logdir = tempfile.mkdtemp()
    with tf.summary.create_file_writer(logdir).as_default():
        for step in range(3):
            tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
    read_scalars(logdir)["epoch_loss"]  # [(0, 1.0), (1, 0.5), (2, 0.333...)]
    ```
    """
    import tensorflow as tf

    by_tag = {}
    for path in sorted(glob.glob(os.path.join(logdir, "events.out.tfevents.*"))):
        for event in _events(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    number = tf.make_ndarray(value.tensor)
                    if number.size != 1 or number.dtype.kind not in "fiu":
                        continue
                    scalar = float(number.reshape(()))
                elif value.HasField("simple_value"):
                    scalar = float(value.simple_value)
                else:
                    continue
                by_tag.setdefault(value.tag, {})[int(event.step)] = scalar
    return {tag: sorted(points.items()) for tag, points in by_tag.items()}


def _events(path):
    """The `Event` protos of one TensorBoard event file, in order, read as TFRecords; a record
    that cannot be read (cut short by a kill, or corrupt) ends the file with a warning naming
    it and how many events were read."""
    import tensorflow as tf

    records = iter(tf.data.TFRecordDataset(path))
    count = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except tf.errors.DataLossError:
            warnings.warn(f"{path}: record {count + 1} is cut short or corrupt (a run killed "
                          f"while writing it?); reading the {count} events before it.",
                          stacklevel=3)
            return
        count += 1
        yield tf.compat.v1.Event.FromString(record.numpy())


def save_curves(panels, path, columns=3):
    """Draws `{panel title: {series name: [(x, y), ...]}}` side by side into the PNG `path`
    (written to a temp name, then renamed); empty series are left out.

    Example:

    ```python
    import os, tempfile
    png = os.path.join(tempfile.mkdtemp(), "curves.png")
    save_curves({"loss": {"train": [(0, 2.0), (1, 1.0)], "validation": [(1, 1.5)]}}, png)
    ```
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = max(1, min(columns, len(panels)))
    rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.6 * rows),
                                squeeze=False)
    for ax, (title, series) in zip(axes.flat, panels.items()):
        for name, points in series.items():
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o" if len(points) < 20 else None, label=name)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if any(series.values()):
            ax.legend()
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    figure.tight_layout()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}.png")
    try:
        figure.savefig(tmp, dpi=100)
        os.replace(tmp, path)
    finally:
        plt.close(figure)
        if os.path.exists(tmp):
            os.remove(tmp)
    return path
