"""BertTokenizer: id parity with Hugging Face `tokenizers` (the reference BERT WordPiece),
character classes checked on every code point, random Unicode, and bad input."""


import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keras_bert_impl.text import BertTokenizer
from keras_bert_impl.text import tokenizer as tokenizer_module

tokenizers = pytest.importorskip("tokenizers", reason="parity needs the dev extra's tokenizers")

SMALL_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "qu", "##ick", "fox", "."]


def _reference(vocab_path, lowercase):
    return tokenizers.BertWordPieceTokenizer(vocab_path, lowercase=lowercase)


@pytest.fixture(scope="module", params=[True, False], ids=["uncased", "cased"])
def pair(request, vocab_path):
    return (BertTokenizer(vocab_path, lowercase=request.param),
            _reference(vocab_path, request.param), request.param)


def _ours(tokenizer, lines):
    ids = tf.function(tokenizer)(tf.constant(lines))
    flat, splits = ids.flat_values.numpy(), ids.row_splits.numpy()
    return [flat[splits[i]:splits[i + 1]].tolist() for i in range(len(lines))]


def test_parity_on_real_lines(pair, real_lines):
    """Reference: HF tokenizers BertWordPieceTokenizer, same MiniLM vocab.txt; tolerance: 0."""
    ours, reference, _ = pair
    assert len(real_lines) >= 10_000
    expected = [e.ids for e in reference.encode_batch(real_lines, add_special_tokens=False)]
    got = _ours(ours, real_lines)
    mismatches = [i for i, (a, b) in enumerate(zip(expected, got, strict=True)) if a != b]
    assert not mismatches, (f"{len(mismatches)} of {len(real_lines)} lines differ, e.g. "
                            f"{real_lines[mismatches[0]][:120]!r}")
    assert sum(map(len, got)) > 1_000_000  # a real amount of text went through


def test_every_code_point_is_classified_like_the_reference(pair):
    """Each code point between two letters: same words as the reference's normalizer +
    pre-tokenizer (controls, whitespace, punctuation, CJK, accents, case, NFD)."""
    ours, reference, _ = pair
    code_points = [cp for cp in range(0x110000) if not 0xD800 <= cp < 0xE000]
    texts = ["A" + chr(cp) + "b" for cp in code_points]
    normalizer, pre = reference.normalizer, reference.pre_tokenizer
    expected = [[w for w, _ in pre.pre_tokenize_str(normalizer.normalize_str(t))] for t in texts]
    words = tf.function(ours.split_words)(tf.constant(texts))
    flat, splits = words.flat_values.numpy(), words.row_splits.numpy()
    bad = [hex(cp) for i, cp in enumerate(code_points)
           if [w.decode("utf-8") for w in flat[splits[i]:splits[i + 1]]] != expected[i]]
    assert not bad, f"{len(bad)} code points differ: {bad[:20]}"
    # The same through the full path (UTF-8 repair and rare-letter rewrites), which rows
    # with an invalid byte take: the byte is dropped, the rest must not change.
    broken = [t.encode("utf-8") + b"\xff" for t in texts]
    assert not any(tf.strings.regex_full_match(broken[:1000], tokenizer_module._PLAIN_CASED))
    words = tf.function(ours.split_words)(tf.constant(broken))
    flat, splits = words.flat_values.numpy(), words.row_splits.numpy()
    bad = [hex(cp) for i, cp in enumerate(code_points)
           if [w.decode("utf-8") for w in flat[splits[i]:splits[i + 1]]] != expected[i]]
    assert not bad, f"{len(bad)} code points differ on the full path: {bad[:20]}"


