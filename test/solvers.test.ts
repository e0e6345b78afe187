import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { cosine, logSnrLinear, varianceExploding, type NoiseSchedule } from "../src/core/schedule.js";
import { gaussian, ddimR } from "../src/processes/gaussian.js";
import { pointMass, type Denoiser } from "../src/core/denoiser.js";
import { mixtureDenoiser, sampleMixture, testMixture2d } from "../src/oracles/mixture.js";
import { energyTest } from "../src/metrics/energy.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { derivative, rates, sdeCoefficients } from "../src/samplers/drift.js";
import { sampleEuler, sampleHeun, sampleRk45, integrateRk45 } from "../src/samplers/ode.js";
import { sampleEulerMaruyama } from "../src/samplers/sde.js";
import { sampleDpmSolver2M } from "../src/samplers/dpm-solver.js";

// Continuous-time limits (DESIGN.md section 3, "Continuous time"): with the
// exact mixture posterior, r = 0 of the generic sampler integrates the
// probability-flow ODE and the DDPM r samples like the reverse SDE.
const mix = testMixture2d();
const schedule = logSnrLinear(); // uniform in t = uniform in log-SNR, a(1) > 0, bounded velocity
const process = gaussian(schedule);
const oracle = mixtureDenoiser(mix, schedule);
const meanOnly = pointMass((x, t) => oracle.mean!(x, t));

/** The exact marginal p(x_1): F_1 of mixture samples. */
function exactX1(n: number, rng: Rng, s: NoiseSchedule = schedule): Tensor {
  const p = gaussian(s);
  return p.forward(sampleMixture(mix, n, rng), 1, p.noise([n, 2], rng));
}

/**
 * Median over trajectories of the endpoint distance. The median, because a
 * few trajectories start on a boundary between modes, where the flow itself
 * splits and any finite step size may land in the other mode.
 */
function medianError(x: Tensor, ref: Tensor): number {
  const n = x.shape[0];
  const e = Array.from({ length: n }, (_, i) => Math.hypot(x.data[2 * i] - ref.data[2 * i], x.data[2 * i + 1] - ref.data[2 * i + 1]));
  return e.sort((p, q) => p - q)[n >> 1];
}

/** Least-squares slope of -log(error) against log(steps): the observed order. */
function order(steps: number[], errors: number[]): number {
  const xs = steps.map(Math.log), ys = errors.map((e) => -Math.log(e));
  const mx = xs.reduce((a, b) => a + b) / xs.length, my = ys.reduce((a, b) => a + b) / ys.length;
  let num = 0, den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}

const N = 300;
const STEPS = [20, 40, 80, 160];
const x1 = exactX1(N, new Rng(1));

/** Tight RK45 solution of the same ODE from the same x_1 to the grid's last positive time, then the same denoise. */
async function reference(steps: number): Promise<Tensor> {
  return (await sampleRk45({ schedule, denoiser: oracle, x1, rtol: 1e-8, atol: 1e-8, tEnd: uniformGrid(steps)[steps - 1] })).x;
}
const refs = new Map<number, Tensor>();
async function ref(steps: number): Promise<Tensor> {
  if (!refs.has(steps)) refs.set(steps, await reference(steps));
  return refs.get(steps)!;
}

async function errorCurve(run: (grid: number[]) => Promise<Tensor>): Promise<number[]> {
  const out: number[] = [];
  for (const steps of STEPS) out.push(medianError(await run(uniformGrid(steps)), await ref(steps)));
  return out;
}

const fmt = (errs: number[]) => STEPS.map((s, i) => `${s}: ${errs[i].toExponential(2)}`).join(", ");

