import type { DType } from "./graph.js";

/**
 * An argument of a traced function without data: a leaf of the argument
 * tree that makeJaxpr reads only the shape and dtype of.
 */
export class Spec {
  constructor(
    readonly shape: number[],
    readonly dtype: DType,
    readonly weakType = false,
  ) {}
}
