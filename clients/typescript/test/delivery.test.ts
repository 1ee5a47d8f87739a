// ActivityLogger (the never-throwing logActivity) against an API that is down, slow, or
// answering 503/429 with Retry-After: a small HTTP "gate" in this process stands in front of
// the real API (API_URL, API_KEY: an admin key) and either refuses connections (not
// listening), never answers, answers a scripted status, or passes the request on. Events go to
// DELIVERY_LEAD_AIRTABLE_ID (a lead no one else writes to); each delivered one is checked to be
// stored exactly once. tests/clients/test_typescript_client.py provides all three variables.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { promisify } from "node:util";

import {
  type ActivityEvent,
  type ActivityItem,
  ActivityLogClient,
  ActivityLogger,
  backoffDelay,
  type GiveUp,
  type LoggerOptions,
  retryAfterMs,
} from "../src/client.js";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

const api = required("API_URL");
const apiKey = required("API_KEY");
const lead = required("DELIVERY_LEAD_AIRTABLE_ID");
const reader = new ActivityLogClient({ baseUrl: api, apiKey });

/** Poll `probe` until it returns a value (not undefined), failing after `timeoutMs`. */
async function until<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`gave up waiting ${timeoutMs} ms for ${what}`);
    await delay(25);
  }
}

/** The event's row, once the ingest has stored it; there must be exactly one. */
async function storedOnce(eventId: string): Promise<ActivityItem> {
  const rows = await until(`event ${eventId} to be stored`, async () => {
    const page = await reader.activityLogs({ leadAirtableId: lead, limit: 100 });
    const rows = page.activities.filter((item) => item.id === eventId);
    return rows.length > 0 ? rows : undefined;
  });
  assert.equal(rows.length, 1, `event ${eventId} is stored ${rows.length} times`);
  return rows[0] as ActivityItem;
}

function event(description: string, overrides: Partial<ActivityEvent> = {}): ActivityEvent {
  return {
    eventType: "NOTE_ADDED",
    leadAirtableId: lead,
    description,
    source: "ui:delivery-test",
    ...overrides,
  } as ActivityEvent;
}

/** What the gate does with the next request: never answer, or answer this status. */
type Step = "slow" | { status: number; retryAfter?: string };

interface Seen {
  at: number;
  eventId: string | undefined;
  idempotencyKey: string | undefined;
  /** The status the gate answered, or (passed on) the API's; undefined until known. */
  status: number | undefined;
  /** The API's activityId when passed on. */
  activityId: string | undefined;
}

/** A local HTTP server in front of the real API, scripted per request. */
class Gate {
  readonly seen: Seen[] = [];
  /** Consumed one per request; when empty, requests pass on to the API. */
  readonly steps: Step[] = [];
  readonly #server: Server;
  #port = 0;

  constructor() {
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(502).end(String(error));
      });
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Listen (on the same port as before, if it listened before). */
  up(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.#port, "127.0.0.1", () => {
        this.#server.off("error", reject);
        this.#port = (this.#server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Stop listening and drop every connection: the next request is refused. */
  down(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString();
    const seen: Seen = {
      at: Date.now(),
      eventId: (JSON.parse(body) as { eventId?: string }).eventId,
      idempotencyKey: req.headers["idempotency-key"] as string | undefined,
      status: undefined,
      activityId: undefined,
    };
    this.seen.push(seen);
    const step = this.steps.shift();
    if (step !== undefined && step !== "slow") {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (step.retryAfter !== undefined) headers["retry-after"] = step.retryAfter;
      seen.status = step.status;
      res.writeHead(step.status, headers).end('{"success":false,"error":"the test gate says no"}');
      return;
    }
    const answer = await fetch(`${api}${req.url ?? ""}`, {
      method: req.method ?? "POST",
      headers: {
        "content-type": req.headers["content-type"] ?? "application/json",
        "x-api-key": String(req.headers["x-api-key"] ?? ""),
        ...(seen.idempotencyKey ? { "idempotency-key": seen.idempotencyKey } : {}),
      },
      body,
    });
    const text = await answer.text();
    seen.status = answer.status;
    seen.activityId = (JSON.parse(text) as { activityId?: string }).activityId;
    // "slow": the API has the event, but the answer never comes back.
    if (step === "slow") return;
    res.writeHead(answer.status, { "content-type": "application/json" }).end(text);
  }
}

