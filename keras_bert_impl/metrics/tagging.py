"""Entity-level precision, recall and F1 of tag sequences, as `seqeval` computes them.

Reference: `seqeval` 1.2.2 in its default mode (`seqeval.metrics.f1_score(y_true, y_pred)`
without `mode="strict"`), the metric CoNLL-2003 results are reported with. An entity is a
`(type, start, end)` chunk, `end` inclusive as in seqeval; a predicted entity counts only if
its type, start and end all equal a gold entity's. Precision, recall and F1 are
micro-averaged over all entities of all types, and also given per type.

The chunk rules are seqeval's `end_of_chunk` / `start_of_chunk`, which read IOB1, IOB2 and
IOBES leniently: an `I-X` that follows `O` or another type starts a new entity (so IOB1's
"I- opens, B- separates two adjacent entities of one type" and IOB2's "B- opens" both decode
as their authors mean, and an ill-formed IOB2 sequence still decodes as seqeval does); an
`E-X` or `S-X` closes its entity. `scheme` therefore changes no decoding: it names the
prefixes a tag may carry (`B`, `I` for IOB1/IOB2; `B`, `I`, `E`, `S` for IOBES), and a tag
outside them raises `ValueError` instead of being guessed at. A bare prefix (`"B"`, `"I"`)
is an entity of type `"_"`, as in seqeval.

Sentences are scored apart: no entity spans two sentences.
"""

import collections

__all__ = ["SCHEMES", "get_entities", "entity_scores", "scheme_of"]

SCHEMES = {"IOB1": ("B", "I"), "IOB2": ("B", "I"), "IOBES": ("B", "I", "E", "S")}


def scheme_of(label_names):
    """The scheme whose prefixes a tag set uses: `"IOBES"` if a tag starts with `E-` or `S-`,
    else `"IOB2"` (IOB1 tags, CoNLL-2003's, have the same prefixes and score the same).

    Example:

    ```python
    scheme_of(["O", "B-PER", "I-PER"]), scheme_of(["O", "B-LOC", "E-LOC", "S-LOC"])
    # ('IOB2', 'IOBES')
    ```
    """
    prefixes = {str(name).partition("-")[0] for name in label_names if name != "O"}
    return "IOBES" if prefixes & {"E", "S"} else "IOB2"


def _check_scheme(scheme):
    key = str(scheme).upper()
    if key not in SCHEMES:
        raise ValueError(f"Unknown tagging scheme {scheme!r}; use one of {sorted(SCHEMES)}.")
    return SCHEMES[key]


def _split(tag, prefixes, scheme):
    """`(prefix, type)` of one tag, validated against the scheme's prefixes."""
    if tag == "O":
        return "O", None
    if isinstance(tag, str):
        prefix, _, type_ = tag.partition("-")
        if prefix in prefixes and (type_ or tag == prefix):
            return prefix, type_ or "_"
    raise ValueError(
        f"Tag {tag!r} is not a {scheme} tag: use 'O' or '<prefix>-<TYPE>' with a prefix in "
        f"{list(prefixes)}" + (" (pass scheme='IOBES' for E-/S- tags)."
                               if scheme != "IOBES" else "."))


def _ends(prev_tag, tag, prev_type, type_):
    """seqeval's `end_of_chunk`: did an entity end on the previous token?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag != "O" and prev_type != type_


def _starts(prev_tag, tag, prev_type, type_):
    """seqeval's `start_of_chunk`: does an entity start on this token?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag != "O" and prev_type != type_


