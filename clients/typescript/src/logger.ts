// Logging that never breaks the app (PRD §4.4): `ActivityLogger.logActivity` never throws and
// waits at most one attempt's timeout; what does not get through is retried in the background
// (capped exponential back-off with jitter, Retry-After honoured) from a bounded in-memory
// queue, and what is finally given up is reported to `onGiveUp`. Each event carries one
// `eventId` (and the same `Idempotency-Key`) over all its attempts, so an attempt that landed
// although its answer was lost is not stored twice.
import type { ActivityEvent, ClientOptions, ErrorBody, EventAccepted } from "./client.js";

export type FieldError = NonNullable<ErrorBody["errors"]>[number];

/** Why an event was given up. */
export type GiveUpReason =
  /** The API refused it (a 4xx other than 429): retrying would not help; see `errors`. */
  | "rejected"
  /** The queue was full: the oldest waiting event makes room for a newer one. */
  | "dropped"
  /** Still not delivered `maxAgeMs` after it was logged. */
  | "expired"
  /** `maxAttempts` attempts failed. */
  | "exhausted"
  /** `close()` ran out of time, or the event was logged after `close()`. */
  | "closed"
  /** It could not be sent at all (not serialisable as JSON, no `baseUrl`). */
  | "invalid";

/** What `onGiveUp` receives for each event that will not be delivered. */
export interface GiveUp {
  reason: GiveUpReason;
  eventId: string;
  event: ActivityEvent;
  /** Attempts made (0 when it was never sent). */
  attempts: number;
  /** What went wrong last, for a log line. */
  message: string;
  /** The last HTTP status, if the API answered. */
  status: number | undefined;
  /** The API's field errors (`rejected`): each names a bad field. */
  errors: FieldError[] | undefined;
}

/** What `logActivity` resolves to; it never rejects. */
export type LogOutcome =
  | { status: "delivered"; eventId: string; accepted: EventAccepted | undefined }
  /** Not delivered yet: it is retried in the background (`flush()` waits for it). */
  | { status: "queued"; eventId: string }
  | { status: "gave-up"; eventId: string; giveUp: GiveUp };

export interface LoggerOptions extends ClientOptions {
  /** Per attempt, including reading the answer; the caller waits at most this long. 3,000. */
  timeoutMs?: number;
  /** The first back-off (ms); it doubles per consecutive failure, with jitter. 500. */
  baseDelayMs?: number;
  /** The back-off's cap (ms). 30,000. */
  maxDelayMs?: number;
  /** The longest `Retry-After` honoured (ms); a longer one is cut to this. 300,000. */
  maxRetryAfterMs?: number;
  /** Attempts per event before it is given up (`exhausted`). Unlimited by default. */
  maxAttempts?: number;
  /** Give an event up (`expired`) this long after it was logged (ms). 15 minutes. */
  maxAgeMs?: number;
  /** Events waiting for a retry; when full the oldest is dropped (and reported). 1,000. */
  maxQueue?: number;
  /** Told about each event given up; by default one `console.warn` line. Never throws out. */
  onGiveUp?: (giveUp: GiveUp) => void;
  /** A number in [0, 1) for the jitter; `Math.random` by default. */
  random?: () => number;
}

/** The delay before retry number `failures` (≥ 1): capped exponential with "equal jitter",
 * i.e. uniformly between half the capped exponential step and all of it. */
export function backoffDelay(
  failures: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const step = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, Math.min(failures - 1, 52)));
  return step / 2 + random() * (step / 2);
}

/** A `Retry-After` value in ms from `now`: delay-seconds or an HTTP date; undefined if absent
 * or unreadable. A date in the past is 0. */
export function retryAfterMs(
  value: string | null | undefined,
  now = Date.now(),
): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface Entry {
  readonly seq: number;
  readonly eventId: string;
  readonly event: ActivityEvent;
  body: string;
  readonly loggedAt: number;
  attempts: number;
  last: { message: string; status: number | undefined };
}

