/**
 * The ggui artifact manifests (`ggui.gadget.json`, `ggui.blueprint.json`) as
 * strict zod schemas, discriminated on `kind`, plus the pure helpers every
 * ggui operation needs around them: canonical JSON (what blueprint signatures
 * cover), MCP tool-binding resolution, the search-entry projection and the
 * gadget catalog projection check.
 *
 * Unknown keys are rejected at every level the original rejects them; the
 * issue list is zod's, so `message` and `path` match the original's wording.
 *
 * @module
 */
import { z } from "zod";
import type { JsonValue } from "../../storage/types.ts";
import { isVersion, MAX_VERSION_LENGTH } from "../../base/names.ts";

import {
  MANIFEST_VERSION_RE,
  MCP_MAX_BINDINGS,
  MCP_NAME_RE,
  NAME_RE,
  SCOPE_RE,
} from "./manifest_grammar.ts";

export { MANIFEST_VERSION_RE, MCP_MAX_BINDINGS, MCP_NAME_RE, NAME_RE, SCOPE_RE };

const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonValue),
    z.record(z.string(), jsonValue),
  ])
);

const scopeSchema = z.string().regex(SCOPE_RE, {
  message:
    "scope must start with `@` followed by lowercase alphanumerics + hyphens (2-64 chars total, no leading/trailing hyphen after `@`).",
});
const versionSchema = z.string().regex(MANIFEST_VERSION_RE, {
  message: "version must be valid semver (MAJOR.MINOR.PATCH with optional `-pre` / `+build`).",
}).refine((v) => !MANIFEST_VERSION_RE.test(v) || isVersion(v), {
  message:
    `version must be at most ${MAX_VERSION_LENGTH} characters, with MAJOR, MINOR and PATCH at most ${Number.MAX_SAFE_INTEGER}.`,
});
const visibilitySchema = z.enum(["public", "private"]);

const authorSchema = z.strictObject({
  name: z.string().min(1).max(200),
  email: z.email({ message: "author.email must be a valid email address" }).optional(),
  url: z.url({ message: "author.url must be a valid http(s) URL" }).optional(),
});

/** One MCP tool binding: a tool, optionally on a named server. */
export const McpToolBindingSchema = z.strictObject({
  server: z.string().regex(MCP_NAME_RE, {
    message: "server must be 1-128 chars of `[A-Za-z0-9_.-]` (MCP server name charset).",
  }).optional(),
  tool: z.string().regex(MCP_NAME_RE, {
    message: "tool must be 1-128 chars of `[A-Za-z0-9_.-]` (MCP tool name charset).",
  }),
});
/** One MCP tool binding: a tool, optionally on a named server. */
export interface McpToolBinding {
  /** MCP server name (`serverInfo.name`); absent = any server. */
  server?: string;
  /** MCP tool name. */
  tool: string;
}

const mcpToolsSchema = z.array(McpToolBindingSchema)
  .min(1, { message: "mcpTools must declare at least one binding." })
  .max(MCP_MAX_BINDINGS, {
    message: `at most ${MCP_MAX_BINDINGS} MCP tool bindings per artifact.`,
  })
  .refine((bindings) => {
    const seen = new Set<string>();
    for (const b of bindings) {
      const key = JSON.stringify([b.server ?? null, b.tool]);
      if (seen.has(key)) return false;
      seen.add(key);
    }
    return true;
  }, { message: "duplicate `(server, tool)` binding pairs are not allowed." });

const sharedMetadata = {
  tags: z.array(
    z.string().min(1).max(64).regex(/^[a-z0-9-]+$/, {
      message: "tag must be lowercase alphanumeric with hyphens only",
    }),
  ).max(20, { message: "at most 20 tags per artifact" }).optional(),
  author: authorSchema.optional(),
  license: z.string().min(1).optional(),
  homepage: z.url({ message: "homepage must be a valid http(s) URL" }).optional(),
  mcpTools: mcpToolsSchema.optional(),
};

const exportTeaching = {
  description: z.string().min(1).max(280),
  usage: z.string().min(1),
  example: jsonValue,
  gotchas: z.string().optional(),
};

/** One export of a gadget package: a hook or a component, with its teaching text. */
export const GadgetExportSchema = z.union([
  z.strictObject({
    hook: z.string().regex(/^use[A-Z][A-Za-z0-9]*$/, {
      message: "hook must be `use`-prefixed camelCase (e.g. `useLeafletMap`).",
    }),
    ...exportTeaching,
  }),
  z.strictObject({
    component: z.string().regex(/^[A-Z][A-Za-z0-9]*$/, {
      message: "component must be PascalCase (e.g. `MapView`).",
    }),
    ...exportTeaching,
  }),
]);

