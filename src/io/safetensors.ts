// The safetensors container: an 8-byte little-endian header length N, N bytes of JSON
// describing each tensor (dtype, shape, byte offsets into the data), then the data,
// little-endian. It is Unfold's native format (models and checkpoints), and what PyTorch's
// `safetensors` reads and writes. The reader trusts nothing in the file: every length and
// offset is checked against the bytes actually present before anything is decoded, it
// allocates only JavaScript memory (never wasm), and no value from the file is ever
// stringified whole into a message (a deeply nested JSON value would overflow the stack).
import { UnfoldError } from "../engine/index.js";

export type SafeDType = "F32" | "I32" | "F64";
export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: Float32Array | Int32Array | Float64Array;
}

const BYTES: Readonly<Record<SafeDType, number>> = { F32: 4, I32: 4, F64: 8 };
const DTYPES: readonly string[] = ["F32", "I32", "F64"];
/** Header size limit: far above any real model's, far below what could exhaust memory. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** Whether this host is little-endian (every browser and server CPU Unfold runs on is); the reader then copies tensor bytes whole. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function fail(message: string): never {
  throw new UnfoldError(`safetensors: ${message}`);
}

/**
 * A short description of an untrusted JSON value for a message: strings cut at `maxString`
 * characters, arrays at 6 items, and never a recursive walk (a value nested a million deep must not overflow
 * the stack, as JSON.stringify would).
 */
export function brief(value: unknown, maxString = 80): string {
  if (value === undefined) return "nothing";
  if (value === null || typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "string") return JSON.stringify(value.length > maxString ? `${value.slice(0, maxString)}…` : value);
  if (Array.isArray(value)) {
    const items = value.slice(0, 6).map((v) => (v !== null && typeof v === "object" ? (Array.isArray(v) ? "[…]" : "{…}") : brief(v)));
    return `[${items.join(", ")}${value.length > 6 ? `, … (${value.length} items)` : ""}]`;
  }
  if (typeof value === "object") return "an object";
  return typeof value;
}

