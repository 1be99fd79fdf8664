import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findImageFolders, rankFolders } from '../../../src/extension/folderScan';

test('finds class-folder trees by structure, whatever their size: a CIFAR-10-sized tree gives train, val and test', () => {
  const root = mkdtempSync(join(tmpdir(), 'selmix-scan-'));
  try {
    // 10 classes x (5000 train, 100 val, 1000 test) empty "images": 61,000 names, never opened.
    const classes = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    for (const [split, n] of [
      ['train', 5000],
      ['val', 100],
      ['test', 1000],
    ] as const) {
      for (const c of classes) {
        const d = join(root, 'data', 'cifar10', split, c);
        mkdirSync(d, { recursive: true });
        for (let i = 0; i < n; i++) writeFileSync(join(d, `${i}.png`), '');
      }
    }
    // Not data sets: a folder with one class, images at the top, node_modules.
    mkdirSync(join(root, 'docs', 'img', 'only'), { recursive: true });
    writeFileSync(join(root, 'docs', 'img', 'only', 'a.png'), '');
    writeFileSync(join(root, 'logo.png'), '');
    for (const c of ['a', 'b']) {
      mkdirSync(join(root, 'node_modules', 'x', c), { recursive: true });
      writeFileSync(join(root, 'node_modules', 'x', c, '1.jpg'), '');
    }
    const found = findImageFolders(root);
    assert.deepEqual(found, [
      { path: 'data/cifar10/test', classes: 10, images: 10_000 },
      { path: 'data/cifar10/train', classes: 10, images: 50_000 },
      { path: 'data/cifar10/val', classes: 10, images: 1000 },
    ]);
    assert.equal(rankFolders(found, 'train')[0]!.path, 'data/cifar10/train');
    assert.equal(rankFolders(found, 'val')[0]!.path, 'data/cifar10/val');
    assert.equal(rankFolders(found, 'test')[0]!.path, 'data/cifar10/test');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
