"""`BertTokenizer.from_preset`: the tokenizer's front door, over checkpoint and tokenizer folders."""

import pytest
import tensorflow as tf
import tokenizers

from keras_bert_impl.text import BertTokenizer
from tests.presets.helpers import bert_tiny_mlm_dir, minilm_dir, real_sentences


def test_tokenizer_only_folder(tmp_path):
    (tmp_path / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
                                                   "Hello", "hello"]))
    (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
    # Casing comes from tokenizer_config.json; a 7-token vocab looks uncased, which warns.
    with pytest.warns(UserWarning, match="uncased vocabulary"):
        tokenizer = BertTokenizer.from_preset(str(tmp_path))
    assert tokenizer.lowercase is False
    assert tokenizer(tf.constant(["Hello hello"])).to_list() == [[5, 6]]


@pytest.mark.parametrize("folder", [minilm_dir, bert_tiny_mlm_dir])
def test_real_checkpoints_match_hf_tokenizers(folder):
    path = folder()
    tokenizer = BertTokenizer.from_preset(str(path))
    assert tokenizer.lowercase is True
    reference = tokenizers.Tokenizer.from_file(str(path / "tokenizer.json"))
    reference.no_padding()
    reference.no_truncation()
    sentences = real_sentences(40)
    ours = tokenizer(tf.constant(sentences)).to_list()
    theirs = [e.ids[1:-1] for e in reference.encode_batch(sentences)]  # drop [CLS]/[SEP]
    assert ours == theirs


def test_contradicting_casing_warns():
    with pytest.warns(UserWarning, match="lowercase=False"):
        BertTokenizer.from_preset(str(minilm_dir()), lowercase=False)


def test_folder_without_vocab_names_what_it_found(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(ValueError, match="notes.txt"):
        BertTokenizer.from_preset(str(tmp_path))


def test_an_architecture_name_has_no_vocabulary_and_says_which_preset_has():
    with pytest.raises(ValueError, match=r"'bert_tiny' is an architecture name .* no "
                                         r"vocabulary .* \(bert_tiny_en_uncased\)\.$"):
        BertTokenizer.from_preset("bert_tiny")
