"""`BertPretrainer.fill_mask`: the same guesses and probabilities as Hugging Face's fill-mask
pipeline on a real pretrained BERT with its MLM head, and clear errors for texts it cannot
read."""

import numpy as np
import pytest

from keras_bert_impl.models import BertPretrainer
from keras_bert_impl.models.fill_mask import Guess
from keras_bert_impl.text import BertTokenizer
from tests.models.tiny_text import TINY, VOCAB
from tests.presets.helpers import bert_tiny_mlm_dir

TEXTS = ["The capital of France is [MASK].",
         "I went to the [MASK] to buy some [MASK].",
         "[MASK] is a good man.",
         "Stocks fell sharply after the central [MASK] raised interest rates."]


@pytest.fixture(scope="module")
def pretrainer():
    with pytest.warns(UserWarning, match="no weights for the nsp, pooler"):
        return BertPretrainer.from_preset(str(bert_tiny_mlm_dir()))


def test_guesses_and_scores_are_hugging_faces(pretrainer):
    from transformers import pipeline

    reference = pipeline("fill-mask", model=str(bert_tiny_mlm_dir()), top_k=5, device="cpu")
    ours = pretrainer.fill_mask(TEXTS, top_k=5, batch_size=3)  # two batches
    assert [len(masks) for masks in ours] == [1, 2, 1, 1]
    for text, masks in zip(TEXTS, ours, strict=True):
        theirs = reference(text)
        theirs = theirs if isinstance(theirs[0], list) else [theirs]
        for guesses, expected in zip(masks, theirs, strict=True):
            assert [g.token for g in guesses] == [e["token_str"] for e in expected]
            assert [g.id for g in guesses] == [e["token"] for e in expected]
            np.testing.assert_allclose([g.score for g in guesses],
                                       [e["score"] for e in expected], rtol=1e-4, atol=1e-6)
    single = pretrainer.fill_mask(TEXTS[0], top_k=2)
    assert [g.token for g in single[0]] == [g.token for g in ours[0][0][:2]]
    assert isinstance(single[0][0], Guess) and single[0][0].score > single[0][1].score


def test_texts_it_cannot_read_are_errors_naming_the_fix(pretrainer):
    with pytest.raises(ValueError, match=r"texts\[1\] = 'no mask here' has no \[MASK\]"):
        pretrainer.fill_mask(["a [MASK].", "no mask here"])
    with pytest.raises(ValueError, match=r"texts\[0\] is 604 tokens long .* more than the "
                                         r"model's 512 positions"):
        pretrainer.fill_mask(" ".join(["word"] * 600) + " [MASK] .")
    with pytest.raises(ValueError, match="top_k must be a positive integer, got 0"):
        pretrainer.fill_mask(TEXTS[0], top_k=0)
    with pytest.raises(ValueError, match="holds no examples"):
        pretrainer.fill_mask([])
    with pytest.raises(ValueError, match=r"texts\[1\] is not valid UTF-8 \(invalid start "
                                         r"byte at byte 0\)"):
        pretrainer.fill_mask([b"a [MASK]", b"\xff [MASK]"])
    with pytest.raises(ValueError, match=r"texts\[0\] is None"):
        pretrainer.fill_mask([None])
    with pytest.raises(ValueError, match="The tokenizer has 16 tokens but the model 30522"):
        pretrainer.fill_mask(TEXTS[0], tokenizer=BertTokenizer(VOCAB))
    bare = BertPretrainer.from_preset("bert_tiny", **TINY)  # no vocabulary of its own
    with pytest.raises(ValueError, match="carries no vocabulary"):
        bare.fill_mask("good [MASK]")
    guesses = bare.fill_mask("good [MASK]", top_k=20, tokenizer=BertTokenizer(VOCAB))
    assert len(guesses[0]) == len(VOCAB)  # top_k capped at the vocabulary
    assert sum(g.score for g in guesses[0]) == pytest.approx(1.0)
