import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { serveStatic } from "../src/cli/serve.js";

test("udm play's server: files with their type and the COOP/COEP headers, 404 for missing, nothing outside the root", async () => {
  const root = mkdtempSync(join(tmpdir(), "udm-serve-"));
  mkdirSync(join(root, "site", "assets"), { recursive: true });
  writeFileSync(join(root, "site", "index.html"), "<!doctype html><p>hi</p>");
  writeFileSync(join(root, "site", "assets", "a.js"), "export const a = 1;");
  writeFileSync(join(root, "secret.txt"), "no");
  const s = await serveStatic(join(root, "site"), 0);
  try {
    const index = await fetch(s.url);
    assert.equal(index.status, 200);
    assert.equal(await index.text(), "<!doctype html><p>hi</p>");
    assert.equal(index.headers.get("content-type"), "text/html; charset=utf-8");
    // Cross-origin isolation: jax-js's Wasm worker pool needs SharedArrayBuffer.
    assert.equal(index.headers.get("cross-origin-opener-policy"), "same-origin");
    assert.equal(index.headers.get("cross-origin-embedder-policy"), "require-corp");
    assert.equal((await fetch(s.url + "assets/a.js")).headers.get("content-type"), "text/javascript; charset=utf-8");
    assert.equal((await fetch(s.url + "nope.js")).status, 404);
    assert.equal((await fetch(s.url + "..%2fsecret.txt")).status, 403);
  } finally {
    await s.close();
  }
});

test("udm play: a taken --port or a bad value is a usage error naming the flag (exit 2)", async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
  const port = (blocker.address() as { port: number }).port;
  const errors: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
  try {
    assert.equal(await main(["play", "--port", "70000"]), 2);
    assert.equal(await main(["play", "--port", String(port)]), 2);
  } finally {
    process.stderr.write = write;
    blocker.close();
  }
  assert.match(errors[0], /--port must be an integer from 0 to 65535, got "70000"/);
  assert.match(errors[1], new RegExp(`--port ${port} is in use; pass another --port`));
});
