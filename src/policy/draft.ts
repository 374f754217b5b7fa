/**
 * A document as decoded, before validation: any field may be missing, any
 * enum any string. Validation takes drafts; only what passes it is given the
 * types of types.ts.
 */
export type Draft<T> = T extends string
  ? string
  : T extends boolean | number
    ? T
    : T extends readonly (infer U)[]
      ? Draft<U>[]
      : { [K in keyof T]?: Draft<T[K]> };
