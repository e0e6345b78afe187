import { engineNames, type Engine, type EngineName } from "./engine.js";
import { jaxEngine } from "./jax.js";

export * from "./engine.js";
export { jaxEngine } from "./jax.js";
export { programMemory, type ProgramMemory } from "./memory.js";
export { chunking, planRows, type RowPlan } from "./plan.js";

/**
 * Choosing an engine. "auto" (the default) is onnx in Node when
 * onnxruntime-node loads, else jax (with a one-line notice saying why); the
 * browser always gets jax. onnxruntime-node is loaded lazily, by a dynamic
 * import this module never names statically, so the browser bundle never
 * sees it.
 */
export type EngineChoice = EngineName | "auto";

export const engineChoices: readonly EngineChoice[] = ["auto", ...engineNames];

export interface EngineOptions {
  /** Intra-op threads of the onnx engine (default: the machine's cores). */
  threads?: number;
  /** Extra ONNX Runtime session options of the onnx engine (profiling: enableProfiling, optimizedModelFilePath). */
  onnxSessionOptions?: Record<string, unknown>;
}

/** How the onnx back end is loaded; replaceable to test the fallback. */
export type OnnxLoader = (opts: EngineOptions) => Promise<Engine>;

// Resolved relative to this file at run time; a variable keeps bundlers (Vite) from following it.
const ONNX_MODULE = "./onnx.js";
const loadOnnxBackEnd: OnnxLoader = async (opts) => {
  const mod = (await import(/* @vite-ignore */ ONNX_MODULE)) as { onnxEngine(o: EngineOptions): Promise<Engine> };
  return mod.onnxEngine(opts);
};

// Node's process, if any (this module also runs in the browser, without Node's types).
const nodeProcess = (globalThis as { process?: { versions?: { node?: string }; env?: Record<string, string | undefined>; stderr: { write(s: string): void } } }).process;
const inNode = (): boolean => typeof nodeProcess?.versions?.node === "string";

interface Defaults {
  engine: EngineChoice;
  threads?: number;
  /** Told each engine notice once, when an engine is first used (the CLI prints them); default: only fallbacks, on stderr. */
  notify?: (line: string) => void;
}

let defaults: Defaults = { engine: "auto" };
const engines = new Map<string, Promise<{ engine: Engine; notice: string }>>();

/** The engine used where none is named (the CLI sets it from --engine). */
export function setEngineDefaults(d: Partial<Defaults>): void {
  if (d.engine !== undefined) checkEngineChoice(d.engine);
  defaults = { ...defaults, ...d };
}

export function checkEngineChoice(choice: string, field = "engine"): EngineChoice {
  if (!(engineChoices as readonly string[]).includes(choice)) {
    throw new Error(`${field} must be one of ${engineChoices.join(", ")}, got ${JSON.stringify(choice)}`);
  }
  return choice as EngineChoice;
}

/**
 * The engine for a choice, with the one-line notice that says which one runs
 * and why. Explicit "onnx" fails (naming the reason) where onnxruntime-node
 * does not load; "auto" falls back to jax. Engines are shared per choice.
 */
export function resolveEngine(choice: EngineChoice = defaults.engine, opts: EngineOptions & { loadOnnx?: OnnxLoader } = {}): Promise<{ engine: Engine; notice: string }> {
  checkEngineChoice(choice);
  const threads = opts.threads ?? defaults.threads ?? envThreads();
  const key = `${choice}/${threads ?? ""}`;
  const shared = !opts.loadOnnx && !opts.onnxSessionOptions;
  const cached = shared ? engines.get(key) : undefined;
  if (cached) return cached;
  const made = pick(choice, { threads, onnxSessionOptions: opts.onnxSessionOptions }, opts.loadOnnx ?? loadOnnxBackEnd);
  if (shared) engines.set(key, made);
  made.catch(() => engines.delete(key));
  return made;
}

/** UDM_THREADS (like OMP_NUM_THREADS): the onnx engine's threads where none are given (benches side by side: 1 each). */
function envThreads(): number | undefined {
  const v = nodeProcess?.env?.UDM_THREADS;
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 1024) throw new Error(`UDM_THREADS must be an integer from 1 to 1024, got ${JSON.stringify(v)}`);
  return n;
}

async function pick(choice: EngineChoice, opts: EngineOptions, load: OnnxLoader): Promise<{ engine: Engine; notice: string }> {
  if (choice === "jax") {
    const engine = jaxEngine();
    return { engine, notice: `engine: ${engine.description}` };
  }
  if (!inNode()) {
    if (choice === "onnx") throw new Error("engine onnx needs Node (onnxruntime-node); the browser runs the jax engine");
    const engine = jaxEngine();
    return { engine, notice: `engine: ${engine.description}` };
  }
  try {
    const engine = await load(opts);
    return { engine, notice: `engine: ${engine.description}` };
  } catch (e) {
    const why = oneLine(e);
    if (choice === "onnx") throw new Error(`engine onnx: onnxruntime-node did not load (${why}); use engine jax`);
    const engine = jaxEngine();
    return { engine, notice: `engine: ${engine.description} (onnxruntime-node did not load: ${why})` };
  }
}

const told = new Set<string>();

/**
 * The Engine for an option value: an Engine as is, else the resolved choice
 * (default: setEngineDefaults). Its notice goes to the defaults' `notify`
 * once; without one, only a fallback from auto to jax is reported (on
 * stderr), since it makes everything slower.
 */
export async function getEngine(choice?: EngineChoice | Engine): Promise<Engine> {
  if (typeof choice === "object") return choice;
  const { engine, notice } = await resolveEngine(choice);
  const tell = defaults.notify ?? (notice.includes("did not load") && inNode() ? (line: string) => void nodeProcess!.stderr.write(`udm: ${line}\n`) : undefined);
  if (tell && !told.has(notice)) {
    told.add(notice);
    tell(notice);
  }
  return engine;
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split("\n").map((s) => s.trim()).filter(Boolean)[0] ?? "unknown error";
}
