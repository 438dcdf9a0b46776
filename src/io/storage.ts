// Where saved bytes go: IndexedDB and downloadable Blobs in browsers, files in Node, Deno and
// Bun. These move bytes only (`model.save()` makes them, `Sequential.load` reads them), so
// they serve checkpoints and exported state_dicts as well as models.
//
// The file helpers reach the file system through a dynamic import of "node:fs/promises"
// (which Deno and Bun provide too) whose specifier bundlers cannot see, so a browser bundle
// of Unfold stays free of Node modules.
import { UnfoldError } from "../engine/index.js";

/** Where in IndexedDB: a database (default "unfold") holding one object store ("models"). */
export interface IndexedDBOptions {
  /** The database's name. Default "unfold". */
  database?: string;
  /** The IndexedDB to use (default `globalThis.indexedDB`): for a worker's, or a test's fake. */
  indexedDB?: IDBFactory;
}

const STORE = "models";

function factory(options: IndexedDBOptions): IDBFactory {
  const idb = options.indexedDB ?? (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) throw new UnfoldError("IndexedDB is not available here (it is a browser API); in Node, Deno or Bun use saveFile/loadFile");
  return idb;
}

function checkName(name: unknown): string {
  if (typeof name !== "string" || name.length === 0) throw new UnfoldError(`a model's name in IndexedDB must be a non-empty string, got ${typeof name === "string" ? '""' : typeof name}`);
  return name;
}

function checkBytes(bytes: unknown, who: string): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw new UnfoldError(`${who}: expected the bytes as a Uint8Array (what model.save() returns), got ${bytes === null ? "null" : typeof bytes}`);
  return bytes;
}

/** Opens the database, creating the store on first use. */
function open(options: IndexedDBOptions): Promise<IDBDatabase> {
  const idb = factory(options);
  const database = options.database ?? "unfold";
  return new Promise((resolve, reject) => {
    const request = idb.open(database, 1);
    request.onupgradeneeded = () => {
      if (!request.result.objectStoreNames.contains(STORE)) request.result.createObjectStore(STORE);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(new UnfoldError(`IndexedDB: cannot open database "${database}" (${request.error?.message ?? "unknown error"})`));
    request.onblocked = () => reject(new UnfoldError(`IndexedDB: database "${database}" is blocked by another tab holding an older version open`));
  });
}

/** Runs one request in a transaction on the store and resolves with its result once the transaction completes. */
async function transact<T>(options: IndexedDBOptions, mode: IDBTransactionMode, what: string, run: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open(options);
  try {
    return await new Promise<T>((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = run(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request.result);
      const failed = () => reject(new UnfoldError(`IndexedDB: ${what} failed (${(tx.error ?? request.error)?.message ?? "aborted"})`));
      tx.onerror = failed;
      tx.onabort = failed;
    });
  } finally {
    db.close();
  }
}

/** Stores `bytes` (a copy) under `name` in the browser's IndexedDB, replacing what was there. */
export async function saveToIndexedDB(name: string, bytes: Uint8Array, options: IndexedDBOptions = {}): Promise<void> {
  checkName(name);
  const copy = checkBytes(bytes, "saveToIndexedDB").slice();
  await transact(options, "readwrite", `saving "${name}"`, (store) => store.put(copy, name));
}

/** The bytes stored under `name`; throws an UnfoldError if there are none. */
export async function loadFromIndexedDB(name: string, options: IndexedDBOptions = {}): Promise<Uint8Array> {
  checkName(name);
  const value = await transact<unknown>(options, "readonly", `loading "${name}"`, (store) => store.get(name));
  if (value === undefined) throw new UnfoldError(`IndexedDB: nothing is saved under "${name}" in database "${options.database ?? "unfold"}"`);
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new UnfoldError(`IndexedDB: "${name}" holds a ${typeof value}, not saved bytes`);
}

/** Removes what is stored under `name`; true if there was something. */
export async function deleteFromIndexedDB(name: string, options: IndexedDBOptions = {}): Promise<boolean> {
  checkName(name);
  const had = await transact<number>(options, "readwrite", `deleting "${name}"`, (store) => {
    const count = store.count(name);
    store.delete(name);
    return count;
  });
  return had > 0;
}

/**
 * The bytes as a Blob (application/octet-stream), e.g. for a download link:
 * `a.href = URL.createObjectURL(toBlob(model.save())); a.download = "model.safetensors"`.
 */
export function toBlob(bytes: Uint8Array): Blob {
  return new Blob([checkBytes(bytes, "toBlob").slice()], { type: "application/octet-stream" });
}

type FsPromises = { writeFile(path: string, data: Uint8Array): Promise<void>; readFile(path: string): Promise<Uint8Array> };

async function fs(who: string): Promise<FsPromises> {
  // A specifier in a variable: bundlers leave it alone, so browser bundles do not pull in Node's fs.
  const specifier = "node:fs/promises";
  try {
    return (await import(/* @vite-ignore */ specifier)) as FsPromises;
  } catch {
    throw new UnfoldError(`${who} needs a file system (Node, Deno or Bun); in a browser use saveToIndexedDB or toBlob`);
  }
}

/** Writes `bytes` to the file at `path` (Node, Deno, Bun). */
export async function saveFile(path: string, bytes: Uint8Array): Promise<void> {
  checkBytes(bytes, "saveFile");
  if (typeof path !== "string" || !path) throw new UnfoldError("saveFile needs a file path");
  const { writeFile } = await fs("saveFile");
  try {
    await writeFile(path, bytes);
  } catch (e) {
    throw new UnfoldError(`saveFile: cannot write ${path} (${(e as Error).message})`);
  }
}

/** The bytes of the file at `path` (Node, Deno, Bun), ready for `Sequential.load`. */
export async function loadFile(path: string): Promise<Uint8Array> {
  if (typeof path !== "string" || !path) throw new UnfoldError("loadFile needs a file path");
  const { readFile } = await fs("loadFile");
  try {
    const data = await readFile(path);
    // Node gives a Buffer (a Uint8Array); hand back a plain Uint8Array over the same bytes.
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (e) {
    throw new UnfoldError(`loadFile: cannot read ${path} (${(e as Error).message})`);
  }
}
