import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import { browserOnly } from "./browser-only.js";

/** The playground, built from the library's own src/ (no copy); browserOnly() refuses Node-only modules. */
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  plugins: [browserOnly()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 4096,
  },
  server: {
    fs: { allow: [fileURLToPath(new URL("..", import.meta.url))] },
    headers: {
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Embedder-Policy": "require-corp",
    },
  },
  worker: { format: "es" },
});
