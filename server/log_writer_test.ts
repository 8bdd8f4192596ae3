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

Deno.test("bufferedLineWriter() holds lines until the interval passes, then writes them in one batch", async () => {
  const out = collector();
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 20 });
  try {
    writer.write('{"n":1}');
    writer.write('{"n":2}');
    assert.deepEqual(out.writes, []);
    // Wait for the timer: poll rather than assume how long it takes.
    for (let i = 0; i < 200 && out.writes.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(out.writes, ['{"n":1}\n{"n":2}\n']);
  } finally {
    writer.close();
  }
});

Deno.test("bufferedLineWriter() flushes at once when the byte budget is reached", () => {
  const out = collector();
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 60_000, maxBytes: 20 });
  try {
    writer.write("0123456789");
    assert.deepEqual(out.writes, []);
    writer.write("abcdefghij");
    assert.deepEqual(out.writes, ["0123456789\nabcdefghij\n"]);
  } finally {
    writer.close();
  }
});

Deno.test("bufferedLineWriter() close writes every queued line and later lines go straight out", () => {
  const out = collector();
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 60_000 });
  const lines = Array.from({ length: 1000 }, (_, i) => JSON.stringify({ i, path: "/pkg/é" }));
  for (const line of lines) writer.write(line);
  writer.close();
  assert.equal(out.writes.join(""), lines.join("\n") + "\n");
  writer.write("late");
  assert.equal(out.writes.at(-1), "late\n");
});

Deno.test("bufferedLineWriter() keeps writing when the sink takes part of a batch", () => {
  const out = collector(7);
  const writer = bufferedLineWriter({ sink: out.sink, intervalMs: 60_000 });
  writer.write('{"a":"one"}');
  writer.write('{"b":"two"}');
  writer.flush();
  writer.close();
  assert.equal(out.writes.join(""), '{"a":"one"}\n{"b":"two"}\n');
  assert.ok(out.writes.length > 1);
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
