/**
 * `deno doc --json` output (format version 2) turned into what the API docs
 * page shows: each exported symbol of each entrypoint with a one-line
 * TypeScript signature, its doc comment and its members. Pure functions over
 * parsed JSON; any shape they do not know prints as the node's own `repr`
 * (or `unknown`), never an error.
 *
 * @module
 */

/** One exported symbol as the page shows it. */
export interface DocSymbol {
  /** The export's name (`default` for a default export). */
  name: string;
  /** `function`, `class`, `interface`, `typeAlias`, `variable`, `enum`, `namespace`. */
  kind: string;
  /** Its declaration as TypeScript. */
  signature: string;
  /** The doc comment's Markdown (tags other than examples dropped). */
  doc: string;
  /** Examples from `@example` tags (Markdown). */
  examples: string[];
  /** The `@deprecated` message, when deprecated. */
  deprecated?: string;
  /** Members (properties, methods, constructors, enum members) with their docs. */
  members: { signature: string; doc: string }[];
}

/** The symbols of one module (an entrypoint). */
export interface DocModule {
  /** The export key (`.`, `./utils`). */
  entry: string;
  /** The module's own path. */
  path: string;
  /** Its exported symbols, by name. */
  symbols: DocSymbol[];
}

// deno doc's JSON is untyped here: every access goes through these.
// deno-lint-ignore no-explicit-any
type Node = any;

/** A type as TypeScript text. */
export function typeText(t: Node, depth = 0): string {
  if (t === null || typeof t !== "object") return "unknown";
  if (depth > 12) return "…";
  const d = depth + 1;
  const v = t.value;
  switch (t.kind) {
    case "keyword":
      return String(v);
    case "literal":
      return literalText(v, d);
    case "typeRef":
      return v.typeName + typeArgs(v.typeParams, d);
    case "union":
      return (v as Node[]).map((x) => typeText(x, d)).join(" | ");
    case "intersection":
      return (v as Node[]).map((x) => typeText(x, d)).join(" & ");
    case "array":
      return `${wrap(v, d)}[]`;
    case "tuple":
      return `[${(v as Node[]).map((x) => typeText(x, d)).join(", ")}]`;
    case "optional":
      return `${typeText(v, d)}?`;
    case "rest":
      return `...${typeText(v, d)}`;
    case "parenthesized":
      return `(${typeText(v, d)})`;
    case "typeOperator":
      return `${v.operator} ${typeText(v.tsType, d)}`;
    case "indexedAccess":
      return `${typeText(v.objType, d)}[${typeText(v.indexType, d)}]`;
    case "typeQuery":
      return `typeof ${typeof v === "string" ? v : t.repr}`;
    case "this":
      return "this";
    case "fnOrConstructor":
      return `${v.constructor ? "new " : ""}(${params(v.params, d)}) => ${typeText(v.tsType, d)}`;
    case "typeLiteral":
      return literalMembers(v, d);
    case "conditional":
      return `${typeText(v.checkType, d)} extends ${typeText(v.extendsType, d)} ? ${
        typeText(v.trueType, d)
      } : ${typeText(v.falseType, d)}`;
    case "mapped":
      return `{ ${v.readonly ? "readonly " : ""}[${v.typeParam?.name} in ${
        typeText(v.typeParam?.constraint, d)
      }]${v.optional ? "?" : ""}: ${typeText(v.tsType, d)} }`;
    case "importType":
      return `import("${v.specifier}")${v.qualifier ? `.${v.qualifier}` : ""}`;
    case "typePredicate":
      return `${v.asserts ? "asserts " : ""}${v.param?.name ?? "this"}${
        v.type ? ` is ${typeText(v.type, d)}` : ""
      }`;
    case "infer":
      return `infer ${v.typeParam?.name ?? ""}`;
    default:
      return typeof t.repr === "string" && t.repr !== "" ? t.repr : "unknown";
  }
}

function wrap(t: Node, d: number): string {
  const text = typeText(t, d);
  return t?.kind === "union" || t?.kind === "intersection" || t?.kind === "fnOrConstructor"
    ? `(${text})`
    : text;
}

