import assert from "node:assert/strict";
import { sha256Hex } from "../base/digest.ts";
import { directSend } from "./_direct_send.ts";

Deno.test("directSend() writes the body with a Content-Length (not chunked) and answers like fetch", async () => {
  const seen: { line: string; headers: Headers; sha256: string }[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const body = new Uint8Array(await req.arrayBuffer());
    seen.push({
      line: `${req.method} ${url.pathname}${url.search}`,
      headers: req.headers,
      sha256: sha256Hex(body),
    });
    if (url.searchParams.has("chunked")) {
      // A streamed answer goes out chunked.
      const parts = ["<Error><Code>", "SlowDown", "</Code></Error>"];
      return new Response(
        new ReadableStream({
          pull(c) {
            const next = parts.shift();
            if (next === undefined) c.close();
            else c.enqueue(new TextEncoder().encode(next));
          },
        }),
        { status: 503 },
      );
    }
    return new Response(null, { headers: { etag: '"abc"' } });
  });
  try {
    const body = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < body.length; i += 4096) body[i] = i % 251;
    const url = `http://127.0.0.1:${server.addr.port}/bucket/a%20key?partNumber=1&uploadId=x`;
    const res = await directSend(url, {
      method: "PUT",
      headers: new Headers({ "x-amz-content-sha256": sha256Hex(body), host: "ignored" }),
      body,
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("etag"), '"abc"');
    assert.equal(await res.text(), "");
    assert.equal(seen[0]!.line, "PUT /bucket/a%20key?partNumber=1&uploadId=x");
    assert.equal(seen[0]!.headers.get("content-length"), String(body.byteLength));
    assert.equal(seen[0]!.headers.get("transfer-encoding"), null);
    assert.equal(seen[0]!.headers.get("host"), `127.0.0.1:${server.addr.port}`);
    assert.equal(seen[0]!.headers.get("x-amz-content-sha256"), sha256Hex(body));
    assert.equal(seen[0]!.sha256, sha256Hex(body), "the bytes arrive whole");

    const refused = await directSend(`${url}&chunked`, {
      method: "PUT",
      headers: new Headers(),
      body: body.subarray(0, 10),
    });
    assert.equal(refused.status, 503);
    assert.equal(await refused.text(), "<Error><Code>SlowDown</Code></Error>");
  } finally {
    await server.shutdown();
  }
});

Deno.test("directSend() rejects when the endpoint is down, and with the signal's reason when aborted", async () => {
  const gone = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = gone.addr.port;
  gone.close();
  await assert.rejects(
    directSend(`http://127.0.0.1:${port}/b/k`, {
      method: "PUT",
      headers: new Headers(),
      body: new Uint8Array(10),
    }),
  );

  // A server that takes the bytes and never answers.
  const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of silent) {
      conns.push(conn);
      (async () => {
        const buf = new Uint8Array(65536);
        while ((await conn.read(buf).catch(() => null)) !== null) { /* swallow */ }
      })();
    }
  })();
  try {
    const err = await directSend(`http://127.0.0.1:${silent.addr.port}/b/k`, {
      method: "PUT",
      headers: new Headers(),
      body: new Uint8Array(1024 * 1024),
      signal: AbortSignal.timeout(200),
    }).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof DOMException && err.name === "TimeoutError", String(err));
  } finally {
    silent.close();
    for (const conn of conns) {
      try {
        conn.close();
      } catch { /* closed */ }
    }
    await accepting.catch(() => {});
  }
});
