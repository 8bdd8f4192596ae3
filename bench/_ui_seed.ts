// Seeding for the page benchmark: a JSR package with many versions published
// over HTTP exactly as `deno publish` sends them (a gzip tarball to the
// publish API), several at a time.
import { nextPackageRow } from "../core/packages.ts";
import type { VersionRow } from "../core/rows.ts";
import { putVersionIfAbsent } from "../core/store.ts";
import { readGcGuard } from "../core/gc.ts";
import { MemoryBundleStorage } from "../storage/memory.ts";
import { KvRegistryStorage } from "../storage/kv.ts";
import * as keys from "../storage/keys.ts";
import { makeTarball } from "../tests/_rack_fixtures.ts";

/** A README of about 4 KB: what a package page typically renders. */
export const BENCH_README = [
  "# Pages",
  "",
  "A package with many versions, for the page benchmark.",
  "",
  ...Array.from(
    { length: 40 },
    (_, i) => `- Item ${i}: *emphasis*, \`code\`, and a [link](https://example.com/${i}).`,
  ),
  "",
  "```ts",
  'import { version } from "jsr:@pages/many";',
  "console.log(version);",
  "```",
].join("\n");

/** Publish `@scope/name` at versions `1.0.0` … `1.0.<count-1>`, `concurrency` at a time. */
export async function publishMany(
  url: string,
  options: { token: string; scope: string; name: string; count: number; concurrency?: number },
): Promise<void> {
  const { token, scope, name, count } = options;
  let next = 0;
  async function worker() {
    while (next < count) {
      const version = `1.0.${next++}`;
      const tarball = await makeTarball({
        "deno.json": JSON.stringify({ name: `@${scope}/${name}`, version, exports: "./mod.ts" }),
        "mod.ts": `/** The version. */\nexport const version = "${version}";\n`,
        "README.md": BENCH_README,
      });
      const res = await fetch(
        `${url}/api/scopes/${scope}/packages/${name}/versions/${version}?config=%2Fdeno.json`,
        {
          method: "POST",
          headers: { "content-encoding": "gzip", authorization: `Bearer ${token}` },
          body: tarball as BodyInit,
        },
      );
      const body = await res.json();
      if (res.status !== 200 || body.status !== "success") {
        throw new Error(`publish ${version}: ${res.status} ${JSON.stringify(body)}`);
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
}

/**
 * Grow a package published once over HTTP to `count` versions, in process on
 * the store's KV file (the server stopped): each further version is the first
 * one's row under a new version number, committed through the core's own
 * version commit (`putVersionIfAbsent` with the package-row update a JSR
 * publish uses), so its lifecycle row, precedence pointer, package row and
 * search index are exactly what a publish writes. Publishing 10,000 versions
 * over HTTP would take the better part of an hour on this machine.
 */
export async function growVersions(
  kvPath: string,
  ref: { namespace: string; name: string; count: number },
): Promise<void> {
  const storage = await KvRegistryStorage.open(kvPath);
  try {
    const first = await storage.get<VersionRow>(keys.versionKey({ ...ref, version: "1.0.0" }));
    if (!first) throw new Error(`seed: ${ref.namespace}/${ref.name}@1.0.0 is missing`);
    const start = Date.parse(first.value.publishedAt);
    const pkg = { namespace: ref.namespace, name: ref.name };
    // No GC runs meanwhile (the server is stopped): the guard's stamp holds throughout.
    const clock = () => new Date();
    const guard = await readGcGuard({ storage, clock });
    const gc = { guard, ctx: { storage, bundles: new MemoryBundleStorage(), clock } };
    for (let i = 1; i < ref.count; i++) {
      const row: VersionRow = {
        ...first.value,
        version: `1.0.${i}`,
        publishedAt: new Date(start + i * 1000).toISOString(),
      };
      const r = await putVersionIfAbsent(storage, {
        row,
        gc,
        updatePackage: (current, state) =>
          nextPackageRow(current, state, { ref: pkg, summary: { exports: "." } }),
      });
      if (r.result !== "created") throw new Error(`seed: 1.0.${i}: ${r.result}`);
    }
  } finally {
    await storage.close();
  }
}
