/**
 * The three Rack JSON Schemas (draft 2020-12, our own files in `schemas/`) and
 * validators compiled from them once, with all errors and formats (plus one
 * that stops at the first error, for a verdict in bounded memory).
 *
 * @module
 */
import { echo } from "../../base/errors.ts";
import type { Ajv2020, ErrorObject, ValidateFunction } from "ajv/dist/2020.js";
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

interface Validators {
  /** Every error (the spec's report). */
  item: ValidateFunction;
  /** Stops at the first error: a verdict in bounded memory. */
  itemFirst: ValidateFunction;
  preset: ValidateFunction;
}

let compiled: Promise<Validators> | undefined;
/** Validators of operator schemas (SCHEMA_DIR), by the schema's JSON; a few at most. */
const custom = new Map<string, Promise<Validators>>();
const MAX_CUSTOM = 4;

/**
 * The compiled validators, made on first use: the JSON Schema compiler is
 * loaded only when a Rack upload or preset is first checked (it costs ~70 ms
 * of start-up CPU otherwise paid by every server). With `itemSchema` (an
 * operator's `registry-item.json` from SCHEMA_DIR), validators of that schema,
 * compiled as the original compiles it (not strict: its own keywords pass).
 */
function validators(itemSchema?: object): Promise<Validators> {
  if (itemSchema !== undefined) {
    const key = JSON.stringify(itemSchema);
    let hit = custom.get(key);
    if (!hit) {
      hit = makeValidators(itemSchema, false);
      if (custom.size >= MAX_CUSTOM) custom.delete(custom.keys().next().value!);
      custom.set(key, hit);
      hit.catch(() => custom.delete(key));
    }
    return hit;
  }
  compiled ??= makeValidators(registryItemSchema, true);
  return compiled;
}

async function makeValidators(itemSchema: object, strict: boolean): Promise<Validators> {
  const [{ Ajv2020: Ajv }, formatsModule] = await Promise.all([
    import("ajv/dist/2020.js"),
    import("ajv-formats"),
  ]);
  const makeAjv = (allErrors: boolean): Ajv2020 => {
    const ajv = new Ajv({ allErrors, strict, strictRequired: false });
    // ajv-formats is CommonJS: its default export is the plugin function itself.
    const mod = formatsModule as unknown as { default?: FormatsPlugin } & FormatsPlugin;
    const addFormats = typeof mod.default === "function" ? mod.default : mod;
    addFormats(ajv);
    return ajv;
  };
  const all = makeAjv(true);
  return {
    item: all.compile(itemSchema),
    itemFirst: makeAjv(false).compile(itemSchema),
    preset: all.compile(presetSchema),
  };
}

function toProblem(e: ErrorObject): SchemaProblem {
  return {
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    keyword: e.keyword,
    params: e.params,
    ...(e.message === undefined ? {} : { message: e.message }),
  };
}

function run(validate: ValidateFunction, value: unknown): SchemaProblem[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map(toProblem);
}

/** The most problems a {@linkcode SchemaReport} lists. */
export const MAX_REPORTED_PROBLEMS = 20;
/** The longest JSON of the listed problems (characters); further problems are counted, not listed. */
export const MAX_REPORT_CHARS = 4096;
/** Strings inside a reported problem are cut to this many characters. */
const MAX_PROBLEM_STRING = 160;
/**
 * Documents with more JSON values than this that fail validation report their
 * first problem only: listing every problem costs memory in proportion to the
 * document (300 000 bad tags are 300 000 error objects).
 */
export const MAX_FULLY_REPORTED_VALUES = 10_000;

/** A bounded list of validation problems. */
export interface SchemaReport {
  /** The first problems, at most {@linkcode MAX_REPORTED_PROBLEMS}, long strings cut. */
  problems: SchemaProblem[];
  /** How many further problems were found; `undefined` when they were not counted. */
  omitted: number | undefined;
}