/** `ggui.gadget.json`: a pre-built ESM bundle's manifest. */
export const GadgetManifestSchema = z.strictObject({
  kind: z.literal("gadget"),
  scope: scopeSchema,
  name: z.string().regex(NAME_RE, {
    message:
      "name must be kebab-case (lowercase alphanumerics + hyphens, 2-64 chars, no leading/trailing hyphen, no `@` prefix — scope is a separate field).",
  }),
  version: versionSchema,
  exports: z.array(GadgetExportSchema).min(1, {
    message: "a gadget package must declare at least one export.",
  }),
  bundle: z.string().min(1),
  visibility: visibilitySchema,
  description: z.string().min(1).max(280),
  style: z.string().min(1).optional(),
  requires: z.array(z.string().regex(/^GGUI_PUBLIC_APP_[A-Z0-9_]+$/)).optional(),
  peerDeps: z.record(z.string().min(1), z.string().min(1)).optional(),
  bundleHost: z.string().regex(/^[a-z0-9.-]+(:\d+)?$/).optional(),
  ...sharedMetadata,
  connect: z.array(z.string().min(1)).optional(),
});
/** The metadata both manifest kinds may carry. */
export interface SharedMetadata {
  /** Up to 20 lowercase tags. */
  tags?: string[];
  /** Who wrote it. */
  author?: { name: string; email?: string; url?: string };
  /** License identifier. */
  license?: string;
  /** Project URL. */
  homepage?: string;
  /** Declared MCP tool bindings (1–16). */
  mcpTools?: McpToolBinding[];
}

/** One export of a gadget package: a hook or a component, with its teaching text. */
export type GadgetExport =
  & ({ hook: string } | { component: string })
  & { description: string; usage: string; example: JsonValue; gotchas?: string };

/** A parsed `ggui.gadget.json`. */
export interface GadgetManifest extends SharedMetadata {
  /** The discriminator. */
  kind: "gadget";
  /** `@scope`. */
  scope: string;
  /** Package name. */
  name: string;
  /** SemVer 2.0. */
  version: string;
  /** At least one hook or component. */
  exports: GadgetExport[];
  /** Source entry path. */
  bundle: string;
  /** Who may read it. */
  visibility: "public" | "private";
  /** Package summary (1–280). */
  description: string;
  /** CSS entry path. */
  style?: string;
  /** `GGUI_PUBLIC_APP_*` keys the gadget reads. */
  requires?: string[];
  /** Allowed import roots, name → range. */
  peerDeps?: Record<string, string>;
  /** Author-default registry host. */
  bundleHost?: string;
  /** URLs the gadget may connect to. */
  connect?: string[];
}

// The protocol's DataContract: passthrough at the top, strict wrappers inside,
// JSON Schema bodies deliberately open.
const jsonSchema: z.ZodType<unknown> = z.lazy(() =>
  z.looseObject({
    type: z.enum(["string", "number", "integer", "boolean", "array", "object", "null"])
      .optional(),
    description: z.string().optional(),
    enum: z.array(jsonValue).optional(),
    default: jsonValue.optional(),
    example: jsonValue.optional(),
    items: jsonSchema.optional(),
    properties: z.record(z.string(), jsonSchema).optional(),
    required: z.array(z.string()).optional(),
    additionalProperties: z.union([jsonSchema, z.boolean()]).optional(),
    format: z.string().optional(),
  })
);
const propEntrySchema = z.strictObject({
  description: z.string().optional(),
  schema: jsonSchema,
  required: z.boolean().optional(),
  default: jsonValue.optional(),
  example: jsonValue.optional(),
  sourceTool: z.string().optional(),
});
const streamChannelSchema = z.strictObject({
  description: z.string().optional(),
  schema: jsonSchema,
  example: jsonValue.optional(),
  mode: z.enum(["append", "replace"]).optional(),
  replay: z.enum(["latest", "all", "none"]).optional(),
  complete: z.boolean().optional(),
  tool: z.string().optional(),
  source: z.strictObject({
    tool: z.string(),
    args: z.record(z.string(), jsonValue).optional(),
  }).optional(),
});
/** The DataContract a blueprint was designed for. */
export const DataContractSchema = z.looseObject({
  propsSpec: z.strictObject({
    description: z.string().optional(),
    properties: z.record(z.string(), propEntrySchema),
  }).optional(),
  actionSpec: z.record(
    z.string(),
    z.strictObject({
      description: z.string().optional(),
      label: z.string(),
      schema: jsonSchema.optional(),
      example: jsonValue.optional(),
      icon: z.string().optional(),
      confirm: z.boolean().optional(),
      nextStep: z.string().min(1).optional(),
    }),
  ).optional(),
  streamSpec: z.record(z.string(), streamChannelSchema).optional(),
  contextSpec: z.record(
    z.string(),
    z.strictObject({
      description: z.string().optional(),
      schema: jsonSchema,
      default: jsonValue.optional(),
      debounceMs: z.number().int().nonnegative().optional(),
      example: jsonValue.optional(),
    }),
  ).optional(),
  agentCapabilities: z.looseObject({
    tools: z.record(z.string(), z.record(z.string(), jsonValue)),
  }).optional(),
  clientCapabilities: z.record(z.string(), jsonValue).optional(),
});

