/**
 * A readable-sample metric for character models: the share of generated
 * words that are real words, i.e. occur in the training text's word list.
 * Bits per character rewards getting frequent characters right; this asks
 * what a reader notices first: do the samples spell English?
 *
 * A word is a letters-only token: a maximal run of letters (Unicode \p{L}),
 * compared lower-cased, so "Emma's" gives "emma" and "s". A sample is a
 * fixed-length chunk, and a token touching either end of it may be cut
 * ("...nd she wa"), so those two are not counted. The same rule applied to
 * held-out chunks of the same length gives the ceiling: the share a perfect
 * model would reach (held-out text has names and rare words that the
 * training text never uses).
 */

const LETTERS = /\p{L}+/gu;

/** Lower-cased letters-only tokens of `text` with their [start, end) code-unit offsets. */
function tokens(text: string): { word: string; start: number; end: number }[] {
  return Array.from(text.matchAll(LETTERS), (m) => ({ word: m[0].toLowerCase(), start: m.index!, end: m.index! + m[0].length }));
}

/** The set of distinct lower-cased words of a text (the "word list"). */
export function wordList(text: string): Set<string> {
  return new Set(tokens(text).map((t) => t.word));
}

/** The words of one chunk that lie wholly inside it (a token touching either end may be cut). */
export function innerWords(chunk: string): string[] {
  return tokens(chunk)
    .filter((t) => t.start > 0 && t.end < chunk.length)
    .map((t) => t.word);
}

export interface WordShare {
  /** Fraction of counted words found in the word list (NaN when no word was counted). */
  share: number;
  /** Words counted (letters-only tokens wholly inside their chunk). */
  words: number;
  /** Of which in the word list. */
  real: number;
}

/** Share of the words of `chunks` (each a sample of fixed length) that occur in `known`. */
export function wordShare(chunks: readonly string[], known: ReadonlySet<string>): WordShare {
  let words = 0;
  let real = 0;
  for (const c of chunks) {
    for (const w of innerWords(c)) {
      words++;
      if (known.has(w)) real++;
    }
  }
  return { share: words > 0 ? real / words : NaN, words, real };
}
