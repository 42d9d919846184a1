/**
 * The load driver: a steady stream of requests against the notes API (list, read one — transit decrypt —, and
 * create — transit encrypt + insert), counted per second. Any answer other than 2xx, and any network error, is a
 * failed request.
 */

/** One failed request (no bodies: status, route and error code only). */
export interface LoadFailure {
  at: number;
  route: string;
  status: number | undefined;
  error: string;
}

/** Requests of one second. */
export interface LoadSecond {
  /** Start of the second, ms since epoch. */
  t: number;
  ok: number;
  failed: number;
}

/** A running load driver. */
export interface LoadDriver {
  readonly requests: number;
  readonly failedRequests: number;
  /** The last `seconds` full seconds (oldest first). */
  series(seconds: number): LoadSecond[];
  /** The most recent failures (newest last, at most 20). */
  failures(): LoadFailure[];
  /** Stops sending and waits for the requests in flight. Idempotent. */
  stop(): Promise<void>;
}

const KEEP_SECONDS = 600;

/** Starts `concurrency` loops that together send about `rps` requests per second to `base`. */
export function startLoad(base: string, options: { rps: number; concurrency: number }): LoadDriver {
  let running = true;
  let requests = 0;
  let failedRequests = 0;
  let noteIds: number[] = [];
  const seconds = new Map<number, LoadSecond>();
  const failures: LoadFailure[] = [];
  const interval = (1000 * options.concurrency) / Math.max(1, options.rps);

  const count = (ok: boolean): void => {
    const t = Math.floor(Date.now() / 1000) * 1000;
    let s = seconds.get(t);
    if (!s) {
      s = { t, ok: 0, failed: 0 };
      seconds.set(t, s);
      for (const key of seconds.keys()) {
        if (key < t - KEEP_SECONDS * 1000) seconds.delete(key);
        else break;
      }
    }
    requests++;
    if (ok) s.ok++;
    else {
      s.failed++;
      failedRequests++;
    }
  };

  const one = async (i: number): Promise<void> => {
    const pick = Math.random();
    let route: string;
    let init: RequestInit = {};
    if (pick < 0.15 || noteIds.length === 0) {
      route = 'POST /notes';
      init = {
        ...init,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          title: `note ${requests + 1}`,
          body: `written by load loop ${i} at ${new Date().toISOString()}`,
        }),
      };
    } else if (pick < 0.45) {
      route = 'GET /notes/:id';
    } else {
      route = 'GET /notes';
    }
    const url =
      route === 'GET /notes/:id'
        ? `${base}/notes/${noteIds[Math.floor(Math.random() * noteIds.length)]}`
        : `${base}/notes`;
    try {
      const res = await fetch(url, init);
      const body = (await res.json().catch(() => undefined)) as { id?: number; code?: string } | undefined;
      if (res.ok) {
        if (route === 'POST /notes' && typeof body?.id === 'number') {
          noteIds.push(body.id);
          if (noteIds.length > 200) noteIds = noteIds.slice(-100);
        }
        count(true);
      } else {
        count(false);
        failures.push({
          at: Date.now(),
          route,
          status: res.status,
          error: body?.code ?? `HTTP ${res.status}`,
        });
      }
    } catch (error) {
      if (!running) return;
      count(false);
      const cause = (error as { cause?: { code?: string } }).cause;
      failures.push({
        at: Date.now(),
        route,
        status: undefined,
        error: cause?.code ?? (error as Error).name,
      });
    }
    if (failures.length > 20) failures.splice(0, failures.length - 20);
  };

  const loops = Array.from({ length: options.concurrency }, async (_, i) => {
    // Spread the loops over the interval.
    await sleep((interval * i) / options.concurrency);
    while (running) {
      const started = Date.now();
      await one(i);
      const wait = interval - (Date.now() - started);
      if (running && wait > 0) await sleep(wait);
    }
  });
  let stopping: Promise<void> | undefined;

  return {
    get requests() {
      return requests;
    },
    get failedRequests() {
      return failedRequests;
    },
    series(count: number) {
      const now = Math.floor(Date.now() / 1000) * 1000;
      const out: LoadSecond[] = [];
      for (let t = now - count * 1000; t < now; t += 1000)
        out.push(seconds.get(t) ?? { t, ok: 0, failed: 0 });
      return out;
    },
    failures: () => [...failures],
    stop() {
      stopping ??= (async () => {
        running = false;
        await Promise.all(loops);
      })();
      return stopping;
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
