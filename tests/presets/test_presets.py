"""The front door: format detection, our preset round trip, bad input, hub names, tokenizer
spec and casing warnings, and `keras-bert convert`."""

import json
import os
import shutil
import sys
import warnings

import numpy as np
import pytest

from keras_bert_impl import (
    BertClassifier,
    BertEncoder,
    BertPretrainer,
    BertSpanLabeler,
    BertTokenClassifier,
)
from keras_bert_impl.presets import (
    TokenizerSpec,
    WeightLoadError,
    detect_format,
    resolve_tokenizer_spec,
)
from tests.presets.helpers import bert_tiny_mlm_dir, encode, minilm_dir, real_sentences

SMALL = {"vocab_size": 120, "hidden_size": 16, "num_layers": 2, "num_heads": 2,
         "max_position_embeddings": 32}


def _x(batch=3, seq=10):
    rng = np.random.default_rng(0)
    mask = np.ones((batch, seq), "int32")
    mask[-1, 6:] = 0
    return {"token_ids": rng.integers(5, 120, (batch, seq)).astype("int32") * mask,
            "segment_ids": np.zeros((batch, seq), "int32"), "padding_mask": mask}


def _vocab(tmp_path, tokens=None):
    tokens = tokens or ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        f"w{i}" for i in range(115)]
    path = os.path.join(tmp_path, "vocab_src.txt")
    with open(path, "w") as f:
        f.write("\n".join(tokens) + "\n")
    return path


def _copy_hf(tmp_path, source=None, name="hf"):
    target = os.path.join(tmp_path, name)
    shutil.copytree(source or minilm_dir(), target)
    return target


# --- our format ------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, kwargs", [
    (BertEncoder, {}), (BertPretrainer, {}), (BertClassifier, {"num_classes": 3}),
    (BertTokenClassifier, {"num_classes": 5}), (BertSpanLabeler, {}),
])
def test_save_to_preset_round_trip(tmp_path, cls, kwargs):
    encoder = BertEncoder(SMALL)
    model = encoder if cls is BertEncoder else (
        BertPretrainer(encoder) if cls is BertPretrainer else cls(encoder, **kwargs))
    x = _x()
    if cls is BertPretrainer:
        x["mask_positions"] = np.array([[1, 2]] * 3, "int32")
    spec = TokenizerSpec(vocabulary=_vocab(tmp_path), lowercase=True, source="test")
    path = os.path.join(tmp_path, "preset")
    model.save_to_preset(path, tokenizer=spec)
    assert detect_format(path) == "keras_bert_impl"
    assert sorted(os.listdir(path)) == ["model.safetensors", "preset.json", "vocab.txt"]
    restored = cls.from_preset(path)
    assert type(restored) is cls
    expected, actual = model(x), restored(x)
    if isinstance(expected, dict):
        for key in ("start_logits", "end_logits", "mlm_logits", "nsp_logits",
                    "sequence_output", "pooled_output"):
            if key in expected:
                np.testing.assert_array_equal(actual[key].numpy(), expected[key].numpy())
    else:
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())
    restored_spec = resolve_tokenizer_spec(path, warn=False)
    assert restored_spec.lowercase is True and restored_spec.tokens() == spec.tokens()


def test_encoder_from_pretrainer_preset_and_classifier_from_encoder_preset(tmp_path):
    pretrainer = BertPretrainer(BertEncoder(SMALL))
    path = os.path.join(tmp_path, "p")
    pretrainer.save_to_preset(path)
    encoder = BertEncoder.from_preset(path)
    x = _x()
    np.testing.assert_array_equal(
        encoder(x)["sequence_output"].numpy(), pretrainer.encoder(x)["sequence_output"].numpy()
    )
    with pytest.warns(UserWarning, match="classifier head"):
        classifier = BertClassifier.from_preset(path, num_classes=4)
    assert classifier(x).shape == (3, 4)


def test_architecture_names_stay_untrained_models():
    encoder = BertEncoder.from_preset("bert_tiny")
    assert encoder.config.num_layers == 2 and encoder.config.hidden_size == 128


