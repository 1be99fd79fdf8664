"""Which BLAS library this PyTorch process actually runs on: the fair-peer check of the benches that time PyTorch.

Debian's python3-torch links libblas.so.3, which the alternatives system points at whatever BLAS is installed: on a fresh
machine the reference (netlib) BLAS, about three times slower than OpenBLAS. `blas_in_use()` runs a matmul and reads
/proc/self/maps, so it reports the library the dynamic loader really mapped, whatever LD_LIBRARY_PATH or the
alternatives say.
"""
import os

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
    joined = ' '.join(sorted(paths | {os.path.realpath(p) for p in paths})).lower()
    if 'openblas' in joined:
        return 'openblas', sorted(paths)
    for kind in ('mkl', 'blis', 'atlas'):
        if kind in joined:
            return kind, sorted(paths)
    if any(os.path.basename(os.path.realpath(p)).startswith('libblas.so') for p in paths):
        return 'reference', sorted(paths)  # Debian's netlib BLAS: /usr/lib/<triplet>/blas/libblas.so.3
    return 'unknown', sorted(paths)


def blas_report():
    """blas_in_use() as the benches print it: {kind, libs, threads (OpenBLAS's own, when it is one), buildBlas}."""
    import ctypes
    import re

    kind, libs = blas_in_use()
    threads = None
    if kind == 'openblas':
        for lib in libs:
            if 'openblas' in os.path.basename(os.path.realpath(lib)):
                try:
                    threads = int(ctypes.CDLL(lib).openblas_get_num_threads())
                except (OSError, AttributeError):
                    pass
                break
    config = re.search(r'BLAS_INFO=(\w+)', torch.__config__.show())
    return {'kind': kind, 'libs': libs, 'threads': threads, 'buildBlas': config.group(1) if config else None}
