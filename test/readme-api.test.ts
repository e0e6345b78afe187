import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/** The README's "bring your own denoiser" block is examples/own-denoiser.ts (importing "udm"), and it runs. */
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const example = join(root, "examples", "own-denoiser.ts");
const run = promisify(execFile);

function readmeBlock(marker: string): string {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const at = readme.indexOf(`<!-- example:${marker} -->`);
  assert.ok(at >= 0, `README has the marker example:${marker}`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, "a ts block follows the marker");
  return m[1];
}

async function counts(file: string): Promise<{ plus: number; minus: number; elsewhere: number }> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", file], { cwd: root });
  const m = /^(\d+) samples at \+1, (\d+) at -1, (\d+) elsewhere$/m.exec(stdout);
  assert.ok(m, stdout);
  return { plus: Number(m[1]), minus: Number(m[2]), elsewhere: Number(m[3]) };
}

test("README: the bring-your-own-denoiser example is examples/own-denoiser.ts, and it samples the data exactly", async () => {
  const code = readFileSync(example, "utf8");
  assert.equal(readmeBlock("own-denoiser"), code.replace('from "../src/index.js"', 'from "udm"'));
  const c = await counts(example);
  assert.equal(c.elsewhere, 0);
  assert.equal(c.plus + c.minus, 1000);
  // P(+1) = 0.8: 800 +- 3.2 binomial standard deviations (12.6).
  assert.ok(c.plus >= 760 && c.plus <= 840, `${c.plus} at +1`);

  // The same code with a posterior that forgets the prior odds is caught.
  const broken = join(root, "examples", `.broken-${process.pid}.ts`);
  writeFileSync(broken, code.replace("-Math.log(0.8 / 0.2) - ", "-"));
  try {
    const b = await counts(broken);
    assert.ok(b.plus < 760, `broken posterior: ${b.plus} at +1`);
  } finally {
    rmSync(broken, { force: true });
  }
});
