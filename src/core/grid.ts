import type { TimeDomain } from "./process.js";

/**
 * Sampling grids: decreasing times 1 = t_N > ... > t_0 = 0. Any grid is
 * valid (skipping steps is free); a discrete-time process only accepts
 * points of its own grid k / T.
 */
export type GridKind = "uniform" | "quadratic";

export function uniformGrid(steps: number): number[] {
  checkSteps(steps);
  return Array.from({ length: steps + 1 }, (_, i) => 1 - i / steps);
}

/** Denser near t = 0, where detail is decided (DDIM's "quadratic" spacing). */
export function quadraticGrid(steps: number): number[] {
  checkSteps(steps);
  return Array.from({ length: steps + 1 }, (_, i) => ((steps - i) / steps) ** 2);
}

export function makeGrid(kind: GridKind, steps: number, domain: TimeDomain = { kind: "continuous" }): number[] {
  const raw = kind === "uniform" ? uniformGrid(steps) : quadraticGrid(steps);
  if (domain.kind === "continuous") return raw;
  // Snap to the process's grid; coarse grids near 0 can collide, so drop repeats.
  const T = domain.steps;
  if (steps > T) throw new Error(`grid: ${steps} steps exceed the process's ${T} discrete steps`);
  const snapped = [...new Set(raw.map((t) => Math.round(t * T)))].map((k) => k / T);
  return checkGrid(snapped, domain);
}

/** Validate a user grid: starts at 1, ends at 0, strictly decreasing, on the process's grid if discrete. */
export function checkGrid(grid: readonly number[], domain: TimeDomain = { kind: "continuous" }): number[] {
  if (grid.length < 2) throw new Error(`grid: needs at least 2 times (1 and 0), got ${grid.length}`);
  if (grid[0] !== 1) throw new Error(`grid: must start at t = 1, starts at ${grid[0]}`);
  if (grid[grid.length - 1] !== 0) throw new Error(`grid: must end at t = 0, ends at ${grid[grid.length - 1]}`);
  for (let i = 1; i < grid.length; i++) {
    if (!(grid[i] < grid[i - 1])) throw new Error(`grid: times must strictly decrease, but t[${i}] = ${grid[i]} >= t[${i - 1}] = ${grid[i - 1]}`);
  }
  if (domain.kind === "discrete") {
    const T = domain.steps;
    for (const t of grid) {
      const k = t * T;
      if (Math.abs(k - Math.round(k)) > 1e-6) {
        throw new Error(`grid: t = ${t} is not a point of this discrete-time process's grid k/${T} (k = 0..${T})`);
      }
    }
  }
  return [...grid];
}

function checkSteps(steps: number): void {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`grid: steps must be a positive integer, got ${steps}`);
}
