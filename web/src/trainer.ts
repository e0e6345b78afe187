import { jit, numpy as np, tree, valueAndGrad, type Array as JArray } from "@jax-js/jax";
import type { Process } from "../../src/core/process.js";
import { Rng } from "../../src/core/rng.js";
import { gatherBatch, tensor, type Tensor } from "../../src/core/tensor.js";
import { adamInit, adamScalars, adamUpdate, defaultAdam, emaUpdate } from "../../src/train/adam.js";
import { objectiveLoss } from "../../src/train/loss.js";
import { timeSampler } from "../../src/train/time.js";
import type { Network, Objective, Params } from "../../src/train/types.js";

export interface LiveTrainerOptions {
  process: Process<Tensor, Tensor>;
  network: Network;
  objective: Objective<Tensor, Tensor>;
  data: Tensor;
  batchSize: number;
  lr: number;
  warmup: number;
  emaDecay: number;
  seed: number;
}

/**
 * train() of src/train/train.ts, cut into calls of a few steps so the page
 * stays live between them (train() runs to the end and writes checkpoints).
 * Same pieces: a seeded mini-batch, t from the process's time sampler,
 * x_t = forward(x0, t, eps), the objective's target, one jitted step of
 * forward + grad + Adam + EMA.
 */
export class LiveTrainer {
  step = 0;
  readonly losses: number[] = [];
  private params: Params;
  private ema: Params;
  private m: Params;
  private v: Params;
  private readonly rng: Rng;
  private readonly drawTimes: (n: number, rng: Rng) => Float32Array;
  private readonly jstep;

  constructor(private readonly o: LiveTrainerOptions) {
    this.rng = new Rng(o.seed + 1);
    this.drawTimes = timeSampler("uniform", o.process);
    this.params = o.network.init(o.seed);
    this.ema = tree.map((p: JArray) => p.ref.add(0), this.params) as Params;
    ({ m: this.m, v: this.v } = adamInit(this.params));
    const lossOf = (q: Params, xt: JArray, t: JArray, y: JArray, w: JArray) => objectiveLoss(o.objective.loss, o.network.apply(q, xt, t), y, w);
    this.jstep = jit((p: Params, m: Params, v: Params, ema: Params, xt: JArray, t: JArray, y: JArray, w: JArray, lr: JArray, c1: JArray, c2: JArray, decay: JArray) => {
      const [loss, grads] = valueAndGrad(lossOf)(tree.ref(p), xt, t, y, w);
      const up = adamUpdate(defaultAdam, p, grads as Params, m, v, lr, c1, c2);
      const ema2 = emaUpdate(ema, tree.ref(up.params), decay);
      return [up.params, up.m, up.v, ema2, loss] as [Params, Params, Params, Params, JArray];
    });
  }

  /** Run `n` optimizer steps; returns their losses. Throws on a non-finite loss. */
  async run(n: number): Promise<number[]> {
    const { process, objective, data, batchSize } = this.o;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const k = this.step + 1;
      const idx = Uint32Array.from({ length: batchSize }, () => this.rng.int(data.shape[0]));
      const x0 = gatherBatch(data, idx);
      const t = this.drawTimes(batchSize, this.rng);
      const eps = process.noise(x0.shape, this.rng);
      const xt = process.forward(x0, t, eps);
      const { target, weight } = objective.target(x0, xt, t, eps);
      const w = weight ?? tensor(target.shape, new Float32Array(target.data.length).fill(1));
      const lrK = this.o.warmup > 0 ? this.o.lr * Math.min(1, k / this.o.warmup) : this.o.lr;
      const [lr, c1, c2] = adamScalars(defaultAdam, lrK, k);
      const res = this.jstep(this.params, this.m, this.v, this.ema, arr(xt), arr(tensor([t.length], t)), arr(target), arr(w), lr, c1, c2, this.o.emaDecay);
      [this.params, this.m, this.v, this.ema] = res;
      const loss = (await res[4].data())[0];
      if (!Number.isFinite(loss)) throw new Error(`training: loss is ${loss} at step ${k}; lower the learning rate`);
      this.step = k;
      this.losses.push(loss);
      out.push(loss);
    }
    return out;
  }

  /** A copy of the EMA weights (the model to sample from); the caller disposes it. */
  emaParams(): Params {
    return tree.map((p: JArray) => p.ref.add(0), this.ema) as Params;
  }

  dispose(): void {
    tree.dispose([this.params, this.m, this.v, this.ema]);
    this.jstep.dispose();
  }
}

const arr = (x: Tensor): JArray => np.array(x.data).reshape([...x.shape]);
