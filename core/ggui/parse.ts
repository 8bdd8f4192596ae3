/**
 * The code-level conformance gates (spec §5.2, gadget gates 2–4 and blueprint
 * gates 6–8), over `@babel/parser`: a pure-JS, synchronous ES/TSX parser with
 * no native binding and no WASM, so it runs under Deno with nothing but the
 * npm registry and no permission at all.
 *
 * What the gates read from a parse: every static import source (import
 * declarations, and also `export … from` re-exports and TypeScript
 * `import x = require()`, which the original let through), every dynamic
 * `import()` anywhere in the tree (found by an iterative walk, so a deeply
 * nested tree cannot overflow the stack here), and the exported names.
 *
 * Hostile input never crashes the server: a tree too deep for the parser's
 * own recursion ends in a caught `RangeError`, reported as the parse error of
 * its gate; bundle text over 5 MiB is refused before parsing.
 *
 * @module
 */
import { parse } from "@babel/parser";
import type { ConformanceError } from "./conformance_codes.ts";
import type { BlueprintManifest, GadgetManifest } from "./manifest.ts";
import { type WarmWorker, warmWorker } from "./_warm_worker.ts";

/** The imports every artifact may use (blueprints may use nothing else). */
export const ALWAYS_ALLOWED_IMPORTS: ReadonlySet<string> = new Set([
  "react",
  "react-dom",
  "react/jsx-runtime",
  "@ggui-ai/gadgets",
]);

/** The largest gadget bundle text the gate parses: 5 MiB of UTF-8 (the publish limit). */
export const MAX_BUNDLE_TEXT_BYTES = 5 * 1024 * 1024;

/** A minimal view of a Babel AST node (only what the gates read). */
interface Node {
  type: string;
  start?: number | null;
  end?: number | null;
  [key: string]: unknown;
}

/** One import the walk found. */
interface FoundImport {
  /** The specifier, or `null` when it is not a plain literal (dynamic only). */
  source: string | null;
  /** The raw text of the specifier expression (dynamic imports). */
  raw?: string;
  /** Offset of the statement or `import(` expression. */
  start: number;
  /** Whether it is an `import()` expression. */
  dynamic: boolean;
}

/** What the gates need from a parsed module. */
export interface ModuleFacts {
  /** Every import, static and dynamic, in source order of discovery. */
  imports: FoundImport[];
  /** Whether the module has a default export (any form). */
  hasDefault: boolean;
  /** Every named export. */
  names: Set<string>;
}

/** A parse failure with a 1-based position. */
export interface ParseFailure {
  /** The parser's message. */
  message: string;
  /** 1-based line. */
  line: number;
  /** 1-based column (UTF-16 code units). */
  column: number;
  /** 0-based offset (UTF-16 code units). */
  offset: number;
}

/**
 * The 1-based line and column of an offset (lines end at LF only, as in the
 * original).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineColumn } from "./parse.ts";
 * const p = lineColumn("a\nbc", 3);
 * assert.ok(p.line === 2 && p.column === 2);
 * ```
 */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  const at = Math.max(0, Math.min(offset, text.length));
  let line = 1;
  let lineStart = 0;
  let i = text.indexOf("\n");
  while (i !== -1 && i < at) {
    line++;
    lineStart = i + 1;
    i = text.indexOf("\n", i + 1);
  }
  return { line, column: at - lineStart + 1 };
}

const SKIP_KEYS = new Set([
  "loc",
  "extra",
  "leadingComments",
  "trailingComments",
  "innerComments",
  "comments",
  "tokens",
]);

/**
 * Parse a module and read its imports and exports. Returns the failure of the
 * first syntax error instead of throwing; a stack overflow inside the parser
 * (absurdly deep nesting) is a failure too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readModule } from "./parse.ts";
 * const r = readModule("import x from 'react'; export default x;", { tsx: false });
 * assert.ok(r.ok && r.facts.hasDefault && r.facts.imports[0]?.source === "react");
 * ```
 */
export function readModule(
  text: string,
  options: { tsx: boolean },
): { ok: true; facts: ModuleFacts } | { ok: false; failure: ParseFailure } {
  let program: Node;
  try {
    const file = parse(text, {
      sourceType: "module",
      plugins: options.tsx ? ["jsx", "typescript"] : ["jsx"],
      errorRecovery: false,
      // `import()` as its own node type, so the walk needs no callee check.
      createImportExpressions: true,
      ranges: false,
    }) as unknown as { program: Node };
    program = file.program;
  } catch (err) {
    return { ok: false, failure: parseFailure(text, err) };
  }
  return { ok: true, facts: factsOf(text, program) };
}