test("finite-difference schedule derivatives match the closed forms (interior and both ends)", () => {
  const ve = varianceExploding(0.01, 10), lsnr = logSnrLinear(10, -10), cos = cosine(0.008);
  const sig = (x: number) => 1 / (1 + Math.exp(-x));
  const phi = (t: number) => ((t + 0.008) / 1.008) * (Math.PI / 2);
  for (const t of [1e-7, 3e-6, 0.01, 0.37, 0.9, 1 - 3e-6, 1]) {
    const close = (got: number, want: number, what: string) =>
      assert.ok(Math.abs(got - want) <= 1e-6 * (1 + Math.abs(want)), `${what} at t = ${t}: ${got} vs ${want}`);
    close(derivative(ve.b, t), ve.b(t) * Math.log(1000), "VE b'");
    const lam = 10 - 20 * t, a = Math.sqrt(sig(lam)), b = Math.sqrt(sig(-lam));
    close(derivative(lsnr.a, t), 0.5 * a * b * b * -20, "log-SNR a'");
    close(derivative(lsnr.b, t), -0.5 * a * a * b * -20, "log-SNR b'");
    close(derivative(cos.a, t), (-Math.sin(phi(t)) * (Math.PI / 2) / 1.008) / Math.cos(phi(0)), "cosine a'");
  }
  assert.throws(() => derivative(ve.b, 0), /t must lie in \(0, 1\], got 0/);
});

test("SDE coefficients: VP gives g^2 = beta = -2 f, VE gives g^2 = d(sigma^2)/dt; a = 0 is refused", () => {
  for (const t of [0.05, 0.5, 0.95]) {
    const { f, g2 } = sdeCoefficients(rates(cosine(), t));
    assert.ok(Math.abs(g2 + 2 * f) < 1e-6 * Math.abs(f), `VP at t = ${t}: g^2 = ${g2}, -2f = ${-2 * f}`);
    const ve = varianceExploding();
    const c = sdeCoefficients(rates(ve, t));
    assert.equal(c.f, 0);
    assert.ok(Math.abs(c.g2 - 2 * ve.b(t) ** 2 * Math.log(1000)) < 1e-6 * c.g2, `VE at t = ${t}: g^2 = ${c.g2}`);
  }
  assert.throws(() => sdeCoefficients(rates(cosine(), 1)), /reverse SDE: a\(t\) = [0-9.e-]+ at t = 1/);
});

test("PF-ODE velocity is d/dt (a x0 + b eps): RK45 on a one-point data set follows the forward path exactly", async () => {
  // For data = a point x0 the exact mean is x0, so the ODE path from x_1 = a_1 x0 + b_1 eps is a_t x0 + b_t eps.
  const x0 = [0.7, -1.3], eps = [0.4, 1.1];
  const point: Denoiser = pointMass((xt) => tensor(xt.shape, Float32Array.from({ length: xt.data.length }, (_, i) => x0[i % 2])));
  for (const s of [cosine(), varianceExploding(), logSnrLinear()]) {
    const path = (t: number) => tensor([1, 2], x0.map((v, i) => s.a(t) * v + s.b(t) * eps[i]));
    const tEnd = 0.02;
    const res = await integrateRk45(
      async (t, y) => { const r = rates(s, t); return Float64Array.from(y, (v, i) => r.da * x0[i] + (r.db / r.b) * (v - r.a * x0[i])); },
      Float64Array.from(path(1).data), 1, tEnd, { rtol: 1e-9, atol: 1e-9 });
    const want = path(tEnd).data;
    for (let i = 0; i < 2; i++) assert.ok(Math.abs(res.y[i] - want[i]) < 2e-5 * (1 + Math.abs(want[i])), `${s.name}: ${res.y[i]} vs ${want[i]}`);
    // And the sampler, which adds the final denoise, returns x0 itself.
    const out = await sampleRk45({ schedule: s, denoiser: point, x1: path(1), tEnd });
    assert.ok(Math.abs(out.x.data[0] - x0[0]) < 1e-6 && out.nfe > 6, `${s.name}: endpoint ${out.x.data[0]}, nfe ${out.nfe}`);
  }
});

