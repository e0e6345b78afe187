import assert from "node:assert/strict";
import { test } from "node:test";
import type { Process } from "../src/core/process.js";
import { Rng } from "../src/core/rng.js";
import { cosine, destruction, linearBeta, logSnrLinear, varianceExploding } from "../src/core/schedule.js";
import { tensor } from "../src/core/tensor.js";
import { countedMasking, countedReplacement } from "../src/processes/counted.js";
import { gaussian } from "../src/processes/gaussian.js";
import { masking } from "../src/processes/masking.js";
import { pixelMaskProcess } from "../src/processes/pixel-mask.js";
import { replacement } from "../src/processes/replacement.js";

/** One name, one shape: every process's schedule is `process.schedule`, an object with name and m(t). */
const processes: Process<any, any>[] = [
  gaussian(cosine()),
  gaussian(linearBeta()),
  gaussian(logSnrLinear()),
  gaussian(varianceExploding()),
  masking({ vocab: 5, schedule: destruction.cosine() }),
  replacement({ vocab: 5, variant: "different", schedule: destruction.logLinear() }),
  countedMasking({ vocab: 5, length: 8 }),
  countedReplacement({ vocab: 5, length: 8, schedule: destruction.cosine() }),
  pixelMaskProcess({ schedule: destruction.cosine() }),
];

test("every process exposes process.schedule with the same shape: a name and an increasing m(t) in [0, 1] from m(0) = 0", () => {
  for (const p of processes) {
    const s = p.schedule;
    assert.ok(s, `${p.name} has a schedule`);
    assert.equal(typeof s.name, "string", p.name);
    assert.equal(typeof s.m, "function", p.name);
    assert.equal(s.m(0), 0, `${p.name}: m(0)`);
    let prev = 0;
    for (let k = 1; k <= 100; k++) {
      const v = s.m(k / 100);
      assert.ok(v >= prev - 1e-12 && v <= 1, `${p.name}: m(${k / 100}) = ${v} after ${prev}`);
      prev = v;
    }
    assert.ok(prev > 0.5, `${p.name}: m(1) = ${prev} destroys most of x0`);
  }
});

test("Gaussian m(t) is the noise share of the variance, b^2 / (a^2 + b^2) (= b^2 for VP); the name is the schedule's", () => {
  for (const sch of [cosine(), linearBeta(), logSnrLinear()]) {
    for (const t of [0.1, 0.5, 0.9]) assert.ok(Math.abs(sch.m(t) - sch.b(t) ** 2) < 1e-12, `${sch.name} at ${t}`);
  }
  const ve = varianceExploding();
  assert.ok(Math.abs(ve.m(1) - 100 / 101) < 1e-12);
  assert.equal(gaussian(cosine()).schedule.name, "cosine");
  assert.equal(masking({ vocab: 3, schedule: destruction.logLinear() }).name, "masking(log-linear, V=3)");
  // A bare function m(t) is still accepted, named by scheduleName.
  const custom = masking({ vocab: 3, schedule: (t) => t * t, scheduleName: "square" });
  assert.equal(custom.schedule.name, "square");
  assert.equal(custom.schedule.m(0.5), 0.25);
});

test("masking destroys the share schedule.m(t) of the tokens (the schedule object is the one the process uses)", () => {
  const p = masking({ vocab: 4, schedule: destruction.cosine() });
  const rng = new Rng(3);
  const x0 = tensor([400, 50], new Float32Array(20000));
  const t = 0.4;
  const xt = p.forward(x0, t, p.noise(x0.shape, rng));
  const share = xt.data.filter((v) => v === p.maskId).length / xt.data.length;
  assert.ok(Math.abs(share - p.schedule!.m(t)) < 0.02, `masked ${share}, m(t) = ${p.schedule!.m(t)}`);
});
