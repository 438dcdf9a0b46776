#!/usr/bin/env python3
"""Write PyTorch reference fixtures for Unfold's parity tests.

Run from the repository root:

    /usr/bin/python3 scripts/torch_fixtures.py

Every weight, input and upstream gradient is drawn as a float32 value and stored
exactly; the reference results are then computed in float64 from those stored
values, so each file holds the exact answer (to float64 rounding) for inputs a
float32 implementation can represent bit for bit. Output is deterministic: a
fixed seed per case, one thread, and a fixed JSON layout, so re-running the
script reproduces byte-identical files.

Tensors are written as {"shape": [...], "data": [flat row-major numbers]}.
Conventions and the schema of each file are described in
test/fixtures/torch/README.md.
"""

import json
import os
import zlib

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

OUT_DIR = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "torch")
)

RNN_KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
# (T, B, I, H): single step, odd sizes around the SIMD width of 4, B = 1.
PLAIN_SHAPES = [(1, 1, 5, 7), (4, 3, 5, 13), (6, 2, 4, 8), (3, 1, 7, 16)]


# ---------------------------------------------------------------- encoding

def case_seed(name):
    # crc32, not hash(): Python's str hash is randomized per process.
    return zlib.crc32(name.encode("utf-8"))


def uniform_f32(shape, low=-0.5, high=0.5):
    """Float32 tensor with values uniform in [low, high), rounded to float32."""
    return (torch.rand(shape, dtype=torch.float32) * (high - low) + low).to(torch.float32)


def tensor_json(t):
    t = t.detach().cpu()
    if t.dtype.is_floating_point:
        # float(x) of a float32 or float64 value is exact; repr round-trips it.
        data = [float(v) for v in t.reshape(-1).tolist()]
    else:
        data = [int(v) for v in t.reshape(-1).tolist()]
    return {"shape": list(t.shape), "data": data}


def compact(value):
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def is_tensor_json(value):
    return isinstance(value, dict) and set(value.keys()) == {"shape", "data"}


def format_value(value, indent):
    """One line per key for dicts that hold dicts (so diffs stay readable); compact otherwise."""
    if isinstance(value, dict) and not is_tensor_json(value) and any(
        isinstance(v, dict) for v in value.values()
    ):
        pad = " " * (indent + 1)
        lines = [
            pad + compact(k) + ": " + format_value(v, indent + 1) for k, v in value.items()
        ]
        return "{\n" + ",\n".join(lines) + "\n" + " " * indent + "}"
    return compact(value)


def write_fixture(file_name, obj):
    path = os.path.join(OUT_DIR, file_name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(format_value(obj, 0))
        f.write("\n")
    return path


# ---------------------------------------------------------------- recurrent layers

def make_rnn(kind, input_size, hidden_size, num_layers, bidirectional):
    common = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=False)
    if kind == "rnn_tanh":
        return nn.RNN(input_size, hidden_size, nonlinearity="tanh", **common)
    if kind == "rnn_relu":
        return nn.RNN(input_size, hidden_size, nonlinearity="relu", **common)
    if kind == "lstm":
        return nn.LSTM(input_size, hidden_size, **common)
    if kind == "gru":
        return nn.GRU(input_size, hidden_size, **common)
    raise ValueError(kind)


