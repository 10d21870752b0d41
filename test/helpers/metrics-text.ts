/** Reading a Prometheus text exposition in tests: `name{labels}` → value (labels as rendered). */
export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    out.set(m[1]!, m[2] === '+Inf' ? Number.POSITIVE_INFINITY : Number(m[2]));
  }
  return out;
}