/** `ggui.blueprint.json`: TSX source inline. */
export const BlueprintManifestSchema = z.strictObject({
  kind: z.literal("blueprint"),
  scope: scopeSchema,
  name: z.string().min(2).max(64).regex(NAME_RE, {
    message:
      "name must be 2-64 chars matching `^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$` (lowercase alphanumerics + hyphens, no underscores, no single-character names).",
  }),
  version: versionSchema,
  source: z.string().min(1),
  visibility: visibilitySchema,
  contract: DataContractSchema.optional(),
  fixtureProps: z.unknown().optional(),
  variance: z.strictObject({
    persona: z.string().optional(),
    aesthetic: z.string().optional(),
    context: z.record(z.string(), jsonValue).optional(),
    seedPrompt: z.string().optional(),
  }).optional(),
  intent: z.string().min(1).optional(),
  generatorProtocolVersion: z.string().min(1).optional(),
  toolIdentityCatalogHash: z.string().min(1).optional(),
  description: z.string().min(1).max(280).optional(),
  ...sharedMetadata,
});
/** The DataContract fields the registry reads (the rest passes through). */
export interface DataContract {
  /** The props the blueprint takes. */
  propsSpec?: {
    description?: string;
    properties: Record<string, { required?: boolean; sourceTool?: string; [key: string]: unknown }>;
  };
  /** Streamed channels. */
  streamSpec?: Record<
    string,
    { source?: { tool: string; [key: string]: unknown }; [key: string]: unknown }
  >;
  /** Everything else the protocol defines. */
  [key: string]: unknown;
}

/** A parsed `ggui.blueprint.json`. */
export interface BlueprintManifest extends SharedMetadata {
  /** The discriminator. */
  kind: "blueprint";
  /** `@scope`. */
  scope: string;
  /** Blueprint name. */
  name: string;
  /** SemVer 2.0. */
  version: string;
  /** TSX source with a default export. */
  source: string;
  /** Who may read it. */
  visibility: "public" | "private";
  /** The contract it was designed for. */
  contract?: DataContract;
  /** Sample props. */
  fixtureProps?: unknown;
  /** Variant-selection hints. */
  variance?: {
    persona?: string;
    aesthetic?: string;
    context?: Record<string, JsonValue>;
    seedPrompt?: string;
  };
  /** Author intent. */
  intent?: string;
  /** Stamped by the CLI before signing. */
  generatorProtocolVersion?: string;
  /** Tool catalog hash. */
  toolIdentityCatalogHash?: string;
  /** Summary (1–280). */
  description?: string;
}

/** Either manifest, discriminated on `kind`. */
export const ArtifactManifestSchema = z.discriminatedUnion("kind", [
  GadgetManifestSchema,
  BlueprintManifestSchema,
]);
/** A parsed artifact manifest. */
export type ArtifactManifest = GadgetManifest | BlueprintManifest;

// The interfaces above are the documented shapes; these fail `deno check` if
// the schemas ever produce something the interfaces do not describe.
const _gadgetShape = (m: z.infer<typeof GadgetManifestSchema>): GadgetManifest => m;
const _blueprintShape = (m: z.infer<typeof BlueprintManifestSchema>): BlueprintManifest => m;
void _gadgetShape;
void _blueprintShape;

/** One zod-style issue as it travels on the wire. */
export interface ManifestIssue {
  /** zod's issue code. */
  code: string;
  /** zod's message. */
  message: string;
  /** Where the issue is. */
  path: (string | number)[];
  /** zod's further fields (`expected`, `keys`, `format`…). */
  [key: string]: unknown;
}