def test_rows_keep_their_order_across_normalisation_paths(pair):
    """A batch mixing clean ASCII, other valid text, rare letters and invalid UTF-8 gives each
    row the ids it gets alone, in order; and the paths are really taken."""
    ours, reference, lowercase = pair
    rows = [b"Plain ASCII, with punctuation!", "Caf\u00e9 \u00a0 \u4e2d\u6587 na\u00efve".encode(),
            "\u03a3\u039f\u03a6\u0399\u0391 \U00010570x".encode(), b"broken \xff\xfe bytes",
            b"tab\tnew\nline\rcarriage", "\u2028sep\u3000wide\u200bzero".encode(), b""]
    module = tokenizer_module
    clean = tf.strings.regex_full_match(rows, module._CLEAN_ASCII).numpy().tolist()
    plain_class = module._PLAIN_UNCASED if lowercase else module._PLAIN_CASED
    plain = tf.strings.regex_full_match(rows, plain_class).numpy().tolist()
    assert clean == [True, False, False, False, True, False, True]
    assert plain == [True, True, not lowercase, False, True, True, True]
    for order in (range(len(rows)), reversed(range(len(rows))), [3, 0, 5, 1, 6, 2, 4]):
        batch = [rows[i] for i in order]
        got = ours(tf.constant(batch)).to_list()
        alone = [ours(tf.constant([row])).to_list()[0] for row in batch]
        expected = [reference.encode(row.decode("utf-8", "replace"),
                                     add_special_tokens=False).ids for row in batch]
        assert got == alone == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_random_unicode_matches_reference(text, vocab_path):
    for lowercase in (True, False):
        ours = _cached_tokenizer(vocab_path, lowercase)
        expected = _reference_cached(vocab_path, lowercase).encode(
            text, add_special_tokens=False).ids
        assert ours(tf.constant([text])).to_list()[0] == expected


_CACHE = {}


def _cached_tokenizer(vocab_path, lowercase):
    key = ("ours", vocab_path, lowercase)
    if key not in _CACHE:
        _CACHE[key] = BertTokenizer(vocab_path, lowercase=lowercase)
    return _CACHE[key]


def _reference_cached(vocab_path, lowercase):
    key = ("ref", vocab_path, lowercase)
    if key not in _CACHE:
        _CACHE[key] = _reference(vocab_path, lowercase)
    return _CACHE[key]


def test_docstring_example_and_word_ids():
    tokenizer = BertTokenizer(SMALL_VOCAB)
    ids, word_ids = tokenizer(tf.constant(["The quick fox.", "Thé fox"]), return_word_ids=True)
    assert ids.to_list() == [[5, 6, 7, 8, 9], [5, 8]]
    assert word_ids.to_list() == [[0, 1, 1, 2, 3], [0, 1]]
    assert tokenizer.detokenize(ids).numpy().tolist() == [b"the quick fox .", b"the fox"]
    scalar = tokenizer(tf.constant("quick fox"))
    assert isinstance(scalar, tf.Tensor) and scalar.numpy().tolist() == [6, 7, 8]
    assert tokenizer.token_to_id("fox") == 8 and tokenizer.id_to_token(7) == "##ick"
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id,
            tokenizer.pad_token_id, tokenizer.unk_token_id) == (2, 3, 4, 0, 1)


def test_word_ids_follow_words_on_real_text(vocab_path, real_lines):
    tokenizer = _cached_tokenizer(vocab_path, True)
    lines = real_lines[:500]
    ids, word_ids = tokenizer(tf.constant(lines), return_word_ids=True)
    words = tokenizer.split_words(tf.constant(lines))
    for i in range(0, 500, 50):
        row_ids, row_words = ids[i].numpy(), word_ids[i].numpy()
        assert np.all(np.diff(row_words) >= 0)
        # Word w's pieces are exactly the tokenization of word w on its own.
        for w, word in enumerate(words[i].numpy()[:20]):
            alone = tokenizer(tf.constant([word.decode()])).to_list()[0]
            assert row_ids[row_words == w].tolist() == alone


def test_cased_keeps_case_and_accents(vocab_path):
    cased = _cached_tokenizer(vocab_path, False)
    uncased = _cached_tokenizer(vocab_path, True)
    assert cased.split_words(tf.constant("Café ΣΑΣ")).numpy().tolist() == [
        "Café".encode(), "ΣΑΣ".encode()]
    assert uncased.split_words(tf.constant("Café ΣΑΣ")).numpy().tolist() == [
        b"cafe", "σασ".encode()]


