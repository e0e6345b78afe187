import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { destruction } from "../src/core/schedule.js";
import { replacement } from "../src/processes/replacement.js";
import { enumerable, enumerableDenoiser, entropy, sampleEnumerable, stringAt, testStrings } from "../src/oracles/enumerable.js";
import { replacementNelbo, replacementNelboQuadrature } from "../src/text/replacement-elbo.js";

// The bits/char bound of replacement diffusion (src/text/replacement-elbo.ts)
// against exact computations on the 27-string oracle: tight (= -log p(x0))
// for the exact posterior of ANY distribution, and, for a model, an upper
// bound on its own -log p(x0), so on data its mean is at least the entropy.
const dist = testStrings();
const { V, L } = dist;
const schedules = { linear: destruction.linear(), cosine: destruction.cosine(), logLinear: destruction.logLinear() };

test("replacement NELBO with the exact posterior equals -log p(x0) for every string (quadrature, x_t enumerated)", async () => {
  for (const [name, schedule] of Object.entries(schedules)) {
    const p = replacement({ vocab: V, schedule });
    const oracle = enumerableDenoiser(dist, p);
    for (let i = 0; i < dist.probs.length; i += name === "cosine" ? 1 : 8) {
      const nll = -Math.log(dist.probs[i]);
      // Cut at the default m = 1e-3 and closed by the decoder: its gap (marginals vs the joint posterior) is below 1e-4 here.
      const nelbo = await replacementNelboQuadrature(oracle, p, stringAt(V, L, i), { nodes: 600 });
      assert.ok(Math.abs(nelbo - nll) < 1e-4, `${name}, string ${stringAt(V, L, i)}: NELBO ${nelbo} vs -log p ${nll}`);
    }
  }
});

test("a model's replacement NELBO bounds its OWN likelihood: the exact posterior of the uniform distribution gives log 27 for every string", async () => {
  // The exact posterior of uniform strings is a legitimate (wrong) model of the test data;
  // its bound is -log(1/27) whatever x0 is, above -log p(x0) on average (cross-entropy >= entropy).
  const p = replacement({ vocab: V, schedule: schedules.cosine });
  const uniform = enumerableDenoiser(enumerable(V, L, new Array(V ** L).fill(1)), p);
  let mean = 0;
  for (let i = 0; i < dist.probs.length; i++) {
    const nelbo = await replacementNelboQuadrature(uniform, p, stringAt(V, L, i), { nodes: 200 });
    assert.ok(Math.abs(nelbo - Math.log(V ** L)) < 5e-4, `string ${i}: ${nelbo} vs log 27 = ${Math.log(27)}`);
    mean += dist.probs[i] * nelbo;
  }
  assert.ok(mean > entropy(dist) + 0.4, `cross-entropy ${mean} vs entropy ${entropy(dist)}`);
});

test("replacement NELBO Monte Carlo estimate matches the entropy under the exact model", async () => {
  const p = replacement({ vocab: V, schedule: schedules.logLinear });
  const oracle = enumerableDenoiser(dist, p);
  const data = sampleEnumerable(dist, 6000, new Rng(3));
  const h = entropy(dist) / (L * Math.LN2);
  const r = await replacementNelbo(oracle, p, data, { rng: new Rng(4) });
  assert.ok(Math.abs(r.bitsPerChar - h) < 4 * r.stderrBits + 0.01, `${r.bitsPerChar} ± ${r.stderrBits} bits/char vs entropy ${h}`);
  assert.ok(r.stderrBits < 0.05, `standard error ${r.stderrBits} bits/char`);
});

test("replacement NELBO refuses the \"different\" variant (no Markov uniform-jump chain has its marginals)", async () => {
  const p = replacement({ vocab: V, variant: "different" });
  await assert.rejects(replacementNelbo(enumerableDenoiser(dist, p), p, sampleEnumerable(dist, 4, new Rng(0)), { rng: new Rng(0) }), /defined for variant "uniform"/);
});
