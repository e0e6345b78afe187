import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { decodePng } from "../src/viz/canvas.js";

/** The CLI runs from source (no build needed): node --import tsx src/cli/main.ts ... */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

async function udm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root, env: { ...process.env, UDM_DEBUG: "" } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Exit 2, nothing on stdout, exactly one line on stderr that matches. */
function assertUsageError(r: { code: number; stdout: string; stderr: string }, re: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: exit code (stderr: ${r.stderr})`);
  assert.equal(r.stdout, "", `${what}: stdout`);
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], re, what);
}

/** Every file under dir with its bytes, to show that nothing changed. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(p, readFileSync(p).toString("base64"));
    }
  };
  walk(dir);
  return out;
}

const tmp = mkdtempSync(join(tmpdir(), "udm-cli-"));
const out = join(tmp, "run");

test("cli: train + sample + eval --json end to end on 8gaussians", async () => {
  const tr = await udm("train", "--data", "8gaussians", "--steps", "800", "--train-rows", "4000", "--held-out", "500", "--ema-decay", "0.99", "--out", out, "--quiet");
  assert.equal(tr.code, 0, tr.stderr);
  assert.match(tr.stdout, /step 800 of 800/);
  for (const f of ["checkpoint/config.json", "checkpoint/weights.safetensors", "loss.png"]) assert.ok(existsSync(join(out, f)), f);
  assert.ok(decodePng(readFileSync(join(out, "loss.png"))).width > 0);

  const sa = await udm("sample", "--checkpoint", out, "--preset", "ddim", "--steps", "30", "-n", "500", "--trajectory", "--out", join(tmp, "ddim"));
  assert.equal(sa.code, 0, sa.stderr);
  const rows = readFileSync(join(tmp, "ddim", "samples.csv"), "utf8").trim().split("\n");
  assert.equal(rows[0], "x,y");
  assert.equal(rows.length, 501);
  for (const f of ["samples.png", "trajectory.png"]) assert.ok(decodePng(readFileSync(join(tmp, "ddim", f))).width > 0, f);
  // The samples must look like the data: most near one of the 8 centres, every centre hit.
  // (Standard normal noise, i.e. an untrained model, puts about 10% there.)
  const s = 1 / 1.42;
  const hit = new Set<number>();
  let near = 0;
  for (const row of rows.slice(1)) {
    const [x, y] = row.split(",").map((v) => Number(v) / s);
    const k = ((Math.round(Math.atan2(y, x) / (Math.PI / 4)) % 8) + 8) % 8;
    if (Math.hypot(x - 2 * Math.cos((k * Math.PI) / 4), y - 2 * Math.sin((k * Math.PI) / 4)) < 0.5) {
      near++;
      hit.add(k);
    }
  }
  assert.ok(near / 500 > 0.6, `only ${near} of 500 samples near a centre`);
  assert.equal(hit.size, 8, "every mode is sampled");

  const ev = await udm("eval", "--checkpoint", out, "--json", "--steps", "30", "-n", "500", "--preset", "analytic-dpm", "--nll", "--nll-rows", "100");
  assert.equal(ev.code, 0, ev.stderr);
  const report = JSON.parse(ev.stdout);
  assert.equal(report.sampler, "analytic-dpm");
  assert.equal(report.samples, 500);
  assert.equal(report.step, 800);
  assert.ok(report.energyDistance > 0 && report.energyDistance < 0.05, `energy distance ${report.energyDistance}`);
  assert.ok(report.energyDistanceFloor > 0 && report.energyDistanceFloor < report.energyDistance + 0.01);
  // The data's entropy is log 8 + log(2 pi e s^2), s = 0.1 / 1.42: -0.39 nats; N(0, I) would score about 2.8.
  assert.equal(report.nllRows, 100);
  assert.ok(report.nll > -1 && report.nll < 1.5, `held-out NLL ${report.nll} nats`);
  assert.ok(Math.abs(report.bitsPerDim - report.nll / (2 * Math.LN2)) < 1e-9);
});

test("cli: bad values give one line naming the field and the allowed values, exit 2, nothing overwritten", async () => {
  assert.ok(existsSync(join(out, "checkpoint", "config.json")), "needs the run of the previous test");
  const before = snapshot(tmp);
  const cases: [string[], RegExp][] = [
    [["train", "--out", out, "--steps", "abc"], /^udm: error: --steps must be an integer from 1 to \d+, got "abc"$/],
    [["train", "--out", out, "--data", "moon"], /^udm: error: --data must be one of 8gaussians, moons, swissroll, checkerboard, csv:<path>(, [^,]+)*, got "moon"$/],
    [["train", "--out", out, "--schedule", "linear"], /^udm: error: --schedule must be one of cosine, linear-beta, log-snr, ve, got "linear"$/],
    [["train", "--out", out, "--lr", "-1"], /^udm: error: --lr must be a number in \(0, 1\], got "-1"$/],
    [["train", "--out", out, "--hiden", "3"], /^udm: error: unknown option '--hiden' \(Did you mean --hidden\?\)$/],
    [["train", "--out", out, "--steps", "5", "--force", "--data", "csv:" + join(tmp, "missing.csv")], /missing\.csv: cannot read the CSV file: no such file \(ENOENT\)$/],
    [["train", "--out", out, "--steps", "5"], /^udm: error: --out .* already holds a checkpoint \(written by udm train, step 800\); pass --resume to continue it or --force to replace it$/],
    [["sample", "--checkpoint", out, "--preset", "ddim2", "--out", join(tmp, "ddim")], /^udm: error: --preset must be one of ddpm, ddim, analytic-dpm \(process gaussian\), got "ddim2"$/],
    [["sample", "--checkpoint", out, "--eta", "2"], /^udm: error: --eta must be a number in \[0, 1\], got "2"$/],
    [["sample", "--checkpoint", out, "--preset", "ddpm", "--eta", "0.5"], /^udm: error: --eta applies only to --preset ddim/],
    [["sample", "--checkpoint", out, "--grid", "log"], /^udm: error: --grid must be one of uniform, quadratic, got "log"$/],
    [["sample", "--steps", "10"], /^udm: error: --checkpoint is required/],
    [["eval", "--checkpoint", join(tmp, "nothing-here")], /^udm: error: --checkpoint .*nothing-here does not exist$/],
  ];
  for (const [args, re] of cases) assertUsageError(await udm(...args), re, args.join(" "));
  assert.deepEqual(snapshot(tmp), before, "no file was written or changed");
});

test("cli: options from a --config file, flags win, unknown fields are named", async () => {
  const cfg = join(tmp, "cfg.json");
  writeFileSync(cfg, JSON.stringify({ data: "moons", steps: 3, trainRows: 300, heldOut: 50, hidden: 16, quiet: true }));
  const ok = await udm("train", "--config", cfg, "--steps", "4", "--out", join(tmp, "cfg-run"));
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /step 4 of 4/);
  const saved = JSON.parse(readFileSync(join(tmp, "cfg-run", "checkpoint", "config.json"), "utf8"));
  assert.equal(saved.network.config.hidden, 16);

  // --resume continues the same run up to the new --steps.
  const resumed = await udm("train", "--config", cfg, "--steps", "6", "--resume", "--out", join(tmp, "cfg-run"));
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /step 6 of 6/);
  assert.equal(JSON.parse(readFileSync(join(tmp, "cfg-run", "checkpoint", "config.json"), "utf8")).losses.length, 6);

  writeFileSync(cfg, JSON.stringify({ stpes: 3 }));
  assertUsageError(await udm("train", "--config", cfg, "--out", join(tmp, "cfg-run2")), /^udm: error: "stpes" in .*cfg\.json is not an option of udm train .*\(allowed: .*steps/, "typo in config");
  writeFileSync(cfg, JSON.stringify({ steps: "many" }));
  assertUsageError(await udm("train", "--config", cfg, "--out", join(tmp, "cfg-run2")), /^udm: error: "steps" in .*cfg\.json must be an integer from 1 to \d+, got "many"$/, "bad value in config");
  writeFileSync(cfg, "{ steps: 3");
  assertUsageError(await udm("train", "--config", cfg), /^udm: error: --config: .*cfg\.json is not valid JSON/, "broken JSON");
  assert.ok(!existsSync(join(tmp, "cfg-run2")), "nothing written for a bad config");
});

test("cli: csv:<path> data trains, and samples come back in the file's units", async () => {
  const csv = join(tmp, "points.csv");
  const lines = ["x,y"];
  for (let i = 0; i < 400; i++) lines.push(`${100 + 10 * Math.cos(i)},${-50 + 5 * Math.sin(3 * i)}`);
  writeFileSync(csv, lines.join("\n"));
  const tr = await udm("train", "--data", `csv:${csv}`, "--steps", "150", "--hidden", "32", "--out", join(tmp, "csv-run"), "--quiet");
  assert.equal(tr.code, 0, tr.stderr);
  const sa = await udm("sample", "--checkpoint", join(tmp, "csv-run"), "--steps", "20", "-n", "300", "--out", join(tmp, "csv-samples"));
  assert.equal(sa.code, 0, sa.stderr);
  const pts = readFileSync(join(tmp, "csv-samples", "samples.csv"), "utf8").trim().split("\n").slice(1).map((r) => r.split(",").map(Number));
  const mean = [0, 1].map((j) => pts.reduce((a, p) => a + p[j], 0) / pts.length);
  assert.ok(Math.abs(mean[0] - 100) < 3 && Math.abs(mean[1] + 50) < 1.5, `sample mean ${mean} should be near (100, -50)`);

  writeFileSync(csv, "x,y\n1,2\n3,oops\n");
  assertUsageError(await udm("train", "--data", `csv:${csv}`, "--out", join(tmp, "csv-run2")), /points\.csv:3: column 2 is not a finite number: "oops"$/, "bad CSV row");
});

test("cli: a small demo writes its pictures, metrics and one self-contained report", async () => {
  const dir = join(tmp, "demo");
  const r = await udm("demo", "--out", dir, "--steps", "60", "--train-rows", "500", "--held-out", "100", "--sample-steps", "5", "-n", "100", "--hidden", "32", "--quiet");
  assert.equal(r.code, 0, r.stderr);
  const metrics = JSON.parse(readFileSync(join(dir, "metrics.json"), "utf8"));
  assert.deepEqual(metrics.samplers.map((s: { sampler: string }) => s.sampler), ["ddpm", "ddim (eta = 0)", "analytic-dpm"]);
  for (const s of metrics.samplers) assert.ok(Number.isFinite(s["energy distance"]) && s["energy distance"] > 0);
  assert.ok(Number.isFinite(metrics.heldOutNll.nll));
  for (const tag of ["ddpm", "ddim", "analytic-dpm"]) {
    for (const f of [`samples-${tag}.png`, `trajectory-${tag}.png`]) assert.ok(decodePng(readFileSync(join(dir, f))).width > 0, f);
    assert.equal(readFileSync(join(dir, `samples-${tag}`, "samples.csv"), "utf8").trim().split("\n").length, 101);
  }
  const html = readFileSync(join(dir, "report.html"), "utf8");
  assert.equal(html.match(/<figure><svg /g)?.length, 7, "loss curve + 2 charts per sampler, inline SVG");
  assert.ok(!/(src|href)="(?!data:|#)/.test(html), "every picture is inline");
  assert.match(r.stdout, /energy distance to held-out/);
  // A second demo replaces the first; a bad value leaves it as it is.
  const before = snapshot(dir);
  assertUsageError(await udm("demo", "--out", dir, "--resume"), /^udm: error: unknown option '--resume'$/, "demo has no --resume");
  assertUsageError(await udm("demo", "--out", dir, "--sample-steps", "0"), /^udm: error: --sample-steps must be an integer from 1 to 100000, got "0"$/, "demo bad value");
  assert.deepEqual(snapshot(dir), before);
});
