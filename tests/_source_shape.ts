/**
 * Reads the repository's own source for the shape tests (`layering_test.ts`):
 * the files of a folder, their relative imports, and their long functions.
 *
 * @module
 */
import { parse } from "@babel/parser";

/** The repository root (this file sits in `tests/`). */
export const ROOT: string = new URL("../", import.meta.url).pathname;

/** Every `.ts`/`.tsx` file under `dir` (relative to the root), as root-relative paths. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of Deno.readDirSync(ROOT + rel)) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) out.push(path);
    }
  };
  walk(dir);
  return out.sort();
}

/** The specifiers a file imports or re-exports (static, dynamic and `import type`). */
export function importsOf(text: string): string[] {
  const specs: string[] = [];
  const re =
    /(?:^|\n)\s*(?:import|export)\b[^"';]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|(?:^|\n)\s*import\s*["']([^"']+)["']/g;
  for (const m of text.matchAll(re)) specs.push(m[1] ?? m[2] ?? m[3]!);
  return specs;
}

/** Root-relative path a relative specifier of `file` points at; bare specifiers as they are. */
export function resolveSpecifier(file: string, spec: string): string {
  if (!spec.startsWith(".")) return spec;
  return new URL(spec, `file:///${file}`).pathname.slice(1);
}

/** A function longer than the limit. */
export interface LongFunction {
  /** `path:line`. */
  where: string;
  /** Its name when it has one (declarations, methods, `const f = () => …`). */
  name: string;
  /** Lines from its first to its last, both counted. */
  lines: number;
}

type Node = {
  type: string;
  loc?: { start: { line: number }; end: { line: number } };
  id?: { name?: string } | null;
  key?: { name?: string } | null;
  [key: string]: unknown;
};

const FUNCTION_TYPES = new Set([
  "FunctionDeclaration",
  "FunctionExpression",
  "ArrowFunctionExpression",
  "ObjectMethod",
  "ClassMethod",
  "ClassPrivateMethod",
]);

/** The functions of one source text longer than `limit` lines. */
export function longFunctions(path: string, text: string, limit: number): LongFunction[] {
  const ast = parse(text, {
    sourceType: "module",
    plugins: ["typescript", ...(path.endsWith(".tsx") ? ["jsx" as const] : [])],
  });
  const found: LongFunction[] = [];
  const visit = (node: unknown, name: string) => {
    if (Array.isArray(node)) return node.forEach((n) => visit(n, name));
    if (!node || typeof node !== "object" || typeof (node as Node).type !== "string") return;
    const n = node as Node;
    const own = n.id?.name ?? n.key?.name ?? name;
    if (FUNCTION_TYPES.has(n.type) && n.loc) {
      const lines = n.loc.end.line - n.loc.start.line + 1;
      if (lines > limit) found.push({ where: `${path}:${n.loc.start.line}`, name: own, lines });
    }
    const childName = n.type === "VariableDeclarator" ? ((n.id as Node)?.name as string) : own;
    for (const [key, value] of Object.entries(n)) {
      if (key !== "loc" && key !== "leadingComments" && key !== "trailingComments") {
        visit(value, childName);
      }
    }
  };
  visit(ast.program, "(anonymous)");
  return found;
}

/** One import rule: files under `from` may not import what `forbids` matches. */
export interface ImportRule {
  /** What the rule says, for failure messages. */
  name: string;
  /** Whether a (root-relative) file is bound by the rule. */
  from: (file: string) => boolean;
  /** Whether a resolved import of `file` breaks the rule. */
  forbids: (target: string, file: string) => boolean;
}

/** Every import of `files` (path → text) that breaks a rule, as `rule: file -> target`. */
export function importViolations(
  files: ReadonlyMap<string, string>,
  rules: readonly ImportRule[],
): string[] {
  const found: string[] = [];
  for (const [file, text] of files) {
    for (const spec of importsOf(text)) {
      const target = resolveSpecifier(file, spec);
      for (const rule of rules) {
        if (rule.from(file) && rule.forbids(target, file)) {
          found.push(`${rule.name}: ${file} -> ${spec}`);
        }
      }
    }
  }
  return found;
}

/** Pairs of files that import each other (`a <-> b`, each pair once). */
export function twoFileCircles(files: ReadonlyMap<string, string>): string[] {
  const edges = new Map<string, Set<string>>();
  for (const [file, text] of files) {
    const targets = importsOf(text).filter((s) => s.startsWith("."));
    edges.set(file, new Set(targets.map((s) => resolveSpecifier(file, s))));
  }
  const found: string[] = [];
  for (const [a, targets] of edges) {
    for (const b of targets) {
      if (a < b && edges.get(b)?.has(a)) found.push(`${a} <-> ${b}`);
    }
  }
  return found;
}
