"""Entry point of the ``mrf-studio`` desktop application."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    print(
        "mrf-studio: the desktop application is not built yet in this version; "
        "use the 'mrf' command line (mrf --help).",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
