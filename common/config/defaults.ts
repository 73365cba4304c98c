/**
 * `{...defaults, ...options}` where an option explicitly set to undefined keeps its default (a
 * plain spread would let `{ maxBatchSize: undefined }` erase it).
 */
export function withDefaults<T extends object>(defaults: T, options: { readonly [K in keyof T]?: T[K] | undefined }): T {
  const out = { ...defaults };
  for (const [k, v] of Object.entries(options)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
