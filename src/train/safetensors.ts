import { tensor, type Tensor } from "../core/tensor.js";

/**
 * The safetensors format (huggingface/safetensors), F32 only:
 *   bytes 0..7   N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N a JSON header: { name: { dtype: "F32", shape: [...],
 *                data_offsets: [begin, end] }, ..., "__metadata__": { str: str } }
 *                (offsets relative to the start of the data; padded with spaces
 *                so the data starts 8-byte aligned)
 *   then         the raw little-endian float32 data of every tensor.
 * Readable by `safetensors.numpy.load_file` / `safe_open` in Python.
 */

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    if (name === "__metadata__") throw new Error(`safetensors: "__metadata__" is reserved and cannot name a tensor`);
    const t = tensors[name];
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new Error(`safetensors: tensor "${name}" has shape [${t.shape}] but ${t.data.length} values`);
    header[name] = { dtype: "F32", shape: [...t.shape], data_offsets: [offset, offset + 4 * size] };
    offset += 4 * size;
  }
  let json = JSON.stringify(header);
  const enc = new TextEncoder();
  while ((8 + enc.encode(json).length) % 8 !== 0) json += " ";
  const head = enc.encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  const base = 8 + head.length;
  for (const name of names) {
    const t = tensors[name];
    const [begin] = (header[name] as { data_offsets: [number, number] }).data_offsets;
    if (littleEndian) {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), base + begin);
    } else {
      for (let i = 0; i < t.data.length; i++) view.setFloat32(base + begin + 4 * i, t.data[i], true);
    }
  }
  return out;
}

/** Parse a safetensors buffer; `source` names the file in error messages. */
export function decodeSafetensors(bytes: Uint8Array, source = "safetensors"): SafetensorsFile {
  const fail = (msg: string): never => {
    throw new Error(`${source}: ${msg}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, too short for the 8-byte header length (truncated?)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) fail(`header length ${n} exceeds the file size ${bytes.length} (truncated or not a safetensors file)`);
  const headerLen = Number(n);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== "object" || header === null || Array.isArray(header)) fail(`header must be a JSON object`);
  const base = 8 + headerLen;
  const dataLen = bytes.length - base;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  let end = 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== "object") fail(`tensor "${name}": header entry must be an object`);
    if (e.dtype !== "F32") fail(`tensor "${name}": dtype ${JSON.stringify(e.dtype)} is not supported (only F32)`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      fail(`tensor "${name}": shape ${JSON.stringify(shape)} must be a list of non-negative integers`);
    }
    const offs = e.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((d) => Number.isInteger(d) && d >= 0) || offs[0] > offs[1]) {
      fail(`tensor "${name}": data_offsets ${JSON.stringify(offs)} must be [begin, end] with 0 <= begin <= end`);
    }
    const [b, en] = offs as [number, number];
    const size = (shape as number[]).reduce((x, y) => x * y, 1);
    if (en - b !== 4 * size) fail(`tensor "${name}": data_offsets [${b}, ${en}] hold ${en - b} bytes, shape [${shape}] needs ${4 * size}`);
    if (en > dataLen) fail(`tensor "${name}": data ends at byte ${en} but the file has ${dataLen} data bytes (truncated?)`);
    const data = new Float32Array(size);
    const dv = new DataView(bytes.buffer, bytes.byteOffset + base + b, en - b);
    for (let i = 0; i < size; i++) data[i] = dv.getFloat32(4 * i, true);
    tensors[name] = tensor(shape as number[], data);
    end = Math.max(end, en);
  }
  if (end !== dataLen) fail(`the data section has ${dataLen} bytes but the tensors use ${end} (corrupt file)`);
  return { tensors, metadata };
}
