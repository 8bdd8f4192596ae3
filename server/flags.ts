/**
 * Command-line flags, parsed the way `node:util`'s `parseArgs` does in strict
 * mode (the same values, positionals and error messages), without loading the
 * Node compatibility layer, which costs a start tens of milliseconds of CPU
 * (docs/bench.md, start-up).
 *
 * `--flag=value` and `--flag value` for string flags (a value starting with
 * `-` must use `=`), booleans as bare `--flag`, `-h` style short flags and
 * groups of them, `--` ending the flags.
 *
 * @module
 */

/** One flag's description. */
export interface FlagSpec {
  /** `string` takes a value; `boolean` takes none. */
  type: "string" | "boolean";
  /** A one-letter alias, written `-x`. */
  short?: string;
  /** Collect every occurrence into a list instead of keeping the last. */
  multiple?: boolean;
}

/** What {@linkcode parseFlags} reads. */
export interface FlagOptions {
  /** The flags known, by long name. */
  options: Readonly<Record<string, FlagSpec>>;
  /** Whether arguments that are not flags are accepted (default false). */
  allowPositionals?: boolean;
}

/** Parsed flags: a value per flag given (`true` for booleans), and the other arguments. */
export interface ParsedFlags {
  /** Flag values by long name; only the flags given are present. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** The arguments that are not flags, in order. */
  positionals: string[];
}

/** A usage error: its message is one line; `unknown` names an unknown flag (without dashes). */
export class FlagError extends Error {
  /** The unknown flag's name as written, dashes stripped; absent for other errors. */
  readonly unknown?: string;
  /** Make one. */
  constructor(message: string, unknown?: string) {
    super(message);
    this.name = "FlagError";
    if (unknown !== undefined) this.unknown = unknown;
  }
}

interface Token {
  name: string;
  rawName: string;
  value: string | undefined;
  inline: boolean;
}

function longOf(short: string, options: FlagOptions["options"]): string {
  for (const [name, spec] of Object.entries(options)) if (spec.short === short) return name;
  return short;
}

function typeOf(name: string, options: FlagOptions["options"]): string | undefined {
  return Object.hasOwn(options, name) ? options[name]!.type : undefined;
}

/** `-abc` as `-a -b -c`; a string flag takes the rest of the group as its value. */
function expandGroup(arg: string, options: FlagOptions["options"]): string[] {
  const out: string[] = [];
  for (let i = 1; i < arg.length; i++) {
    const short = arg[i]!;
    if (typeOf(longOf(short, options), options) !== "string" || i === arg.length - 1) {
      out.push(`-${short}`);
    } else {
      out.push(`-${short}`, arg.slice(i + 1));
      break;
    }
  }
  return out;
}

/** Split the arguments into flag tokens and positionals, as parseArgs tokenizes. */
function tokenize(args: readonly string[], options: FlagOptions["options"]) {
  const tokens: (Token | { positional: string })[] = [];
  const rest = [...args];
  while (rest.length > 0) {
    const arg = rest.shift()!;
    const next = rest[0];
    if (arg === "--") {
      tokens.push(...rest.splice(0).map((positional) => ({ positional })));
    } else if (arg.length === 2 && arg[0] === "-" && arg[1] !== "-") {
      const name = longOf(arg[1]!, options);
      const value = typeOf(name, options) === "string" && next !== undefined
        ? rest.shift()
        : undefined;
      tokens.push({ name, rawName: arg, value, inline: false });
    } else if (arg.length > 2 && arg[0] === "-" && arg[1] !== "-") {
      const name = longOf(arg[1]!, options);
      if (typeOf(name, options) === "string") {
        tokens.push({ name, rawName: arg.slice(0, 2), value: arg.slice(2), inline: true });
      } else {
        rest.unshift(...expandGroup(arg, options));
      }
    } else if (arg.length > 2 && arg.startsWith("--")) {
      const eq = arg.indexOf("=", 3);
      if (eq === -1) {
        const name = arg.slice(2);
        const value = typeOf(name, options) === "string" && next !== undefined
          ? rest.shift()
          : undefined;
        tokens.push({ name, rawName: arg, value, inline: false });
      } else {
        const name = arg.slice(2, eq);
        tokens.push({ name, rawName: `--${name}`, value: arg.slice(eq + 1), inline: true });
      }
    } else {
      tokens.push({ positional: arg });
    }
  }
  return tokens;
}

/** Throw the usage error a token earns, if any (unknown flag, missing or unwanted value). */
function check(token: Token, config: FlagOptions): void {
  const spec = Object.hasOwn(config.options, token.name) ? config.options[token.name] : undefined;
  if (spec === undefined) {
    const tail = config.allowPositionals
      ? `. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- ${
        JSON.stringify(token.rawName)
      }`
      : "";
    throw new FlagError(
      `Unknown option '${token.rawName}'${tail}`,
      token.rawName.replace(/^-+/, ""),
    );
  }
  const both = `${spec.short ? `-${spec.short}, ` : ""}--${token.name}`;
  if (spec.type === "string" && token.value === undefined) {
    throw new FlagError(`Option '${both} <value>' argument missing`);
  }
  if (spec.type === "boolean" && token.value !== undefined) {
    throw new FlagError(`Option '${both}' does not take an argument`);
  }
  if (
    !token.inline && token.value !== undefined && token.value.length > 1 && token.value[0] === "-"
  ) {
    throw new FlagError(`Option '${token.rawName}' argument is ambiguous.`);
  }
}

/**
 * Parse command-line arguments strictly: an unknown flag, a string flag
 * without a value, a boolean with one, or (unless allowed) a positional
 * argument throws a {@linkcode FlagError} with a one-line message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./flags.ts";
 * const { values } = parseFlags(["--port", "8080", "--init"], {
 *   options: { port: { type: "string" }, init: { type: "boolean" } },
 * });
 * assert.deepEqual({ ...values }, { port: "8080", init: true });
 * ```
 */
export function parseFlags(args: readonly string[], config: FlagOptions): ParsedFlags {
  const values: ParsedFlags["values"] = Object.create(null);
  const positionals: string[] = [];
  for (const token of tokenize(args, config.options)) {
    if ("positional" in token) {
      if (!config.allowPositionals) {
        throw new FlagError(
          `Unexpected argument '${token.positional}'. This command does not take positional arguments`,
        );
      }
      positionals.push(token.positional);
      continue;
    }
    check(token, config);
    const value = token.value ?? true;
    if (config.options[token.name]!.multiple) {
      const list = values[token.name];
      values[token.name] = Array.isArray(list) ? [...list, value] : [value];
    } else {
      values[token.name] = value;
    }
  }
  return { values, positionals };
}
