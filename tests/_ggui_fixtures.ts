// Fixture factories for ggui tests: real Ed25519 keys (Web Crypto), signed
// gadget and blueprint publish bodies, and an in-process app over memory
// storage with several tokens mapped to distinct subjects.
import type { Hono } from "hono";
import type { Authenticator, Principal } from "../core/auth.ts";
import type { RegistryContext } from "../core/context.ts";
import { digestBytes, toBase64 } from "../base/digest.ts";
import { canonicalJson } from "../core/ggui/manifest.ts";
import {
  type Ed25519Envelope,
  keyIdOf,
  sha384Base64,
  type SigstoreEnvelope,
  type SigstoreVerifier,
} from "../core/ggui/signing.ts";
import { createGguiRoutes } from "../routes/ggui/mod.ts";
import { MemoryBundleStorage, MemoryRegistryStorage } from "../storage/memory.ts";

/** A real Ed25519 key pair with its wire forms. */
export interface TestKey {
  /** The private key (Web Crypto). */
  privateKey: CryptoKey;
  /** The raw 32-byte public key. */
  publicKeyRaw: Uint8Array;
  /** Standard base64 of the raw public key. */
  publicKeyBase64: string;
  /** The derived key id. */
  keyId: string;
}

/** Generate a fresh Ed25519 key pair. */
export async function makeKey(): Promise<TestKey> {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const publicKeyRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  return {
    privateKey: pair.privateKey,
    publicKeyRaw,
    publicKeyBase64: toBase64(publicKeyRaw),
    keyId: keyIdOf(publicKeyRaw),
  };
}

/** Sign a payload the ggui way: Ed25519 over the 48 bytes of SHA-384(payload). */
export async function signEd25519(
  payload: Uint8Array,
  key: TestKey,
  options: { publicKeyId?: string } = {},
): Promise<Ed25519Envelope> {
  const digest = digestBytes("sha384", payload);
  const sig = new Uint8Array(
    await crypto.subtle.sign(
      { name: "Ed25519" },
      key.privateKey,
      digest as Uint8Array<ArrayBuffer>,
    ),
  );
  return {
    algorithm: "ed25519",
    bundleSha384: toBase64(digest),
    signature: toBase64(sig),
    publicKeyId: options.publicKeyId ?? key.keyId,
    signedAt: "2026-11-22T00:00:00.000Z",
  };
}

/** A valid gadget manifest; override any field. */
export function makeGadgetManifest(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: "gadget",
    scope: "@acme",
    name: "map",
    version: "1.0.0",
    exports: [{
      hook: "useMap",
      description: "A map hook",
      usage: "Call useMap() in a gadget",
      example: { call: "useMap()" },
    }],
    bundle: "src/index.ts",
    visibility: "private",
    description: "An interactive map",
    tags: ["geo", "maps"],
    author: { name: "Ada Lovelace" },
    ...overrides,
  };
}

/** Default gadget bundle source. */
export const GADGET_SOURCE =
  'import React from "react";\nexport function useMap() { return React; }\n';

/** A signed gadget publish body. */
export async function makeGadget(
  key: TestKey,
  options: { manifest?: Record<string, unknown>; source?: string | Uint8Array } = {},
): Promise<Record<string, unknown>> {
  const manifest = makeGadgetManifest(options.manifest);
  const bytes = typeof options.source === "string" || options.source === undefined
    ? new TextEncoder().encode(options.source ?? GADGET_SOURCE)
    : options.source;
  const signature = await signEd25519(bytes, key);
  return {
    manifest,
    bundle: toBase64(bytes),
    bundleSha384: toBase64(digestBytes("sha384", bytes)),
    signature,
  };
}

/** A valid blueprint manifest; override any field. */
export function makeBlueprintManifest(
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    kind: "blueprint",
    scope: "@acme",
    name: "card",
    version: "1.0.0",
    source: "export default function Card() { return null; }\n",
    visibility: "private",
    description: "A card blueprint",
    tags: ["ui"],
    ...overrides,
  };
}

/** A signed blueprint publish body (signature over canonical JSON of the manifest). */
export async function makeBlueprint(
  key: TestKey,
  options: { manifest?: Record<string, unknown> } = {},
): Promise<Record<string, unknown>> {
  const manifest = makeBlueprintManifest(options.manifest);
  const signature = await signEd25519(new TextEncoder().encode(canonicalJson(manifest)), key);
  return { manifest, signature };
}

/**
 * A stand-in for the sigstore public-good trust root, which tests cannot reach:
 * it accepts an envelope whose `bundle` is `{"testSan": "<identity>"}` when the
 * SHA-384 matches, and pins a fixed DER-shaped leaf. Everything else about the
 * public lane (pairing, scope identity rule, storage, search) runs for real.
 */
