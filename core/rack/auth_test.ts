import assert from "node:assert/strict";
import { sha256Hex } from "../../base/digest.ts";
import { isRegistryError } from "../../base/errors.ts";
import {
  authorizeRead,
  authorizeUpload,
  canRead,
  extractToken,
  identifyCaller,
  parseAuthConfig,
  preAuthorizeUpload,
  type RackAuth,
} from "./auth.ts";
import { type RackCode, rackCodeOf } from "./errors.ts";

const NOW = new Date("2026-06-01T00:00:00Z");
const FILE = JSON.stringify({
  "@rack": [],
  "@company": [
    { token: " ci-3f9 ", publish: true, mark: "CI", expiresAt: "2027-01-01T00:00:00Z" },
    { token: "dev-81a", mark: "developers" },
    { token: "old", publish: true, expiresAt: "2026-01-01T00:00:00Z" },
    { token: "nullexp", publish: "true", expiresAt: null },
    { token: "emptyexp", expiresAt: "" },
    "not an object",
    { token: "" },
    { publish: true },
  ],
  "@other": [{ token: "other", publish: true }],
});

function load(text = FILE, adminToken = "root"): RackAuth {
  return parseAuthConfig(text, { adminToken }).auth;
}

function refused(fn: () => unknown, code: RackCode, message?: string): void {
  assert.throws(fn, (err) => {
    assert.ok(isRegistryError(err));
    assert.equal(rackCodeOf(err), code);
    if (message !== undefined) assert.equal(err.message, message);
    return true;
  });
}

const as = (auth: RackAuth, token?: string) => ({ caller: identifyCaller(auth, token), now: NOW });

Deno.test("parseAuthConfig() keeps tokens only as SHA-256 digests", () => {
  const auth = load();
  const company = auth.namespaces.get("@company")!;
  assert.equal(company.anonymous, false);
  assert.equal(company.tokens.length, 5);
  assert.equal(company.tokens[0]!.sha256, sha256Hex("ci-3f9"));
  assert.ok(!JSON.stringify(company).includes("ci-3f9"));
  assert.equal(auth.adminSha256, sha256Hex("root"));
  // Only literal true grants publish.
  assert.equal(company.tokens.find((t) => t.sha256 === sha256Hex("nullexp"))!.publish, false);
  assert.equal(
    company.tokens.find((t) => t.sha256 === sha256Hex("emptyexp"))!.expiresAt,
    undefined,
  );
});

Deno.test("parseAuthConfig() excludes a broken namespace alone (fail closed)", () => {
  const { auth, rejected } = parseAuthConfig(JSON.stringify({
    "@ok": [],
    "no-at": [],
    "@Upper": [],
    "@notarray": {},
    "@badexp": [{ token: "a", expiresAt: "yesterday" }],
    "@numexp": [{ token: "a", expiresAt: 5 }],
    "@notokens": [{ mark: "x" }, "y"],
  }));
  assert.deepEqual([...auth.namespaces.keys()], ["@ok"]);
  assert.deepEqual(rejected.map((r) => r.namespace).sort(), [
    "@Upper",
    "@badexp",
    "@notarray",
    "@notokens",
    "@numexp",
    "no-at",
  ]);
});

Deno.test("parseAuthConfig() fails on invalid JSON or a non-object top level, and a missing file declares nothing", () => {
  assert.throws(() => parseAuthConfig("{"), /invalid JSON/);
  assert.throws(() => parseAuthConfig("[]"), /not an object/);
  assert.throws(() => parseAuthConfig("null"), /not an object/);
  assert.equal(parseAuthConfig(null).auth.namespaces.size, 0);
  assert.equal(parseAuthConfig("{}", { adminToken: "  " }).auth.adminSha256, undefined);
});

Deno.test("extractToken() prefers Bearer, falls back to X-Registry-Token", () => {
  assert.equal(extractToken(new Headers({ authorization: "Bearer abc" })), "abc");
  assert.equal(extractToken(new Headers({ authorization: "BEARER   abc  " })), "abc");
  assert.equal(
    extractToken(new Headers({ authorization: "Bearer a", "x-registry-token": "b" })),
    "a",
  );
  assert.equal(
    extractToken(new Headers({ authorization: "Basic dXNlcjpw", "x-registry-token": " t " })),
    "t",
  );
  assert.equal(extractToken(new Headers({ "x-registry-token": "   " })), undefined);
  assert.equal(extractToken(new Headers({ authorization: "Bearer " })), undefined);
  assert.equal(extractToken(new Headers()), undefined);
});

