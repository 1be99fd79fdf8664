// Decoded pixels against PIL's (the pixels a PyTorch model saw through torchvision's ImageFolder), on real JPEGs:
// the pure-JS fallback (jpeg-js) and sharp (libjpeg-turbo), and the decode speed of each in this process.
//   node --import tsx bench/decodeVsPil.ts [--data /work/data/test] [--per-class 50]
// Needs /usr/bin/python3 with PIL (python3-pil) for the reference pixels (bench/decode_pil.py).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { decode as decodeJpeg } from 'jpeg-js';
import { decodeImage } from '../src/data/imageDecode';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { data: { type: 'string', default: '/work/data/test' }, 'per-class': { type: 'string', default: '50' } },
  });
  const root = resolve(values.data!);
  const per = Number(values['per-class']);
  const files = readdirSync(root)
    .sort()
    .flatMap((c) =>
      readdirSync(join(root, c))
        .filter((f) => /\.jpe?g$/i.test(f))
        .sort()
        .slice(0, per)
        .map((f) => join(root, c, f)),
    );
  const tmp = mkdtempSync(join(tmpdir(), 'selmix-decode-'));
  try {
    writeFileSync(join(tmp, 'list.txt'), files.join('\n'));
    execFileSync(
      '/usr/bin/python3',
      [resolve(__dirname, 'decode_pil.py'), join(tmp, 'list.txt'), join(tmp, 'pil.bin')],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    const pil = readFileSync(join(tmp, 'pil.bin'));
    const bufs = files.map((f) => readFileSync(f));
    const stats = (name: string, images: Uint8Array[], seconds: number): void => {
      let off = 0;
      let n = 0;
      let differ = 0;
      let sum = 0;
      let max = 0;
      let imagesDiffer = 0;
      for (const px of images) {
        let any = false;
        for (let i = 0; i < px.length; i++) {
          const d = Math.abs(px[i]! - pil[off + i]!);
          n++;
          sum += d;
          if (d) {
            differ++;
            any = true;
          }
          if (d > max) max = d;
        }
        if (any) imagesDiffer++;
        off += px.length;
      }
      if (off !== pil.length) throw new Error(`${name}: ${off} bytes decoded, PIL ${pil.length}`);
      process.stdout.write(
        `${name.padEnd(24)} ${files.length} files: ${((100 * differ) / n).toFixed(2)} % of values differ from PIL, mean |diff| ${(sum / n).toFixed(3)}, max ${max}, images with any difference ${imagesDiffer}; ${(files.length / seconds).toFixed(0)} images/s\n`,
      );
    };
    // jpeg-js, as the tool decoded before (RGBA out, alpha dropped).
    let t0 = performance.now();
    const js = bufs.map((b) => {
      const img = decodeJpeg(b, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false });
      const out = new Uint8Array(img.width * img.height * 3);
      for (let i = 0; i < img.width * img.height; i++) out.set(img.data.subarray(4 * i, 4 * i + 3), 3 * i);
      return out;
    });
    stats('jpeg-js (before)', js, (performance.now() - t0) / 1000);
    await decodeImage(files[0]!, bufs[0]!); // load sharp outside the timing
    t0 = performance.now();
    const sh: Uint8Array[] = [];
    for (let i = 0; i < bufs.length; i++) sh.push((await decodeImage(files[i]!, bufs[i]!)).pixels);
    stats('sharp, one at a time', sh, (performance.now() - t0) / 1000);
    t0 = performance.now();
    const par: Uint8Array[] = [];
    for (let i = 0; i < bufs.length; i += 8)
      par.push(
        ...(await Promise.all(bufs.slice(i, i + 8).map((b, j) => decodeImage(files[i + j]!, b)))).map((d) => d.pixels),
      );
    stats('sharp, 8 in flight', par, (performance.now() - t0) / 1000);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

void main();
