// Finds image data sets in a workspace by their structure, not by counting files: a folder with two or more
// sub-folders that hold images directly is a labeled image folder (one sub-folder per class), as PyTorch's
// ImageFolder reads it. Only folder listings are read (never an image), so a CIFAR-10-sized tree of 60,000 files
// is found whole, with its train, val and test folders. Pure Node (no vscode), unit-tested on temporary trees.
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** A labeled image folder: its path relative to the root (with /), its class folders and image count. */
export interface ImageFolderFound {
  path: string;
  classes: number;
  images: number;
}

/** Folders never searched: dependencies, VCS, SelMix's own outputs and caches. */
const SKIP = new Set([
  'node_modules',
  '.git',
  '.hg',
  '.svn',
  'selmix-out',
  '.selmix-cache',
  '.selmix-history',
  '__pycache__',
  '.venv',
  'venv',
]);
const IMAGE = /\.(png|jpe?g)$/i;

/** Options of the scan: how deep and how many folders at most (a bound on the time it takes). */
export interface ScanOptions {
  maxDepth?: number;
  maxFolders?: number;
}

/** The labeled image folders under root, sorted by path. */
export function findImageFolders(root: string, opts: ScanOptions = {}): ImageFolderFound[] {
  const maxDepth = opts.maxDepth ?? 6;
  let budget = opts.maxFolders ?? 20_000;
  const found: ImageFolderFound[] = [];
  /** Lists a folder; returns how many images it holds directly. */
  const walk = (dir: string, depth: number): number => {
    if (budget-- <= 0) return 0;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return 0;
    }
    let images = 0;
    const classes: number[] = [];
    for (const e of entries) {
      if (e.isFile() && IMAGE.test(e.name)) images++;
      else if (e.isDirectory() && !SKIP.has(e.name) && depth < maxDepth) {
        const n = walk(join(dir, e.name), depth + 1);
        if (n > 0) classes.push(n);
      }
    }
    if (classes.length >= 2)
      found.push({
        path: relative(root, dir).split(sep).join('/') || '.',
        classes: classes.length,
        images: classes.reduce((a, b) => a + b, 0),
      });
    return images;
  };
  walk(root, 0);
  return found.sort((a, b) => a.path.localeCompare(b.path));
}

/** Ranks folders for a role (train, val or test): names that say so first, then the larger ones. */
export function rankFolders(folders: ImageFolderFound[], role: 'train' | 'val' | 'test'): ImageFolderFound[] {
  const re =
    role === 'train'
      ? /(^|\/)(train|training)[^/]*$/i
      : role === 'val'
        ? /(^|\/)(val|valid|validation|dev)[^/]*$/i
        : /(^|\/)(test|testing|eval)[^/]*$/i;
  return [...folders].sort(
    (a, b) => Number(re.test(b.path)) - Number(re.test(a.path)) || b.images - a.images || a.path.localeCompare(b.path),
  );
}