Deno.test("authorizeRead() applies the order declared → admin → token decision", () => {
  const auth = load();
  refused(
    () => authorizeRead(auth, "@nope", as(auth)),
    "FORBIDDEN_NAMESPACE",
    "Namespace not allowed",
  );
  refused(() => authorizeRead(auth, "@nope", as(auth, "root")), "FORBIDDEN_NAMESPACE");
  assert.deepEqual(authorizeRead(auth, "@rack", as(auth)), { admin: false });
  assert.deepEqual(authorizeRead(auth, "@rack", as(auth, "garbage")), { admin: false });
  assert.equal(authorizeRead(auth, "@company", as(auth, "root")).admin, true);
  refused(
    () => authorizeRead(auth, "@company", as(auth)),
    "UNAUTHORIZED",
    "Authentication token is required",
  );
  refused(
    () => authorizeRead(auth, "@company", as(auth, "other")),
    "INVALID_TOKEN",
    "Provided token is invalid",
  );
  refused(
    () => authorizeRead(auth, "@company", as(auth, "old")),
    "TOKEN_EXPIRED",
    "Authentication token has expired",
  );
  assert.equal(authorizeRead(auth, "@company", as(auth, "dev-81a")).entry?.mark, "developers");
  assert.equal(authorizeRead(auth, "@company", as(auth, "ci-3f9")).entry?.publish, true);
  assert.ok(canRead(auth, "@company", as(auth, "ci-3f9")));
  assert.ok(!canRead(auth, "@company", as(auth, "other")));
});

Deno.test("a token expires at its expiresAt instant", () => {
  const auth = load();
  const at = (iso: string) => ({ caller: identifyCaller(auth, "ci-3f9"), now: new Date(iso) });
  assert.ok(authorizeRead(auth, "@company", at("2027-01-01T00:00:00Z")).entry);
  refused(() => authorizeRead(auth, "@company", at("2027-01-01T00:00:00.001Z")), "TOKEN_EXPIRED");
});

Deno.test("preAuthorizeUpload() refuses tokens that could publish nowhere before any body is read", () => {
  const auth = load();
  refused(
    () => preAuthorizeUpload(auth, as(auth)),
    "UNAUTHORIZED",
    "Authentication required for upload. Provide a namespace token or admin token via Authorization or X-Registry-Token.",
  );
  refused(() => preAuthorizeUpload(auth, as(auth, "nobody")), "INVALID_TOKEN");
  refused(() => preAuthorizeUpload(auth, as(auth, "dev-81a")), "INSUFFICIENT_PERMISSIONS");
  refused(() => preAuthorizeUpload(auth, as(auth, "old")), "TOKEN_EXPIRED");
  preAuthorizeUpload(auth, as(auth, "root"));
  preAuthorizeUpload(auth, as(auth, "ci-3f9"));
  preAuthorizeUpload(auth, as(auth, "other"));
  // Admin disabled: the would-be admin token is just unknown.
  const noAdmin = load(FILE, "");
  refused(() => preAuthorizeUpload(noAdmin, as(noAdmin, "root")), "INVALID_TOKEN");
});

Deno.test("authorizeUpload() decides against the real namespace with one admin rule", () => {
  const auth = load();
  refused(
    () => authorizeUpload(auth, "@nope", as(auth, "root")),
    "NAMESPACE_NOT_ALLOWED",
    "Namespace @nope is not allowed",
  );
  assert.equal(authorizeUpload(auth, "@rack", as(auth, "root")).admin, true);
  assert.equal(authorizeUpload(auth, "@company", as(auth, "root")).admin, true);
  refused(() => authorizeUpload(auth, "@rack", as(auth, "ci-3f9")), "ANONYMOUS_UPLOAD_FORBIDDEN");
  refused(() => authorizeUpload(auth, "@company", as(auth, "other")), "INVALID_TOKEN");
  refused(() => authorizeUpload(auth, "@company", as(auth, "old")), "TOKEN_EXPIRED");
  refused(
    () => authorizeUpload(auth, "@company", as(auth, "dev-81a")),
    "INSUFFICIENT_PERMISSIONS",
    "Token does not have publish permission for namespace @company",
  );
  assert.equal(authorizeUpload(auth, "@company", as(auth, "ci-3f9")).entry?.mark, "CI");
});

Deno.test("identifyCaller() recognises the admin token only exactly", () => {
  const auth = load();
  assert.equal(identifyCaller(auth, "root").admin, true);
  assert.equal(identifyCaller(auth, "root ").admin, false);
  assert.equal(identifyCaller(auth, "Root").admin, false);
  assert.equal(identifyCaller(auth, undefined).admin, false);
});