function parseFailure(text: string, err: unknown): ParseFailure {
  if (err instanceof RangeError) {
    return {
      message: "source nests too deeply to parse (maximum call stack size exceeded)",
      line: 1,
      column: 1,
      offset: 0,
    };
  }
  const e = err as { message?: unknown; pos?: unknown };
  const offset = typeof e.pos === "number" ? e.pos : 0;
  const { line, column } = lineColumn(text, offset);
  // Babel appends " (line:column)" with a 0-based column; ours are in detail.
  const message = typeof e.message === "string"
    ? e.message.replace(/ \(\d+:\d+\)$/, "")
    : "syntax error";
  return { message, line, column, offset };
}

function literalSource(node: unknown): string | null {
  const n = node as Node | undefined;
  return n && n.type === "StringLiteral" && typeof n.value === "string" ? n.value : null;
}

/** The specifier of an `import()` argument: a plain literal, else `null` (§5.2 rule 3). */
function plainLiteral(raw: string): string | null {
  if (raw.length < 2) return null;
  const quote = raw[0];
  if (quote !== raw[raw.length - 1] || !(quote === '"' || quote === "'" || quote === "`")) {
    return null;
  }
  const inner = raw.slice(1, -1);
  if (inner.includes("\\") || inner.includes(quote)) return null;
  if (quote === "`" && inner.includes("${")) return null;
  return inner;
}

function addDeclaredNames(decl: Node, names: Set<string>): void {
  if (decl.type === "VariableDeclaration") {
    // Binding patterns: walk iteratively for every bound identifier.
    const stack: unknown[] = (decl.declarations as Node[]).map((d) => d.id);
    while (stack.length > 0) {
      const p = stack.pop() as Node | null;
      if (!p) continue;
      if (p.type === "Identifier") names.add(p.name as string);
      else if (p.type === "ObjectPattern") {
        for (const prop of p.properties as Node[]) {
          stack.push(prop.type === "RestElement" ? prop.argument : prop.value);
        }
      } else if (p.type === "ArrayPattern") stack.push(...(p.elements as unknown[]));
      else if (p.type === "AssignmentPattern") stack.push(p.left);
      else if (p.type === "RestElement") stack.push(p.argument);
    }
    return;
  }
  const id = decl.id as Node | null | undefined;
  if (id && id.type === "Identifier") names.add(id.name as string);
}

function exportedName(node: unknown): string | null {
  const n = node as Node;
  if (n.type === "Identifier") return n.name as string;
  return literalSource(n);
}

function factsOf(text: string, program: Node): ModuleFacts {
  const imports: FoundImport[] = [];
  const names = new Set<string>();
  let hasDefault = false;
  for (const stmt of program.body as Node[]) {
    const start = stmt.start ?? 0;
    switch (stmt.type) {
      case "ImportDeclaration":
        imports.push({ source: literalSource(stmt.source), start, dynamic: false });
        break;
      case "TSImportEqualsDeclaration": {
        const ref = stmt.moduleReference as Node;
        if (ref.type === "TSExternalModuleReference") {
          imports.push({ source: literalSource(ref.expression), start, dynamic: false });
        }
        break;
      }
      case "ExportDefaultDeclaration":
        hasDefault = true;
        break;
      case "ExportAllDeclaration":
        imports.push({ source: literalSource(stmt.source), start, dynamic: false });
        break;
      case "ExportNamedDeclaration": {
        if (stmt.source) {
          imports.push({ source: literalSource(stmt.source), start, dynamic: false });
        }
        if (stmt.declaration) addDeclaredNames(stmt.declaration as Node, names);
        for (const spec of (stmt.specifiers as Node[] | undefined) ?? []) {
          const name = exportedName(spec.exported);
          if (name === "default") hasDefault = true;
          else if (name !== null) names.add(name);
        }
        break;
      }
    }
  }
  // Dynamic imports can sit anywhere: walk the whole tree without recursion.
  // Skipped when the text cannot contain one (no `import` outside statements
  // is the common case for built bundles, and the walk is the costly part).
  if (/\bimport\b/.test(text)) {
    const stack: unknown[] = [program];
    while (stack.length > 0) {
      const value = stack.pop();
      if (value === null || typeof value !== "object") continue;
      if (Array.isArray(value)) {
        for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
        continue;
      }
      const node = value as Node;
      if (node.type === "ImportExpression") {
        const arg = node.source as Node;
        const raw = text.slice(arg.start ?? 0, arg.end ?? 0);
        imports.push({ source: plainLiteral(raw), raw, start: node.start ?? 0, dynamic: true });
      }
      for (const key in node) {
        if (SKIP_KEYS.has(key)) continue;
        const child = node[key];
        if (child !== null && typeof child === "object") stack.push(child);
      }
    }
  }
  return { imports, hasDefault, names };
}

