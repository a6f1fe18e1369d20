"""TF Serving's directory layout: one folder per model, one numbered folder per version, and
the `models.config` file that tells the server which models to load.

```
savedmodels/
  models.config                  model_config_list { config { name: 'sst2' ... } ... }
  sst2/
    1/                           a SavedModel (export_saved_model)
      saved_model.pb  variables/  assets/vocab.txt
      assets.extra/tf_serving_warmup_requests
    2/
  conll/
    1/
```

TF Serving serves the highest version of each model folder and ignores folders whose names
are not numbers (our temp folders `.2.tmp-XXXX` among them). `models.config` is TF Serving's
`ModelServerConfig` in protobuf text format; its `base_path`s are paths *inside the server's
container*: with `savedmodels/` mounted at `/models` (`docker run --mount
type=bind,source=$PWD/savedmodels,target=/models ...`), model `sst2` is at `/models/sst2`.
Pass `base_path=` to match another mount point.

`export_for_serving` writes a new version atomically: the SavedModel and its warmup requests
go into a hidden temp folder beside the version folder, which is renamed into place complete
(TF Serving never loads half a version); an existing version is replaced only with
`overwrite=True`. `models.config` is then rewritten (temp file + rename) to list every model
folder under the root.

Example:

```python
import os, tempfile
root = tempfile.mkdtemp()
os.makedirs(os.path.join(root, "sst2", "1"))
next_version(root, "sst2")  # 2
path = write_models_config(root)
os.path.basename(path), model_names(root)  # ('models.config', ['sst2'])
```
"""

import os
import re

MODELS_CONFIG = "models.config"
DEFAULT_BASE_PATH = "/models"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_VERSION = re.compile(r"^[0-9]+$")


def check_model_name(name):
    """Returns `name` if it is a valid model name (letters, digits, `-` and `_`), else raises
    a `ValueError` naming the problem and the fix.

    Example:

    ```python
    check_model_name("sst2-base_v1")  # 'sst2-base_v1'
    ```
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"Model name {name!r} is not a TF Serving model folder name; use "
                         "letters, digits, '-' and '_' only (e.g. 'sst2' or 'ner-base').")
    return name


def check_version(version):
    """Returns `version` as an `int` if it is a positive integer, else raises `ValueError`.

    Example:

    ```python
    check_version(3)  # 3
    ```
    """
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"Version {version!r} is not a positive integer; TF Serving names "
                         "versions 1, 2, 3, ... (leave it out for the next free one).")
    return version


def model_versions(root, name):
    """The versions (sorted ints) under `root/name`; `[]` when the folder does not exist.
    Only numbered folders count (temp folders and other files do not).

    Example:

    ```python
    import os, tempfile
    root = tempfile.mkdtemp()
    for folder in ("1", "10", "2", ".3.tmp-x", "notes"):
        os.makedirs(os.path.join(root, "sst2", folder))
    model_versions(root, "sst2")  # [1, 2, 10]
    ```
    """
    folder = os.path.join(os.fspath(root), check_model_name(name))
    if not os.path.isdir(folder):
        return []
    return sorted(int(entry) for entry in os.listdir(folder)
                  if _VERSION.match(entry) and int(entry) > 0
                  and os.path.isdir(os.path.join(folder, entry)))


def next_version(root, name):
    """The next free version of `root/name`: the highest existing one + 1, or 1.

    Example:

    ```python
    import tempfile
    next_version(tempfile.mkdtemp(), "sst2")  # 1
    ```
    """
    versions = model_versions(root, name)
    return versions[-1] + 1 if versions else 1


def model_names(root):
    """The model folders under `root` (sorted): valid model names holding at least one
    version folder.

    Example:

    ```python
    import os, tempfile
    root = tempfile.mkdtemp()
    for folder in ("sst2/1", "ner/3", "empty", ".ner.tmp-x/1", "bad name/1"):
        os.makedirs(os.path.join(root, folder))
    model_names(root)  # ['ner', 'sst2']
    ```
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        return []
    return sorted(entry for entry in os.listdir(root)
                  if _NAME.match(entry) and os.path.isdir(os.path.join(root, entry))
                  and model_versions(root, entry))


