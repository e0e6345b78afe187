import cliProgress from "cli-progress";
import type { TrainProgress } from "./train.js";

/**
 * A terminal progress bar for `train` (step/total, loss, steps/s, ETA).
 * Quiet (no output at all) when stderr is not a TTY or when `quiet` is set,
 * so logs and CI stay clean. Use: `const bar = progressBar(); train({...,
 * onProgress: bar.update}); bar.stop();`.
 */
export interface ProgressBar {
  update(p: TrainProgress): void;
  stop(): void;
}

export function progressBar(opts: { quiet?: boolean; label?: string; stream?: NodeJS.WriteStream } = {}): ProgressBar {
  const stream = opts.stream ?? process.stderr;
  if (opts.quiet || !stream.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${opts.label ?? "train"} [{bar}] {value}/{total} | loss {loss} | {rate} steps/s | ETA {eta_h}`,
      stream,
      hideCursor: true,
      etaBuffer: 50,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const payload = { loss: p.avgLoss.toPrecision(4), rate: p.stepsPerSec.toFixed(1), eta_h: formatSeconds(p.etaSec) };
      if (!started) {
        bar.start(p.steps, p.step, payload);
        started = true;
      } else bar.update(p.step, payload);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const r = Math.round(s);
  const h = Math.floor(r / 3600), m = Math.floor((r % 3600) / 60), sec = r % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : m > 0 ? `${m}m${String(sec).padStart(2, "0")}s` : `${sec}s`;
}
