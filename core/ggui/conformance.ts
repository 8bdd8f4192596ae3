/**
 * The ggui conformance gate (`POST /conformance/check`, re-run inside publish).
 *
 * Manifest-level gates run here: the schema (1), a missing gadget bundle (2,
 * first half), the blueprint source size (5) and the fixture shape (9). The
 * code-level gates that need an ES/TSX parser (2–4 gadget parse, imports,
 * exports; 6–8 blueprint syntax, imports, default export) are
 * {@linkcode CodeGates}, run at their points of the sequence: the parser
 * gates of `parse.ts` by default (they are not optional in the spec), or a
 * replacement passed by the caller.
 *
 * @module
 */
import {
  type ArtifactManifest,
  type BlueprintManifest,
  type GadgetManifest,
  parseManifest,
} from "./manifest.ts";
import { asyncParserCodeGates, parserCodeGates } from "./parse.ts";
import type { ConformanceError } from "./conformance_codes.ts";
export {
  CONFORMANCE_CODES,
  type ConformanceCode,
  type ConformanceError,
} from "./conformance_codes.ts";

/** The outcome of a conformance check. */
export interface ConformanceResult {
  /** Whether every gate passed. */
  ok: boolean;
  /** Every failure, in gate order. */
  errors: ConformanceError[];
  /** The parsed manifest when the schema gate passed. */
  manifest?: ArtifactManifest;
}

/** The largest blueprint source, in UTF-8 bytes: 5 MiB. */
export const MAX_BLUEPRINT_SOURCE_BYTES = 5 * 1024 * 1024;

/**
 * The code-level gates: each returns the errors its gates find, in the order
 * the spec lists them; an empty list passes. Default: `parserCodeGates`.
 */
export interface CodeGates {
  /** Gadget gates 2–4 over the non-empty bundle text: parse, imports, exports. */
  gadget?: (manifest: GadgetManifest, bundle: string) => ConformanceError[];
  /** Blueprint gates 6–8 over the source: syntax, imports, default export. */
  blueprint?: (manifest: BlueprintManifest) => ConformanceError[];
}

/** Code gates that may answer later (e.g. parse in a worker). */
export interface AsyncCodeGates {
  /** Gadget gates 2–4. */
  gadget?: (
    manifest: GadgetManifest,
    bundle: string,
  ) => ConformanceError[] | Promise<ConformanceError[]>;
  /** Blueprint gates 6–8. */
  blueprint?: (manifest: BlueprintManifest) => ConformanceError[] | Promise<ConformanceError[]>;
}

/** A blueprint runtime probe (optional, unwired by default). */
export interface BlueprintProbe {
  /** Render the blueprint with its fixture props; failures use `blueprint_runtime_probe_failed`. */
  probe(manifest: BlueprintManifest): Promise<{ ok: boolean; errors: ConformanceError[] }>;
}

/**
 * Run the conformance gates over a manifest and (for gadgets) the bundle's
 * UTF-8 text. A failed check is a result, never a thrown error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkConformance } from "./conformance.ts";
 * const r = checkConformance({ manifest: { kind: "gadget" } });
 * assert.ok(!r.ok && r.errors[0]?.code === "manifest_invalid");
 * ```
 */
export function checkConformance(
  input: { manifest: unknown; bundle?: unknown },
  options: { codeGates?: CodeGates } = {},
): ConformanceResult {
  const gates = options.codeGates ?? parserCodeGates;
  const parsed = parseManifest(input.manifest);
  if (!parsed.ok) {
    return {
      ok: false,
      errors: parsed.issues.map((issue) => ({
        code: "manifest_invalid",
        message: issue.message,
        path: issue.path,
        detail: { zodCode: issue.code },
      })),
    };
  }
  const manifest = parsed.manifest;
  const errors = manifest.kind === "gadget"
    ? gadgetGates(manifest, input.bundle, gates)
    : blueprintGates(manifest, gates);
  return { ok: errors.length === 0, errors, manifest };
}

function gadgetGates(
  manifest: GadgetManifest,
  bundle: unknown,
  gates: CodeGates | undefined,
): ConformanceError[] {
  const missing = missingBundle(bundle);
  if (missing) return missing;
  return gates?.gadget?.(manifest, bundle as string) ?? [];
}

function missingBundle(bundle: unknown): ConformanceError[] | undefined {
  if (typeof bundle === "string" && bundle.length > 0) return undefined;
  return [{
    code: "bundle_parse_error",
    message:
      "gadget submission is missing the `bundle` field — bundle text is required for kind=gadget conformance.",
  }];
}

function sourceTooLarge(manifest: BlueprintManifest): ConformanceError[] | undefined {
  // A string of n UTF-16 units is at most 3n UTF-8 bytes: skip the encode when small.
  if (manifest.source.length * 3 <= MAX_BLUEPRINT_SOURCE_BYTES) return undefined;
  const sourceBytes = new TextEncoder().encode(manifest.source).byteLength;
  if (sourceBytes <= MAX_BLUEPRINT_SOURCE_BYTES) return undefined;
  return [{
    code: "blueprint_source_too_large",
    message:
      `blueprint source is ${sourceBytes} bytes; maximum is ${MAX_BLUEPRINT_SOURCE_BYTES} bytes (5 MiB).`,
    detail: { sourceBytes, maxBytes: MAX_BLUEPRINT_SOURCE_BYTES },
  }];
}

