import assert from "node:assert/strict";
import { BodyGuard } from "./_body_guard.ts";
import { createRegistryApp, type RegistryAppOptions } from "../app.ts";
import { staticTokenAuthenticator } from "../../core/auth.ts";
import { parseAuthConfig } from "../../core/rack/auth.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";

const TOKEN = "body-guard-token";
const ADMIN = "body-guard-admin";

function makeApp(options: Partial<RegistryAppOptions> = {}) {
  const rack = parseAuthConfig(null, { adminToken: ADMIN }).auth;
  return createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    bundleHost: "http://localhost:9001",
    registryHostname: "localhost:9001",
    authenticator: staticTokenAuthenticator({ token: TOKEN, subject: "ci" }),
    rackAuth: () => Promise.resolve(rack),
    ...options,
  });
}

/** A body that sends `opening` and then nothing, until `stop()`. */
function stalledBody(opening = "{") {
  let ctl!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      ctl = c;
      c.enqueue(new TextEncoder().encode(opening));
    },
  });
  return {
    stream,
    stop: () => {
      try {
        ctl.close();
      } catch { /* already closed or cancelled */ }
    },
  };
}

/** The response, or a failure if none comes within 10 s (a body without a timeout hangs). */
async function answered(pending: Response | Promise<Response>): Promise<Response> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("no answer in 10 s")), 10_000);
  });
  try {
    return await Promise.race([pending, never]);
  } finally {
    clearTimeout(timer);
  }
}

/** Every body reader, each with the 408 its surface answers. */
const READERS: {
  name: string;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  opening?: string;
  expect: Record<string, unknown>;
}[] = [
  {
    name: "ggui /conformance/check (anonymous JSON)",
    path: "/conformance/check",
    headers: { "content-type": "application/json" },
    expect: { error: "request_timeout", code: "request_timeout" },
  },
  {
    name: "ggui /publish",
    path: "/publish",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    expect: { error: "request_timeout", code: "request_timeout" },
  },
  {
    name: "ggui /author-keys",
    path: "/author-keys",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    expect: { error: "request_timeout", code: "request_timeout" },
  },
  {
    name: "admin /admin/tokens",
    path: "/admin/tokens",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    expect: { code: "timeout" },
  },
  {
    name: "JSR tarball",
    path: "/api/scopes/slow/packages/body/versions/1.0.0",
    headers: { authorization: `Bearer ${TOKEN}`, "content-encoding": "gzip" },
    expect: { code: "requestTimeout" },
  },
  {
    name: "JSR yank (JSON)",
    method: "PATCH",
    path: "/api/scopes/slow/packages/body/versions/1.0.0",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    expect: { code: "requestTimeout" },
  },
  {
    name: "Rack multipart upload",
    path: "/registries",
    headers: {
      authorization: `Bearer ${ADMIN}`,
      "content-type": "multipart/form-data; boundary=XyZ",
    },
    opening: '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.tar.gz"\r\n' +
      "Content-Type: application/gzip\r\n\r\nabc",
    expect: { code: "REQUEST_TIMEOUT" },
  },
  {
    name: "Rack preset (JSON)",
    method: "PUT",
    path: "/presets/slow",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    expect: { code: "REQUEST_TIMEOUT" },
  },
];

for (const reader of READERS) {
  Deno.test(`a body that goes quiet answers 408 in the surface's format: ${reader.name}`, async () => {
    const app = makeApp({ bodyIdleTimeoutMs: 100 });
    const body = stalledBody(reader.opening);
    try {
      const res = await answered(app.request(reader.path, {
        method: reader.method ?? "POST",
        headers: reader.headers ?? {},
        body: body.stream,
      }));
      const json = await res.json();
      assert.equal(res.status, 408, JSON.stringify(json));
      assert.deepEqual({ ...json, message: undefined }, { ...reader.expect, message: undefined });
      assert.match(json.message, /Request body sent no data for 0\.1 s/);
    } finally {
      body.stop();
    }
  });
}

