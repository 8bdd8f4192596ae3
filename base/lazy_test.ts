import assert from "node:assert/strict";
import { lazily } from "./lazy.ts";

Deno.test("lazily() loads once, on the first call, and shares the load", async () => {
  let loads = 0;
  const load = lazily(() => Promise.resolve(++loads));
  assert.equal(loads, 0);
  const [a, b] = await Promise.all([load(), load()]);
  assert.deepEqual([a, b, await load(), loads], [1, 1, 1, 1]);
});

Deno.test("lazily() tries again after a failed load", async () => {
  let calls = 0;
  const load = lazily(() =>
    ++calls === 1 ? Promise.reject(new Error("offline")) : Promise.resolve(calls)
  );
  await assert.rejects(load(), /offline/);
  assert.equal(await load(), 2);
  assert.equal(await load(), 2);
});
