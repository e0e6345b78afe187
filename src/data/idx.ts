import { existsSync, readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";

/**
 * The IDX format of MNIST / Fashion-MNIST (LeCun's files): a big-endian
 * header [0, 0, type, ndim] then ndim uint32 sizes, then the raw values.
 * Only type 0x08 (unsigned byte) occurs in these data sets. A file ending in
 * ".gz" is gunzipped first.
 */
export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

export function parseIdx(bytes: Uint8Array, source = "IDX data"): IdxArray {
  if (bytes.length < 4) throw new Error(`${source}: too short to be an IDX file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw new Error(`${source}: not an IDX file (magic starts ${bytes[0]}, ${bytes[1]} instead of 0, 0)`);
  const type = bytes[2];
  if (type !== 0x08) throw new Error(`${source}: IDX value type 0x${type.toString(16)} is not supported (only unsigned bytes, 0x08)`);
  const ndim = bytes[3];
  const header = 4 + 4 * ndim;
  if (bytes.length < header) throw new Error(`${source}: header claims ${ndim} dimensions but the file has ${bytes.length} bytes`);
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i, false));
  const size = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - header !== size) {
    throw new Error(`${source}: shape [${shape.join(", ")}] needs ${size} values but the file holds ${bytes.length - header}`);
  }
  return { shape, data: bytes.subarray(header, header + size) };
}

/** Read an IDX file (gzipped when the name ends in .gz). */
export function readIdx(path: string): IdxArray {
  if (!existsSync(path)) throw new Error(`IDX file not found: ${path}`);
  let bytes: Uint8Array = readFileSync(path);
  if (path.endsWith(".gz")) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${path}: cannot gunzip (${(e as Error).message})`);
    }
  }
  return parseIdx(bytes, path);
}
