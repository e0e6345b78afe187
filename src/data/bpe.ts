/**
 * Byte-pair encoding over characters (Sennrich et al. 2016; GPT-2's
 * pre-splitting into words): the tokens MDLM and most text diffusion
 * models are trained on, instead of single characters. A token is a piece
 * of text; the vocabulary is the text's characters followed by the merged
 * pieces in the order they were learned, so `decode` (concatenating
 * pieces) is the same function for characters and for pieces.
 *
 * Merges never cross a word boundary: the text is first cut into words
 * (a leading space, then letters, digits, or other non-space characters;
 * runs of whitespace alone), and each word is merged on its own.
 */

/** A learned BPE: `merges[k]` joins two pieces into the piece of id `base + k`. */
export interface Bpe {
  /** The single characters (ids 0..base-1), sorted. */
  readonly chars: readonly string[];
  /** The merges in order: pairs of piece ids. */
  readonly merges: readonly (readonly [number, number])[];
}

/** GPT-2's pre-split, on Latin text: " word", " 123", " ?!", whitespace runs. */
const WORD = /'(?:s|t|re|ve|m|ll|d)| ?[A-Za-z\u00C0-\u024F]+| ?[0-9]+| ?[^\sA-Za-z0-9\u00C0-\u024F]+|\s+(?!\S)|\s+/g;

/** The words of a text, in order (their concatenation is the text). */
export function splitWords(text: string): string[] {
  return text.match(WORD) ?? [];
}

/** The pieces of every id: characters, then merged pieces. */
export function bpePieces(bpe: Bpe): string[] {
  const pieces = [...bpe.chars];
  for (const [a, b] of bpe.merges) pieces.push(pieces[a] + pieces[b]);
  return pieces;
}

const pairKey = (a: number, b: number) => a * 1048576 + b;

/**
 * Learn `merges` merges from `text` (deterministic: the most frequent pair,
 * ties to the smaller pair key). `chars` are the base symbols (every
 * character of the text must be one).
 */
export function trainBpe(text: string, chars: readonly string[], merges: number): Bpe {
  if (!(Number.isInteger(merges) && merges >= 0)) throw new Error(`bpe: the number of merges must be a non-negative integer, got ${merges}`);
  const index = new Map(chars.map((c, i) => [c, i]));
  const counts = new Map<string, number>();
  for (const w of splitWords(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const words = [...counts].map(([w, n]) => ({ ids: charIds(w, index, "among the base characters"), n }));
  const learned: [number, number][] = [];
  for (let k = 0; k < merges; k++) {
    const pairs = new Map<number, number>();
    for (const { ids, n } of words) for (let i = 0; i + 1 < ids.length; i++) {
      const key = pairKey(ids[i], ids[i + 1]);
      pairs.set(key, (pairs.get(key) ?? 0) + n);
    }
    let best = -1, bestCount = 0;
    for (const [key, c] of pairs) if (c > bestCount || (c === bestCount && key < best)) [best, bestCount] = [key, c];
    if (bestCount < 2) break; // nothing left that a merge would shorten twice
    const a = Math.floor(best / 1048576), b = best % 1048576, id = chars.length + k;
    learned.push([a, b]);
    for (const w of words) w.ids = mergePair(w.ids, a, b, id);
  }
  return { chars: [...chars], merges: learned };
}

/** The ids of a word's characters; a character without one is an error. */
function charIds(word: string, index: ReadonlyMap<string, number>, where: string): number[] {
  return Array.from(word, (c) => {
    const id = index.get(c);
    if (id === undefined) throw new Error(`bpe: character ${JSON.stringify(c)} is not ${where}`);
    return id;
  });
}

function mergePair(ids: number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (i + 1 < ids.length && ids[i] === a && ids[i + 1] === b) {
      out.push(id);
      i++;
    } else out.push(ids[i]);
  }
  return out;
}

/** An encoder for a learned BPE: text -> ids (merges applied in the order learned, per word, cached). */
export function bpeEncoder(bpe: Bpe): (text: string) => number[] {
  const index = new Map(bpe.chars.map((c, i) => [c, i]));
  const rank = new Map(bpe.merges.map(([a, b], k) => [pairKey(a, b), k]));
  const cache = new Map<string, number[]>();
  const word = (w: string): number[] => {
    let ids = charIds(w, index, "in the vocabulary");
    for (;;) {
      let best = Infinity;
      for (let i = 0; i + 1 < ids.length; i++) best = Math.min(best, rank.get(pairKey(ids[i], ids[i + 1])) ?? Infinity);
      if (best === Infinity) return ids;
      const [a, b] = bpe.merges[best];
      ids = mergePair(ids, a, b, bpe.chars.length + best);
    }
  };
  return (text) => {
    const out: number[] = [];
    for (const w of splitWords(text)) {
      let ids = cache.get(w);
      if (!ids) cache.set(w, (ids = word(w)));
      for (const id of ids) out.push(id);
    }
    return out;
  };
}
