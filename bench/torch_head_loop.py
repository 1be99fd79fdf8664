"""The head loop of bench (h) in PyTorch on the CPU: the same work as bench/onnx.ts's children.

    python3 bench/torch_head_loop.py STEPS

K = 100 classes, d = 512, a pool of 5000 feature rows; per step 64 anchors and 64 partners gathered by index,
feature mixup with lambda ~ U[0.6, 1], linear head, cross-entropy on the anchor labels, backward, SGD (lr 0.01,
weight decay 5e-4). One intra-op thread (torch.set_num_threads(1)); the BLAS's own threads are whatever
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say (bench/onnx.ts sets both to 1), and capped at one by
set_blas_threads (torch.set_num_threads does not reach it in Debian's build). Prints one JSON line: steps, the loop's
own milliseconds, the torch version, its thread count, and the BLAS it actually loaded, read from /proc/self/maps
(Debian's python3-torch calls whatever libblas.so.3 the alternatives system points at: the reference BLAS on a fresh
machine, OpenBLAS once libopenblas0-pthread is installed).
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_blas import blas_report, set_blas_threads  # noqa: E402

STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
K, D, N, B = 100, 512, 5000, 64
torch.set_num_threads(1)
BLAS_THREADS = set_blas_threads(1)
torch.manual_seed(0)
pool = torch.randn(N, D)
labels = torch.randint(0, K, (N,))
head = torch.nn.Linear(D, K)
opt = torch.optim.SGD(head.parameters(), lr=0.01, weight_decay=5e-4)
anchors = torch.randint(0, N, (STEPS, B))
partners = torch.randint(0, N, (STEPS, B))
lams = 0.6 + 0.4 * torch.rand(STEPS, B, 1)
t0 = time.perf_counter()
for s in range(STEPS):
    a, p, lam = anchors[s], partners[s], lams[s]
    f = lam * pool[a] + (1 - lam) * pool[p]
    loss = torch.nn.functional.cross_entropy(head(f), labels[a])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
loop_ms = (time.perf_counter() - t0) * 1000
# The BLAS is mapped by now (the first product loads it).
print(json.dumps({'steps': STEPS, 'loopMs': loop_ms, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': blas_report()}))