Deno.test("a body that keeps sending is not timed out, however long it takes in all", async () => {
  const app = makeApp({ bodyIdleTimeoutMs: 200 });
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(c) {
      await new Promise((r) => setTimeout(r, 50));
      if (sent++ === 10) return c.close();
      c.enqueue(new TextEncoder().encode(sent === 1 ? '{"a":"' : "x"));
    },
  });
  const res = await app.request("/conformance/check", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
  });
  await res.body?.cancel();
  assert.notEqual(res.status, 408);
});

Deno.test("one address may send at most maxPendingBodiesPerAddress bodies at once; more get 429", async () => {
  const app = makeApp({ maxPendingBodiesPerAddress: 2, bodyIdleTimeoutMs: 0 });
  const env = (hostname: string) => ({ remoteAddr: { transport: "tcp", hostname, port: 1 } });
  const post = (path: string, hostname: string, body: BodyInit) =>
    app.fetch(
      new Request(`http://localhost${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      }),
      env(hostname),
    );
  const slow = [stalledBody(), stalledBody()];
  const pending = slow.map((b) => post("/conformance/check", "10.0.0.1", b.stream));
  try {
    // Both were admitted as they were called (admission does not wait for a read).
    const ggui = await post("/conformance/check", "10.0.0.1", "{}");
    assert.equal(ggui.status, 429);
    assert.equal(ggui.headers.get("retry-after"), "1");
    assert.equal((await ggui.json()).error, "rate_limited");
    const rack = await post("/registries", "10.0.0.1", "x");
    assert.equal(rack.status, 429);
    assert.equal((await rack.json()).code, "RATE_LIMIT_EXCEEDED");
    const jsr = await post("/api/scopes/a/packages/b/versions/1.0.0", "10.0.0.1", "x");
    assert.equal(jsr.status, 429);
    assert.equal((await jsr.json()).code, "rateLimited");
    // Another address is not affected.
    const other = await post("/conformance/check", "10.0.0.2", "{}");
    assert.notEqual(other.status, 429);
    await other.body?.cancel();
  } finally {
    for (const b of slow) b.stop();
    for (const res of await Promise.all(pending)) await res.body?.cancel();
  }
  // Once those finished, the address may send again.
  const again = await post("/conformance/check", "10.0.0.1", "{}");
  assert.notEqual(again.status, 429);
  await again.body?.cancel();
});

Deno.test("BodyGuard copies a chunk that uses little of its buffer and passes a full one as it is", async () => {
  const guard = new BodyGuard({ idleMs: 0, maxPerAddress: 0 });
  const big = new Uint8Array(65536);
  const small = big.subarray(0, 10);
  const full = new Uint8Array(65536).subarray(0, 40000);
  const admitted = guard.admit(
    new Request("http://x/", {
      method: "POST",
      body: new ReadableStream({
        start(c) {
          c.enqueue(small);
          c.enqueue(full);
          c.close();
        },
      }),
    }),
    "a",
  )!;
  const reader = admitted.request.body!.getReader();
  const first = (await reader.read()).value!;
  assert.equal(first.byteLength, 10);
  assert.equal(first.buffer.byteLength, 10);
  assert.equal((await reader.read()).value!.buffer.byteLength, 65536);
  assert.ok((await reader.read()).done);
  assert.equal(guard.pending("a"), 0);
});

Deno.test("BodyGuard passes an empty body, and a source's empty chunks, as no bytes", async () => {
  const guard = new BodyGuard({ idleMs: 1000, maxPerAddress: 0 });
  const empty = guard.admit(
    new Request("http://x/", { method: "POST", body: new URLSearchParams("") }),
    "127.0.0.1",
  )!;
  assert.deepEqual([...(await empty.request.formData()).entries()], []);
  const pieces = ["", "a=", "", "1", ""];
  const gappy = new ReadableStream<Uint8Array>({
    pull(c) {
      const next = pieces.shift();
      if (next === undefined) c.close();
      else c.enqueue(new TextEncoder().encode(next));
    },
  });
  const admitted = guard.admit(
    new Request("http://x/", { method: "POST", body: gappy, duplex: "half" } as RequestInit),
    "127.0.0.1",
  )!;
  assert.equal(await admitted.request.text(), "a=1");
});
