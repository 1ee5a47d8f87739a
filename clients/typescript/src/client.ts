// A small fetch client for the lead activity log API. Every type comes from the API's
// OpenAPI document (src/schema.ts, `npm run generate`), so a changed API fails to compile.
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];
export type ActivityEvent = Schemas["ActivityEvent"];
export type EventAccepted = Schemas["EventAccepted"];
export type TimelineItem = Schemas["TimelineItem"];
export type TimelinePage = Schemas["TimelinePage"];
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
