// Seeding a store of any size through the storage seam, fast, with the rows
// and blobs the publishes write (ggui public gadgets and JSR packages): the
// version, lifecycle, precedence, recent-version and audit rows of each
// version, the package, scope and search-index rows of each package, and the
// blobs the rows point to. tests/scale_seed_test.ts proves the rows equal
// what a publish through the HTTP surface writes. Rows go in batched commits
// (one per ~600 KiB), blobs through `bundles.put` a few at a time.
import { auditMutation } from "../core/audit.ts";
import { timeOrderedId } from "../core/context.ts";
import { digestBytes, sha256Hex, toBase64 } from "../base/digest.ts";
import { publicSummaryOf } from "../core/ggui/_common.ts";
import { parseManifest, searchFactsOf } from "../core/ggui/manifest.ts";
import { nextPackageRow } from "../core/packages.ts";
import type { FileMap, PackageRow, ScopeRow, VersionRow, VersionState } from "../core/rows.ts";
import { ownerIndexMutation, searchIndexMutations } from "../core/search_index.ts";
import { precedenceOf } from "../core/semver.ts";
import * as keys from "../storage/keys.ts";
import type { BundleStorage, JsonValue, Mutation, RegistryStorage } from "../storage/types.ts";
import { makeGadgetManifest } from "../tests/_ggui_fixtures.ts";

const enc = new TextEncoder();

/** One package to seed: its name, format, versions and words. */
export interface SeedPackage {
  namespace: string;
  name: string;
  format: "ggui.gadget" | "jsr";
  /** Versions in publish order. */
  versions: string[];
  /** The description (search words). */
  description: string;
  /** When the first version was published; each next one a second later. */
  firstAt: number;
  /** Who publishes. */
  publisher: string;
}

/** What seeding a package writes: blobs first, then rows. */
export interface SeededPackage {
  blobs: Uint8Array[];
  mutations: Mutation[];
}

/** The bytes of a gadget's bundle (one per package, as a release that changes only the manifest). */
function gadgetBundle(p: SeedPackage): Uint8Array {
  return enc.encode(`export function useThing() { return ${JSON.stringify(p.name)}; }\n`);
}

/** A sigstore envelope as the test sigstore lane accepts it (tests/_ggui_fixtures.ts). */
function gadgetSignature(bundle: Uint8Array) {
  const sha384 = toBase64(digestBytes("sha384", bundle));
  return {
    algorithm: "sigstore-cosign",
    bundleSha384: sha384,
    bundle: JSON.stringify({ testSan: "alice@example.com" }),
    signedAt: "2026-11-22T00:00:00.000Z",
  };
}

/** The publish body of one gadget version (what the HTTP sample sends). */
export function gadgetPublishBody(p: SeedPackage, version: string): Record<string, unknown> {
  const bundle = gadgetBundle(p);
  const signature = gadgetSignature(bundle);
  return {
    manifest: gadgetManifest(p, version),
    bundle: toBase64(bundle),
    bundleSha384: signature.bundleSha384,
    signature,
  };
}

function gadgetManifest(p: SeedPackage, version: string): Record<string, unknown> {
  return makeGadgetManifest({
    scope: p.namespace,
    name: p.name,
    version,
    visibility: "public",
    description: p.description,
    exports: [{
      hook: "useThing",
      description: "A hook",
      usage: "Call useThing()",
      example: { call: "useThing()" },
    }],
  });
}

function fileOf(bytes: Uint8Array, type: string) {
  return { sha256: sha256Hex(bytes), size: bytes.byteLength, type };
}

/**
 * The maker of one package's gadget versions, as commitVersion writes them:
 * the bundle and its signature are the package's (a release that changes
 * only the manifest), the manifest is parsed once and re-versioned.
 */
