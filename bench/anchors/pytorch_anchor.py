#!/usr/bin/python3
"""PyTorch anchors for the benchmark workloads W1, W1b, W2 and W3 (bench/README.md).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 bench/anchors/pytorch_anchor.py w2
Each workload prints its figures as key=value pairs on its last line. The data, split,
initialization and batch orders follow ../shared/bench-workloads.md exactly (splitmix64 is
re-implemented here), so the figures compare with bench/w*_* run for run.
"""
import gzip
import math
import os
import resource
import statistics
import sys
import time

import numpy as np
import torch

torch.set_num_threads(2)
MASK = (1 << 64) - 1
HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.environ.get("AD_DATA_DIR", os.path.join(HERE, "..", "..", "data"))
FASHION = os.environ.get("AD_FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def uniform(self, lo=0.0, hi=1.0):
        return lo + (hi - lo) * ((self.next() >> 11) * 2.0 ** -53)

    def permutation(self, n):
        """Fisher-Yates shuffle of 0..n-1: for i from n-1 down to 1, j = next() % (i + 1)."""
        p = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.next() % (i + 1)
            p[i], p[j] = p[j], p[i]
        return p


def init_layers(sizes, dtype):
    """W (fan_in x fan_out, row-major) then b, layer by layer, U(+-1/sqrt(fan_in)), splitmix64(1)."""
    rng = SplitMix64(1)
    layers = []
    for fin, fout in zip(sizes[:-1], sizes[1:]):
        a = 1 / math.sqrt(fin)
        w = np.array([rng.uniform(-a, a) for _ in range(fin * fout)]).reshape(fin, fout)
        b = np.array([rng.uniform(-a, a) for _ in range(fout)])
        layers.append((w.astype(dtype), b.astype(dtype)))
    return layers


def model_from(layers, hidden, dtype):
    mods = []
    for k, (w, b) in enumerate(layers):
        lin = torch.nn.Linear(w.shape[0], w.shape[1]).to(dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(w.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        mods.append(lin)
        if k + 1 < len(layers):
            mods.append(hidden())
    return torch.nn.Sequential(*mods)


def epoch_orders(n, epochs):
    """One shuffle of 0..n-1 per epoch, drawn in turn from one splitmix64(7) stream."""
    rng = SplitMix64(7)
    return [torch.tensor(rng.permutation(n)) for _ in range(epochs)]


def train_epoch(model, opt, x, y, order, batch):
    """One pass over the rows in `order`, minibatches of `batch`; returns the last batch's loss."""
    lossf = torch.nn.CrossEntropyLoss()
    for s in range(0, len(order), batch):
        idx = order[s:s + batch]
        opt.zero_grad()
        loss = lossf(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return loss.item()


def test_accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).double().mean().item()


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def w1(points=20000):
    xs = [-1 + 2 * (i + 0.5) / 1e6 for i in range(0, 1000000, 1000000 // points)]
    def f(x):
        return math.sqrt(x * x + math.exp(x * x))
    t0 = time.perf_counter()
    for x in xs:
        f(x)
    plain_py = (time.perf_counter() - t0) / len(xs)
    err = 0.0
    t0 = time.perf_counter()
    for x0 in xs:
        x = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
        y = torch.sqrt(x * x + torch.exp(x * x))
        y.backward()
        g = x.grad.item()
        e = math.exp(x0 * x0)
        err = max(err, abs(g - x0 * (1 + e) / math.sqrt(x0 * x0 + e)))
    ns = (time.perf_counter() - t0) / len(xs) * 1e9
    print(f"(PyTorch scalar autograd over {len(xs)} of the 1e6 points; plain Python f {plain_py * 1e9:.0f} ns/pt)")
    print(f"pytorch_w1_ns_per_grad={ns:.0f} pytorch_w1_points={len(xs)} pytorch_w1_max_err={err:.2e}")


def w1b(reps=200, n=10000):
    base = np.array([-1.2 if i % 2 == 0 else 1.0 for i in range(n)])
    def f(x):
        return torch.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    times, ftimes, err = [], [], 0.0
    for r in range(reps):
        xv = torch.from_numpy(base + 1e-4 * r)
        t0 = time.perf_counter()
        with torch.no_grad():
            f(xv).item()
        ftimes.append(time.perf_counter() - t0)
        x = xv.clone().requires_grad_(True)
        t0 = time.perf_counter()
        f(x).backward()
        g = x.grad.numpy()
        times.append(time.perf_counter() - t0)
        if r == 0:
            xn = xv.numpy()
            ref = np.zeros(n)
            ref[:-1] += -400 * xn[:-1] * (xn[1:] - xn[:-1] ** 2) - 2 * (1 - xn[:-1])
            ref[1:] += 200 * (xn[1:] - xn[:-1] ** 2)
            err = float(np.max(np.abs(g - ref)))
    t, tf = statistics.median(times), statistics.median(ftimes)
    print(f"pytorch_w1b_ms_per_grad={t * 1e3:.3f} pytorch_w1b_ratio_to_torch_f={t / tf:.2f} pytorch_w1b_max_err={err:.2e}")


def load_digits():
    rows = np.loadtxt(gzip.open(os.path.join(DATA, "digits.csv.gz"), "rt"), delimiter=",")
    return rows[:, :64] / 16.0, rows[:, 64].astype(np.int64)


def w2(epochs=100, repeats=3):
    x, y = load_digits()
    perm = SplitMix64(42).permutation(len(y))
    tr, te = perm[:1437], perm[1437:]
    xtr, ytr = torch.from_numpy(x[tr]), torch.from_numpy(y[tr])
    xte, yte = torch.from_numpy(x[te]), torch.from_numpy(y[te])
    orders = epoch_orders(len(tr), epochs)
    layers = init_layers([64, 50, 10], np.float64)
    times = []
    for _ in range(repeats):
        model = model_from(layers, torch.nn.Sigmoid, torch.float64)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        t0 = time.perf_counter()
        for order in orders:
            loss = train_epoch(model, opt, xtr, ytr, order, 100)
        times.append(time.perf_counter() - t0)
    acc = test_accuracy(model, xte, yte)
    print(f"pytorch_w2_s={statistics.median(times):.4f} pytorch_w2_final_loss={loss:.6f} pytorch_w2_test_accuracy={acc:.4f}")


def load_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def w3(epochs=10):
    xtr = torch.from_numpy(load_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz")).reshape(60000, 784).astype(np.float32) / 255)
    ytr = torch.from_numpy(load_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    xte = torch.from_numpy(load_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")).reshape(10000, 784).astype(np.float32) / 255)
    yte = torch.from_numpy(load_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
    orders = epoch_orders(60000, epochs)
    model = model_from(init_layers([784, 256, 128, 10], np.float32), torch.nn.ReLU, torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    times = []
    for e, order in enumerate(orders):
        t0 = time.perf_counter()
        train_epoch(model, opt, xtr, ytr, order, 128)
        times.append(time.perf_counter() - t0)
        acc = test_accuracy(model, xte, yte)
        print(f"epoch {e + 1}: {times[-1]:.3f} s, test accuracy {acc:.4f}")
    med = statistics.median(times[1:]) if len(times) > 1 else times[0]
    print(f"pytorch_w3_s_per_epoch={med:.3f} pytorch_w3_test_accuracy={acc:.4f} pytorch_w3_epochs={epochs} pytorch_w3_peak_rss_mb={peak_rss_mb():.0f}")


if __name__ == "__main__":
    work = {"w1": w1, "w1b": w1b, "w2": w2, "w3": w3}
    if len(sys.argv) < 2 or sys.argv[1] not in work:
        print("usage: pytorch_anchor.py w1|w1b|w2|w3 [N]  (N: points, reps, epochs)", file=sys.stderr)
        sys.exit(2)
    args = [int(a) for a in sys.argv[2:]]
    work[sys.argv[1]](*args)