/** A logger on the gate with fast back-off, recording what it gives up and each attempt. */
function loggerFor(gate: Gate, options: Partial<LoggerOptions> = {}) {
  const gaveUp: GiveUp[] = [];
  let attempts = 0;
  const logger = new ActivityLogger({
    baseUrl: gate.url,
    apiKey,
    timeoutMs: 300,
    baseDelayMs: 20,
    maxDelayMs: 100,
    onGiveUp: (giveUp) => gaveUp.push(giveUp),
    fetch: (input, init) => {
      attempts += 1;
      return fetch(input, init);
    },
    ...options,
  });
  return { logger, gaveUp, attempts: () => attempts };
}

test("Retry-After is read as seconds or an HTTP date; the back-off is capped, with jitter", () => {
  const now = Date.parse("2026-03-01T10:00:00Z");
  assert.equal(retryAfterMs("3", now), 3000);
  assert.equal(retryAfterMs(" 0 ", now), 0);
  assert.equal(retryAfterMs("Sun, 01 Mar 2026 10:00:05 GMT", now), 5000);
  assert.equal(retryAfterMs("Sun, 01 Mar 2026 09:00:00 GMT", now), 0);
  assert.equal(retryAfterMs("soon", now), undefined);
  assert.equal(retryAfterMs(null, now), undefined);
  assert.equal(backoffDelay(1, 100, 1000, () => 0), 50);
  assert.equal(backoffDelay(1, 100, 1000, () => 0.999999) <= 100, true);
  assert.equal(backoffDelay(3, 100, 1000, () => 0), 200);
  assert.equal(backoffDelay(30, 100, 1000, () => 0.5), 750);
  assert.equal(backoffDelay(5000, 100, 1000, () => 1), 1000);
});

test("API down (refused): the caller gets `queued`, both events land once it is back", async () => {
  const gate = new Gate();
  await gate.up();
  await gate.down();
  const { logger, gaveUp, attempts } = loggerFor(gate);

  let started = Date.now();
  const first = await logger.logActivity(event("Back after an outage 1"));
  assert.equal(first.status, "queued");
  // The next event while the first waits for a retry is queued at once, with no attempt.
  started = Date.now();
  const before = attempts();
  const second = await logger.logActivity(event("Back after an outage 2"));
  assert.equal(second.status, "queued");
  assert.ok(Date.now() - started < 100, `took ${Date.now() - started} ms`);
  assert.ok(attempts() - before <= 1, "the second call made an attempt of its own");
  assert.equal(logger.pending, 2);

  // It keeps trying in the background while the API is down.
  await until("three more attempts", () => (attempts() >= before + 3 ? true : undefined));
  assert.equal(await logger.flush(50), false);

  const backAt = Date.now();
  await gate.up();
  assert.equal(await logger.flush(10_000), true);
  assert.deepEqual(gaveUp, []);
  assert.equal(logger.pending, 0);
  // Refused attempts never arrived: each event reached the API once.
  assert.deepEqual(
    gate.seen.map((s) => s.eventId).sort(),
    [first.eventId, second.eventId].sort(),
  );
  for (const outcome of [first, second]) {
    const row = await storedOnce(outcome.eventId);
    // The event keeps the time it was logged, not the time it was delivered.
    assert.ok(Date.parse(row.timestamp) < backAt, `${row.timestamp} is not before the recovery`);
  }
  await logger.close();
  await gate.down();
});

