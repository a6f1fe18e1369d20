"""Our preset directory format: `preset.json` + `model.safetensors` [+ `vocab.txt`].

```
preset.json        {"format": "keras_bert_impl", "format_version": 1, "config": {...},
                    "model_class": "BertPretrainer", "model_kwargs": {...},
                    "weights": "model.safetensors",
                    "tokenizer": {"vocabulary": "vocab.txt", "lowercase": true} | null,
                    "metadata": {...}}
model.safetensors  {canonical_name: array} (see `keras_bert_impl.presets.canonical`)
vocab.txt          one WordPiece per line (index = id)
```

Any of our models loads from any of our presets (an encoder from a pretrainer's preset, a
classifier from an encoder's preset with a fresh head).

Writing never loses data (`write_preset`, `staged_preset_dir`):

* the target must be absent, empty, or already one of our presets; anything else (a Hugging
  Face directory, the checkpoint being converted, a home folder) is refused unless
  `overwrite=True`, which replaces only our three files there and keeps every other file;
  an existing preset, too, is replaced only with `overwrite=True`;
* the whole preset is written into a temp directory beside the target and renamed into
  place, so an interrupted write leaves the old preset (or nothing) and no half-written one;
  a temp directory left by a killed process is removed by the next write;
* a pretraining run directory (`into_existing_run=True`: it also holds `checkpoints/` and
  `logs/`) gets its preset files replaced one by one, each through a temp file and a rename,
  `preset.json` last, so it holds a complete preset at every moment;
* files get the mode a plain `open()` gives (0644 under the usual umask), directories 0755.

Example:

```python
import os, tempfile
import numpy as np
from keras_bert_impl.config import BertConfig
folder = os.path.join(tempfile.mkdtemp(), "preset")
write_preset(folder, BertConfig.from_preset("bert_tiny"),
             {"pooler/dense/bias": np.zeros(128, "float32")}, model_class="BertEncoder")
read_preset_file(folder)["model_class"]  # 'BertEncoder'
```
"""

import contextlib
import json
import os
import re
import shutil
import tempfile

import numpy as np

from keras_bert_impl.config import BertConfig

PRESET_FILE = "preset.json"
WEIGHTS_FILE = "model.safetensors"
VOCAB_FILE = "vocab.txt"
FORMAT_NAME = "keras_bert_impl"
FORMAT_VERSION = 1


def _umask():
    """The process umask, read without changing it where the OS allows (`os.umask` sets it,
    briefly leaving files that other threads create at that moment world-writable)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _publish(tmp, path):
    """Gives `tmp` the mode a plain `open(path, "w")` would have, then renames it to `path`."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def atomic_write_text(path, text):
    """Writes `text` to `path` through a temp file in the same directory and a rename."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_preset_file(path):
    """The parsed `preset.json` of our preset directory `path` (validated)."""
    preset_path = os.path.join(path, PRESET_FILE)
    try:
        with open(preset_path, encoding="utf-8") as f:
            meta = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{preset_path} is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ValueError(f"{preset_path} is not a {FORMAT_NAME} preset (no 'format' key).")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ValueError(
            f"{preset_path} has format_version {meta['format_version']}; this version of "
            f"keras_bert_impl reads up to {FORMAT_VERSION}. Upgrade keras_bert_impl."
        )
    return meta


def read_config(path):
    """The `BertConfig` stored in our preset `path`."""
    try:
        return BertConfig.from_dict(read_preset_file(path)["config"])
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"Invalid config in {os.path.join(path, PRESET_FILE)}: {e}") from e


def read_weights(path):
    """`({canonical: array}, weights_file)` of our preset `path`."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    meta = read_preset_file(path)
    weights_path = os.path.join(path, meta.get("weights", WEIGHTS_FILE))
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(f"{weights_path} (named in {PRESET_FILE}) does not exist.")
    try:
        return load_file(weights_path), weights_path
    except (SafetensorError, OSError, ValueError) as e:
        raise ValueError(f"Cannot read {weights_path} (truncated?): {e}") from e


def _is_our_preset(path):
    try:
        read_preset_file(path)
    except (OSError, ValueError):
        return False
    return True


# Temp names our writers use: `.NAME.tmp-PID-xxxxxxxx` (staged preset directories, beside
# the target or inside a run directory), `.NAME.old-PID-xxxxxxxx` (a replaced preset on its
# way out), `FILE.tmp-PID` (`atomic_write_text` of our own files, `write_lora_file` of a
# run's adapters), `.NAME-PID.tmp.keras` (`.keras` files saved by a run or the demo, then
# renamed).
_TEMP_NAME = re.compile(
    r"^(\..+\.(tmp|old)-(?P<pid>\d+)-[a-z0-9_]{8}"
    r"|(preset\.json|model\.safetensors|vocab\.txt|summary\.json|lora\.safetensors)"
    r"\.tmp-(?P<pid2>\d+)"
    r"|\.[\w.]+-(?P<pid3>\d+)\.tmp\.keras)$"
)


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _temp_pid(name):
    match = _TEMP_NAME.match(name)
    if not match:
        return None
    return int(match.group("pid") or match.group("pid2") or match.group("pid3"))