def recurrent_case(kind, tag, T, B, I, H, num_layers=1, bidirectional=False, lengths=None):
    name = "%s_%s" % (kind, tag)
    torch.manual_seed(case_seed(name))
    is_lstm = kind == "lstm"
    D = 2 if bidirectional else 1

    # Draw everything in float32 (PyTorch's default init for the weights), in a fixed order.
    module = make_rnn(kind, I, H, num_layers, bidirectional)
    params32 = {k: v.detach().clone() for k, v in module.state_dict().items()}
    x32 = uniform_f32((T, B, I))
    h0_32 = uniform_f32((num_layers * D, B, H))
    c0_32 = uniform_f32((num_layers * D, B, H)) if is_lstm else None
    d_output32 = uniform_f32((T, B, D * H))
    d_h_n32 = uniform_f32((num_layers * D, B, H))
    d_c_n32 = uniform_f32((num_layers * D, B, H)) if is_lstm else None
    if lengths is not None:
        # Padded positions carry no loss: zero the upstream gradient there.
        for b, length in enumerate(lengths):
            d_output32[length:, b, :] = 0.0

    # Compute in float64 from exactly those values.
    module = module.double()
    x = x32.double().requires_grad_(True)
    h0 = h0_32.double().requires_grad_(True)
    c0 = c0_32.double().requires_grad_(True) if is_lstm else None
    hx = (h0, c0) if is_lstm else h0

    if lengths is None:
        output, state = module(x, hx)
    else:
        packed = pack_padded_sequence(
            x, torch.tensor(lengths, dtype=torch.int64), enforce_sorted=False
        )
        packed_out, state = module(packed, hx)
        output, _ = pad_packed_sequence(packed_out, total_length=T)
    h_n, c_n = state if is_lstm else (state, None)

    loss = (output * d_output32.double()).sum() + (h_n * d_h_n32.double()).sum()
    if is_lstm:
        loss = loss + (c_n * d_c_n32.double()).sum()
    loss.backward()

    named_params = dict(module.named_parameters())
    obj = {
        "kind": kind,
        "T": T,
        "B": B,
        "I": I,
        "H": H,
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "lengths": list(lengths) if lengths is not None else None,
        "params": {k: tensor_json(v) for k, v in params32.items()},
        "x": tensor_json(x32),
        "h0": tensor_json(h0_32),
    }
    if is_lstm:
        obj["c0"] = tensor_json(c0_32)
    obj["output"] = tensor_json(output)
    obj["h_n"] = tensor_json(h_n)
    if is_lstm:
        obj["c_n"] = tensor_json(c_n)
    obj["d_output"] = tensor_json(d_output32)
    obj["d_h_n"] = tensor_json(d_h_n32)
    if is_lstm:
        obj["d_c_n"] = tensor_json(d_c_n32)
    obj["loss"] = float(loss.item())
    grads = {k: tensor_json(named_params[k].grad) for k in params32}
    grads["x"] = tensor_json(x.grad)
    grads["h0"] = tensor_json(h0.grad)
    if is_lstm:
        grads["c0"] = tensor_json(c0.grad)
    obj["grads"] = grads
    return write_fixture(name + ".json", obj)


def recurrent_cases():
    paths = []
    for kind in RNN_KINDS:
        for T, B, I, H in PLAIN_SHAPES:
            tag = "t%d_b%d_i%d_h%d" % (T, B, I, H)
            paths.append(recurrent_case(kind, tag, T, B, I, H))
        paths.append(recurrent_case(kind, "layers2", 4, 3, 5, 6, num_layers=2))
        paths.append(
            recurrent_case(kind, "bidir_layers2", 5, 3, 4, 5, num_layers=2, bidirectional=True)
        )
        paths.append(
            recurrent_case(kind, "packed_bidir", 6, 3, 4, 5, bidirectional=True, lengths=[6, 4, 1])
        )
        paths.append(
            recurrent_case(
                kind, "packed_bidir_layers2", 6, 3, 4, 5, num_layers=2, bidirectional=True,
                lengths=[6, 4, 1],
            )
        )
    return paths


# ---------------------------------------------------------------- LSTM + SGD trajectory

class LstmClassifier(nn.Module):
    def __init__(self, input_size, hidden_size, vocab):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size)
        self.head = nn.Linear(hidden_size, vocab)

    def forward(self, x):
        output, _ = self.lstm(x)  # zero initial state
        return self.head(output)  # [T, B, V]


def flat_params(model):
    """State-dict names with the LSTM's own names (weight_ih_l0, ...) and head.*."""
    out = {}
    for k, v in model.state_dict().items():
        out[k[len("lstm."):] if k.startswith("lstm.") else k] = v.detach().clone()
    return out


def lstm_sgd_trajectory():
    T, B, I, H, V = 7, 4, 5, 8, 6
    lr = 0.1
    steps = 20
    torch.manual_seed(case_seed("lstm_sgd_trajectory"))
    model = LstmClassifier(I, H, V)
    initial32 = flat_params(model)
    x32 = uniform_f32((T, B, I))
    targets = torch.randint(0, V, (T, B), dtype=torch.int64)

    model = model.double()
    x = x32.double()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)

    def loss_fn():
        logits = model(x)
        return F.cross_entropy(logits.reshape(T * B, V), targets.reshape(-1), reduction="sum") / B

    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_fn()
        loss.backward()
        losses.append(float(loss.item()))
        optimizer.step()
    with torch.no_grad():
        final_loss = float(loss_fn().item())

    obj = {
        "T": T,
        "B": B,
        "I": I,
        "H": H,
        "V": V,
        "lr": lr,
        "steps": steps,
        "params": {k: tensor_json(v) for k, v in initial32.items()},
        "x": tensor_json(x32),
        "targets": tensor_json(targets),
        "losses": losses,
        "final_loss": final_loss,
        "final_params": {k: tensor_json(v) for k, v in flat_params(model).items()},
    }
    return write_fixture("lstm_sgd_trajectory.json", obj)


# ---------------------------------------------------------------- optimizers

