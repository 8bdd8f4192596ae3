/**
 * `--bundles=s3:<bucket>[/<prefix>]`: the S3 bundle backend's part of the
 * configuration, from the flag, `--s3-endpoint`, `--s3-region`, `--s3-style`
 * and the usual environment (`S3_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`). Secrets come from the
 * environment only, never from flags (which `ps` shows). Pure.
 *
 * @module
 */

/** Blobs in an S3-API bucket. */
export interface S3BundlesSpec {
  /** Discriminant. */
  kind: "s3";
  /** Bucket name. */
  bucket: string;
  /** Key prefix, ending in `/`, or `""`. */
  prefix: string;
  /** Endpoint URL; absent: AWS's for the region. */
  endpoint?: string;
  /** Signing region. */
  region: string;
  /** Path-style or virtual-host-style addressing. */
  style: "path" | "virtual";
  /** Access key id. */
  accessKeyId: string;
  /** Secret access key. */
  secretAccessKey: string;
  /** Session token of temporary credentials. */
  sessionToken?: string;
}

/** What the S3 spec is parsed from: flags (already picked) and the environment. */
export interface S3Inputs {
  /** `--s3-endpoint`. */
  endpoint?: string;
  /** `--s3-region`. */
  region?: string;
  /** `--s3-style`. */
  style?: string;
  /** The flag the bucket was named with, for messages (default `--bundles`). */
  flag?: string;
}

const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_RE = /^(?:[A-Za-z0-9_.-]+\/)*[A-Za-z0-9_.-]+\/?$/;
const ENDPOINT_RE = /^https?:\/\/[^/\s]+\/?$/;

/**
 * Parse `s3:<bucket>[/<prefix>]` (the text after `--bundles=`) with its
 * endpoint, region and credentials; a string is the one-line reason it is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseS3Bundles } from "./s3_config.ts";
 * const spec = parseS3Bundles("s3:registry/bundles", {}, {
 *   AWS_ACCESS_KEY_ID: "id",
 *   AWS_SECRET_ACCESS_KEY: "secret",
 * });
 * assert.ok(typeof spec !== "string" && spec.prefix === "bundles/" && spec.style === "virtual");
 * ```
 */
export function parseS3Bundles(
  value: string,
  flags: S3Inputs,
  env: Readonly<Record<string, string | undefined>>,
): S3BundlesSpec | string {
  const flag = flags.flag ?? "--bundles";
  const rest = value.slice("s3:".length);
  const slash = rest.indexOf("/");
  const bucket = slash === -1 ? rest : rest.slice(0, slash);
  const prefixText = slash === -1 ? "" : rest.slice(slash + 1);
  if (!BUCKET_RE.test(bucket)) {
    return `${flag}=s3:<bucket>[/<prefix>] needs a valid bucket name (got '${value}')`;
  }
  if (
    prefixText !== "" &&
    (!PREFIX_RE.test(prefixText) || prefixText.split("/").some((s) => s === "." || s === ".."))
  ) {
    return `${flag} s3 prefix may hold letters, digits, '_', '.', '-' and '/' (got '${prefixText}')`;
  }
  const prefix = prefixText === "" || prefixText.endsWith("/") ? prefixText : `${prefixText}/`;
  const endpoint = flags.endpoint ?? nonEmpty(env.S3_ENDPOINT);
  if (endpoint !== undefined && !ENDPOINT_RE.test(endpoint)) {
    return `--s3-endpoint must be an http(s) URL without a path (got '${endpoint}')`;
  }
  const style = flags.style ?? (endpoint === undefined ? "virtual" : "path");
  if (style !== "path" && style !== "virtual") {
    return `--s3-style must be path or virtual (got '${style}')`;
  }
  const accessKeyId = nonEmpty(env.AWS_ACCESS_KEY_ID);
  const secretAccessKey = nonEmpty(env.AWS_SECRET_ACCESS_KEY);
  if (accessKeyId === undefined || secretAccessKey === undefined) {
    return `${flag}=s3:… needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment`;
  }
  const spec: S3BundlesSpec = {
    kind: "s3",
    bucket,
    prefix,
    region: flags.region ?? nonEmpty(env.AWS_REGION) ?? nonEmpty(env.AWS_DEFAULT_REGION) ??
      "us-east-1",
    style,
    accessKeyId,
    secretAccessKey,
  };
  if (endpoint !== undefined) spec.endpoint = endpoint.replace(/\/$/, "");
  const sessionToken = nonEmpty(env.AWS_SESSION_TOKEN);
  if (sessionToken !== undefined) spec.sessionToken = sessionToken;
  return spec;
}

function nonEmpty(text: string | undefined): string | undefined {
  return text === undefined || text.trim() === "" ? undefined : text.trim();
}

