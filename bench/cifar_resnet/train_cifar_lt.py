"""Trains a small CIFAR ResNet on CIFAR-10-LT (rho = 100) with plain cross-entropy and exports it to ONNX.

    /usr/bin/python3 bench/cifar_resnet/train_cifar_lt.py --data /work/data --out /tmp/cifar-lt-run \
        [--depth 8] [--epochs 40] [--threads 1] [--onnx bench/cifar_resnet/resnet_cifar10lt.onnx]

The defaults are the settings of the committed resnet_cifar10lt.onnx (ResNet-8: this machine's 2 shared cores); a
deeper net is --depth 14, 20, 32, ... (6n + 2).

--data is a CIFAR-10 folder of JPEGs, `train/<class>/*.jpg` and `test/<class>/*.jpg` (the layout torchvision's
ImageFolder reads). Class index c is the position of the class folder in sorted order (as ImageFolder assigns it).

The split is deterministic and needs no random numbers: in each class folder of train/, the file names are sorted; the
first 100 are the balanced validation set; of the rest (n_max = 4900 for CIFAR-10), class c keeps the next
floor(n_max * rho^(-c/9)) files. The chosen lists are written as `split_train_lt.txt`, `split_val.txt` (paths relative
to train/) so that another tool can rebuild identical folders; `split_test.txt` lists test/ (relative to test/).

Images are decoded with PIL (convert('RGB'), as ImageFolder does), scaled to [0, 1] and normalised with the CIFAR-10
mean/std below. Training: SGD with Nesterov momentum (weight decay on conv and linear weights), a linear warm-up over
the first 5 % of steps then cosine decay, random crop with 4 pixels of zero padding and horizontal flip. The exported model is in eval mode with default export settings (BatchNorm
folded into Conv), input "image" [N, 3, 32, 32] with a dynamic batch, output "logits" [N, 10]. `test_recall.json` holds
PyTorch's own per-class recall of the exported weights on every image of test/, decoded and normalised the same way.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
from PIL import Image
from torch import nn

MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
RHO = 100.0
VAL_PER_CLASS = 100


class Block(nn.Module):
    """Two 3x3 conv-BN layers with a residual; a strided 1x1 conv-BN shortcut where the shape changes."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.shortcut is None else self.shortcut(x)))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs: widths 16, 32, 64; `features` ends at the 64-d pooled vector, `head` is Linear."""

    def __init__(self, depth=20, classes=10):
        super().__init__()
        assert (depth - 2) % 6 == 0, 'depth must be 6n + 2'
        n = (depth - 2) // 6
        layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
        cin = 16
        for i, width in enumerate((16, 32, 64)):
            for j in range(n):
                layers.append(Block(cin, width, 2 if (i > 0 and j == 0) else 1))
                cin = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(64, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x):
        return self.head(self.features(x))


def fail(message):
    """Bad input: the message on stderr, exit code 2."""
    print(f'error: {message}', file=sys.stderr)
    sys.exit(2)


def class_names(folder):
    names = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    if not names:
        fail(f'{folder} has no class folders')
    return names


def list_images(folder, cls):
    return sorted(f for f in os.listdir(os.path.join(folder, cls))
                  if f.lower().endswith(('.jpg', '.jpeg', '.png')))


def build_split(train_dir):
    """(train_lt, val) as lists of (relative path, class index), per the rule in the module doc."""
    names = class_names(train_dir)
    k = len(names)
    if k < 2:
        fail(f'{train_dir}: {k} class folder(s); a long-tailed split needs at least 2')
    per_class = [list_images(train_dir, c) for c in names]
    n_max = min(len(f) for f in per_class) - VAL_PER_CLASS
    if n_max <= 0:
        fail(f'{train_dir}: a class has at most {VAL_PER_CLASS} images, too few for the split')
    train, val = [], []
    for c, files in enumerate(per_class):
        val += [(f'{names[c]}/{f}', c) for f in files[:VAL_PER_CLASS]]
        keep = int(math.floor(n_max * RHO ** (-c / (k - 1)) + 1e-9))
        if keep < 1:
            fail(f'{train_dir}/{names[c]}: rho {RHO:g} leaves no training image of this class (n_max {n_max})')
        train += [(f'{names[c]}/{f}', c) for f in files[VAL_PER_CLASS:VAL_PER_CLASS + keep]]
    return names, train, val, n_max


