"""Marking what a search matched: the searched words in a row's text, as `<mark>`."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

# websearch syntax (quotes, "or", a leading "-") is not part of what is looked for.
_WORD = re.compile(r"[^\s\"']+")
_SKIP = {"or", "and", "not"}
MIN_CHARS = 2


def search_terms(search: str | None) -> tuple[str, ...]:
    """The words of a search worth marking, longest first (so "jonathan" wins over "jon")."""
    if not search:
        return ()
    words = {
        w.lower()
        for w in _WORD.findall(search)
        if not w.startswith("-") and w.lower() not in _SKIP and len(w) >= MIN_CHARS
    }
    return tuple(sorted(words, key=len, reverse=True))


def mark(text: object, terms: tuple[str, ...] | list[str]) -> Markup:
    """`text` escaped, with every occurrence of a term (any case) inside `<mark>`."""
    plain = "" if text is None else str(text)
    if not terms or not plain:
        return escape(plain)
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    out: list[Markup] = []
    last = 0
    for found in pattern.finditer(plain):
        out.append(escape(plain[last : found.start()]))
        out.append(Markup("<mark>{}</mark>").format(found.group()))
        last = found.end()
    out.append(escape(plain[last:]))
    return Markup("").join(out)
