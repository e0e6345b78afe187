import { Rng, cosine, gaussian, sample, tensor, uniformGrid, type Denoiser, type Tensor } from "../src/index.js";

// Data: x0 = +1 with probability 0.8, else -1. Under x_t = a(t) x0 + b(t) eps the exact
// posterior is P(x0 = +1 | x_t) = sigmoid(log(0.8 / 0.2) + 2 a x_t / b^2): a q(x0 | x_t) written by hand.
const process = gaussian(cosine());
const { a, b } = process.schedule;
const pPlus = (xt: number, t: number) => 1 / (1 + Math.exp(-Math.log(0.8 / 0.2) - (2 * a(t) * xt) / b(t) ** 2));

const twoPoints: Denoiser = {
  // x0_hat ~ q(x0 | x_t): all the one sampler needs.
  sample: (xt: Tensor, t: number, rng: Rng) => tensor(xt.shape, xt.data.map((v) => (rng.uniform() < pPlus(v, t) ? 1 : -1))),
  // E[x0 | x_t]: for the DDPM/DDIM presets, the ODE/SDE solvers and the likelihood.
  mean: (xt: Tensor, t: number) => tensor(xt.shape, xt.data.map((v) => 2 * pPlus(v, t) - 1)),
};

const x = await sample({ process, denoiser: twoPoints, grid: uniformGrid(20), r: 0, rng: new Rng(0), shape: [1000, 1] });
const plus = x.data.filter((v) => v === 1).length;
const minus = x.data.filter((v) => v === -1).length;
console.log(`${plus} samples at +1, ${minus} at -1, ${1000 - plus - minus} elsewhere`); // about 800 and 200
