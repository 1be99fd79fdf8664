// The k largest entries of a long array by selection: one pass, O(n k) worst case and O(n) typically, instead of a
// sort of all n entries (the gain matrix at K = 1000 has a million; the CLI prints ten).

/**
 * Indices of the k largest values of a (NaN never counts), largest first; equal values in index order, the order a
 * stable descending sort gives.
 */
export function largestIndices(a: ArrayLike<number>, k: number): number[] {
  const n = Math.min(Math.max(0, Math.floor(k)), a.length);
  const idx: number[] = [];
  const val: number[] = [];
  if (n === 0) return idx;
  for (let t = 0; t < a.length; t++) {
    const v = a[t]!;
    // Full and not above the smallest kept value: a later index never displaces an equal earlier one.
    if (Number.isNaN(v) || (idx.length === n && !(v > val[n - 1]!))) continue;
    let p = idx.length === n ? n - 1 : idx.length;
    // Insert before the first kept value that is smaller (after the equal ones: they have smaller indices).
    while (p > 0 && val[p - 1]! < v) {
      if (p < n) {
        val[p] = val[p - 1]!;
        idx[p] = idx[p - 1]!;
      }
      p--;
    }
    val[p] = v;
    idx[p] = t;
  }
  return idx;
}
