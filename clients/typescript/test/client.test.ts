// The client against a running API (API_URL, API_KEY: an admin key; LEAD_AIRTABLE_ID: a lead
// no one else writes to). tests/clients/test_typescript_client.py provides all three.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { test } from "node:test";

import {
  type ActivityEvent,
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
const lead = required("LEAD_AIRTABLE_ID");
const client = new ActivityLogClient({ baseUrl, apiKey: required("API_KEY") });

function event(n: number, overrides: Partial<ActivityEvent> = {}): ActivityEvent {
  return {
    eventType: "MESSAGE_SENT",
    leadAirtableId: lead,
    description: `SMS ${n}`,
    messageContent: `Hello ${n}`,
    metadata: { campaign_id: "c1", n },
    source: "ui:typescript-client-test",
    timestamp: `2026-03-01T10:00:0${n}Z`,
    ...overrides,
  } as ActivityEvent;
}

async function all<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Poll until the lead's timeline holds `count` events (the ingest stores them shortly). */
async function timelineOf(count: number): Promise<TimelineItem[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    let items: TimelineItem[] = [];
    try {
      items = await all(client.timeline(lead, { limit: 2 }));
    } catch (error) {
      // The lead exists once the ingest has stored its first event; until then, a 404.
      if (!(error instanceof ActivityLogError && error.status === 404)) throw error;
    }
    if (items.length >= count || Date.now() > deadline) return items;
    await delay(50);
  }
}

test("logs, reads, counts and exports one lead's events", async () => {
  const key = randomUUID();
  const one = await client.logActivity(event(1), { idempotencyKey: key });
  assert.equal(one.success, true);
  assert.equal(one.queued, true);
  // The same Idempotency-Key is the same event: a retry adds nothing.
  const again = await client.logActivity(event(1), { idempotencyKey: key });
  assert.equal(again.activityId, one.activityId);

  const many = await client.logActivity([
    event(2),
    event(3, { eventType: "MESSAGE_DELIVERED", description: "Delivered" }),
    event(4, { eventType: "BOOKING_CONFIRMED", description: "Booked" }),
  ]);
  assert.equal(many.length, 3);
  assert.equal(new Set([one, ...many].map((r) => r.activityId)).size, 4);

  // Four events over pages of two: the iterator follows the cursors, newest first.
  const items = await timelineOf(4);
  assert.deepEqual(
    items.map((i) => i.description),
    ["Booked", "Delivered", "SMS 2", "SMS 1"],
  );
  assert.deepEqual(
    new Set(items.map((i) => i.id)),
    new Set([one, ...many].map((r) => r.activityId)),
  );
  const sms = await all(client.timeline(lead, { category: ["SMS"], limit: 1 }));
  assert.equal(sms.length, 3);

  const page = await client.activityLogs({ leadAirtableId: lead, limit: 3, sortOrder: "asc" });
  assert.equal(page.pagination.totalCount, 4);
  assert.equal(page.activities.length, 3);
  assert.equal(page.activities[0]?.description, "SMS 1");

  const counts = await client.counts({ leadAirtableId: lead });
  assert.equal(counts.all, 4);
  assert.equal(counts.SMS, 3);
  assert.equal(counts.BOOKING, 1);

  const csv = await client.exportCsv({ leadAirtableId: lead, eventType: ["MESSAGE_SENT"] });
  const lines = csv.trimEnd().split(/\r?\n/);
  assert.equal(lines.length, 3); // the header and two rows
  assert.ok(lines.some((line) => line.includes("Hello 2")));
});

test("reads a lead with its last activity and its counts", async () => {
  const items = await timelineOf(4);
  const overview = await client.lead(lead);
  assert.equal(overview.lead.airtableId, lead);
  assert.equal(overview.lastActivity?.id, items[0]?.id);
  assert.equal(overview.lastActivity?.description, "Booked");
  assert.equal(overview.counts.all, 4);
  assert.equal(overview.counts.BOOKING, 1);
  // Every read spells an event one way; the timeline adds its deprecated names.
  assert.equal(items[0]?.messageContent, items[0]?.message);
  assert.equal(items[0]?.createdBy, null);
  await assert.rejects(client.lead("recNoSuchLead00"), (error: unknown) => {
    assert.ok(error instanceof ActivityLogError);
    assert.equal(error.status, 404);
    return true;
  });
});

test("a refused event is an ActivityLogError naming the field", async () => {
  const bad = { ...event(5), source: "elsewhere" } as ActivityEvent;
  await assert.rejects(client.logActivity(bad), (error: unknown) => {
    assert.ok(error instanceof ActivityLogError);
    assert.equal(error.status, 400);
    assert.ok(error.body?.errors?.some((e) => e.field === "source"), JSON.stringify(error.body));
    return true;
  });
});

test("a wrong key is a 401", async () => {
  const stranger = new ActivityLogClient({ baseUrl, apiKey: "not-a-key" });
  await assert.rejects(stranger.counts(), (error: unknown) => {
    assert.ok(error instanceof ActivityLogError);
    assert.equal(error.status, 401);
    return true;
  });
});
