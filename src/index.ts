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

// Training machinery (section "training" of the README).
export * from "./train/train.js";
export * from "./train/adam.js";
export * from "./train/loss.js";
export * from "./train/objectives.js";
export * from "./train/network-denoiser.js";
export * from "./train/checkpoint.js";
export * from "./train/safetensors.js";
export * from "./train/progress.js";
export * from "./model/mlp.js";
export * from "./model/time-embedding.js";
export { initDense, dense, ParamTaker, paramCount } from "./model/layers.js";