/** The outcome of {@linkcode parseManifest}. */
export type ParseManifestResult =
  | { ok: true; manifest: ArtifactManifest }
  | { ok: false; issues: ManifestIssue[] };

/** Turn zod issues into plain JSON-safe objects (symbols in paths become strings). */
export function toWireIssues(issues: readonly z.core.$ZodIssue[]): ManifestIssue[] {
  return issues.map((issue) =>
    JSON.parse(JSON.stringify({
      ...issue,
      path: issue.path.map((p) => typeof p === "symbol" ? String(p) : p),
    })) as ManifestIssue
  );
}

/** The deepest nesting of arrays and objects a manifest may have. */
export const MAX_MANIFEST_DEPTH = 64;

/**
 * The path to an array or object nested deeper than `max` levels (the top
 * level is level 1); `null` when there is none. Measured without recursion,
 * so any depth is safe; the path is then found within `max` levels.
 */
function deepestPath(value: unknown, max: number): (string | number)[] | null {
  const values: object[] = [];
  const depths: number[] = [];
  if (value !== null && typeof value === "object") {
    values.push(value);
    depths.push(0);
  }
  let tooDeep = false;
  while (values.length > 0 && !tooDeep) {
    const v = values.pop()!;
    const depth = depths.pop()!;
    for (const item of Array.isArray(v) ? v : Object.values(v)) {
      if (item === null || typeof item !== "object") continue;
      if (depth + 1 >= max) tooDeep = true;
      values.push(item);
      depths.push(depth + 1);
    }
  }
  return tooDeep ? pathBelow(value, max) : null;
}

/** The path to a container at depth `max` under `value` (recursion at most `max` deep). */
function pathBelow(value: unknown, max: number): (string | number)[] | null {
  if (value === null || typeof value !== "object") return null;
  if (max === 0) return [];
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((item, i) => [i, item])
    : Object.entries(value);
  for (const [key, item] of entries) {
    const rest = pathBelow(item, max - 1);
    if (rest !== null) return [key, ...rest];
  }
  return null;
}

/**
 * Validate a manifest against the strict schema.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseManifest } from "./manifest.ts";
 * const r = parseManifest({ kind: "gadget" });
 * assert.ok(!r.ok && r.issues.length > 0);
 * ```
 */
export function parseManifest(value: unknown): ParseManifestResult {
  // The schema's free-form JSON values are checked recursively: refuse depths
  // that would exhaust the stack (and that no manifest needs) before it runs.
  const deep = deepestPath(value, MAX_MANIFEST_DEPTH);
  if (deep !== null) {
    return {
      ok: false,
      issues: [{
        code: "too_deep",
        message: `JSON nested more than ${MAX_MANIFEST_DEPTH} levels deep`,
        path: deep,
      }],
    };
  }
  const parsed = ArtifactManifestSchema.safeParse(value);
  if (parsed.success) return { ok: true, manifest: parsed.data as ArtifactManifest };
  return { ok: false, issues: toWireIssues(parsed.error.issues) };
}

/**
 * `JSON.stringify` after recursively sorting object keys by plain code-unit
 * comparison (arrays keep their order). Not RFC 8785: the original's exact
 * bytes, which blueprint signatures cover.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalJson } from "./manifest.ts";
 * assert.ok(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }) === '{"a":[{"c":2,"d":1}],"b":1}');
 * ```
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(canonicalSort(value));
}

function canonicalSort(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalSort);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const k of keys) out[k] = canonicalSort((value as Record<string, unknown>)[k]);
    return out;
  }
  return value;
}

/** The effective MCP tool bindings of a manifest, with where they came from. */
export interface ResolvedBindings {
  /** Declared on the manifest, or derived from a blueprint contract. */
  source: "declared" | "derived";
  /** The bindings. */
  bindings: McpToolBinding[];
}

/**
 * Declared `mcpTools` win; blueprints without them derive bare `{tool}`
 * entries from `propsSpec.properties[*].sourceTool` then
 * `streamSpec[*].source.tool` (valid names only, deduplicated, at most 16).
 * `undefined` when nothing declares or derives.
 */
export function resolveMcpToolBindings(manifest: ArtifactManifest): ResolvedBindings | undefined {
  if (manifest.mcpTools !== undefined) {
    return { source: "declared", bindings: manifest.mcpTools.map((b) => ({ ...b })) };
  }
  if (manifest.kind !== "blueprint" || manifest.contract === undefined) return undefined;
  const seen = new Set<string>();
  const tools: string[] = [];
  const add = (tool: unknown) => {
    if (typeof tool !== "string" || !MCP_NAME_RE.test(tool) || seen.has(tool)) return;
    seen.add(tool);
    tools.push(tool);
  };
  for (const entry of Object.values(manifest.contract.propsSpec?.properties ?? {})) {
    add(entry.sourceTool);
  }
  for (const entry of Object.values(manifest.contract.streamSpec ?? {})) add(entry.source?.tool);
  if (tools.length === 0) return undefined;
  return {
    source: "derived",
    bindings: tools.slice(0, MCP_MAX_BINDINGS).map((tool) => ({ tool })),
  };
}

