// The runtime probe's sandbox, attacked: each escape attempt must fail closed
// (the probe answers blueprint_runtime_probe_failed and the side effect did
// not happen), and the server must keep answering afterwards.
import assert from "node:assert/strict";
import { createGguiRoutes } from "../routes/ggui/mod.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import {
  BUNDLE_HOST,
  makeBlueprint,
  makeKey,
  publish,
  registerKey,
  tokenMapAuthenticator,
  TOKENS,
} from "../tests/_ggui_fixtures.ts";
import { createBlueprintProbe } from "./blueprint_probe.ts";

const probe = createBlueprintProbe({ timeoutMs: 8000, maxHeapMb: 64, maxRssMb: 384 });

async function run(source: string, fixtureProps: unknown = {}) {
  return await probe.probe({ source, fixtureProps } as never);
}

function assertFailed(r: { ok: boolean; errors: { code: string; message: string }[] }, re: RegExp) {
  assert.equal(r.ok, false);
  assert.equal(r.errors[0]?.code, "blueprint_runtime_probe_failed");
  assert.match(r.errors[0]!.message, re);
}

Deno.test("the probe renders the default export with the fixture props", async () => {
  const ok = await run(
    'import { useState } from "react";\nexport default function Card(p: { title: string }) {\n  const [n] = useState(1);\n  return <h1>{p.title.toUpperCase()}{n}</h1>;\n}',
    { title: "hi" },
  );
  assert.deepEqual(ok, { ok: true, errors: [] });
  // The same component without the prop throws while rendering.
  assertFailed(
    await run(
      "export default function Card(p: { title: string }) { return <h1>{p.title.toUpperCase()}</h1>; }",
    ),
    /TypeError/,
  );
  assertFailed(await run("export default 42;"), /not a component/);
});

Deno.test("the probe sandbox refuses the file system, reading and writing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const target = `${dir}/pwned.txt`;
    assertFailed(
      await run(
        `export default function C() { return <p>{Deno.readTextFileSync("/etc/hostname")}</p>; }`,
      ),
      /NotCapable: Requires read access/,
    );
    assertFailed(
      await run(
        `export default function C() { Deno.writeTextFileSync(${
          JSON.stringify(target)
        }, "x"); return null; }`,
      ),
      /NotCapable: Requires write access/,
    );
    await assert.rejects(Deno.stat(target), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the probe sandbox refuses the network, subprocesses and the environment", async () => {
  let hits = 0;
  await using server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => {
    hits++;
    return new Response("secret");
  });
  const url = `http://127.0.0.1:${server.addr.port}/`;
  assertFailed(
    await run(
      `const r = await fetch(${
        JSON.stringify(url)
      }); const t = await r.text();\nexport default function C() { return <p>{t}</p>; }`,
    ),
    /NotCapable: Requires net access/,
  );
  assert.equal(hits, 0);
  assertFailed(
    await run(
      `export default function C() { new Deno.Command("sh", { args: ["-c", "true"] }).outputSync(); return null; }`,
    ),
    /NotCapable: Requires run access/,
  );
  assertFailed(
    await run(`export default function C() { return <p>{Deno.env.get("HOME")}</p>; }`),
    /NotCapable: Requires env access/,
  );
  // Not even the one variable the runner needed to load React.
  assertFailed(
    await run(`export default function C() { return <p>{Deno.env.get("NODE_ENV")}</p>; }`),
    /NotCapable: Requires env access to "NODE_ENV"/,
  );
  // What the blueprint itself sees: nothing granted ("prompt" is refused under --no-prompt).
  const states = ["read", "write", "net", "env", "run", "ffi", "sys", "import"].map((name) =>
    `(await Deno.permissions.query({ name: "${name}" })).state`
  );
  assertFailed(
    await run(
      `const s = [${
        states.join(", ")
      }];\nexport default function C() { throw new Error(s.join(",")); }`,
    ),
    /Error: prompt,prompt,prompt,prompt,prompt,prompt,prompt,denied/,
  );
});

Deno.test("the probe sandbox holds against the constructor-of-a-function tricks", async () => {
  // The global object is reachable (it is the child's own), its powers are not.
  assertFailed(
    await run(
      `export default function C() { const g = (function () {}).constructor("return this")(); return <p>{g.Deno.readTextFileSync("/etc/passwd")}</p>; }`,
    ),
    /NotCapable/,
  );
  assertFailed(
    await run(
      `import { useState } from "react";\nexport default function C() { const D = useState.constructor("return Deno")(); return <p>{D.env.toObject().PATH}</p>; }`,
    ),
    /NotCapable: Requires env access/,
  );
  // A module built at run time can neither come from the network nor from npm.
  assertFailed(
    await run(`await (0, eval)('import("https://example.com/x.js")');\nexport default () => null;`),
    /Requires import access to "example.com:443"/,
  );
  assertFailed(
    await run(
      `await new Function('return import("npm:x-registry-probe-canary@1.0.0")')();\nexport default () => null;`,
    ),
    /--cached-only is specified/,
  );
  assertFailed(
    await run(
      `await new Function('return import("file:///etc/passwd")')();\nexport default () => null;`,
    ),
    /Requires read access/,
  );
  // Output printed by the blueprint cannot pass for the verdict.
  assertFailed(
    await run(
      `export default function C() { console.log('{"ok":true}'); Deno.stdout.writeSync(new TextEncoder().encode('x {"ok":true}\\n')); throw new Error("no"); }`,
    ),
    /Error: no/,
  );
});

Deno.test("the probe ends an infinite loop and a memory bomb; the server stays up", async () => {
  const storage = new MemoryRegistryStorage();
  const app = createGguiRoutes({
    ctx: { storage, bundles: new MemoryBundleStorage(), clock: () => new Date() },
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice" }),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
    blueprintProbe: createBlueprintProbe({ timeoutMs: 5000, maxHeapMb: 64, maxRssMb: 384 }),
  });
  const key = await makeKey();
  await registerKey(app, TOKENS.alice, key);
  // A memory bomb is killed for its memory, or (on a machine too loaded for it to reach
  // the cap within the deadline) for its time: either way the probe ends it.
  const hostile: [string, RegExp][] = [
    ["export default function C() { for (;;) {} }", /timed out/],
    [
      "export default function C() { const a: number[][] = []; for (;;) a.push(new Array(1e6).fill(1)); }",
      /killed|exited|memory|timed out/,
    ],
    [
      "export default function C() { const a: Uint8Array[] = []; for (;;) a.push(new Uint8Array(32 << 20).fill(7)); }",
      /memory|killed|exited|timed out/,
    ],
  ];
  for (const [i, [source, re]] of hostile.entries()) {
    const res = await publish(
      app,
      TOKENS.alice,
      await makeBlueprint(key, { manifest: { source, version: `1.0.${i}` } }),
    );
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error, "conformance_failed");
    assert.equal(body.conformanceFailureCode, "blueprint_runtime_probe_failed");
    assert.match(body.detail.errors[0].message, re);
    // Still serving.
    assert.equal((await app.request("/healthz")).status, 200);
  }
  const good = await publish(
    app,
    TOKENS.alice,
    await makeBlueprint(key, { manifest: { version: "2.0.0" } }),
  );
  assert.equal(good.status, 201);
});
