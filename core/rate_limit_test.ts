import assert from "node:assert/strict";
import { RateLimiter } from "./rate_limit.ts";
import { MemoryRegistryStorage } from "../storage/memory.ts";
import * as keys from "../storage/keys.ts";
import { listAll } from "./store.ts";
import type { RegistryStorage } from "../storage/types.ts";

/** A clock tests move by hand. */
function manualClock(startMs = 1_700_000_040_000) {
  let now = startMs;
  return {
    clock: () => new Date(now),
    advance(ms: number) {
      now += ms;
    },
  };
}

async function rateRows(storage: RegistryStorage, name: string) {
  const rows = [];
  for await (const e of listAll<{ count: number }>(storage, keys.rateCountersPrefix(name))) {
    rows.push({ window: e.key[2], client: e.key[3], count: e.value.count });
  }
  return rows;
}

Deno.test("shared mode admits exactly the limit across two limiters on one store under a concurrent burst", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const a = new RateLimiter({ storage, clock: t.clock }, {
      name: "pub",
      limit: 25,
      mode: "shared",
    });
    const b = new RateLimiter({ storage, clock: t.clock }, {
      name: "pub",
      limit: 25,
      mode: "shared",
    });
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).hit("10.0.0.1")),
    );
    assert.equal(results.filter((r) => r.allowed).length, 25);
    assert.equal(results.filter((r) => !r.allowed).every((r) => r.remaining === 0), true);
    const remaining = results.filter((r) => r.allowed).map((r) => r.remaining).sort((x, y) =>
      x - y
    );
    assert.deepEqual(remaining, Array.from({ length: 25 }, (_, i) => i));
    await a.settled();
    await b.settled();
    assert.deepEqual((await rateRows(storage, "pub")).map((r) => r.count), [25]);
  } finally {
    await storage.close();
  }
});

Deno.test("shared mode starts a new window when the clock passes the boundary and deletes the previous row", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock(60_000 * 1000 + 59_000); // one second before a window ends
    const limiter = new RateLimiter({ storage, clock: t.clock }, {
      name: "ip",
      limit: 2,
      windowSeconds: 60,
      mode: "shared",
    });
    const first = await limiter.hit("a");
    assert.equal(first.resetSeconds, 1);
    assert.equal(first.resetAt, 60_000 + 60);
    await limiter.hit("a");
    assert.equal((await limiter.hit("a")).allowed, false);
    await limiter.settled();
    const before = await rateRows(storage, "ip");
    assert.equal(before.length, 1);
    t.advance(1_000);
    const next = await limiter.hit("a");
    assert.equal(next.allowed, true);
    assert.equal(next.remaining, 1);
    assert.equal(next.resetSeconds, 60);
    await limiter.settled();
    const after = await rateRows(storage, "ip");
    assert.equal(after.length, 1);
    assert.notEqual(after[0]?.window, before[0]?.window);
    assert.equal(after[0]?.count, 1);
  } finally {
    await storage.close();
  }
});

Deno.test("shared mode keys clients apart and stops writing once a client is over the limit", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const limiter = new RateLimiter({ storage, clock: t.clock }, {
      name: "ip",
      limit: 3,
      mode: "shared",
    });
    for (let i = 0; i < 10; i++) await limiter.hit("a");
    assert.equal((await limiter.hit("b")).remaining, 2);
    await limiter.settled();
    const rows = await rateRows(storage, "ip");
    assert.deepEqual(rows.map((r) => [r.client, r.count]), [["a", 3], ["b", 1]]);
  } finally {
    await storage.close();
  }
});

Deno.test("local mode is exact within one process", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const limiter = new RateLimiter({ storage, clock: t.clock }, { name: "ip", limit: 50 });
    let allowed = 0;
    for (let i = 0; i < 120; i++) {
      if ((await limiter.hit("a")).allowed) allowed++;
      t.advance(10);
    }
    assert.equal(allowed, 50);
    await limiter.flush();
    assert.deepEqual((await rateRows(storage, "ip")).map((r) => r.count), [50]);
  } finally {
    await storage.close();
  }
});

Deno.test("local mode folds its count into the shared row so a second instance learns it after one flush", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const a = new RateLimiter({ storage, clock: t.clock }, { name: "ip", limit: 10 });
    const b = new RateLimiter({ storage, clock: t.clock }, { name: "ip", limit: 10 });
    for (let i = 0; i < 10; i++) assert.equal((await a.hit("c")).allowed, true);
    assert.equal((await a.hit("c")).allowed, false);
    // Only the first hit was sent so far: the rest wait for the flush interval.
    await a.settled();
    assert.deepEqual((await rateRows(storage, "ip")).map((r) => r.count), [1]);
    t.advance(250);
    await a.hit("c"); // refused, but due: it folds the 9 pending hits in
    await a.settled();
    assert.deepEqual((await rateRows(storage, "ip")).map((r) => r.count), [10]);
    // B has never seen the client: its first hit is admitted and flushed at once,
    // after which it refuses. Over-admission is one flush interval's worth.
    const first = await b.hit("c");
    assert.equal(first.allowed, true);
    await b.settled();
    assert.equal((await b.hit("c")).allowed, false);
    assert.equal((await b.peek("c")).allowed, false);
  } finally {
    await storage.close();
  }
});