def remove_stale_temp_files(folder, prefix=""):
    """Removes our temp files/dirs in `folder` (names starting with `prefix`) whose writing
    process is gone (killed mid-write); returns the names removed.

    A `.NAME.old-*` directory is kept when `NAME` itself is missing: it then holds the only
    copy of a preset whose replacement was interrupted between two renames.
    """
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        pid = _temp_pid(name)
        if pid is None or not name.startswith(prefix) or _pid_alive(pid):
            continue
        if ".old-" in name:
            original = name[1:name.rindex(".old-")]
            if not os.path.exists(os.path.join(folder, original)):
                continue
        remove_path(os.path.join(folder, name))
        removed.append(name)
    return removed


def remove_path(path):
    """Removes the file, link or directory tree at `path`; a missing path is fine."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            os.remove(path)


def _entries(path):
    """Names in directory `path` other than our own stale temp files."""
    return sorted(n for n in os.listdir(path) if _temp_pid(n) is None)


def check_preset_target(preset_dir, overwrite=False):
    """Raises `FileExistsError` unless a preset may be written to `preset_dir`: absent, empty,
    or (with `overwrite=True`) anything else."""
    path = os.fspath(preset_dir)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise FileExistsError(f"{path} exists and is not a directory; choose a directory for "
                              "the preset.")
    if not os.path.isdir(path) or overwrite:
        return
    entries = _entries(path)
    if not entries:
        return
    if _is_our_preset(path):
        raise FileExistsError(
            f"{path} already holds a preset; pass --overwrite (overwrite=True) to replace it, "
            "or choose another directory."
        )
    shown = entries[:8] + (["..."] if len(entries) > 8 else [])
    raise FileExistsError(
        f"{path} is not empty ({', '.join(shown)}) and is not one of our presets: refusing to "
        f"write {WEIGHTS_FILE}, {PRESET_FILE} and {VOCAB_FILE} there. Choose a new or empty "
        "directory, or pass --overwrite (overwrite=True) to replace those three files (the "
        "other files are kept)."
    )


def _mode(folder=False):
    return (0o777 if folder else 0o666) & ~_umask()


def _move_files_into(staged, target, keep_preset_file):
    """Moves every file of `staged` into `target` (`os.replace`, one by one), `preset.json`
    last. Unless `keep_preset_file`, the old `preset.json` goes first, so that a directory
    whose files are half replaced is not taken for a preset."""
    names = sorted(os.listdir(staged), key=lambda n: n == PRESET_FILE)
    if not keep_preset_file and os.path.exists(os.path.join(target, PRESET_FILE)):
        os.remove(os.path.join(target, PRESET_FILE))
    for name in names:
        os.replace(os.path.join(staged, name), os.path.join(target, name))


def replace_directory(staged, target):
    """Renames the directory `staged` to `target`: in one rename onto an absent or empty
    `target`; a non-empty `target` is moved aside first (a hidden sibling), put back if the
    rename fails, and deleted after. A reader sees the old directory or the new one.

    Example:

    ```python
    import os, tempfile
    root = tempfile.mkdtemp()
    new, target = os.path.join(root, "new"), os.path.join(root, "target")
    os.makedirs(new); os.makedirs(target)
    open(os.path.join(new, "b.txt"), "w").close(); open(os.path.join(target, "a.txt"), "w").close()
    replace_directory(new, target)
    sorted(os.listdir(target)), sorted(os.listdir(root))  # (['b.txt'], ['target'])
    ```
    """
    if not (os.path.isdir(target) and os.listdir(target)):
        os.replace(staged, target)
        return
    parent, name = os.path.split(os.path.abspath(target).rstrip(os.sep))
    old = tempfile.mkdtemp(prefix=f".{name}.old-{os.getpid()}-", dir=parent)
    os.replace(target, old)
    try:
        os.replace(staged, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_preset_dir(preset_dir, overwrite=False, into_existing_run=False):
    """A temp directory to write a whole preset into; on success it replaces `preset_dir`.

    The target is checked first (`check_preset_target`: absent, empty, or `overwrite=True`),
    so a refused write costs nothing. On leaving the block: an absent or empty target (or,
    with `overwrite=True`, a directory holding only our preset files) is replaced by the temp
    directory in one rename; a directory holding other files too (a pretraining run with
    `into_existing_run=True`, or a foreign directory with `overwrite=True`) gets the preset's
    files moved in one by one, `preset.json` last, its other files untouched. On an error
    the temp directory, and any parent directory created for it, are removed.

    Example (write anything that writes a preset, here `write_preset`):

    ```python
    import os, tempfile
    import numpy as np
    from keras_bert_impl.config import BertConfig
    target = os.path.join(tempfile.mkdtemp(), "preset")
    with staged_preset_dir(target) as folder:
        write_preset(folder, BertConfig.from_preset("bert_tiny"),
                     {"pooler/dense/bias": np.zeros(128, "float32")}, model_class="BertEncoder")
    sorted(os.listdir(target))  # ['model.safetensors', 'preset.json']
    ```
    """
    target = os.path.abspath(os.fspath(preset_dir))
    if not into_existing_run:
        check_preset_target(preset_dir, overwrite)
    elif os.path.lexists(target) and not os.path.isdir(target):
        raise FileExistsError(f"{target} exists and is not a directory.")
    name = os.path.basename(target.rstrip(os.sep)) or "preset"
    parent = os.path.dirname(target)
    created = []  # parent directories made here, removed again on failure
    folder = parent
    while not os.path.isdir(folder):
        created.append(folder)
        folder = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    in_place = os.path.isdir(target) and bool(_entries(target)) and (
        into_existing_run
        or any(n not in (PRESET_FILE, WEIGHTS_FILE, VOCAB_FILE) for n in _entries(target))
    )
    # Files moved in one by one are staged inside the target (same file system for sure);
    # a directory that is renamed into place is staged beside it.
    stage_in = target if in_place else parent
    remove_stale_temp_files(stage_in, prefix=f".{name}." if stage_in == parent else "")
    staged = tempfile.mkdtemp(prefix=f".{name}.tmp-{os.getpid()}-", dir=stage_in)
    try:
        os.chmod(staged, _mode(folder=True))
        yield staged
        if in_place:
            _move_files_into(staged, target, keep_preset_file=into_existing_run)
        else:  # absent, empty, or our preset replaced (overwrite=True)
            replace_directory(staged, target)
    finally:
        if os.path.isdir(staged):
            shutil.rmtree(staged, ignore_errors=True)
        if not os.path.isdir(target):
            for folder in created:  # deepest first; only those still empty go
                with contextlib.suppress(OSError):
                    os.rmdir(folder)


def _write_files(folder, config, weights, model_class, model_kwargs, tokenizer, metadata):
    from safetensors.numpy import save_file

    weights_path = os.path.join(folder, WEIGHTS_FILE)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in weights.items()},
        weights_path,
        metadata={"format": FORMAT_NAME},
    )
    os.chmod(weights_path, _mode())  # safetensors creates it 0600
    tokenizer_meta = None
    if tokenizer is not None:
        atomic_write_text(
            os.path.join(folder, VOCAB_FILE), "\n".join(tokenizer.tokens()) + "\n"
        )
        tokenizer_meta = {"vocabulary": VOCAB_FILE, "lowercase": bool(tokenizer.lowercase)}
    meta = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model_class": model_class,
        "model_kwargs": dict(model_kwargs or {}),
        "config": config.to_dict(),
        "weights": WEIGHTS_FILE,
        "tokenizer": tokenizer_meta,
        "metadata": dict(metadata or {}),
    }
    atomic_write_text(
        os.path.join(folder, PRESET_FILE), json.dumps(meta, indent=2, sort_keys=True) + "\n"
    )


def write_preset(preset_dir, config, weights, model_class, model_kwargs=None, tokenizer=None,
                 metadata=None, overwrite=False, into_existing_run=False):
    """Writes our preset into `preset_dir` (created if needed); returns `preset_dir`.

    Args:
        preset_dir: target directory: absent, empty, or (with `overwrite=True`) anything
            else; see the module docstring.
        config: the `BertConfig`.
        weights: `{canonical_name: array}`.
        model_class: name of the class that wrote it (`"BertPretrainer"`, ...).
        model_kwargs: the model's own constructor arguments (`num_classes`, `dropout`).
        tokenizer: optional `TokenizerSpec` (vocabulary + casing), written as `vocab.txt`.
        metadata: optional JSON-able dict kept under `"metadata"` (e.g. a run's step).
        overwrite: replace an existing preset, or our three files in a non-empty directory
            that is not a preset (other files there are kept). Off, both are refused with a
            `FileExistsError` before anything is written.
        into_existing_run: `preset_dir` is a pretraining run directory (`checkpoints/`,
            `logs/`, ...): its preset files are replaced one by one, each atomically,
            `preset.json` last; nothing is refused.

    Raises:
        FileExistsError: `preset_dir` is not empty and `overwrite` is off.
    """
    with staged_preset_dir(preset_dir, overwrite=overwrite,
                           into_existing_run=into_existing_run) as folder:
        _write_files(folder, config, weights, model_class, model_kwargs, tokenizer, metadata)
    return preset_dir