def load(root, items):
    """Decodes the images with PIL into a uint8 tensor [N, 3, H, W] and a label tensor."""
    arrs = []
    for rel, _ in items:
        path = os.path.join(root, rel)
        try:
            with Image.open(path) as im:
                arrs.append(np.asarray(im.convert('RGB'), dtype=np.uint8))
        except OSError as e:
            fail(f'{path}: not a readable image ({e})')
        if arrs[-1].shape != arrs[0].shape:
            fail(f'{path}: {arrs[-1].shape[1]}x{arrs[-1].shape[0]} pixels, the first image is '
                 f'{arrs[0].shape[1]}x{arrs[0].shape[0]}')
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).contiguous()
    y = torch.tensor([c for _, c in items], dtype=torch.long)
    return x, y


def normalise(x_uint8):
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (x_uint8.float() / 255.0 - mean) / std


def augment(x_uint8, gen):
    """Random crop with 4 pixels of zero padding and a horizontal flip with probability 1/2, per image."""
    n, _, h, w = x_uint8.shape
    padded = nn.functional.pad(x_uint8, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=gen)
    dx = torch.randint(0, 9, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x_uint8)
    for i in range(n):
        crop = padded[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(2) if flip[i] else crop
    return out


@torch.no_grad()
def predict(model, x_uint8, batch=500):
    model.eval()
    return torch.cat([model(normalise(x_uint8[i:i + batch])).argmax(1) for i in range(0, len(x_uint8), batch)])


def recall_report(pred, y, k):
    conf = torch.zeros(k, k, dtype=torch.long)
    for t, p in zip(y.tolist(), pred.tolist()):
        conf[t, p] += 1
    support = conf.sum(1)
    correct = conf.diag()
    recall = (correct.double() / support.double()).tolist()
    return {'recall': recall, 'correct': correct.tolist(), 'support': support.tolist(),
            'meanRecall': sum(recall) / k, 'minRecall': min(recall),
            'accuracy': correct.sum().item() / support.sum().item(), 'confusion': conf.tolist()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--depth', type=int, default=8)
    ap.add_argument('--epochs', type=int, default=40)
    ap.add_argument('--batch', type=int, default=128)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--weight-decay', type=float, default=5e-4)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--limit-steps', type=int, default=0, help='stop each epoch after this many steps (a smoke run)')
    ap.add_argument('--onnx', default=None, help='also copy the exported model here')
    ap.add_argument('--from-checkpoint', default=None, help='skip training: export and evaluate this state_dict')
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_dir, test_dir = os.path.join(args.data, 'train'), os.path.join(args.data, 'test')
    for d in (train_dir, test_dir):
        if not os.path.isdir(d):
            fail(f'{d} is not a folder (expected train/<class>/*.jpg and test/<class>/*.jpg)')
    names, train_items, val_items, n_max = build_split(train_dir)
    test_items = [(f'{c}/{f}', i) for i, c in enumerate(class_names(test_dir)) for f in list_images(test_dir, c)]
    if class_names(test_dir) != names:
        fail(f'{test_dir} class folders differ from {train_dir}')
    counts = [sum(1 for _, c in train_items if c == k) for k in range(len(names))]
    print(f'classes {names}\ntrain-LT counts {counts} (n_max {n_max}, total {sum(counts)}), val {len(val_items)}, '
          f'test {len(test_items)}', flush=True)

    t0 = time.time()
    xtr, ytr = load(train_dir, train_items)
    xva, yva = load(train_dir, val_items)
    xte, yte = load(test_dir, test_items)
    print(f'decoded in {time.time() - t0:.1f} s', flush=True)
    os.makedirs(args.out, exist_ok=True)
    for fname, items in (('split_train_lt.txt', train_items), ('split_val.txt', val_items),
                         ('split_test.txt', test_items)):
        with open(os.path.join(args.out, fname), 'w') as f:
            f.write(''.join(f'{rel}\n' for rel, _ in items))

    model = CifarResNet(args.depth, len(names))
    nparams = sum(p.numel() for p in model.parameters())
    log = []
    if args.from_checkpoint:
        model.load_state_dict(torch.load(args.from_checkpoint))
    else:
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
        opt = torch.optim.SGD([{'params': decay, 'weight_decay': args.weight_decay},
                               {'params': no_decay, 'weight_decay': 0.0}], lr=args.lr, momentum=0.9, nesterov=True)
        steps_per_epoch = math.ceil(len(xtr) / args.batch)
        if args.limit_steps:
            steps_per_epoch = min(steps_per_epoch, args.limit_steps)
        total = steps_per_epoch * args.epochs
        warm = max(1, total // 20)

        def lr_at(step):
            if step < warm:
                return args.lr * (step + 1) / warm
            return 0.5 * args.lr * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

        gen = torch.Generator().manual_seed(args.seed)
        step = 0
        for epoch in range(args.epochs):
            model.train()
            perm = torch.randperm(len(xtr), generator=gen)
            t_ep, loss_sum, seen = time.time(), 0.0, 0
            for s in range(steps_per_epoch):
                idx = perm[s * args.batch:(s + 1) * args.batch]
                xb = normalise(augment(xtr[idx], gen))
                for g in opt.param_groups:
                    g['lr'] = lr_at(step)
                loss = nn.functional.cross_entropy(model(xb), ytr[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                loss_sum += loss.item() * len(idx)
                seen += len(idx)
                step += 1
            val = recall_report(predict(model, xva), yva, len(names))
            entry = {'epoch': epoch + 1, 'loss': loss_sum / seen, 'valMeanRecall': val['meanRecall'],
                     'valMinRecall': val['minRecall'], 'seconds': time.time() - t_ep}
            log.append(entry)
            print(json.dumps(entry), flush=True)
            torch.save(model.state_dict(), os.path.join(args.out, 'checkpoint.pt'))

    model.eval()
    onnx_path = os.path.join(args.out, 'model.onnx')
    torch.onnx.export(model, normalise(xte[:1]), onnx_path, input_names=['image'], output_names=['logits'],
                      dynamic_axes={'image': {0: 'N'}, 'logits': {0: 'N'}}, opset_version=13)
    test = recall_report(predict(model, xte), yte, len(names))
    val = recall_report(predict(model, xva), yva, len(names))
    with torch.no_grad():
        sample_logits = model(normalise(xte[:8])).tolist()
    report = {
        'model': f'ResNet-{args.depth} (CIFAR, widths 16/32/64), {nparams} parameters, plain cross-entropy',
        'torch': torch.__version__, 'classes': names,
        'preprocess': {'decode': 'PIL convert(RGB)', 'scale': '1/255', 'mean': MEAN, 'std': STD},
        'split': {'rho': RHO, 'valPerClass': VAL_PER_CLASS, 'nMax': n_max, 'trainCounts': counts,
                  'rule': 'sorted file names per class: first 100 -> val, next floor(nMax * rho^(-c/9)) -> train'},
        'training': {'epochs': args.epochs, 'batch': args.batch, 'lr': args.lr, 'weightDecay': args.weight_decay,
                     'seed': args.seed, 'augment': 'random crop (pad 4, zeros) + horizontal flip',
                     'limitSteps': args.limit_steps, 'log': log},
        'test': test, 'val': val,
        'sample': {'files': [rel for rel, _ in test_items[:8]], 'logits': sample_logits},
    }
    with open(os.path.join(args.out, 'test_recall.json'), 'w') as f:
        json.dump(report, f, indent=1)
    print(json.dumps({'testMeanRecall': test['meanRecall'], 'testMinRecall': test['minRecall'],
                      'testRecall': [round(r, 4) for r in test['recall']]}), flush=True)
    if args.onnx:
        with open(onnx_path, 'rb') as src, open(args.onnx, 'wb') as dst:
            dst.write(src.read())
        print('wrote', args.onnx)


if __name__ == '__main__':
    main()