# Every numeric hyperparameter is passed explicitly, so a reader needs no torch defaults.
OPTIMIZER_CASES = [
    ("sgd", "SGD", dict(lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd_momentum", "SGD",
     dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=False)),
    ("sgd_nesterov", "SGD",
     dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0, nesterov=True)),
    ("sgd_wd", "SGD", dict(lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.01, nesterov=False)),
    ("adam", "Adam",
     dict(lr=0.01, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.0, amsgrad=False)),
    ("adam_wd", "Adam",
     dict(lr=0.01, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.01, amsgrad=False)),
    ("adamw", "AdamW",
     dict(lr=0.01, betas=[0.9, 0.999], eps=1e-8, weight_decay=0.01, amsgrad=False)),
    ("rmsprop", "RMSprop",
     dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False)),
    ("rmsprop_momentum", "RMSprop",
     dict(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9, centered=False)),
    ("adagrad", "Adagrad",
     dict(lr=0.1, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10)),
]


def optimizers():
    n, steps = 10, 5
    torch.manual_seed(case_seed("optimizers"))
    p0_32 = uniform_f32((n,), -1.0, 1.0)
    grads32 = [uniform_f32((n,), -1.0, 1.0) for _ in range(steps)]

    cases = {}
    for name, class_name, options in OPTIMIZER_CASES:
        p = p0_32.double().clone().requires_grad_(True)
        kwargs = dict(options)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        optimizer = getattr(torch.optim, class_name)([p], **kwargs)
        trajectory = []
        for g in grads32:
            p.grad = g.double().clone()
            optimizer.step()
            trajectory.append([float(v) for v in p.detach().tolist()])
        cases[name] = {"optimizer": class_name, "options": options, "trajectory": trajectory}

    obj = {
        "p0": [float(v) for v in p0_32.tolist()],
        "grads": [[float(v) for v in g.tolist()] for g in grads32],
        "cases": cases,
    }
    return write_fixture("optimizers.json", obj)


# ---------------------------------------------------------------- sparse embedding updates

# nn.Embedding(sparse=True): the gradient holds only the rows of the ids seen, and these
# optimizers update only those rows ("lazy" updates). Hyperparameters explicit, as above.
SPARSE_CASES = [
    ("sparse_sgd", "SGD", dict(lr=0.1)),
    ("sparse_adam", "SparseAdam", dict(lr=0.01, betas=[0.9, 0.999], eps=1e-8)),
    ("sparse_adagrad", "Adagrad", dict(lr=0.1, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10)),
]


def sparse_embedding():
    vocab, dim = 9, 5
    # Ids per step: repeats (their gradients add up), rows left out for several steps, row 8
    # (the padding row) never receiving a gradient, and one step touching a single row.
    steps_ids = [[1, 3, 3, 8], [0, 1, 8, 2], [5], [3, 7, 7, 1], [6, 0, 5, 4, 3]]
    torch.manual_seed(case_seed("sparse_embedding"))
    w0_32 = uniform_f32((vocab, dim), -1.0, 1.0)
    w0_32[8] = 0.0
    dys32 = [uniform_f32((len(ids), dim), -1.0, 1.0) for ids in steps_ids]

    cases = {}
    for name, class_name, options in SPARSE_CASES:
        emb = nn.Embedding(vocab, dim, padding_idx=8, sparse=True).double()
        with torch.no_grad():
            emb.weight.copy_(w0_32.double())
        kwargs = dict(options)
        if "betas" in kwargs:
            kwargs["betas"] = tuple(kwargs["betas"])
        optimizer = getattr(torch.optim, class_name)(emb.parameters(), **kwargs)
        trajectory = []
        for ids, dy in zip(steps_ids, dys32):
            optimizer.zero_grad()
            out = emb(torch.tensor(ids, dtype=torch.long))
            (out * dy.double()).sum().backward()
            optimizer.step()
            trajectory.append([float(v) for v in emb.weight.detach().reshape(-1).tolist()])
        cases[name] = {"optimizer": class_name, "options": options, "trajectory": trajectory}

    obj = {
        "vocab": vocab,
        "dim": dim,
        "padding_index": 8,
        "w0": [float(v) for v in w0_32.reshape(-1).tolist()],
        "ids": steps_ids,
        "dys": [[float(v) for v in dy.reshape(-1).tolist()] for dy in dys32],
        "cases": cases,
    }
    return write_fixture("sparse_embedding.json", obj)


# ---------------------------------------------------------------- main

def main():
    torch.set_num_threads(1)  # fixed reduction order in the float64 GEMMs
    os.makedirs(OUT_DIR, exist_ok=True)
    paths = recurrent_cases()
    paths.append(lstm_sgd_trajectory())
    paths.append(optimizers())
    paths.append(sparse_embedding())
    total = 0
    for path in paths:
        size = os.path.getsize(path)
        total += size
        print("%8d  %s" % (size, os.path.relpath(path)))
    print("%8d  total bytes in %d files (torch %s)" % (total, len(paths), torch.__version__))


if __name__ == "__main__":
    main()