def test_bad_text_input_gives_documented_results(vocab_path):
    tokenizer = _cached_tokenizer(vocab_path, True)
    unk = tokenizer.unk_token_id
    texts = tf.constant([b"", b"  \t\n\u3000 ".decode("unicode_escape").encode(),
                         b"ab\xff\xfe cd\xc3", "x" * 101, "y" * 100])
    out = tokenizer(texts).to_list()
    assert out[0] == [] and out[1] == []  # empty and whitespace only: no tokens
    # Invalid UTF-8 bytes are dropped (they become U+FFFD, which the reference removes).
    assert out[2] == tokenizer(tf.constant(["ab cd"])).to_list()[0]
    assert out[3] == [unk]  # longer than max_chars_per_word (100)
    assert unk not in out[4] and len(out[4]) > 1  # exactly 100 characters is tokenized
    big = ("lorem ipsum dolor sit amet " * 40_000)[:1_000_000]
    ids = tokenizer(tf.constant([big, "z" * 1_000_000])).to_list()
    assert len(ids[0]) > 150_000 and ids[1] == [unk]
    with pytest.raises(TypeError, match="tf.string"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match="scalar or a 1-D batch"):
        tokenizer(tf.constant([["a"]]))


def test_bad_vocab_files_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        BertTokenizer(str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(ValueError, match="is empty"):
        BertTokenizer(str(tmp_path / "empty.txt"))
    (tmp_path / "nospecials.txt").write_text("[PAD]\n[UNK]\nthe\n")
    with pytest.raises(ValueError, match=r"\['\[CLS\]', '\[SEP\]', '\[MASK\]'\]"):
        BertTokenizer(str(tmp_path / "nospecials.txt"))
    (tmp_path / "dupes.txt").write_text("\n".join(SMALL_VOCAB + ["fox"]) + "\n")
    with pytest.raises(ValueError, match="repeats"):
        BertTokenizer(str(tmp_path / "dupes.txt"))


def test_config_round_trip_and_tf_data(vocab_path):
    tokenizer = BertTokenizer(SMALL_VOCAB, lowercase=False, max_chars_per_word=7)
    clone = BertTokenizer.from_config(tokenizer.get_config())
    texts = tf.constant(["The quick fox.", "fox quickquick"])
    assert clone(texts).to_list() == tokenizer(texts).to_list() == [[1, 6, 7, 8, 9], [8, 1]]
    real = _cached_tokenizer(vocab_path, True)
    dataset = tf.data.Dataset.from_tensor_slices(["Hello world!", "Ünïcode text"] * 8).batch(4)
    dataset = dataset.map(real, num_parallel_calls=tf.data.AUTOTUNE)
    batches = [b.to_list() for b in dataset]
    assert batches[0] == real(tf.constant(["Hello world!", "Ünïcode text"] * 2)).to_list()


def test_eager_call_on_python_text_runs_the_traced_graph_with_the_same_ids(pair, real_lines):
    """An eager call on a Python list (or str) runs the tokenizer's cached `tf.function`
    (traced once per rank and `return_word_ids`); its ids and word ids equal the
    `tf.function`-of-the-layer ones, and a scalar gives a dense 1-D tensor as before."""
    ours, _, _ = pair
    lines = real_lines[:300]
    ids, word_ids = ours(lines, return_word_ids=True)
    want_ids, want_words = tf.function(lambda x: ours(x, return_word_ids=True))(
        tf.constant(lines))
    assert ids.to_list() == want_ids.to_list() and word_ids.to_list() == want_words.to_list()
    assert ours(lines[:7]).to_list() == ids[:7].to_list()
    scalar = ours(lines[3])
    assert isinstance(scalar, tf.Tensor) and scalar.numpy().tolist() == ids[3].numpy().tolist()
    assert set(ours._traced_calls.functions) >= {(1, True), (1, False), (0, False)}
    with pytest.raises(ValueError, match="scalar or a 1-D batch"):
        ours([["a", "b"]])