/**
 * Whether an import is allowed for a gadget: the fixed four, a `peerDeps`
 * key, or a subpath of a `peerDeps` root (`pkg/x` → `pkg`, `@s/pkg/x` →
 * `@s/pkg`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isGadgetImportAllowed } from "./parse.ts";
 * const peers = new Set(["@s/pkg", "lib"]);
 * assert.ok(isGadgetImportAllowed("@s/pkg/x/y", peers) && isGadgetImportAllowed("lib/a", peers));
 * assert.ok(!isGadgetImportAllowed("@s/pkgx", peers) && !isGadgetImportAllowed("react-dom/server", peers));
 * ```
 */
export function isGadgetImportAllowed(source: string, peerDeps: ReadonlySet<string>): boolean {
  if (ALWAYS_ALLOWED_IMPORTS.has(source) || peerDeps.has(source)) return true;
  const parts = source.split("/");
  const root = source.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
  return root !== source && root.length > 0 && peerDeps.has(root);
}

function importErrors(
  text: string,
  imports: FoundImport[],
  options: {
    code: "disallowed_import" | "blueprint_disallowed_import";
    allowed: (source: string) => boolean;
    allowedText: string;
  },
): ConformanceError[] {
  const errors: ConformanceError[] = [];
  for (const imp of imports) {
    const { line, column } = lineColumn(text, imp.start);
    if (imp.source === null && imp.dynamic) {
      const raw = imp.raw ?? "";
      const shown = raw.length > 40 ? raw.slice(0, 37) + "..." : raw;
      errors.push({
        code: options.code,
        message:
          `dynamic import with a non-literal expression (\`import(${shown})\`) is not allowed — the static gate cannot verify the target against the allowlist. Inline the specifier as a string literal.`,
        detail: { source: "<dynamic-expression>", expression: raw, line, column },
      });
      continue;
    }
    const source = imp.source ?? "";
    if (options.allowed(source)) continue;
    errors.push({
      code: options.code,
      message: `${imp.dynamic ? "dynamic import" : "import"} source \`${source}\` is not in the ${
        options.code === "disallowed_import" ? "conformance allowlist" : "blueprint allowlist"
      }. ${options.allowedText}`,
      detail: { source, line, column },
    });
  }
  return errors;
}

function utf8Length(text: string): number {
  // Cheap upper bound first: a string of n code units is at most 3n bytes.
  if (text.length * 3 <= MAX_BUNDLE_TEXT_BYTES) return text.length;
  return new TextEncoder().encode(text).byteLength;
}

/**
 * Gadget gates 2–4 over the non-empty bundle text: parse as an ES module
 * (short-circuits), then every import against the allowlist plus `peerDeps`
 * and every manifest export against the bundle's exports (collected together).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gadgetCodeGates } from "./parse.ts";
 * const errors = gadgetCodeGates(
 *   { exports: [{ hook: "useMap" }] } as never,
 *   "import 'leaflet'; export function useMap() {}",
 * );
 * assert.ok(errors[0]?.code === "disallowed_import");
 * ```
 */
export function gadgetCodeGates(manifest: GadgetManifest, bundle: string): ConformanceError[] {
  const bytes = utf8Length(bundle);
  if (bytes > MAX_BUNDLE_TEXT_BYTES) {
    return [{
      code: "bundle_parse_error",
      message:
        `bundle is ${bytes} bytes; maximum is ${MAX_BUNDLE_TEXT_BYTES} bytes (5 MiB) — not parsed`,
      detail: { line: 1, column: 1, offset: 0 },
    }];
  }
  const read = readModule(bundle, { tsx: false });
  if (!read.ok) {
    const { message, line, column, offset } = read.failure;
    return [{ code: "bundle_parse_error", message, detail: { line, column, offset } }];
  }
  const { facts } = read;
  const peers = new Set(Object.keys(manifest.peerDeps ?? {}));
  const errors = importErrors(bundle, facts.imports, {
    code: "disallowed_import",
    allowed: (s) => isGadgetImportAllowed(s, peers),
    allowedText:
      "Allowed: `react`, `react-dom`, `react/jsx-runtime`, `@ggui-ai/gadgets`, plus any package declared in `peerDeps`.",
  });
  for (const exp of manifest.exports) {
    const isHook = "hook" in exp && typeof exp.hook === "string";
    const name = isHook ? exp.hook as string : (exp as { component: string }).component;
    if (facts.hasDefault || facts.names.has(name)) continue;
    errors.push({
      code: "missing_default_export",
      message: `bundle exports neither \`default\` nor a named export matching the manifest's ${
        isHook ? "hook" : "component"
      } "${name}"`,
      detail: { expectedHook: name },
    });
  }
  return errors;
}

