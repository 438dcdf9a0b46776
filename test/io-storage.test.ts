// Storage helpers: IndexedDB against a small in-memory fake of the IndexedDB API (the browser
// suite runs the real one), Blobs, and files in Node.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { UnfoldError } from "../src/engine/index.js";
import { GRU } from "../src/layers/gru.js";
import { Dense } from "../src/layers/dense.js";
import { Sequential } from "../src/models/sequential.js";
import { deleteFromIndexedDB, loadFile, loadFromIndexedDB, saveFile, saveToIndexedDB, toBlob } from "../src/io/storage.js";

/**
 * The slice of IndexedDB the helpers use: open with an upgrade, one object store with
 * out-of-line keys, put/get/count/delete, transactions that complete asynchronously, values
 * stored as structured clones.
 */
function fakeIndexedDB(): IDBFactory {
  const databases = new Map<string, Map<string, Map<IDBValidKey, unknown>>>();
  const request = <T>(result: () => T) => {
    const r: { result?: T; error: null; onsuccess?: () => void; onerror?: () => void } = { error: null };
    queueMicrotask(() => {
      r.result = result();
      r.onsuccess?.();
    });
    return r;
  };
  const open = (name: string) => {
    const r: Record<string, unknown> & { result?: unknown } = { error: null };
    setTimeout(() => {
      const isNew = !databases.has(name);
      if (isNew) databases.set(name, new Map());
      const stores = databases.get(name)!;
      const db = {
        objectStoreNames: { contains: (s: string) => stores.has(s) },
        createObjectStore: (s: string) => stores.set(s, new Map()),
        close: () => {},
        transaction: (storeName: string) => {
          const store = stores.get(storeName);
          if (!store) throw new Error(`NotFoundError: no store ${storeName}`);
          const tx: Record<string, unknown> & { oncomplete?: () => void } = { error: null };
          setTimeout(() => tx.oncomplete?.(), 0);
          tx.objectStore = () => ({
            put: (value: unknown, key: IDBValidKey) => request(() => (store.set(key, structuredClone(value)), key)),
            get: (key: IDBValidKey) => request(() => (store.has(key) ? structuredClone(store.get(key)) : undefined)),
            count: (key: IDBValidKey) => request(() => (store.has(key) ? 1 : 0)),
            delete: (key: IDBValidKey) => request(() => (store.delete(key), undefined)),
          });
          return tx;
        },
      };
      r.result = db;
      if (isNew) (r.onupgradeneeded as (() => void) | undefined)?.();
      (r.onsuccess as () => void)();
    }, 0);
    return r;
  };
  return { open } as unknown as IDBFactory;
}

describe("IndexedDB helpers (in-memory fake)", () => {
  it("save, load, replace, delete; a loaded model predicts as the saved one", async () => {
    const indexedDB = fakeIndexedDB();
    const model = new Sequential([new GRU({ units: 3 }), new Dense({ units: 2 })], { inputSize: 2, seed: 1 });
    const bytes = model.save({ note: "in the browser" });
    const original = bytes.slice();
    await saveToIndexedDB("char-lm", bytes, { indexedDB });
    bytes[100] ^= 0xff; // the store keeps its own copy
    const back = await loadFromIndexedDB("char-lm", { indexedDB });
    expect(back).toEqual(original);
    const { model: loaded, metadata } = Sequential.load(back);
    expect(metadata).toEqual({ note: "in the browser" });
    expect(loaded.getWeights()).toEqual(model.getWeights());
    await saveToIndexedDB("char-lm", new Uint8Array([1, 2, 3]), { indexedDB });
    expect(await loadFromIndexedDB("char-lm", { indexedDB })).toEqual(new Uint8Array([1, 2, 3]));
    await expect(loadFromIndexedDB("char-lm", { indexedDB, database: "other" })).rejects.toThrow(/nothing is saved under "char-lm" in database "other"/);
    expect(await deleteFromIndexedDB("char-lm", { indexedDB })).toBe(true);
    expect(await deleteFromIndexedDB("char-lm", { indexedDB })).toBe(false);
    await expect(loadFromIndexedDB("char-lm", { indexedDB })).rejects.toBeInstanceOf(UnfoldError);
    loaded.dispose();
    model.dispose();
  });

  it("says what is wrong", async () => {
    await expect(saveToIndexedDB("m", new Uint8Array(1))).rejects.toThrow(/IndexedDB is not available here .* saveFile\/loadFile/);
    await expect(saveToIndexedDB("", new Uint8Array(1), { indexedDB: fakeIndexedDB() })).rejects.toThrow(/non-empty string/);
    await expect(saveToIndexedDB("m", [1, 2] as never, { indexedDB: fakeIndexedDB() })).rejects.toThrow(/expected the bytes as a Uint8Array/);
  });
});

describe("Blob and file helpers", () => {
  it("toBlob gives the bytes as application/octet-stream", async () => {
    const bytes = new Uint8Array([0, 1, 2, 250]);
    const blob = toBlob(bytes);
    expect(blob.type).toBe("application/octet-stream");
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(bytes);
  });

  it("saveFile and loadFile round-trip a model; missing files give an UnfoldError", async () => {
    const dir = mkdtempSync(join(tmpdir(), "unfold-io-"));
    try {
      const model = new Sequential([new GRU({ units: 2 })], { inputSize: 1 });
      const path = join(dir, "model.safetensors");
      await saveFile(path, model.save());
      const bytes = await loadFile(path);
      expect(bytes.constructor).toBe(Uint8Array);
      const { model: loaded } = Sequential.load(bytes);
      expect(loaded.getWeights()).toEqual(model.getWeights());
      loaded.dispose();
      model.dispose();
      await expect(loadFile(join(dir, "missing.safetensors"))).rejects.toThrow(/loadFile: cannot read .*missing.safetensors/);
      await expect(saveFile(join(dir, "no", "such", "dir", "m"), new Uint8Array(1))).rejects.toBeInstanceOf(UnfoldError);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
