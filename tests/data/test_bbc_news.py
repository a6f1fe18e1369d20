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


def test_held_back_articles_go_to_their_own_file(tmp_path):
    _, validation, test = bbc_news.read_bbc_classification(topics=["tech"], max_per_topic=20)
    held = set(validation.ids) | set(test.ids)
    assert len(held) == 4
    corpus, held_path = tmp_path / "train.txt", tmp_path / "held.txt"
    documents, _ = bbc_news.write_pretraining_corpus(
        corpus, topics=["tech"], max_per_topic=20, held_back_ids=held, held_back_path=held_path)
    assert documents == 16
    both, _ = bbc_news.write_pretraining_corpus(tmp_path / "all.txt", topics=["tech"],
                                                max_per_topic=20)
    articles = {path: [a.strip() for a in path.read_text(encoding="utf-8").split("\n\n")]
                for path in (corpus, held_path, tmp_path / "all.txt")}
    assert len(articles[held_path]) == 4 and both == 20
    # Every article is in exactly one of the two files; none is lost or doubled.
    assert sorted(articles[corpus] + articles[held_path]) == sorted(articles[tmp_path / "all.txt"])
    assert not set(articles[corpus]) & set(articles[held_path])
    # The held-back file holds the articles of those ids (their headlines open them).
    headlines = {text.split("\n")[0].strip()
                 for text in validation.texts[0] + test.texts[0]}
    assert {article.split("\n")[0] for article in articles[held_path]} == headlines
    with pytest.raises(ValueError, match="held_back_path"):
        bbc_news.write_pretraining_corpus(tmp_path / "x.txt", held_back_ids=held)
    assert not list(tmp_path.glob("*.tmp-*"))