test("a slow API: the attempt times out, the retry has the same id, stored once", async () => {
  const gate = new Gate();
  await gate.up();
  gate.steps.push("slow");
  const { logger, gaveUp } = loggerFor(gate, { timeoutMs: 400 });

  const started = Date.now();
  const outcome = await logger.logActivity(event("Slow answer"));
  const waited = Date.now() - started;
  assert.equal(outcome.status, "queued");
  assert.ok(waited >= 390 && waited < 1400, `the caller waited ${waited} ms`);

  assert.equal(await logger.flush(10_000), true);
  assert.deepEqual(gaveUp, []);
  // Both attempts reached the API (the first only lost its answer) as one event.
  await until("the first attempt's answer from the API", () => gate.seen[0]?.status);
  assert.equal(gate.seen.length, 2);
  for (const seen of gate.seen) {
    assert.equal(seen.eventId, outcome.eventId);
    assert.equal(seen.idempotencyKey, outcome.eventId);
    assert.equal(seen.status, 202);
    assert.equal(seen.activityId, outcome.eventId);
  }
  await storedOnce(outcome.eventId);
  await logger.close();
  await gate.down();
});

test("503 with Retry-After in seconds: the retry waits that long, then lands once", async () => {
  const gate = new Gate();
  await gate.up();
  gate.steps.push({ status: 503, retryAfter: "1" });
  const { logger, gaveUp } = loggerFor(gate);

  const started = Date.now();
  const outcome = await logger.logActivity(event("After a 503"));
  assert.equal(outcome.status, "queued");
  assert.ok(Date.now() - started < 300, "the caller waited for the retry");
  assert.equal(await logger.flush(10_000), true);
  assert.deepEqual(gaveUp, []);

  const [refused, retried] = gate.seen;
  assert.ok(refused && retried && gate.seen.length === 2, JSON.stringify(gate.seen));
  // The back-off alone would have retried after ~20 ms.
  assert.ok(retried.at - refused.at >= 950, `retried after ${retried.at - refused.at} ms`);
  assert.equal(retried.eventId, refused.eventId);
  await storedOnce(outcome.eventId);
  await logger.close();
  await gate.down();
});

test("429 with Retry-After as an HTTP date, then a 500: retried until it lands once", async () => {
  const gate = new Gate();
  await gate.up();
  const until2s = new Date(Date.now() + 2000).toUTCString();
  gate.steps.push({ status: 429, retryAfter: until2s }, { status: 500 });
  const { logger, gaveUp } = loggerFor(gate);

  const outcome = await logger.logActivity(event("After a 429 and a 500"));
  assert.equal(outcome.status, "queued");
  assert.equal(await logger.flush(10_000), true);
  assert.deepEqual(gaveUp, []);

  const [limited, failed, landed] = gate.seen;
  assert.ok(limited && failed && landed && gate.seen.length === 3, JSON.stringify(gate.seen));
  assert.ok(failed.at >= Date.parse(until2s) - 20, "retried before the Retry-After date");
  assert.ok(landed.at - failed.at < 1000, "the 500 (no Retry-After) was retried after a back-off");
  assert.equal(new Set(gate.seen.map((s) => s.eventId)).size, 1);
  await storedOnce(outcome.eventId);
  await logger.close();
  await gate.down();
});

test("a 4xx is not retried: it is given up at once, with the API's field errors", async () => {
  const gate = new Gate();
  await gate.up();
  const { logger, gaveUp } = loggerFor(gate);

  const outcome = await logger.logActivity(event("Refused source", { source: "elsewhere" }));
  assert.equal(outcome.status, "gave-up");
  assert.equal(gaveUp.length, 1);
  const [report] = gaveUp;
  assert.equal(report?.reason, "rejected");
  assert.equal(report?.status, 400);
  assert.equal(report?.attempts, 1);
  assert.equal(report?.eventId, outcome.eventId);
  assert.ok(report?.errors?.some((e) => e.field === "source"), JSON.stringify(report));

  // A wrong key (401) is not retried either.
  const stranger = loggerFor(gate, { apiKey: "not-a-key" });
  const refused = await stranger.logger.logActivity(event("Wrong key"));
  assert.equal(refused.status, "gave-up");
  assert.equal(stranger.gaveUp[0]?.status, 401);

  assert.equal(await logger.flush(1000), true);
  assert.equal(await stranger.logger.flush(1000), true);
  assert.equal(gate.seen.length, 2);
  await gate.down();
});

