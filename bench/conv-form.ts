/**
 * Which form of the UNet's 3x3 convolution is faster on which engine
 * (issue 8 item 5): im2col (a dense layer over 9 windows) or lax.conv, for
 * the forward pass and the train step (forward + grad + Adam + EMA), on
 * jax-js jit and on ONNX Runtime (the lowered program). One interleaved run:
 * every repeat times each of the 8 programs once; medians of wall time and
 * of this process's CPU time per call are printed with the load average (on
 * a busy machine the CPU time is the steadier measure of the work).
 *
 *   node --import tsx bench/conv-form.ts [--batch 64] [--side 28] [--repeats 5] [--threads N] [--channels 8,16,32] [--skip-jax]
 */
import os from "node:os";
import { init, jit, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import type * as ort from "onnxruntime-node";
import { Rng } from "../src/core/rng.js";
import { compileOnnx, toOrt, type OnnxProgram } from "../src/engine/onnx/index.js";
import { withConvForm, type ConvForm } from "../src/model/conv.js";
import { unet } from "../src/model/unet.js";
import type { Params } from "../src/train/types.js";
import { randn, stepArgs, trainStep } from "../test/support/engine-lower.js";

const flag = (name: string) => process.argv.includes(`--${name}`);
function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
}
const B = Number(arg("batch", "64"));
const side = Number(arg("side", "28"));
const repeats = Number(arg("repeats", "5"));
const threads = Number(arg("threads", String(os.availableParallelism())));
const channels = arg("channels", "8,16,32").split(",").map(Number);

await init("wasm");
const rng = new Rng(0);
const net = unet({ inChannels: 1, channels });
const x = randn([B, 1, side, side], rng);
const args = stepArgs(net, x.ref, np.array(Float32Array.from({ length: B }, () => rng.uniform())), randn([B, 1, side, side], rng));
const fwdArgs = [args[0], args[4], args[5]];

type Timed = { name: string; run: () => Promise<void> };
const programs: Timed[] = [];
const onnx: OnnxProgram[] = [];
for (const form of ["im2col", "conv"] as ConvForm[]) {
  const fwd = (p: Params, x: JArray, t: JArray) => withConvForm(form, () => net.apply(p, x, t));
  const step = (...a: unknown[]) => withConvForm(form, () => (trainStep(net, "mse") as (...a: unknown[]) => unknown)(...a));
  for (const [what, fn, a] of [["forward", fwd, fwdArgs], ["train step", step, args]] as const) {
    const { program } = await compileOnnx(fn as never, a as unknown[], { threads, convForm: form });
    onnx.push(program);
    const inputs: ort.Tensor[] = await Promise.all((tree.leaves(tree.ref(a as never)) as JArray[]).map(toOrt));
    programs.push({ name: `onnx ${form} ${what}`, run: async () => void (await program.run(inputs)) });
    if (!flag("skip-jax")) {
      const jf = jit(fn as never) as unknown as (...a: unknown[]) => unknown;
      programs.push({
        name: `jax  ${form} ${what}`,
        run: async () => {
          const out = tree.leaves(jf(...(tree.ref(a as never) as unknown[])) as never) as JArray[];
          await out[out.length - 1].ref.data();
          tree.dispose(out);
        },
      });
    }
  }
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");
console.log(`UNet channels [${channels}], batch ${B}, ${side}x${side}, ONNX Runtime threads ${threads}; load average before: ${load()}`);
for (const p of programs) await p.run(); // warm-up (jax-js compiles here)
const times = new Map<string, { wall: number[]; cpu: number[] }>(programs.map((p) => [p.name, { wall: [], cpu: [] }]));
for (let r = 0; r < repeats; r++) {
  for (const p of programs) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await p.run();
    const c = process.cpuUsage(c0);
    times.get(p.name)!.wall.push((performance.now() - t0) / 1000);
    times.get(p.name)!.cpu.push((c.user + c.system) / 1000);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`program                         calls/s   CPU ms/call   (medians of ${repeats} interleaved repeats)`);
for (const [name, t] of times) console.log(`${name.padEnd(30)} ${(1 / median(t.wall)).toFixed(3).padStart(8)} ${median(t.cpu).toFixed(0).padStart(12)}`);
console.log(`load average after: ${load()}`);
for (const p of onnx) await p.release();
