import { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";

/**
 * The classic 2-D toy data sets of the diffusion literature, seeded and
 * scaled so each has roughly unit standard deviation per axis (so one
 * noise schedule and one plot range, [-3, 3]^2, suit them all).
 */
export type Toy2dName = "8gaussians" | "moons" | "swissroll" | "checkerboard";

export const toy2dNames: readonly Toy2dName[] = ["8gaussians", "moons", "swissroll", "checkerboard"];

export function isToy2dName(name: string): name is Toy2dName {
  return (toy2dNames as readonly string[]).includes(name);
}

/** n points of a toy set as a [n, 2] tensor; the same (name, n, seed) gives the same points. */
export function toy2d(name: Toy2dName, n: number, seed: number): Tensor {
  if (!(Number.isInteger(n) && n > 0)) throw new Error(`toy2d: n must be a positive integer, got ${n}`);
  if (!isToy2dName(name)) throw new Error(`toy2d: unknown data set "${name}" (expected one of ${toy2dNames.join(", ")})`);
  const rng = new Rng(seed);
  const out = new Float32Array(2 * n);
  const draw = generators[name];
  for (let i = 0; i < n; i++) {
    const [x, y] = draw(rng);
    out[2 * i] = x;
    out[2 * i + 1] = y;
  }
  return tensor([n, 2], out);
}

type Point = [number, number];

// Each generator already includes its scale factor, chosen so the per-axis std is about 1.
const generators: Record<Toy2dName, (rng: Rng) => Point> = {
  // Eight blobs on a circle of radius 2 (std 0.1 each), scaled by 1/1.42.
  "8gaussians": (rng) => {
    const k = rng.int(8);
    const angle = (k * Math.PI) / 4;
    const s = 1 / 1.42;
    return [s * (2 * Math.cos(angle) + 0.1 * rng.normal()), s * (2 * Math.sin(angle) + 0.1 * rng.normal())];
  },
  // Two interleaved half circles (sklearn's make_moons, noise 0.05), centred.
  moons: (rng) => {
    const upper = rng.uniform() < 0.5;
    const theta = Math.PI * rng.uniform();
    const x = upper ? Math.cos(theta) : 1 - Math.cos(theta);
    const y = upper ? Math.sin(theta) : 0.5 - Math.sin(theta);
    return [(x - 0.5 + 0.05 * rng.normal()) / 0.87, (y - 0.25 + 0.05 * rng.normal()) / 0.5];
  },
  // sklearn's make_swiss_roll projected to (x, z): a spiral t (cos t, sin t), t in [1.5 pi, 4.5 pi].
  swissroll: (rng) => {
    const t = 1.5 * Math.PI * (1 + 2 * rng.uniform());
    const s = 1 / 6.6;
    return [s * (t * Math.cos(t) + 0.3 * rng.normal()), s * (t * Math.sin(t) + 0.3 * rng.normal())];
  },
  // FFJORD's checkerboard: 8 unit squares on [-2, 2]^2, alternate cells filled.
  checkerboard: (rng) => {
    const x = 4 * rng.uniform() - 2;
    const column = ((Math.floor(x) % 2) + 2) % 2; // odd columns shift the cells up by one
    const y = rng.uniform() - 2 * rng.int(2) + column;
    const s = 1 / 1.15;
    return [s * x, s * y];
  },
};
