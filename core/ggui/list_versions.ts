/**
 * `GET /pkg/:scope/:name`: every version the caller may see, SemVer
 * descending (a prerelease sorts below its release), yanked ones included.
 * Private versions are filtered per row; when nothing is visible the answer is
 * the same 404 bytes as a missing artifact, after the same work (see
 * `core/package_view.ts`).
 *
 * @module
 */
import {
  type PackageView,
  readPackageView,
  readPackageViewNow,
  visibleStates,
} from "../package_view.ts";
import type { VersionState } from "../rows.ts";
import {
  type AuthnContext,
  errorResult,
  type GguiContext,
  type GguiErrorBody,
  type GguiResult,
  kindOfFormat,
} from "./_common.ts";
import { NAME_RE, SCOPE_RE } from "./manifest_grammar.ts";

/** One entry of a version list. */
export interface VersionEntry {
  /** The version. */
  version: string;
  /** When it was published. */
  publishedAt: string;
  /** Whether it is yanked (always present). */
  yanked: boolean;
  /** `gadget` or `blueprint`. */
  kind: "gadget" | "blueprint";
  /** `public` or `private`. */
  visibility: "public" | "private";
}

/** The version list body. */
export interface VersionListBody {
  /** `@scope/name`. */
  artifactId: string;
  /** Visible versions, newest first. */
  versions: VersionEntry[];
}

/**
 * List the versions of one artifact that the caller may see.
 *
 * @example
 * ```ts ignore
 * const res = await listArtifactVersions(ctx, { authn: undefined, scope: "@acme", name: "map" });
 * ```
 */
export async function listArtifactVersions(
  ctx: GguiContext,
  request: ListRequest,
): Promise<GguiResult<VersionListBody | GguiErrorBody>> {
  const { scope, name } = request;
  if (!SCOPE_RE.test(scope) || !NAME_RE.test(name)) return notFound(request);
  let view: PackageView;
  try {
    view = await readPackageView(ctx.storage, { namespace: scope, name });
  } catch {
    return errorResult(500, "server_error", "failed to list versions");
  }
  return listingOf(view, request);
}

/**
 * {@linkcode listArtifactVersions} without waiting, when the package view is
 * in memory (`readPackageViewNow`): the same answer, the 404 of a missing or
 * wholly hidden artifact included; `undefined` when only
 * `listArtifactVersions` can give it.
 */
export function listArtifactVersionsNow(
  ctx: GguiContext,
  request: ListRequest,
): GguiResult<VersionListBody | GguiErrorBody> | undefined {
  const { scope, name } = request;
  if (!SCOPE_RE.test(scope) || !NAME_RE.test(name)) return notFound(request);
  const view = readPackageViewNow(ctx.storage, { namespace: scope, name });
  return view === undefined ? undefined : listingOf(view, request);
}

/** What {@linkcode listArtifactVersions} reads: the caller and the artifact. */
export interface ListRequest {
  /** The caller (`undefined`: anonymous). */
  authn: AuthnContext;
  /** The scope, with its `@`. */
  scope: string;
  /** The artifact name. */
  name: string;
}

function notFound(request: ListRequest): GguiResult<GguiErrorBody> {
  return errorResult(404, "not_found", `no such artifact: ${request.scope}/${request.name}`);
}

function listingOf(
  view: PackageView,
  request: ListRequest,
): GguiResult<VersionListBody | GguiErrorBody> {
  const { authn, scope, name } = request;
  const artifactId = `${scope}/${name}`;
  const visible = visibleStates(view, scope, authn);
  // Rendered once per list of states: the package view hands every reader of
  // one visibility class the same list until the package row changes, and a
  // frozen result is serialized (and its ETag hashed) once by the routes.
  const known = rendered.get(visible);
  if (known) return known;
  const versions: VersionEntry[] = [];
  for (const s of visible) {
    const kind = kindOfFormat(s.format);
    if (kind === undefined) continue;
    versions.push({
      version: s.version,
      publishedAt: s.publishedAt,
      yanked: s.yanked,
      kind,
      visibility: s.visibility,
    });
  }
  if (versions.length === 0) return notFound(request);
  const result = deepFreeze({ status: 200, body: { artifactId, versions } });
  rendered.set(visible, result);
  return result;
}

/** Listing results by the list of states they were rendered from. */
const rendered = new WeakMap<readonly VersionState[], GguiResult<VersionListBody>>();

function deepFreeze(result: GguiResult<VersionListBody>): GguiResult<VersionListBody> {
  for (const entry of result.body.versions) Object.freeze(entry);
  Object.freeze(result.body.versions);
  Object.freeze(result.body);
  return Object.freeze(result);
}