function gadgetVersions(p: SeedPackage) {
  const parsed = parseManifest(gadgetManifest(p, p.versions[0] ?? "1.0.0"));
  if (!parsed.ok) throw new Error(`seed manifest: ${JSON.stringify(parsed.issues)}`);
  const bundle = gadgetBundle(p);
  const signature = gadgetSignature(bundle);
  const sig = enc.encode(JSON.stringify(signature, null, 2));
  const shared = {
    "bundle.js": fileOf(bundle, "application/javascript; charset=utf-8"),
    "bundle.js.sig": fileOf(sig, "application/json"),
  };
  const search = searchFactsOf(parsed.manifest) as unknown as JsonValue;
  return (version: string, at: string) => {
    const manifest = enc.encode(JSON.stringify({ ...parsed.manifest, version }));
    const row: VersionRow = {
      namespace: p.namespace,
      name: p.name,
      version,
      format: "ggui.gadget",
      visibility: "public",
      files: { ...shared, "manifest.json": fileOf(manifest, "application/json") },
      facts: {
        search,
        authorPublicKey: "MIIBtestleaf=",
        signatureAlgorithm: "sigstore-cosign",
        bundleSri: `sha384-${signature.bundleSha384}`,
      },
      publishedAt: at,
      publishedBy: p.publisher,
    };
    return { row, blobs: [bundle, sig, manifest], summary: publicSummaryOf(row) };
  };
}

/** The files of one JSR version (what the HTTP sample's tarball holds). */
export function jsrFiles(p: SeedPackage, version: string): Record<string, string> {
  return {
    "deno.json": JSON.stringify({
      name: `${p.namespace}/${p.name}`,
      version,
      exports: { ".": "./mod.ts" },
    }),
    "mod.ts": `// ${p.description}\nexport const name = ${JSON.stringify(p.name)};\n`,
  };
}

/** The version row (and blobs) of one JSR version, as publishJsrTarball writes it. */
function jsrVersion(p: SeedPackage, version: string, at: string, taskId: string) {
  const text = jsrFiles(p, version);
  const config = enc.encode(text["deno.json"]);
  const mod = enc.encode(text["mod.ts"]);
  const files: FileMap = {
    "deno.json": fileOf(config, "application/json"),
    "mod.ts": fileOf(mod, "text/typescript"),
  };
  const manifest: Record<string, { size: number; checksum: string }> = {};
  for (const path of Object.keys(files).sort()) {
    manifest[`/${path}`] = { size: files[path]!.size, checksum: `sha256-${files[path]!.sha256}` };
  }
  const meta = enc.encode(JSON.stringify({ manifest, exports: { ".": "./mod.ts" } }));
  const row: VersionRow = {
    namespace: p.namespace,
    name: p.name,
    version,
    format: "jsr",
    visibility: "public",
    files,
    facts: {
      versionMetaSha256: sha256Hex(meta),
      versionMetaSize: meta.byteLength,
      exports: { ".": "./mod.ts" },
      taskId,
      configPath: "/deno.json",
    },
    publishedAt: at,
    publishedBy: p.publisher,
  };
  return { row, blobs: [config, mod, meta], summary: { exports: "." } };
}

/** The rows a JSR publish adds beside the version (its task). */
function jsrTask(p: SeedPackage, version: string, at: string, taskId: string): Mutation {
  const task = {
    id: taskId,
    status: "success",
    error: null,
    packageScope: p.namespace.slice(1),
    packageName: p.name,
    packageVersion: version,
    createdAt: at,
    updatedAt: at,
  };
  return { type: "set", key: keys.jsrTaskKey(taskId), value: task };
}

