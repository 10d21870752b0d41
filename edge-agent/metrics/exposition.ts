/**
 * The Prometheus text exposition format, version 0.0.4: for each metric
 * family a `# HELP` and a `# TYPE` line, then its samples, one per line:
 *
 *     name{label="value",...} 42
 *
 * Label values escape backslash, double quote and line feed; HELP text
 * escapes backslash and line feed. Names are checked, and two samples of the
 * same series are refused: a scrape with either would be rejected whole by
 * the server reading it, so the mistake is ours and is reported as such.
 */

export type MetricType = 'gauge' | 'counter' | 'untyped';

export interface Sample {
  labels?: Record<string, string>;
  value: number | bigint;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: MetricType;
  samples: Sample[];
}

/** What a scrape answers with (and what Prometheus asks for when it cannot have OpenMetrics). */
export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === '\\' ? '\\\\' : c === '"' ? '\\"' : '\\n'));
}

export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\\' ? '\\\\' : '\\n'));
}

export function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** The families as one exposition document (ends with a line feed). */
export function render(families: MetricFamily[]): string {
  const out: string[] = [];
  const seenFamilies = new Set<string>();
  for (const f of families) {
    if (!METRIC_NAME.test(f.name)) throw new TypeError(`bad metric name ${JSON.stringify(f.name)}`);
    if (seenFamilies.has(f.name)) throw new TypeError(`metric ${f.name} is declared twice`);
    seenFamilies.add(f.name);
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`);
    out.push(`# TYPE ${f.name} ${f.type}`);
    const series = new Set<string>();
    for (const s of f.samples) {
      const labels = renderLabels(f.name, s.labels);
      if (series.has(labels)) throw new TypeError(`metric ${f.name} has two samples for the series ${labels || '{}'}`);
      series.add(labels);
      out.push(`${f.name}${labels} ${formatValue(s.value)}`);
    }
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** `{a="x",b="y"}` with the labels sorted by name (so one series has one spelling), or '' for none. */
function renderLabels(metric: string, labels: Record<string, string> | undefined): string {
  if (!labels) return '';
  const names = Object.keys(labels).sort();
  if (names.length === 0) return '';
  const parts = names.map((n) => {
    if (!LABEL_NAME.test(n) || n.startsWith('__')) throw new TypeError(`metric ${metric}: bad label name ${n}`);
    return `${n}="${escapeLabelValue(String(labels[n]))}"`;
  });
  return `{${parts.join(',')}}`;
}
