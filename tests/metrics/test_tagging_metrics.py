"""Entity-level tagging metrics against `seqeval` 1.2.2 (default mode): the same entities and
the same precision / recall / F1 (compared exactly, micro and per type) on thousands of random
tag sequences, most of them ill-formed, for IOB1, IOB2 and IOBES; plus hand cases."""

import random
import warnings

import pytest

from keras_bert_impl.metrics.tagging import entity_scores, get_entities, scheme_of

TYPES = ("PER", "LOC", "ORG")
PREFIXES = {"IOB1": "BI", "IOB2": "BI", "IOBES": "BIES"}
CASES = 2000  # random cases per scheme


def _random_tags(rng, scheme, length):
    pool = ["O"] * 3 + [f"{p}-{t}" for p in PREFIXES[scheme] for t in TYPES]
    pool += list(PREFIXES[scheme])  # bare prefixes: seqeval's type "_"
    pool += [f"{p}-MISC-X" for p in PREFIXES[scheme][:2]]  # a type with a dash
    return [rng.choice(pool) for _ in range(length)]


def _near(rng, scheme, tags):
    """A prediction close to `tags` (random tags changed), so that entities often match."""
    changed = list(tags)
    for i in range(len(changed)):
        if rng.random() < 0.2:
            changed[i] = _random_tags(rng, scheme, 1)[0]
    return changed


def _random_corpus(rng, scheme):
    sentences = [_random_tags(rng, scheme, rng.randint(0, 10)) for _ in range(rng.randint(1, 4))]
    predicted = [_near(rng, scheme, s) if rng.random() < 0.7
                 else _random_tags(rng, scheme, len(s)) for s in sentences]
    return sentences, predicted


@pytest.mark.parametrize("scheme", sorted(PREFIXES))
def test_entities_match_seqeval(scheme):
    sequence_labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    rng = random.Random(f"entities-{scheme}")
    checked = nonempty = 0
    for _ in range(CASES):
        tags = _random_tags(rng, scheme, rng.randint(0, 15))
        ours = get_entities(tags, scheme=scheme)
        assert ours == sequence_labeling.get_entities(list(tags)), tags
        checked += 1
        nonempty += bool(ours)
    assert checked == CASES and nonempty > CASES * 0.9


@pytest.mark.parametrize("scheme", sorted(PREFIXES))
def test_scores_match_seqeval(scheme):
    sequence_labeling = pytest.importorskip("seqeval.metrics.sequence_labeling")
    rng = random.Random(f"scores-{scheme}")
    f1_values = set()
    for _ in range(CASES):
        true, pred = _random_corpus(rng, scheme)
        ours = entity_scores(true, pred, scheme=scheme)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # seqeval warns on 0/0 and sets 0.0
            p, r, f, _ = sequence_labeling.precision_recall_fscore_support(
                true, pred, average="micro")
            per_p, per_r, per_f, per_s = sequence_labeling.precision_recall_fscore_support(
                true, pred, average=None)
        assert (ours["precision"], ours["recall"], ours["f1"]) == (p, r, f), (true, pred)
        types = sorted({e[0] for s in true + pred for e in sequence_labeling.get_entities(s)})
        assert list(ours["per_type"]) == types
        for i, type_ in enumerate(types):
            assert ours["per_type"][type_] == {
                "precision": per_p[i], "recall": per_r[i], "f1": per_f[i],
                "support": per_s[i]}, (type_, true, pred)
        f1_values.add(round(ours["f1"], 3))
    assert len(f1_values) > 20  # the cases cover many different scores, not just 0 and 1


def test_seqeval_f1_score_agrees_on_a_large_corpus():
    metrics = pytest.importorskip("seqeval.metrics")
    rng = random.Random("corpus")
    true, pred = [], []
    for _ in range(300):
        t, p = _random_corpus(rng, "IOB2")
        true += t
        pred += p
    ours = entity_scores(true, pred)
    assert ours["f1"] == metrics.f1_score(true, pred)
    assert ours["precision"] == metrics.precision_score(true, pred)
    assert ours["recall"] == metrics.recall_score(true, pred)
    assert 0.3 < ours["f1"] < 0.9


# ---- hand cases ----------------------------------------------------------------------------


