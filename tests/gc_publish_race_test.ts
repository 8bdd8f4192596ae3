// Garbage collection with no grace period, in a loop on one server process,
// while another process on the same KV file publishes on all three surfaces:
// no publish gets a 5xx, and every publish either succeeds with its bytes
// readable or gets a retryable answer (409 or 503 with Retry-After).
import assert from "node:assert/strict";
import { makeGadget, makeKey } from "./_ggui_fixtures.ts";
import { makeItem, makePackage, makeTarball, uploadRequest } from "./_rack_fixtures.ts";
import { startServer } from "./_server.ts";

const AUTH = { "@company": [{ token: "ci-token", publish: true, mark: "CI" }] };
const ROUNDS = 6;

/** What one publish answered, and how to read its bytes back when it succeeded. */
interface Outcome {
  surface: string;
  status: number;
  retryAfter: string | null;
  body: string;
  /** A path whose bytes must match `expect` when the publish succeeded. */
  readPath?: string;
  expect?: string;
}

async function outcome(
  surface: string,
  res: Response,
  read: { path: string; expect: string },
): Promise<Outcome> {
  const body = await res.text();
  const ok = surface === "jsr"
    ? res.status === 200 && JSON.parse(body).status === "success"
    : res.status === 201;
  // ggui answers where its bundle is served.
  if (ok && surface === "ggui") read.path = new URL(JSON.parse(body).bundleUrl).pathname;
  return {
    surface,
    status: res.status,
    retryAfter: res.headers.get("retry-after"),
    body,
    ...(ok ? { readPath: read.path, expect: read.expect } : {}),
  };
}

Deno.test("gc with grace 0 in a loop on one process fails no publish of another process with a 5xx", async () => {
  const dir = await Deno.makeTempDir({ prefix: "gc-race-" });
  await Deno.writeTextFile(`${dir}/auth.json`, JSON.stringify(AUTH));
  const args = [
    `--storage=kv:${dir}/registry.kv`,
    `--data-dir=${dir}`,
    "--token=tok-alice",
    "--subject=alice",
    "--log-requests=false",
    "--rate-limit=0",
    "--upload-rate-limit=0",
  ];
  const env = { AUTH_CONFIG_PATH: `${dir}/auth.json`, ADMIN_TOKEN: "admin-secret" };
  try {
    await using collector = await startServer(args, { env });
    await using publisher = await startServer(args, { env });
    const url = publisher.url;
    const alice = { authorization: "Bearer tok-alice" };
    const key = await makeKey();
    const reg = await fetch(`${url}/author-keys`, {
      method: "POST",
      headers: { ...alice, "content-type": "application/json" },
      body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
    });
    assert.equal(reg.status, 201, await reg.text());

    let collecting = true;
    let runs = 0;
    let busy = 0;
    const gcFailures: string[] = [];
    const gcLoop = (async () => {
      while (collecting) {
        const res = await fetch(`${collector.url}/admin/gc?grace=0s`, {
          method: "POST",
          headers: { authorization: "Bearer admin-secret" },
        });
        const text = await res.text();
        // A run meets a failed publish dropping its blobs under the GC lease
        // now and then: a retryable 409. Anything else is a failure.
        if (res.status === 200) runs++;
        else if (res.status === 409 && res.headers.get("retry-after") !== null) busy++;
        else gcFailures.push(`${res.status} ${text}`);
      }
    })();

    const outcomes: Outcome[] = [];
    try {
      for (let i = 0; i < ROUNDS; i++) {
        const version = `1.0.${i}`;
        const source = `export function useMap() { return ${i}; }\n`;
        const ggui = (async () => {
          const body = await makeGadget(key, { manifest: { version }, source });
          const res = await fetch(`${url}/publish`, {
            method: "POST",
            headers: { ...alice, "content-type": "application/json" },
            body: JSON.stringify(body),
          });
          return outcome("ggui", res, {
            path: `/pkg/acme/map/${version}/bundle.js`,
            expect: source,
          });
        })();
        const rack = (async () => {
          const setup = `export const round = ${i};\n`;
          const archive = await makePackage({
            item: makeItem({ namespace: "@company", version }),
            files: { "templates/.husky/commit-msg": "#!/bin/sh\n", "templates/setup.ts": setup },
          });
          const res = await fetch(uploadRequest(archive, { url, token: "ci-token" }));
          return outcome("rack", res, {
            path: `/registries/@company/quality/husky/${version}/files/templates/setup.ts`,
            expect: setup,
          });
        })();
        const jsr = (async () => {
          const mod = `export const version = "${version}";\n`;
          const tarball = await makeTarball({
            "deno.json": JSON.stringify({
              name: "@acme/greet",
              version,
              exports: { ".": "./mod.ts" },
            }),
            "mod.ts": mod,
          });
          const res = await fetch(
            `${url}/api/scopes/acme/packages/greet/versions/${version}?config=%2Fdeno.json`,
            {
              method: "POST",
              headers: { ...alice, "content-encoding": "gzip" },
              body: tarball as BodyInit,
            },
          );
          return outcome("jsr", res, { path: `/@acme/greet/${version}/mod.ts`, expect: mod });
        })();
        outcomes.push(...await Promise.all([ggui, rack, jsr]));
      }
    } finally {
      collecting = false;
      await gcLoop;
    }
    assert.deepEqual(gcFailures, []);
    assert.ok(runs > 0, "the gc loop ran");
    // One more run after every publish: a success's bytes must survive it too.
    const last = await fetch(`${collector.url}/admin/gc?grace=0s`, {
      method: "POST",
      headers: { authorization: "Bearer admin-secret" },
    });
    assert.equal(last.status, 200, await last.text());

    const bad = outcomes.filter((o) => {
      if (o.readPath) return false;
      const retryable = (o.status === 409 || o.status === 503) && o.retryAfter !== null;
      return !retryable;
    });
    assert.deepEqual(
      bad.map((o) => `${o.surface} ${o.status} ${o.body}`),
      [],
      "every publish succeeds or gets a retryable answer",
    );
    for (const o of outcomes) {
      if (!o.readPath) continue;
      for (const base of [url, collector.url]) {
        const res: Response = await fetch(base + o.readPath, {
          headers: o.surface === "rack"
            ? { authorization: "Bearer ci-token" }
            : { authorization: "Bearer tok-alice" },
        });
        assert.equal(res.status, 200, `${o.surface} ${o.readPath}: ${res.status}`);
        assert.equal(await res.text(), o.expect);
      }
    }
    const succeeded = outcomes.filter((o) => o.readPath).length;
    console.log(
      `${runs} gc runs (${busy} refused as busy); ${succeeded} of ${outcomes.length} publishes succeeded`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
