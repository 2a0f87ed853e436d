"""``python -m warehouse.dictionary [PATH]``: regenerate docs/data-dictionary.md."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from warehouse.dictionary.descriptions import DictionaryError
from warehouse.dictionary.render import DEFAULT_PATH, write_dictionary


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate docs/data-dictionary.md (or PATH); 1 when dictionary.toml lags the schema."""
    parser = argparse.ArgumentParser(
        prog="python -m warehouse.dictionary", description=main.__doc__
    )
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH, help="output file")
    args = parser.parse_args(argv)
    try:
        written = write_dictionary(args.path)
    except DictionaryError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
