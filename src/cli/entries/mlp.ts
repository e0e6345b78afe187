import { z } from "zod";
import { mlp } from "../../model/mlp.js";
import { int } from "../options.js";
import { registerNetwork } from "../registry.js";

/** The MLP for low-dimensional real data (src/model/mlp.ts). */
registerNetwork({
  name: "mlp",
  description: "residual time-conditioned MLP",
  kinds: ["points"],
  flags: [
    { key: "hidden", flag: "--hidden <n>", description: "MLP hidden width (default 128)" },
    { key: "depth", flag: "--depth <n>", description: "MLP residual blocks (default 3)" },
  ],
  options: z.object({ hidden: int(1, 4096).default(128), depth: int(0, 64).default(3) }),
  build: (o: { hidden: number; depth: number }, spec) => {
    if (spec.output.kind !== "same") throw new Error(`mlp: outputs real vectors only, but the process needs ${spec.output.kind}`);
    return mlp({ inputDim: spec.itemShape.reduce((a, b) => a * b, 1), hidden: o.hidden, depth: o.depth });
  },
});
