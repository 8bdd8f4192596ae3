// `/metrics` stays open by default (the Rack original's contract), but what a
// scrape without the metrics token sees must not move when something private
// is published or read (issue 15, item 11): it counts public activity only
// (requests without credentials, publishes of public versions), and the
// operator's full view needs the metrics token.
import assert from "node:assert/strict";
import { createRegistryApp, type RegistryApp } from "../routes/app.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import {
  makeGadget,
  makeKey,
  makePublicGadget,
  testSigstoreVerifier,
  tokenMapAuthenticator,
} from "./_ggui_fixtures.ts";
import {
  ADMIN,
  makeItem,
  makePackage,
  makeRackEnv,
  makeTarball,
  TEMPLATE_FILES,
  uploadRequest,
} from "./_rack_fixtures.ts";
import { parsePrometheusText, type Sample } from "./_prometheus.ts";

const ALICE = "tok-alice";
const METRICS = "tok-metrics";

function app(metricsToken?: string): RegistryApp {
  return createRegistryApp({
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    authenticator: tokenMapAuthenticator({ [ALICE]: "alice" }),
    bundleHost: "http://127.0.0.1:9",
    registryHostname: "127.0.0.1:9",
    sigstore: testSigstoreVerifier,
    rateLimitPerMinute: 0,
    uploadRateLimitPerMinute: 0,
    ...(metricsToken ? { metricsToken } : {}),
  });
}

async function call(registry: RegistryApp, path: string, init: RequestInit = {}) {
  const res = await registry.request(path, init);
  return { status: res.status, text: await res.text() };
}

const json = { authorization: `Bearer ${ALICE}`, "content-type": "application/json" };

/** Alice's private activity on every surface: publishes, a read, a conflict. */
async function privateActivity(registry: RegistryApp): Promise<void> {
  const key = await makeKey();
  const reg = await call(registry, "/author-keys", {
    method: "POST",
    headers: json,
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
  assert.equal(reg.status, 201, reg.text);
  const body = JSON.stringify(await makeGadget(key, { manifest: { name: "hush" } }));
  assert.equal(
    (await call(registry, "/publish", { method: "POST", headers: json, body })).status,
    201,
  );
  assert.equal(
    (await call(registry, "/publish", { method: "POST", headers: json, body })).status,
    409,
  );
  const read = await call(registry, "/pkg/acme/hush/1.0.0", { headers: json });
  assert.equal(read.status, 200);
  // JSR packages in undeclared namespaces are private by default.
  const files = {
    "deno.json": JSON.stringify({ name: "@acme/quiet", version: "1.0.0", exports: "./mod.ts" }),
    "mod.ts": "export const x = 1;\n",
  };
  const jsr = await call(registry, "/api/scopes/acme/packages/quiet/versions/1.0.0", {
    method: "POST",
    headers: { authorization: `Bearer ${ALICE}`, "content-encoding": "gzip" },
    body: await makeTarball(files) as BodyInit,
  });
  assert.equal(JSON.parse(jsr.text).status, "success", jsr.text);
}

/** The series of a scrape that activity can move (not the process gauges, not /metrics itself). */
function activity(samples: Sample[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name.startsWith("process_") || s.name.startsWith("deno_")) continue;
    if (s.labels.route === "/metrics") continue;
    out.set(`${s.name}${JSON.stringify(s.labels)}`, s.value);
  }
  return out;
}

async function scrape(registry: RegistryApp, token?: string): Promise<Sample[]> {
  const res = await call(
    registry,
    "/metrics",
    token ? { headers: { authorization: `Bearer ${token}` } } : {},
  );
  assert.equal(res.status, 200);
  return parsePrometheusText(res.text);
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  return samples.filter((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  ).reduce((n, s) => n + s.value, 0);
}

Deno.test("an open /metrics does not move when something private is published or read", async () => {
  const registry = app();
  const before = activity(await scrape(registry));
  await privateActivity(registry);
  const after = activity(await scrape(registry));
  assert.deepEqual(after, before);
});

Deno.test("an open /metrics counts public activity: anonymous requests and public publishes", async () => {
  const registry = app();
  const before = await scrape(registry);
  assert.equal((await call(registry, "/pkg/acme/nothing/1.0.0")).status, 404);
  const pub = await call(registry, "/publish", {
    method: "POST",
    headers: json,
    body: JSON.stringify(makePublicGadget({ manifest: { name: "open" } })),
  });
  assert.equal(pub.status, 201, pub.text);
  const after = await scrape(registry);
  const route = { route: "/pkg/:scope/:name/:version", status_code: "404" };
  const reads = "http_request_duration_seconds_count";
  assert.equal(value(after, reads, route) - value(before, reads, route), 1);
  const created = { surface: "ggui", result: "created" };
  const publishes = "registry_publishes_total";
  assert.equal(value(after, publishes, created) - value(before, publishes, created), 1);
  const posts = { route: "/publish", status_code: "201" };
  assert.equal(value(after, reads, posts) - value(before, reads, posts), 1);
});

Deno.test("with a metrics token, a scrape with it sees private activity and one without is refused", async () => {
  const registry = app(METRICS);
  assert.equal((await call(registry, "/metrics")).status, 401);
  const before = await scrape(registry, METRICS);
  await privateActivity(registry);
  const after = await scrape(registry, METRICS);
  const created = { surface: "ggui", result: "created" };
  const publishes = "registry_publishes_total";
  assert.equal(value(after, publishes, created) - value(before, publishes, created), 1);
  const jsr = { surface: "jsr", result: "created" };
  assert.equal(value(after, publishes, jsr) - value(before, publishes, jsr), 1);
  const storage = "registry_storage_operation_duration_seconds_count";
  assert.ok(
    value(after, storage, { operation: "commit" }) >
      value(before, storage, { operation: "commit" }),
  );
});

Deno.test("the Rack routes' own /metrics (no token) counts public activity only", async () => {
  const env = makeRackEnv();
  const upload = async (namespace: string, token: string) => {
    const item = makeItem({ namespace, name: namespace.slice(1) });
    const archive = await makePackage({ item, files: TEMPLATE_FILES });
    const res = await env.app.request(uploadRequest(archive, { token }));
    assert.equal(res.status, 201, await res.text());
  };
  const routes = async () => {
    const samples = parsePrometheusText(await (await env.app.request("/metrics")).text());
    return samples.filter((s) =>
      s.name === "http_request_duration_seconds_count" && s.labels.route !== "/metrics"
    ).map((s) => `${s.labels.method} ${s.labels.route} ${s.labels.status_code}`);
  };
  // Into a gated namespace, with a token: private activity.
  await upload("@company", "ci-token");
  const secret = await env.app.request("/registries/@company/quality/company/versions", {
    headers: { authorization: "Bearer dev-token" },
  });
  assert.equal(secret.status, 200);
  await secret.body?.cancel();
  assert.deepEqual(await routes(), []);
  // An anonymous read and an upload into an anonymous namespace: public activity.
  await upload("@rack", ADMIN);
  const open = await env.app.request("/registries/@rack/quality/rack/versions");
  assert.equal(open.status, 200);
  await open.body?.cancel();
  assert.deepEqual((await routes()).sort(), ["GET /registries/* 200", "POST /registries 201"]);
});
