/**
 * The three Rack JSON Schemas (draft 2020-12, our own files in `schemas/`) and
 * validators compiled from them once, with all errors and formats.
 *
 * @module
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from "ajv/dist/2020.js";
import * as formatsModule from "ajv-formats";
import registryItemSchema from "../../schemas/registry-item.json" with { type: "json" };
import presetSchema from "../../schemas/preset.json" with { type: "json" };
import rackSchema from "../../schemas/rack.json" with { type: "json" };

/** The schema files served under `/schemas/:file`. */
export const RACK_SCHEMA_FILES = ["rack.json", "preset.json", "registry-item.json"] as const;
/** A schema file name. */
export type RackSchemaFile = typeof RACK_SCHEMA_FILES[number];

const SCHEMAS: Record<RackSchemaFile, object> = {
  "rack.json": rackSchema,
  "preset.json": presetSchema,
  "registry-item.json": registryItemSchema,
};

/** Whether `name` is one of the three schema files. */
export function isRackSchemaFile(name: string): name is RackSchemaFile {
  return (RACK_SCHEMA_FILES as readonly string[]).includes(name);
}

/** The built-in bytes of a schema file (2-space JSON plus newline). */
export function builtinSchemaBytes(name: RackSchemaFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(SCHEMAS[name], null, 2) + "\n");
}

/** One validation problem, in the validator's own shape (as the original reports it). */
export type SchemaProblem = Pick<
  ErrorObject,
  "instancePath" | "schemaPath" | "keyword" | "params" | "message"
>;

type FormatsPlugin = (ajv: Ajv2020) => Ajv2020;

let compiled: { item: ValidateFunction; preset: ValidateFunction } | undefined;

function validators(): { item: ValidateFunction; preset: ValidateFunction } {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
  // ajv-formats is CommonJS: its default export is the plugin function itself.
  const mod = formatsModule as unknown as { default?: FormatsPlugin } & FormatsPlugin;
  const addFormats = typeof mod.default === "function" ? mod.default : mod;
  addFormats(ajv);
  compiled = { item: ajv.compile(registryItemSchema), preset: ajv.compile(presetSchema) };
  return compiled;
}

function run(validate: ValidateFunction, value: unknown): SchemaProblem[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => ({
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    keyword: e.keyword,
    params: e.params,
    ...(e.message === undefined ? {} : { message: e.message }),
  }));
}

/**
 * Validate a parsed `registry.json` against `registry-item.json`; `[]` when valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateRegistryItem } from "./schema.ts";
 * const ok = { name: "husky", namespace: "@rack", type: "registry:quality", version: "1.0.0", priority: 0 };
 * assert.ok(validateRegistryItem(ok).length === 0);
 * assert.ok(validateRegistryItem({ ...ok, extra: 1 }).length === 1);
 * ```
 */
export function validateRegistryItem(value: unknown): SchemaProblem[] {
  return run(validators().item, value);
}

/** Validate a parsed preset against `preset.json`; `[]` when valid. */
export function validatePreset(value: unknown): SchemaProblem[] {
  return run(validators().preset, value);
}
