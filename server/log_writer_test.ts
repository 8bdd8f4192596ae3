import assert from "node:assert/strict";
import { bufferedLineWriter } from "./log_writer.ts";

function collector(maxPerWrite = Infinity) {
  const writes: string[] = [];
  const decoder = new TextDecoder();
  return {
    writes,
    sink(bytes: Uint8Array): number {
      const n = Math.min(bytes.byteLength, maxPerWrite);
      writes.push(decoder.decode(bytes.subarray(0, n)));
      return n;
    },
  };
}

/** Poll until `done()` holds (up to ~2 s of turns), rather than assume how long a timer takes. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((r) => setTimeout(r, 10));
}

Deno.test("bufferedLineWriter() holds lines until the interval passes, then writes them in one batch", async () => {
  const out = collector();
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 20 });
  try {
    writer.write('{"n":1}');
    writer.write('{"n":2}');
    assert.deepEqual(out.writes, []);
    await until(() => out.writes.length > 0);
    assert.deepEqual(out.writes, ['{"n":1}\n{"n":2}\n']);
  } finally {
    await writer.close();
  }
});

Deno.test("bufferedLineWriter() writes soon after the byte budget is reached, but never inside write()", async () => {
  const out = collector();
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 60_000, maxBytes: 20 });
  try {
    writer.write("0123456789");
    writer.write("abcdefghij");
    assert.deepEqual(out.writes, [], "the request that queued a line does not pay for the write");
    await until(() => out.writes.length > 0);
    assert.deepEqual(out.writes, ["0123456789\nabcdefghij\n"]);
  } finally {
    await writer.close();
  }
});

Deno.test("bufferedLineWriter() close writes every queued line in order and later lines still go out", async () => {
  const out = collector();
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 60_000 });
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i, path: "/pkg/é" }));
  for (const line of lines) writer.write(line);
  await writer.close();
  assert.equal(out.writes.join(""), lines.join("\n") + "\n");
  writer.write("late");
  await writer.flush();
  assert.equal(out.writes.at(-1), "late\n");
});

Deno.test("bufferedLineWriter() keeps writing when the sink takes part of a batch", async () => {
  const out = collector(7);
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 60_000 });
  writer.write('{"a":"one"}');
  writer.write('{"b":"two"}');
  await writer.close();
  assert.equal(out.writes.join(""), '{"a":"one"}\n{"b":"two"}\n');
  assert.ok(out.writes.length > 1);
});

Deno.test("bufferedLineWriter() with a stalled sink never blocks, bounds its queue and counts drops", async () => {
  // A sink that takes one batch and then never finishes writing it (a full pipe nobody reads).
  let release: (n: number) => void = () => {};
  const taken: number[] = [];
  const sink = (bytes: Uint8Array) => {
    taken.push(bytes.byteLength);
    return new Promise<number>((r) => release = r);
  };
  let counted = 0;
  const writer = bufferedLineWriter({
    sink,
    intervalMs: 1,
    maxQueuedBytes: 1000,
    onDrop: () => counted++,
  });
  writer.write("x".repeat(99));
  await until(() => taken.length === 1);
  // The batch is stuck in the sink: 100 more lines of 100 bytes fit 10 in the queue.
  for (let i = 0; i < 100; i++) writer.write("y".repeat(99));
  assert.equal(writer.dropped, 90);
  assert.equal(counted, 90);
  assert.equal(taken.length, 1, "one batch at a time");
  // The sink recovers: the queued lines go out, in order, after the stuck batch.
  release(100);
  await until(() => taken.length === 2);
  assert.equal(taken[1], 10 * 100);
  release(1000);
  await writer.close();
});

Deno.test("bufferedLineWriter() drops a batch whose sink throws and goes on with the next", async () => {
  let fail = true;
  const out = collector();
  const writer = bufferedLineWriter({
    sink: (bytes) => {
      if (fail) {
        fail = false;
        throw new Error("EPIPE");
      }
      return out.sink(bytes);
    },
    intervalMs: 60_000,
  });
  writer.write("lost");
  await writer.flush();
  writer.write("kept");
  await writer.close();
  assert.deepEqual(out.writes, ["kept\n"]);
});

Deno.test("bufferedLineWriter() flushes queued lines when the process exits", async () => {
  // A child queues lines with a long interval and exits through Deno.exit: unload must flush them.
  const code = `
    import { bufferedLineWriter } from ${
    JSON.stringify(new URL("./log_writer.ts", import.meta.url).href)
  };
    const w = bufferedLineWriter({ intervalMs: 60_000 });
    for (let i = 0; i < 3; i++) w.write(JSON.stringify({ i }));
    Deno.exit(0);
  `;
  const { stdout, code: status } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.equal(status, 0);
  assert.equal(new TextDecoder().decode(stdout), '{"i":0}\n{"i":1}\n{"i":2}\n');
});

Deno.test("bufferedLineWriter() sets no timer per line while a batch is being written, and loses none", async () => {
  const decoder = new TextDecoder();
  const writes: string[] = [];
  let release: () => void = () => {};
  let held = true;
  let started = false;
  const sink = async (bytes: Uint8Array) => {
    started = true;
    // The first batch waits (a slow stdout); later ones go at once.
    if (held) await new Promise<void>((r) => release = r);
    writes.push(decoder.decode(bytes));
    return bytes.byteLength;
  };
  const writer = bufferedLineWriter({ sink, intervalMs: 60_000, maxBytes: 20 });
  const realSetTimeout = globalThis.setTimeout;
  let timers = 0;
  try {
    writer.write("0123456789");
    writer.write("abcdefghij"); // over the budget: the batch starts on the next turn
    await until(() => started);
    globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
      timers++;
      return realSetTimeout(...args);
    }) as typeof setTimeout;
    const later = Array.from({ length: 500 }, (_, i) => `line ${i} past the budget`);
    for (const line of later) writer.write(line);
    assert.equal(timers, 0, "lines queued behind a batch under way set no timers");
    globalThis.setTimeout = realSetTimeout;
    held = false;
    release();
    await until(() => writes.join("").includes("line 499"));
    assert.equal(writes.join(""), ["0123456789", "abcdefghij", ...later].join("\n") + "\n");
  } finally {
    globalThis.setTimeout = realSetTimeout;
    await writer.close();
  }
});