test("RK45 meets its tolerance on y' = -y and y' = cos(t) y, in both directions", async () => {
  for (const [rtol, tol] of [[1e-4, 2e-3], [1e-8, 1e-7]] as const) {
    const a = await integrateRk45(async (_t, y) => Float64Array.from(y, (v) => -v), Float64Array.of(1, 2), 0, 3, { rtol, atol: rtol });
    assert.ok(Math.abs(a.y[1] - 2 * Math.exp(-3)) < tol * 2 * Math.exp(-3), `y' = -y: ${a.y[1]}`);
    const b = await integrateRk45(async (t, y) => Float64Array.from(y, (v) => Math.cos(t) * v), Float64Array.of(1), 2, -1, { rtol, atol: rtol });
    const want = Math.exp(Math.sin(-1) - Math.sin(2));
    assert.ok(Math.abs(b.y[0] - want) < tol * want, `y' = cos(t) y backwards: ${b.y[0]} vs ${want}`);
  }
  const loose = await integrateRk45(async (_t, y) => Float64Array.from(y, (v) => -v), Float64Array.of(1), 0, 3, { rtol: 1e-3, atol: 1e-3 });
  const tight = await integrateRk45(async (_t, y) => Float64Array.from(y, (v) => -v), Float64Array.of(1), 0, 3, { rtol: 1e-9, atol: 1e-9 });
  assert.ok(tight.evals > 3 * loose.evals, `tighter tolerance needs more evaluations: ${tight.evals} vs ${loose.evals}`);
});

test("generic sampler, r = 0, converges to the PF-ODE endpoint at order 1 (and r = 0.2 does not converge)", async (t) => {
  const ddim = await errorCurve((grid) => sample({ process, denoiser: meanOnly, grid, r: 0, rng: new Rng(0), x1 }));
  const p = order(STEPS, ddim);
  t.diagnostic(`generic r = 0: median endpoint error vs RK45 (rtol 1e-8), steps ${fmt(ddim)}; order ${p.toFixed(2)}`);
  assert.ok(p > 0.7 && p < 1.5, `order of the generic r = 0 sampler ${p.toFixed(2)} is not ~1 (${fmt(ddim)})`);
  assert.ok(ddim[ddim.length - 1] < 0.02, `error at ${STEPS[STEPS.length - 1]} steps: ${ddim[ddim.length - 1]}`);
  // A stochastic r stays away from the ODE: the test can fail.
  const noisy = await errorCurve((grid) => sample({ process, denoiser: meanOnly, grid, r: 0.2, rng: new Rng(0), x1 }));
  t.diagnostic(`generic r = 0.2: ${fmt(noisy)}; order ${order(STEPS, noisy).toFixed(2)}`);
  assert.ok(order(STEPS, noisy) < 0.3 && noisy[noisy.length - 1] > 0.1, `r = 0.2 should not converge to the ODE: ${fmt(noisy)}`);
});

test("Euler on the PF-ODE is first order, Heun second order", async (t) => {
  const euler = await errorCurve(async (grid) => (await sampleEuler({ schedule, denoiser: oracle, grid, x1 })).x);
  const heun = await errorCurve(async (grid) => (await sampleHeun({ schedule, denoiser: oracle, grid, x1 })).x);
  const pe = order(STEPS, euler), ph = order(STEPS, heun);
  t.diagnostic(`Euler: ${fmt(euler)}; order ${pe.toFixed(2)}`);
  t.diagnostic(`Heun:  ${fmt(heun)}; order ${ph.toFixed(2)}`);
  assert.ok(pe > 0.7 && pe < 1.5, `Euler order ${pe.toFixed(2)}`);
  assert.ok(ph > 1.6 && ph < 2.6, `Heun order ${ph.toFixed(2)}`);
});

