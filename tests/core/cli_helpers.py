"""Reading what ``mrf info`` prints."""

from __future__ import annotations

import re


def info_rows(output: str) -> dict[str, str]:
    """The ``key  value`` rows of ``mrf info`` output (indented, two spaces apart)."""
    rows = {}
    for line in output.splitlines():
        match = re.match(r"^ {2}(\S.*?) {2,}(\S.*)$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows
