// A warm module worker for CPU-heavy gates (parse, compile): one worker
// serves jobs one at a time and closes itself after an idle period; a job that
// finds it busy gets a one-off worker, so concurrent publishes never queue
// behind each other; a job past its time limit has its worker terminated.
//
// Protocol: the host posts `{init: true, idleMs, ...init}` once, then jobs
// `{id, job}`; the worker answers `{id, started: true}` when it begins a job
// (its set-up done), then `{id, reply}`, or `{closing: true}` right before an
// idle close (a job that crossed it is re-run on a new worker).
//
// A job's time limit counts from `started`: starting a worker and its set-up
// (esbuild compiles its WASM) take seconds on a loaded machine, and a
// publish must not be refused as non-conformant because the server was busy.
// The start has a budget of its own (`startTimeoutMs`).

/** What a job ends in: the worker's reply, or why there is none. */
export type JobOutcome<R> = { ok: true; reply: R } | { ok: false; message: string };

interface Running<R> {
  id: number;
  resolve: (outcome: JobOutcome<R>) => void;
  retry: () => void;
  /** The worker has begun the job: its time limit starts now. */
  started: () => void;
}

interface Slot<R> {
  worker: Worker;
  alive: boolean;
  job?: Running<R>;
}

/** A warm worker and its one-off helpers. */
export interface WarmWorker<J, R> {
  /**
   * Run one job within `timeoutMs` of the worker beginning it (and within the
   * start budget before that). Never rejects.
   */
  run(job: J, timeoutMs: number): Promise<JobOutcome<R>>;
  /** Terminate the warm worker now (it starts again on demand). */
  stop(): void;
}

/** How long a job may wait for a worker to start and set up, by default. */
export const WORKER_START_TIMEOUT_MS = 120_000;

/** Create a warm worker over the module at `url`. */
export function warmWorker<J, R>(
  url: URL,
  options: { idleMs: number; init?: Record<string, unknown>; startTimeoutMs?: number },
): WarmWorker<J, R> {
  const startTimeoutMs = options.startTimeoutMs ?? WORKER_START_TIMEOUT_MS;
  let warm: Slot<R> | undefined;
  let nextId = 0;

  function retire(slot: Slot<R>): void {
    slot.alive = false;
    slot.job = undefined;
    if (warm === slot) warm = undefined;
    slot.worker.terminate();
  }

  function start(): Slot<R> {
    const worker = new Worker(url, { type: "module" });
    const slot: Slot<R> = { worker, alive: true };
    worker.onmessage = (
      e: MessageEvent<
        { id?: number; reply?: R; error?: string; closing?: boolean; started?: boolean }
      >,
    ) => {
      if (e.data.closing) {
        slot.alive = false;
        const job = slot.job;
        slot.job = undefined;
        if (warm === slot) warm = undefined;
        job?.retry();
        return;
      }
      const job = slot.job;
      if (job === undefined || e.data.id !== job.id) return;
      if (e.data.started) return job.started();
      slot.job = undefined;
      job.resolve(
        e.data.error === undefined
          ? { ok: true, reply: e.data.reply as R }
          : { ok: false, message: e.data.error },
      );
      if (slot !== warm) retire(slot);
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      const job = slot.job;
      retire(slot);
      job?.resolve({ ok: false, message: `worker crashed: ${e.message}` });
    };
    worker.postMessage({ init: true, idleMs: options.idleMs, ...options.init });
    return slot;
  }

  return {
    run(job, timeoutMs) {
      return new Promise((resolve) => {
        let current: Slot<R> | undefined;
        const expire = (message: string) => () => {
          if (current) retire(current);
          resolve({ ok: false, message });
        };
        let timer = setTimeout(expire("did not start in time"), startTimeoutMs);
        const started = () => {
          clearTimeout(timer);
          timer = setTimeout(expire("timed out"), timeoutMs);
        };
        const done = (outcome: JobOutcome<R>) => {
          clearTimeout(timer);
          resolve(outcome);
        };
        const submit = () => {
          let slot: Slot<R>;
          if (warm?.alive && warm.job === undefined) slot = warm;
          else if (warm?.alive) slot = start();
          else slot = warm = start();
          current = slot;
          const id = ++nextId;
          slot.job = { id, resolve: done, retry: submit, started };
          slot.worker.postMessage({ id, job });
        };
        submit();
      });
    },
    stop() {
      if (warm) retire(warm);
    },
  };
}

/**
 * The worker side: answer jobs with `handle`, after `init` (awaited before
 * the first job), and close after the host's idle period.
 */
export function serveJobs<J, R>(
  handle: (job: J) => R | Promise<R>,
  init?: (message: Record<string, unknown>) => Promise<void> | void,
): void {
  const scope = self as unknown as {
    onmessage: (event: MessageEvent<Record<string, unknown>>) => void;
    postMessage(message: unknown): void;
    close(): void;
  };
  let ready: Promise<void> = Promise.resolve();
  let idleMs = 10_000;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => {
      scope.postMessage({ closing: true });
      scope.close();
    }, idleMs);
  };
  scope.onmessage = async (event) => {
    const data = event.data;
    if (data.init === true) {
      idleMs = typeof data.idleMs === "number" ? data.idleMs : idleMs;
      ready = Promise.resolve(init?.(data));
      armIdle();
      return;
    }
    clearTimeout(idle);
    try {
      await ready;
      scope.postMessage({ id: data.id, started: true });
      scope.postMessage({ id: data.id, reply: await handle(data.job as J) });
    } catch (err) {
      scope.postMessage({ id: data.id, error: err instanceof Error ? err.message : String(err) });
    } finally {
      armIdle();
    }
  };
}
