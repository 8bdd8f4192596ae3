// Past one machine, as far as this machine can show it: two server processes
// on one KV file behind the test's own round-robin. Publishes spread across
// instances with exactly-once conflicts, each webhook is delivered once though
// both instances run a sender, and data written by one is read by the other.
import assert from "node:assert/strict";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { startServer } from "./_server.ts";

Deno.test("two instances on one KV file behind a round-robin agree on everything", async () => {
  const hits: string[] = [];
  const rx = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    hits.push(req.headers.get("x-webhook-delivery") ?? "");
    await req.body?.cancel();
    return new Response(null, { status: 200 });
  });
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/webhooks.json`,
      JSON.stringify({
        webhooks: [{
          url: `http://127.0.0.1:${rx.addr.port}/hook`,
          secret: "s",
          events: ["package.published"],
          enabled: true,
        }],
      }),
    );
    const args = [
      `--storage=kv:${dir}/registry.kv`,
      "--token=shared-token",
      "--subject=team",
      `--webhook-config=${dir}/webhooks.json`,
      "--webhook-allow-hosts=127.0.0.1",
      "--log-requests=false",
      "--upload-rate-limit=0",
    ];
    await using a = await startServer(args);
    await using b = await startServer(args);
    const instances = [a.url, b.url];
    let next = 0;
    const rr = (path: string, init?: RequestInit) => fetch(instances[next++ % 2] + path, init);
    const h = { authorization: "Bearer shared-token", "content-type": "application/json" };

    const key = await makeKey();
    const reg = await rr("/author-keys", {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201);
    // 20 identical publishes spread over both instances: exactly one wins.
    const body = JSON.stringify(await makeGadget(key, { manifest: { version: "1.0.0" } }));
    const results = await Promise.all(
      Array.from({ length: 20 }, () => rr("/publish", { method: "POST", headers: h, body })),
    );
    const statuses = await Promise.all(
      results.map(async (r) => (await r.body?.cancel(), r.status)),
    );
    assert.equal(statuses.filter((s) => s === 201).length, 1);
    assert.equal(statuses.filter((s) => s === 409).length, 19);
    // Ten more versions, alternating instances; each is read back from the other one.
    for (let i = 1; i <= 10; i++) {
      const version = `1.0.${i}`;
      const pub = await rr("/publish", {
        method: "POST",
        headers: h,
        body: JSON.stringify(await makeGadget(key, { manifest: { version } })),
      });
      assert.equal(pub.status, 201, await pub.text());
      const read = await rr(`/pkg/acme/map/${version}`, { headers: h });
      assert.equal(read.status, 200);
      await read.body?.cancel();
    }
    const list = await (await rr("/pkg/acme/map", { headers: h })).json();
    assert.equal(list.versions.length, 11);
    // Eleven package.published events, each delivered exactly once by one of the two senders.
    const start = Date.now();
    while (hits.length < 11 && Date.now() - start < 15_000) {
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500)); // room for a duplicate to show up
    assert.equal(hits.length, 11);
    assert.equal(new Set(hits).size, 11, "no delivery was sent twice");
  } finally {
    await rx.shutdown();
    await Deno.remove(dir, { recursive: true });
  }
});
