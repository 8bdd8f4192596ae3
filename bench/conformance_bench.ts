// Cost of the ggui conformance gates, blueprint compilation, sigstore
// verification and the runtime probe per publish:
// `deno task bench bench/conformance_bench.ts` (the task passes the tests'
// import map, for @sigstore/mock). Results: docs/conformance.md.
import { compileBlueprint } from "../core/ggui/compile.ts";
import { checkConformance, checkConformanceAsync } from "../core/ggui/conformance.ts";
import { createSigstoreVerifier } from "../core/ggui/sigstore.ts";
import { createBlueprintProbe } from "../server/blueprint_probe.ts";
import { makeBlueprintManifest, makeGadgetManifest } from "../tests/_ggui_fixtures.ts";
import { makeTestSigstore } from "../tests/_sigstore_fixtures.ts";

/** A built-gadget-like ESM bundle of about `bytes` bytes (compiled JSX, objects, strings). */
function gadgetBundle(bytes: number): string {
  const parts = [
    'import React, { useState, useEffect } from "react";',
    'import { jsx as _jsx } from "react/jsx-runtime";',
  ];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const chunk = `function Part${i}(props) {
  const [state, setState] = useState(${i});
  useEffect(() => { if (props.tick) setState((s) => s + 1); }, [props.tick]);
  const style = { margin: ${i % 8}, padding: "${i}px", color: props.color ?? "#${
      (i * 2654435761 % 0xffffff).toString(16).padStart(6, "0")
    }" };
  return React.createElement("div", { className: "part-${i}", style }, _jsx("span", { children: state }), props.children);
}
`;
    parts.push(chunk);
    size += chunk.length;
  }
  parts.push("export function useMap() { return Part0; }");
  return parts.join("\n");
}

/** A TSX blueprint of about `bytes` bytes. */
function blueprintSource(bytes: number): string {
  const parts = [
    'import React, { useState } from "react";',
    "type Row = { id: number; label: string; tags?: readonly string[] };",
  ];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const chunk = `function Section${i}({ rows, title }: { rows: Row[]; title?: string }) {
  const [open, setOpen] = useState<boolean>(${i % 2 === 0});
  const visible = rows.filter((r) => r.id % ${(i % 5) + 2} === 0);
  return (
    <section className="s${i}" onClick={() => setOpen((o) => !o)}>
      <h3>{title ?? "Section ${i}"}</h3>
      {open && <ul>{visible.map((r) => <li key={r.id} data-tags={r.tags?.join(",")}>{r.label}</li>)}</ul>}
    </section>
  );
}
`;
    parts.push(chunk);
    size += chunk.length;
  }
  parts.push("export default function Page() { return <main><Section0 rows={[]} /></main>; }");
  return parts.join("\n");
}

const bundle100k = gadgetBundle(100 * 1024);
const gadgetManifest = makeGadgetManifest();
const source1m = blueprintSource(1024 * 1024);
const blueprintManifest = makeBlueprintManifest({ source: source1m });
const source100k = blueprintSource(100 * 1024);
const blueprint100k = makeBlueprintManifest({ source: source100k });

// Sanity: the inputs pass the gates (a bench of a failing path would lie).
for (
  const r of [
    checkConformance({ manifest: gadgetManifest, bundle: bundle100k }),
    checkConformance({ manifest: blueprintManifest }),
  ]
) {
  if (!r.ok) throw new Error(`Bench input fails conformance: ${JSON.stringify(r.errors[0])}`);
}

Deno.bench(
  "conformance: gadget bundle 100 KiB (parse, imports, exports)",
  { group: "conformance" },
  () => {
    checkConformance({ manifest: gadgetManifest, bundle: bundle100k });
  },
);

Deno.bench("conformance: blueprint 100 KiB TSX", { group: "conformance" }, () => {
  checkConformance({ manifest: blueprint100k });
});

Deno.bench("conformance: blueprint 1 MiB TSX", { group: "conformance" }, () => {
  checkConformance({ manifest: blueprintManifest });
});

Deno.bench("conformance (async, as publish runs it): blueprint 1 MiB TSX in a worker", {
  group: "conformance",
}, async () => {
  await checkConformanceAsync({ manifest: blueprintManifest });
});

// Each iteration compiles a distinct source (a trailing comment) so the
// per-process memo of recent compilations never answers.
let n = 0;
Deno.bench("compile: blueprint 100 KiB (esbuild-wasm 0.25.12, warm worker)", {
  group: "compile",
  n: 20,
  warmup: 10,
}, async () => {
  const r = await compileBlueprint(`${source100k}\n// ${n++}`);
  if (!r.ok) throw new Error(r.error.message);
});

Deno.bench("compile: blueprint 1 MiB (esbuild-wasm 0.25.12, warm worker)", {
  group: "compile",
  n: 5,
  warmup: 1,
}, async () => {
  const r = await compileBlueprint(`${source1m}\n// ${n++}`);
  if (!r.ok) throw new Error(r.error.message);
});

const sig = await makeTestSigstore();
const verifier = createSigstoreVerifier({ trustedRoot: sig.trustedRoot });
const payload = new TextEncoder().encode(bundle100k);
const envelope = await sig.envelope(payload);
Deno.bench("sigstore: verify a keyless bundle over 100 KiB", { group: "signing" }, async () => {
  const r = await verifier.verify(payload, envelope);
  if (!r.valid) throw new Error(r.reason);
});

const probe = createBlueprintProbe();
await probe.warmUp();
const small = makeBlueprintManifest({
  source: "export default function C(p: { t: string }) { return <b>{p.t}</b>; }",
  fixtureProps: { t: "x" },
}) as never;
Deno.bench("probe: render a small blueprint in the sandboxed child", {
  group: "probe",
  n: 8,
  warmup: 1,
}, async () => {
  const r = await probe.probe(small);
  if (!r.ok) throw new Error(r.errors[0]?.message);
});