# --- Hugging Face directories through the front door -----------------------------------------
def test_detects_each_format_and_lists_files_otherwise(tmp_path):
    assert detect_format(str(minilm_dir())) == "huggingface"
    other = os.path.join(tmp_path, "other")
    os.makedirs(other)
    for name in ("weights.npz", "notes.txt"):
        open(os.path.join(other, name), "w").close()
    with pytest.raises(ValueError, match=r"found files \['notes.txt', 'weights.npz'\]"):
        BertEncoder.from_preset(other)
    with pytest.raises(FileNotFoundError, match="not found"):
        BertEncoder.from_preset(os.path.join(tmp_path, "nowhere"))


def test_truncated_safetensors_names_the_file(tmp_path):
    path = _copy_hf(tmp_path)
    file = os.path.join(path, "model.safetensors")
    with open(file, "rb") as f:
        data = f.read()
    with open(file, "wb") as f:
        f.write(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"Cannot read .*model.safetensors \(truncated"):
        BertEncoder.from_preset(path)


def test_config_with_wrong_sizes_names_file_and_shapes(tmp_path):
    path = _copy_hf(tmp_path)
    config_file = os.path.join(path, "config.json")
    with open(config_file) as f:
        config = json.load(f)
    config["hidden_size"] = 768
    with open(config_file, "w") as f:
        json.dump(config, f)
    with pytest.raises(WeightLoadError) as error:
        BertEncoder.from_preset(path)
    message = str(error.value)
    assert "model.safetensors" in message
    assert "embeddings.word_embeddings.weight" in message
    assert "(30522, 384)" in message and "(30522, 768)" in message
    config.update(hidden_size=384, num_hidden_layers=8)
    with open(config_file, "w") as f:
        json.dump(config, f)
    with pytest.raises(WeightLoadError, match=r"missing from .*model.safetensors \(24\):\n  layer_6/qkv/kernel"):
        BertEncoder.from_preset(path)


def test_other_model_type_is_refused_with_the_file(tmp_path):
    path = _copy_hf(tmp_path)
    config_file = os.path.join(path, "config.json")
    with open(config_file) as f:
        config = json.load(f)
    config["model_type"] = "roberta"
    with open(config_file, "w") as f:
        json.dump(config, f)
    with pytest.raises(ValueError, match=r"config.json describes a 'roberta' model"):
        BertEncoder.from_preset(path)


def test_foreign_tensors_are_named(tmp_path):
    from safetensors.numpy import load_file, save_file

    path = _copy_hf(tmp_path)
    file = os.path.join(path, "model.safetensors")
    tensors = load_file(file)
    tensors["lm_head.dense.weight"] = np.zeros((4, 4), "float32")
    save_file(tensors, file)
    with pytest.raises(WeightLoadError, match=r"lm_head.dense.weight \(4, 4\)"):
        BertEncoder.from_preset(path)


# --- hub names -------------------------------------------------------------------------------
def test_hub_name_offline_says_which_files_to_place_where(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_PRESETS", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # not installed
    with pytest.raises(FileNotFoundError) as error:
        BertEncoder.from_preset("bert_base_en_uncased")
    message = str(error.value)
    assert "https://huggingface.co/google-bert/bert-base-uncased" in message
    assert os.path.join(str(tmp_path / "cache"), "bert_base_en_uncased") in message
    assert "model.safetensors" in message and "vocab.txt" in message


def test_a_path_that_is_not_a_preset_directory_says_what_it_is(tmp_path, monkeypatch):
    hf = shutil.copytree(bert_tiny_mlm_dir(), tmp_path / "hf")
    weights = str(hf / "model.safetensors")
    with pytest.raises(FileNotFoundError, match=rf"^{weights} is a file, not a BERT preset "
                                                rf"directory; pass the directory that holds "
                                                rf"it: {hf}\.$"):
        BertEncoder.from_preset(weights)
    (tmp_path / "google" / "model.ckpt-1000.index").parent.mkdir()
    (tmp_path / "google" / "model.ckpt-1000.index").write_bytes(b"")
    prefix = str(tmp_path / "google" / "model.ckpt-1000")  # the reference's init_checkpoint
    with pytest.raises(FileNotFoundError, match=r"model.ckpt-1000 is a TensorFlow checkpoint "
                                                r"prefix, not a BERT preset directory; pass its "
                                                r"directory \("):
        BertEncoder.from_preset(prefix)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"^BERT preset directory not found: "
                                                r"google-bert/bert-base-uncased; for the Hugging "
                                                r"Face Hub repository write "
                                                r"'hf://google-bert/bert-base-uncased'\.$"):
        BertEncoder.from_preset("google-bert/bert-base-uncased")
    with pytest.raises(ValueError, match=r"Unknown preset 'bert-base-uncased'.*a Hugging Face "
                                         r"repository: 'hf://bert-base-uncased' or "
                                         r"'hf://OWNER/bert-base-uncased'\)\.$"):
        BertEncoder.from_preset("bert-base-uncased")


