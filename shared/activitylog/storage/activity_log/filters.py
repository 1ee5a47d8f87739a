"""The admin browser's and the timelines' filters over `lead_activity_log`, as SQL fragments.

The WHERE clause is assembled from fixed fragments so each query carries only the
conditions in use (the planner then picks the matching index); every value is a parameter.
"""

from __future__ import annotations

import re
from typing import Any

from activitylog.domain.reads.query import ActivityFilter, Ordering, SortKey

_PRIMARY_COLUMN = {
    SortKey.EVENT_TYPE: "event_type",
    SortKey.EVENT_CATEGORY: "event_category",
}

# The name a lead is shown by (migration 0014) of the leads row `l`, and its order (the
# expression of 0014's index, which the planner matches as written).
LEAD_NAME = "lead_display_name(l.first_name, l.last_name, l.email, l.airtable_record_id)"


def name_order(text: str) -> str:
    """`text` as 0014's indexes order lead names (case-blind, collation lead_name_order)."""
    return f"(lower({text}) COLLATE lead_name_order)"


LEAD_NAME_ORDER = name_order(LEAD_NAME)


class _Params:
    """Collects query values and hands out their $n placeholders."""

    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


_READ_COLUMNS = """a.id, a."timestamp", a.event_type, a.event_category, a.description,
    a.message_content, a.metadata, a.source, a.execution_id, a.lead_id, a.lead_airtable_id,
    a.client_id, a.created_by, a.created_at"""
_LEAD_COLUMNS = f"""l.id AS lead_row_id, l.first_name, l.last_name, {LEAD_NAME} AS lead_name,
    l.email AS lead_email"""
_PHONE_QUERY = re.compile(r"^[\d\s()+.\-]+$")
# A word long enough for a similar spelling to mean something (pg_trgm word similarity).
_ONE_WORD = re.compile(r"^[^\W\d_]{4,}$")


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _like_pattern(text: str) -> str:
    return f"%{_like_escaped(text)}%"


# The same expressions as the indexes of migration 0012 (the planner matches them as text).
METADATA_WORDS = (
    "jsonb_to_tsvector('simple', coalesce(a.metadata, '{}'::jsonb), '[\"string\", \"numeric\"]')"
)
# The event's own words, as activity_search_idx indexes them (migration 0019: an expression,
# no stored column).
TEXT_WORDS = "to_tsvector('english', a.description || ' ' || coalesce(a.message_content, ''))"
_FULL_NAME = "(l.first_name || ' ' || l.last_name)"
# A word of a person's name as typed: letters first, then letters, digits, ' . -
_NAME_WORD = re.compile(r"^[^\W\d_][\w'.-]*$")


def _conditions(f: ActivityFilter, p: _Params) -> list[str]:
    conds: list[str] = []
    if f.lead_id is not None:
        conds.append(f"a.lead_id = {p.add(f.lead_id)}")
    if f.lead_airtable_id is not None:
        # Through the lead, so the (lead_id, "timestamp") index serves it.
        conds.append(
            "a.lead_id IN (SELECT id FROM leads WHERE airtable_record_id = "
            f"{p.add(f.lead_airtable_id)})"
        )
    if f.client_id is not None:
        conds.append(f"a.client_id = {p.add(f.client_id)}")
    # One value is an equality, not ANY(array): only then can a (…, column, time) index
    # hand rows over in time order.
    if len(f.categories) == 1:
        conds.append(f"a.event_category = {p.add(f.categories[0])}")
    elif f.categories:
        conds.append(f"a.event_category = ANY({p.add(list(f.categories))}::text[])")
    if len(f.event_types) == 1:
        conds.append(f"a.event_type = {p.add(f.event_types[0])}")
    elif f.event_types:
        conds.append(f"a.event_type = ANY({p.add(list(f.event_types))}::text[])")
    if f.source is not None:
        conds.append(f"a.source = {p.add(f.source)}")
    if f.source_prefix is not None:
        conds.append(f"a.source LIKE {p.add(_like_escaped(f.source_prefix) + '%')}")
    if f.execution_id is not None:
        conds.append(f"a.execution_id = {p.add(f.execution_id)}")
    if f.created_by is not None:
        conds.append(f"a.created_by = {p.add(f.created_by)}")
    if f.since is not None:
        conds.append(f'a."timestamp" >= {p.add(f.since)}')
    if f.before is not None:
        conds.append(f'a."timestamp" < {p.add(f.before)}')
    return conds


def lead_conditions(f: ActivityFilter, p: _Params) -> list[str]:
    """What `f` asks of the events' leads (l), so a walk of the leads skips the others. An
    event belongs to its lead's client (README, "Publishing an event"), so the client
    filter holds for the lead as well."""
    pinned = {
        "l.id": f.lead_id,
        "l.airtable_record_id": f.lead_airtable_id,
        "l.client_id": f.client_id,
    }
    return [f"{column} = {p.add(value)}" for column, value in pinned.items() if value is not None]


