#!/usr/bin/python3
"""PyTorch anchor of bench/lbfgs_rosenbrock.cpp: torch.optim.LBFGS on the extended Rosenbrock
function, n = 100, from (-1.2, 1, -1.2, 1, ...) (bench/README.md, "L-BFGS").

Run with Debian's python3-torch:  /usr/bin/python3 bench/anchors/pytorch_lbfgs.py [repeats]
The same options as the project's program: lr 1, history_size 100, line_search_fn
"strong_wolfe", one step(closure) of at most max_iter = 1000 iterations (max_eval 1250), in
float64, twice: tolerance_grad 1e-10 with tolerance_change 0 ("converge"), and PyTorch's
default tolerances 1e-7 and 1e-9 ("defaults"). Timed: the whole minimization from x0, repeated
(median). The last line holds the figures as key=value pairs.
"""
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
N = 100


def rosenbrock(x):
    pairs = x.view(-1, 2)
    a, b = pairs[:, 0], pairs[:, 1]
    return torch.sum(100 * (b - a * a) ** 2 + (1 - a) ** 2)


def minimize(tolerance_grad, tolerance_change):
    x = torch.tensor([-1.2 if i % 2 == 0 else 1.0 for i in range(N)], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([x], lr=1, max_iter=1000, max_eval=1250, tolerance_grad=tolerance_grad,
                            tolerance_change=tolerance_change, history_size=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = rosenbrock(x)
        f.backward()
        return f

    t0 = time.perf_counter()
    opt.step(closure)
    seconds = time.perf_counter() - t0
    state = opt.state[x]  # LBFGS keeps its counts in the state of its first parameter
    f = rosenbrock(x)
    (g,) = torch.autograd.grad(f, x)
    return {"iterations": state["n_iter"], "evaluations": state["func_evals"], "f": f.item(),
            "grad_norm": g.norm().item(), "max_err": (x.detach() - 1).abs().max().item(), "seconds": seconds}


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    runs = [minimize(1e-10, 0.0) for _ in range(repeats)]
    defaults = [minimize(1e-7, 1e-9) for _ in range(repeats)]
    r, d = runs[-1], defaults[-1]
    ms = statistics.median(x["seconds"] for x in runs) * 1e3
    dms = statistics.median(x["seconds"] for x in defaults) * 1e3
    print(f"torch {torch.__version__}: converge {r['iterations']} iterations, {r['evaluations']} evaluations, "
          f"f {r['f']:.3e}, |grad| {r['grad_norm']:.3e}, {ms:.3f} ms; defaults {d['iterations']} iterations, "
          f"{d['evaluations']} evaluations, {dms:.3f} ms")
    print(f"pytorch_lbfgs_iterations={r['iterations']} pytorch_lbfgs_evaluations={r['evaluations']} "
          f"pytorch_lbfgs_f={r['f']:.3e} pytorch_lbfgs_grad_norm={r['grad_norm']:.3e} pytorch_lbfgs_ms={ms:.4f} "
          f"pytorch_lbfgs_max_err={r['max_err']:.3g} pytorch_lbfgs_default_iterations={d['iterations']} "
          f"pytorch_lbfgs_default_evaluations={d['evaluations']} pytorch_lbfgs_default_ms={dms:.4f}")


if __name__ == "__main__":
    main()
