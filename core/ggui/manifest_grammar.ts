/**
 * The name grammar of ggui manifests (scope, name, version, MCP names), apart
 * from the zod schemas of `manifest.ts` so the read paths and the server's
 * flags can check a name without loading zod at start-up. `manifest.ts`
 * re-exports every constant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NAME_RE, SCOPE_RE } from "./manifest_grammar.ts";
 * assert.ok(SCOPE_RE.test("@acme") && !SCOPE_RE.test("@-acme"));
 * assert.ok(NAME_RE.test("map") && !NAME_RE.test("Map"));
 * ```
 *
 * @module
 */

/** Scope grammar: `@` then 2–64 lowercase alphanumerics or hyphens, no edge hyphen. */
export const SCOPE_RE: RegExp = /^@[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/;
/** Name grammar: 2–64 lowercase alphanumerics or hyphens, no edge hyphen. */
export const NAME_RE: RegExp = /^[a-z0-9][a-z0-9-]{0,62}[a-z0-9]$/;
/** semver.org 2.0 grammar. */
export const MANIFEST_VERSION_RE: RegExp =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
/** MCP server and tool name charset. */
export const MCP_NAME_RE: RegExp = /^[A-Za-z0-9_.-]{1,128}$/;
/** The most MCP tool bindings an artifact may declare or derive. */
export const MCP_MAX_BINDINGS = 16;
