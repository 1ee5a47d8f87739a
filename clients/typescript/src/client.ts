// A small fetch client for the lead activity log API. Every type comes from the API's
// OpenAPI document (src/schema.ts, `npm run generate`), so a changed API fails to compile.
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
export type ActivityEvent = Schemas["ActivityEvent"];
export type EventAccepted = Schemas["EventAccepted"];
export type TimelineItem = Schemas["TimelineItem"];
export type TimelinePage = Schemas["TimelinePage"];
export type EventItem = Schemas["EventItem"];
export type LeadOverview = Schemas["LeadOverview"];
export type ActivityItem = Schemas["ActivityItem"];
export type ActivityPage = Schemas["ActivityPage"];
export type CategoryCounts = Schemas["CategoryCounts"];
export type ErrorBody = Schemas["ErrorBody"];

type QueryOf<P extends keyof paths, M extends "get" | "post"> = paths[P][M] extends {
  parameters: { query?: infer Q };
}
  ? NonNullable<Q>
  : never;

/** Timeline filters; the client follows the cursor itself. */
export type TimelineQuery = Omit<QueryOf<"/api/leads/{id}/activity", "get">, "cursor">;
export type ActivityLogsQuery = QueryOf<"/api/admin/activity-logs", "get">;
export type CountsQuery = QueryOf<"/api/admin/activity-logs/counts", "get">;
export type ExportQuery = QueryOf<"/api/admin/activity-logs/export.csv", "get">;
/** A live stream's filters (`since` is an option: see `LiveOptions`). */
export type LiveTimelineQuery = Omit<QueryOf<"/api/leads/{id}/activity/stream", "get">, "since">;
export type LiveActivityQuery = Omit<QueryOf<"/api/admin/activity-logs/stream", "get">, "since">;

export interface ClientOptions {
  /** The API's base URL, e.g. `https://activity.example.com`. */
  baseUrl: string;
  /** An API key (`activitylog keys create`): `ingest` to log, `portal` or `admin` to read. */
  apiKey: string;
  /** Another fetch (tests, Next.js' extended fetch); the global one by default. */
  fetch?: typeof fetch;
}

export interface LogOptions {
  /** Names the request: a retry with the same key stores nothing twice. */
  idempotencyKey?: string;
  /**
   * Read your own writes: answer once the events are stored, waiting at most this many
   * seconds (`true`: the longest the API allows, 5 s). Sent as `Prefer: wait=N` (RFC 7240).
   * Each result's `queued` is then false when its event is stored (readable at once), true
   * when the wait ran out or the event waits in the retry queue. For a UI action whose result
   * is read back at once; not for bulk producers (docs/CONTRACT.md §5).
   */
  wait?: boolean | number;
}

export interface LiveOptions {
  /** Also the events stored since this time (ISO 8601, at most an hour back): what arrived
   * between reading a list and opening its stream. */
  since?: string;
  /** Resume after this event id (a `LiveStream`'s `lastEventId`). */
  lastEventId?: string;
  /** Ends the stream (the iterator then returns); breaking out of `for await` does too. */
  signal?: AbortSignal;
  /** Milliseconds to wait before reconnecting (the API's `retry` field wins); 2,000. */
  retryMs?: number;
}

/** The longest wait the API grants (`LogOptions.wait`). */
export const MAX_WAIT_SECONDS = 5;

interface SseMessage {
  event: string;
  data: string;
  id: string | undefined;
  retry: number | undefined;
}

/** Server-sent events from a fetch body (the WHATWG event-stream format). */
async function* serverSentEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let message: SseMessage = { event: "message", data: "", id: undefined, retry: undefined };
  let hasData = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      // A line may end in "\r\n" split across two chunks: keep a trailing "\r" for the next.
      const held = buffer.endsWith("\r") ? "\r" : "";
      const lines = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      buffer = (lines.pop() ?? "") + held;
      for (const line of lines) {
        if (line === "") {
          if (hasData || message.event !== "message") yield message;
          message = { event: "message", data: "", id: message.id, retry: undefined };
          hasData = false;
          continue;
        }
        if (line.startsWith(":")) continue; // a comment: a keep-alive
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "event") message.event = value;
        else if (field === "data") {
          message.data = hasData ? `${message.data}\n${value}` : value;
          hasData = true;
        } else if (field === "id") message.id = value;
        else if (field === "retry" && /^\d+$/.test(value)) message.retry = Number(value);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

