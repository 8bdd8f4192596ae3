// Serve this package in JSR's read layout from 127.0.0.1, as `deno publish`
// would have uploaded it: the files `deno publish` includes, with bare
// specifiers unfurled through deno.json's import map into `npm:` specifiers,
// plus the package and version metadata documents Deno reads.
import { sha256Hex } from "../core/digest.ts";

const ROOT = new URL("../", import.meta.url);
const SKIPPED = /(^|\/)(tests|bench|\.ci|\.tmp|registry-data|docs\/bench\.md)(\/|$)|_test\.ts$/;

/** The published file list: what git tracks, less `publish.exclude`. */
async function publishedFiles(): Promise<string[]> {
  const out = await new Deno.Command("git", {
    args: ["ls-files"],
    cwd: ROOT,
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((p) => p !== "" && !SKIPPED.test(p) && !p.startsWith("."));
}

/**
 * Rewrite bare specifiers of the import map into the targets they name, in
 * static and dynamic imports and `import.meta.resolve` calls, as `deno publish`
 * does (it calls this unfurling).
 */
export function unfurl(source: string, imports: Record<string, string>): string {
  const keys = Object.keys(imports).sort((a, b) => b.length - a.length);
  const map = (spec: string): string => {
    if (/^(\.|\/|node:|npm:|jsr:|https?:|file:|data:)/.test(spec)) return spec;
    for (const k of keys) {
      if (spec === k) return imports[k]!;
      if (spec.startsWith(k + "/")) return imports[k]! + spec.slice(k.length);
    }
    return spec;
  };
  return source
    .replace(
      /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\bimport\.meta\.resolve\(\s*)(["'])([^"'\n]+)\2/g,
      (_m, pre, q, spec) => `${pre}${q}${map(spec)}${q}`,
    );
}

/** A running fake JSR serving `@x/registry@<version>`. */
export async function serveJsrLayout(): Promise<{ url: string; close(): Promise<void> }> {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const [scope, name] = (config.name as string).slice(1).split("/") as [string, string];
  const version = config.version as string;
  const files = new Map<string, Uint8Array>();
  for (const path of await publishedFiles()) {
    let bytes = await Deno.readFile(new URL(path, ROOT));
    if (/\.(ts|tsx|js|mjs)$/.test(path)) {
      bytes = new TextEncoder().encode(unfurl(new TextDecoder().decode(bytes), config.imports));
    }
    files.set(`/${path}`, bytes);
  }
  const manifest = Object.fromEntries(
    [...files].map((
      [path, bytes],
    ) => [path, { size: bytes.byteLength, checksum: `sha256-${sha256Hex(bytes)}` }]),
  );
  const pkgMeta = { scope, name, latest: version, versions: { [version]: {} } };
  const versionMeta = { manifest, exports: config.exports };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const base = `/@${scope}/${name}`;
    if (path === `${base}/meta.json`) return Response.json(pkgMeta);
    if (path === `${base}/${version}_meta.json`) return Response.json(versionMeta);
    const file = path.startsWith(`${base}/${version}/`)
      ? files.get(path.slice(`${base}/${version}`.length))
      : undefined;
    if (file) return new Response(file as Uint8Array<ArrayBuffer>);
    return new Response("not found", { status: 404 });
  });
  return { url: `http://127.0.0.1:${server.addr.port}/`, close: () => server.shutdown() };
}
