/**
 * `POST /admin/namespaces/:namespace/claim` with `{"owner": "<subject>"}`:
 * an admin's explicit claim of a namespace, the only way to publish into one
 * whose packages were served from the JSR upstream (docs/jsr.md). Answers
 * 201 with the claim, or 409 `conflict` when the namespace is already owned.
 *
 * @module
 */
import type { Context, Hono } from "hono";
import type { Authenticator } from "../../core/auth.ts";
import type { RegistryContext } from "../../core/context.ts";
import { isRegistryError, RegistryError } from "../../base/errors.ts";
import { claimNamespace } from "../../core/jsr/upstream_claims.ts";
import { jsonResponse, NO_STORE_JSON } from "../ops/_common.ts";

const STATUS = {
  unauthorized: 401,
  forbidden: 403,
  invalid_input: 400,
  invalid_name: 400,
} as const;

function answer(body: unknown, status: number): Response {
  return jsonResponse(body, status, NO_STORE_JSON);
}

/** Add the claim route to `app` (the registry app, before its admin routes). */
export function addNamespaceClaimRoute(
  app: Hono,
  options: { ctx: RegistryContext; authenticator: Authenticator },
): void {
  app.post("/admin/namespaces/:namespace/claim", async (c: Context) => {
    try {
      const m = /^bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
      const who = m ? await options.authenticator.authenticate(m[1]!) : null;
      if (!who) throw new RegistryError("unauthorized", "A valid bearer token is required");
      if (!who.admin) {
        throw new RegistryError("forbidden", "Claiming a namespace needs an admin token");
      }
      let body: { owner?: unknown };
      try {
        body = await c.req.json();
      } catch {
        throw new RegistryError("invalid_input", 'The body must be JSON: {"owner": "<subject>"}');
      }
      if (typeof body?.owner !== "string" || body.owner.length > 200) {
        throw new RegistryError("invalid_input", "'owner' must be the subject that will own it");
      }
      const namespace = c.req.param("namespace")!;
      const outcome = await claimNamespace(options.ctx, {
        namespace,
        owner: body.owner,
        actor: who.subject,
      });
      if (outcome === "exists") {
        return answer(
          { code: "conflict", message: `Namespace '${namespace}' is already owned` },
          409,
        );
      }
      return answer({ namespace, owner: body.owner }, 201);
    } catch (err) {
      if (isRegistryError(err) && err.code in STATUS) {
        return answer(
          { code: err.code, message: err.message },
          STATUS[err.code as keyof typeof STATUS],
        );
      }
      throw err;
    }
  });
}
