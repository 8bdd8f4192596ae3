// What the stock clients do to install, step for step as the wire specs
// describe them (`ggui-wire.md` §13 and §6, `rack-wire.md` §12), over a real
// server. Written apart from the registry's own code: every digest and
// signature check here uses WebCrypto directly, so a bug shared with the
// server's verifier cannot hide.

/** Standard padded base64 of bytes. */
function base64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unbase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

async function digest(algorithm: "SHA-256" | "SHA-384", bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(algorithm, bytes as BufferSource));
}

/** A client-side failure, worded as the CLI words it. */
export class InstallError extends Error {}

/** What a ggui install fetched and checked. */
export interface GguiInstalled {
  manifest: Record<string, unknown>;
  /** The gadget's bundle (checked against `bundleSri` and its signature), or the blueprint's compiled bytes. */
  code: Uint8Array;
  /** Whether an Ed25519 signature was verified. */
  signatureVerified: boolean;
}

/**
 * `ggui <kind> install <@scope/name>@<version> --registry=<url>`: read the
 * version (scope without `@`, segments URI-encoded, `accept: application/json`),
 * fetch the bundle from the `bundleUrl` it names, check `bundleSri`, fetch the
 * envelope from `signatureUrl` and verify it under `authorPublicKey` (SHA-384 of
 * the bundle equals `bundleSha384`, the key's id equals `publicKeyId`, Ed25519
 * over the 48 digest bytes). The stock CLI sends no credentials; `token` is for
 * private artifacts, which it cannot install from the original either.
 */
export async function gguiInstall(
  registry: string,
  ref: { artifactId: string; version: string },
  options: { token?: string } = {},
): Promise<GguiInstalled> {
  const [scope, name] = ref.artifactId.split("/");
  const headers: Record<string, string> = options.token
    ? { authorization: `Bearer ${options.token}` }
    : {};
  const path = [scope!.replace(/^@/, ""), name!, ref.version].map(encodeURIComponent).join("/");
  const res = await fetch(`${registry.replace(/\/+$/, "")}/pkg/${path}`, {
    headers: { accept: "application/json", ...headers },
  });
  if (res.status === 404) {
    await res.body?.cancel();
    throw new InstallError(`${ref.artifactId}@${ref.version} not found (or not visible)`);
  }
  if (res.status === 410) {
    await res.body?.cancel();
    throw new InstallError(`${ref.artifactId}@${ref.version} was yanked`);
  }
  if (res.status !== 200) throw new InstallError(`HTTP ${res.status}: ${await res.text()}`);
  const body = await res.json() as Record<string, unknown>;
  const manifest = body.manifest as Record<string, unknown>;
  if (typeof manifest !== "object" || manifest === null) throw new InstallError("no manifest");
  if (typeof body.publishedAt !== "string" || typeof body.publishedBy !== "string") {
    throw new InstallError("no publishedAt or publishedBy");
  }
  if (manifest.kind === "blueprint") {
    // The CLI installs blueprints without a signature check (no signatureUrl); we also check the digest.
    const code = unbase64(String(body.compiledBytes ?? ""));
    const hex = [...await digest("SHA-256", code)].map((b) => b.toString(16).padStart(2, "0"))
      .join("");
    if (hex !== body.compiledDigest) throw new InstallError("compiledDigest mismatch");
    return { manifest, code, signatureVerified: false };
  }
  if (typeof body.bundleUrl !== "string") throw new InstallError("no bundleUrl");
  const bundleRes = await fetch(body.bundleUrl, { headers });
  if (bundleRes.status !== 200) throw new InstallError(`bundle: HTTP ${bundleRes.status}`);
  const bundle = new Uint8Array(await bundleRes.arrayBuffer());
  const sha384 = await digest("SHA-384", bundle);
  if (`sha384-${base64(sha384)}` !== body.bundleSri) throw new InstallError("bundleSri mismatch");
  if (typeof body.signatureUrl !== "string") {
    return { manifest, code: bundle, signatureVerified: false };
  }
  const envelope = await (await fetch(body.signatureUrl, { headers })).json() as Record<
    string,
    string
  >;
  if (envelope.algorithm !== "ed25519") throw new InstallError("not an ed25519 envelope");
  if (typeof body.authorPublicKey !== "string") throw new InstallError("no authorPublicKey");
  if (envelope.bundleSha384 !== base64(sha384)) throw new InstallError("bundle hash mismatch");
  const raw = unbase64(body.authorPublicKey);
  const keyId = base64(await digest("SHA-256", raw)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "").slice(0, 16);
  if (keyId !== envelope.publicKeyId) throw new InstallError("signed by another key");
  const key = await crypto.subtle.importKey(
    "raw",
    raw as BufferSource,
    { name: "Ed25519" },
    false,
    [
      "verify",
    ],
  );
  const valid = await crypto.subtle.verify(
    { name: "Ed25519" },
    key,
    unbase64(envelope.signature!) as BufferSource,
    sha384 as BufferSource,
  );
  if (!valid) throw new InstallError("signature does not verify");
  return { manifest, code: bundle, signatureVerified: true };
}

/** The declared file paths of a registry item, as the CLI normalizes them (no leading `./`). */
function declaredFiles(item: Record<string, unknown>): string[] {
  const paths: string[] = [];
  const add = (files: unknown) => {
    for (const f of Array.isArray(files) ? files : []) {
      if (typeof f?.path === "string") paths.push(f.path.replace(/^(\.\/)+/, ""));
    }
  };
  add(item.files);
  for (const lang of Object.values((item.languages ?? {}) as Record<string, { files?: unknown }>)) {
    add(lang?.files);
  }
  return [...new Set(paths)];
}

/**
 * `rk add @ns/<path>[@version]`: read the registry item (raw `@` in the URL,
 * `Authorization: Bearer` when the `.rackrc` entry has a token), which must
 * carry `name`, `version` and `type`; then read every declared file as raw
 * bytes from the versioned URL (for an unversioned request, the returned
 * version is appended). Answers the item and the files by path.
 */
export async function rackInstall(
  registry: string,
  ref: { id: string; version?: string },
  options: { token?: string } = {},
): Promise<{ item: Record<string, unknown>; files: Map<string, Uint8Array> }> {
  const headers: Record<string, string> = options.token
    ? { authorization: `Bearer ${options.token}` }
    : {};
  const base = `${registry.replace(/\/+$/, "")}/registries/${ref.id}`;
  const res = await fetch(ref.version ? `${base}/${ref.version}` : base, { headers });
  if (res.status === 404) {
    await res.body?.cancel();
    throw new InstallError(`${ref.id} not found`);
  }
  if (res.status !== 200) throw new InstallError(`HTTP ${res.status}: ${await res.text()}`);
  const item = await res.json() as Record<string, unknown>;
  for (const field of ["name", "version", "type"]) {
    if (typeof item[field] !== "string") throw new InstallError(`registry item lacks ${field}`);
  }
  const files = new Map<string, Uint8Array>();
  for (const path of declaredFiles(item)) {
    const file = await fetch(`${base}/${item.version}/files/${path}`, { headers });
    if (file.status !== 200) throw new InstallError(`${path}: HTTP ${file.status}`);
    files.set(path, new Uint8Array(await file.arrayBuffer()));
  }
  return { item, files };
}
