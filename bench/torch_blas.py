"""Which BLAS library this PyTorch process actually runs on: the fair-peer check of the benches that time PyTorch.

Debian's python3-torch links libblas.so.3, which the alternatives system points at whatever BLAS is installed: on a fresh
machine the reference (netlib) BLAS, about three times slower than OpenBLAS. `blas_in_use()` runs a matmul and reads
/proc/self/maps, so it reports the library the dynamic loader really mapped, whatever LD_LIBRARY_PATH or the
alternatives say.
"""
import ctypes
import os
import re

import torch


def blas_in_use():
    """(kind, paths): kind is "openblas", "mkl", "blis", "atlas", "reference" or "unknown"; paths are the mapped files."""
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    paths = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6:
                    base = os.path.basename(parts[-1]).lower()
                    if any(k in base for k in ('blas', 'libmkl', 'mkl_rt', 'blis', 'atlas')):
                        paths.add(parts[-1])
    except OSError:
        return 'unknown', []
    # PyTorch calls sgemm_ through the soname libblas.so.3 (the first BLAS in libtorch_cpu's DT_NEEDED), so the file
    # mapped under that name decides; an OpenBLAS pulled in only by liblapack.so.3 does not run PyTorch's matmuls.
    soname = [p for p in paths if os.path.basename(p).startswith('libblas.so')]
    candidates = soname or sorted(paths)
    joined = ' '.join(sorted(set(candidates) | {os.path.realpath(p) for p in candidates})).lower()
    for kind in ('openblas', 'mkl', 'blis', 'atlas'):
        if kind in joined:
            return kind, sorted(paths)
    if soname:
        return 'reference', sorted(paths)  # Debian's netlib BLAS: /usr/lib/<triplet>/blas/libblas.so.3
    return 'unknown', sorted(paths)


def blas_report():
    """blas_in_use() as the benches print it: {kind, libs, threads (OpenBLAS's own, when it is one), buildBlas}."""
    kind, libs = blas_in_use()
    lib = _openblas(libs) if kind == 'openblas' else None
    config = re.search(r'BLAS_INFO=(\w+)', torch.__config__.show())
    return {'kind': kind, 'libs': libs, 'threads': int(lib.openblas_get_num_threads()) if lib else None,
            'buildBlas': config.group(1) if config else None}


def _openblas(paths):
    for p in paths:
        if 'openblas' in os.path.realpath(p).lower():
            try:
                lib = ctypes.CDLL(p)
                lib.openblas_get_num_threads  # noqa: B018 (raises AttributeError when absent)
                return lib
            except (OSError, AttributeError):
                continue
    return None


def set_blas_threads(n):
    """Caps OpenBLAS's own thread pool at n: torch.set_num_threads does not reach it in Debian's python3-torch (built
    with BLAS_INFO=generic), so a "1 thread" PyTorch would otherwise run its matmuls on every core. Returns the
    OpenBLAS thread count now in force, or None when the BLAS is not OpenBLAS."""
    kind, paths = blas_in_use()
    lib = _openblas(paths) if kind == 'openblas' else None
    if lib is None:
        return None
    lib.openblas_set_num_threads(int(n))
    return int(lib.openblas_get_num_threads())
