"""Command-line flags that several `keras-bert` commands share, defined once.

Example:

```python
import argparse
parser = argparse.ArgumentParser()
add_casing_flags(parser)
parser.parse_args(["--cased"]).lowercase  # False
```
"""


def add_casing_flags(parser, default=True):
    """`--uncased` (alias `--lowercase`) / `--cased`, stored as `args.lowercase`.

    `default=None` means "read it from the checkpoint" (for commands that load one).
    """
    case = parser.add_mutually_exclusive_group()
    known = " (default)" if default is True else ""
    case.add_argument("--uncased", "--lowercase", dest="lowercase", action="store_true",
                      default=default,
                      help=f"uncased text: lowercase and strip accents{known}")
    known = " (default)" if default is False else ""
    case.add_argument("--cased", dest="lowercase", action="store_false",
                      help=f"cased text: keep case and accents{known}")
    return case
