"""The whole-network SelMix step in PyTorch on the CPU: the peer of the tool's ONNX Runtime network step.

    /usr/bin/python3 bench/torch_network_step.py --net resnet|depthwise|vit [--batch 32] [--steps 20] [--threads 1]
        [--size 32] [--warmup 3] [--json] [--export PATH [--export-opset 17] [--export-folded]]

The nets are test/fixtures/onnx/nets/models.py's (seeded weights, eval mode). One step, as the tool runs it: anchors
and partners through the backbone as one batch of 2B, feature mixup at the head's input with lambda ~ U[0.6, 1] per row,
the linear head, mean cross-entropy on the anchors' labels, backward, SGD (momentum 0.9, weight decay 5e-4 on every
trained parameter, head at lr 0.01, backbone at lr * 0.1), BatchNorm frozen (running statistics, scale and shift not
trained). Inputs are drawn once (seeded) and reused. After `--warmup` untimed steps, `--steps` steps are timed.

Prints msPerStep (mean over the timed steps) and, with --json, one JSON line: msPerStep, medianMs, blas (which BLAS
library the process actually mapped after a matmul: "openblas", "reference", "mkl", "blis" or "unknown", read from
/proc/self/maps), blasThreads (OpenBLAS's own pool, capped at --threads), blasLibs (the mapped paths), mkldnn (whether PyTorch may route convolutions to oneDNN), threads,
torch, net, batch, size, params, peakRssMB. A ratio against PyTorch is only fair when blas is "openblas" (or another
optimised BLAS): Debian's python3-torch takes whatever libblas.so.3 is installed, and the reference BLAS is about
three times slower.

--export PATH writes the same net (same seeded weights, same size) as ONNX: by default opset 17, dynamic batch,
BatchNormalization kept and PyTorch's parameter names as initializer names (do_constant_folding=False,
TrainingMode.PRESERVE); --export-folded uses PyTorch's default export instead (BatchNorm folded into Conv).
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, '..', 'test', 'fixtures', 'onnx', 'nets'))
from models import NETS, build, make_optimizer, mixup_loss, param_count  # noqa: E402
from torch_blas import blas_in_use, set_blas_threads  # noqa: E402

LR, MOMENTUM, WEIGHT_DECAY, BACKBONE_LR_FACTOR = 0.01, 0.9, 5e-4, 0.1


def export(net, path, size, opset, folded):
    sample = torch.randn(2, 3, size, size)
    kwargs = {'input_names': ['image'], 'output_names': ['logits'],
              'dynamic_axes': {'image': {0: 'N'}, 'logits': {0: 'N'}}, 'opset_version': opset}
    if not folded:
        kwargs.update(do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    torch.onnx.export(net, sample, path, **kwargs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--net', required=True, choices=sorted(NETS))
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--json', action='store_true')
    ap.add_argument('--export', default=None)
    ap.add_argument('--export-opset', type=int, default=17)
    ap.add_argument('--export-folded', action='store_true')
    args = ap.parse_args()
    if args.batch < 1 or args.steps < 1 or args.threads < 1 or args.warmup < 0:
        ap.error('--batch, --steps and --threads must be at least 1, --warmup at least 0')
    if args.net == 'vit' and args.size % 4:
        ap.error('--size must be a multiple of 4 (the ViT patch) for --net vit')

    torch.set_num_threads(args.threads)
    blas_threads = set_blas_threads(args.threads)  # torch.set_num_threads does not reach OpenBLAS's pool
    net = build(args.net, args.size)
    if args.export:
        export(build(args.net, args.size), args.export, args.size, args.export_opset, args.export_folded)

    g = torch.Generator().manual_seed(7)
    b = args.batch
    x = torch.randn(b, 3, args.size, args.size, generator=g)
    partners = torch.randn(b, 3, args.size, args.size, generator=g)
    labels = torch.randint(0, 10, (b,), generator=g)
    lam = 0.6 + 0.4 * torch.rand(b, generator=g)
    opt = make_optimizer(net, LR, MOMENTUM, WEIGHT_DECAY, BACKBONE_LR_FACTOR)
    net.eval()  # BatchNorm frozen: running statistics, never updated

    times = []
    for s in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = mixup_loss(net, x, partners, lam, labels)
        loss.backward()
        opt.step()
        if s >= args.warmup:
            times.append((time.perf_counter() - t0) * 1000)
    if not torch.isfinite(loss):
        sys.exit('error: the loss is not finite')

    kind, libs = blas_in_use()
    out = {
        'msPerStep': sum(times) / len(times), 'medianMs': statistics.median(times),
        'blas': kind, 'blasThreads': blas_threads, 'blasLibs': libs, 'mkldnn': bool(torch.backends.mkldnn.is_available() and
                                                       torch.backends.mkldnn.enabled),
        'threads': torch.get_num_threads(), 'torch': torch.__version__,
        'net': args.net, 'batch': b, 'size': args.size, 'steps': args.steps, 'warmup': args.warmup,
        'params': param_count(net), 'finalLoss': loss.item(),
        'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.export:
        out['exported'] = args.export
    print(json.dumps(out) if args.json else f'{args.net} batch {b} size {args.size}: {out["msPerStep"]:.1f} ms/step '
          f'(median {out["medianMs"]:.1f}), BLAS {kind}, {out["threads"]} thread(s), torch {out["torch"]}')


if __name__ == '__main__':
    main()