Deno.test("peek decides without counting", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    for (const mode of ["shared", "local"] as const) {
      const limiter = new RateLimiter({ storage, clock: t.clock }, {
        name: `auth-${mode}`,
        limit: 2,
        mode,
      });
      for (let i = 0; i < 5; i++) assert.equal((await limiter.peek("x")).allowed, true);
      await limiter.hit("x");
      assert.equal((await limiter.peek("x")).remaining, 0);
      await limiter.hit("x");
      await limiter.flush();
      assert.equal((await limiter.peek("x")).allowed, false);
    }
  } finally {
    await storage.close();
  }
});

Deno.test("local mode keeps its memory bounded by the tracked-client cap and by window", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const limiter = new RateLimiter({ storage, clock: t.clock }, {
      name: "ip",
      maxTrackedClients: 100,
    });
    for (let i = 0; i < 1000; i++) await limiter.hit(`10.0.${i >> 8}.${i & 255}`);
    assert.equal(limiter.trackedClients, 100);
    t.advance(60_000);
    await limiter.hit("one");
    assert.equal(limiter.trackedClients, 1);
    await limiter.settled();
  } finally {
    await storage.close();
  }
});

Deno.test("sweep deletes counter rows of windows that are over and keeps the current one", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const limiter = new RateLimiter({ storage, clock: t.clock }, { name: "ip", mode: "shared" });
    await limiter.hit("old-1");
    await limiter.hit("old-2");
    t.advance(120_000);
    await limiter.hit("new");
    await limiter.settled();
    const rows = await rateRows(storage, "ip");
    assert.deepEqual(rows.map((r) => r.client), ["new"]);
    assert.equal(await limiter.sweep(), 0);
  } finally {
    await storage.close();
  }
});

Deno.test("a store fault in a background flush is reported and never fails the hit", async () => {
  const storage = new MemoryRegistryStorage();
  const errors: unknown[] = [];
  const t = manualClock();
  const limiter = new RateLimiter({ storage, clock: t.clock }, {
    name: "ip",
    onError: (e) => errors.push(e),
  });
  await storage.close();
  const r = await limiter.hit("a");
  assert.equal(r.allowed, true);
  await limiter.settled();
  assert.ok(errors.length >= 1);
  assert.ok(errors.every((e) => e instanceof TypeError));
});

Deno.test("a long client key is hashed into a bounded key part", async () => {
  const storage = new MemoryRegistryStorage();
  try {
    const t = manualClock();
    const limiter = new RateLimiter({ storage, clock: t.clock }, { name: "tok", mode: "shared" });
    await limiter.hit("x".repeat(5000));
    const rows = await rateRows(storage, "tok");
    assert.match(String(rows[0]?.client), /^sha256:[0-9a-f]{64}$/);
  } finally {
    await storage.close();
  }
});

Deno.test("the constructor rejects a bad name, limit or window", () => {
  const storage = new MemoryRegistryStorage();
  const clock = () => new Date();
  assert.throws(() => new RateLimiter({ storage, clock }, { name: "a b" }), TypeError);
  assert.throws(() => new RateLimiter({ storage, clock }, { name: "a", limit: 0 }), RangeError);
  assert.throws(
    () => new RateLimiter({ storage, clock }, { name: "a", windowSeconds: 0.5 }),
    RangeError,
  );
});

Deno.test("shared mode is exact across two KV connections on one file, as two processes would be", async () => {
  const { KvRegistryStorage } = await import("../storage/kv.ts");
  const dir = await Deno.makeTempDir({ prefix: "rate_kv_" });
  const path = `${dir}/rate.sqlite3`;
  const kvA = await Deno.openKv(path);
  const kvB = await Deno.openKv(path);
  try {
    const t = manualClock();
    const a = new RateLimiter({ storage: new KvRegistryStorage(kvA), clock: t.clock }, {
      name: "pub",
      limit: 30,
      mode: "shared",
    });
    const b = new RateLimiter({ storage: new KvRegistryStorage(kvB), clock: t.clock }, {
      name: "pub",
      limit: 30,
      mode: "shared",
    });
    const results = await Promise.all(
      Array.from({ length: 80 }, (_, i) => (i % 2 ? a : b).hit("203.0.113.5")),
    );
    assert.equal(results.filter((r) => r.allowed).length, 30);
    await a.settled();
    await b.settled();
    const rows = await rateRows(new KvRegistryStorage(kvB), "pub");
    assert.deepEqual(rows.map((r) => r.count), [30]);
  } finally {
    kvA.close();
    kvB.close();
    await Deno.remove(dir, { recursive: true });
  }
});
