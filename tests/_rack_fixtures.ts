// Fixtures for the Rack surface: real ustar tar.gz bytes written by hand (so
// tests can build what a well-behaved packer refuses: `../` names, absolute
// paths, symlinks, hard links, devices), registry items, multipart bodies and
// a ready app over memory storage.
import { Hono } from "hono";
import { sha256Hex } from "../base/digest.ts";
import type { RegistryContext } from "../core/context.ts";
import { parseAuthConfig, type RackAuth } from "../core/rack/auth.ts";
import type { WebhookSubscription } from "../core/rack/webhooks.ts";
import type { ExtractLimits } from "../core/rack/extract.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";
import { createRackRoutes } from "../routes/rack/mod.ts";

const encoder = new TextEncoder();

/** One tar entry to write. */
export type TarEntrySpec =
  | { path: string; content: string | Uint8Array; type?: "file"; mode?: number }
  | { path: string; type: "directory" }
  | { path: string; type: "symlink" | "link"; target: string }
  | { path: string; type: "char-device" | "block-device" | "fifo" };

/** Options of {@linkcode makeTarball}. */
export interface TarballOptions {
  /** Entries written after `files` (unsafe ones, directories…). */
  extra?: TarEntrySpec[];
  /** Write plain tar, not gzip. */
  gzip?: boolean;
  /** Drop this many bytes from the end of the result (a truncated upload). */
  truncateBy?: number;
  /** Prefix every path (e.g. `./`, as `tar -C dir .` writes). */
  prefix?: string;
}

const TYPEFLAG = {
  file: "0",
  link: "1",
  symlink: "2",
  "char-device": "3",
  "block-device": "4",
  directory: "5",
  fifo: "6",
} as const;

/** A 512-byte ustar header. */
export function tarHeader(
  name: string,
  options: { type?: keyof typeof TYPEFLAG; size?: number; linkname?: string; mode?: number } = {},
): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number, len: number) =>
    h.set(encoder.encode(s).subarray(0, len), off);
  let prefix = "";
  let base = name;
  if (encoder.encode(name).length > 100) {
    const cut = name.lastIndexOf("/", 155);
    if (cut <= 0) throw new RangeError(`Cannot write tar name '${name}'`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  const type = options.type ?? "file";
  put(base, 0, 100);
  put(
    (options.mode ?? (type === "directory" ? 0o755 : 0o644)).toString(8).padStart(7, "0") + "\0",
    100,
    8,
  );
  put("0000000\0", 108, 8);
  put("0000000\0", 116, 8);
  put((options.size ?? 0).toString(8).padStart(11, "0") + "\0", 124, 12);
  put("14000000000\0", 136, 12);
  put("        ", 148, 8);
  put(TYPEFLAG[type], 156, 1);
  put(options.linkname ?? "", 157, 100);
  put("ustar\0", 257, 6);
  put("00", 263, 2);
  put(prefix, 345, 155);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, "0") + "\0 ", 148, 8);
  return h;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/** Gzip bytes with the platform's CompressionStream. */
export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Real tar.gz bytes: `files` maps paths to contents (or is a list of entries),
 * `options.extra` appends any entry type, including unsafe ones.
 */
export async function makeTarball(
  files: Record<string, string | Uint8Array> | TarEntrySpec[],
  options: TarballOptions = {},
): Promise<Uint8Array> {
  const entries: TarEntrySpec[] = Array.isArray(files)
    ? [...files]
    : Object.entries(files).map(([path, content]) => ({ path, content }));
  entries.push(...(options.extra ?? []));
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const name = (options.prefix ?? "") + e.path;
    if (e.type === undefined || e.type === "file") {
      const body = typeof e.content === "string" ? encoder.encode(e.content) : e.content;
      parts.push(tarHeader(name, { size: body.byteLength, ...(e.mode ? { mode: e.mode } : {}) }));
      parts.push(body, new Uint8Array((512 - (body.byteLength % 512)) % 512));
    } else if (e.type === "symlink" || e.type === "link") {
      parts.push(tarHeader(name, { type: e.type, linkname: e.target }));
    } else {
      parts.push(tarHeader(name, { type: e.type }));
    }
  }
  parts.push(new Uint8Array(1024));
  const tar = concat(parts);
  let out = options.gzip === false ? tar : await gzip(tar);
  if (options.truncateBy) out = out.slice(0, out.byteLength - options.truncateBy);
  return out;
}

/** A valid registry item (registry.json) with overrides. */
export function makeItem(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: "husky",
    namespace: "@rack",
    type: "registry:quality",
    version: "1.0.0",
    priority: 10,
    description: "Git hooks",
    files: [
      { path: "templates/.husky/commit-msg", target: ".husky/commit-msg", type: "registry:config" },
      { path: "templates/setup.ts", target: "scripts/setup.ts", type: "registry:script" },
    ],
    ...overrides,
  };
}

/** Default template files matching {@linkcode makeItem}. */
export const TEMPLATE_FILES: Record<string, string> = {
  "templates/.husky/commit-msg": '#!/bin/sh\nnpx commitlint --edit "$1"\n',
  "templates/setup.ts": "export const hooks = ['commit-msg'];\n",
};

/** A package tarball: registry.json plus files. */
export function makePackage(
  options: {
    item?: Record<string, unknown>;
    files?: Record<string, string | Uint8Array>;
    tar?: TarballOptions;
  } = {},
): Promise<Uint8Array> {
  const item = options.item ?? makeItem();
  return makeTarball(
    { "registry.json": JSON.stringify(item, null, 2), ...(options.files ?? TEMPLATE_FILES) },
    options.tar,
  );
}