/**
 * Blueprint gates 6–8 over the TSX source: syntax (short-circuits), then the
 * four-item import allowlist and the default export (collected together).
 * The size gate (5) runs before this in `checkConformance`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blueprintCodeGates } from "./parse.ts";
 * const errors = blueprintCodeGates({ source: "const A = () => <div/>; export { A };" } as never);
 * assert.ok(errors[0]?.code === "blueprint_missing_default_export");
 * ```
 */
export function blueprintCodeGates(manifest: BlueprintManifest): ConformanceError[] {
  const source = manifest.source;
  const read = readModule(source, { tsx: true });
  if (!read.ok) {
    const { message, line, column, offset } = read.failure;
    return [{ code: "blueprint_compile_error", message, detail: { line, column, offset } }];
  }
  const errors = importErrors(source, read.facts.imports, {
    code: "blueprint_disallowed_import",
    allowed: (s) => ALWAYS_ALLOWED_IMPORTS.has(s),
    allowedText:
      "Blueprints have no `peerDeps` channel; the only legal imports are `react`, `react-dom`, `react/jsx-runtime`, `@ggui-ai/gadgets`.",
  });
  if (!read.facts.hasDefault) {
    errors.push({
      code: "blueprint_missing_default_export",
      message:
        "blueprint source has no default export. The iframe runtime mounts the default export as the root component — a blueprint without one cannot render.",
    });
  }
  return errors;
}

/** Inputs up to this many UTF-16 code units are parsed inline (a few tens of ms at most). */
export const INLINE_PARSE_LIMIT = 128 * 1024;

/** How long an off-thread parse may run. */
export const PARSE_TIMEOUT_MS = 30_000;

/** How long an idle warm parser worker stays up before it closes itself. */
export const PARSER_IDLE_MS = 10_000;

let parser: WarmWorker<unknown, ConformanceError[]> | undefined;

/**
 * Run a parser gate in a worker (warm while busy, closed when idle), so a
 * large input never blocks the event loop (a 1 MiB TSX blueprint takes
 * ~0.4 s to parse) and a parse past the time limit is ended. A worker
 * failure fails the gate closed.
 */
export async function offThreadGates(
  request: { kind: "gadget"; manifest: GadgetManifest; bundle: string } | {
    kind: "blueprint";
    manifest: BlueprintManifest;
  },
  options: { timeoutMs?: number } = {},
): Promise<ConformanceError[]> {
  parser ??= warmWorker(new URL("./_parse_worker.ts", import.meta.url), {
    idleMs: PARSER_IDLE_MS,
  });
  const outcome = await parser.run(request, options.timeoutMs ?? PARSE_TIMEOUT_MS);
  if (outcome.ok) return outcome.reply;
  return [{
    code: request.kind === "gadget" ? "bundle_parse_error" : "blueprint_compile_error",
    message: `parsing ${outcome.message}`,
    detail: { line: 1, column: 1, offset: 0 },
  }];
}

/**
 * The parser gates, inline for small inputs and in a worker for large ones
 * (the async form `checkConformanceAsync` and publish use).
 */
export const asyncParserCodeGates: {
  gadget: (manifest: GadgetManifest, bundle: string) => Promise<ConformanceError[]>;
  blueprint: (manifest: BlueprintManifest) => Promise<ConformanceError[]>;
} = {
  gadget: (manifest, bundle) =>
    bundle.length <= INLINE_PARSE_LIMIT
      ? Promise.resolve(gadgetCodeGates(manifest, bundle))
      : offThreadGates({ kind: "gadget", manifest, bundle }),
  blueprint: (manifest) =>
    manifest.source.length <= INLINE_PARSE_LIMIT
      ? Promise.resolve(blueprintCodeGates(manifest))
      : offThreadGates({ kind: "blueprint", manifest }),
};

/**
 * The code-level gates as one `CodeGates` value (wired by default in `checkConformance`).
 */
export const parserCodeGates: {
  gadget: typeof gadgetCodeGates;
  blueprint: typeof blueprintCodeGates;
} = { gadget: gadgetCodeGates, blueprint: blueprintCodeGates };