def models_config_text(names, base_path=DEFAULT_BASE_PATH):
    """TF Serving's `ModelServerConfig` text proto serving `names`, each at
    `base_path/NAME` (a path inside the server's container).

    Example:

    ```python
    lines = models_config_text(["sst2"]).splitlines()
    lines[:2], lines[-2:]  # (['model_config_list {', '  config {'], ['  }', '}'])
    lines[2].strip(), lines[3].strip()  # ("name: 'sst2'", "base_path: '/models/sst2'")
    lines[4].strip()  # "model_platform: 'tensorflow'"
    ```
    """
    base_path = base_path.rstrip("/") or "/"
    lines = ["model_config_list {"]
    for name in names:
        check_model_name(name)
        path = f"{base_path}/{name}" if base_path != "/" else f"/{name}"
        lines += ["  config {", f"    name: '{name}'", f"    base_path: '{_quoted(path)}'",
                  "    model_platform: 'tensorflow'", "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_models_config(root, base_path=DEFAULT_BASE_PATH):
    """(Re)writes `root/models.config` listing every model folder under `root`
    (`model_names`), through a temp file and a rename; returns its path.

    Example:

    ```python
    import os, tempfile
    root = tempfile.mkdtemp()
    os.makedirs(os.path.join(root, "ner", "1"))
    path = write_models_config(root, base_path="/srv/models")
    "base_path: '/srv/models/ner'" in open(path).read()  # True
    ```
    """
    from keras_bert_impl.presets.ours import atomic_write_text

    root = os.fspath(root)
    os.makedirs(root, exist_ok=True)
    path = os.path.join(root, MODELS_CONFIG)
    atomic_write_text(path, models_config_text(model_names(root), base_path))
    return path


def resolve_saved_model(path):
    """The SavedModel folder `path` names: `path` itself when it holds `saved_model.pb`, else
    the highest version folder under it (`savedmodels/NAME`). Raises `FileNotFoundError`
    naming what is missing.

    Example:

    ```python
    import os, tempfile
    root = tempfile.mkdtemp()
    for version in ("1", "2"):
        os.makedirs(os.path.join(root, "sst2", version))
        open(os.path.join(root, "sst2", version, "saved_model.pb"), "wb").close()
    resolve_saved_model(os.path.join(root, "sst2")) == os.path.join(root, "sst2", "2")  # True
    ```
    """
    path = os.fspath(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path} does not exist; pass a SavedModel folder "
                                "(savedmodels/NAME/VERSION) or a model folder (savedmodels/NAME).")
    versions = sorted((int(entry) for entry in os.listdir(path) if _VERSION.match(entry)
                       and os.path.isfile(os.path.join(path, entry, "saved_model.pb"))),
                      reverse=True)
    if not versions:
        raise FileNotFoundError(f"{path} holds neither saved_model.pb nor a version folder "
                                "with one (NAME/1/saved_model.pb); export a model there with "
                                "keras-bert export.")
    return os.path.join(path, str(versions[0]))


def export_for_serving(task, root, name, version=None, overwrite=False, preprocessor=None,
                       pairs=False, text_signature=True, warmup=True,
                       base_path=DEFAULT_BASE_PATH):
    """Exports `task` to `root/name/version` (TF Serving's layout, see the module docstring)
    with warmup requests, then rewrites `root/models.config`.

    Args:
        task: a fine-tuned task model (see `export_saved_model`).
        root: the folder TF Serving reads (`savedmodels`).
        name: the model's name: letters, digits, `-`, `_`.
        version: a positive integer; default the next free one (highest + 1, or 1).
        overwrite: replace an existing `version` (refused otherwise).
        preprocessor, pairs, text_signature: as `export_saved_model`.
        warmup: write `assets.extra/tf_serving_warmup_requests` (see
            `keras_bert_impl.export.warmup`).
        base_path: where `root` is mounted in the server's container (`models.config`).

    Returns:
        The version folder written.

    Example:

    ```python
    import os, tempfile
    from keras_bert_impl.models import BertClassifier
    from keras_bert_impl.text import BertClassifierPreprocessor, BertTokenizer
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "good", "bad", "film"]
    classifier = BertClassifier.from_preset(
        "bert_tiny", vocab_size=len(vocab), num_classes=2, label_names=["neg", "pos"],
        num_layers=1, hidden_size=16, num_heads=2,
        preprocessor=BertClassifierPreprocessor(BertTokenizer(vocab), sequence_length=8))
    root = tempfile.mkdtemp()
    path = export_for_serving(classifier, root, "sst2")
    os.path.relpath(path, root)  # 'sst2/1'
    os.listdir(os.path.join(path, "assets.extra"))  # ['tf_serving_warmup_requests']
    sorted(os.listdir(root))  # ['models.config', 'sst2']
    ```
    """
    from keras_bert_impl.export.atomic import atomic_directory
    from keras_bert_impl.export.saved_model import export_saved_model
    from keras_bert_impl.export.warmup import write_warmup_requests

    root = os.fspath(root)
    check_model_name(name)
    version = next_version(root, name) if version is None else check_version(version)
    path = os.path.join(root, name, str(version))
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists (version {version} of {name!r}); pass "
                              "overwrite=True (keras-bert export --overwrite) to replace it, or "
                              f"leave the version out to write version {next_version(root, name)}.")
    with atomic_directory(path, overwrite=overwrite) as folder:
        export_saved_model(task, folder, preprocessor=preprocessor, pairs=pairs,
                           text_signature=text_signature)
        if warmup:
            write_warmup_requests(folder, name)
    write_models_config(root, base_path)
    return path


def _quoted(text):
    """`text` escaped for a single-quoted protobuf text-format string."""
    return text.replace("\\", "\\\\").replace("'", "\\'")