/** Options of {@linkcode uploadRequest}. */
export interface UploadRequestOptions {
  /** Sent as `Authorization: Bearer`. */
  token?: string;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** The checksum field (default: the real digest; `null` to omit). */
  checksum?: string | null;
  /** Put the checksum field before the file part. */
  checksumFirst?: boolean;
  /** The file part's field name. */
  field?: string;
  /** The file part's content type. */
  type?: string;
  /** Base URL. */
  url?: string;
}

/** A `POST /registries` multipart request, as curl -F would send it. */
export function uploadRequest(archive: Uint8Array, options: UploadRequestOptions = {}): Request {
  const form = new FormData();
  const checksum = options.checksum === undefined ? sha256Hex(archive) : options.checksum;
  if (options.checksumFirst && checksum !== null) form.append("checksum", checksum);
  form.append(
    options.field ?? "file",
    new File([archive as BlobPart], "pkg.tar.gz", { type: options.type ?? "application/gzip" }),
  );
  if (!options.checksumFirst && checksum !== null) form.append("checksum", checksum);
  const headers = new Headers(options.headers);
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  return new Request(`${options.url ?? "http://localhost"}/registries`, {
    method: "POST",
    body: form,
    headers,
  });
}

/** A streamed multipart body: text fields, then one file part whose bytes come from `file`. */
export function multipartStream(
  options: {
    boundary: string;
    fields?: Record<string, string>;
    file: ReadableStream<Uint8Array>;
    type?: string;
  },
): ReadableStream<Uint8Array> {
  const head = encoder.encode(
    Object.entries(options.fields ?? {}).map(([k, v]) =>
      `--${options.boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`
    ).join("") +
      `--${options.boundary}\r\nContent-Disposition: form-data; name="file"; filename="pkg.tar.gz"\r\n` +
      `Content-Type: ${options.type ?? "application/gzip"}\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${options.boundary}--\r\n`);
  const reader = options.file.getReader();
  let stage = 0;
  return new ReadableStream<Uint8Array>({
    async pull(c) {
      if (stage === 0) {
        stage = 1;
        return c.enqueue(head);
      }
      if (stage === 1) {
        const r = await reader.read();
        if (!r.done) return c.enqueue(r.value);
        stage = 2;
        return c.enqueue(tail);
      }
      c.close();
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

/** A Rack test environment: memory storage, an auth.json, the routes in a Hono app. */
export interface RackTestEnv {
  /** The app with the Rack routes mounted at `/`. */
  app: Hono;
  /** The storage context. */
  ctx: RegistryContext;
  /** Replace the auth configuration (as a file change would). */
  setAuth(json: unknown): void;
}

/** The default auth.json of the tests. */
export const AUTH_JSON = {
  "@rack": [],
  "@company": [
    { token: "ci-token", publish: true, mark: "CI" },
    { token: "dev-token", mark: "developers" },
    { token: "old-token", publish: true, expiresAt: "2020-01-01T00:00:00Z" },
  ],
  "@other": [{ token: "other-token", publish: true }],
};

/** The admin token of the tests. */
export const ADMIN = "admin-secret";

/** Build a Rack app over fresh memory storage. */
export function makeRackEnv(
  options: {
    auth?: unknown;
    now?: () => Date;
    subscriptions?: WebhookSubscription[];
    maxUploadBytes?: number;
    limits?: Partial<ExtractLimits>;
    schemaDir?: string;
  } = {},
): RackTestEnv {
  const ctx: RegistryContext = {
    storage: new MemoryRegistryStorage(),
    bundles: new MemoryBundleStorage(),
    clock: options.now ?? (() => new Date()),
  };
  let auth: RackAuth =
    parseAuthConfig(JSON.stringify(options.auth ?? AUTH_JSON), { adminToken: ADMIN }).auth;
  const routes = createRackRoutes({
    ctx,
    auth: () => Promise.resolve(auth),
    ...(options.subscriptions ? { subscriptions: options.subscriptions } : {}),
    ...(options.maxUploadBytes ? { maxUploadBytes: options.maxUploadBytes } : {}),
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.schemaDir ? { schemaDir: options.schemaDir } : {}),
    log: () => {},
  });
  const app = new Hono();
  app.route("/", routes);
  return {
    app,
    ctx,
    setAuth(json) {
      auth = parseAuthConfig(JSON.stringify(json), { adminToken: ADMIN }).auth;
    },
  };
}

/**
 * Upload a Rack archive file the way the Rack CLI's users do: `curl -F` with
 * the archive and its checksum, bearing `token`. Answers the HTTP status and
 * the body curl printed.
 */
export async function curlRackUpload(
  url: string,
  token: string,
  archivePath: string,
  checksum: string,
): Promise<{ status: string; body: string }> {
  const out = await new Deno.Command("curl", {
    args: [
      "-sS",
      "-X",
      "POST",
      `${url}/registries`,
      "-H",
      `Authorization: Bearer ${token}`,
      "-F",
      `file=@${archivePath}`,
      "-F",
      `checksum=${checksum}`,
      "-w",
      "\n%{http_code}",
    ],
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const cut = text.lastIndexOf("\n");
  return { status: text.slice(cut + 1), body: text.slice(0, Math.max(cut, 0)) };
}
