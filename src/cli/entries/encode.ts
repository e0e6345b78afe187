import { z } from "zod";
import type { Denoiser } from "../../core/denoiser.js";
import { Rng } from "../../core/rng.js";
import { scheduleByName } from "../../core/schedule.js";
import { tensor, type Tensor } from "../../core/tensor.js";
import { ddimR } from "../../processes/gaussian.js";
import { encoding, type Encoder, type EncodingProcess } from "../../processes/encoding.js";
import { embeddingsHost, encoderNetwork, type EncoderNorm } from "../../model/encoder-network.js";
import { categoricalDenoiser, networkCategorical, type CategoricalModel } from "../../text/denoiser.js";
import { encodingObjective, onVectors, withEmbeddingMean } from "../../text/encoding.js";
import { encodingNelbo } from "../../text/encoding-elbo.js";
import { infillDenoiser } from "../../text/infill.js";
import { choice, int, UsageError } from "../options.js";
import { registerProcess, type ProcessSetup } from "../registry.js";
import { nllOf } from "./text.js";

/**
 * `--process encode` on text: Gaussian diffusion in a learned embedding
 * space (src/processes/encoding.ts). The encoder is part of the network
 * (`encoder.emb` in the checkpoint, src/model/encoder-network.ts) around
 * the chosen --network, which reads the embedded x_t; sampling draws
 * x0_hat from the categorical per position and re-encodes it; presets
 * ddpm / ddim(eta) or --r set the kernel; --nll is the VDM-style bound in
 * bits per character (src/text/encoding-elbo.ts).
 */
interface EncodeOptions {
  schedule: "cosine" | "log-snr" | "linear-beta";
  embedDim: number;
  embedNorm: EncoderNorm;
}

const presets = ["ddpm", "ddim"] as const;

/** The categorical model behind each denoiser built here (for --nll). */
const modelOf = new WeakMap<Denoiser, CategoricalModel>();

registerProcess({
  name: "encode",
  description: "Gaussian diffusion of learned token embeddings, x_t = a(t) E(x0) + b(t) eps, E trained jointly with the denoiser",
  kinds: ["tokens"],
  flags: [
    { key: "schedule", flag: "--schedule <name>", description: "noise schedule: cosine, log-snr, linear-beta (default cosine)" },
    { key: "embedDim", flag: "--embed-dim <d>", description: "embedding dimension d (default 16)" },
    { key: "embedNorm", flag: "--embed-norm <kind>", description: "sqrt-d (every embedding has norm sqrt(d), as CDCD: no collapse) or none (free norms) (default sqrt-d)" },
  ],
  options: z.object({
    schedule: choice(["cosine", "log-snr", "linear-beta"]).default("cosine"),
    embedDim: int(1, 1024).default(16),
    embedNorm: choice(["sqrt-d", "none"]).default("sqrt-d"),
  }),
  build(o: EncodeOptions, data): ProcessSetup {
    const V = data.vocab!;
    const d = o.embedDim;
    // The sampler's copy of E: filled from the trained weights when a denoiser is built.
    const encoder: Encoder = { vocab: V, dim: d, table: new Float32Array(V * d) };
    const process = encoding({ schedule: scheduleByName(o.schedule), encoder });
    return {
      process,
      objective: encodingObjective(process),
      output: { kind: "logits", vocab: V },
      network: (spec, chosen) => encoderNetwork({ vocab: V, dim: d, norm: o.embedNorm }, chosen({ ...spec, inputDim: d })),
      denoiser(network, params) {
        encoder.table = embeddingsHost(params["encoder.emb"].ref.dataSync() as Float32Array, o.embedNorm, d);
        const net = networkCategorical(network, params);
        const model = onVectors(net, process.schedule);
        const den = Object.assign(withEmbeddingMean(categoricalDenoiser(model), model, encoder), { dispose: () => net.dispose() });
        modelOf.set(den, model);
        return den;
      },
      presets,
      async sampler(req, denoiser) {
        if (req.preset !== undefined && req.r !== undefined) throw new UsageError(`--r and --preset exclude each other (a preset sets r)`);
        if (req.eta !== undefined && req.preset !== "ddim") throw new UsageError(`--eta applies only to --preset ddim, got --preset ${req.preset ?? "(none)"}`);
        if (req.r !== undefined) return { r: req.r, denoiser, label: `r = ${req.r}` };
        // The DDPM / DDIM choices of r; x0_hat stays a draw of tokens (re-encoded), not a mean.
        const eta = req.preset === "ddim" ? req.eta ?? 0 : 1;
        return { r: ddimR(process.schedule, eta), denoiser, label: req.preset === "ddim" ? `ddim (eta = ${eta})` : "ddpm" };
      },
      finish: (x) => process.decode(x),
      infill: (base, known) => infillDenoiser(base, known, (xt, k, t, rng) => showKnown(process, xt, k, t, rng)),
      async nll(denoiser, rows, seed) {
        const model = modelOf.get(denoiser);
        if (!model) throw new Error(`${process.name}: --nll needs the denoiser this process builds`);
        const r = await encodingNelbo(model, process, rows, { rng: new Rng(seed), samplesPerSeq: 4 });
        return nllOf(r, rows, "Gaussian diffusion NELBO in embedding space (VDM) + decoder at t = 0.001, 4 draws per row", data);
      },
    };
  },
});

/**
 * Infilling under encoding shows the known characters re-encoded at the
 * current noise level, x_t,i = a E(c_i) + b xi (RePaint's replacement), and
 * forces them in x0_hat. A heuristic: the fresh noise of position i stands
 * in for conditioning on x0_i = c_i.
 */
function showKnown(process: EncodingProcess, xt: Tensor, known: Tensor, t: number, rng: Rng): Tensor {
  const [B, L, d] = xt.shape;
  if (known.data.length !== L) throw new Error(`infill: known tokens have ${known.data.length} positions, the sequences ${L}`);
  const a = process.schedule.a(t), b = process.schedule.b(t);
  const { table } = process.encoder;
  const out = Float32Array.from(xt.data);
  for (let row = 0; row < B; row++) {
    for (let i = 0; i < L; i++) {
      const c = known.data[i];
      if (c < 0) continue;
      for (let j = 0; j < d; j++) out[(row * L + i) * d + j] = a * table[c * d + j] + b * rng.normal();
    }
  }
  return tensor(xt.shape, out);
}
