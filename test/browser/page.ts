import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { buildSite, packageRoot } from "../../src/cli/play.js";
import { serveStatic, type Served } from "../../src/cli/serve.js";

/**
 * The browser tests' harness: Debian's chromium (never a downloaded
 * browser) driven by playwright-core, headless, against the built page
 * served by udm play's static server (COOP/COEP on, so jax-js may use its
 * Wasm worker pool). The page exposes window.udm (web/src/main.ts).
 */
export const CHROMIUM = process.env.UDM_CHROMIUM ?? "/usr/bin/chromium";

export interface Session {
  page: Page;
  /** Console errors and uncaught page errors seen so far. */
  errors: string[];
  url: string;
  close(): Promise<void>;
}

let built: Promise<string> | undefined;

/** Flags of every session (the project's standard set). */
const FLAGS = ["--headless", "--no-sandbox", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];
/** No GPU: Wasm. */
const NO_GPU = ["--disable-gpu"];
/** WebGPU on SwiftShader, Chromium's software Vulkan: the page's WebGPU path without a GPU (slow, but the same code). */
const SOFTWARE_WEBGPU = ["--enable-unsafe-webgpu", "--enable-features=Vulkan", "--use-vulkan=swiftshader", "--use-webgpu-adapter=swiftshader", "--use-angle=swiftshader", "--disable-vulkan-surface"];

export async function openPlayground(query = "", opts: { webgpu?: boolean } = {}): Promise<Session> {
  built ??= buildSite(packageRoot());
  const dist = await built;
  const served: Served = await serveStatic(dist, 0);
  const profile = mkdtempSync(join(tmpdir(), "udm-chromium-"));
  // A fresh profile folder per session (playwright passes it as --user-data-dir).
  const browser: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...FLAGS, ...(opts.webgpu ? SOFTWARE_WEBGPU : NO_GPU)],
    viewport: { width: 1280, height: 900 },
  });
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(served.url + query);
  await page.waitForFunction(() => (window as unknown as { udm?: { ready: boolean } }).udm?.ready === true, null, { timeout: 120_000 });
  return {
    page,
    errors,
    url: served.url,
    close: async () => {
      await browser.close();
      await served.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
