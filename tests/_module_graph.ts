// The module graph of an entry point as `deno info --json` prints it, and the
// npm packages and local modules it reaches (all of them, or only through
// static imports: what runs before the entry point's first line). Used by
// tests/start_graph_test.ts and bench/startup.ts.
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

interface Dependency {
  specifier: string;
  code?: { specifier: string };
  isDynamic?: boolean;
}
/** The parts of `deno info --json` read here. */
export interface Graph {
  roots: string[];
  modules: { specifier: string; dependencies?: Dependency[] }[];
  redirects: Record<string, string>;
  npmPackages: Record<string, { name: string; dependencies: string[] }>;
}

/** `deno info --json` of one entry point (run from the repository root, so deno.json applies). */
export async function graphOf(path: string): Promise<Graph> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", path],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) throw new Error(new TextDecoder().decode(out.stderr));
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

/** The local modules a graph reaches; `staticOnly` follows static imports only. */
export function localModules(graph: Graph, staticOnly: boolean): Set<string> {
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const seen = new Set<string>();
  const queue = [...graph.roots];
  while (queue.length > 0) {
    const at = queue.pop()!;
    if (seen.has(at)) continue;
    seen.add(at);
    for (const dep of modules.get(at)?.dependencies ?? []) {
      if (staticOnly && dep.isDynamic) continue;
      const target = dep.code?.specifier;
      if (target?.startsWith("file:")) queue.push(graph.redirects[target] ?? target);
    }
  }
  return seen;
}

/** `npm:/name@1.2.3/sub` → `name@1.2.3`. */
function npmPackageOf(specifier: string): string | null {
  const m = /^npm:\/?((?:@[^/]+\/)?[^@/]+@[^/]+)/.exec(specifier);
  return m ? m[1]! : null;
}

/**
 * The npm packages a graph reaches, with the local modules that import each
 * directly; `staticOnly` follows static imports only (what runs before the
 * first line of main.ts).
 */
export function npmReached(graph: Graph, staticOnly: boolean): Map<string, string> {
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const direct = new Map<string, string>();
  for (const at of localModules(graph, staticOnly)) {
    for (const dep of modules.get(at)?.dependencies ?? []) {
      const target = dep.code?.specifier;
      if ((staticOnly && dep.isDynamic) || target === undefined) continue;
      const pkg = npmPackageOf(graph.redirects[target] ?? target);
      if (pkg !== null && !direct.has(pkg)) direct.set(pkg, at.replace(`file://${ROOT}`, ""));
    }
  }
  // Every package those pull in, named by the one that did.
  // Walked per version: two versions of one name (minipass 3 and 7) have different dependencies.
  const reached = new Map<string, string>();
  const walked = new Set<string>();
  const pending = [...direct].map(([pkg, via]) => [pkg, via] as const);
  while (pending.length > 0) {
    const [pkg, via] = pending.pop()!;
    if (walked.has(pkg)) continue;
    walked.add(pkg);
    const key = Object.keys(graph.npmPackages).find((k) => k === pkg || k.startsWith(`${pkg}_`));
    const entry = key === undefined ? undefined : graph.npmPackages[key];
    const name = entry?.name ?? pkg.slice(0, pkg.lastIndexOf("@"));
    if (!reached.has(name)) reached.set(name, via);
    for (const d of entry?.dependencies ?? []) pending.push([d.split("_")[0]!, `${via} → ${name}`]);
  }
  return reached;
}

/**
 * The `node:` modules a graph's local modules import, with the first local
 * module that imports each; `staticOnly` follows static imports only.
 */
export function nodeModulesReached(graph: Graph, staticOnly: boolean): Map<string, string> {
  const modules = new Map(graph.modules.map((m) => [m.specifier, m]));
  const found = new Map<string, string>();
  for (const at of [...localModules(graph, staticOnly)].sort()) {
    for (const dep of modules.get(at)?.dependencies ?? []) {
      if (staticOnly && dep.isDynamic) continue;
      const target = dep.code?.specifier ?? dep.specifier;
      if (target.startsWith("node:") && !found.has(target)) {
        found.set(target, at.replace(`file://${ROOT}`, ""));
      }
    }
  }
  return found;
}
