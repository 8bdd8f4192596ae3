/**
 * Ed25519 author keys: register (`POST /author-keys`), list (`GET`) and delete
 * (`DELETE /author-keys/:keyId`). Keys are partitioned by the verified caller's
 * subject; the key id is always derived server-side from the key bytes.
 *
 * @module
 */
import { fromBase64, toBase64 } from "../../base/digest.ts";
import type { AuthorKeyRow } from "../rows.ts";
import { listAll } from "../store.ts";
import { authorKeyKey, authorKeysOf } from "../../storage/keys.ts";
import type { JsonValue } from "../../storage/types.ts";
import {
  auditMutation,
  type AuthnContext,
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  type GguiResult,
  unauthorized,
} from "./_common.ts";
import { isStrongEd25519PublicKey } from "./ed25519_point.ts";
import { keyIdOf } from "./signing.ts";

/** The longest label, after trimming. */
export const MAX_LABEL_LENGTH = 100;

/** The body of a registered key. */
export interface AuthorKeyBody {
  /** The owner. */
  subject: string;
  /** Derived key id. */
  keyId: string;
  /** Standard padded base64 of the raw 32-byte key. */
  publicKeyBase64: string;
  /** When it was registered. */
  createdAt?: string;
  /** Optional label. */
  label?: string;
}

function invalid(message: string): GguiResult<GguiErrorBody> {
  return errorResult(400, "invalid_request", message);
}

function keyBody(row: AuthorKeyRow): AuthorKeyBody {
  const body: AuthorKeyBody = {
    subject: row.subject,
    keyId: row.keyId,
    publicKeyBase64: row.publicKeyBase64,
  };
  if (row.createdAt !== undefined) body.createdAt = row.createdAt;
  if (row.label !== undefined) body.label = row.label;
  return body;
}

/**
 * Register an author key for the caller: 201 on first write, 200 echoing the
 * existing row when the same key is already registered (a new label is
 * ignored), 409 `key_conflict` when another key holds the same key id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { toBase64 } from "../../base/digest.ts";
 * import { registerAuthorKey } from "./author_keys.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const { publicKey } = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
 * const publicKeyBase64 = toBase64(new Uint8Array(await crypto.subtle.exportKey("raw", publicKey)));
 * const authn = { subject: "alice" };
 * const first = await registerAuthorKey(ctx, { authn, body: { publicKeyBase64, label: "laptop" } });
 * const again = await registerAuthorKey(ctx, { authn, body: { publicKeyBase64 } });
 * assert(first.status === 201 && again.status === 200);
 * ```
 */
export async function registerAuthorKey(
  ctx: GguiContext,
  request: { authn: AuthnContext; body: unknown },
): Promise<GguiResult<AuthorKeyBody | GguiErrorBody>> {
  const { authn, body } = request;
  if (!authn || authn.subject.length === 0) return unauthorized();
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return invalid("request body must be a JSON object");
  }
  const input = body as Record<string, unknown>;
  const keyText = input.publicKeyBase64;
  if (keyText !== undefined && typeof keyText !== "string") {
    return invalid("`publicKeyBase64` must be a string");
  }
  if (keyText === undefined || keyText.length === 0) {
    return invalid("`publicKeyBase64` is required");
  }
  const raw = fromBase64(keyText);
  if (raw === null) return invalid("`publicKeyBase64` is not valid base64");
  if (raw.byteLength !== 32) {
    return invalid(`\`publicKeyBase64\` must decode to 32 raw bytes (got ${raw.byteLength})`);
  }
  if (!isStrongEd25519PublicKey(raw)) {
    // A small-order key admits signatures that verify for many messages: they would prove nothing.
    return invalid(
      "`publicKeyBase64` is not a usable Ed25519 public key (not a point on the curve, or one of small order)",
    );
  }
  let label: string | undefined;
  if (input.label !== undefined) {
    if (typeof input.label !== "string") return invalid("`label` must be a string");
    const trimmed = input.label.trim();
    if (trimmed.length > MAX_LABEL_LENGTH) {
      return invalid(
        `\`label\` must be at most ${MAX_LABEL_LENGTH} characters (got ${trimmed.length})`,
      );
    }
    if (trimmed.length > 0) label = trimmed;
  }
  const keyId = keyIdOf(raw);
  const publicKeyBase64 = toBase64(raw);
  const now = ctx.clock();
  const row: AuthorKeyRow = {
    subject: authn.subject,
    keyId,
    publicKeyBase64,
    createdAt: now.toISOString(),
    ...(label === undefined ? {} : { label }),
  };
  const key = authorKeyKey(authn.subject, keyId);
  try {
    const res = await ctx.storage.commit({
      checks: [{ key, stamp: null }],
      mutations: [
        { type: "set", key, value: row as unknown as JsonValue },
        auditMutation(now, {
          actor: authn.subject,
          action: "ggui.author_key.register",
          target: keyId,
        }),
      ],
    });
    if (res.ok) return { status: 201, body: keyBody(row) };
  } catch {
    return errorResult(500, "server_error", "failed to write AuthorKey row");
  }
  let existing: AuthorKeyRow | null;
  try {
    existing = (await ctx.storage.get<AuthorKeyRow>(key))?.value ?? null;
  } catch {
    return errorResult(500, "server_error", "failed to read existing AuthorKey row");
  }
  if (existing === null) {
    return errorResult(500, "server_error", "failed to write AuthorKey row");
  }
  const existingBytes = fromBase64(existing.publicKeyBase64);
  if (existingBytes !== null && toBase64(existingBytes) === publicKeyBase64) {
    return { status: 200, body: keyBody(existing) };
  }
  return errorResult(
    409,
    "key_conflict",
    `an AuthorKey for (subject=${authn.subject}, keyId=${keyId}) already exists with a different publicKey`,
  );
}

