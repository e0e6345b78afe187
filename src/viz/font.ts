/**
 * A 3x5 pixel bitmap font for plot labels (digits, capitals, a little
 * punctuation; lower case is drawn as upper case). Each glyph is five rows,
 * each row a digit 0-7 whose bits are the pixels, left pixel = 4.
 */
const GLYPHS: Record<string, string> = {
  "0": "75557", "1": "26227", "2": "71747", "3": "71717", "4": "55711",
  "5": "74717", "6": "74757", "7": "71122", "8": "75757", "9": "75717",
  A: "25755", B: "65656", C: "34443", D: "65556", E: "74647", F: "74644",
  G: "34553", H: "55755", I: "72227", J: "11152", K: "55655", L: "44447",
  M: "57755", N: "65555", O: "25552", P: "65644", Q: "25563", R: "65655",
  S: "34216", T: "72222", U: "55557", V: "55552", W: "55775", X: "55255",
  Y: "55222", Z: "71247",
  ".": "00002", ",": "00024", "-": "00700", "+": "02720", "=": "07070",
  ":": "02020", "(": "12221", ")": "42224", "/": "11244", "_": "00007",
  "%": "51245", "?": "71202", "'": "22000", "|": "22222", "<": "12421", ">": "42124", " ": "00000",
};

export const GLYPH_W = 3;
export const GLYPH_H = 5;

/** Calls `pixel(x, y)` for every lit pixel of `text` drawn at (0, 0), one pixel per font pixel. */
export function rasterizeText(text: string, pixel: (x: number, y: number) => void): void {
  let x0 = 0;
  for (const ch of text.toUpperCase()) {
    const glyph = GLYPHS[ch] ?? GLYPHS["?"] ?? "77777";
    for (let row = 0; row < GLYPH_H; row++) {
      const bits = Number(glyph[row]);
      for (let col = 0; col < GLYPH_W; col++) if (bits & (4 >> col)) pixel(x0 + col, row);
    }
    x0 += GLYPH_W + 1;
  }
}

/** Width in font pixels of `text` (3 per glyph plus 1 of spacing). */
export function textWidth(text: string): number {
  return text.length === 0 ? 0 : text.length * (GLYPH_W + 1) - 1;
}
