import { grad, makeJaxpr, numpy as np, type Array as JArray, type Jaxpr } from "@jax-js/jax";
import type { Lowering, Out, Value } from "./context.js";
import { shapeBroadcast } from "./dims.js";
import type { Eqn } from "./program.js";
import { Spec } from "./spec.js";

/**
 * Library functions that jax-js traces as nested `jit` equations and ONNX
 * has one op for. jax-js writes np.tanh with exp (~14 elementwise passes;
 * its gradient ~8 more), and every SiLU in the networks is a tanh; ONNX
 * Runtime does not fuse elementwise ops, so each pass costs a trip through
 * memory. A jit equation is fused only when its program hashes equal to the
 * library function's own trace at the same shapes (a user function that
 * happens to be called "tanh" is inlined like any other).
 *
 *   tanh(x)                       -> Tanh(x)
 *   tanh_jvp_peval(x) = (y, r..)  -> y = Tanh(x); every residual r is y
 *   tanh_jvp_resid_t(r.., ct)     -> ct (1 - y^2)
 * The residuals stand for y only where every use of them is a (verified)
 * tanh_jvp_resid_t at their own position; otherwise both are inlined.
 */

type Var = Jaxpr["inBinders"][number];
export type Uses = Map<Var, { eqn?: Eqn; k: number }[]>;

/** Where each variable of `jaxpr` is used (eqn undefined: a program output). */
export function usesOf(jaxpr: Jaxpr): Uses {
  const uses: Uses = new Map();
  const add = (a: unknown, use: { eqn?: Eqn; k: number }) => {
    if (a && typeof a === "object" && "id" in a) (uses.get(a as Var) ?? uses.set(a as Var, []).get(a as Var)!).push(use);
  };
  for (const eqn of jaxpr.eqns) eqn.inputs.forEach((a, k) => add(a, { eqn, k }));
  jaxpr.outs.forEach((a, k) => add(a, { k }));
  return uses;
}

const TANH = new Set(["tanh", "tanh_jvp_peval", "tanh_jvp_resid_t"]);
const refHashes = new Map<string, bigint | undefined>();
const find = (j: Jaxpr, name: string): Eqn | undefined => j.eqns.find((e) => e.primitive === "jit" && e.params.name === name);

/** Is this jit equation jax-js's own tanh (or its gradient pieces) at these shapes? */
function isLibraryTanh(eqn: Eqn): boolean {
  const name = eqn.params.name as string;
  if (!TANH.has(name)) return false;
  const aval = eqn.inputs[0].aval;
  if (aval.dtype !== "float32" || eqn.inputs.some((a) => a.aval.shape.join() !== aval.shape.join())) return false;
  const key = `${name}|${aval.shape.join(",")}`;
  if (!refHashes.has(key)) {
    const x = new Spec([...aval.shape], "float32");
    const { jaxpr } =
      name === "tanh" ? makeJaxpr((a: JArray) => np.tanh(a))(x as never) : makeJaxpr((a: JArray) => grad((b: JArray) => np.sum(np.tanh(b)))(a))(x as never);
    refHashes.set(key, find(jaxpr.jaxpr, name) && (find(jaxpr.jaxpr, name)!.params.jaxpr as Jaxpr).getHash());
    jaxpr.dispose();
  }
  return refHashes.get(key) === (eqn.params.jaxpr as Jaxpr).getHash();
}

/**
 * Lower a jit equation as one fused op when it is a known library function
 * (see above); undefined: inline it. `fused` collects the tanh residual
 * variables that stand for y.
 */
export function fuseJit(cx: Lowering, eqn: Eqn, ins: Value[], outs: Out[], uses: Uses, fused: Set<Var>): Value[] | undefined {
  const name = eqn.params.name as string;
  if (!TANH.has(name) || !isLibraryTanh(eqn)) return undefined;
  if (name === "tanh") return [{ ...ins[0], name: cx.op("Tanh", [ins[0].name]), shape: outs[0].shape }];
  if (name === "tanh_jvp_peval") {
    const residuals = eqn.outBinders.slice(1);
    const onlyResidT = residuals.every((r, j) =>
      (uses.get(r) ?? []).every((u) => u.eqn && u.eqn.primitive === "jit" && u.eqn.params.name === "tanh_jvp_resid_t" && u.k === j && isLibraryTanh(u.eqn)),
    );
    if (!onlyResidT) return undefined;
    residuals.forEach((r) => fused.add(r));
    const y = { ...ins[0], name: cx.op("Tanh", [ins[0].name]) };
    return outs.map(() => y);
  }
  // tanh_jvp_resid_t(r.., ct): the residuals are y when they came from a fused peval.
  const res = eqn.inputs.slice(0, -1);
  if (!res.every((a) => fused.has(a as Var))) return undefined;
  const y = ins[0].name;
  const ct = ins[ins.length - 1];
  const slope = cx.op("Sub", [cx.g.scalar("float32", 1), cx.op("Mul", [y, y])]);
  return [{ ...ct, name: cx.op("Mul", [ct.name, slope]), shape: outs[0].shape, onnx: shapeBroadcast(ct.onnx, ins[0].onnx) }];
}