/** One key of a listing (the subject is on the envelope). */
export type ListedKey = Omit<AuthorKeyBody, "subject">;

/**
 * List the caller's keys, newest first (keys without `createdAt` last, ties by
 * key id). Only exact-subject rows: `team` never sees `team/alice`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { toBase64 } from "../../base/digest.ts";
 * import { listAuthorKeys, registerAuthorKey } from "./author_keys.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const { publicKey } = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
 * const publicKeyBase64 = toBase64(new Uint8Array(await crypto.subtle.exportKey("raw", publicKey)));
 * await registerAuthorKey(ctx, { authn: { subject: "alice" }, body: { publicKeyBase64 } });
 * const res = await listAuthorKeys(ctx, { authn: { subject: "alice" } });
 * assert(res.status === 200 && "keys" in res.body && res.body.keys[0]?.publicKeyBase64 === publicKeyBase64);
 * ```
 */
export async function listAuthorKeys(
  ctx: GguiContext,
  request: { authn: AuthnContext },
): Promise<GguiResult<{ subject: string; keys: ListedKey[] } | GguiErrorBody>> {
  const { authn } = request;
  if (!authn || authn.subject.length === 0) return unauthorized();
  const rows: AuthorKeyRow[] = [];
  try {
    for await (const e of listAll<AuthorKeyRow>(ctx.storage, authorKeysOf(authn.subject))) {
      if (e.value.subject === authn.subject) rows.push(e.value);
    }
  } catch {
    return errorResult(500, "server_error", "failed to list author keys");
  }
  rows.sort((a, b) => {
    if (a.createdAt !== b.createdAt) {
      if (a.createdAt === undefined) return 1;
      if (b.createdAt === undefined) return -1;
      return a.createdAt < b.createdAt ? 1 : -1;
    }
    return a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0;
  });
  const keys = rows.map((row) => {
    const { subject: _subject, ...rest } = keyBody(row);
    return rest;
  });
  return { status: 200, body: { subject: authn.subject, keys } };
}

/**
 * Delete one of the caller's keys. Always 200 with `deleted` telling whether a
 * row was removed (absent and someone else's are indistinguishable). Published
 * versions keep the key pinned in `authorPublicKey`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBundleStorage, MemoryRegistryStorage } from "../../storage/memory.ts";
 * import { toBase64 } from "../../base/digest.ts";
 * import { deleteAuthorKey, registerAuthorKey } from "./author_keys.ts";
 * const ctx = { storage: new MemoryRegistryStorage(), bundles: new MemoryBundleStorage(), clock: () => new Date(), bundleHost: "http://127.0.0.1:9001", registryHostname: "127.0.0.1:9001" };
 * const { publicKey } = await crypto.subtle.generateKey("Ed25519", true, ["sign", "verify"]) as CryptoKeyPair;
 * const publicKeyBase64 = toBase64(new Uint8Array(await crypto.subtle.exportKey("raw", publicKey)));
 * const authn = { subject: "alice" };
 * const reg = await registerAuthorKey(ctx, { authn, body: { publicKeyBase64 } });
 * const keyId = "keyId" in reg.body ? reg.body.keyId : "";
 * const res = await deleteAuthorKey(ctx, { authn, keyId });
 * assert(res.status === 200 && "deleted" in res.body && res.body.deleted);
 * ```
 */
export async function deleteAuthorKey(
  ctx: GguiContext,
  request: { authn: AuthnContext; keyId: string },
): Promise<GguiResult<{ keyId: string; deleted: boolean } | GguiErrorBody>> {
  const { authn, keyId } = request;
  if (!authn || authn.subject.length === 0) return unauthorized();
  if (typeof keyId !== "string" || keyId.length === 0) return invalid("`keyId` is required");
  // Key ids are 16 characters; anything far longer cannot exist (and would not fit a key).
  if (keyId.length > 256) return { status: 200, body: { keyId, deleted: false } };
  const key = authorKeyKey(authn.subject, keyId);
  try {
    for (let attempt = 0; attempt < 16; attempt++) {
      const current = await ctx.storage.get<AuthorKeyRow>(key);
      if (!current) return { status: 200, body: { keyId, deleted: false } };
      const now = ctx.clock();
      const res = await ctx.storage.commit({
        checks: [{ key, stamp: current.stamp }],
        mutations: [
          { type: "delete", key },
          auditMutation(now, {
            actor: authn.subject,
            action: "ggui.author_key.delete",
            target: keyId,
          }),
        ],
      });
      if (res.ok) return { status: 200, body: { keyId, deleted: true } };
    }
  } catch {
    return errorResult(500, "server_error", "failed to delete author key");
  }
  return errorResult(500, "server_error", "failed to delete author key");
}
