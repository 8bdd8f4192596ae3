/**
 * Who may publish into a namespace whose packages were served from the JSR
 * upstream: nobody, until an admin claims it here (or the operator declares
 * it in `auth.json`). Otherwise the first publish of anyone with a token
 * would claim `@std` and shadow the public packages for every project that
 * resolves through this registry (docs/jsr.md).
 *
 * @module
 */
import type { RegistryContext } from "../context.ts";
import { RegistryError } from "../../base/errors.ts";
import { isNamespace } from "../../base/names.ts";
import type { ScopeRow } from "../rows.ts";
import { auditMutation, auditRow } from "../audit.ts";
import { ownerIndexMutation } from "../search_index.ts";
import * as keys from "../../storage/keys.ts";

/**
 * Whether publishing into `namespace` must be refused: its packages were
 * served from the upstream and nobody has claimed it here.
 */
export async function servedFromUpstream(
  ctx: RegistryContext,
  namespace: string,
): Promise<boolean> {
  const [marker, owner] = await ctx.storage.getMany([
    keys.upstreamJsrNamespaceKey(namespace),
    keys.scopeKey(namespace),
  ]);
  return marker !== null && owner === null;
}

/**
 * An admin's explicit claim of a namespace for `owner`: from then on it is
 * ours (the upstream is never asked about it again) and `owner` publishes
 * there. Answers `created`, or `exists` when it was already claimed.
 */
export async function claimNamespace(
  ctx: RegistryContext,
  input: { namespace: string; owner: string; actor: string },
): Promise<"created" | "exists"> {
  if (!isNamespace(input.namespace)) {
    throw new RegistryError("invalid_name", `Cannot claim '${input.namespace}': not a namespace`);
  }
  if (input.owner.trim() === "") {
    throw new RegistryError("invalid_input", "Cannot claim a namespace for an empty owner");
  }
  const row: ScopeRow = {
    scope: input.namespace,
    ownerSubject: input.owner,
    claimedAt: ctx.clock().toISOString(),
    verification: "unverified",
  };
  const key = keys.scopeKey(input.namespace);
  const result = await ctx.storage.commit({
    checks: [{ key, stamp: null }],
    mutations: [
      { type: "set", key, value: row as never },
      ownerIndexMutation(row),
      auditMutation(auditRow(ctx, {
        actor: input.actor,
        action: "namespace.claim",
        target: input.namespace,
        detail: { owner: input.owner },
      })),
    ],
  });
  return result.ok ? "created" : "exists";
}
