/**
 * What the pages show, read through the same core functions and access rules
 * as the API routes: a reader sees exactly what the wire surfaces would
 * answer them, and nothing a surface hides appears in a list or a count.
 *
 * @module
 */
import type { RegistryContext } from "../../core/context.ts";
import { versionFiles } from "../../core/files.ts";
import { type JsrReader, jsrVersion, jsrVersionNow } from "../../core/jsr/read.ts";
import {
  type PackageView,
  readPackageView,
  readPackageViewNow,
  visibleStates,
} from "../../core/package_view.ts";
import { pickLatest, sortVersionsDescending } from "../../core/semver.ts";
import type { VersionRow, VersionState } from "../../core/rows.ts";
import { lazily } from "../../base/lazy.ts";

// markdown-it and highlight.js load with the first page that needs them (~50 ms of start-up CPU).
/** markdown-it, loaded with the first README. */
export const markdown = lazily(() => import("./_markdown.ts"));
/** highlight.js, loaded with the first highlighted file. */
export const highlighter = lazily(() => import("./_highlight.ts"));
import type { JsrFacts } from "../../core/jsr/publish.ts";
import type { FileMap } from "../../core/rows.ts";

/** One row of a package's versions table. */
export interface VersionLine {
  /** The version. */
  version: string;
  /** Whether it is yanked. */
  yanked: boolean;
  /** When it was published. */
  publishedAt: string;
  /** Who published it. */
  publishedBy: string;
  /** The deprecation message, when deprecated. */
  deprecated?: string;
}

/** A package's visible versions, newest first, and its latest (highest release not yanked). */
export interface VersionLines {
  /** Newest first. */
  lines: readonly VersionLine[];
  /** `null` when every version is yanked. */
  latest: string | null;
  /** When the oldest of them was published. */
  firstPublishedAt: string;
  /** When the newest was. */
  lastPublishedAt: string;
  /** The lines by version (a page finds its version without a scan). */
  byVersion: ReadonlyMap<string, VersionLine>;
}

/**
 * Sorted lines by the state list they were made from. The core keeps one
 * list object per package-row stamp (core/package_view.ts), so a page of a
 * package with thousands of versions sorts them once per change, not per view.
 */
const sortedLines = new WeakMap<readonly VersionState[], VersionLines>();

/** The versions table of a list of states (cached per list object). */
export function versionLines(states: readonly VersionState[]): VersionLines {
  const hit = sortedLines.get(states);
  if (hit) return hit;
  const byVersion = new Map(states.map((s) => [s.version, s]));
  const lines = sortVersionsDescending([...byVersion.keys()]).map((v): VersionLine => {
    const s = byVersion.get(v)!;
    return {
      version: v,
      yanked: s.yanked,
      publishedAt: s.publishedAt,
      publishedBy: s.publishedBy,
      ...(s.deprecated ? { deprecated: s.deprecated } : {}),
    };
  });
  const latest = pickLatest(states.filter((s) => !s.yanked).map((s) => s.version)) ?? null;
  let first = states[0]?.publishedAt ?? "";
  let last = first;
  for (const s of states) {
    if (s.publishedAt < first) first = s.publishedAt;
    if (s.publishedAt > last) last = s.publishedAt;
  }
  const out = {
    lines,
    latest,
    firstPublishedAt: first,
    lastPublishedAt: last,
    byVersion: new Map(lines.map((l) => [l.version, l])),
  };
  sortedLines.set(states, out);
  return out;
}

/** A JSR package page's data; `null` when the reader may see no version of it. */
export interface JsrPackageView {
  /** `@scope` */
  namespace: string;
  /** Package name. */
  name: string;
  /** The latest version (not yanked), when any. */
  latest: string | null;
  /** Every visible version, newest first. */
  versions: readonly VersionLine[];
  /** Dist-tags other than latest. */
  tags: Record<string, string>;
  /** The version shown. */
  shown: {
    version: string;
    yanked: boolean;
    publishedAt: string;
    publishedBy: string;
    exports: Record<string, string>;
    metaSha256: string;
    files: FileMap;
  };
}

/**
 * A package page's data but the shown version's files: what tells whether
 * the reader may see the page, and which kept page it is.
 */
export type JsrPackageHead = Omit<JsrPackageView, "shown"> & {
  shown: Omit<JsrPackageView["shown"], "files"> & { row: VersionRow };
};

type PackageRef = { namespace: string; name: string; version?: string };

