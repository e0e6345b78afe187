export * from "./core/tensor.js";
export * from "./core/rng.js";
export * from "./core/process.js";
export * from "./core/grid.js";
export * from "./core/schedule.js";
export * from "./core/denoiser.js";
export * from "./core/sampler.js";
export * from "./processes/gaussian.js";
export * from "./samplers/presets.js";
export * from "./oracles/mixture.js";
export * from "./metrics/energy.js";

export { uniformKernel, uniformNoise } from "./processes/kernels.js";
export * from "./train/types.js";
