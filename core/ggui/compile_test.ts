import assert from "node:assert/strict";
import type { Hono } from "hono";
import { fromBase64, sha256Hex } from "../../base/digest.ts";
import { createGguiRoutes } from "../../routes/ggui/mod.ts";
import { FsBundleStorage, FsRegistryStorage } from "../../storage/fs.ts";
import { KvBundleStorage, KvRegistryStorage } from "../../storage/kv.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
import type { BundleStorage, RegistryStorage } from "../../storage/types.ts";
import {
  BUNDLE_HOST,
  makeBlueprint,
  makeKey,
  publish,
  registerKey,
  type TestKey,
  tokenMapAuthenticator,
  TOKENS,
} from "../../tests/_ggui_fixtures.ts";
import { compileBlueprint, ESBUILD_VERSION, getCompiledBlobRow, stopCompiler } from "./compile.ts";
import type { CodeGates } from "./conformance.ts";

/** A TSX source touching TS-only syntax, JSX, classes and `keepNames`. */
const SOURCE = `import React, { useState } from "react";
import type { ReactNode } from "react";

interface Props { title: string; items?: readonly string[]; children?: ReactNode }

enum Tone { Calm = "calm", Loud = "loud" }

export default function Card({ title, items = [], children }: Props) {
  const [open, setOpen] = useState<boolean>(false);
  const toggle = () => setOpen((o) => !o);
  class Counter { static n = 0; #x = 1; get x() { return this.#x; } }
  const tone: Tone = open ? Tone.Loud : Tone.Calm;
  return (
    <section className={\`card \${tone}\`} onClick={toggle}>
      <h2>{title ?? "untitled"}</h2>
      {open && <ul>{items.map((it, i) => <li key={i}>{it}</li>)}</ul>}
      <>{children}{new Counter().x}</>
    </section>
  );
}
`;
/**
 * SHA-256 of SOURCE compiled by the NATIVE esbuild 0.25.12 binary (npm
 * `esbuild`, `transformSync` with the spec's options), i.e. the original's
 * digest: the WASM build must produce the same bytes.
 */
const NATIVE_DIGEST = "9a36b53585aa3cbcf673c97b1ed190aa3731b06c099b78d838845eda8cdb7bad";

Deno.test("compileBlueprint() matches the native esbuild 0.25.12 digest on every run", async () => {
  const a = await compileBlueprint(SOURCE);
  const b = await compileBlueprint(SOURCE);
  assert.ok(a.ok && b.ok);
  assert.equal(a.digest, NATIVE_DIGEST);
  assert.equal(b.digest, NATIVE_DIGEST);
  assert.equal(sha256Hex(a.bytes), a.digest);
  assert.equal(ESBUILD_VERSION, "0.25.12");
  // Classic JSX, keepNames helpers, types erased.
  assert.match(a.code, /React\.createElement\("section"/);
  assert.match(a.code, /__name\(Card, "Card"\)/);
  assert.doesNotMatch(a.code, /interface Props|: Props/);
});

Deno.test("compileBlueprint() answers blueprint_compile_error with a 1-based position", async () => {
  const r = await compileBlueprint("export default function C() {\n  return <div>;\n}\n");
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.error.code, "blueprint_compile_error");
  const d = r.error.detail as { line: number; column: number };
  assert.ok(d.line >= 2 && d.column >= 1);
});

Deno.test("compileBlueprint() ends a compilation at its time limit", async () => {
  const big = Array.from({ length: 4000 }, (_, i) => `export const v${i} = <b>{${i}}</b>;`)
    .join("\n");
  const r = await compileBlueprint(big, { timeoutMs: 1 });
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.error.message, /timed out/);
});

interface Backend {
  name: string;
  open(dir: string): Promise<{ storage: RegistryStorage; bundles: BundleStorage }>;
}

const BACKENDS: Backend[] = [
  {
    name: "memory",
    open: () =>
      Promise.resolve({ storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage() }),
  },
  {
    name: "kv",
    open: async (dir) => ({
      storage: await KvRegistryStorage.open(`${dir}/rows.kv`),
      bundles: await KvBundleStorage.open(`${dir}/blobs.kv`),
    }),
  },
  {
    name: "fs",
    open: async (dir) => ({
      storage: await FsRegistryStorage.open({ root: `${dir}/rows` }),
      bundles: await FsBundleStorage.open({ root: `${dir}/blobs` }),
    }),
  },
];

function appOver(
  store: { storage: RegistryStorage; bundles: BundleStorage },
  codeGates?: CodeGates,
): Hono {
  let tick = Date.parse("2026-11-22T01:00:00.000Z");
  return createGguiRoutes({
    ...(codeGates === undefined ? {} : { codeGates }),
    ctx: { ...store, clock: () => new Date(tick += 1000) },
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
  });
}

async function publishBlueprint(
  app: Hono,
  key: TestKey,
  manifest: Record<string, unknown>,
): Promise<Response> {
  return await publish(app, TOKENS.alice, await makeBlueprint(key, { manifest }));
}

