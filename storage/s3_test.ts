// S3BundleStorage against a real S3-protocol server (s3rver) and against
// endpoints that are missing, refusing, down, failing or slow: startup says so
// in one line, requests fail with a 503 and Retry-After, retries are bounded,
// and an object replaced behind the registry's back is not served.
import assert from "node:assert/strict";
import { AwsClient } from "aws4fetch";
import { S3BundleStorage, type S3BundleStorageOptions } from "./s3.ts";
import { isRegistryError } from "../base/errors.ts";
import { sha256Hex } from "../base/digest.ts";
import { createRegistryApp } from "../routes/app.ts";
import { MemoryRegistryStorage } from "./memory.ts";
import { parseAuthConfig } from "../core/rack/auth.ts";
import { S3RVER_KEY, startS3rver } from "../tests/_s3rver.ts";
import { startS3Proxy } from "../tests/_s3_proxy.ts";
import { staticTokenAuthenticator } from "../core/auth.ts";
import { makeGadget, makeKey } from "../tests/_ggui_fixtures.ts";
import { ADMIN, AUTH_JSON, makePackage, uploadRequest } from "../tests/_rack_fixtures.ts";

/** An HTTP server on 127.0.0.1 that answers every request with `answer`, counting them. */
function fakeEndpoint(answer: (req: Request) => Promise<Response> | Response) {
  let requests = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    requests++;
    return answer(req);
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    get requests() {
      return requests;
    },
    close: () => server.shutdown(),
  };
}

function options(endpoint: string, extra: Partial<S3BundleStorageOptions> = {}) {
  return { ...S3RVER_KEY, bucket: "registry", endpoint, retryDelayMs: 1, ...extra };
}

async function openError(opts: S3BundleStorageOptions): Promise<string> {
  const err = await S3BundleStorage.open(opts).then(() => null, (e: Error) => e);
  assert.ok(err instanceof Error, "open() must refuse");
  assert.ok(!err.message.includes("\n"), `one line: ${err.message}`);
  return err.message;
}

Deno.test("S3BundleStorage.open() names a bucket that does not exist and refused credentials", async () => {
  const s3 = await startS3rver(["registry"]);
  try {
    assert.match(
      await openError(options(s3.endpoint, { bucket: "missing" })),
      /^Could not open bucket 'missing' at http:\/\/127\.0\.0\.1:\d+\/missing: the bucket does not exist$/,
    );
    assert.match(
      await openError(options(s3.endpoint, { accessKeyId: "WRONG" })),
      /: the credentials were refused \(InvalidAccessKeyId\)$/,
    );
  } finally {
    await s3.close();
  }
});

Deno.test("S3BundleStorage.open() says in one line that an endpoint is down, failing or slow, after bounded retries", async () => {
  // Down: a port nobody listens on any more.
  const gone = fakeEndpoint(() => new Response(null));
  await gone.close();
  assert.match(
    await openError(options(gone.endpoint)),
    /^Could not open bucket 'registry' at .*: Could not check the bucket: bundle storage is unreachable$/,
  );

  const failing = fakeEndpoint(() =>
    new Response("<Error><Code>SlowDown</Code></Error>", { status: 503 })
  );
  try {
    assert.match(await openError(options(failing.endpoint)), /: it answered 503 SlowDown$/);
    assert.equal(failing.requests, 3, "three attempts, then it gives up");
  } finally {
    await failing.close();
  }

  let release!: () => void;
  const held = new Promise<void>((r) => release = r);
  const slow = fakeEndpoint(async () => {
    await held;
    return new Response(null);
  });
  try {
    assert.match(
      await openError(options(slow.endpoint, { timeoutMs: 100, attempts: 2 })),
      /: bundle storage did not answer within 100 ms$/,
    );
    assert.equal(slow.requests, 2);
  } finally {
    release();
    await slow.close();
  }
});

