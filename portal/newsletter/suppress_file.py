"""``flask newsletter suppress --from-file``: a relay's suppression list, or one address a line.

Accepted: plain text with one address per line (blank lines and ``#`` comments skipped), or a CSV
export (comma, semicolon or tab) whose header row names an address column — ``email``,
``emailaddress``, ``email address``, ``address``, ``recipient`` (SES, SendGrid, Postmark,
Mailgun and listmonk exports all have one). A ``reason`` column saying bounce or complaint
overrides ``--reason`` for its row. Addresses without an account are put on the list as well:
an account made later with that address gets no bulk mail either.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from portal.extensions import db
from portal.mail import suppression

ADDRESS_COLUMNS = {"email", "emailaddress", "email address", "email_address", "e-mail", "address", "recipient",
                   "destination"}
CHUNK = 500
MAX_BYTES = 100 * 1024 * 1024
LIST_REASONS = {"bounce": "bounce", "complaint": "complaint", "admin": "manual"}


class FileError(ValueError):
    """The file cannot be used at all; the message says why."""


@dataclass
class Imported:
    added: int = 0
    already: int = 0
    invalid: list[int] = field(default_factory=list)  # line numbers


def read_addresses(text: str) -> list[tuple[int, str, str | None]]:
    """(line number, address, reason from the file or None) for every data line."""
    lines = text.splitlines()
    first = next((line for line in lines if line.strip() and not line.lstrip().startswith("#")), "")
    if not any(sep in first for sep in ",;\t"):
        return [(n, line.strip(), None) for n, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")]
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    rows = list(csv.reader(io.StringIO(text), dialect))
    header = [cell.strip().lower() for cell in rows[0]] if rows else []
    column = next((i for i, name in enumerate(header) if name in ADDRESS_COLUMNS), None)
    if column is None:
        if any("@" in cell for cell in header):
            column, start = next(i for i, cell in enumerate(header) if "@" in cell), 0  # no header row
        else:
            raise FileError("The CSV has no column named email, emailaddress, address or recipient in its first row.")
    else:
        start = 1
    reason_column = next((i for i, name in enumerate(header) if name == "reason"), None) if start else None
    found = []
    for n, row in enumerate(rows[start:], start + 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        address = row[column].strip() if column < len(row) else ""
        reason = None
        if reason_column is not None and reason_column < len(row):
            reason = row[reason_column].strip().lower() or None
        found.append((n, address, reason if reason in ("bounce", "complaint") else None))
    return found


def import_file(path: Path, reason: str) -> Imported:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise FileError(f"{path} is larger than {MAX_BYTES // (1024 * 1024)} MB.")
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise FileError(f"Cannot read {path}: {error}") from None
    result = Imported()
    detail = f"imported from {path.name}"
    for count, (line, address, row_reason) in enumerate(read_addresses(text), 1):
        if "@" not in address or len(address) > 320 or any(c.isspace() for c in address):
            result.invalid.append(line)
            continue
        try:
            added = suppression.suppress(address, row_reason or LIST_REASONS[reason], "cli", detail=detail)
        except suppression.SuppressionError:
            result.invalid.append(line)
            continue
        if added:
            result.added += 1
        else:
            result.already += 1
        if count % CHUNK == 0:
            db.session.commit()  # a long import does not hold one transaction (and SQLite's lock)
    db.session.commit()
    return result