/** Wait `ms`, or less if `signal` aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** A non-2xx answer: the status and the API's error body (`errors` names each bad field). */
export class ActivityLogError extends Error {
  readonly status: number;
  readonly body: ErrorBody | undefined;

  constructor(status: number, body: ErrorBody | undefined, fallback: string) {
    super(`${status}: ${body?.error ?? fallback}`);
    this.name = "ActivityLogError";
    this.status = status;
    this.body = body;
  }
}

/** A CSV export that ended early: `csv` holds the rows that did arrive. */
export class IncompleteExportError extends Error {
  readonly csv: string;

  constructor(line: string, csv: string) {
    super(`the export is incomplete: ${line}`);
    this.name = "IncompleteExportError";
    this.csv = csv;
  }
}

type QueryValue = string | number | boolean | readonly string[] | null | undefined;

function searchParams(query: Readonly<Record<string, QueryValue>> | undefined): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value === undefined || value === null) continue;
    // Lists are one comma-separated value (the document's `style: form, explode: false`).
    params.set(name, Array.isArray(value) ? value.join(",") : String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

export class ActivityLogClient {
  readonly #baseUrl: string;
  readonly #apiKey: string;
  readonly #fetch: typeof fetch;

  constructor(options: ClientOptions) {
    this.#baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  async #request(
    path: string,
    init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { "x-api-key": this.#apiKey, ...init.headers };
    const request: RequestInit = { method: init.method ?? "GET", headers };
    if (init.body !== undefined) {
      headers["content-type"] = "application/json";
      request.body = JSON.stringify(init.body);
    }
    const response = await this.#fetch(`${this.#baseUrl}${path}`, request);
    if (!response.ok) {
      const text = await response.text();
      let body: ErrorBody | undefined;
      try {
        body = JSON.parse(text) as ErrorBody;
      } catch {
        body = undefined;
      }
      throw new ActivityLogError(response.status, body, text || response.statusText);
    }
    return response;
  }

  async #json<T>(path: string): Promise<T> {
    return (await (await this.#request(path)).json()) as T;
  }

  /** Log one event (one result) or an array of up to 1,000 (one result each, in order). */
  logActivity(event: ActivityEvent, options?: LogOptions): Promise<EventAccepted>;
  logActivity(events: readonly ActivityEvent[], options?: LogOptions): Promise<EventAccepted[]>;
  async logActivity(
    events: ActivityEvent | readonly ActivityEvent[],
    options: LogOptions = {},
  ): Promise<EventAccepted | EventAccepted[]> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
    if (options.wait !== undefined && options.wait !== false) {
      const seconds = options.wait === true ? MAX_WAIT_SECONDS : options.wait;
      headers["prefer"] = `wait=${Math.max(0, Math.min(seconds, MAX_WAIT_SECONDS))}`;
    }
    const response = await this.#request("/api/internal/log-activity", {
      method: "POST",
      body: events,
      headers,
    });
    return (await response.json()) as EventAccepted | EventAccepted[];
  }

  /** A lead's timeline (UUID or Airtable record id), newest first, following every cursor. */
  async *timeline(lead: string, query: TimelineQuery = {}): AsyncGenerator<TimelineItem> {
    let cursor: string | null = null;
    do {
      const page: TimelinePage = await this.#json<TimelinePage>(
        `/api/leads/${encodeURIComponent(lead)}/activity` +
          searchParams({ ...query, cursor: cursor ?? undefined }),
      );
      yield* page.timeline;
      cursor = page.pagination.hasMore ? page.pagination.nextCursor : null;
    } while (cursor !== null);
  }

  /**
   * A lead's new events as they are stored (UUID or Airtable record id), for as long as the
   * loop runs: `for await (const item of log.liveTimeline(lead)) …`. It reconnects by itself
   * (resuming where it was; an event seen already is not repeated) until `signal` aborts or
   * the loop ends. A 4xx (no such lead, another client's, a bad filter) throws
   * `ActivityLogError`.
   */
  liveTimeline(
    lead: string,
    query: LiveTimelineQuery = {},
    options: LiveOptions = {},
  ): AsyncGenerator<TimelineItem> {
    return this.#live<TimelineItem>(`/api/leads/${encodeURIComponent(lead)}/activity/stream`, query, options);
  }

  /** New events under the browser's filters as they are stored (as `liveTimeline`). */
  liveActivity(query: LiveActivityQuery = {}, options: LiveOptions = {}): AsyncGenerator<ActivityItem> {
    return this.#live<ActivityItem>("/api/admin/activity-logs/stream", query, options);
  }

  async *#live<T extends { id: string }>(
    path: string,
    query: Readonly<Record<string, QueryValue>>,
    options: LiveOptions,
  ): AsyncGenerator<T> {
    const controller = new AbortController();
    const stop = (): void => controller.abort();
    if (options.signal?.aborted) return;
    options.signal?.addEventListener("abort", stop, { once: true });
    let lastEventId = options.lastEventId;
    let since = options.since;
    let retryMs = options.retryMs ?? 2_000;
    // Ids seen lately: a reconnection may send an event again.
    const seen = new Set<string>();
    try {
      while (!controller.signal.aborted) {
        const headers: Record<string, string> = {
          "x-api-key": this.#apiKey,
          accept: "text/event-stream",
        };
        if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
        let response: Response;
        try {
          response = await this.#fetch(`${this.#baseUrl}${path}${searchParams({ ...query, since })}`, {
            headers,
            signal: controller.signal,
          });
        } catch {
          if (controller.signal.aborted) return;
          await pause(retryMs, controller.signal); // the network failed: try again
          continue;
        }
        if (!response.ok) {
          const text = await response.text();
          if (response.status >= 500 || response.status === 429) {
            await pause(retryMs, controller.signal);
            continue;
          }
          let body: ErrorBody | undefined;
          try {
            body = JSON.parse(text) as ErrorBody;
          } catch {
            body = undefined;
          }
          throw new ActivityLogError(response.status, body, text || response.statusText);
        }
        since = undefined; // from now on the last event id says where to resume
        try {
          for await (const message of serverSentEvents(response.body as ReadableStream<Uint8Array>)) {
            if (message.retry !== undefined) retryMs = message.retry;
            if (message.id !== undefined) lastEventId = message.id;
            if (message.event !== "activity") continue; // ready, bye (the API is stopping)
            const item = JSON.parse(message.data) as T;
            if (seen.has(item.id)) continue;
            seen.add(item.id);
            if (seen.size > 5_000) seen.delete(seen.values().next().value as string);
            yield item;
          }
        } catch {
          if (controller.signal.aborted) return; // the network failed mid-stream: reconnect
        }
        await pause(retryMs, controller.signal);
      }
    } finally {
      options.signal?.removeEventListener("abort", stop);
      controller.abort(); // the loop ended early: close the connection
    }
  }

  /** A lead (UUID or Airtable record id) with its newest event and its events per category.
   * A portal key sees only its own client's leads: another's is a 404 `ActivityLogError`. */
  lead(lead: string): Promise<LeadOverview> {
    return this.#json<LeadOverview>(`/api/leads/${encodeURIComponent(lead)}`);
  }

  /** One page of the admin activity browser's query. */
  activityLogs(query: ActivityLogsQuery = {}): Promise<ActivityPage> {
    return this.#json<ActivityPage>(`/api/admin/activity-logs${searchParams(query)}`);
  }

  /** Events per category for a filter (`estimated` when counted above the API's cap). */
  counts(query: CountsQuery = {}): Promise<CategoryCounts> {
    return this.#json<CategoryCounts>(`/api/admin/activity-logs/counts${searchParams(query)}`);
  }

  /** The whole filtered set as CSV text; throws `IncompleteExportError` if the API lost its
   * database part-way (the body then ends with a line starting `#ERROR:`). */
  async exportCsv(query: ExportQuery = {}): Promise<string> {
    const response = await this.#request(
      `/api/admin/activity-logs/export.csv${searchParams(query)}`,
    );
    const csv = await response.text();
    const last = csv.trimEnd().split("\n").at(-1) ?? "";
    if (last.startsWith("#ERROR:")) throw new IncompleteExportError(last, csv);
    return csv;
  }
}

// The never-throwing logger (retries, a bounded queue, onGiveUp): src/logger.ts.
export {
  ActivityLogger,
  backoffDelay,
  retryAfterMs,
  type FieldError,
  type GiveUp,
  type GiveUpReason,
  type LoggerOptions,
  type LogOutcome,
} from "./logger.js";
