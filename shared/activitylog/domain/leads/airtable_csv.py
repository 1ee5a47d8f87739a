"""Reading an Airtable "Leads" CSV export: header aliases, a BOM, CRLF, multi-line cells."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from activitylog.domain.leads.records import LeadInput, Rejected, from_source

# Header spellings seen in exports, compared lower-case without spaces or punctuation.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "airtable_id": (
        "airtableid",
        "airtablerecordid",
        "recordid",
        "leadairtableid",
        "airtable",
    ),
    "id": ("id", "leadid", "portalid", "portalleadid", "uuid", "leaduuid"),
    "client_id": ("clientid", "client", "clientuuid"),
    "first_name": ("firstname", "first", "givenname"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "email": ("email", "emailaddress", "mail"),
    "phone": ("phone", "phonenumber", "mobile", "mobilephone", "cell", "telephone"),
    "status": ("status", "leadstatus", "stage"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


def _normal(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def header_fields(headers: list[str]) -> dict[int, str]:
    """Column index → our field name, for the headers that are known (first one wins)."""
    found: dict[int, str] = {}
    for index, header in enumerate(headers):
        name = _ALIAS_TO_FIELD.get(_normal(header))
        if name is not None and name not in found.values():
            found[index] = name
    return found


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int  # where the record starts, 1-based (multi-line cells span several lines)
    lead: LeadInput | None
    rejected: Rejected | None = None


def read_leads(path: Path) -> Iterator[CsvRow]:
    """Each data row as a lead or a reason to skip it. Raises Rejected when no column names
    a lead (no Airtable id or id header)."""
    # utf-8-sig drops a BOM; newline="" lets csv handle CRLF and newlines inside quotes.
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        headers = next(reader, None)
        if headers is None:
            return
        fields = header_fields(headers)
        if not {"airtable_id", "id"} & set(fields.values()):
            raise Rejected(
                f"no column names a lead: expected an Airtable id or id header, got {headers}"
            )
        line = reader.line_num + 1
        for cells in reader:
            start, line = line, reader.line_num + 1
            if not any(c.strip() for c in cells):
                continue
            row = {name: cells[i] for i, name in fields.items() if i < len(cells)}
            try:
                yield CsvRow(start, from_source(row))
            except Rejected as exc:
                yield CsvRow(start, None, exc)
