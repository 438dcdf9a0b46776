#!/usr/bin/env python3
"""PyTorch <-> Unfold interop fixtures, and the PyTorch side of the live interop tests.

Run from the repository root with Debian's python3-torch (no `safetensors` package needed:
the format is read and written by hand below):

    /usr/bin/python3 scripts/torch_interop.py
        (Re)write test/fixtures/torch/interop/:
        - torch_<case>.safetensors      a PyTorch model's state_dict, as safetensors.torch.save_file writes it
        - torch_<case>.io.safetensors   x (inputs) and y (the model's outputs, float64)
        and, for every Unfold export found there (unfold_<case>.safetensors with its
        unfold_<case>.input.safetensors, written by test/io-torch.test.ts with
        UNFOLD_UPDATE_FIXTURES=1), load it into the same PyTorch model and write
        - unfold_<case>.torch_output.safetensors   y computed by PyTorch from Unfold's weights
        Last, it opens unfold_model.safetensors (a Sequential.save file) and checks that its
        description and tensors read back in Python.

    /usr/bin/python3 scripts/torch_interop.py run CASE WEIGHTS INPUT OUTPUT [CASE WEIGHTS INPUT OUTPUT ...]
        For each group: load WEIGHTS (a state_dict in safetensors, e.g. from Unfold's exportTorch) into CASE's
        PyTorch model with load_state_dict(strict=True), run it on INPUT's x, write y to OUTPUT.

    /usr/bin/python3 scripts/torch_interop.py inspect FILE
        Print an Unfold model file (Sequential.save) as JSON: format, version, layer kinds,
        metadata keys, and every tensor's dtype, shape and sum (read with numpy).

Reference outputs are computed in float64 from the float32 weights and inputs, so they are
the exact answer for what a float32 implementation holds. Deterministic: fixed seeds
(crc32 of the case name), one thread, fixed header layout — re-running reproduces the files
byte for byte.
"""

import json
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn

OUT_DIR = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "torch", "interop")
)

# ---------------------------------------------------------------- safetensors by hand

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered dict name -> numpy array (C order, little-endian on write)."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    offset = 0
    blobs = []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        blob = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": NAMES[a.dtype], "shape": list(a.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)  # data 8-byte aligned, as the reference writer pads
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """Returns (tensors: dict name -> numpy array, metadata: dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, d in header.items():
        begin, end = d["data_offsets"]
        dtype = np.dtype(DTYPES[d["dtype"]]).newbyteorder("<")
        tensors[name] = np.frombuffer(data[begin:end], dtype=dtype).reshape(d["shape"]).astype(DTYPES[d["dtype"]])
    return tensors, metadata


def state_dict_arrays(module):
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in module.state_dict().items()}


def load_state_dict(module, arrays):
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}, strict=True)


# ---------------------------------------------------------------- the cases


class LstmBidir(nn.Module):
    """2-layer bidirectional LSTM, then a Linear on every step."""

    def __init__(self, I=3, H=4, O=2):
        super().__init__()
        self.rnn = nn.LSTM(I, H, num_layers=2, bidirectional=True)
        self.fc = nn.Linear(2 * H, O)

    def forward(self, x):
        out, _ = self.rnn(x)  # [T, B, 2H], zero initial state
        return self.fc(out)


class GruLast(nn.Module):
    """GRU, then a Linear on the last step's output (sequence classification)."""

    def __init__(self, I=4, H=5, O=3):
        super().__init__()
        self.rnn = nn.GRU(I, H)
        self.fc = nn.Linear(H, O)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[-1])  # [B, O]


class EmbeddingRnn(nn.Module):
    """Embedding, tanh RNN, then a Linear on every step (a character language model)."""

    def __init__(self, V=7, E=3, H=4):
        super().__init__()
        self.emb = nn.Embedding(V, E)
        self.rnn = nn.RNN(E, H, nonlinearity="tanh")
        self.fc = nn.Linear(H, V)

    def forward(self, ids):
        out, _ = self.rnn(self.emb(ids))
        return self.fc(out)


# name -> (model class, make inputs from a generator)
CASES = {
    "lstm_bidir": (LstmBidir, lambda: (torch.rand(5, 2, 3) - 0.5).to(torch.float32)),
    "gru_last": (GruLast, lambda: (torch.rand(6, 3, 4) - 0.5).to(torch.float32)),
    "embedding_rnn": (EmbeddingRnn, lambda: torch.randint(0, 7, (5, 2), dtype=torch.int64)),
}


