/**
 * What each speed-up of the ONNX lowering buys: the UNet train step (default
 * config, batch 64, 28x28, lax.conv form) lowered with everything on, then
 * with one thing off at a time: widening of small broadcast operands, the
 * tanh fusion, the weight gradients' Gemm form (vs ONNX Conv), ONNX
 * Runtime's NCHWc conv kernels (vs its Conv), sleeping
 * (vs spinning) intra-op threads. One interleaved run;
 * medians of wall time and of this process's CPU time per step, with the
 * load average (on a busy machine read the CPU time).
 *
 *   node --import tsx bench/onnx-lowering.ts [--batch 64] [--repeats 7] [--threads N] [--channels 28,56,112]
 */
import os from "node:os";
import { init, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import type * as ort from "onnxruntime-node";
import { Rng } from "../src/core/rng.js";
import { compileOnnx, toOrt, type CompileOptions, type OnnxProgram } from "../src/engine/onnx/index.js";
import { unet } from "../src/model/unet.js";
import { randn, stepArgs, trainStep } from "../test/support/engine-lower.js";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? dflt : process.argv[i + 1];
}
const B = Number(arg("batch", "64"));
const repeats = Number(arg("repeats", "7"));
const threads = Number(arg("threads", String(os.availableParallelism())));

await init("wasm");
const rng = new Rng(0);
const channels = arg("channels", "");
const net = unet({ inChannels: 1, ...(channels ? { channels: channels.split(",").map(Number) } : {}) });
const args = stepArgs(net, randn([B, 1, 28, 28], rng), np.array(Float32Array.from({ length: B }, () => rng.uniform())), randn([B, 1, 28, 28], rng));
const variants: [string, CompileOptions][] = [
  ["all on", {}],
  ["no broadcast widening", { tuning: { widenBroadcasts: false } }],
  ["no library fusion", { tuning: { fuseLibrary: false } }],
  ["weight gradients as Conv", { tuning: { largeKernelConv: false } }],
  ["no NCHWc convs", { tuning: { nchwcBlock: 0 } }],
  ["spinning threads", { sessionOptions: { extra: { session: { intra_op: { allow_spinning: "1" } } } } }],
];
const programs: [string, OnnxProgram][] = [];
for (const [name, opts] of variants) programs.push([name, (await compileOnnx(trainStep(net, "mse"), args, { threads, ...opts })).program]);
const inputs: ort.Tensor[] = await Promise.all((tree.leaves(tree.ref(args as never)) as JArray[]).map(toOrt));

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");
console.log(`UNet${channels ? ` [${channels}]` : ""} train step, batch ${B}, 28x28, ONNX Runtime threads ${threads}; load average before: ${load()}`);
for (const [, p] of programs) await p.run(inputs);
const times = new Map(programs.map(([n]) => [n, { wall: [] as number[], cpu: [] as number[] }]));
for (let r = 0; r < repeats; r++) {
  // Each repeat starts one variant later: whichever runs right after the spinning-threads
  // session (whose idle threads keep spinning for a while) changes from repeat to repeat.
  // (At 2 threads the session created first also ran ~10% slower than an identical later
  // one: there, compare variants by CPU time and with care.)
  for (const [name, p] of [...programs.slice(r % programs.length), ...programs.slice(0, r % programs.length)]) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await p.run(inputs);
    const c = process.cpuUsage(c0);
    times.get(name)!.wall.push(performance.now() - t0);
    times.get(name)!.cpu.push((c.user + c.system) / 1000);
  }
}
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(`variant                    wall ms   CPU ms   (medians of ${repeats} interleaved repeats)`);
for (const [name, t] of times) console.log(`${name.padEnd(24)} ${median(t.wall).toFixed(0).padStart(8)} ${median(t.cpu).toFixed(0).padStart(8)}`);
console.log(`load average after: ${load()}`);
for (const [, p] of programs) await p.release();