function shorten(value: unknown, depth = 0): unknown {
  if (typeof value === "string") return echo(value, MAX_PROBLEM_STRING);
  if (typeof value !== "object" || value === null) return value;
  if (depth >= 2) return "…";
  if (Array.isArray(value)) {
    const items = value.slice(0, 10).map((v) => shorten(v, depth + 1));
    return value.length > 10 ? [...items, "…"] : items;
  }
  const entries = Object.entries(value).slice(0, 10);
  return Object.fromEntries(entries.map(([k, v]) => [shorten(k), shorten(v, depth + 1)]));
}

/** Whether a JSON value holds more than `max` values (stops counting past it). */
function holdsMoreValues(value: unknown, max: number): boolean {
  let count = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++count > max) return true;
    if (typeof v === "object" && v !== null) {
      for (const child of Array.isArray(v) ? v : Object.values(v)) {
        if (stack.push(child) + count > max) return true;
      }
    }
  }
  return false;
}

/**
 * Validate a parsed `registry.json` and report at most
 * {@linkcode MAX_REPORTED_PROBLEMS} problems (and {@linkcode MAX_REPORT_CHARS}
 * of JSON), each string cut to a readable length, with the count of the rest.
 * A valid document is checked by a validator that stops at the first error;
 * every error is collected only for invalid documents of at most
 * {@linkcode MAX_FULLY_REPORTED_VALUES} values, else the first one is reported
 * and `omitted` is `undefined`. So memory stays small whatever the document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reportRegistryItem } from "./schema.ts";
 * const ok = { name: "husky", namespace: "@rack", type: "registry:quality", version: "1.0.0", priority: 0 };
 * assert.deepEqual(await reportRegistryItem(ok), { problems: [], omitted: 0 });
 * const bad = await reportRegistryItem({ ...ok, tags: Array(100).fill("") });
 * assert.ok(bad.problems.length === 20 && bad.omitted === 80);
 * ```
 */
export async function reportRegistryItem(
  value: unknown,
  options: { schema?: object } = {},
): Promise<SchemaReport> {
  const { item, itemFirst } = await validators(options.schema);
  if (itemFirst(value)) return { problems: [], omitted: 0 };
  let errors: ErrorObject[];
  let omitted: number | undefined;
  if (holdsMoreValues(value, MAX_FULLY_REPORTED_VALUES)) {
    errors = itemFirst.errors ?? [];
    omitted = undefined;
  } else {
    item(value);
    errors = item.errors ?? [];
    item.errors = null;
    omitted = 0;
  }
  const problems: SchemaProblem[] = [];
  let chars = 2;
  for (const error of errors) {
    if (problems.length === MAX_REPORTED_PROBLEMS) break;
    const problem = shorten(toProblem(error)) as SchemaProblem;
    chars += JSON.stringify(problem).length + 1;
    if (chars > MAX_REPORT_CHARS && problems.length > 0) break;
    problems.push(problem);
  }
  if (omitted !== undefined) omitted = errors.length - problems.length;
  itemFirst.errors = null;
  return { problems, omitted };
}

/**
 * Validate a parsed `registry.json` against `registry-item.json`; `[]` when
 * valid. Lists every problem, so its size grows with the document: uploads
 * use {@linkcode reportRegistryItem}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateRegistryItem } from "./schema.ts";
 * const ok = { name: "husky", namespace: "@rack", type: "registry:quality", version: "1.0.0", priority: 0 };
 * assert.ok((await validateRegistryItem(ok)).length === 0);
 * assert.ok((await validateRegistryItem({ ...ok, extra: 1 })).length === 1);
 * ```
 */
export async function validateRegistryItem(value: unknown): Promise<SchemaProblem[]> {
  return run((await validators()).item, value);
}

/** Validate a parsed preset against `preset.json`; `[]` when valid. */
export async function validatePreset(value: unknown): Promise<SchemaProblem[]> {
  return run((await validators()).preset, value);
}
