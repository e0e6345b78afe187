import { z } from "zod";
import { scheduleByName, type ScheduleName } from "../../core/schedule.js";
import { itemSize, type Tensor } from "../../core/tensor.js";
import { gaussian } from "../../processes/gaussian.js";
import { evalNll } from "../../likelihood/eval.js";
import { analyticDpm, applyPreset, dataStd } from "../../samplers/presets.js";
import { gaussianDenoiser } from "../../train/network-denoiser.js";
import { gaussianObjective, type Parameterization } from "../../train/objectives.js";
import { choice, positive, UsageError } from "../options.js";
import { registerProcess } from "../registry.js";

/**
 * The Gaussian process x_t = a x0 + b eps with its published samplers as
 * presets: ddpm, ddim (--eta), analytic-dpm (spread estimated on held-out
 * data over the sampling grid), or a plain --r.
 */
interface GaussianOptions {
  schedule: ScheduleName;
  objective: Parameterization;
  clip?: number;
}

const presets = ["ddpm", "ddim", "analytic-dpm"] as const;

registerProcess({
  name: "gaussian",
  description: "Gaussian noise x_t = a(t) x0 + b(t) eps",
  kinds: ["points", "image"],
  flags: [
    { key: "schedule", flag: "--schedule <name>", description: "noise schedule: cosine, linear-beta, log-snr, ve (default cosine)" },
    { key: "objective", flag: "--objective <name>", description: "network predicts x0, eps or v (default v)" },
    { key: "clip", flag: "--clip <c>", description: "clip x0_hat to [-c, c] when sampling (default off)" },
  ],
  options: z.object({
    schedule: choice(["cosine", "linear-beta", "log-snr", "ve"]).default("cosine"),
    // v is the default: it stays finite at t = 1, where a -> 0 makes eps -> x0 blow up.
    objective: choice(["x0", "eps", "v"]).default("v"),
    clip: positive().optional(),
  }),
  build(o: GaussianOptions, data) {
    const process = gaussian(scheduleByName(o.schedule));
    return {
      process,
      objective: gaussianObjective(process, o.objective),
      output: { kind: "same" },
      denoiser: (network, params, cond) => gaussianDenoiser(network, params, process, o.objective, { clip: o.clip, cond }),
      inpaint: data.kind === "image" ? "paste" : undefined,
      presets,
      async nll(denoiser, rows, seed) {
        // Images are 8-bit levels scaled to [-1, 1]: dequantise with bins of width 2/255.
        const dequantize = data.kind === "image" ? { binWidth: 2 / 255 } : undefined;
        const r = await evalNll({ schedule: process.schedule, denoiser, data: rows, dataStd: dataStd(data.train), dequantize, seed });
        const trace = itemSize(rows) <= 16 ? "exact trace" : "Hutchinson trace";
        return { ...r, method: `PF-ODE (RK45), ${trace}${dequantize ? ", uniform dequantisation" : ""}` };
      },
      async sampler(req, denoiser) {
        if (req.preset !== undefined && req.r !== undefined) throw new UsageError(`--r and --preset exclude each other (a preset sets r)`);
        if (req.eta !== undefined && req.preset !== "ddim") throw new UsageError(`--eta applies only to --preset ddim, got --preset ${req.preset ?? "(none)"}`);
        if (req.r !== undefined) return { r: req.r, denoiser, label: `r = ${req.r}` };
        const name = req.preset ?? "ddpm";
        if (name === "ddpm") return { ...applyPreset(process, { name: "ddpm" }, denoiser), label: "ddpm" };
        if (name === "ddim") {
          const eta = req.eta ?? 0;
          return { ...applyPreset(process, { name: "ddim", eta }, denoiser), label: `ddim (eta = ${eta})` };
        }
        return { ...(await analyticDpm(process, denoiser, req.heldOut, req.grid, req.rng)), label: "analytic-dpm" };
      },
    };
  },
});