/** A bucket whose endpoint can be switched to failing after the storage opened. */
async function switchable() {
  const s3 = await startS3rver(["registry"]);
  let mode: "up" | "down" | "500" = "up";
  const fetchVia: typeof fetch = (input, init) => {
    if (mode === "down") return Promise.reject(new TypeError("connection refused"));
    if (mode === "500") {
      return Promise.resolve(
        new Response("<Error><Code>InternalError</Code></Error>", { status: 500 }),
      );
    }
    return fetch(input, init);
  };
  const bundles = await S3BundleStorage.open(options(s3.endpoint, { fetch: fetchVia }));
  const { auth } = parseAuthConfig(JSON.stringify(AUTH_JSON), { adminToken: ADMIN });
  const storage = new MemoryRegistryStorage();
  const app = createRegistryApp({
    storage,
    bundles,
    bundleHost: "http://localhost:9001",
    registryHostname: "localhost:9001",
    rackAuth: () => Promise.resolve(auth),
    authenticator: staticTokenAuthenticator({ token: "T", subject: "team" }),
    readCacheMs: 0,
    blobCacheBytes: 0,
  });
  return {
    app,
    bundles,
    set mode(m: "up" | "down" | "500") {
      mode = m;
    },
    async close() {
      await storage.close();
      await bundles.close();
      await s3.close();
    },
  };
}

Deno.test("with the bucket down, a Rack upload is a 503 with Retry-After and leaves no version", async () => {
  const env = await switchable();
  try {
    for (const mode of ["down", "500"] as const) {
      env.mode = mode;
      const res = await env.app.request(uploadRequest(await makePackage(), { token: ADMIN }));
      assert.equal(res.status, 503, mode);
      assert.equal(res.headers.get("retry-after"), "5");
      assert.deepEqual(await res.json(), {
        code: "SERVICE_UNAVAILABLE",
        message: "Storage is unavailable: try again later",
      });
      env.mode = "up";
      const version = await env.app.request("/registries/@rack/quality/husky/1.0.0");
      assert.equal(version.status, 404, "no partial version");
      await version.body?.cancel();
    }
    const ok = await env.app.request(uploadRequest(await makePackage(), { token: ADMIN }));
    assert.equal(ok.status, 201, "the same upload succeeds once the bucket is back");
    await ok.body?.cancel();
  } finally {
    await env.close();
  }
});

Deno.test("with the bucket down, reading a Rack file or a ggui bundle is a 503 with Retry-After", async () => {
  const env = await switchable();
  try {
    const up = await env.app.request(uploadRequest(await makePackage(), { token: ADMIN }));
    assert.equal(up.status, 201);
    await up.body?.cancel();
    const h = { authorization: "Bearer T", "content-type": "application/json" };
    const key = await makeKey();
    const reg = await env.app.request("/author-keys", {
      method: "POST",
      headers: h,
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201);
    const pub = await env.app.request("/publish", {
      method: "POST",
      headers: h,
      body: JSON.stringify(await makeGadget(key)),
    });
    assert.equal(pub.status, 201, await pub.clone().text());
    const bundlePath = new URL((await pub.json()).bundleUrl).pathname;
    env.mode = "down";
    const bundle = await env.app.request(bundlePath, { headers: h });
    assert.equal(bundle.status, 503);
    assert.equal(bundle.headers.get("retry-after"), "5");
    assert.equal((await bundle.json()).error, "service_unavailable");
    const file = await env.app.request(
      "/registries/@rack/quality/husky/1.0.0/files/templates/setup.ts",
    );
    assert.equal(file.status, 503);
    assert.equal(file.headers.get("retry-after"), "5");
    assert.equal((await file.json()).code, "SERVICE_UNAVAILABLE");
  } finally {
    await env.close();
  }
});

Deno.test("a blob replaced in the bucket behind the registry's back is refused, whole or in ranges", async () => {
  const s3 = await startS3rver(["registry"]);
  try {
    const writer = await S3BundleStorage.open(options(s3.endpoint));
    const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
    const info = await writer.put(bytes);
    // Verified once by this reader, then replaced (same size, other bytes).
    const reader = await S3BundleStorage.open(options(s3.endpoint));
    const first = await reader.get(info.sha256, { start: 0, end: 10 });
    assert.deepEqual(
      new Uint8Array(await new Response(first!.stream).arrayBuffer()),
      bytes.slice(0, 10),
    );
    await writer.tamperForTest(info.sha256, bytes.map((b) => b ^ 1));
    for (const range of [{ start: 0, end: 10 }, undefined]) {
      const body = await reader.get(info.sha256, range);
      await assert.rejects(
        new Response(body!.stream).arrayBuffer(),
        (e) => isRegistryError(e, "blob_corrupt"),
      );
    }
    assert.notEqual(sha256Hex(bytes.map((b) => b ^ 1)), info.sha256);
  } finally {
    await s3.close();
  }
});

Deno.test("a failed large upload stores nothing under blobs/ and sweepUploads removes what a crash left", async () => {
  const s3 = await startS3rver(["registry"]);
  try {
    const blobs = await S3BundleStorage.open(options(s3.endpoint, { partBytes: 5 * 1024 * 1024 }));
    const big = new Uint8Array(11 * 1024 * 1024).map((_, i) => i % 253);
    await assert.rejects(
      blobs.put(big, { expectedSha256: "0".repeat(64) }),
      (e) => isRegistryError(e, "digest_mismatch"),
    );
    assert.deepEqual((await blobs.list()).items, [], "nothing under blobs/");
    // A crash between completing and copying leaves a temporary object: swept once old.
    const client = new AwsClient({ ...S3RVER_KEY, service: "s3", region: "us-east-1" });
    const res = await client.fetch(`${s3.endpoint}/registry/uploads/left-behind`, {
      method: "PUT",
      body: "x",
    });
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.equal(await blobs.sweepUploads(new Date(Date.now() - 60_000)), 0, "recent: kept");
    assert.equal(await blobs.sweepUploads(new Date(Date.now() + 60_000)), 1);
    assert.equal(await blobs.sweepUploads(new Date(Date.now() + 60_000)), 0);
  } finally {
    await s3.close();
  }
});

Deno.test("the request timeout covers an answer's head, not a body a slow reader is still streaming", async () => {
  const piece = new TextEncoder().encode("slow-");
  const whole = new Uint8Array(piece.byteLength * 5).map((_, i) => piece[i % piece.byteLength]!);
  const server = fakeEndpoint((req) => {
    if (new URL(req.url).searchParams.has("prefix")) return new Response("<ListBucketResult/>");
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent === 5) return c.close();
        await new Promise((r) => setTimeout(r, 60));
        sent++;
        c.enqueue(piece);
      },
    });
    return new Response(body, { headers: { "content-length": String(whole.byteLength) } });
  });
  try {
    const blobs = await S3BundleStorage.open(options(server.endpoint, { timeoutMs: 100 }));
    const body = await blobs.get(sha256Hex(whole));
    // Five pieces 60 ms apart: the body outlives the 100 ms timeout and must still arrive whole.
    assert.deepEqual(new Uint8Array(await new Response(body!.stream).arrayBuffer()), whole);
  } finally {
    await server.close();
  }
});

