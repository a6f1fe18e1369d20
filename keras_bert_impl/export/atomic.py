"""Writing a whole directory atomically: into a temp folder beside it, then renamed into place.

A reader (TF Serving polling `savedmodels/`, a user's `ls`) sees either nothing, the old
directory or the complete new one, never a half-written export: the temp folder is a hidden
sibling (`.NAME.tmp-XXXX`, same file system, so the rename is atomic), and it is removed when
the writer fails. Replacing an existing directory (`overwrite=True`) moves the old one aside,
renames the new one in, then deletes the old one; if the rename fails the old one is put back.
"""

import contextlib
import os
import shutil
import tempfile

from keras_bert_impl.presets.ours import replace_directory


def check_writable(path, overwrite=False):
    """Raises unless a directory may be written at `path`: it must not exist, be an empty
    directory, or (with `overwrite`) be a directory. A file at `path` is always refused.

    Example:

    ```python
    import os, tempfile
    folder = tempfile.mkdtemp()
    check_writable(os.path.join(folder, "new"))  # None
    check_writable(folder)  # None (empty)
    ```
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path) or os.path.islink(path):
        raise FileExistsError(f"{path!r} exists and is not a directory; remove it or choose "
                              "another path.")
    if os.listdir(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists and is not empty; pass overwrite=True to "
                              "replace it, or choose another path.")


@contextlib.contextmanager
def atomic_directory(path, overwrite=False):
    """Yields a temp directory beside `path`; on a clean exit it becomes `path`.

    `path` is checked first (`check_writable`) and again just before the rename. On an
    exception the temp directory is removed and `path` is left as it was.

    Example:

    ```python
    import os, tempfile
    target = os.path.join(tempfile.mkdtemp(), "export")
    with atomic_directory(target) as folder:
        open(os.path.join(folder, "a.txt"), "w").close()
        os.path.exists(target)  # False
    sorted(os.listdir(target))  # ['a.txt']
    ```
    """
    path = os.path.abspath(os.fspath(path))
    check_writable(path, overwrite)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=parent)
    try:
        yield temp
        check_writable(path, overwrite)
        _move_into_place(temp, path)
    finally:
        if os.path.exists(temp):
            shutil.rmtree(temp, ignore_errors=True)


def _move_into_place(temp, path):
    # mkdtemp makes the folder 0700; give it the mode a plain mkdir would.
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(temp, 0o777 & ~mask)
    replace_directory(temp, path)
