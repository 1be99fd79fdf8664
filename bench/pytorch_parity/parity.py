#!/usr/bin/python3
"""`selmix eval` against PyTorch on the same JPEG folders: trains a small CIFAR-10 CNN with torchvision's ImageFolder
(PIL decoding, ToTensor, Normalize with the "cifar" preset's statistics), exports it with torch.onnx.export, computes
PyTorch's per-class test recall, then runs `selmix eval --config <out>/parity.selmix.json --split test --json` on the
exported model and compares per-class correct counts.

  /usr/bin/python3 bench/pytorch_parity/parity.py --data /work/data --out /tmp/parity [--train-per-class 500] [--epochs 2]

Needs python3-torch, python3-torchvision, python3-pil, and a built CLI (node esbuild.mjs).
"""
import argparse
import json
import os
import subprocess
import time

import torch
import torchvision
import torchvision.transforms as T

p = argparse.ArgumentParser()
p.add_argument('--data', default='/work/data')
p.add_argument('--out', default='/tmp/selmix-parity')
p.add_argument('--train-per-class', type=int, default=500)
p.add_argument('--epochs', type=int, default=2)
p.add_argument('--opset', type=int, default=13)
p.add_argument('--fixed-batch', type=int, default=0, help='export with this fixed batch size instead of a dynamic one')
p.add_argument('--test-per-class', type=int, default=0, help='only the first N test images of each class (default: all)')
a = p.parse_args()
torch.set_num_threads(1)
torch.manual_seed(0)
os.makedirs(a.out, exist_ok=True)
MEAN, STD = [0.4914, 0.4822, 0.4465], [0.247, 0.2435, 0.2616]  # the "cifar" preset
tf = T.Compose([T.ToTensor(), T.Normalize(MEAN, STD)])



def subset(split, per_class, name):
    """A folder of symlinks to the first per_class files of each class of a.data/split."""
    out = os.path.join(a.out, name)
    for c in sorted(os.listdir(os.path.join(a.data, split))):
        os.makedirs(os.path.join(out, c), exist_ok=True)
        for f in sorted(os.listdir(os.path.join(a.data, split, c)))[:per_class]:
            dst = os.path.join(out, c, f)
            if not os.path.exists(dst):
                os.symlink(os.path.join(a.data, split, c, f), dst)
    return out


# A training subset (also the config's train split), and the test folder or a subset of it.
sub = subset('train', a.train_per_class, 'train_subset')
test_dir = subset('test', a.test_per_class, 'test_subset') if a.test_per_class else os.path.join(a.data, 'test')
train = torchvision.datasets.ImageFolder(sub, transform=tf)
test = torchvision.datasets.ImageFolder(test_dir, transform=tf)
model = torch.nn.Sequential(
    torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
    torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
t0 = time.time()
saved = os.path.join(a.out, 'model.pt')
if os.path.exists(saved):  # trained by an earlier run with the same --out: reused (to export other opsets or batch sizes)
    model.load_state_dict(torch.load(saved))
    a.epochs = 0
for epoch in range(a.epochs):
    model.train()
    for x, y in torch.utils.data.DataLoader(train, batch_size=64, shuffle=True):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
model.eval()
torch.save(model.state_dict(), saved)
print(f'trained {a.epochs} epochs on {len(train)} images in {time.time() - t0:.1f} s')
K = len(test.classes)
correct, support = [0] * K, [0] * K
with torch.no_grad():
    for x, y in torch.utils.data.DataLoader(test, batch_size=256):
        pred = model(x).argmax(1)
        for yi, pi in zip(y.tolist(), pred.tolist()):
            support[yi] += 1
            correct[yi] += int(yi == pi)
onnx_path = os.path.join(a.out, 'model.onnx')
# The default export: eval mode, so BatchNorm is folded into the convolutions.
torch.onnx.export(model, torch.randn(a.fixed_batch or 1, 3, 32, 32), onnx_path, input_names=['image'], output_names=['logits'],
                  dynamic_axes=None if a.fixed_batch else {'image': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=a.opset)
print(f'exported opset {a.opset}, batch {a.fixed_batch or "dynamic"}')
cfg = {'objective': 'minRecall', 'data': {'kind': 'images', 'train': sub, 'test': test_dir},
       'model': {'kind': 'onnx', 'path': 'model.onnx', 'preprocess': {'preset': 'cifar'}}, 'output': 'out'}
with open(os.path.join(a.out, 'parity.selmix.json'), 'w') as f:
    json.dump(cfg, f, indent=2)
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
t0 = time.time()
r = subprocess.run(['node', os.path.join(root, 'bin', 'selmix.js'), 'eval', '--config', os.path.join(a.out, 'parity.selmix.json'), '--split', 'test', '--json'],
                   capture_output=True, text=True, check=True)
m = json.loads(r.stdout.strip().splitlines()[-1])
print(f'selmix eval took {time.time() - t0:.1f} s')
mine = [round(rec * s) for rec, s in zip(m['recall'], m['support'])]
print('class        support  torch correct  selmix correct  diff')
for k in range(K):
    print(f'{test.classes[k]:<12} {support[k]:>7}  {correct[k]:>13}  {mine[k]:>14}  {mine[k] - correct[k]:>4}')
print(f'torch accuracy {sum(correct) / sum(support):.4f}, selmix accuracy {m["accuracy"]:.4f}, '
      f'max |difference| per class {max(abs(x - y) for x, y in zip(mine, correct))} images, class order equal: {m.get("classNames") == test.classes}')
