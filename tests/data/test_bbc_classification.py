"""BBC News as a 5-topic classification task: every article once, stratified, seeded."""

import pytest

from keras_bert_impl.data import bbc_news
from keras_bert_impl.data.classification import ClassificationData
from tests.real_data import missing


@pytest.fixture(scope="module")
def splits():
    try:
        bbc_news.data_directory()
    except ModuleNotFoundError as error:
        missing(str(error))
    return bbc_news.read_bbc_classification(seed=0)


def test_split_sizes_and_strata(splits):
    train, validation, test = splits
    assert all(isinstance(part, ClassificationData) for part in splits)
    assert (len(train), len(validation), len(test)) == (1779, 223, 223)
    names = ["business", "entertainment", "politics", "sports", "tech"]
    assert all(part.label_names == names for part in splits)
    assert all(part.num_segments == 1 and part.num_classes == 5 for part in splits)
    per_topic = {"business": 510, "entertainment": 386, "politics": 417, "sports": 511,
                 "tech": 401}
    for c, name in enumerate(names):
        held_out = round(per_topic[name] * 0.1)
        assert validation.labels.count(c) == test.labels.count(c) == held_out
        assert train.labels.count(c) == per_topic[name] - 2 * held_out


def test_every_article_once_with_its_topic(splits):
    ids = [i for part in splits for i in part.ids]
    assert len(ids) == len(set(ids)) == 2225
    train = splits[0]
    for text, label, example_id in zip(train.texts[0][:50], train.labels, train.ids):
        assert example_id.split("/")[0] == train.label_names[label]
        assert text == text.strip() and len(text.split()) > 50  # a whole article
    topic, name = train.ids[0].split("/")
    first = next(text for t, text, n in bbc_news.read_articles([topic], with_names=True)
                 if n == name + ".txt")
    assert train.texts[0][0] == first.strip()


def test_split_is_a_function_of_the_seed(splits):
    again = bbc_news.read_bbc_classification(seed=0)
    assert [p.ids for p in again] == [p.ids for p in splits]
    other = bbc_news.read_bbc_classification(seed=1)
    assert other[2].ids != splits[2].ids and len(other[2]) == 223


def test_small_and_custom_splits():
    train, validation, test = bbc_news.read_bbc_classification(
        validation_fraction=0.2, test_fraction=0.0, topics=["tech", "business"],
        max_per_topic=10)
    assert (len(train), len(validation), len(test)) == (16, 4, 0)
    assert train.label_names == ["business", "tech"]
    assert validation.labels.count(0) == validation.labels.count(1) == 2
    # The existing readers still work as they did.
    assert next(bbc_news.read_articles(["tech"]))[0] == "tech"
