/**
 * Yank and unyank over JSR's API: the shared lifecycle, with the one access
 * rule (docs/access.md): the version must exist for the caller, and yanking
 * needs the `yank` grant (or `admin`) on its namespace.
 *
 * @module
 */
import type { Principal } from "../auth.ts";
import { unyankVersion, yankVersion } from "../lifecycle.ts";
import type { VersionRef } from "../../base/names.ts";
import { principalCan } from "../tokens.ts";
import { jsrError } from "./errors.ts";
import type { JsrContext } from "./publish.ts";
import { jsrVersion } from "./read.ts";

/**
 * Set a version's `yanked` flag for `principal`. Throws `packageVersionNotFound`
 * when the caller cannot see the version (a private one is a miss) and
 * `missingPermission` without the `yank` grant.
 *
 * @example
 * ```ts ignore
 * await setJsrYanked(ctx, principal, { namespace: "@acme", name: "util", version: "1.1.0" }, true);
 * ```
 */
export async function setJsrYanked(
  ctx: JsrContext,
  principal: Principal,
  ref: VersionRef,
  yanked: boolean,
  options: { ip?: string } = {},
): Promise<void> {
  if (!(await jsrVersion(ctx, ref, principal))) {
    throw jsrError(
      "packageVersionNotFound",
      `Package version ${ref.namespace}/${ref.name}@${ref.version} not found`,
    );
  }
  if (!principalCan(principal, "yank", ref.namespace)) {
    throw jsrError("missingPermission", `The token may not yank versions in '${ref.namespace}'`);
  }
  await (yanked ? yankVersion : unyankVersion)(ctx, {
    ...ref,
    actor: principal.subject,
    ...(options.ip ? { ip: options.ip } : {}),
    ...(ctx.subscriptions ? { subscriptions: ctx.subscriptions } : {}),
  });
}