def test_hub_download_failure_is_reported(tmp_path, monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setenv("KERAS_BERT_PRESETS", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(FileNotFoundError, match=r"downloading .* failed \(OSError: network"):
        BertEncoder.from_preset("bert_tiny_en_uncased")


def test_hub_name_resolves_from_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_BERT_PRESETS", str(tmp_path / "cache"))
    shutil.copytree(minilm_dir(), tmp_path / "cache" / "bert_tiny_en_uncased")
    encoder = BertEncoder.from_preset("bert_tiny_en_uncased")
    assert encoder.config.hidden_size == 384


# --- tokenizer spec and casing ---------------------------------------------------------------
def test_tokenizer_spec_from_hf_directories():
    spec = resolve_tokenizer_spec(str(minilm_dir()))
    assert spec.lowercase is True
    assert spec.vocabulary.endswith("vocab.txt") and len(spec.tokens()) == 30522
    # bert_tiny_mlm has no vocab.txt: the WordPiece vocab comes out of tokenizer.json.
    from tokenizers import Tokenizer

    path = str(bert_tiny_mlm_dir())
    tiny = resolve_tokenizer_spec(path)
    reference = Tokenizer.from_file(os.path.join(path, "tokenizer.json")).get_vocab()
    assert tiny.lowercase is True and len(tiny.tokens()) == 30522
    assert all(tiny.tokens()[i] == t for t, i in reference.items())


def test_casing_contradictions_warn(tmp_path):
    path = _copy_hf(tmp_path, name="bert-base-cased")  # a cased name on an uncased vocab
    with pytest.warns(UserWarning, match=r"named 'bert-base-cased' \(cased\)"):
        resolve_tokenizer_spec(path)
    path = _copy_hf(tmp_path, name="minilm")
    with pytest.warns(UserWarning, match="no capitalised tokens"):
        spec = resolve_tokenizer_spec(path, lowercase=False)
    assert spec.lowercase is False
    cased_vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        w for i in range(200) for w in (f"Word{i}", f"word{i}")]
    google = os.path.join(tmp_path, "google_dir")
    os.makedirs(google)
    with open(os.path.join(google, "vocab.txt"), "w") as f:
        f.write("\n".join(cased_vocab))
    open(os.path.join(google, "bert_config.json"), "w").close()
    open(os.path.join(google, "bert_model.ckpt.index"), "w").close()
    with pytest.warns(UserWarning, match="200 capitalised tokens"):
        resolve_tokenizer_spec(google, lowercase=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_tokenizer_spec(google).lowercase is False  # inferred from the vocab
        assert resolve_tokenizer_spec(str(minilm_dir())).lowercase is True


def test_missing_vocab_names_the_directory(tmp_path):
    path = _copy_hf(tmp_path)
    os.remove(os.path.join(path, "vocab.txt"))
    os.remove(os.path.join(path, "tokenizer.json"))
    with pytest.raises(FileNotFoundError, match=r"No vocabulary in .*hf: looked for vocab.txt"):
        resolve_tokenizer_spec(path)


# --- CLI ----------------------------------------------------------------------------------------
def test_cli_convert_round_trip(tmp_path, capsys):
    from keras_bert_impl.cli import main

    out = os.path.join(tmp_path, "converted")
    assert main(["convert", "--from", str(minilm_dir()), "--to", out]) == 0
    assert "lowercase=True" in capsys.readouterr().out
    x = encode(minilm_dir(), real_sentences(8))
    converted = BertEncoder.from_preset(out)(x)
    original = BertEncoder.from_preset(str(minilm_dir()))(x)
    np.testing.assert_array_equal(
        converted["sequence_output"].numpy(), original["sequence_output"].numpy()
    )
    spec = resolve_tokenizer_spec(out)
    assert spec.lowercase is True and spec.tokens() == resolve_tokenizer_spec(
        str(minilm_dir())).tokens()


def test_cli_convert_without_vocab_fails_before_writing(tmp_path):
    from keras_bert_impl.cli import main

    path = _copy_hf(tmp_path)
    os.remove(os.path.join(path, "vocab.txt"))
    os.remove(os.path.join(path, "tokenizer.json"))
    out = os.path.join(tmp_path, "out")
    assert main(["convert", "--from", path, "--to", out]) == 2  # one `error:` line
    assert not os.path.exists(out)
    assert sorted(os.listdir(tmp_path)) == ["hf"]  # no temp directory either


# --- convert and write_preset never lose data ---------------------------------------------------
def _snapshot(folder):
    """`{relative path: (bytes, mode)}` of every file under `folder`."""
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = (f.read(), os.stat(path).st_mode)
    return files


def _tiny_preset(path, vocab_size=50):
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
        f"w{i}" for i in range(vocab_size - 5)]
    BertEncoder.from_preset("bert_tiny", vocab_size=vocab_size).save_to_preset(
        path, tokenizer=TokenizerSpec(tokens, lowercase=True, source="test"))
    return str(path)


def test_cli_convert_never_writes_over_its_source(tmp_path, capsys):
    from keras_bert_impl.cli import main

    source = _copy_hf(tmp_path)
    before = _snapshot(tmp_path)
    for target, flags in [(source, []), (source, ["--overwrite"]),
                          (source + "/", []), (str(tmp_path), ["--overwrite"])]:
        assert main(["convert", "--from", source, "--to", target, *flags]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: --to ") and err.count("\n") == 1, err
        assert "convert never writes over its source" in err
    assert _snapshot(tmp_path) == before


def test_cli_convert_refuses_a_foreign_directory_unless_overwrite(tmp_path, capsys):
    from keras_bert_impl.cli import main

    source = _tiny_preset(tmp_path / "tiny")
    target = _copy_hf(tmp_path)  # someone's Hugging Face model
    before = _snapshot(target)
    assert main(["convert", "--from", source, "--to", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {target} is not empty (") and "config.json" in err
    assert "--overwrite" in err
    assert _snapshot(target) == before

    assert main(["convert", "--from", source, "--to", target, "--overwrite"]) == 0
    after = _snapshot(target)
    kept = set(before) - {"model.safetensors", "vocab.txt"}
    assert {name: after[name] for name in kept} == {name: before[name] for name in kept}
    assert set(after) == set(before) | {"preset.json"}
    assert BertEncoder.from_preset(target).config.vocab_size == 50  # ours now
    assert sorted(os.listdir(tmp_path)) == ["hf", "tiny"]  # no temp directory left


def test_cli_convert_replaces_a_preset_only_with_overwrite(tmp_path, capsys):
    from keras_bert_impl.cli import main

    source = _tiny_preset(tmp_path / "tiny")
    out = str(tmp_path / "nested" / "out")
    assert main(["convert", "--from", source, "--to", out]) == 0
    first = _snapshot(out)
    assert sorted(first) == ["model.safetensors", "preset.json", "vocab.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert {oct(mode & 0o777) for _, mode in first.values()} == {oct(0o666 & ~umask)}
    assert oct(os.stat(out).st_mode & 0o777) == oct(0o777 & ~umask)
    capsys.readouterr()

    assert main(["convert", "--from", source, "--to", out]) == 2
    assert capsys.readouterr().err.startswith(f"error: {out} already holds a preset; pass "
                                              "--overwrite")
    other = _tiny_preset(tmp_path / "other", vocab_size=60)
    assert main(["convert", "--from", other, "--to", out, "--overwrite"]) == 0
    assert BertEncoder.from_preset(out).config.vocab_size == 60
    assert sorted(os.listdir(tmp_path / "nested")) == ["out"]  # no temp or old directory


def test_save_to_preset_refuses_a_directory_with_other_files(tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"somebody's weights")
    with pytest.raises(FileExistsError, match=r"mine is not empty \(model.safetensors\)"):
        BertEncoder(SMALL).save_to_preset(str(folder))
    assert (folder / "model.safetensors").read_bytes() == b"somebody's weights"


def _dead_pid():
    import subprocess

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_write_preset_interrupted_leaves_nothing_and_is_cleaned_up(tmp_path):
    from keras_bert_impl.config import BertConfig
    from keras_bert_impl.presets.ours import write_preset

    config = BertConfig.from_preset("bert_tiny")
    target = tmp_path / "new" / "deeper" / "preset"
    with pytest.raises(Exception):
        write_preset(str(target), config, {"bad": object()}, model_class="BertEncoder")
    assert os.listdir(tmp_path) == []  # no half-written preset, no temp or parent directory

    # A killed writer's temp directory (its process is gone) goes at the next write; a live
    # writer's stays.
    (tmp_path / "out").mkdir()
    stale = tmp_path / f".preset.tmp-{_dead_pid()}-abcd1234"
    live = tmp_path / f".preset.tmp-{os.getppid()}-abcd1234"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    write_preset(str(tmp_path / "preset"), config, {}, model_class="BertEncoder")
    assert sorted(os.listdir(tmp_path)) == sorted(["out", "preset", live.name])


def test_write_preset_modes_follow_the_umask(tmp_path):
    from keras_bert_impl.config import BertConfig
    from keras_bert_impl.presets.ours import write_preset

    previous = os.umask(0o027)
    try:
        target = tmp_path / "preset"
        write_preset(str(target), BertConfig.from_preset("bert_tiny"),
                     {"pooler/dense/bias": np.zeros(128, "float32")}, model_class="BertEncoder",
                     tokenizer=TokenizerSpec(["[PAD]", "[UNK]"], lowercase=True, source="t"))
    finally:
        os.umask(previous)
    assert oct(target.stat().st_mode & 0o777) == oct(0o750)
    assert {name: oct((target / name).stat().st_mode & 0o777) for name in os.listdir(target)} \
        == {"model.safetensors": oct(0o640), "preset.json": oct(0o640), "vocab.txt": oct(0o640)}


def test_write_preset_into_a_run_keeps_its_other_files(tmp_path):
    from keras_bert_impl.config import BertConfig
    from keras_bert_impl.presets.checkpoint import read_checkpoint
    from keras_bert_impl.presets.ours import write_preset

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint").write_text("ckpt")
    (run / f"model.safetensors.tmp-{_dead_pid()}").write_bytes(b"half")  # a killed write
    config = BertConfig.from_preset("bert_tiny")
    for step in (1, 2):
        write_preset(str(run), config, {}, model_class="BertPretrainer",
                     metadata={"step": step}, into_existing_run=True)
        assert read_checkpoint(str(run), weights=False).metadata == {"step": step}
    assert sorted(os.listdir(run)) == ["checkpoints", "model.safetensors", "preset.json"]
    assert (run / "checkpoints" / "checkpoint").read_text() == "ckpt"


def test_load_tokenizer_matches_the_reference_tokenizer():
    pytest.importorskip("tensorflow_text")
    from tokenizers import Tokenizer

    from keras_bert_impl.text import BertTokenizer

    sentences = real_sentences(32, seed=2) + ["Héllo Wörld, CamelCase £3bn!"]
    for path in (str(minilm_dir()), str(bert_tiny_mlm_dir())):
        tokenizer = BertTokenizer.from_preset(path)
        reference = Tokenizer.from_file(os.path.join(path, "tokenizer.json"))
        reference.no_padding()
        reference.no_truncation()
        expected = [e.ids[1:-1] for e in reference.encode_batch(sentences)]  # drop CLS/SEP
        assert tokenizer(sentences).to_list() == expected
        assert tokenizer.lowercase is True
