"""Strict JSON text: orjson's parse, and an object that names one key twice is refused.

RFC 8259 leaves duplicate names to the parser (orjson, like most, keeps the last), so
`{"eventType": "MESSAGE_SENT", "eventType": "OPT_OUT"}` would be stored as an opt-out that
its producer may have read as a send. The contract refuses it (docs/CONTRACT.md §1).

The check costs little on the usual text. Text that orjson writes back byte for byte
names no key twice. Otherwise: every key ends with `"` and a colon, so the
number of such marks in the text bounds the number of keys from above; when it equals the
keys the parsed value holds, no object lost a key and nothing more is done. Only text with
more marks (a real duplicate, or a string starting with a colon) is parsed again, by the
standard library with `object_pairs_hook`, to find the duplicate and its place
(bench/json_strict.py measures both paths).
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError

# The end of a key: its closing quote, JSON whitespace, the colon. Each key has one; other
# text may hold more (a string that starts with a colon, an escaped quote before a colon
# inside a string), so their count bounds the keys from above.
_KEY_END = re.compile(rb'"[ \t\n\r]*:')


def _more_key_ends_than(text: bytes, keys: int) -> bool:
    """Does JSON `text` hold more key ends than `keys` (so, maybe, a repeated key)?"""
    marks = len(_KEY_END.findall(text))
    if marks <= keys:
        return False
    # Leave out the `\":` of escaped quotes inside strings; a key ending in an escaped
    # backslash (`\\":`) is counted back, so the count stays an upper bound.
    return marks - text.count(b'\\":') + text.count(b'\\\\":') > keys


class DuplicateKey(ValueError):
    """An object in the text names `key` more than once; `path` is where (`metadata.x`,
    `[2].eventType`)."""

    def __init__(self, key: str, path: str) -> None:
        self.key = key
        self.path = path
        self.message = f"the key {key!r} appears more than once in one object"
        super().__init__(f"{path}: {self.message}" if path else self.message)


def loads(raw: bytes | str) -> Any:
    """The value of JSON text, like `orjson.loads`; raises `orjson.JSONDecodeError` for text
    that is not JSON and `DuplicateKey` for an object with a repeated key."""
    data = orjson.loads(raw)
    if type(data) is not dict and type(data) is not list:
        return data
    encoded = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    # Text that orjson writes back byte for byte has no repeated key (the API publishes
    # what orjson wrote, and compact writers such as JSON.stringify write alike); else the
    # keys are counted.
    if _written_back(data) == encoded or not _more_key_ends_than(encoded, _count_keys(data)):
        return data
    _raise_first_duplicate(encoded)
    return data


def _written_back(data: dict[str, Any] | list[Any]) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:  # e.g. an integer past 64 bits: compare the other way
        return b""


def _count_keys(value: dict[str, Any] | list[Any]) -> int:
    """The keys of every object in a parsed value (iterative: any depth)."""
    count = 0
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            count += len(item)
            for child in item.values():
                if type(child) is dict or type(child) is list:
                    stack.append(child)
        else:
            for child in item:
                if type(child) is dict or type(child) is list:
                    stack.append(child)
    return count


class _Pairs(list[tuple[str, Any]]):
    """An object as the standard library read it: its pairs in order, repeats kept."""


def _raise_first_duplicate(encoded: bytes) -> None:
    """Raise `DuplicateKey` for the first repeated key in document order, if there is one."""
    tree = json.loads(encoded, object_pairs_hook=_Pairs)
    stack: list[tuple[Any, str]] = [(tree, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, _Pairs):
            seen: set[str] = set()
            for key, _ in value:
                if key in seen:
                    raise DuplicateKey(key, f"{path}.{key}" if path else key)
                seen.add(key)
            stack.extend(
                (child, f"{path}.{key}" if path else key) for key, child in reversed(value)
            )
        elif isinstance(value, list):
            stack.extend((child, f"{path}[{i}]") for i, child in reversed(list(enumerate(value))))
