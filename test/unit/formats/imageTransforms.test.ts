import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeImage } from '../../../src/data/imageDecode';
import {
  centerCrop,
  resizeBilinear,
  resizedSize,
  roundHalfEven,
  transformedSize,
  type Image8,
} from '../../../src/formats/imageTransforms';

// test/fixtures/images/make_transform_fixtures.py: torchvision 0.14's Resize and CenterCrop on PIL images.
const DIR = join(__dirname, '..', '..', 'fixtures', 'images');
interface Out {
  width: number;
  height: number;
  sha256: string;
  rgb?: string;
}
const fx = JSON.parse(readFileSync(join(DIR, 'transforms.json'), 'utf8')) as {
  plans: string[];
  images: Record<string, Record<string, Out>>;
};

const PLANS: Record<string, (img: Image8) => Image8> = {
  resize256_crop224: (img) => centerCrop(resizeBilinear(img, ...resizedSize(img.height, img.width, 256)), 224, 224),
  resize_31x45: (img) => resizeBilinear(img, 31, 45),
  resize100: (img) => resizeBilinear(img, ...resizedSize(img.height, img.width, 100)),
  crop_pad_280x270: (img) => centerCrop(img, 280, 270),
  crop_odd_101x99: (img) => centerCrop(img, 101, 99),
};

test("Resize (PIL bilinear, antialiased) and CenterCrop give torchvision's exact pixels on every fixture and plan", async () => {
  assert.deepEqual(Object.keys(PLANS).sort(), fx.plans.slice().sort());
  for (const [name, plans] of Object.entries(fx.images)) {
    const d = await decodeImage(join(DIR, name), readFileSync(join(DIR, name)));
    for (const [plan, want] of Object.entries(plans)) {
      const got = PLANS[plan]!(d);
      assert.deepEqual([got.height, got.width], [want.height, want.width], `${name} ${plan} size`);
      if (want.rgb) {
        const ref = Buffer.from(want.rgb, 'base64');
        let max = 0;
        for (let i = 0; i < ref.length; i++) max = Math.max(max, Math.abs(ref[i]! - got.pixels[i]!));
        assert.equal(max, 0, `${name} ${plan}: max difference ${max}`);
      }
      assert.equal(createHash('sha256').update(got.pixels).digest('hex'), want.sha256, `${name} ${plan} bytes`);
    }
  }
});

test('resizedSize follows torchvision: an int is the shorter side, the longer truncated; [H, W] exact; the same size is kept', () => {
  assert.deepEqual(resizedSize(261, 300, 256), [256, 294]);
  assert.deepEqual(resizedSize(333, 257, 256), [331, 256]);
  assert.deepEqual(resizedSize(200, 181, 256), [282, 256]);
  assert.deepEqual(resizedSize(32, 32, 32), [32, 32]);
  assert.deepEqual(resizedSize(10, 20, [7, 9]), [7, 9]);
  assert.deepEqual(
    transformedSize({ resize: 256, centerCrop: [224, 224], mean: [0], std: [1], layout: 'NCHW' }, 500, 375),
    [224, 224],
  );
});

test("roundHalfEven is Python's round (center_crop offsets)", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, 2.4, 2.6, 3].map(roundHalfEven), [0, 2, 2, 0, 2, 3, 3]);
});
