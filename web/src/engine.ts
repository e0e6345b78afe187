import { defaultDevice, init } from "@jax-js/jax";

export interface EngineInfo {
  device: "webgpu" | "wasm";
  /** What the page shows, e.g. "WebGPU" or "Wasm, 8 threads (cross-origin isolated)". */
  label: string;
}

/**
 * jax-js on WebGPU where the browser has it, else Wasm. Wasm spreads its
 * kernels over a worker pool when the page is cross-origin isolated (udm
 * play sends the COOP/COEP headers that allow SharedArrayBuffer); a plain
 * static host gets one thread. `?engine=wasm` forces Wasm.
 */
export async function startEngine(): Promise<EngineInfo> {
  const forced = new URLSearchParams(location.search).get("engine");
  if (forced !== "wasm" && "gpu" in navigator) {
    try {
      if ((await init("webgpu")).includes("webgpu")) {
        defaultDevice("webgpu");
        return { device: "webgpu", label: "engine: jax-js on WebGPU" };
      }
    } catch {
      // No usable adapter: fall through to Wasm.
    }
  }
  await init("wasm");
  defaultDevice("wasm");
  const threads = crossOriginIsolated ? `${navigator.hardwareConcurrency} threads (cross-origin isolated)` : "one thread (page not cross-origin isolated)";
  return { device: "wasm", label: `engine: jax-js on Wasm, ${threads}; no WebGPU in this browser` };
}
