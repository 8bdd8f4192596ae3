/**
 * The upstream flags: `--jsr-upstream=<url>|off` (default `https://jsr.io/`),
 * `--jsr-upstream-allow` / `--jsr-upstream-deny` (comma-separated namespaces,
 * `*` as a wildcard), `--jsr-upstream-timeout-ms` and `--jsr-upstream-fresh-ms`.
 *
 * @module
 */
import type { JsrUpstreamConfig } from "../core/jsr/upstream.ts";

/** The flags this module reads. */
export const UPSTREAM_FLAGS = [
  "jsr-upstream",
  "jsr-upstream-allow",
  "jsr-upstream-deny",
  "jsr-upstream-timeout-ms",
  "jsr-upstream-fresh-ms",
  "ggui-upstream",
  "ggui-upstream-deny",
] as const;

/** Their usage lines. */
export const UPSTREAM_USAGE =
  `  --jsr-upstream <url|off>   read JSR packages of namespaces this registry does not own from
                             this JSR (default https://jsr.io/; env JSR_UPSTREAM; see docs/jsr.md)
  --jsr-upstream-deny <l>    namespaces never looked up upstream, e.g. @acme,@internal-*
  --jsr-upstream-allow <l>   the only namespaces looked up upstream, e.g. @std,@hono
  --jsr-upstream-timeout-ms <n>
                             deadline of one upstream fetch (default 10000)
  --jsr-upstream-fresh-ms <n>
                             serve a cached meta.json this long before asking again (default 60000)
  --ggui-upstream <url>      read public ggui artifacts of scopes this registry does not own from
                             this ggui registry (off unless set; env GGUI_UPSTREAM); the timeout
                             and freshness flags above apply to it too
  --ggui-upstream-deny <l>   scopes never looked up on the ggui upstream, e.g. @acme,@internal-*
`;

const PATTERN_RE = /^@[a-z0-9*][a-z0-9*-]*$/;

/**
 * Parse the upstream flags (`pick` answers a flag or its environment variable);
 * `undefined` when the upstream is off, a message when a value is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseUpstreamFlags } from "./upstream_options.ts";
 * const flags: Record<string, string> = { "jsr-upstream-deny": "acme,@internal-*" };
 * const up = parseUpstreamFlags((n) => flags[n]);
 * assert.ok(typeof up === "object" && up.url === "https://jsr.io/");
 * assert.deepEqual(up.deny, ["@acme", "@internal-*"]);
 * assert.equal(parseUpstreamFlags((n) => n === "jsr-upstream" ? "off" : undefined), undefined);
 * ```
 */
export function parseUpstreamFlags(
  pick: (flag: string, env?: string) => string | undefined,
): JsrUpstreamConfig | undefined | string {
  const url = pick("jsr-upstream", "JSR_UPSTREAM") ?? "https://jsr.io/";
  if (url === "off") return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `--jsr-upstream must be an http(s) URL or off (got '${url}')`;
  }
  if (!/^https?:$/.test(parsed.protocol) || parsed.search || parsed.hash) {
    return `--jsr-upstream must be an http(s) URL or off (got '${url}')`;
  }
  const config: JsrUpstreamConfig = {
    url: `${parsed.origin}${parsed.pathname.replace(/\/*$/, "/")}`,
  };
  for (
    const [flag, field] of [["jsr-upstream-deny", "deny"], ["jsr-upstream-allow", "allow"]] as const
  ) {
    const text = pick(flag);
    if (text === undefined) continue;
    const list = text.split(",").map((s) => s.trim()).filter(Boolean)
      .map((s) => s.startsWith("@") ? s : `@${s}`);
    const bad = list.find((s) => !PATTERN_RE.test(s));
    if (bad !== undefined) {
      return `--${flag} takes comma-separated namespaces like @acme or @internal-* (got '${bad}')`;
    }
    config[field] = list;
  }
  for (
    const [flag, field] of [["jsr-upstream-timeout-ms", "timeoutMs"], [
      "jsr-upstream-fresh-ms",
      "freshMs",
    ]] as const
  ) {
    const text = pick(flag);
    if (text === undefined) continue;
    if (!/^\d{1,9}$/.test(text) || (field === "timeoutMs" && Number(text) === 0)) {
      return `--${flag} must be a whole number of milliseconds${
        field === "timeoutMs" ? " above 0" : ""
      } (got '${text}')`;
    }
    config[field] = Number(text);
  }
  return config;
}

/** The ggui upstream's settings. */
export interface GguiUpstreamFlags {
  /** Base URL with a trailing slash. */
  url: string;
  /** Scopes never looked up. */
  deny?: string[];
  /** Deadline of one fetch. */
  timeoutMs?: number;
  /** Freshness window. */
  freshMs?: number;
}

/**
 * Parse `--ggui-upstream` (off unless set) and `--ggui-upstream-deny`; the
 * JSR upstream's timeout and freshness apply.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseGguiUpstreamFlags } from "./upstream_options.ts";
 * assert.equal(parseGguiUpstreamFlags(() => undefined), undefined);
 * const up = parseGguiUpstreamFlags((n) => n === "ggui-upstream" ? "https://ggui.example" : undefined);
 * assert.ok(typeof up === "object" && up.url === "https://ggui.example/");
 * ```
 */
export function parseGguiUpstreamFlags(
  pick: (flag: string, env?: string) => string | undefined,
): GguiUpstreamFlags | undefined | string {
  const url = pick("ggui-upstream", "GGUI_UPSTREAM");
  if (url === undefined || url === "off") return undefined;
  const jsr = parseUpstreamFlags((flag, env) =>
    flag === "jsr-upstream"
      ? url
      : flag === "jsr-upstream-deny"
      ? pick("ggui-upstream-deny")
      : flag === "jsr-upstream-allow"
      ? undefined
      : pick(flag, env)
  );
  if (typeof jsr === "string") {
    return jsr.replaceAll("--jsr-upstream-deny", "--ggui-upstream-deny").replaceAll(
      "--jsr-upstream must",
      "--ggui-upstream must",
    );
  }
  if (jsr === undefined) return undefined;
  return {
    url: jsr.url,
    ...(jsr.deny ? { deny: [...jsr.deny] } : {}),
    ...(jsr.timeoutMs !== undefined ? { timeoutMs: jsr.timeoutMs } : {}),
    ...(jsr.freshMs !== undefined ? { freshMs: jsr.freshMs } : {}),
  };
}