def test_get_entities_iob2_by_hand():
    assert get_entities(["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC"]) == [
        ("PER", 0, 1), ("LOC", 3, 5)]
    # an I- with no B- before it starts an entity (lenient, as seqeval's default mode)
    assert get_entities(["O", "I-PER", "I-PER"]) == [("PER", 1, 2)]
    # a change of type ends one entity and starts another
    assert get_entities(["B-PER", "I-LOC", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 2)]
    assert get_entities(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]
    assert get_entities([]) == []
    assert get_entities(["O", "O"]) == []
    assert get_entities(("B", "I", "O")) == [("_", 0, 1)]  # bare prefixes, seqeval's "_"


def test_get_entities_iob1_by_hand():
    # IOB1: I- opens an entity, B- only separates two adjacent entities of one type
    tags = ["I-ORG", "I-ORG", "B-ORG", "O", "I-PER"]
    assert get_entities(tags, scheme="IOB1") == [("ORG", 0, 1), ("ORG", 2, 2), ("PER", 4, 4)]


def test_get_entities_iobes_by_hand():
    tags = ["S-LOC", "B-PER", "I-PER", "E-PER", "O", "B-ORG", "E-ORG", "E-ORG", "I-LOC"]
    assert get_entities(tags, scheme="iobes") == [
        ("LOC", 0, 0), ("PER", 1, 3), ("ORG", 5, 6), ("ORG", 7, 7), ("LOC", 8, 8)]


def test_entity_scores_by_hand():
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "B-ORG", "I-ORG"], ["B-LOC"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["O", "B-ORG", "O"], ["B-LOC"]]
    # true: PER(0,0-1) LOC(0,3) ORG(1,1-2) LOC(2,0); pred: PER(0,0-1) ORG(0,3) ORG(1,1) LOC(2,0)
    # correct: PER and LOC(2,0): 2 of 4 predicted, 2 of 4 true
    scores = entity_scores(true, pred)
    assert (scores["precision"], scores["recall"], scores["f1"]) == (0.5, 0.5, 0.5)
    assert scores["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2},
        "ORG": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
        "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
    }


def test_entity_scores_flat_sequence_and_edge_cases():
    flat = entity_scores(["B-PER", "I-PER", "O"], ["B-PER", "O", "O"])
    assert (flat["precision"], flat["recall"], flat["f1"]) == (0.0, 0.0, 0.0)
    same = entity_scores(["B-PER", "I-PER", "O"], ["B-PER", "I-PER", "O"])
    assert (same["precision"], same["recall"], same["f1"]) == (1.0, 1.0, 1.0)
    # no entity anywhere: every ratio is 0/0 and reported as 0.0 (seqeval's default)
    assert entity_scores([["O"]], [["O"]]) == {
        "precision": 0.0, "recall": 0.0, "f1": 0.0, "per_type": {}}
    # sentences never join: an entity at the end of one and an I- at the start of the next
    # are two entities
    scores = entity_scores([["B-PER"], ["I-PER"]], [["B-PER"], ["I-PER"]])
    assert scores["per_type"]["PER"]["support"] == 2


def test_length_mismatch_names_the_sentence():
    with pytest.raises(ValueError, match="Sentence 1 has 2 true tags and 3 predicted"):
        entity_scores([["O"], ["O", "O"]], [["O"], ["O", "O", "O"]])
    with pytest.raises(ValueError, match="2 sentences and `pred_tags` 1"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="Sentence 0 has 2 true tags and 1"):
        entity_scores(["O", "O"], ["O"])


def test_the_scheme_of_a_tag_set():
    assert scheme_of(["O", "B-PER", "I-PER", "B-LOC"]) == "IOB2"
    assert scheme_of(["O", "B-PER", "E-PER", "S-LOC", "I-PER"]) == "IOBES"
    assert scheme_of(["O"]) == "IOB2"


def test_invalid_tags_and_schemes():
    with pytest.raises(ValueError, match="'E-PER' is not a IOB2 tag.*scheme='IOBES'"):
        get_entities(["B-PER", "E-PER"])
    with pytest.raises(ValueError, match="'S-PER' is not a IOB1 tag"):
        entity_scores([["S-PER"]], [["O"]], scheme="IOB1")
    for bad in ("O-PER", "X-PER", "B-", "PER", ""):
        with pytest.raises(ValueError, match="is not a IOBES tag"):
            get_entities([bad], scheme="IOBES")
    with pytest.raises(ValueError, match="Unknown tagging scheme 'BILOU'"):
        get_entities(["O"], scheme="BILOU")
    with pytest.raises(TypeError, match="not the string"):
        get_entities("B-PER")
    with pytest.raises(TypeError, match="mixes tags and tag sequences"):
        entity_scores([["O"], "O"], [["O"], ["O"]])