test("DPM-Solver++(2M): first step is the generic r = 0 step; second order; 20 steps beat the generic sampler's 80", async (t) => {
  const grid = [1, 0.6, 0];
  const generic = await sample({ process, denoiser: meanOnly, grid, r: 0, rng: new Rng(0), x1 });
  const dpm1 = await sampleDpmSolver2M({ schedule, denoiser: oracle, grid, x1 });
  for (let i = 0; i < generic.data.length; i++) assert.ok(Math.abs(generic.data[i] - dpm1.x.data[i]) < 1e-5, `row ${i >> 1}: ${generic.data[i]} vs ${dpm1.x.data[i]}`);
  assert.equal(dpm1.nfe, 2);

  const dpm = await errorCurve(async (g) => (await sampleDpmSolver2M({ schedule, denoiser: oracle, grid: g, x1 })).x);
  const ddim = await errorCurve((g) => sample({ process, denoiser: meanOnly, grid: g, r: 0, rng: new Rng(0), x1 }));
  const p = order(STEPS, dpm);
  t.diagnostic(`DPM-Solver++(2M): ${fmt(dpm)}; order ${p.toFixed(2)}`);
  t.diagnostic(`generic r = 0:    ${fmt(ddim)}`);
  assert.ok(p > 1.6 && p < 2.6, `DPM-Solver++(2M) order ${p.toFixed(2)}`);
  // 20 DPM-Solver++ steps beat 80 generic ones; 40 beat 160 by more than 2x.
  assert.ok(dpm[0] < ddim[2], `DPM-Solver++ at ${STEPS[0]} steps (${dpm[0]}) vs generic at ${STEPS[2]} (${ddim[2]})`);
  assert.ok(dpm[1] < ddim[3] / 2, `DPM-Solver++ at ${STEPS[1]} steps (${dpm[1]}) vs generic at ${STEPS[3]} (${ddim[3]})`);
});

test("generic sampler with the DDPM r matches Euler-Maruyama on the reverse SDE in distribution, and both match the data", async (t) => {
  const n = 600, steps = 400;
  const data = sampleMixture(mix, n, new Rng(7));
  const rng = new Rng(400);
  const start = exactX1(n, rng);
  const em = await sampleEulerMaruyama({ schedule, denoiser: oracle, grid: uniformGrid(steps), x1: start, rng });
  const ddpm = await sample({ process, denoiser: meanOnly, grid: uniformGrid(steps), r: ddimR(schedule, 1), rng, x1: start });
  assert.equal(em.nfe, steps);
  const emData = energyTest(em.x, data, 200, 3), ddpmData = energyTest(ddpm, data, 200, 3), emDdpm = energyTest(em.x, ddpm, 200, 3);
  t.diagnostic(`energy distance (p-value): EM-SDE vs data ${emData.statistic.toFixed(4)} (${emData.pValue.toFixed(2)}), generic DDPM-r vs data ${ddpmData.statistic.toFixed(4)} (${ddpmData.pValue.toFixed(2)}), EM vs generic ${emDdpm.statistic.toFixed(4)} (${emDdpm.pValue.toFixed(2)})`);
  for (const [name, res] of [["EM vs data", emData], ["DDPM-r vs data", ddpmData], ["EM vs DDPM-r", emDdpm]] as const) {
    assert.ok(res.pValue > 0.01, `${name}: energy distance ${res.statistic.toFixed(4)} beyond its null (99%: ${res.null99.toFixed(4)})`);
  }
  // Power check: Euler-Maruyama with 4 steps is visibly biased, and the same test says so.
  const coarse = await sampleEulerMaruyama({ schedule, denoiser: oracle, grid: uniformGrid(4), x1: start, rng: new Rng(5) });
  const bad = energyTest(coarse.x, data, 200, 3);
  assert.ok(bad.pValue <= 0.01, `4-step EM should be rejected, p = ${bad.pValue}`);
});

test("solvers refuse a denoiser without a mean and a bad grid", async () => {
  const noMean: Denoiser = { sample: (x) => x };
  await assert.rejects(sampleHeun({ schedule, denoiser: noMean, grid: uniformGrid(4), x1 }), /has no mean/);
  await assert.rejects(sampleDpmSolver2M({ schedule, denoiser: oracle, grid: [1, 0.5, 0.7, 0], x1 }), /strictly decrease/);
  await assert.rejects(sampleRk45({ schedule, denoiser: oracle, x1, tEnd: 0 }), /tEnd must lie in \(0, 1\), got 0/);
  await assert.rejects(sampleEulerMaruyama({ schedule: cosine(), denoiser: mixtureDenoiser(mix, cosine()), grid: uniformGrid(4), x1, rng: new Rng(0) }), /reverse SDE: a\(t\) = [0-9.e-]+ at t = 1/);
});