/** A UUID-shaped task id derived from a name (a publish draws a random one). */
function uuidOf(name: string): string {
  const h = sha256Hex(name);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${
    h.slice(20, 32)
  }`;
}

function auditOf(p: SeedPackage, version: string, at: Date, created: boolean): Mutation {
  const jsr = p.format === "jsr";
  const iso = at.toISOString();
  return auditMutation({
    id: timeOrderedId(at),
    at: iso,
    actor: p.publisher,
    action: jsr ? "jsr.publish" : "ggui.publish",
    target: `${p.namespace}/${p.name}@${version}`,
    outcome: "ok",
    // A JSR publish records the client's address (the bench's clients are local).
    ...(jsr ? { ip: "127.0.0.1" } : {}),
    detail: jsr
      ? { visibility: "public", packageCreated: created, scopeClaimed: created }
      : { kind: "gadget", visibility: "public", packageCreated: created, scopeClaimed: created },
  });
}

/** Every blob and row of a package published version by version (folded). */
export function seedPackage(p: SeedPackage, options: { claimScope: boolean }): SeededPackage {
  const blobs = new Map<string, Uint8Array>();
  const mutations: Mutation[] = [];
  let pkg: PackageRow | null = null;
  const gadget = p.format === "jsr" ? undefined : gadgetVersions(p);
  p.versions.forEach((version, i) => {
    const when = new Date(p.firstAt + i * 1000);
    const at = when.toISOString();
    const taskId = uuidOf(`${p.namespace}/${p.name}@${version}`);
    const v = gadget ? gadget(version, at) : jsrVersion(p, version, at, taskId);
    for (const b of v.blobs) blobs.set(sha256Hex(b), b);
    const row = v.row;
    const state: VersionState = {
      version,
      format: row.format,
      visibility: row.visibility,
      publishedAt: at,
      publishedBy: row.publishedBy,
      yanked: false,
    };
    const vKey = keys.versionKey(row);
    mutations.push(
      { type: "set", key: vKey, value: row as unknown as JsonValue },
      { type: "set", key: keys.versionStateKey(row), value: state as unknown as JsonValue },
      {
        type: "set",
        key: keys.versionByPrecedenceKey(row, precedenceOf(version)),
        value: { version },
      },
      { type: "set", key: keys.recentVersionKey(timeOrderedId(when)), value: vKey as JsonValue },
    );
    if (p.format === "jsr") mutations.push(jsrTask(p, version, at, taskId));
    mutations.push(auditOf(p, version, when, i === 0 && options.claimScope));
    pkg = nextPackageRow(pkg, state, { ref: row, summary: v.summary });
  });
  const last = pkg as PackageRow | null;
  if (last === null) return { blobs: [], mutations };
  mutations.push(
    { type: "set", key: keys.packageKey(last), value: last as unknown as JsonValue },
    { type: "set", key: keys.precedenceIndexedKey(last), value: { at: last.createdAt } },
    ...searchIndexMutations(null, last),
  );
  if (options.claimScope) {
    const scope: ScopeRow = {
      scope: p.namespace,
      ownerSubject: p.publisher,
      claimedAt: last.createdAt,
      verification: "unverified",
    };
    mutations.push(
      { type: "set", key: keys.scopeKey(p.namespace), value: scope as unknown as JsonValue },
      // The owner's search pointer lands with the claim.
      ownerIndexMutation(scope),
    );
  }
  return { blobs: [...blobs.values()], mutations };
}

/** Writes seeded packages: blobs a few at a time, rows in commits of ≤ ~600 KiB and 1,000 rows. */
export class Seeder {
  #storage: RegistryStorage;
  #bundles: BundleStorage;
  #batch: Mutation[] = [];
  #bytes = 0;
  /** The commit in flight: the next package's blobs are put meanwhile. */
  #pending: Promise<void> = Promise.resolve();
  /** Versions, rows and blobs written so far. */
  readonly counts = { rows: 0, blobs: 0 };

  constructor(storage: RegistryStorage, bundles: BundleStorage) {
    this.#storage = storage;
    this.#bundles = bundles;
  }

  /** Seed one package (its blobs now, its rows with the next commit). */
  async add(seeded: SeededPackage): Promise<void> {
    for (let i = 0; i < seeded.blobs.length; i += 16) {
      await Promise.all(seeded.blobs.slice(i, i + 16).map((b) => this.#bundles.put(b)));
    }
    this.counts.blobs += seeded.blobs.length;
    for (const m of seeded.mutations) {
      const size = JSON.stringify(m).length;
      if (this.#batch.length >= 1000 || this.#bytes + size > 600_000) await this.#send();
      this.#batch.push(m);
      this.#bytes += size;
    }
  }

  /** Start committing what is pending (after the commit in flight). */
  async #send(): Promise<void> {
    await this.#pending;
    const mutations = this.#batch;
    this.#batch = [];
    this.#bytes = 0;
    this.#pending = this.#storage.commit({ checks: [], mutations }).then((res) => {
      if (!res.ok) throw new Error("seed commit failed");
      this.counts.rows += mutations.length;
    });
  }

  /** Commit everything pending and wait for it. */
  async flush(): Promise<void> {
    if (this.#batch.length > 0) await this.#send();
    await this.#pending;
  }
}