/** A JSR package as `reader` may see it, at `version` (default: latest); `null` on a miss. */
export async function jsrPackageView(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<JsrPackageView | null> {
  const head = await jsrPackageHead(ctx, ref, reader);
  return head && await jsrPackageFiles(ctx, head);
}

/** {@linkcode jsrPackageView} but the files: the same reads and the same rule. */
export async function jsrPackageHead(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): Promise<JsrPackageHead | null> {
  // The same reads and visibility rule as meta.json (core/package_view.ts).
  const view = await readPackageView(ctx.storage, ref);
  const picked = pickVersion(view, ref, reader);
  if (!picked) return null;
  const found = await jsrVersion(ctx, { ...ref, version: picked.wanted }, reader);
  return found && headOf(ref, view, picked.lines, found.value);
}

/**
 * {@linkcode jsrPackageHead} without waiting, when its rows are in the read
 * cache and the version list is kept (`undefined` otherwise): a private
 * package and a missing one answer the same `null` from the same cached rows.
 */
export function jsrPackageHeadNow(
  ctx: RegistryContext,
  ref: PackageRef,
  reader: JsrReader,
): JsrPackageHead | null | undefined {
  const view = readPackageViewNow(ctx.storage, ref);
  if (view === undefined) return undefined;
  const picked = pickVersion(view, ref, reader);
  if (!picked) return null;
  const found = jsrVersionNow(ctx, { ...ref, version: picked.wanted }, reader);
  return found && headOf(ref, view, picked.lines, found.value);
}

/** The version a page shows (asked for, else latest, else newest) and the reader's lines. */
function pickVersion(view: PackageView, ref: PackageRef, reader: JsrReader) {
  if (view.row?.format !== "jsr") return null;
  const visible = visibleStates(view, ref.namespace, reader);
  if (visible.length === 0) return null;
  const lines = versionLines(visible);
  return { lines, wanted: ref.version ?? lines.latest ?? lines.lines[0]!.version };
}

function headOf(
  ref: PackageRef,
  view: PackageView,
  lines: VersionLines,
  found: { row: VersionRow; state: VersionState },
): JsrPackageHead {
  const { row } = found;
  const facts = row.facts as unknown as JsrFacts;
  // Yanked as the version list says: the list and the page agree (one package-row stamp).
  const yanked = lines.byVersion.get(row.version)?.yanked ?? found.state.yanked;
  return {
    namespace: ref.namespace,
    name: ref.name,
    latest: lines.latest,
    versions: lines.lines,
    tags: view.row?.tags ?? {},
    shown: {
      version: row.version,
      yanked,
      publishedAt: row.publishedAt,
      publishedBy: row.publishedBy,
      exports: facts.exports ?? {},
      metaSha256: facts.versionMetaSha256,
      row,
    },
  };
}

/** The page's data with the shown version's files. */
export async function jsrPackageFiles(
  ctx: RegistryContext,
  head: JsrPackageHead,
): Promise<JsrPackageView> {
  const { row, ...shown } = head.shown;
  return { ...head, shown: { ...shown, files: await versionFiles(ctx, row) } };
}

/** Rendered READMEs by blob digest (immutable), for the hot package pages. */
const renderedReadmes = new Map<string, { html: string; truncated: boolean }>();
const RENDERED_READMES = 256;
/** The longest README rendered (the rest is cut with a note). */
export const MAX_README_BYTES = 1024 * 1024;

/** A README blob as HTML (Markdown unless it is a `.txt`), cached by digest. */
export async function readmeHtml(
  ctx: RegistryContext,
  path: string,
  entry: { sha256: string; size: number },
): Promise<{ html: string; truncated: boolean } | null> {
  const id = `${entry.sha256}:${/\.txt$/i.test(path) ? "txt" : "md"}`;
  const hit = renderedReadmes.get(id);
  if (hit) return hit;
  const text = await readText(ctx, entry, MAX_README_BYTES);
  if (!text) return null;
  const html = /\.txt$/i.test(path)
    ? `<pre>${(await highlighter()).escapeHtml(text.text)}</pre>`
    : (await markdown()).renderMarkdown(text.text);
  const out = { html, truncated: text.truncated };
  if (html.length <= 256 * 1024) {
    if (renderedReadmes.size >= RENDERED_READMES) {
      renderedReadmes.delete(renderedReadmes.keys().next().value!);
    }
    renderedReadmes.set(id, out);
  }
  return out;
}

/** The README of a file map: `README.md` at the root, any case, when present. */
export function readmePath(files: FileMap): string | undefined {
  return Object.keys(files).find((p) => /^readme(\.md|\.markdown|\.txt)?$/i.test(p));
}

/**
 * The first `maxBytes` of a file, decoded as UTF-8 (invalid bytes replaced),
 * and whether it was cut.
 */
export async function readText(
  ctx: RegistryContext,
  entry: { sha256: string; size: number },
  maxBytes: number,
): Promise<{ text: string; truncated: boolean } | null> {
  const end = Math.min(entry.size, maxBytes);
  const body = await ctx.bundles.get(
    entry.sha256,
    end < entry.size ? { start: 0, end } : undefined,
  );
  if (!body) return null;
  const bytes = new Uint8Array(await new Response(body.stream).arrayBuffer());
  return { text: new TextDecoder().decode(bytes), truncated: end < entry.size };
}

/** Whether bytes look binary (a NUL in the first 8 KiB). */
export function looksBinary(text: string): boolean {
  return text.slice(0, 8192).includes("\u0000");
}
