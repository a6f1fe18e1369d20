"""Every benchmark in one run: `python -m benchmarks [NAMES...] [--quick] [--out DIR]`.

    python -m benchmarks                  # all, at the sizes each script uses by default
    python -m benchmarks --quick          # all at tiny sizes: a few minutes on 2 CPU cores
    python -m benchmarks encoder serving  # some (names: python -m benchmarks --help)
    make bench                            # the same as the first line

Each benchmark (encoder forward and train step, pretraining train step, fine-tuning,
tokenizer uncased and cased, weight loading, serving, input checks, input pipeline, and on a
machine with a GPU the JAX train step of `gpu_train_step.py`) measures
ours and its peers in the same run, after the machine's own matmul ceiling (`machine.py`);
the results go to `benchmarks/results/<machine>.json` and `<machine>.md` (`report.py`): one
table row per measurement with ours, each peer, the ratios (> 1: we are faster) and the
model-FLOPs utilisation where the FLOPs are known, rewritten after each benchmark (a run
stopped part-way keeps what it measured and names, as `pending`, what it did not reach). A
missing peer package is recorded as a missing peer, a failing benchmark as its one-line error;
the run goes on. The registry and the runner are in `suite.py`; each script still runs on its
own (`python benchmarks/NAME.py`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from suite import main  # noqa: E402

if __name__ == "__main__":
    main()
