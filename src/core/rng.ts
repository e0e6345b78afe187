import { xoroshiro128plus, xoroshiro128plusFromState } from "pure-rand/generator/xoroshiro128plus";
import type { JumpableRandomGenerator } from "pure-rand/types/JumpableRandomGenerator";

/**
 * Seeded random numbers for everything host-side (processes, samplers, data
 * order). The state is a few integers, so a checkpoint can save it and a
 * resumed run continues the same stream.
 */
export class Rng {
  private gen: JumpableRandomGenerator;
  private spare: number | null = null;

  constructor(seed: number | readonly number[]) {
    this.gen = typeof seed === "number" ? xoroshiro128plus(seed) : xoroshiro128plusFromState(seed);
  }

  /** Uniform on [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = (this.gen.next() >>> 0) >>> 6; // 26 bits
    const lo = (this.gen.next() >>> 0) >>> 5; // 27 bits
    return (hi * 134217728 + lo) / 9007199254740992;
  }

  /** Standard normal (Box-Muller, caching the second draw). */
  normal(): number {
    if (this.spare !== null) {
      const z = this.spare;
      this.spare = null;
      return z;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const rad = Math.sqrt(-2 * Math.log(u));
    this.spare = rad * Math.sin(2 * Math.PI * v);
    return rad * Math.cos(2 * Math.PI * v);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  normals(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal();
    return out;
  }

  uniforms(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.uniform();
    return out;
  }

  /** Draw an index from unnormalised non-negative weights. */
  categorical(weights: ArrayLike<number>): number {
    let total = 0;
    for (let i = 0; i < weights.length; i++) total += weights[i];
    let u = this.uniform() * total;
    for (let i = 0; i < weights.length; i++) {
      u -= weights[i];
      if (u < 0) return i;
    }
    return weights.length - 1;
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = p[i];
      p[i] = p[j];
      p[j] = tmp;
    }
    return p;
  }

  /** An independent stream: the child takes the current block, this one jumps 2^64 ahead. */
  fork(): Rng {
    const child = new Rng(this.gen.getState());
    this.gen.jump();
    return child;
  }

  /** Serialisable state; `new Rng(state)` resumes exactly. */
  state(): number[] {
    return [...this.gen.getState(), this.spare === null ? NaN : this.spare];
  }

  static fromState(state: readonly number[]): Rng {
    const r = new Rng(state.slice(0, -1));
    const spare = state[state.length - 1];
    r.spare = Number.isNaN(spare) ? null : spare;
    return r;
  }
}
