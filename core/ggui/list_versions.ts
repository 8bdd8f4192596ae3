/**
 * `GET /pkg/:scope/:name`: every version the caller may see, SemVer
 * descending (a prerelease sorts below its release), yanked ones included.
 * Private versions are filtered per row; when nothing is visible the answer is
 * the same 404 bytes as a missing artifact, after the same work (see
 * `core/package_view.ts`).
 *
 * @module
 */
import { type PackageView, readPackageView, visibleStates } from "../package_view.ts";
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
  request: { authn: AuthnContext; scope: string; name: string },
): Promise<GguiResult<VersionListBody | GguiErrorBody>> {
  const { authn, scope, name } = request;
  const artifactId = `${scope}/${name}`;
  const notFound = () => errorResult(404, "not_found", `no such artifact: ${artifactId}`);
  if (!SCOPE_RE.test(scope) || !NAME_RE.test(name)) return notFound();
  let view: PackageView;
  try {
    view = await readPackageView(ctx.storage, { namespace: scope, name });
  } catch {
    return errorResult(500, "server_error", "failed to list versions");
  }
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
  if (versions.length === 0) return notFound();
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