function blueprintGates(
  manifest: BlueprintManifest,
  gates: CodeGates | undefined,
): ConformanceError[] {
  const tooLarge = sourceTooLarge(manifest);
  if (tooLarge) return tooLarge;
  return afterBlueprintCode(manifest, gates?.blueprint?.(manifest) ?? []);
}

/** Gate 9 after the code gates: a syntax error (gate 6) short-circuits it. */
function afterBlueprintCode(
  manifest: BlueprintManifest,
  errors: ConformanceError[],
): ConformanceError[] {
  if (errors.some((e) => e.code === "blueprint_compile_error")) return errors;
  const propsSpec = manifest.contract?.propsSpec;
  if (manifest.fixtureProps !== undefined && propsSpec !== undefined) {
    const shape = fixtureShapeError(manifest.fixtureProps, propsSpec.properties);
    if (shape) errors.push(shape);
  }
  return errors;
}

function jsonType(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

function fixtureShapeError(
  fixture: unknown,
  properties: Record<string, { required?: boolean }>,
): ConformanceError | null {
  if (fixture === null || typeof fixture !== "object" || Array.isArray(fixture)) {
    const received = jsonType(fixture);
    return {
      code: "fixture_props_shape_mismatch",
      message:
        `fixtureProps must be a JSON object (got ${received}). The runtime probe renders the blueprint with \`<Component {...fixtureProps} />\`; a non-object fixture cannot spread.`,
      detail: { received },
    };
  }
  const missing = Object.entries(properties)
    .filter(([key, entry]) => entry.required === true && !Object.hasOwn(fixture, key))
    .map(([key]) => key);
  if (missing.length === 0) return null;
  const noun = missing.length === 1 ? "key" : "keys";
  return {
    code: "fixture_props_shape_mismatch",
    message: `fixtureProps is missing required ${noun} \`${
      missing.join("`, `")
    }\` declared on contract.propsSpec.properties. Either add the ${noun} to fixtureProps or relax \`required\` on the propsSpec.`,
    detail: { missingKeys: missing },
  };
}

/**
 * {@linkcode checkConformance} with code gates that may run off the event
 * loop: by default the parser gates, inline for small inputs and in a
 * warm worker for large ones, so a multi-MiB bundle or blueprint never
 * stalls the server. Same gates, order and results.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkConformanceAsync } from "./conformance.ts";
 * const r = await checkConformanceAsync({ manifest: { kind: "gadget" } });
 * assert.ok(!r.ok && r.errors[0]?.code === "manifest_invalid");
 * ```
 */
export async function checkConformanceAsync(
  input: { manifest: unknown; bundle?: unknown },
  options: { codeGates?: AsyncCodeGates } = {},
): Promise<ConformanceResult> {
  const gates = options.codeGates ?? asyncParserCodeGates;
  const first = checkConformance(input, { codeGates: {} });
  const manifest = first.manifest;
  if (manifest === undefined) return first;
  let errors: ConformanceError[];
  if (manifest.kind === "gadget") {
    errors = missingBundle(input.bundle) ??
      await gates.gadget?.(manifest, input.bundle as string) ?? [];
  } else {
    errors = sourceTooLarge(manifest) ??
      afterBlueprintCode(manifest, await gates.blueprint?.(manifest) ?? []);
  }
  return { ok: errors.length === 0, errors, manifest };
}

/** The `/conformance/check` body: `errors`, and `issues` (the same array) for the CLI. */
export interface ConformanceBody {
  /** Whether every gate passed. */
  ok: boolean;
  /** Every failure. */
  errors: ConformanceError[];
  /** The same array as `errors` (the stock CLI reads `issues`). */
  issues: ConformanceError[];
}

/**
 * `POST /conformance/check` over an already-parsed JSON body: always 200 (a
 * failed check is not a transport error). A non-object body checks an absent
 * manifest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkConformanceRequest } from "./conformance.ts";
 * const res = await checkConformanceRequest({}, { body: { manifest: { kind: "gadget" } } });
 * assert(res.status === 200 && !res.body.ok);
 * assert(res.body.issues === res.body.errors && res.body.errors[0]?.code === "manifest_invalid");
 * ```
 */
export async function checkConformanceRequest(
  ctx: { codeGates?: AsyncCodeGates },
  request: { body: unknown },
): Promise<{ status: 200; body: ConformanceBody }> {
  const body = request.body !== null && typeof request.body === "object" &&
      !Array.isArray(request.body)
    ? request.body as Record<string, unknown>
    : {};
  const result = await checkConformanceAsync(
    { manifest: body.manifest, bundle: body.bundle },
    ctx.codeGates === undefined ? {} : { codeGates: ctx.codeGates },
  );
  return { status: 200, body: { ok: result.ok, errors: result.errors, issues: result.errors } };
}
