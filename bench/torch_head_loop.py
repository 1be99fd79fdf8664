"""The head loop of bench (h) in PyTorch on the CPU: the same work as bench/onnx.ts's children.

    python3 bench/torch_head_loop.py STEPS

K = 100 classes, d = 512, a pool of 5000 feature rows; per step 64 anchors and 64 partners gathered by index,
feature mixup with lambda ~ U[0.6, 1], linear head, cross-entropy on the anchor labels, backward, SGD (lr 0.01,
weight decay 5e-4). One intra-op thread (torch.set_num_threads(1)); the BLAS's own threads are whatever
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS say (bench/onnx.ts sets both to 1). Prints one JSON line: steps, the loop's
own milliseconds, the torch version, its thread count, and the BLAS it actually loaded, read from /proc/self/maps
(Debian's python3-torch calls whatever libblas.so.3 the alternatives system points at: the reference BLAS on a fresh
machine, OpenBLAS once libopenblas0-pthread is installed).
"""
import ctypes
import json
import os
import re
import sys
import time

import torch


def loaded_blas():
    """The BLAS libraries mapped into this process, what kind they are, and OpenBLAS's thread count when it is one."""
    with open('/proc/self/maps') as f:
        maps = f.read()
    libs = sorted({os.path.realpath(p) for p in re.findall(r'(/\S*(?:blas|mkl|blis|atlas)\S*\.so\S*)', maps)})
    joined = ' '.join(libs)
    if 'openblas' in joined:
        kind = 'openblas'
    elif 'mkl' in joined:
        kind = 'mkl'
    elif 'blis' in joined:
        kind = 'blis'
    elif 'atlas' in joined:
        kind = 'atlas'
    elif re.search(r'/blas/libblas\.so', joined):
        kind = 'reference'
    else:
        kind = 'unknown'
    threads = None
    if kind == 'openblas':
        for lib in libs:
            if 'openblas' in os.path.basename(lib):
                try:
                    threads = int(ctypes.CDLL(lib).openblas_get_num_threads())
                except (OSError, AttributeError):
                    pass
                break
    config = re.search(r'BLAS_INFO=(\w+)', torch.__config__.show())
    return {'kind': kind, 'libs': libs, 'threads': threads, 'buildBlas': config.group(1) if config else None}


STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
K, D, N, B = 100, 512, 5000, 64
torch.set_num_threads(1)
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
print(json.dumps({'steps': STEPS, 'loopMs': loop_ms, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'blas': loaded_blas()}))