/** Serialises tensors (in the given order) and string metadata into one byte array. */
export function writeSafetensors(tensors: Readonly<Record<string, SafeTensor>>, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  // A null-prototype header: a tensor named "__proto__" is an ordinary key here.
  const header: Record<string, unknown> = Object.create(null);
  const meta = Object.keys(metadata);
  if (meta.length) {
    const m: Record<string, string> = Object.create(null);
    for (const key of meta) {
      if (typeof metadata[key] !== "string") fail(`__metadata__ value "${key}" must be a string (safetensors metadata maps strings to strings), got ${typeof metadata[key]}`);
      m[key] = metadata[key];
    }
    header.__metadata__ = m;
  }
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === "__metadata__") fail(`"__metadata__" cannot name a tensor`);
    if (!DTYPES.includes(t.dtype)) fail(`tensor "${name}" has dtype ${brief(t.dtype)}; Unfold writes F32, I32 and F64`);
    if (!Array.isArray(t.shape) || t.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor "${name}" has shape ${brief(t.shape)}; expected whole numbers >= 0`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) fail(`tensor "${name}" has shape [${t.shape.join(", ")}] but ${t.data.length} values`);
    const bytes = size * BYTES[t.dtype];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  // Pad the header with spaces so the data starts 8-byte aligned, as the reference writer does.
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of entries) {
    const n = t.data.length;
    const w = new DataView(out.buffer, at, n * BYTES[t.dtype]);
    for (let i = 0; i < n; i++) {
      if (t.dtype === "F32") w.setFloat32(i * 4, t.data[i], true);
      else if (t.dtype === "I32") w.setInt32(i * 4, t.data[i], true);
      else w.setFloat64(i * 8, t.data[i], true);
    }
    at += n * BYTES[t.dtype];
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Decodes `size` little-endian values of `dtype` starting at byte `at` of `bytes`. */
function decode(bytes: Uint8Array, at: number, size: number, dtype: SafeDType): Float32Array | Int32Array | Float64Array {
  const n = size * BYTES[dtype];
  if (LITTLE_ENDIAN) {
    // A copy into a fresh (aligned) buffer, then a typed view of it: one memcpy per tensor.
    // (Not bytes.slice: on a Node Buffer that is a view into a shared pool, not a copy.)
    const copy = new ArrayBuffer(n);
    new Uint8Array(copy).set(bytes.subarray(at, at + n));
    return dtype === "F32" ? new Float32Array(copy) : dtype === "I32" ? new Int32Array(copy) : new Float64Array(copy);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, n);
  const data = dtype === "F32" ? new Float32Array(size) : dtype === "I32" ? new Int32Array(size) : new Float64Array(size);
  for (let i = 0; i < size; i++) {
    if (dtype === "F32") data[i] = view.getFloat32(i * 4, true);
    else if (dtype === "I32") data[i] = view.getInt32(i * 4, true);
    else data[i] = view.getFloat64(i * 8, true);
  }
  return data;
}

/**
 * Parses a safetensors byte array (a Uint8Array, or an ArrayBuffer as `fetch` gives it).
 * Throws a descriptive UnfoldError for anything malformed: truncated input, an oversized or
 * non-JSON header, unknown dtypes, shapes that disagree with their byte ranges, ranges
 * outside the data or overlapping, or bytes left unaccounted for. Tensor and metadata names
 * come back in Maps, so a name like `__proto__` is just a name.
 */
export function readSafetensors(bytes: Uint8Array | ArrayBuffer): { tensors: Map<string, SafeTensor>; metadata: Map<string, string> } {
  if (bytes instanceof ArrayBuffer) bytes = new Uint8Array(bytes);
  if (!(bytes instanceof Uint8Array)) fail(`expected a Uint8Array, got ${bytes === null ? "null" : typeof bytes}`);
  if (bytes.length < 8) fail(`the file has ${bytes.length} bytes; even the header length needs 8`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    fail(`the header claims ${headerLength} bytes, but ${bytes.length - 8} bytes follow the length (limit ${MAX_HEADER_BYTES})`);
  }
  const n = Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`the header is not valid UTF-8 JSON (${(e as Error).message.slice(0, 200)})`);
  }
  if (!isPlainObject(header)) fail("the header must be a JSON object");
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata = new Map<string, string>();
  const tensors = new Map<string, SafeTensor>();
  const ranges: [number, number, string][] = [];
  // First every description, then (only if all are sound) the data.
  const found: { name: string; dtype: SafeDType; shape: number[]; begin: number; size: number }[] = [];
  for (const name of Object.keys(header)) {
    const entry = header[name];
    if (name === "__metadata__") {
      if (!isPlainObject(entry)) fail(`__metadata__ must be an object of strings`);
      for (const key of Object.keys(entry)) {
        if (typeof entry[key] !== "string") fail(`__metadata__ value ${brief(key)} must be a string, got ${brief(entry[key])}`);
        metadata.set(key, entry[key] as string);
      }
      continue;
    }
    const what = `tensor ${brief(name)}`;
    if (!isPlainObject(entry)) fail(`${what} must be described by an object`);
    const { dtype, shape, data_offsets: offsets } = entry as { dtype: unknown; shape: unknown; data_offsets: unknown };
    if (typeof dtype !== "string" || !DTYPES.includes(dtype)) {
      fail(`${what} has dtype ${brief(dtype)}; Unfold reads F32, I32 and F64 (save float32 weights: in PyTorch, model.float() before saving)`);
    }
    if (!Array.isArray(shape) || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`${what} has shape ${brief(shape)}; expected whole numbers >= 0`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || offsets.some((o) => !Number.isSafeInteger(o) || o < 0)) {
      fail(`${what} has data_offsets ${brief(offsets)}; expected [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    const want = size * BYTES[dtype as SafeDType];
    if (end < begin || end - begin !== want) fail(`${what}: shape ${brief(shape)} of ${dtype} needs ${want} bytes, data_offsets give ${end - begin}`);
    if (end > dataLength) fail(`${what} ends at byte ${end} of the data, but the data has ${dataLength} bytes (truncated file?)`);
    ranges.push([begin, end, name]);
    found.push({ name, dtype: dtype as SafeDType, shape: [...(shape as number[])], begin, size });
  }
  ranges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, name] of ranges) {
    if (begin < covered) fail(`tensor ${brief(name)} overlaps the tensor before it`);
    if (begin > covered) fail(`bytes ${covered}..${begin} of the data belong to no tensor`);
    covered = end;
  }
  if (covered !== dataLength) fail(`bytes ${covered}..${dataLength} of the data belong to no tensor`);
  for (const t of found) tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: decode(bytes, dataStart + t.begin, t.size, t.dtype) });
  return { tensors, metadata };
}