export const testSigstoreVerifier: SigstoreVerifier = {
  sans(envelope) {
    try {
      const san = JSON.parse(envelope.bundle).testSan;
      return typeof san === "string" ? [san] : [];
    } catch {
      return [];
    }
  },
  verify(payload, envelope) {
    if (sha384Base64(payload) !== envelope.bundleSha384) {
      return Promise.resolve({ valid: false, reason: "sigstore verification failed: hash" });
    }
    if (this.sans(envelope).length === 0) {
      return Promise.resolve({ valid: false, reason: "sigstore verification failed: no cert" });
    }
    return Promise.resolve({ valid: true, leafCertificateDer: "MIIBtestleaf=" });
  },
};

/** A public gadget publish body with a test sigstore envelope. */
export function makePublicGadget(
  options: { manifest?: Record<string, unknown>; source?: string; san?: string } = {},
): Record<string, unknown> {
  const manifest = makeGadgetManifest({ visibility: "public", ...options.manifest });
  const bytes = new TextEncoder().encode(options.source ?? GADGET_SOURCE);
  const signature: SigstoreEnvelope = {
    algorithm: "sigstore-cosign",
    bundleSha384: sha384Base64(bytes),
    bundle: JSON.stringify({ testSan: options.san ?? "alice@example.com" }),
    signedAt: "2026-11-22T00:00:00.000Z",
  };
  return {
    manifest,
    bundle: toBase64(bytes),
    bundleSha384: sha384Base64(bytes),
    signature,
  };
}

/** A public blueprint publish body with a test sigstore envelope. */
export function makePublicBlueprint(
  options: { manifest?: Record<string, unknown>; san?: string } = {},
): Record<string, unknown> {
  const manifest = makeBlueprintManifest({ visibility: "public", ...options.manifest });
  const payload = new TextEncoder().encode(canonicalJson(manifest));
  const signature: SigstoreEnvelope = {
    algorithm: "sigstore-cosign",
    bundleSha384: sha384Base64(payload),
    bundle: JSON.stringify({ testSan: options.san ?? "alice@example.com" }),
    signedAt: "2026-11-22T00:00:00.000Z",
  };
  return { manifest, signature };
}

/** An authenticator mapping several tokens to distinct subjects (tests only). */
export function tokenMapAuthenticator(tokens: Record<string, string>): Authenticator {
  return {
    authenticate(token: string): Promise<Principal | null> {
      const subject = Object.hasOwn(tokens, token) ? tokens[token] : undefined;
      return Promise.resolve(subject === undefined ? null : { subject, admin: false });
    },
  };
}

/** The tokens of {@linkcode makeGguiApp}. */
export const TOKENS = { alice: "token-alice", bob: "token-bob" } as const;
/** The bundle host of {@linkcode makeGguiApp}. */
export const BUNDLE_HOST = "http://127.0.0.1:9011";

/** A ggui app over fresh memory storage, with alice and bob tokens. */
export function makeGguiApp(
  options: { reservedScopes?: string[]; now?: () => Date; publicLane?: boolean } = {},
): {
  app: Hono;
  ctx: RegistryContext;
  storage: MemoryRegistryStorage;
  bundles: MemoryBundleStorage;
} {
  const storage = new MemoryRegistryStorage();
  const bundles = new MemoryBundleStorage();
  let tick = Date.parse("2026-11-22T01:00:00.000Z");
  const ctx: RegistryContext = {
    storage,
    bundles,
    clock: options.now ?? (() => new Date(tick += 1000)),
  };
  const app = createGguiRoutes({
    ctx,
    authenticator: tokenMapAuthenticator({ [TOKENS.alice]: "alice", [TOKENS.bob]: "bob" }),
    bundleHost: BUNDLE_HOST,
    registryHostname: "127.0.0.1:9011",
    ...(options.reservedScopes === undefined ? {} : { reservedScopes: options.reservedScopes }),
    ...(options.publicLane ? { sigstore: testSigstoreVerifier } : {}),
  });
  return { app, ctx, storage, bundles };
}

/** `Authorization: Bearer <token>` headers (plus JSON content type). */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}`, "content-type": "application/json" };
}

/** Register a key for a token's subject through the app. */
export async function registerKey(app: Hono, token: string, key: TestKey): Promise<Response> {
  return await app.request("/author-keys", {
    method: "POST",
    headers: bearer(token),
    body: JSON.stringify({ publicKeyBase64: key.publicKeyBase64 }),
  });
}

/** POST /publish with a body. */
export async function publish(app: Hono, token: string, body: unknown): Promise<Response> {
  return await app.request("/publish", {
    method: "POST",
    headers: bearer(token),
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** Every row key currently stored, as JSON strings (to prove nothing was written). */
export async function rowKeys(storage: MemoryRegistryStorage): Promise<string[]> {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await storage.list([], { limit: 1000, ...(cursor ? { cursor } : {}) });
    out.push(...page.items.map((e) => JSON.stringify(e.key)));
    cursor = page.cursor;
  } while (cursor);
  return out;
}
