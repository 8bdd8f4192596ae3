import assert from "node:assert/strict";
import { warmWorker } from "./_warm_worker.ts";

type Job = { echo: unknown; slowMs?: number; fail?: boolean };
type Reply = { echo: unknown; worker: string };
const URL_ = new URL("../../tests/_echo_worker.ts", import.meta.url);

Deno.test("warmWorker() reuses one worker for sequential jobs and one-offs for concurrent ones", async () => {
  const pool = warmWorker<Job, Reply>(URL_, { idleMs: 60_000 });
  try {
    const a = await pool.run({ echo: 1 }, 60_000);
    const b = await pool.run({ echo: 2 }, 60_000);
    assert.ok(a.ok && b.ok);
    assert.equal(a.reply.echo, 1);
    assert.equal(a.reply.worker, b.reply.worker);
    const [c, d] = await Promise.all([
      pool.run({ echo: 3, slowMs: 50 }, 60_000),
      pool.run({ echo: 4 }, 60_000),
    ]);
    assert.ok(c.ok && d.ok);
    assert.deepEqual([c.reply.echo, d.reply.echo], [3, 4]);
    assert.notEqual(c.reply.worker, d.reply.worker);
  } finally {
    pool.stop();
  }
});

Deno.test("warmWorker() closes when idle and starts again; timeouts and throws are outcomes", async () => {
  const pool = warmWorker<Job, Reply>(URL_, { idleMs: 30 });
  try {
    const a = await pool.run({ echo: 1 }, 60_000);
    await new Promise((r) => setTimeout(r, 200));
    const b = await pool.run({ echo: 2 }, 60_000);
    assert.ok(a.ok && b.ok);
    assert.notEqual(a.reply.worker, b.reply.worker);
    assert.deepEqual(await pool.run({ echo: 0, slowMs: 2_000 }, 20), {
      ok: false,
      message: "timed out",
    });
    assert.deepEqual(await pool.run({ echo: 0, fail: true }, 60_000), {
      ok: false,
      message: "asked to fail",
    });
    const c = await pool.run({ echo: 3 }, 60_000);
    assert.ok(c.ok && c.reply.echo === 3);
  } finally {
    pool.stop();
  }
});

Deno.test("warmWorker() counts a job's time limit from its start, after the worker's set-up", async () => {
  // A set-up far longer than the job's limit (a loaded machine compiling esbuild's WASM).
  const slow = warmWorker<Job, Reply>(URL_, { idleMs: 60_000, init: { setUpMs: 400 } });
  try {
    const a = await slow.run({ echo: 1 }, 100);
    assert.ok(a.ok, JSON.stringify(a));
    assert.equal(a.reply.echo, 1);
    assert.deepEqual(await slow.run({ echo: 0, slowMs: 2_000 }, 100), {
      ok: false,
      message: "timed out",
    });
  } finally {
    slow.stop();
  }
  // The start has a budget of its own.
  const stuck = warmWorker<Job, Reply>(URL_, {
    idleMs: 60_000,
    init: { setUpMs: 5_000 },
    startTimeoutMs: 50,
  });
  try {
    assert.deepEqual(await stuck.run({ echo: 1 }, 60_000), {
      ok: false,
      message: "did not start in time",
    });
  } finally {
    stuck.stop();
  }
});