function literalText(v: Node, d: number): string {
  switch (v?.kind) {
    case "string":
      return JSON.stringify(v.string);
    case "number":
      return String(v.number);
    case "boolean":
      return String(v.boolean);
    case "bigInt":
      return `${v.string}n`;
    case "template":
      return "`" +
        (v.tsTypes as Node[]).map((x) =>
          x?.kind === "literal" && x.value?.kind === "string"
            ? x.value.string
            : `\${${typeText(x, d)}}`
        ).join("") + "`";
    default:
      return "unknown";
  }
}

function typeArgs(list: Node[] | undefined, d: number): string {
  return list && list.length > 0 ? `<${list.map((x) => typeText(x, d)).join(", ")}>` : "";
}

/** `<T extends X = Y>` */
function typeParamsText(list: Node[] | undefined): string {
  if (!list || list.length === 0) return "";
  return `<${
    list.map((p) =>
      `${p.name}${p.constraint ? ` extends ${typeText(p.constraint)}` : ""}${
        p.default ? ` = ${typeText(p.default)}` : ""
      }`
    ).join(", ")
  }>`;
}

function param(p: Node, d: number): string {
  switch (p?.kind) {
    case "identifier":
      return `${p.name}${p.optional ? "?" : ""}${p.tsType ? `: ${typeText(p.tsType, d)}` : ""}`;
    case "assign":
      return `${param(p.left, d).replace(/^([^:?]+)/, "$1?")}`;
    case "rest":
      return `...${param(p.arg, d)}${p.tsType ? `: ${typeText(p.tsType, d)}` : ""}`;
    case "object":
      return `{ … }${p.tsType ? `: ${typeText(p.tsType, d)}` : ""}`;
    case "array":
      return `[ … ]${p.tsType ? `: ${typeText(p.tsType, d)}` : ""}`;
    default:
      return "arg";
  }
}

function params(list: Node[] | undefined, d = 0): string {
  return (list ?? []).map((p) => param(p, d)).join(", ");
}

function literalMembers(v: Node, d: number): string {
  const parts = [
    ...(v.properties ?? []).map((p: Node) => propertyText(p, d)),
    ...(v.methods ?? []).map((m: Node) =>
      `${m.name}(${params(m.params, d)}): ${typeText(m.returnType, d)}`
    ),
    ...(v.indexSignatures ?? []).map((s: Node) =>
      `[${params(s.params, d)}]: ${typeText(s.tsType, d)}`
    ),
    ...(v.callSignatures ?? []).map((s: Node) =>
      `(${params(s.params, d)}): ${typeText(s.tsType, d)}`
    ),
  ];
  return parts.length === 0 ? "{}" : `{ ${parts.join("; ")} }`;
}

function propertyText(p: Node, d = 0): string {
  const mods = [
    p.accessibility && p.accessibility !== "public" ? p.accessibility : "",
    p.isStatic ? "static" : "",
    p.readonly ? "readonly" : "",
  ].filter((m) => m !== "").join(" ");
  return `${mods ? mods + " " : ""}${p.name}${p.optional ? "?" : ""}: ${
    p.tsType ? typeText(p.tsType, d) : "unknown"
  }`;
}

function fnText(name: string, f: Node): string {
  return `${name}${typeParamsText(f?.typeParams)}(${params(f?.params)})${
    f?.returnType ? `: ${typeText(f.returnType)}` : ""
  }`;
}

/** `{@link x}`, `{@linkcode x}` and `{@link x | text}` as code spans (no links to resolve). */
function plainLinks(text: string): string {
  return text.replace(
    /\{@link(?:code|plain)?\s+([^}|\s]+)(?:\s*\|?\s*([^}]*))?\}/g,
    (_, a, b) => b ? `${b.trim()} (\`${a}\`)` : `\`${a}\``,
  );
}

function docOf(node: Node): { doc: string; examples: string[]; deprecated?: string } {
  const js = node?.jsDoc ?? {};
  const tags: Node[] = Array.isArray(js.tags) ? js.tags : [];
  const deprecated = tags.find((t) => t.kind === "deprecated");
  return {
    doc: typeof js.doc === "string" ? plainLinks(js.doc) : "",
    examples: tags.filter((t) => t.kind === "example" && typeof t.doc === "string").map((t) =>
      t.doc
    ),
    ...(deprecated ? { deprecated: plainLinks(String(deprecated.doc ?? "")) } : {}),
  };
}