def _text_match(text: str, p: _Params) -> str:
    """The event's own text (English full text, web-search syntax) or a metadata value
    (as written, no stemming) matches."""
    value = p.add(text)
    return (
        f"({TEXT_WORDS} @@ websearch_to_tsquery('english', {value}) OR "
        f"{METADATA_WORDS} @@ websearch_to_tsquery('simple', {value}))"
    )


def lead_match(text: str, p: _Params) -> str:
    """Leads (alias l) matching `text`: name or email substring (so also prefix), a name
    word similar to it (typos), the Airtable id, or phone digits. The trigram indexes of
    migration 0002 serve each of them (0012's lead_name_similar is inlined to the indexed
    expression)."""
    pattern = p.add(_like_pattern(text))
    match = [
        f"{_FULL_NAME} ILIKE {pattern}",
        f"l.email ILIKE {pattern}",
        f"l.airtable_record_id = {p.add(text)}",
    ]
    if _ONE_WORD.match(text):
        # Only for one word: "bob.smith" would find every Smith by its second word.
        match.append(f"lead_name_similar({_FULL_NAME}, {p.add(text)})")
    words = text.split()
    if 1 < len(words) <= 4 and all(_NAME_WORD.match(w) for w in words):
        # "jon sm" finds "Jonathan Smith": each word starts a word of the name, any order;
        # the first ILIKE of each is the one the name's trigram index serves.
        match.append(
            "("
            + " AND ".join(
                f"({_FULL_NAME} ILIKE {p.add(_like_pattern(w))} AND "
                f"(' ' || {_FULL_NAME}) ILIKE {p.add('% ' + _like_escaped(w) + '%')})"
                for w in words
            )
            + ")"
        )
    digits = re.sub(r"\D", "", text)
    if len(digits) >= 4 and _PHONE_QUERY.match(text):
        match.append(f"regexp_replace(l.phone, '\\D', '', 'g') LIKE {p.add(_like_pattern(digits))}")
    return f"({' OR '.join(match)})"


def lead_condition(text: str) -> tuple[str, list[Any]]:
    """`lead_match` on its own: the WHERE text over leads (alias l) and its values."""
    p = _Params()
    return lead_match(text, p), p.values


def _lead_match(text: str, p: _Params) -> str:
    """The event's lead matches (see `lead_match`)."""
    return f"a.lead_id IN (SELECT l.id FROM leads l WHERE {lead_match(text, p)})"


def _search_branches(f: ActivityFilter, p: _Params) -> list[str] | None:
    """The two ways an event matches `search`: its text, or its lead's name/email/phone.

    They are queried as a UNION of two index-friendly branches rather than one OR.
    """
    if not f.search:
        return None
    return [_text_match(f.search, p), _lead_match(f.search, p)]


def _keyset(ordering: Ordering, after: tuple[Any, ...], p: _Params) -> str:
    """Rows after the position `after` (events a; by lead, also their leads l)."""
    op = "<" if ordering.descending else ">"
    if ordering.key == SortKey.LEAD:
        lead = f"({name_order(p.add(after[0]))}, {p.add(after[1])}::uuid)"
        return (
            f"(({LEAD_NAME_ORDER}, l.id) {op} {lead} OR (({LEAD_NAME_ORDER}, l.id) = {lead} "
            f'AND (a."timestamp", a.id) < ({p.add(after[2])}, {p.add(after[3])}::uuid)))'
        )
    column = _PRIMARY_COLUMN.get(ordering.key)
    if column is None:
        return f'(a."timestamp", a.id) {op} ({p.add(after[0])}, {p.add(after[1])}::uuid)'
    value = p.add(after[0])
    return (
        f"(a.{column} {op} {value} OR (a.{column} = {value} AND "
        f'(a."timestamp", a.id) < ({p.add(after[1])}, {p.add(after[2])}::uuid)))'
    )


def _order_by(ordering: Ordering, *, opaque: bool = False, alias: str = "a") -> str:
    """ORDER BY for `ordering` (by lead, the leads are l); `opaque` hides the columns from
    the planner (same order) so no index can supply it and the WHERE clause picks the
    index instead."""
    direction = "DESC" if ordering.descending else "ASC"
    ts = f"({alias}.\"timestamp\" + interval '0 s')" if opaque else f'{alias}."timestamp"'
    if ordering.key == SortKey.LEAD:
        return f"{LEAD_NAME_ORDER} {direction}, l.id {direction}, {ts} DESC, {alias}.id DESC"
    column = _PRIMARY_COLUMN.get(ordering.key)
    if column is None:
        return f"{ts} {direction}, {alias}.id {direction}"
    primary = f"({alias}.{column}::text || '')" if opaque else f"{alias}.{column}"
    return f"{primary} {direction}, {ts} DESC, {alias}.id DESC"


def _where(conds: list[str]) -> str:
    return " AND ".join(conds) if conds else "TRUE"
