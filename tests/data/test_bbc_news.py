"""The bundled BBC News corpus in the reference pretraining format."""

import pytest

from keras_bert_impl.data import bbc_news


def test_writes_reference_format(tmp_path):
    path = tmp_path / "bbc.txt"
    documents, sentences = bbc_news.write_pretraining_corpus(str(path), topics=["tech"],
                                                              max_per_topic=20)
    assert documents == 20
    blocks = path.read_text(encoding="utf-8").strip("\n").split("\n\n")
    assert len(blocks) == documents  # one blank line between articles, none inside
    lines = [line for block in blocks for line in block.split("\n")]
    assert len(lines) == sentences and all(line.strip() == line and line for line in lines)
    assert sentences / documents > 10  # real articles: many sentences each


def test_full_corpus_size():
    articles = list(bbc_news.read_articles())
    assert len(articles) == 2225
    assert {topic for topic, _ in articles} == set(bbc_news.TOPICS)


def test_sentence_splitting():
    text = 'Headline here\n\nProfits rose 2.5% to $1.1bn. "It was good," he said. Shares fell!\nNext para?'
    assert bbc_news.split_sentences(text) == [
        "Headline here", "Profits rose 2.5% to $1.1bn.", '"It was good," he said.',
        "Shares fell!", "Next para?",
    ]


def test_unknown_topic():
    with pytest.raises(ValueError, match="Unknown BBC News topic 'sport'"):
        list(bbc_news.read_articles(["sport"]))