function membersOf(kind: string, def: Node): { signature: string; doc: string }[] {
  const out: { signature: string; doc: string }[] = [];
  const add = (signature: string, node: Node) => out.push({ signature, doc: docOf(node).doc });
  if (kind === "enum") { for (const m of def.members ?? []) add(m.name, m); }
  for (const c of def.constructors ?? []) add(`constructor(${params(c.params)})`, c);
  for (const s of def.callSignatures ?? []) add(`(${params(s.params)}): ${typeText(s.tsType)}`, s);
  for (const s of def.indexSignatures ?? []) add(`[${params(s.params)}]: ${typeText(s.tsType)}`, s);
  for (const p of def.properties ?? []) add(propertyText(p), p);
  for (const m of def.methods ?? []) {
    const f = m.functionDef ?? m;
    const prefix = m.kind === "getter" ? "get " : m.kind === "setter" ? "set " : "";
    add(`${m.isStatic ? "static " : ""}${prefix}${fnText(m.name, f)}`, m);
  }
  return out;
}

/** A declaration's signature line. */
export function signatureOf(name: string, decl: Node): string {
  const def = decl?.def ?? {};
  switch (decl?.kind) {
    case "function":
      return `function ${fnText(name, def)}`;
    case "variable":
      return `${def.kind ?? "const"} ${name}${def.tsType ? `: ${typeText(def.tsType)}` : ""}`;
    case "class":
      return `${def.isAbstract ? "abstract " : ""}class ${name}${typeParamsText(def.typeParams)}${
        def.extends ? ` extends ${def.extends}${typeArgs(def.superTypeParams, 0)}` : ""
      }${
        (def.implements ?? []).length > 0
          ? ` implements ${def.implements.map((t: Node) => typeText(t)).join(", ")}`
          : ""
      }`;
    case "interface":
      return `interface ${name}${typeParamsText(def.typeParams)}${
        (def.extends ?? []).length > 0
          ? ` extends ${def.extends.map((t: Node) => typeText(t)).join(", ")}`
          : ""
      }`;
    case "typeAlias":
      return `type ${name}${typeParamsText(def.typeParams)} = ${typeText(def.tsType)}`;
    case "enum":
      return `enum ${name}`;
    case "namespace":
      return `namespace ${name}`;
    default:
      return `${decl?.kind ?? "export"} ${name}`;
  }
}

/** The exported symbols of one node of `deno doc --json` (version 2). */
export function symbolsOfNode(node: Node): DocSymbol[] {
  const out: DocSymbol[] = [];
  for (const symbol of Array.isArray(node?.symbols) ? node.symbols : []) {
    for (const decl of Array.isArray(symbol.declarations) ? symbol.declarations : []) {
      if (decl.declarationKind !== "export" || decl.kind === "import") continue;
      const name = String(symbol.name);
      const shownName = name === "default" && decl.def?.defName ? decl.def.defName : name;
      out.push({
        name,
        kind: String(decl.kind),
        signature: (name === "default" ? "export default " : "") + signatureOf(shownName, decl),
        ...docOf(decl),
        members: membersOf(String(decl.kind), decl.def ?? {}),
      });
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * The modules of a `deno doc --json` answer, by export key, from the
 * version's `exports` map (`{".": "./mod.ts"}`) and the directory the files
 * were written to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modulesOf } from "./_doc_symbols.ts";
 * const json = { version: 2, nodes: { "file:///w/mod.ts": { symbols: [{ name: "x", declarations: [
 *   { declarationKind: "export", kind: "variable", jsDoc: { doc: "The x." },
 *     def: { kind: "const", tsType: { kind: "keyword", value: "number" } } }] }] } } };
 * const [mod] = modulesOf(json, { exports: { ".": "./mod.ts" }, root: "file:///w/" });
 * assert.equal(mod?.symbols[0]?.signature, "const x: number");
 * assert.equal(mod?.symbols[0]?.doc, "The x.");
 * ```
 */
export function modulesOf(
  json: Node,
  options: { exports: Record<string, string>; root: string },
): DocModule[] {
  const nodes = json?.nodes ?? {};
  return Object.entries(options.exports).map(([entry, path]) => {
    const url = new URL(path, options.root).href;
    return { entry, path, symbols: Object.hasOwn(nodes, url) ? symbolsOfNode(nodes[url]) : [] };
  });
}
