"""CSV that a spreadsheet opens as data: every table the app and the CLI hand out as CSV goes through here.

A spreadsheet evaluates a cell that starts with = + - or @ (some also after a
tab or a carriage return) as a formula: `=HYPERLINK(...)` leaks, DDE runs
programs. File names, class names and figures read from a run folder can be
anyone's, so a text cell that starts so gets a leading apostrophe (OWASP's
advice): it shows as the text it was and is never run. Numbers stay numbers,
negative ones too. Lines end in CR LF (RFC 4180), so that a cell holding a CR
or LF is quoted whole and cannot start a row of its own.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading apostrophe when it is text a spreadsheet would evaluate."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    """The rows as CSV text, every cell made safe."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows([safe_cell(cell) for cell in row] for row in rows)
    return buffer.getvalue()