def get_entities(tags, scheme="IOB2"):
    """The entities of one tag sequence: a list of `(type, start, end)`, `end` inclusive.

    Decodes as seqeval's `get_entities` (default mode; see the module docstring): an `I-`
    without a `B-` before it starts an entity, a change of type ends one.

    ```python
    get_entities(["B-PER", "I-PER", "O", "B-LOC"])  # [("PER", 0, 1), ("LOC", 3, 3)]
    iob1 = ["I-ORG", "I-ORG", "B-ORG", "I-PER"]
    get_entities(iob1, scheme="IOB1")  # [("ORG", 0, 1), ("ORG", 2, 2), ("PER", 3, 3)]
    iobes = ["S-LOC", "B-PER", "E-PER", "E-PER"]
    get_entities(iobes, scheme="IOBES")  # [("LOC", 0, 0), ("PER", 1, 2), ("PER", 3, 3)]
    ```
    """
    if isinstance(tags, str):
        raise TypeError(f"`tags` must be a sequence of tags, not the string {tags!r}.")
    prefixes = _check_scheme(scheme)
    entities = []
    prev_tag, prev_type, begin = "O", None, 0
    for i, raw in enumerate([*tags, "O"]):
        tag, type_ = _split(raw, prefixes, scheme)
        if _ends(prev_tag, tag, prev_type, type_):
            entities.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return entities


def _sentences(tags, name):
    """`tags` as a list of sentences (one flat sequence of strings is one sentence)."""
    if isinstance(tags, str):
        raise TypeError(f"`{name}` must be a list of tag sequences, not the string {tags!r}.")
    tags = list(tags)
    if all(isinstance(tag, str) for tag in tags):
        return [tags]
    for i, sentence in enumerate(tags):
        if isinstance(sentence, str):
            raise TypeError(
                f"`{name}` mixes tags and tag sequences (item {i} is the string {sentence!r}); "
                "pass one flat sequence or a list of sequences.")
    return [list(sentence) for sentence in tags]


def _divide(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def _prf(true_positives, predicted, actual):
    """Precision, recall and F1 as seqeval's `_prf_divide` (0 where undefined)."""
    precision = _divide(true_positives, predicted)
    recall = _divide(true_positives, actual)
    denominator = precision + recall
    f1 = 2 * precision * recall / denominator if denominator else 0.0
    return precision, recall, f1


def entity_scores(true_tags, pred_tags, scheme="IOB2"):
    """Entity-level precision, recall and F1 (fractions), micro-averaged and per type.

    Args:
        true_tags, pred_tags: lists of tag sequences (one per sentence), or one flat sequence;
            the sentences and their lengths must match.
        scheme: "IOB1", "IOB2" or "IOBES" (the tag prefixes allowed; see the module
            docstring).

    Returns:
        `{"precision", "recall", "f1", "per_type"}`; `per_type` maps each type (sorted) to
        `{"precision", "recall", "f1", "support"}`, `support` being its number of gold
        entities. A ratio whose denominator is 0 is 0.0, as in seqeval.

    ```python
    true = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]]
    scores = entity_scores(true, pred)
    (scores["precision"], scores["recall"], scores["f1"])  # (0.667, 0.667, 0.667)
    scores["per_type"]["LOC"]  # {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    scores["per_type"]["ORG"]["precision"]  # 0.5
    ```
    """
    true_sentences = _sentences(true_tags, "true_tags")
    pred_sentences = _sentences(pred_tags, "pred_tags")
    if len(true_sentences) != len(pred_sentences):
        raise ValueError(
            f"`true_tags` has {len(true_sentences)} sentences and `pred_tags` "
            f"{len(pred_sentences)}; they must match.")
    true_entities, pred_entities = set(), set()
    for index, (true, pred) in enumerate(zip(true_sentences, pred_sentences)):
        if len(true) != len(pred):
            raise ValueError(
                f"Sentence {index} has {len(true)} true tags and {len(pred)} predicted tags; "
                "they must match.")
        true_entities.update((type_, index, s, e) for type_, s, e in get_entities(true, scheme))
        pred_entities.update((type_, index, s, e) for type_, s, e in get_entities(pred, scheme))
    correct = true_entities & pred_entities
    counts = [collections.Counter(entity[0] for entity in group)
              for group in (correct, pred_entities, true_entities)]
    per_type = {}
    for type_ in sorted(counts[1] | counts[2]):
        precision, recall, f1 = _prf(*(count[type_] for count in counts))
        per_type[type_] = {"precision": precision, "recall": recall, "f1": f1,
                           "support": counts[2][type_]}
    precision, recall, f1 = _prf(len(correct), len(pred_entities), len(true_entities))
    return {"precision": precision, "recall": recall, "f1": f1, "per_type": per_type}
