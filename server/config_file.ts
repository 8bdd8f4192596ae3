/**
 * `--config=<file>`: the server's settings in one JSON or JSONC file, keyed by
 * flag name without `--`, validated against `schemas/config.schema.json`.
 * Precedence: flag > environment > file > default.
 *
 * @module
 */
import schema from "../schemas/config.schema.json" with { type: "json" };
import { jsonErrorPosition, StartError } from "./preflight.ts";
import { suggest } from "./suggest.ts";

interface Rule {
  type?: string;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  minLength?: number;
  anyOf?: Rule[];
  items?: Rule;
}

const PROPERTIES = schema.properties as Record<string, Rule>;

/** The keys a config file may hold (every server flag). */
export const CONFIG_KEYS: readonly string[] = Object.keys(PROPERTIES).filter((k) =>
  k !== "$schema"
);

/** JSONC to JSON: comments and trailing commas become spaces, so positions stay where they were. */
export function stripJsonc(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      const start = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      out += text.slice(start, i + 1);
    } else if (c === "/" && text[i + 1] === "/") {
      while (i < text.length && text[i] !== "\n") [out, i] = [out + " ", i + 1];
      if (i < text.length) out += "\n";
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      const stop = end === -1 ? text.length : end + 2;
      out += text.slice(i, stop).replace(/[^\n]/g, " ");
      i = stop - 1;
    } else if (c === ",") {
      const rest = /^\s*[}\]]/.test(text.slice(i + 1).replace(/\/\/[^\n]*|\/\*[\s\S]*?\*\//g, ""));
      out += rest ? " " : c;
    } else out += c;
  }
  return out;
}

function matches(rule: Rule, value: unknown): string | undefined {
  if (rule.anyOf) {
    const ok = rule.anyOf.some((r) => matches(r, value) === undefined);
    return ok ? undefined : `must be ${rule.anyOf.map(describe).join(" or ")}`;
  }
  if (rule.enum && !rule.enum.includes(value)) return `must be one of ${rule.enum.join(", ")}`;
  if (rule.type === "string") {
    if (typeof value !== "string" || value.length < (rule.minLength ?? 0)) {
      return "must be a non-empty string";
    }
  }
  if (rule.type === "boolean" && typeof value !== "boolean") return "must be true or false";
  if (rule.type === "integer") {
    if (!Number.isInteger(value)) return "must be a whole number";
    const n = value as number;
    if (n < (rule.minimum ?? -Infinity) || n > (rule.maximum ?? Infinity)) {
      return `must be from ${rule.minimum} to ${rule.maximum ?? "any"}`;
    }
  }
  if (rule.type === "array") {
    if (!Array.isArray(value)) return "must be a list";
    const bad = value.map((v) => matches(rule.items ?? {}, v)).find((m) => m !== undefined);
    if (bad) return `items ${bad}`;
  }
  return undefined;
}

function describe(rule: Rule): string {
  if (rule.type === "array") return `a list of ${describe(rule.items ?? {})}s`;
  if (rule.type === "integer") {
    return rule.minimum ? `a whole number ≥ ${rule.minimum}` : "a whole number";
  }
  return rule.type === "boolean" ? "true or false" : "a string";
}

/** A config file's document checked against the schema: values as the flags' text. */
export function validateConfig(doc: unknown, path: string): Record<string, string> {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new StartError(`${path}: the configuration is a JSON object keyed by flag name`);
  }
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key === "$schema") continue;
    const rule = PROPERTIES[key];
    if (rule === undefined) {
      const near = suggest(key.replace(/^-+/, ""), CONFIG_KEYS);
      throw new StartError(
        `${path}: unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ""}`,
      );
    }
    const why = matches(rule, value);
    if (why !== undefined) throw new StartError(`${path}: "${key}" ${why}`);
    out[key] = Array.isArray(value) ? value.join(",") : String(value);
  }
  return out;
}

/** Read, parse (JSON or JSONC) and validate a config file. */
export async function loadConfigFile(path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const why = err instanceof Deno.errors.NotFound
      ? "does not exist"
      : err instanceof Deno.errors.PermissionDenied
      ? "cannot be read: permission denied"
      : `cannot be read: ${err instanceof Error ? err.message : String(err)}`;
    throw new StartError(`${path} (given by --config or REGISTRY_CONFIG) ${why}`);
  }
  const json = stripJsonc(text);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split("\n")[0]!
      .replace(/ in JSON at position.*$/, "").replace(/, ".*$/, "");
    throw new StartError(`${path}:${jsonErrorPosition(json, err)}: invalid JSON: ${why}`);
  }
  return validateConfig(doc, path);
}

/** Where `--config` points: the flag (either form), else `REGISTRY_CONFIG`. */
export function configPath(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a.startsWith("--config=")) return a.slice("--config=".length);
    if (a === "--config" && i + 1 < args.length) return args[i + 1];
  }
  return env.REGISTRY_CONFIG || undefined;
}
