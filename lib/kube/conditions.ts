import type { Condition } from '../../api/types.js';

/**
 * Status conditions computed in memory and written once. `setCondition` keeps
 * lastTransitionTime when the status did not change, so an unchanged status compares equal.
 * `now` is a Date (written to the second) or a timestamp already formatted.
 */
export function setCondition(
  conditions: Condition[] | undefined,
  c: { type: string; status: 'True' | 'False' | 'Unknown'; reason: string; message?: string },
  generation: number | undefined,
  now: Date | string = new Date(),
): Condition[] {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: Condition = {
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: c.message ?? '',
    lastTransitionTime:
      prev && prev.status === c.status && prev.lastTransitionTime
        ? prev.lastTransitionTime
        : typeof now === 'string'
          ? now
          : now.toISOString().replace(/\.\d+Z$/, 'Z'),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
  };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return list;
}

export function getCondition(conditions: Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