def case_seed(name):
    return zlib.crc32(name.encode("utf-8"))


def run(case, arrays, x):
    """The case's model with these weights on x, in float64: numpy y."""
    module = CASES[case][0]()
    load_state_dict(module, arrays)
    module = module.double()
    with torch.no_grad():
        xt = torch.from_numpy(np.array(x))
        xt = xt.long() if xt.dtype in (torch.int32, torch.int64) else xt.double()
        return module(xt).numpy()


def as_input(x):
    """Inputs as Unfold reads them: float32 features, or int32 token ids."""
    x = x.numpy()
    return x.astype(np.int32) if x.dtype == np.int64 else x.astype(np.float32)


# ---------------------------------------------------------------- fixtures


def write_torch_cases():
    paths = []
    for case, (cls, make_x) in CASES.items():
        torch.manual_seed(case_seed(case))
        module = cls()
        x = make_x()
        arrays = state_dict_arrays(module)
        y = run(case, arrays, as_input(x))
        weights_path = os.path.join(OUT_DIR, "torch_%s.safetensors" % case)
        write_safetensors(weights_path, arrays, {"format": "pt"})
        io_path = os.path.join(OUT_DIR, "torch_%s.io.safetensors" % case)
        write_safetensors(io_path, {"x": as_input(x), "y": y.astype(np.float64)})
        paths += [weights_path, io_path]
    return paths


def answer_unfold_exports():
    paths = []
    for case in CASES:
        weights_path = os.path.join(OUT_DIR, "unfold_%s.safetensors" % case)
        input_path = os.path.join(OUT_DIR, "unfold_%s.input.safetensors" % case)
        if not (os.path.exists(weights_path) and os.path.exists(input_path)):
            print("no Unfold export for %s yet (run UNFOLD_UPDATE_FIXTURES=1 npx vitest run test/io-torch.test.ts)" % case)
            continue
        out_path = os.path.join(OUT_DIR, "unfold_%s.torch_output.safetensors" % case)
        run_file(case, weights_path, input_path, out_path)
        paths.append(out_path)
    return paths


def run_file(case, weights_path, input_path, out_path):
    arrays, _ = read_safetensors(weights_path)
    inputs, _ = read_safetensors(input_path)
    y = run(case, arrays, inputs["x"])
    write_safetensors(out_path, {"y": y.astype(np.float64)})


def inspect(path):
    """An Unfold model file, as Python sees it."""
    tensors, metadata = read_safetensors(path)
    description = json.loads(metadata["unfold"])
    return {
        "format": description["format"],
        "version": description["version"],
        "inputSize": description["model"]["inputSize"],
        "layers": [layer["kind"] for layer in description["model"]["layers"]],
        "metadata": sorted(description["metadata"].keys()),
        "tensors": {
            name: {"dtype": NAMES[a.dtype], "shape": list(a.shape), "sum": float(a.astype(np.float64).sum())}
            for name, a in tensors.items()
        },
    }


def main(argv):
    torch.set_num_threads(1)
    if len(argv) >= 1 and argv[0] == "run":
        jobs = argv[1:]
        if not jobs or len(jobs) % 4 or any(jobs[i] not in CASES for i in range(0, len(jobs), 4)):
            sys.exit("usage: torch_interop.py run {%s} WEIGHTS INPUT OUTPUT [CASE WEIGHTS INPUT OUTPUT ...]" % ",".join(CASES))
        for i in range(0, len(jobs), 4):
            run_file(*jobs[i:i + 4])
        return
    if len(argv) >= 1 and argv[0] == "inspect":
        if len(argv) != 2:
            sys.exit("usage: torch_interop.py inspect FILE")
        print(json.dumps(inspect(argv[1]), sort_keys=True))
        return
    if argv:
        sys.exit(__doc__)
    os.makedirs(OUT_DIR, exist_ok=True)
    for path in write_torch_cases() + answer_unfold_exports():
        print("wrote", os.path.relpath(path))
    model_file = os.path.join(OUT_DIR, "unfold_model.safetensors")
    if os.path.exists(model_file):
        print("read", os.path.relpath(model_file), json.dumps(inspect(model_file), sort_keys=True)[:200], "...")


if __name__ == "__main__":
    main(sys.argv[1:])
