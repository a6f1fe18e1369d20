"""TF Serving's layout: model names and versions are validated with messages naming the fix,
the next version is the highest numbered folder + 1 (temp folders and files do not count),
`models.config` is what TF Serving's own `ModelServerConfig` parser reads (custom mount
points, quoting), it is rewritten through a rename, and a model folder resolves to its
highest complete version. No model is built here (see test_export_cli.py)."""

import os

import pytest

from keras_bert_impl.export.layout import (
    MODELS_CONFIG,
    check_model_name,
    check_version,
    export_for_serving,
    model_names,
    model_versions,
    models_config_text,
    next_version,
    resolve_saved_model,
    write_models_config,
)


def _parse(text):
    from google.protobuf import text_format

    config_pb2 = pytest.importorskip("tensorflow_serving.config.model_server_config_pb2")
    config = text_format.Parse(text, config_pb2.ModelServerConfig())
    return [(m.name, m.base_path, m.model_platform) for m in config.model_config_list.config]


def _folders(root, *paths):
    for path in paths:
        os.makedirs(os.path.join(root, path))


def test_names_and_versions_are_checked_with_the_fix():
    for name in ("sst2", "ner-base", "Bert_SQuAD_v2", "7"):
        assert check_model_name(name) == name
    for name in ("", "two words", "../up", "a/b", "café", ".hidden", 3, None):
        with pytest.raises(ValueError, match=r"letters, digits, '-' and '_' only"):
            check_model_name(name)
    assert check_version(12) == 12
    for version in (0, -1, True, "1", 1.0):
        with pytest.raises(ValueError, match="not a positive integer"):
            check_version(version)


def test_versions_and_the_next_free_one(tmp_path):
    assert model_versions(tmp_path, "sst2") == [] and next_version(tmp_path, "sst2") == 1
    _folders(tmp_path, "sst2/1", "sst2/2", "sst2/10", "sst2/.11.tmp-abc", "sst2/0",
             "sst2/latest")
    (tmp_path / "sst2" / "12").write_text("a file, not a version")
    assert model_versions(tmp_path, "sst2") == [1, 2, 10]
    assert next_version(tmp_path, "sst2") == 11


def test_model_names_are_the_folders_with_versions(tmp_path):
    _folders(tmp_path, "sst2/1", "ner/3", "empty", ".ner.tmp-x/1", "bad name/1", "only/files")
    (tmp_path / MODELS_CONFIG).write_text("")
    assert model_names(tmp_path) == ["ner", "sst2"]
    assert model_names(tmp_path / "absent") == []


def test_models_config_is_tf_servings_text_proto():
    assert _parse(models_config_text(["ner", "sst2"])) == [
        ("ner", "/models/ner", "tensorflow"), ("sst2", "/models/sst2", "tensorflow")]
    assert _parse(models_config_text(["m"], base_path="/srv/it's here/")) == [
        ("m", "/srv/it's here/m", "tensorflow")]
    assert _parse(models_config_text(["m"], base_path="/")) == [("m", "/m", "tensorflow")]
    assert _parse(models_config_text([])) == []
    assert models_config_text(["sst2"]) == (
        "model_config_list {\n"
        "  config {\n"
        "    name: 'sst2'\n"
        "    base_path: '/models/sst2'\n"
        "    model_platform: 'tensorflow'\n"
        "  }\n"
        "}\n")


def test_models_config_is_rewritten_through_a_rename(tmp_path):
    root = tmp_path / "savedmodels"
    path = write_models_config(root)  # creates the root
    assert _parse(open(path).read()) == []
    _folders(root, "sst2/1")
    inode = os.stat(path).st_ino
    write_models_config(root, base_path="/mnt/models")
    assert _parse(open(path).read()) == [("sst2", "/mnt/models/sst2", "tensorflow")]
    assert os.stat(path).st_ino != inode  # a new file renamed over the old one
    assert sorted(os.listdir(root)) == [MODELS_CONFIG, "sst2"]  # no temp file left


def test_a_model_folder_resolves_to_its_highest_complete_version(tmp_path):
    for version in ("1", "3"):
        _folders(tmp_path, f"sst2/{version}")
        (tmp_path / "sst2" / version / "saved_model.pb").write_bytes(b"")
    _folders(tmp_path, "sst2/4")  # no saved_model.pb: not a version TF Serving could load
    assert resolve_saved_model(tmp_path / "sst2") == str(tmp_path / "sst2" / "3")
    assert resolve_saved_model(tmp_path / "sst2" / "1") == str(tmp_path / "sst2" / "1")
    with pytest.raises(FileNotFoundError, match="nowhere does not exist; pass a SavedModel"):
        resolve_saved_model(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="holds neither saved_model.pb nor a version"):
        resolve_saved_model(tmp_path / "sst2" / "4")


def test_an_existing_version_is_refused_before_anything_is_written(tmp_path):
    _folders(tmp_path, "sst2/1", "sst2/2")
    (tmp_path / "sst2" / "1" / "saved_model.pb").write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match=r"overwrite=True .* to write version 3"):
        export_for_serving(None, tmp_path, "sst2", version=1)
    assert (tmp_path / "sst2" / "1" / "saved_model.pb").read_bytes() == b"keep me"
    assert sorted(os.listdir(tmp_path)) == ["sst2"]  # models.config not touched either
    with pytest.raises(ValueError, match="not a TF Serving model folder name"):
        export_for_serving(None, tmp_path, "no spaces")