/** What Rack's R2 mode (`STORAGE_BACKEND=r2`) requires, all of it. */
const R2_VARS = ["R2_BUCKET_NAME", "R2_ACCOUNT_ID", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"];

/**
 * Rack's R2 mode, unchanged for its operators: `STORAGE_BACKEND=r2` with
 * `R2_BUCKET_NAME`, `R2_ACCOUNT_ID`, `R2_ACCESS_KEY_ID` and
 * `R2_SECRET_ACCESS_KEY` (all required, else a boot error naming the missing
 * ones) is the S3 backend on R2's endpoint, at the bucket's root. `endpoint`
 * (`--s3-endpoint` or `S3_ENDPOINT`) replaces R2's endpoint: an R2-compatible
 * gateway, or a local S3 server in tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseR2Bundles } from "./s3_config.ts";
 * const spec = parseR2Bundles({
 *   R2_BUCKET_NAME: "rack",
 *   R2_ACCOUNT_ID: "0123abcd",
 *   R2_ACCESS_KEY_ID: "id",
 *   R2_SECRET_ACCESS_KEY: "secret",
 * });
 * assert.ok(typeof spec !== "string" && spec.endpoint === "https://0123abcd.r2.cloudflarestorage.com");
 * ```
 */
export function parseR2Bundles(
  env: Readonly<Record<string, string | undefined>>,
  endpoint?: string,
): S3BundlesSpec | string {
  const missing = R2_VARS.filter((name) => nonEmpty(env[name]) === undefined);
  if (missing.length > 0) {
    return `STORAGE_BACKEND=r2 needs ${R2_VARS.join(", ")} (missing: ${missing.join(", ")})`;
  }
  const account = nonEmpty(env.R2_ACCOUNT_ID)!;
  if (!/^[A-Za-z0-9-]{1,63}$/.test(account)) {
    return `R2_ACCOUNT_ID must be a Cloudflare account id (got '${account}')`;
  }
  const bucket = nonEmpty(env.R2_BUCKET_NAME)!;
  if (!BUCKET_RE.test(bucket)) return `R2_BUCKET_NAME is not a valid bucket name (got '${bucket}')`;
  if (endpoint !== undefined && !ENDPOINT_RE.test(endpoint)) {
    return `--s3-endpoint must be an http(s) URL without a path (got '${endpoint}')`;
  }
  return {
    kind: "s3",
    bucket,
    prefix: "",
    endpoint: endpoint?.replace(/\/$/, "") ?? `https://${account}.r2.cloudflarestorage.com`,
    region: "auto",
    style: "path",
    accessKeyId: nonEmpty(env.R2_ACCESS_KEY_ID)!,
    secretAccessKey: nonEmpty(env.R2_SECRET_ACCESS_KEY)!,
  };
}

/**
 * `--rack-mirror` (env `RACK_MIRROR`): where Rack's R2 mirror writes Rack's
 * key layout, or `undefined` for none. `on` is the bundles' own bucket (at its
 * root, where Rack's Worker reads), `s3:<bucket>` another bucket on the same
 * endpoint with the same credentials, `off` none. Unset: `on` in Rack's R2
 * mode (`STORAGE_BACKEND=r2` with its bucket for bundles), `off` otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseR2Bundles, parseRackMirror } from "./s3_config.ts";
 * const bundles = parseR2Bundles({ R2_BUCKET_NAME: "rack", R2_ACCOUNT_ID: "0123abcd", R2_ACCESS_KEY_ID: "id", R2_SECRET_ACCESS_KEY: "secret" });
 * assert.ok(typeof bundles !== "string");
 * const on = parseRackMirror(undefined, { bundles, r2: true, s3: () => "unused" });
 * assert.ok(typeof on === "object" && on.bucket === "rack" && on.prefix === "");
 * assert.equal(parseRackMirror(undefined, { bundles, r2: false, s3: () => "unused" }), undefined);
 * ```
 */
export function parseRackMirror(
  value: string | undefined,
  options: {
    bundles: { kind: string } | S3BundlesSpec;
    r2: boolean;
    s3: (text: string) => S3BundlesSpec | string;
  },
): S3BundlesSpec | undefined | string {
  // R2 mode's own bucket only: R2 mode with other bundles (--bundles=fs:…) has no bucket to mirror to.
  const text = value ?? (options.r2 && options.bundles.kind === "s3" ? "on" : "off");
  if (text === "off") return undefined;
  if (text === "on") {
    if (options.bundles.kind !== "s3") {
      return "--rack-mirror=on writes to the bundles' bucket and needs --bundles=s3:… (or STORAGE_BACKEND=r2); name a bucket with --rack-mirror=s3:<bucket>";
    }
    return { ...(options.bundles as S3BundlesSpec), prefix: "" };
  }
  if (!text.startsWith("s3:")) {
    return `--rack-mirror must be on, off or s3:<bucket> (got '${text}')`;
  }
  const spec = options.s3(text);
  if (typeof spec === "string") return spec;
  if (spec.prefix !== "") {
    return `--rack-mirror=s3:<bucket> takes no prefix: Rack's Worker reads the bucket's root (got '${text}')`;
  }
  return spec;
}
