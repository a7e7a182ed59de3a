#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/). Run again after
changing a format; the fuzzers add what they find to their own working corpora, not here."""
import gzip, os, struct

here = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def gz(b):
    return gzip.compress(b, mtime=0)


# ---- expressions ------------------------------------------------------------------------------
for i, e in enumerate([
        "sqrt(x^2 + exp(x^2))", "-x^2 + 2^-1 * 2^3^2", "pow(x, y) + atan2(y, x) - hypot(x, y)",
        "sin(x)*cos(y)/tan(z) + sinh(x) - cosh(y) * tanh(z)", "((((x + 1))))", "1.5e-3*x + .5 - 2E+2",
        "max(x, y) - min(x, y) + abs(x - y)", "log(-1) + log1p(x) + expm1(y)",
        "asin(x) + acos(x) + atan(x) + asinh(x) + acosh(y + 1) + atanh(x / 2)",
        "sigmoid(x) * softplus(y) + relu(x - y) + erf(x) + cbrt(y)", "pi * e * r^2", "x / 0",
        "a*b*c*d*e1*f*g*h + a", "2 * (x + y", "exp(x,", "3 $ 4"]):
    put("expression", f"seed{i:02d}", e)

# ---- CSV: first byte = options (header = b % 3 - 1, label = [-1,-2,0,1][b/3 % 4],
#      delimiter = ",;\t "[b/12 % 4]); byte 0 is detect / last column / comma ---------------------
csv_seeds = {
    "named": (0, "a,b,y\n1,2,0\n3,4,1\n5.5,-6e2,0\n"),
    "sklearn": (0, "3,2,no,yes\n1,2,0\n3,4,1\n5,6,1\n"),
    "quoted_crlf": (0, '"x1","x2","label"\r\n" 1.5 ",2,1\r\n3,"4",0\r\n'),
    "nolabel_semicolon": (1 * 3 + 12, "1;2;3\n4;5;6\n"),
    "label_first_tab": (2 * 3 + 24, "0\t1.0\t2.0\n1\t3.0\t4.0\n"),
    "blank_lines": (0, "\n1,2,0\n\n3,4,1\n\n"),
    "bad_cell": (0, "1,2,0\n3,abc,1\n"),
    "nan": (0, "1,nan,0\n"),
    "ragged": (0, "1,2,0\n3,4\n"),
    "header_forced": (2, "1,2,0\n3,4,1\n"),
}
for name, (b, text) in csv_seeds.items():
    put("csv", name, bytes([b]) + text.encode())
put("csv", "gzipped", bytes([0]) + gz(b"a,b,y\n1,2,0\n3,4,1\n"))
root = os.path.normpath(os.path.join(here, "..", ".."))
with open(os.path.join(root, "data", "iris.csv"), "rb") as f:
    put("csv", "iris_head", bytes([0]) + b"".join(f.readlines()[:12]))


# ---- IDX: first byte even = one file, odd = images/labels pair split at byte 2 ----------------
def idx(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


put("idx", "ubyte_3x2x2", bytes([0]) + idx(0x08, [3, 2, 2], bytes(range(0, 240, 20))))
put("idx", "sbyte", bytes([0]) + idx(0x09, [3], bytes([251, 0, 127])))
put("idx", "short", bytes([0]) + idx(0x0B, [2, 2], struct.pack(">hhhh", 1, -1, 300, -32768)))
put("idx", "int_gz", bytes([0]) + gz(idx(0x0C, [1, 2, 1], struct.pack(">ii", 70000, -2))))
put("idx", "float", bytes([0]) + idx(0x0D, [2], struct.pack(">ff", 1.5, -2.5)))
put("idx", "double", bytes([0]) + idx(0x0E, [1], struct.pack(">d", 0.1)))
put("idx", "empty_first_dim", bytes([0]) + idx(0x08, [0, 28, 28], b""))
images = idx(0x08, [3, 2, 2], bytes(range(12)))
labels = idx(0x08, [3], bytes([7, 0, 9]))
cut = len(images) * 255 // (len(images) + len(labels))
# the pair's split point: byte 1 = cut such that rest * b1 / 255 == len(images)
rest = len(images) + len(labels)
b1 = next(b for b in range(256) if rest * b // 255 == len(images))
put("idx", "pair", bytes([1, b1]) + images + labels)
gi, gl = gz(images), gz(labels)
rest = len(gi) + len(gl)
b1 = next((b for b in range(256) if rest * b // 255 == len(gi)), 128)
put("idx", "pair_gz", bytes([1, b1]) + gi + gl)

# ---- model files: first byte odd = the harness appends the checksum trailer ------------------
body = """ad-nn-model 1
dtype float64
layers 6
layer linear 4 6 bias
layer batchnorm1d 6 0x1.999999999999ap-4 0x1.4f8b588e368f1p-17
layer activation leaky_relu 0x1.999999999999ap-3
layer dropout 0x1p-2 3
layer linear 6 3 nobias
layer activation softmax
tensors 7
tensor 0.weight 2 4 6
""" + "\n".join(" ".join(f"0x1.{i:x}p-{j % 5 + 1}" for i in range(8)) for j in range(3)) + """
tensor 0.bias 1 6
0x1p-3 -0x1p-3 0x0p+0 0x1p-1 -0x1p-1 0x1p+0
tensor 1.gamma 1 6
0x1p+0 0x1p+0 0x1p+0 0x1p+0 0x1p+0 0x1p+0
tensor 1.beta 1 6
0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0 0x0p+0
tensor 1.running_mean 1 6
0x1p-4 0x0p+0 0x0p+0 0x0p+0 0x0p+0 -0x1p-4
tensor 1.running_var 1 6
0x1p+0 0x1p+0 0x1p+1 0x1p+0 0x1p+0 0x1p-1
tensor 4.weight 2 6 3
""" + "\n".join(" ".join(f"-0x1.{i:x}p-{j + 2}" for i in range(9)) for j in range(2)) + "\n"
put("model", "mixed_trailer_added", bytes([1]) + body.encode())


def fnv1a(b):
    h = 0xcbf29ce484222325
    for c in b:
        h ^= c
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


small = """ad-nn-model 1
dtype float32
layers 2
layer linear 2 1 bias
layer activation sigmoid
tensors 2
tensor 0.weight 2 2 1
0x1p+0 -0x1p+0
tensor 0.bias 1 1
0x1.8p-1
"""
full = small + f"checksum {fnv1a(small.encode()):016x}\nend\n"
put("model", "small_complete", bytes([0]) + full.encode())
put("model", "small_trailer_added", bytes([1]) + small.encode())
put("model", "mlp_4_6_3", bytes([1]) + """ad-nn-model 1
dtype float64
layers 4
layer linear 4 6 bias
layer activation relu
layer linear 6 3 bias
layer activation softmax
tensors 4
tensor 0.weight 2 4 6
""".encode() + ("0x1p-2 " * 24).strip().encode() + b"\ntensor 0.bias 1 6\n" +
    ("0x0p+0 " * 6).strip().encode() + b"\ntensor 2.weight 2 6 3\n" + ("-0x1p-3 " * 18).strip().encode() +
    b"\ntensor 2.bias 1 3\n0x1p-4 0x1p-5 0x1p-6\n")
put("model", "other_version", bytes([1]) + small.replace("ad-nn-model 1", "ad-nn-model 2").encode())
# A bias of 1.8e19 (found by the fuzzer, 2026-12-04): sigmoid's exp got -2.7e19, whose conversion
# to an integer inside xsimd was undefined behaviour (autodiff/src/ops/simd.hpp now computes such lanes with <cmath>).
put("model", "huge_bias_sigmoid", bytes([1]) + """ad-nn-model 1
dtype float32
layers 2
layer linear 2 1 bias
layer activation sigmoid
tensors 2
tensor 0.weight 2 2 1
0x1p+0 -0x1p+0
tensor 0.bias 1 1
0x1ffe864041bbc6452.8p-1
""".encode())
