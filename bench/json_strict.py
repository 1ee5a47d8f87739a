"""What refusing duplicate keys costs: the strict decoder (activitylog.contract.json_text)
beside plain orjson, the standard library, and the whole per-event decode of the ingest.

Usage: python bench/json_strict.py [--events 20000] [--rounds 7]
Pure CPU, no servers. Payloads are realistic events (the n8n SMS workflow's shape: a
message, campaign and phone metadata, ids), one JSON text each as they sit on the stream
(written by orjson, as the API publishes them), the same with a JSON snippet inside the
message (escaped quotes), as Python's json writes them (spaces: the slower path, keys
counted), and a 1,000-event HTTP body. Prints µs per event (the fastest of the rounds,
taken in turns) and the strict parse's extra cost as a share of the stream decoder's own
per-event work (`decode_entry`: parse, validation, id) and of the end-to-end ingest
measured by bench/ingest.py (11,700 events/s with 2 workers on a quiet machine, ~171 µs each,
the figure this bench was first compared against; docs/RUNBOOK.md §12 keeps the current ones).
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson

from activitylog.contract import json_text
from activitylog.contract.stream_format import PAYLOAD_FIELD
from activitylog.domain.stream_entries import decode_entry

# bench/ingest.py's quiet-machine figure when the strict parse was chosen: worker time per event.
INGEST_US_PER_EVENT = 2 * 1_000_000 / 11_700

_TYPES = ["MESSAGE_SENT", "MESSAGE_DELIVERED", "INBOUND_REPLY", "LINK_CLICKED"]
_WORDS = [
    "hi",
    "sam",
    "are",
    "you",
    "still",
    "looking",
    "for",
    "a",
    "home",
    "in",
    "the",
    "area",
    "we",
    "have",
    "new",
    "listings",
    "today",
]


def _event(rng: random.Random, n: int, snippet: bool) -> dict:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 40)))
    message = f'{words} {{"quoted": "json"}}' if snippet else words
    at = datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=n * 37)
    return {
        "eventType": rng.choice(_TYPES),
        "leadAirtableId": f"rec{rng.randrange(10**13):013d}",
        "clientId": str(uuid.UUID(int=rng.getrandbits(128))),
        "description": "SMS sent via campaign",
        "messageContent": message,
        "metadata": {
            "campaign_id": f"c-{rng.randrange(200)}",
            "campaign_name": "Spring buyers",
            "phone": f"+1555{rng.randrange(10**7):07d}",
            "carrier": rng.choice(["verizon", "att", "tmobile"]),
            "messageId": f"SM{rng.getrandbits(64):016x}",
            "position": rng.randint(1, 5),
        },
        "source": "n8n:wf-sms",
        "executionId": str(rng.randrange(10**6)),
        "timestamp": at.isoformat().replace("+00:00", "Z"),
    }


def _per_item_us(fn: Callable[[bytes], object], texts: list[bytes]) -> float:
    started = time.perf_counter()
    for text in texts:
        fn(text)
    return (time.perf_counter() - started) / len(texts) * 1e6


def _fastest(runs: dict[str, Callable[[], float]], rounds: int) -> dict[str, float]:
    """The fastest of `rounds` runs of each, taken in turns (a busy machine slows some
    rounds; the fastest is the cost of the work itself)."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(rounds):
        for name, run in runs.items():
            best[name] = min(best[name], run())
    return best


def _pairs_hook(pairs: list[tuple[str, object]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(7)
    plain = [orjson.dumps(_event(rng, n, False)) for n in range(args.events)]
    snippets = [orjson.dumps(_event(rng, n, True)) for n in range(args.events)]
    # As another writer may send them (Python's json: a space after `,` and `:`): the
    # write-back comparison fails, and the keys are counted.
    spaced = [json.dumps(_event(rng, n, False)).encode() for n in range(args.events)]
    batch = [orjson.dumps([_event(rng, n, False) for n in range(1_000)])]
    size = statistics.mean(len(t) for t in plain)
    print(
        f"{args.events:,} events of {size:.0f} bytes on average; "
        f"the fastest of {args.rounds} rounds"
    )

    parsers: dict[str, Callable[[bytes], object]] = {
        "orjson.loads (today's parse)": orjson.loads,
        "json_text.loads (strict)": json_text.loads,
        "json.loads (standard library)": json.loads,
        "json.loads + object_pairs_hook": lambda t: json.loads(t, object_pairs_hook=_pairs_hook),
    }
    entries = [(f"{1_772_000_000_000 + n}-0", {PAYLOAD_FIELD: t}) for n, t in enumerate(plain)]

    def decode_all() -> float:
        started = time.perf_counter()
        for entry_id, fields in entries:
            decode_entry(entry_id, fields)
        return (time.perf_counter() - started) / len(entries) * 1e6

    runs: dict[str, Callable[[], float]] = {}
    for name, fn in parsers.items():
        runs[f"{name}|plain"] = functools.partial(_per_item_us, fn, plain)
        runs[f"{name}|snippet"] = functools.partial(_per_item_us, fn, snippets)
        runs[f"{name}|spaced"] = functools.partial(_per_item_us, fn, spaced)
    runs["decode"] = decode_all
    runs["batch orjson"] = lambda: _per_item_us(orjson.loads, batch) / 1_000
    runs["batch strict"] = lambda: _per_item_us(json_text.loads, batch) / 1_000
    best = _fastest(runs, args.rounds)

    print(f"\n{'µs per event':<40}{'compact':>10}{'JSON in a string':>18}{'spaced':>10}")
    figures: dict[str, tuple[float, float, float]] = {}
    for name in parsers:
        figures[name] = (best[f"{name}|plain"], best[f"{name}|snippet"], best[f"{name}|spaced"])
        a, b, c = figures[name]
        print(f"{name:<40}{a:>10.2f}{b:>18.2f}{c:>10.2f}")
    decode = best["decode"]
    print(f"{'decode_entry (the stream decoder, strict)':<40}{decode:>10.2f}")
    batch_plain, batch_strict = best["batch orjson"], best["batch strict"]
    print(
        f"{'1,000-event HTTP body, orjson / strict':<40}{batch_plain:>10.2f}{batch_strict:>22.2f}"
    )

    base, strict = figures["orjson.loads (today's parse)"], figures["json_text.loads (strict)"]
    print("\nextra cost of the strict parse, per event:")
    for label, extra in (
        ("compact event (orjson's)", strict[0] - base[0]),
        ("event with JSON in a string", strict[1] - base[1]),
        ("spaced event (keys counted)", strict[2] - base[2]),
        ("in a 1,000-event body", batch_strict - batch_plain),
    ):
        print(
            f"  {label:<28}{extra:6.2f} µs = {extra / decode:6.1%} of decode_entry, "
            f"{extra / INGEST_US_PER_EVENT:6.1%} of ingest ({INGEST_US_PER_EVENT:.0f} µs/event)"
        )


if __name__ == "__main__":
    main()