Deno.test("every PUT signs its payload's SHA-256 and sends a Content-Length; parts come from a byte stream read into the part buffer", async () => {
  const s3 = await startS3rver(["registry"]);
  const proxy = startS3Proxy(s3.endpoint);
  proxy.checkPayloads = true;
  try {
    const blobs = await S3BundleStorage.open(options(proxy.endpoint));
    // 12 MiB + 5 from a byte stream in uneven pieces: three parts (5, 5, 2 MiB + 5), no chunk of its own.
    const big = new Uint8Array(12 * 1024 * 1024 + 5);
    for (let i = 0; i < big.length; i += 1000) big[i] = (i / 1000) % 251;
    let at = 0;
    const byteStream = new ReadableStream({
      type: "bytes",
      pull(c: ReadableByteStreamController) {
        const view = c.byobRequest!.view!;
        const n = Math.min(view.byteLength, 70_001, big.length - at);
        if (n === 0) {
          c.close();
          c.byobRequest!.respond(0);
          return;
        }
        new Uint8Array(view.buffer, view.byteOffset, n).set(big.subarray(at, at + n));
        at += n;
        c.byobRequest!.respond(n);
      },
    });
    const info = await blobs.put(byteStream, { expectedSha256: sha256Hex(big) });
    assert.equal(info.size, big.length);
    // A small blob (one PUT through fetch) and a second large one (the pooled part buffer again).
    await blobs.put(new TextEncoder().encode("small"));
    const again = big.slice();
    again[7] = 1;
    await blobs.put(again);
    for (const [sha256, bytes] of [[info.sha256, big], [sha256Hex(again), again]] as const) {
      const read = await blobs.get(sha256);
      assert.equal(
        sha256Hex(new Uint8Array(await new Response(read!.stream).arrayBuffer())),
        sha256Hex(bytes),
      );
    }
    const puts = proxy.payloads;
    assert.equal(puts.filter((p) => p.line.includes("partNumber=")).length, 6);
    for (const p of puts) {
      assert.equal(p.declared, p.actual, `${p.line} declares its payload's hash`);
      assert.ok(p.length !== null, `${p.line} has a Content-Length`);
    }
  } finally {
    await proxy.close();
    await s3.close();
  }
});