type Attempt =
  | { kind: "delivered"; accepted: EventAccepted | undefined }
  | { kind: "retry"; status: number | undefined; retryAfterMs: number | undefined; message: string }
  | { kind: "rejected"; status: number; body: ErrorBody | undefined; message: string };

function randomId(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (typeof crypto?.randomUUID === "function") return crypto.randomUUID();
  const hex = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16));
  hex[12] = "4";
  hex[16] = ((Number.parseInt(hex[16] ?? "0", 16) & 0x3) | 0x8).toString(16);
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    const code = (cause as { code?: unknown } | undefined)?.code;
    if (typeof code === "string") return `${error.message} (${code})`;
    if (cause instanceof Error) return `${error.message} (${cause.message})`;
    return error.message;
  }
  return String(error);
}

/** A JSON object answer, or undefined. */
function jsonObject<T>(text: string): T | undefined {
  try {
    const body: unknown = JSON.parse(text);
    return body && typeof body === "object" ? (body as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Node's timers hold the process open unless unref'd; a browser's are plain numbers. */
function holdOpen(timer: unknown, hold: boolean): void {
  const t = timer as { ref?: () => void; unref?: () => void } | undefined;
  if (typeof t !== "object" || t === null) return;
  if (hold) t.ref?.();
  else t.unref?.();
}

/** Loggers with events queued, told when Node is about to exit with nothing left to run
 * (the queue's back-off alone does not keep it alive), so those events are reported. */
const exitHooks = new Set<() => void>();
let exitHooked = false;

function reportAtExit(hook: () => void): void {
  exitHooks.add(hook);
  if (exitHooked) return;
  const proc = (globalThis as { process?: { on?: (name: string, f: () => void) => void } })
    .process;
  if (typeof proc?.on !== "function") return; // a browser: nothing to hook
  proc.on("beforeExit", () => {
    for (const report of [...exitHooks]) report();
  });
  exitHooked = true;
}

function defaultGiveUp(giveUp: GiveUp): void {
  const event = giveUp.event as unknown as Partial<Record<string, unknown>> | undefined;
  const lead = event?.["leadAirtableId"] ?? event?.["leadId"] ?? "?";
  console.warn(
    `[activity-log] gave up on ${String(event?.["eventType"] ?? "an")} event ${giveUp.eventId} ` +
      `for lead ${String(lead)} (${giveUp.reason} after ${giveUp.attempts} attempt(s)): ` +
      giveUp.message,
  );
}

/**
 * Logs events without ever throwing. One per process (it holds the retry queue):
 *
 *     const activity = new ActivityLogger({ baseUrl, apiKey });
 *     await activity.logActivity(event); // resolves within `timeoutMs`, never rejects
 *     await activity.close();            // on shutdown: deliver what is queued, or report it
 */
export class ActivityLogger {
  readonly #url: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch | undefined;
  readonly #timeoutMs: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #maxAttempts: number;
  readonly #maxAgeMs: number;
  readonly #maxQueue: number;
  readonly #onGiveUp: (giveUp: GiveUp) => void;
  readonly #random: () => number;

  /** Waiting for a retry, oldest first except that a failed retry goes to the back. */
  #queue: Entry[] = [];
  readonly #inFlight = new Set<AbortController>();
  #seq = 0;
  #pumping = false;
  /** Consecutive failed attempts: the back-off's exponent. */
  #failures = 0;
  /** No attempt from the queue before this instant (back-off, Retry-After). */
  #resumeAt = 0;
  #sleeper: { timer: ReturnType<typeof setTimeout>; wake: () => void } | undefined;
  readonly #idleWaiters = new Set<() => void>();
  /** `close()` was called: new events are given up. */
  #closed = false;
  /** `close()` ran out of time: whatever fails now is given up. */
  #stopping = false;

  constructor(options: LoggerOptions) {
    const base = typeof options?.baseUrl === "string" ? options.baseUrl.replace(/\/+$/, "") : "";
    this.#url = base ? `${base}/api/internal/log-activity` : "";
    this.#apiKey = String(options?.apiKey ?? "");
    this.#fetch =
      options?.fetch ??
      (typeof globalThis.fetch === "function" ? globalThis.fetch.bind(globalThis) : undefined);
    const positive = (value: number | undefined, fallback: number): number =>
      typeof value === "number" && value > 0 ? value : fallback;
    this.#timeoutMs = positive(options?.timeoutMs, 3_000);
    this.#baseDelayMs = positive(options?.baseDelayMs, 500);
    this.#maxDelayMs = Math.max(this.#baseDelayMs, positive(options?.maxDelayMs, 30_000));
    this.#maxRetryAfterMs = positive(options?.maxRetryAfterMs, 300_000);
    this.#maxAttempts = Math.max(1, positive(options?.maxAttempts, Number.POSITIVE_INFINITY));
    this.#maxAgeMs = positive(options?.maxAgeMs, 15 * 60_000);
    this.#maxQueue = Math.max(1, Math.floor(positive(options?.maxQueue, 1_000)));
    this.#onGiveUp = options?.onGiveUp ?? defaultGiveUp;
    this.#random = options?.random ?? Math.random;
  }

  /** Events not yet delivered nor given up (queued or being sent). */
  get pending(): number {
    return this.#queue.length + this.#inFlight.size;
  }

  /**
   * Log one event. Never rejects, and resolves within `timeoutMs`: `delivered`, `queued` (it
   * is retried in the background) or `gave-up` (also reported to `onGiveUp`). While earlier
   * events wait for a retry it is queued behind them at once, without an attempt of its own.
   * The event gets an `eventId` (unless it has one) and, if it has none, the time of this call
   * as its `timestamp`, so a late delivery keeps both.
   */
  async logActivity(event: ActivityEvent): Promise<LogOutcome> {
    let entry: Entry | undefined;
    try {
      entry = this.#entry(event);
      if (!this.#url) return this.#gaveUp(entry, "invalid", "no baseUrl is configured");
      const timestamp = (event as { timestamp?: unknown }).timestamp;
      entry.body = JSON.stringify({
        ...event,
        eventId: entry.eventId,
        timestamp: timestamp ?? new Date(entry.loggedAt).toISOString(),
      });
      if (this.#closed) return this.#gaveUp(entry, "closed", "logged after close()");
      if (this.#queue.length > 0 || this.#pumping || Date.now() < this.#resumeAt) {
        this.#enqueue(entry);
        return { status: "queued", eventId: entry.eventId };
      }
      return this.#settle(entry, await this.#attempt(entry));
    } catch (error) {
      // Not serialisable (a BigInt, a cycle), a getter that throws, or a bug of ours.
      entry ??= this.#entry(event);
      return this.#gaveUp(entry, "invalid", `the event cannot be sent: ${describe(error)}`);
    }
  }

  /**
   * Wait until every logged event is delivered or given up; true if so, false if `timeoutMs`
   * ran out first (no limit by default). Back-off and Retry-After waits are still honoured.
   */
  flush(timeoutMs?: number): Promise<boolean> {
    if (this.#idle()) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      let deadline: ReturnType<typeof setTimeout> | undefined;
      const done = (drained: boolean): void => {
        if (deadline !== undefined) clearTimeout(deadline);
        this.#idleWaiters.delete(waiter);
        if (this.#idleWaiters.size === 0 && this.#sleeper) holdOpen(this.#sleeper.timer, false);
        resolve(drained);
      };
      const waiter = (): void => done(true);
      this.#idleWaiters.add(waiter);
      // Someone waits: a back-off timer now holds the process open until it fires.
      if (this.#sleeper) holdOpen(this.#sleeper.timer, true);
      if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
        deadline = setTimeout(() => done(false), Math.max(0, timeoutMs));
      }
    });
  }

  /**
   * Graceful shutdown: take no more events (later ones are given up as `closed`), try to
   * deliver what is queued for up to `timeoutMs`, then give up (and report) the rest,
   * aborting attempts in flight. True if nothing had to be given up this way.
   */
  async close(timeoutMs = 10_000): Promise<boolean> {
    this.#closed = true;
    try {
      if (await this.flush(timeoutMs)) return true;
      this.#stopping = true;
      for (const entry of this.#queue.splice(0)) {
        this.#gaveUp(entry, "closed", `close() ran out of time; last: ${entry.last.message}`);
      }
      for (const controller of this.#inFlight) controller.abort();
      this.#sleeper?.wake();
      // The aborted attempts settle at once (unless a custom fetch ignores its signal).
      await this.flush(1_000);
      return false;
    } catch {
      return false;
    }
  }

  #entry(event: ActivityEvent): Entry {
    let eventId: string | undefined;
    try {
      const given = (event as { eventId?: unknown } | undefined)?.eventId;
      if (typeof given === "string" && given) eventId = given;
    } catch {
      // a hostile getter: the event gets an id of its own
    }
    return {
      seq: this.#seq++,
      eventId: eventId ?? randomId(),
      event,
      body: "",
      loggedAt: Date.now(),
      attempts: 0,
      last: { message: "not sent yet", status: undefined },
    };
  }

  async #attempt(entry: Entry): Promise<Attempt> {
    entry.attempts += 1;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#timeoutMs);
    this.#inFlight.add(controller);
    try {
      if (!this.#fetch) throw new Error("no fetch is available");
      const response = await this.#fetch(this.#url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-api-key": this.#apiKey,
          "idempotency-key": entry.eventId,
        },
        body: entry.body,
        signal: controller.signal,
      });
      const text = await response.text();
      if (response.ok) {
        const accepted = jsonObject<EventAccepted>(text);
        return { kind: "delivered", accepted };
      }
      const body = jsonObject<ErrorBody>(text);
      const said = body?.error ?? (text.slice(0, 200) || response.statusText);
      const message = `${response.status}: ${said}`;
      if (response.status === 429 || response.status >= 500) {
        const wait = retryAfterMs(response.headers.get("retry-after"));
        return { kind: "retry", status: response.status, retryAfterMs: wait, message };
      }
      return { kind: "rejected", status: response.status, body, message };
    } catch (error) {
      const message = timedOut
        ? `no answer within ${this.#timeoutMs} ms`
        : this.#stopping
          ? "aborted by close()"
          : `the API could not be reached: ${describe(error)}`;
      return { kind: "retry", status: undefined, retryAfterMs: undefined, message };
    } finally {
      clearTimeout(timer);
      this.#inFlight.delete(controller);
    }
  }

  /** Act on an attempt's result: done, given up, or back to the queue after a back-off. */
  #settle(entry: Entry, attempt: Attempt): LogOutcome {
    try {
      switch (attempt.kind) {
        case "delivered":
          this.#failures = 0;
          return { status: "delivered", eventId: entry.eventId, accepted: attempt.accepted };
        case "rejected":
          this.#failures = 0; // the API answered: it is up, the event is what is wrong
          entry.last = { message: attempt.message, status: attempt.status };
          return this.#gaveUp(entry, "rejected", attempt.message, attempt.body?.errors);
        case "retry": {
          entry.last = { message: attempt.message, status: attempt.status };
          this.#failures += 1;
          const backoff = backoffDelay(
            this.#failures,
            this.#baseDelayMs,
            this.#maxDelayMs,
            this.#random,
          );
          const wait =
            attempt.retryAfterMs === undefined
              ? backoff
              : Math.max(backoff, Math.min(attempt.retryAfterMs, this.#maxRetryAfterMs));
          this.#resumeAt = Math.max(this.#resumeAt, Date.now() + wait);
          if (this.#stopping) return this.#gaveUp(entry, "closed", attempt.message);
          if (entry.attempts >= this.#maxAttempts) {
            return this.#gaveUp(entry, "exhausted", attempt.message);
          }
          if (Date.now() - entry.loggedAt >= this.#maxAgeMs) {
            return this.#gaveUp(entry, "expired", attempt.message);
          }
          this.#enqueue(entry);
          return { status: "queued", eventId: entry.eventId };
        }
      }
    } finally {
      this.#checkIdle();
    }
  }

  #enqueue(entry: Entry): void {
    this.#queue.push(entry);
    reportAtExit(this.#atExit);
    while (this.#queue.length > this.#maxQueue) {
      let oldest = 0;
      this.#queue.forEach((e, i) => {
        if (e.seq < (this.#queue[oldest]?.seq ?? Infinity)) oldest = i;
      });
      const [dropped] = this.#queue.splice(oldest, 1);
      if (dropped) {
        this.#gaveUp(
          dropped,
          "dropped",
          `the retry queue is full (${this.#maxQueue} events); last: ${dropped.last.message}`,
        );
      }
    }
    this.#kick();
  }

  #kick(): void {
    if (this.#pumping || this.#queue.length === 0 || this.#stopping) return;
    this.#pumping = true;
    let broke = false;
    this.#pump()
      .catch((error: unknown) => {
        // A bug of ours: try again after the longest back-off rather than spin.
        broke = true;
        holdOpen(setTimeout(() => this.#kick(), this.#maxDelayMs), false);
        try {
          console.warn(`[activity-log] the retry loop failed: ${describe(error)}`);
        } catch {
          // nothing more to do
        }
      })
      .finally(() => {
        this.#pumping = false;
        this.#checkIdle();
        if (!broke) this.#kick();
      });
  }

  /** The background loop: one event at a time, after the back-off, until the queue is empty. */
  async #pump(): Promise<void> {
    while (this.#queue.length > 0 && !this.#stopping) {
      const wait = this.#resumeAt - Date.now();
      if (wait > 0) {
        await this.#sleep(wait);
        continue;
      }
      this.#expire();
      const entry = this.#queue.shift();
      if (!entry) break;
      this.#settle(entry, await this.#attempt(entry));
    }
  }

  #expire(): void {
    const now = Date.now();
    const kept: Entry[] = [];
    for (const entry of this.#queue) {
      if (now - entry.loggedAt >= this.#maxAgeMs) {
        const last = entry.last.message;
        this.#gaveUp(entry, "expired", `not delivered in ${this.#maxAgeMs} ms; last: ${last}`);
      } else {
        kept.push(entry);
      }
    }
    this.#queue = kept;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        this.#sleeper = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      // A back-off alone does not keep the process alive; `flush()`/`close()` make it.
      holdOpen(timer, this.#idleWaiters.size > 0);
      this.#sleeper = { timer, wake };
    });
  }

  /** Node is exiting without `close()`: report what is still queued (not delivered). */
  readonly #atExit = (): void => {
    exitHooks.delete(this.#atExit);
    for (const entry of this.#queue.splice(0)) {
      this.#gaveUp(
        entry,
        "closed",
        `the process exited with it queued (call close() first); last: ${entry.last.message}`,
      );
    }
    this.#sleeper?.wake();
  };

  #idle(): boolean {
    return this.#queue.length === 0 && this.#inFlight.size === 0;
  }

  #checkIdle(): void {
    if (this.#queue.length === 0) exitHooks.delete(this.#atExit);
    if (!this.#idle()) return;
    for (const waiter of [...this.#idleWaiters]) waiter();
  }

  #gaveUp(
    entry: Entry,
    reason: GiveUpReason,
    message: string,
    errors?: FieldError[],
  ): LogOutcome {
    const giveUp: GiveUp = {
      reason,
      eventId: entry.eventId,
      event: entry.event,
      attempts: entry.attempts,
      message,
      status: entry.last.status,
      errors,
    };
    try {
      this.#onGiveUp(giveUp);
    } catch (error) {
      try {
        console.warn(`[activity-log] onGiveUp threw: ${describe(error)}`);
        defaultGiveUp(giveUp);
      } catch {
        // logging must never break the app
      }
    }
    this.#checkIdle();
    return { status: "gave-up", eventId: entry.eventId, giveUp };
  }
}
