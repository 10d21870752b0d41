/**
 * Which bytes of each ready entry a client has read, so the entry is freed
 * when every byte has been handed out, not merely when some read reached the
 * end: a client with several RETRIEVE_CACHED calls in flight (read-ahead) may
 * have its last chunk answered before an earlier one. Intervals are kept
 * merged; a client reading in order holds one interval. In memory only: after
 * a restart an entry is freed by the grace timer or by expiry instead.
 */
export class ReadCoverage {
  private readonly read = new Map<string, [number, number][]>();

  /** Records `[start, end)` as read; true once `[0, size)` is all read. */
  add(token: string, start: number, end: number, size: number): boolean {
    const merged: [number, number][] = [];
    let s = start;
    let e = end;
    for (const [a, b] of this.read.get(token) ?? []) {
      if (b < s || a > e) merged.push([a, b]);
      else {
        s = Math.min(s, a);
        e = Math.max(e, b);
      }
    }
    merged.push([s, e]);
    merged.sort((x, y) => x[0] - y[0]);
    this.read.set(token, merged);
    return size === 0 || (merged.length === 1 && merged[0]![0] === 0 && merged[0]![1] >= size);
  }

  forget(token: string): void {
    this.read.delete(token);
  }
}
