import { numpy as np } from "@jax-js/jax";
import { tensor, type Tensor } from "../../src/core/tensor.js";
import { decodeSafetensors } from "../../src/train/safetensors.js";
import type { Params } from "../../src/train/types.js";
import type { ModelFile } from "./recipes.js";

/** The shipped models (web/public/models, trained by bench/web-models.ts). */
const base = new URL("./models/", document.baseURI);

async function fetchOk(name: string): Promise<Response> {
  const res = await fetch(new URL(name, base));
  if (!res.ok) throw new Error(`models/${name}: HTTP ${res.status} (train it with bench/web-models.ts)`);
  return res;
}

/** A model file and its EMA weights as jax-js arrays (the caller disposes them). */
export async function loadModel(name: string): Promise<{ file: ModelFile; params: Params }> {
  const file = (await (await fetchOk(`${name}.json`)).json()) as ModelFile;
  const bytes = new Uint8Array(await (await fetchOk(`${name}.safetensors`)).arrayBuffer());
  const { tensors } = decodeSafetensors(bytes, `models/${name}.safetensors`);
  const params: Params = {};
  for (const [k, t] of Object.entries(tensors)) params[k] = np.array(t.data).reshape([...t.shape]);
  return { file, params };
}

let digits: Promise<Tensor> | undefined;

/** 256 MNIST test digits [256, 1, 28, 28] in [-1, 1]. */
export function loadDigits(): Promise<Tensor> {
  digits ??= fetchOk("mnist-256.bin").then(async (r) => {
    const bytes = new Uint8Array(await r.arrayBuffer());
    return tensor([bytes.length / 784, 1, 28, 28], Float32Array.from(bytes, (b) => (b / 255) * 2 - 1));
  });
  return digits;
}