for (const backend of BACKENDS) {
  Deno.test(`blueprint publish on ${backend.name}: same digest, one deduplicated blob, refCount per version`, async () => {
    const dir = await Deno.makeTempDir();
    const store = await backend.open(dir);
    try {
      const app = appOver(store);
      const key = await makeKey();
      assert.equal((await registerKey(app, TOKENS.alice, key)).status, 201);
      for (const [name, version] of [["card", "1.0.0"], ["card", "1.0.1"], ["other", "2.0.0"]]) {
        const res = await publishBlueprint(app, key, { name, version, source: SOURCE });
        assert.equal(res.status, 201, await res.clone().text());
      }
      const read = await app.request("/pkg/acme/card/1.0.1", {
        headers: { authorization: `Bearer ${TOKENS.alice}` },
      });
      assert.equal(read.status, 200);
      const body = await read.json();
      assert.equal(body.compiledDigest, NATIVE_DIGEST);
      const bytes = fromBase64(body.compiledBytes)!;
      assert.equal(sha256Hex(bytes), NATIVE_DIGEST);
      assert.match(new TextDecoder().decode(bytes), /React\.createElement/);
      assert.equal(body.signatureUrl, undefined);
      // One blob for three versions, counted three times.
      const row = await getCompiledBlobRow(store.storage, NATIVE_DIGEST);
      assert.equal(row?.refCount, 3);
      assert.equal(row?.compiledSize, bytes.byteLength);
      assert.equal((await store.bundles.stat(NATIVE_DIGEST))?.size, bytes.byteLength);
      // A duplicate version is 409 and counts nothing.
      const dup = await publishBlueprint(app, key, {
        name: "card",
        version: "1.0.0",
        source: SOURCE,
      });
      assert.equal(dup.status, 409);
      assert.equal((await getCompiledBlobRow(store.storage, NATIVE_DIGEST))?.refCount, 3);
    } finally {
      await store.storage.close();
      await store.bundles.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("concurrent publishes of the same compiled bytes lose no reference count", async () => {
  const store = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage() };
  const app = appOver(store);
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  const results = await Promise.all(
    ["1.0.0", "1.0.1", "1.0.2", "1.0.3"].map((version) =>
      publishBlueprint(app, key, {
        name: `n${version.replaceAll(".", "")}`,
        version,
        source: SOURCE,
      })
    ),
  );
  assert.deepEqual(results.map((r) => r.status), [201, 201, 201, 201]);
  assert.equal((await getCompiledBlobRow(store.storage, NATIVE_DIGEST))?.refCount, 4);
});

Deno.test("a blueprint that does not compile is 400 conformance_failed with blueprint_compile_error", async () => {
  // Caught by the parser gate (gate 6) with the default gates, and by the
  // compiler itself (step 12) when the code gates are replaced by none.
  for (const codeGates of [undefined, {}]) {
    const store = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage() };
    const app = appOver(store, codeGates);
    const key = await makeKey();
    await registerKey(app, TOKENS.alice, key);
    const res = await publishBlueprint(app, key, { source: "export default () => <div>;" });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error, "conformance_failed");
    assert.equal(body.message, "submission failed the registry conformance gate");
    assert.equal(body.conformanceFailureCode, "blueprint_compile_error");
    assert.equal(body.detail.errors[0].code, "blueprint_compile_error");
    assert.deepEqual(
      Object.keys(body.detail.errors[0].detail).sort(),
      codeGates === undefined ? ["column", "line", "offset"] : ["column", "line"],
    );
    if (codeGates !== undefined) {
      assert.match(body.detail.errors[0].message, /^blueprint compilation failed: /);
    }
    assert.equal(await getCompiledBlobRow(store.storage, NATIVE_DIGEST), null);
  }
});

Deno.test("a blueprint row whose compiled blob is missing reads as 500", async () => {
  const store = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage() };
  const app = appOver(store);
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  const res = await publishBlueprint(app, key, { source: SOURCE, visibility: "private" });
  assert.equal(res.status, 201);
  await store.bundles.delete(NATIVE_DIGEST);
  const read = await app.request("/pkg/acme/card/1.0.0", {
    headers: { authorization: `Bearer ${TOKENS.alice}` },
  });
  assert.equal(read.status, 500);
  assert.deepEqual(await read.json(), {
    error: "server_error",
    code: "server_error",
    message: "failed to read package",
  });
});

Deno.test("concurrent compilations of different sources each get their own output", async () => {
  const sources = Array.from({ length: 4 }, (_, i) => `export default () => <i>{${i}}</i>;\n`);
  const results = await Promise.all(sources.map((s) => compileBlueprint(s)));
  const codes = results.map((r) => r.ok ? r.code : r.error.message);
  for (const [i, code] of codes.entries()) assert.match(code, new RegExp(`null, ${i}\\)`));
  // A stopped compiler starts again on demand.
  stopCompiler();
  const again = await compileBlueprint(SOURCE + "\n// again");
  assert.ok(again.ok);
});
