import assert from "node:assert/strict";
import { inParallel } from "./_fs_io.ts";

/** A promise and its resolver. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

Deno.test("inParallel() keeps at most `limit` items in flight and answers in the items' order", async () => {
  let running = 0;
  let most = 0;
  const out = await inParallel([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise((resolve) => setTimeout(resolve, n));
    running--;
    return n * 10;
  });
  assert.deepEqual(out, [50, 10, 40, 20, 30, 0, 60]);
  assert.equal(most, 3);
});

Deno.test("inParallel() throws the first failure only after the items in flight settle, and starts no more", async () => {
  const slow = gate();
  const started: number[] = [];
  let settled = false;
  const run = inParallel([0, 1, 2, 3], 2, async (n) => {
    started.push(n);
    if (n === 0) throw new Error("write failed");
    await slow.opened;
    settled = true;
  });
  let thrown: unknown;
  run.catch((err) => (thrown = err));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.equal(thrown, undefined, "it answered while an item was still writing");
  slow.open();
  await assert.rejects(run, /write failed/);
  assert.ok(settled);
  assert.deepEqual(started, [0, 1]);
});

Deno.test("inParallel() over no items answers an empty list", async () => {
  assert.deepEqual(await inParallel([], 4, () => Promise.resolve(1)), []);
});
