import assert from "node:assert/strict";
import { headerReader, requestHasCredentials, requestHeader } from "./_request_header.ts";

Deno.test("requestHeader() answers what req.headers.get() does, over a real socket and in process", async () => {
  const names = ["authorization", "x-a", "x-registry-token", "range", "host"];
  const seen: { ours: (string | null)[]; theirs: (string | null)[]; creds: boolean }[] = [];
  await using server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, (req) => {
    // Ours first: the request's Headers do not exist yet.
    const ours = names.map((n) => requestHeader(req, n));
    const creds = requestHasCredentials(req);
    const theirs = names.map((n) => req.headers.get(n));
    seen.push({ ours, theirs, creds });
    return new Response("ok");
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  try {
    await conn.write(
      new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nx-a: 2\r\nAuthorization: Bearer t\r\nConnection: close\r\n\r\n",
      ),
    );
    const buf = new Uint8Array(4096);
    while ((await conn.read(buf)) !== null) { /* the response */ }
  } finally {
    conn.close();
  }
  assert.deepEqual(seen[0]!.ours, seen[0]!.theirs);
  assert.deepEqual(seen[0]!.ours, ["Bearer t", "1, 2", null, null, "x"]);
  assert.equal(seen[0]!.creds, true);
  const built = new Request("http://x/", { headers: { "X-Registry-Token": "t" } });
  assert.equal(requestHeader(built, "x-registry-token"), "t");
  assert.equal(headerReader(built).get("x-registry-token"), "t");
  assert.equal(requestHasCredentials(new Request("http://x/")), false);
});
