/**
 * Test helper: a strict reader of the Prometheus text exposition format 0.0.4.
 *
 * @module
 */
import assert from "node:assert/strict";

/** One parsed sample line. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the text exposition format 0.0.4: every line must be a
 * HELP, a TYPE or a sample with well-formed labels and value; a sample must
 * follow its family's TYPE; histogram buckets must be cumulative and end at
 * `+Inf` equal to `_count`. Throws on the first violation.
 */
export function parsePrometheusText(text: string): Sample[] {
  assert.ok(text === "" || text.endsWith("\n"), "exposition ends with a line feed");
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
  const VALUE = "(?:[+-]?Inf|NaN|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)";
  const help = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\\\\\|\\\\n)*$`);
  const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
  const sample = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (${VALUE})(?: -?\\d+)?$`);
  const pair = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)/;
  for (const line of text.split("\n").slice(0, -1)) {
    let m: RegExpExecArray | null;
    if ((m = help.exec(line))) {
      assert.ok(!helps.has(m[1]!), `one HELP per family: ${line}`);
      helps.add(m[1]!);
    } else if ((m = type.exec(line))) {
      assert.ok(!types.has(m[1]!), `one TYPE per family: ${line}`);
      types.set(m[1]!, m[2]!);
    } else if ((m = sample.exec(line))) {
      const name = m[1]!;
      const family = types.has(name) ? name : name.replace(/_(bucket|sum|count|total)$/, "");
      assert.ok(types.has(family), `sample before its TYPE: ${line}`);
      if (name !== family) {
        assert.equal(types.get(family), "histogram", `suffix only on histograms: ${line}`);
      }
      const labels: Record<string, string> = {};
      let rest = m[2] ?? "";
      while (rest.length > 0) {
        const p = pair.exec(rest);
        assert.ok(p, `bad label text in: ${line}`);
        assert.ok(!(p[1]! in labels), `duplicate label in: ${line}`);
        labels[p[1]!] = p[2]!.replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
        rest = rest.slice(p[0].length);
        if (p[3] === "" && rest.length > 0) assert.fail(`text after labels in: ${line}`);
      }
      const v = m[3]!;
      samples.push({
        name,
        labels,
        value: v === "+Inf" || v === "Inf" ? Infinity : v === "-Inf" ? -Infinity : Number(v),
      });
    } else {
      assert.fail(`line is not Prometheus text: ${JSON.stringify(line)}`);
    }
  }
  // Histograms: cumulative buckets ending at +Inf == _count, per series.
  const series = new Map<string, { les: [number, number][]; count?: number }>();
  for (const s of samples) {
    const base = s.name.replace(/_(bucket|count)$/, "");
    if (types.get(base) !== "histogram" || s.name === `${base}_sum`) continue;
    const { le, ...rest } = s.labels;
    const id = `${base}${JSON.stringify(rest)}`;
    const entry = series.get(id) ?? { les: [] };
    series.set(id, entry);
    if (s.name.endsWith("_bucket")) {
      assert.ok(le !== undefined, "bucket has le");
      entry.les.push([le === "+Inf" ? Infinity : Number(le), s.value]);
    } else entry.count = s.value;
  }
  for (const [id, e] of series) {
    assert.equal(e.les.at(-1)?.[0], Infinity, `${id} ends at +Inf`);
    for (let i = 1; i < e.les.length; i++) {
      assert.ok(e.les[i]![0] > e.les[i - 1]![0], `${id} le ascending`);
      assert.ok(e.les[i]![1] >= e.les[i - 1]![1], `${id} cumulative`);
    }
    assert.equal(e.les.at(-1)?.[1], e.count, `${id} +Inf equals _count`);
  }
  return samples;
}

/** The value of one sample by name and (a subset of) labels, or undefined. */
export function sampleValue(
  samples: Sample[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples.find((s) =>
    s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  )?.value;
}
