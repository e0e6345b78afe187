/**
 * DESIGN.md section 5: a user invents a destruction process and writes only
 * the process. "Pixelate": average-pool to a block grid that coarsens with t,
 * plus a little Gaussian noise. Training, every sampler setting and the
 * pictures come from the library unchanged.
 *
 *   node --import tsx examples/pixelate.ts [trainSeconds=60]
 *
 * writes udm-out/pixelate/{forward.png, samples-r0.png, samples-r1.png}.
 */
import { init, tree } from "@jax-js/jax";
import {
  defineProcess, gaussianKernel, gaussianNoise, marginalPrior, map, tensor, gatherBatch, type Tensor,
  mnist, unet, train, x0Objective, imageX0Denoiser, sample, uniformGrid, Rng, imageGrid, forwardStrip,
} from "../src/index.js";

const SIGMA = 0.01;
/** Block sides that divide 28: t = 0 keeps pixels, t = 1 keeps only the mean. */
const BLOCKS = [1, 2, 4, 7, 14, 28];
export const blockSize = (t: number): number => BLOCKS[Math.min(BLOCKS.length - 1, Math.floor(t * BLOCKS.length))];

/** Replace each k x k block of every [C, H, W] image by its mean. */
export function poolUp(x: Tensor, k: (row: number) => number): Tensor {
  const [B, C, H, W] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let b = 0; b < B; b++) {
    const s = k(b);
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * H * W;
      for (let i0 = 0; i0 < H; i0 += s) {
        for (let j0 = 0; j0 < W; j0 += s) {
          let sum = 0;
          for (let i = i0; i < i0 + s; i++) for (let j = j0; j < j0 + s; j++) sum += x.data[base + i * W + j];
          const mean = sum / (s * s);
          for (let i = i0; i < i0 + s; i++) for (let j = j0; j < j0 + s; j++) out[base + i * W + j] = mean;
        }
      }
    }
  }
  return tensor(x.shape, out);
}

const at = (t: number | Float32Array) => (row: number) => blockSize(typeof t === "number" ? t : t[row]);

/** The whole process: five functions, the shared Gaussian kernel, and the exact data-dependent prior. */
export function pixelate(data: Tensor) {
  const core = {
    noise: gaussianNoise,
    forward: (x0: Tensor, t: number | Float32Array, eps: Tensor) => map([poolUp(x0, at(t)), eps], ([p, e]) => p + SIGMA * e),
  };
  return defineProcess({
    name: "pixelate",
    time: { kind: "continuous" },
    ...core,
    posteriorNoise: (x0, xt, t) => map([xt, poolUp(x0, at(t))], ([x, p]) => (x - p) / SIGMA),
    kernel: gaussianKernel,
    prior: marginalPrior(core, (n, rng) => gatherBatch(data, Array.from({ length: n }, () => rng.int(data.shape[0]))), (x) => x.shape),
  });
}

async function main() {
  await init("wasm");
  const seconds = Number(process.argv[2] ?? 60);
  const data = mnist({ limit: 10000 }).images;
  const proc = pixelate(data);
  const out = "udm-out/pixelate";
  forwardStrip(proc, gatherBatch(data, [0, 1, 2]), new Rng(0), { title: "pixelate: x_t = F_t(x0, eps)" }).save(`${out}/forward.png`);
  const network = unet({ inChannels: 1, channels: [8, 16, 32] });
  const run = await train({ process: proc, network, objective: x0Objective("l1"), data, steps: 100000, maxSeconds: seconds, batchSize: 16, lr: 2e-3, emaDecay: 0.98, seed: 0 });
  const denoiser = imageX0Denoiser(network, run.ema);
  for (const r of [0, 1]) {
    const x = await sample({ process: proc, denoiser, grid: uniformGrid(6), r, rng: new Rng(1), shape: [16, 1, 28, 28] });
    imageGrid(x, { cols: 4, scale: 2, title: `pixelate r=${r}, ${run.step} training steps` }).save(`${out}/samples-r${r}.png`);
  }
  denoiser.dispose();
  tree.dispose([run.params, run.ema]);
  console.log(`wrote ${out}/forward.png, samples-r0.png, samples-r1.png (${run.step} training steps)`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
