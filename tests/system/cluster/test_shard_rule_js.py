"""The n8n snippet (deploy/n8n/stream-shard.js) places every event on the shard the API and
contract.shards place it: run under Node.js against the Python rule."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activitylog.contract.shards import shard_keys, shard_of_payload
from support import REPO

SNIPPET = REPO / "deploy" / "n8n" / "stream-shard.js"
DRIVER = """
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
console.log(JSON.stringify(input.events.map((e) => streamKey(e, input.shards, input.stream))));
"""

# Around an Airtable id: what the API trims (Unicode White_Space) and what it keeps (\ufeff).
spaces = st.text(alphabet=" \t\n\x0b\x1c\x85\xa0\u2003\u3000\ufeff", max_size=2)


def padded(values: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(spaces, values, spaces).map("".join)


references = st.one_of(
    padded(st.from_regex(r"rec[A-Za-z0-9]{3,20}", fullmatch=True)).map(
        lambda v: {"leadAirtableId": v}
    ),
    st.uuids().map(lambda v: {"leadId": str(v).upper()}),
    st.uuids().map(lambda v: {"leadId": "{" + v.hex + "}"}),
    st.from_regex(r"\+?1? ?\(?[0-9]{3}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}", fullmatch=True).map(
        lambda v: {"leadPhone": v}
    ),
    st.emails().map(lambda v: {"leadEmail": v.upper()}),
    st.just({}),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(references, min_size=1, max_size=40), st.integers(1, 16))
def test_the_javascript_rule_is_the_python_rule(events: list[dict[str, str]], shards: int) -> None:
    stream = f"t-{uuid.uuid4().hex[:6]}:activity:events"
    found = subprocess.run(
        [shutil.which("node") or "node", "-e", SNIPPET.read_text() + DRIVER],
        input=orjson.dumps({"events": events, "shards": shards, "stream": stream}),
        capture_output=True,
        check=True,
    )
    keys = shard_keys(stream, shards)
    assert orjson.loads(found.stdout) == [keys[shard_of_payload(e, shards)] for e in events]
