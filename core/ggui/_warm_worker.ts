// A warm module worker for CPU-heavy gates (parse, compile): one worker
// serves jobs one at a time and closes itself after an idle period; a job that
// finds it busy gets a one-off worker, so concurrent publishes never queue
// behind each other; a job past its time limit has its worker terminated.
//
// Protocol: the host posts `{init: true, idleMs, ...init}` once, then jobs
// `{id, job}`; the worker answers `{id, reply}`, or `{closing: true}` right
// before an idle close (a job that crossed it is re-run on a new worker).

/** What a job ends in: the worker's reply, or why there is none. */
export type JobOutcome<R> = { ok: true; reply: R } | { ok: false; message: string };

interface Running<R> {
  id: number;
  resolve: (outcome: JobOutcome<R>) => void;
  retry: () => void;
}

interface Slot<R> {
  worker: Worker;
  alive: boolean;
  job?: Running<R>;
}

/** A warm worker and its one-off helpers. */
export interface WarmWorker<J, R> {
  /** Run one job within `timeoutMs`. Never rejects. */
  run(job: J, timeoutMs: number): Promise<JobOutcome<R>>;
  /** Terminate the warm worker now (it starts again on demand). */
  stop(): void;
}

/** Create a warm worker over the module at `url`. */
export function warmWorker<J, R>(
  url: URL,
  options: { idleMs: number; init?: Record<string, unknown> },
): WarmWorker<J, R> {
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
      e: MessageEvent<{ id?: number; reply?: R; error?: string; closing?: boolean }>,
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
        const timer = setTimeout(() => {
          if (current) retire(current);
          resolve({ ok: false, message: "timed out" });
        }, timeoutMs);
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
          slot.job = { id, resolve: done, retry: submit };
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
      scope.postMessage({ id: data.id, reply: await handle(data.job as J) });
    } catch (err) {
      scope.postMessage({ id: data.id, error: err instanceof Error ? err.message : String(err) });
    } finally {
      armIdle();
    }
  };
}
