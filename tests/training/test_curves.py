"""Training curves: TensorBoard scalars read back, and drawn into a PNG."""

import pytest
import tensorflow as tf

from keras_bert_impl.training.curves import read_scalars, save_curves


def test_read_scalars_keeps_the_last_value_of_a_step_and_sorts(tmp_path):
    first = tf.summary.create_file_writer(str(tmp_path))
    with first.as_default():
        for step, value in ((2, 0.5), (0, 2.0), (1, 1.0)):
            tf.summary.scalar("epoch_loss", value, step=step)
        tf.summary.text("notes", "not a number", step=0)
    first.close()
    # A resumed run writes a second event file that repeats step 2.
    second = tf.summary.create_file_writer(str(tmp_path), filename_suffix=".resumed")
    with second.as_default():
        tf.summary.scalar("epoch_loss", 0.25, step=2)
    second.close()
    assert len(list(tmp_path.iterdir())) == 2
    scalars = read_scalars(str(tmp_path))
    assert list(scalars) == ["epoch_loss"]
    assert scalars["epoch_loss"] == [(0, 2.0), (1, 1.0), (2, 0.25)]
    assert read_scalars(str(tmp_path / "missing")) == {}


def test_read_scalars_reads_up_to_a_record_a_kill_cut_short(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        for step in range(5):
            tf.summary.scalar("epoch_loss", 1.0 / (step + 1), step=step)
    writer.close()
    (path,) = tmp_path.iterdir()
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])  # the last record's write interrupted
    with pytest.warns(UserWarning, match=r"record 6 is cut short or corrupt .* the 5 events"):
        scalars = read_scalars(str(tmp_path))
    # The file's first event is its version record; the four whole scalars are kept.
    assert scalars["epoch_loss"] == [(step, pytest.approx(1.0 / (step + 1))) for step in range(4)]
    path.write_bytes(whole)
    assert len(read_scalars(str(tmp_path))["epoch_loss"]) == 5


def test_save_curves_writes_a_png_and_nothing_else(tmp_path):
    png = tmp_path / "sub" / "curves.png"
    panels = {"loss": {"train": [(0, 2.0), (1, 1.0)], "held back": []},
              "accuracy": {"a": [(1, 0.5), (2, 0.75)]}}
    assert save_curves(panels, str(png)) == str(png)
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import matplotlib.image

    height, width, _ = matplotlib.image.imread(str(png)).shape
    assert (width, height) == (1000, 360)  # two panels of 5 x 3.6 inches at 100 dpi
    assert sorted(p.name for p in png.parent.iterdir()) == ["curves.png"]
    with pytest.raises(ValueError):
        save_curves({}, str(tmp_path / "empty.png"))
