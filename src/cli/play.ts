import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { z } from "zod";
import { bool, check, int, readOptions, text, UsageError } from "./options.js";
import { serveStatic, type Served } from "./serve.js";

const schema = z.object({
  port: int(0, 65535).default(5178),
  host: text().default("127.0.0.1"),
  build: bool().default(false),
});

/** The package root (where web/ lives), from src/cli (tsx) or dist/src/cli (compiled). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = dirname(dir)) if (existsSync(join(dir, "web", "index.html"))) return dir;
  throw new Error("udm play: the web/ folder is missing from the package");
}

/** Build the static site into web/dist with Vite (a dev dependency). */
export async function buildSite(root = packageRoot()): Promise<string> {
  let vite: typeof import("vite");
  try {
    vite = await import("vite");
  } catch {
    throw new Error("udm play: the page is not built and Vite is not installed; run `npm ci` (with dev dependencies) and `npm run build:web`");
  }
  await vite.build({ configFile: join(root, "web", "vite.config.ts"), logLevel: "warn" });
  return join(root, "web", "dist");
}

/**
 * `udm play`: serve the browser playground on localhost (building it first
 * if web/dist is missing or --build is given) and print the address.
 */
export function playCommand(): Command {
  return new Command("play")
    .description("serve the browser playground (train, sample, inpaint in the page) on localhost and print its address")
    .option("--port <n>", "port (default 5178; the next free one if taken; 0 = any)")
    .option("--host <addr>", "address to listen on (default 127.0.0.1)")
    .option("--build", "rebuild the page first (npm run build:web)")
    .action(async (flags: Record<string, unknown>) => {
      const o = check(schema, readOptions(flags, undefined));
      const root = packageRoot();
      const dist = join(root, "web", "dist");
      // Bind first (a taken port fails at once), then build: files are read per request.
      const served = await listen(dist, o.port, o.host, flags.port === undefined);
      try {
        if (o.build || !existsSync(join(dist, "index.html")) || stale(root, dist)) {
          console.log("udm play: building the page (web/dist)…");
          await buildSite(root);
        }
      } catch (e) {
        await served.close();
        throw e;
      }
      console.log(`udm playground: ${served.url}  (Ctrl-C stops it)`);
      await new Promise<void>((done) => {
        const stop = () => void served.close().then(done);
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}

/** The default port moves on to the next free one; an explicit --port that is taken is an error. */
async function listen(dist: string, port: number, host: string, flexible: boolean): Promise<Served> {
  for (let p = port; ; p++) {
    try {
      return await serveStatic(dist, p, host);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" && flexible && p < port + 20) continue;
      if (code === "EADDRINUSE") throw new UsageError(`--port ${p} is in use; pass another --port (or 0 for any free port)`);
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") throw new UsageError(`--host ${host}: not an address of this machine`);
      throw e;
    }
  }
}

/** The built page is older than its sources (the page's, the library's) or the shipped models. */
function stale(root: string, dist: string): boolean {
  const built = statSync(join(dist, "index.html")).mtimeMs;
  const newest = (dir: string): number => {
    if (!existsSync(dir)) return 0;
    let m = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      m = Math.max(m, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return m;
  };
  return Math.max(newest(join(root, "web", "src")), newest(join(root, "web", "public")), newest(join(root, "src"))) > built;
}
