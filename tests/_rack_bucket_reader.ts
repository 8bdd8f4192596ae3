// A stand-in for Rack's read Worker: it serves Rack's GET routes from the
// bucket alone, in Rack's key layout (versions.json, <version>/registry.json,
// template files, presets, schema/<file>, .auth/auth.json), as the original Worker does —
// latest is versions[0], auth comes from the bucket's .auth/auth.json. It
// knows nothing of the registry's store: what it serves, the mirror wrote.
import { canRead, extractToken, identifyCaller, parseAuthConfig } from "../core/rack/auth.ts";
import { rackMimeType } from "../core/rack/mime.ts";
import { parseRegistryPath } from "../core/rack/paths.ts";
import type { S3BundleStorage } from "../storage/s3.ts";
import { bucketKeys, objectBytes } from "./_bucket.ts";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

const notFound = () => json(404, { code: "NOT_FOUND", message: "Resource not found" });

/** The Worker's reads over `bucket`. */
export function bucketReader(
  bucket: S3BundleStorage,
  options: { adminToken?: string } = {},
): (req: Request) => Promise<Response> {
  const object = (key: string) => objectBytes(bucket, key);
  const serve = async (key: string, type = rackMimeType(key)) => {
    const bytes = await object(key);
    return bytes
      ? new Response(bytes as BlobPart, { headers: { "content-type": type } })
      : notFound();
  };
  const access = async (req: Request) => {
    const text = new TextDecoder().decode(await object(".auth/auth.json") ?? new Uint8Array());
    const { auth } = parseAuthConfig(text || null, options);
    const caller = identifyCaller(auth, extractToken(req.headers));
    return (ns: string) => canRead(auth, ns, { caller, now: new Date() });
  };
  const keys = (prefix: string) => bucketKeys(bucket, prefix);
  return async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    const allowed = await access(req);
    if (path === "/namespaces") {
      const all = new Set((await keys("@")).map((k) => k.split("/")[0]!));
      return json(200, { namespaces: [...all].sort().filter(allowed) });
    }
    const listing = /^\/namespaces\/(@[^/]+)\/registries$/.exec(path);
    if (listing) {
      const ns = listing[1]!;
      if (!allowed(ns)) return json(403, { code: "FORBIDDEN", message: "no" });
      const registries = (await keys(`${ns}/`)).filter((k) => k.endsWith("/versions.json"))
        .map((k) => k.slice(ns.length + 1, -"/versions.json".length)).sort();
      return json(200, { namespace: ns, registries });
    }
    const schema = /^\/schemas\/(rack|preset|registry-item)\.json$/.exec(path);
    if (schema) return await serve(`schema/${schema[1]}.json`, "application/json");
    const preset = /^\/presets\/([a-z0-9-]+)$/.exec(path);
    if (preset) return await serve(`presets/${preset[1]}/preset.json`, "application/json");
    if (!path.startsWith("/registries/")) return notFound();
    const r = parseRegistryPath(path.slice("/registries/".length));
    if (!allowed(r.namespace)) return json(401, { code: "UNAUTHORIZED", message: "no" });
    const base = `${r.namespace}/${r.segments.join("/")}`;
    switch (r.kind) {
      case "versions":
        return await serve(`${base}/versions.json`);
      case "latest": {
        const list = await object(`${base}/versions.json`);
        const first = list && (JSON.parse(new TextDecoder().decode(list)).versions?.[0] as string);
        return first ? await serve(`${base}/${first}/registry.json`) : notFound();
      }
      case "versioned":
        return await serve(`${base}/${r.version}/registry.json`);
      case "file":
        return await serve(`${base}/${r.version}/${r.filePath}`);
    }
  };
}