test("a full queue drops (and reports) the oldest event; the others land once", async () => {
  const gate = new Gate();
  await gate.up();
  gate.steps.push({ status: 503, retryAfter: "1" });
  const { logger, gaveUp } = loggerFor(gate, { maxQueue: 2 });

  const oldest = await logger.logActivity(event("Dropped 1"));
  const second = await logger.logActivity(event("Queued 2"));
  const third = await logger.logActivity(event("Queued 3"));
  assert.deepEqual(
    [oldest.status, second.status, third.status],
    ["queued", "queued", "queued"],
  );
  assert.deepEqual(
    gaveUp.map((g) => [g.reason, g.eventId]),
    [["dropped", oldest.eventId]],
  );
  assert.equal(logger.pending, 2);

  assert.equal(await logger.flush(10_000), true);
  assert.equal(gaveUp.length, 1);
  await storedOnce(second.eventId);
  await storedOnce(third.eventId);
  assert.equal(gate.seen.filter((s) => s.eventId === oldest.eventId).length, 1);
  await logger.close();
  await gate.down();
});

test("close() reports what it could not deliver; nothing throws; onGiveUp warns", async (t) => {
  const warn = t.mock.method(console, "warn", () => undefined);
  const gate = new Gate();
  await gate.up();
  await gate.down();
  const logger = new ActivityLogger({
    baseUrl: gate.url,
    apiKey,
    timeoutMs: 300,
    baseDelayMs: 20,
    maxDelayMs: 100,
  });

  const pending = await logger.logActivity(event("Never delivered"));
  assert.equal(pending.status, "queued");
  assert.equal(await logger.close(200), false);
  assert.equal(logger.pending, 0);
  assert.equal(warn.mock.callCount(), 1);
  const line = String(warn.mock.calls[0]?.arguments[0]);
  assert.match(line, /gave up on NOTE_ADDED event/);
  assert.ok(line.includes(pending.eventId) && line.includes("closed"), line);

  const late = await logger.logActivity(event("After close"));
  assert.equal(late.status, "gave-up");
  assert.equal(late.status === "gave-up" && late.giveUp.reason, "closed");
  assert.equal(warn.mock.callCount(), 2);

  // Not JSON (a BigInt), a callback that throws, no baseUrl: reported, never thrown.
  const careless = new ActivityLogger({
    baseUrl: gate.url,
    apiKey,
    onGiveUp: () => {
      throw new Error("the callback broke");
    },
  });
  const bigint = await careless.logActivity(event("BigInt", { metadata: { n: 1n } }));
  assert.equal(bigint.status === "gave-up" && bigint.giveUp.reason, "invalid");
  const unconfigured = new ActivityLogger({ baseUrl: undefined as unknown as string, apiKey });
  const nowhere = await unconfigured.logActivity(event("Nowhere"));
  assert.equal(nowhere.status === "gave-up" && nowhere.giveUp.reason, "invalid");
  assert.ok(warn.mock.callCount() >= 4);
});

test("a process ending without close() is not held open; it reports the queue", async () => {
  const gate = new Gate();
  await gate.up();
  await gate.down();
  // A script that logs while the API is down and then simply ends.
  const clientModule = new URL("../src/client.js", import.meta.url).href;
  const script = `
    import { ActivityLogger } from ${JSON.stringify(clientModule)};
    const logger = new ActivityLogger({
      baseUrl: ${JSON.stringify(gate.url)}, apiKey: "k", baseDelayMs: 60000,
    });
    const outcome = await logger.logActivity(${JSON.stringify(event("Left behind"))});
    console.log(outcome.status, outcome.eventId);
  `;
  const started = Date.now();
  const { stdout, stderr } = await promisify(execFile)(
    process.execPath,
    ["--input-type=module", "--eval", script],
    { timeout: 20_000 },
  );
  // A minute's back-off did not keep it alive.
  assert.ok(Date.now() - started < 10_000, `the script took ${Date.now() - started} ms`);
  const [status, eventId] = stdout.trim().split(" ");
  assert.equal(status, "queued");
  assert.ok(eventId && stderr.includes(eventId), stderr);
  assert.match(stderr, /closed after 1 attempt\(s\)\): the process exited with it queued/);
});
