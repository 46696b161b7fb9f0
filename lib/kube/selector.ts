/** Label selectors in their string form (`a=b,c!=d,e,!f`), as the API server takes them. */

/** `{a: 'b', c: 'd'}` → `a=b,c=d`. */
export function selectorOf(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

/**
 * Whether `labels` match an equality-based selector (`k=v`, `k==v`, `k!=v`, `k`, `!k`; terms
 * joined by commas) — what a cache needs to answer a labelled list as the API server would.
 * Set-based terms (`k in (…)`) are refused: no caller uses them.
 */
export function matchesSelector(
  labels: Record<string, string> | undefined,
  selector: string | undefined,
): boolean {
  if (!selector) return true;
  const have = labels ?? {};
  for (const raw of selector.split(',')) {
    const term = raw.trim();
    if (!term) continue;
    if (/\s(in|notin)\s/.test(term)) throw new Error(`set-based selector terms are not supported: ${term}`);
    const ne = term.indexOf('!=');
    if (ne > 0) {
      if (have[term.slice(0, ne)] === term.slice(ne + 2)) return false;
      continue;
    }
    const eq = term.indexOf('=');
    if (eq > 0) {
      const value = term.slice(term[eq + 1] === '=' ? eq + 2 : eq + 1);
      if (have[term.slice(0, eq)] !== value) return false;
      continue;
    }
    if (term.startsWith('!')) {
      if (term.slice(1) in have) return false;
      continue;
    }
    if (!(term in have)) return false;
  }
  return true;
}