/**
 * The search-entry fields of a version (kept in its row's facts so the
 * package's public summary can be recomputed from version rows alone).
 */
export interface SearchFacts {
  /** `gadget` or `blueprint`. */
  kind: "gadget" | "blueprint";
  /** Package description. */
  description?: string;
  /** Tags. */
  tags?: string[];
  /** First export's hook or component (gadgets). */
  hook?: string;
  /** Effective MCP tool bindings. */
  mcpTools?: McpToolBinding[];
  /** Where the bindings came from. */
  mcpToolsSource?: "declared" | "derived";
  /** `author.name`. */
  authorName?: string;
}

/** Project a manifest to its {@linkcode SearchFacts} (absent fields omitted). */
export function searchFactsOf(manifest: ArtifactManifest): SearchFacts {
  const facts: SearchFacts = { kind: manifest.kind };
  if (manifest.description !== undefined) facts.description = manifest.description;
  if (manifest.tags !== undefined) facts.tags = [...manifest.tags];
  if (manifest.kind === "gadget") {
    const first = manifest.exports[0];
    if (first) facts.hook = "hook" in first ? first.hook : first.component;
  }
  const bindings = resolveMcpToolBindings(manifest);
  if (bindings) {
    facts.mcpTools = bindings.bindings;
    facts.mcpToolsSource = bindings.source;
  }
  if (manifest.author?.name !== undefined) facts.authorName = manifest.author.name;
  return facts;
}

// The strict gadget catalog row a published gadget must project to (§5.4).
const catalogRowSchema = z.strictObject({
  package: z.string().regex(/^(?:@[a-z0-9][a-z0-9._-]*\/)?[a-z0-9][a-z0-9._-]*$/),
  version: z.string().regex(/^\d+\.\d+\.\d+(-[\w.]+)?(\+[\w.]+)?$/),
  bundleUrl: z.url(),
  bundleSri: z.string().regex(/^sha384-[A-Za-z0-9+/]+=*$/),
  exports: z.array(z.union([
    z.strictObject({
      hook: z.string().regex(/^use[A-Z][A-Za-z0-9]*$/),
      ...exportTeaching,
      permission: z.enum(["camera", "microphone", "geolocation", "clipboard-write"]).optional(),
    }),
    z.strictObject({
      component: z.string().regex(/^[A-Z][A-Za-z0-9]*$/),
      ...exportTeaching,
      permission: z.enum(["camera", "microphone", "geolocation", "clipboard-write"]).optional(),
    }),
  ])).min(1),
  connect: z.array(z.url()).optional(),
  requires: z.array(z.string().regex(/^GGUI_PUBLIC_APP_[A-Z0-9_]+$/)).optional(),
});

/** The outcome of {@linkcode checkCatalogProjection}. */
export type ProjectionResult =
  | { ok: true }
  | { ok: false; path: string; message: string; issues: ManifestIssue[] };

/**
 * Check that a gadget manifest projects to a valid catalog row: installs
 * project it that way, and a version that cannot be installed must not be
 * published (it could never be fixed).
 */
export function checkCatalogProjection(
  manifest: GadgetManifest,
  bundleSri: string,
): ProjectionResult {
  const row: Record<string, unknown> = {
    exports: manifest.exports,
    package: `${manifest.scope}/${manifest.name}`,
    version: manifest.version,
    bundleUrl: "https://registry.invalid/bundle.js",
    bundleSri,
  };
  if (manifest.connect !== undefined) row.connect = manifest.connect;
  if (manifest.requires !== undefined) row.requires = manifest.requires;
  const parsed = catalogRowSchema.safeParse(row);
  if (parsed.success) return { ok: true };
  const issues = toWireIssues(parsed.error.issues);
  const first = issues[0];
  const path = (first?.path ?? []).map(String).join(".");
  return {
    ok: false,
    path,
    issues,
    message: `manifest projects to an invalid gadget catalog row at \`${path}\`: ${
      first?.message ?? "schema violation"
    } — installs would reject this artifact, and published versions are immutable. Fix the field and republish.`,
  };
}
