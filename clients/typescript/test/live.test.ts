// Read-your-writes and live streams against the running API (API_URL, API_KEY: an admin key;
// LIVE_LEAD_AIRTABLE_ID: a lead no one else writes to), with an ingest worker running (the
// wait ends when the ingest announces the stored event). tests/clients provides them.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";

import {
  type ActivityEvent,
  type ActivityItem,
  ActivityLogClient,
  ActivityLogError,
  type TimelineItem,
} from "../src/client.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const baseUrl = required("API_URL");
const apiKey = required("API_KEY");
const lead = required("LIVE_LEAD_AIRTABLE_ID");
const client = new ActivityLogClient({ baseUrl, apiKey });

function note(description: string, overrides: Partial<ActivityEvent> = {}): ActivityEvent {
  return {
    eventType: "NOTE_ADDED",
    leadAirtableId: lead,
    description,
    source: "ui:add-note",
    ...overrides,
  } as ActivityEvent;
}

/** The first `count` items of `items`, failing after `timeoutMs`. */
async function take<T>(items: AsyncIterator<T>, count: number, timeoutMs = 15_000): Promise<T[]> {
  const out: T[] = [];
  const deadline = Date.now() + timeoutMs;
  while (out.length < count) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`only ${out.length} of ${count} items in ${timeoutMs} ms`);
    const next = await Promise.race([
      items.next(),
      delay(left, undefined, { ref: false }).then(() => "timeout" as const),
    ]);
    if (next === "timeout") continue;
    if (next.done) throw new Error(`the stream ended after ${out.length} items`);
    out.push(next.value);
  }
  return out;
}

/** How many live streams the API has open (its /metrics), polled until `expected`. */
async function streamsOpen(expected: number, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await (await fetch(`${baseUrl}/metrics`)).text();
    const found = /^activitylog_api_live_streams(?:\{[^}]*\})? (\S+)$/m.exec(text);
    const open = found ? Number(found[1]) : 0;
    if (open === expected) return;
    if (Date.now() > deadline) throw new Error(`${open} live streams open, not ${expected}`);
    await delay(25);
  }
}

test("a write with `wait` is readable at once", async () => {
  const started = Date.now();
  const result = await client.logActivity(note("Called back"), { wait: true });
  assert.equal(result.queued, false);
  assert.ok(Date.now() - started < 4_500, "answered when stored, not when the wait ran out");
  // No polling: the timeline has it now.
  const first = await client.timeline(lead, { limit: 1 }).next();
  assert.equal(first.done, false);
  assert.equal((first.value as TimelineItem).id, result.activityId);

  const many = await client.logActivity([note("One"), note("Two")], { wait: 3 });
  assert.deepEqual(
    many.map((r) => r.queued),
    [false, false],
  );
});

test("liveTimeline yields a lead's new events, and closes when the loop ends", async () => {
  await streamsOpen(0);
  const stop = new AbortController(); // ends the stream whatever happens below
  const items = client
    .liveTimeline(lead, { category: ["MANUAL"] }, { signal: stop.signal })
    [Symbol.asyncIterator]();
  try {
    const pending = take(items, 2);
    await streamsOpen(1); // open: whatever is stored from now on comes
    const sent = await client.logActivity(
      [
        note("Live one"),
        note("Not manual", { eventType: "MESSAGE_SENT", source: "n8n:wf-sms" }),
        note("Live two"),
      ],
      { wait: true },
    );
    const got = await pending;
    assert.deepEqual(
      got.map((i) => i.description),
      ["Live one", "Live two"],
    );
    assert.deepEqual(
      got.map((i) => i.id),
      [sent[0]?.activityId, sent[2]?.activityId],
    );
    await items.return?.(undefined); // what `break` does
    await streamsOpen(0);
  } finally {
    stop.abort();
  }
});

test("liveActivity follows a filter; an AbortSignal stops it", async () => {
  const controller = new AbortController();
  const collected: ActivityItem[] = [];
  const done = (async () => {
    for await (const item of client.liveActivity(
      { leadAirtableId: lead, search: "pineapple" },
      { signal: controller.signal },
    )) {
      collected.push(item);
    }
  })();
  try {
    await streamsOpen(1);
    await client.logActivity([note("no fruit here"), note("pineapple pizza")], { wait: true });
    const deadline = Date.now() + 15_000;
    while (collected.length < 1 && Date.now() < deadline) await delay(25);
    assert.deepEqual(
      collected.map((i) => i.description),
      ["pineapple pizza"],
    );
    assert.ok(collected[0]?.lead?.id);
  } finally {
    controller.abort();
  }
  await done; // the loop ends
  await streamsOpen(0);
});

test("a stream for no such lead is an ActivityLogError", async () => {
  const items = client.liveTimeline("recNoSuchLead00")[Symbol.asyncIterator]();
  await assert.rejects(items.next(), (error: unknown) => {
    assert.ok(error instanceof ActivityLogError);
    assert.equal(error.status, 404);
    return true;
  });
});
