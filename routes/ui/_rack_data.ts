/**
 * What a Rack registry package's page shows, under Rack's own read rule
 * (`auth.json`: an undeclared namespace is nobody's, an anonymous one is
 * everybody's, a gated one its token holders' and the grants covering it):
 * the same decision `GET /registries/...` makes for the signed-in principal.
 *
 * @module
 */
import type { RegistryContext } from "../../core/context.ts";
import { versionFiles } from "../../core/files.ts";
import type { JsrReader } from "../../core/jsr/read.ts";
import { readPackageView } from "../../core/package_view.ts";
import { cachedGet } from "../../core/read_cache.ts";
import { canRead, isGated, type RackAuth } from "../../core/rack/auth.ts";
import { isRackNamespace, isRackSegment, MAX_REGISTRY_SEGMENTS } from "../../core/rack/paths.ts";
import { RACK_FORMAT } from "../../core/rack/upload.ts";
import type { FileMap, VersionRow } from "../../core/rows.ts";
import * as keys from "../../storage/keys.ts";
import { readText, type VersionLine, versionLines } from "./_data.ts";

/** A Rack package reference from a page URL. */
export interface RackRef {
  /** `@ns` */
  namespace: string;
  /** Registry path (`quality/husky`). */
  name: string;
  /** The version asked for, if any. */
  version?: string;
}

/**
 * `@ns/seg/…/seg[@version]` as a Rack reference, or `null` when it cannot
 * name one (a malformed path is the not-found page, never an error).
 */
export function rackRefOf(text: string): RackRef | null {
  const parts = text.split("/");
  const namespace = parts.shift() ?? "";
  const last = parts.pop() ?? "";
  const at = last.indexOf("@");
  const segments = [...parts, at < 0 ? last : last.slice(0, at)];
  if (!isRackNamespace(namespace) || segments.length > MAX_REGISTRY_SEGMENTS) return null;
  if (!segments.every(isRackSegment)) return null;
  const version = at < 0 ? undefined : last.slice(at + 1);
  if (version !== undefined && !/^[0-9A-Za-z.+-]{1,128}$/.test(version)) return null;
  return { namespace, name: segments.join("/"), ...(version ? { version } : {}) };
}

/** Whether `reader` may read Rack packages of `namespace` (the `/registries` rule). */
export function rackReadable(
  auth: RackAuth,
  namespace: string,
  reader: JsrReader,
  now: Date,
): boolean {
  return canRead(auth, namespace, {
    caller: { admin: false, ...(reader ? { principal: reader } : {}) },
    now,
  });
}

/** A Rack package page's data. */
export interface RackView {
  /** `@ns` */
  namespace: string;
  /** Registry path. */
  name: string;
  /** Latest version (highest release not yanked). */
  latest: string | null;
  /** Every version, newest first. */
  versions: readonly VersionLine[];
  /** Dist-tags other than latest. */
  tags: Record<string, string>;
  /** Whether reads need a token (the curl line then carries one). */
  gated: boolean;
  /** The version shown. */
  shown: {
    version: string;
    yanked: boolean;
    publishedAt: string;
    publishedBy: string;
    files: FileMap;
    /** `registry.json` parsed (`{}` when it cannot be read as an object). */
    item: Record<string, unknown>;
  };
}

/** The largest `registry.json` a page parses (the raw link has all of it). */
const MAX_ITEM_BYTES = 256 * 1024;

/** A Rack package as `reader` may see it, at `version` (default: latest); `null` on a miss. */
export async function rackView(
  ctx: RegistryContext,
  input: { auth: RackAuth; ref: RackRef; reader: JsrReader },
): Promise<RackView | null> {
  const { auth, ref, reader } = input;
  if (!rackReadable(auth, ref.namespace, reader, ctx.clock())) return null;
  const pkg = { namespace: ref.namespace, name: ref.name };
  const view = await readPackageView(ctx.storage, pkg);
  if (view.row?.format !== RACK_FORMAT || view.states.length === 0) return null;
  const { lines, latest } = versionLines(view.states);
  const wanted = ref.version ?? latest ?? lines[0]!.version;
  const row =
    (await cachedGet<VersionRow>(ctx.storage, keys.versionKey({ ...pkg, version: wanted })))
      ?.value;
  const state = view.states.find((s) => s.version === wanted);
  if (!row || row.format !== RACK_FORMAT || !state) return null;
  const files = await versionFiles(ctx, row);
  return {
    namespace: ref.namespace,
    name: ref.name,
    latest,
    versions: lines,
    tags: view.row.tags ?? {},
    gated: isGated(auth, ref.namespace),
    shown: {
      version: row.version,
      yanked: state.yanked,
      publishedAt: row.publishedAt,
      publishedBy: row.publishedBy,
      files,
      item: await itemOf(ctx, files),
    },
  };
}

async function itemOf(ctx: RegistryContext, files: FileMap): Promise<Record<string, unknown>> {
  const entry = Object.hasOwn(files, "registry.json") ? files["registry.json"] : undefined;
  if (!entry) return {};
  const text = await readText(ctx, entry, MAX_ITEM_BYTES);
  try {
    const value = text && !text.truncated ? JSON.parse(text.text) : {};
    return value !== null && typeof value === "object" && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}
