// Round 3 of the bad-input corpus (issue 23), written from the descriptions: ONNX models (external data,
// tensors, what ONNX Runtime refuses), the user's own files in the output folder, split classes matched by name,
// image and tensor bounds, names and links in image folders, temperature overflow, everywhere-undefined objectives.
// corpus.ts appends these cases to CASES; they are built and run like every other case.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { deflateSync } from 'node:zlib';
import type { CorpusCase, Fragment } from './corpus';
import { baseNpy, CONFIG, configRuns, finetune, goodConfig, imageFolder, lineOf, write, writeConfig } from './corpus';
import { bytesOf, externalize, initializer, mlpProto } from './onnxModels';
import { floatTensor, modelOf, node, valueInfo, type OnnxModelProto } from '../../src/formats/onnx/proto';

const MODEL = 'models/mlp.onnx';
const modelFile = `{dir}/${MODEL}`;

/** The npy data of the corpus with an ONNX model (the MLP, or an edited one) at models/mlp.onnx. */
function onnxCase(dir: string, m: OnnxModelProto, cfg: Record<string, unknown> = {}): void {
  baseNpy(dir);
  write(join(dir, MODEL), bytesOf(m));
  writeConfig(dir, { ...goodConfig(), model: { kind: 'onnx', path: MODEL }, ...cfg });
}

/** A model case that must fail as a data error naming the model file and these fragments, from finetune and eval. */
function modelError(
  id: string,
  what: string,
  edit: (m: OnnxModelProto, dir: string) => OnnxModelProto | void,
  fragments: Fragment[],
): CorpusCase {
  return {
    id,
    group: 'model',
    what,
    build: (dir) => {
      const m = mlpProto();
      onnxCase(dir, edit(m, dir) ?? m);
    },
    cli: configRuns([modelFile, ...fragments], true),
    engine: { ok: false, kind: 'data', message: [modelFile, ...fragments] },
  };
}

/** Sets float32 value i of an initializer's raw data. */
function poke(m: OnnxModelProto, name: string, i: number, v: number): void {
  const t = initializer(m, name);
  new DataView(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.byteLength).setFloat32(i * 4, v, true);
}

/** CRC-32 (ISO-HDLC) as PNG chunks need it. */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/** A valid grayscale PNG of w x h black pixels: small on disk (it deflates to almost nothing), w x h bytes decoded. */
function blackPng(w: number, h: number): Uint8Array {
  const chunk = (type: string, data: Uint8Array): Buffer => {
    const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    td.copy(out, 4);
    out.writeUInt32BE(crc32(td), 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // grayscale
  const raw = Buffer.alloc((w + 1) * h); // every row: filter byte 0, then w zero pixels
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/** An ONNX model for 1x4x4 images (NCHW): Flatten, then a Gemm head of 3 classes. */
function imageModel(): OnnxModelProto {
  const W = Float32Array.from({ length: 3 * 16 }, (_, i) => ((i * 37) % 11) / 11 - 0.5);
  return modelOf({
    name: 'corpus_image_model',
    node: [
      { ...node('Flatten', ['x'], ['f'], { axis: 1 }, ['axis']), name: 'flatten' },
      { ...node('Gemm', ['f', 'W', 'b'], ['logits'], { transB: 1 }, ['transB']), name: 'head' },
    ],
    initializer: [floatTensor('W', [3, 16], W), floatTensor('b', [3], new Float32Array(3))],
    input: [valueInfo('x', ['N', 1, 4, 4])],
    output: [valueInfo('logits', ['N', 3])],
  });
}

/** Image folders train/val of classes a, b, c (4x4 grayscale), val's classes as given. */
function imageSplits(dir: string, valClasses: string[]): void {
  imageFolder(join(dir, 'images', 'train'), ['a', 'b', 'c'], 4, 11);
  imageFolder(join(dir, 'images', 'val'), valClasses, 2, 51);
}

/** The image config with an ONNX model for 4x4 images. */
function onnxImageConfig(
  extra: Record<string, unknown> = {},
  model: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 'corpus onnx images',
    objective: 'meanRecall',
    data: { kind: 'images', train: 'images/train', val: 'images/val', grayscale: true, ...extra },
    model: { kind: 'onnx', path: 'models/img.onnx', preprocess: { preset: 'none' }, ...model },
    training: { steps: 10, batchSize: 4, refreshEvery: 5 },
    output: 'out',
  };
}

/** A check that a finished run wrote its report and marker into dir/out. */
function wroteRun(dir: string): void {
  for (const f of ['report.json', '.selmix-run.json'])
    if (!existsSync(join(dir, 'out', f))) throw new Error(`no out/${f}`);
}

/** wroteRun, and the report's objective before and after is a number. */
function finiteRun(dir: string): void {
  wroteRun(dir);
  const r = JSON.parse(readFileSync(join(dir, 'out', 'report.json'), 'utf8')) as {
    summary: { after: { objectiveValue: unknown } };
  };
  if (typeof r.summary.after.objectiveValue !== 'number' || !Number.isFinite(r.summary.after.objectiveValue))
    throw new Error(`after.objectiveValue = ${r.summary.after.objectiveValue}`);
}

/** The cases of round 3. */
export function round3Cases(): CorpusCase[] {
  // Read here, not at load: corpus.ts imports this module before its own constants are set.
  const cfgFile = `{dir}/${CONFIG}`;
  return [
    // 1. ONNX external data: the model's folder only.
    {
      id: 'onnx-external-ok',
      group: 'model',
      what: "an ONNX initializer in external data beside the model: read from the model's folder, trained, model.onnx written whole",
      build: (dir) => {
        const m = mlpProto();
        write(join(dir, 'models', 'w1.bin'), externalize(m, 'W1', 'w1.bin'));
        onnxCase(dir, m);
      },
      cli: [{ argv: finetune, exit: 0, stderr: [], check: wroteRun }],
      engine: { ok: true, check: wroteRun },
    },
    modelError(
      'onnx-external-not-in-model-folder',
      'external data "w1.bin" missing from the model\'s folder while the config\'s folder (and the working directory) holds a decoy w1.bin',
      (m, dir) => {
        const raw = externalize(m, 'W1', 'w1.bin');
        write(join(dir, 'w1.bin'), raw);
      },
      [
        'initializer "W1" keeps its data in an external file "w1.bin"',
        (dir) => `${dir}/models/w1.bin cannot be read (ENOENT); it is looked up in the model's folder`,
      ],
    ),
    modelError(
      'onnx-external-dotdot',
      'external data at "../w1.bin" (outside the model\'s folder, the file exists there)',
      (m, dir) => {
        write(join(dir, 'w1.bin'), externalize(m, 'W1', '../w1.bin'));
      },
      ['"../w1.bin"', "leads out of the model's folder"],
    ),
    modelError(
      'onnx-external-absolute',
      'external data at an absolute path (the file exists there)',
      (m, dir) => {
        write(join(dir, 'w1.bin'), externalize(m, 'W1', join(dir, 'w1.bin')));
      },
      ['the location is an absolute path'],
    ),
    modelError(
      'onnx-external-link-out',
      'external data "w1.bin" in the model\'s folder is a symbolic link to a file outside it',
      (m, dir) => {
        write(join(dir, 'secret', 'w1.bin'), externalize(m, 'W1', 'w1.bin'));
        mkdirSync(join(dir, 'models'), { recursive: true });
        symlinkSync(join('..', 'secret', 'w1.bin'), join(dir, 'models', 'w1.bin'));
      },
      ['is a link to', "outside the model's folder"],
    ),
    modelError(
      'onnx-external-short',
      "an external data file shorter than the tensor's dims need",
      (m, dir) => {
        write(join(dir, 'models', 'w1.bin'), externalize(m, 'W1', 'w1.bin').subarray(0, 100));
      },
      ['holds 100 bytes; the tensor needs 192 from offset 0'],
    ),
    modelError(
      'onnx-external-length-mismatch',
      'external data whose "length" disagrees with the tensor\'s dims',
      (m, dir) => {
        write(join(dir, 'models', 'w1.bin'), externalize(m, 'W1', 'w1.bin', { length: '96' }));
      },
      ['its length is 96 bytes, but dims [8, 6] of this type take 192'],
    ),
    // 6. The model validated at load: tensors, and what ONNX Runtime refuses.
    modelError(
      'onnx-nan-initializer',
      'a NaN in a backbone initializer: named as such, not "the weights have diverged"',
      (m) => poke(m, 'W1', 3, Number.NaN),
      ['initializer "W1" holds NaN at index 3', 'not finite'],
    ),
    modelError('onnx-inf-head', "an infinity in the head's weight", (m) => poke(m, 'W2', 7, Number.POSITIVE_INFINITY), [
      'initializer "W2" holds Infinity at index 7',
    ]),
    modelError(
      'onnx-raw-data-short',
      'an initializer whose raw data is shorter than its dims',
      (m) => {
        const t = initializer(m, 'W1');
        t.rawData = t.rawData!.subarray(0, 100);
      },
      ['initializer "W1" has 100 bytes of raw data, but dims [8, 6] of its type take 192'],
    ),
    modelError(
      'onnx-negative-dims',
      'an initializer with a negative dimension',
      (m) => {
        initializer(m, 'W1').dims = [8, -6];
      },
      ['initializer "W1" has dims [8, -6]', 'negative'],
    ),
    modelError(
      'onnx-absurd-dims',
      'an initializer of 80000 x 600000 (absurd dims)',
      (m) => {
        initializer(m, 'W1').dims = [80000, 600000];
      },
      ['initializer "W1" has dims [80000, 600000]', 'more than an ONNX model can hold'],
    ),
    modelError(
      'onnx-unknown-op',
      'an op ONNX Runtime does not know',
      (m) => {
        m.graph!.node![1]!.opType = 'Frobnicate';
      },
      ['ONNX Runtime cannot load this model', 'Frobnicate'],
    ),
    modelError(
      'onnx-unknown-domain',
      'an op in a domain the model does not import',
      (m) => {
        m.graph!.node![1]!.domain = 'com.example';
      },
      ['ONNX Runtime cannot load this model', 'com.example'],
    ),
    modelError('onnx-opset-too-new', 'a model stamped with opset 99', () => mlpProto({ opset: 99 }), [
      'ONNX Runtime cannot load this model',
      'Opset 99',
    ]),
    modelError(
      'onnx-ir-too-new',
      'a model of IR version 99',
      (m) => {
        m.irVersion = 99;
      },
      ['ONNX Runtime cannot load this model', 'IR version: 99'],
    ),
    modelError(
      'onnx-head-width-0',
      'a head of width 0 (K = 0)',
      (m) => {
        for (const n of ['W2', 'b2']) {
          initializer(m, n).rawData = new Uint8Array(0);
        }
        initializer(m, 'W2').dims = [0, 6];
        initializer(m, 'b2').dims = [0];
      },
      ['head node "head"', 'a head needs at least one feature and one class'],
    ),
    modelError(
      'onnx-subgraph-invalid',
      'an If node whose else branch holds an unknown op (found at load, not after training)',
      (m) => {
        const g = m.graph!;
        const branch = (op: string, name: string) => ({
          name,
          node: [{ ...node(op, ['hr'], [`${name}_out`]), name: `${name}_node` }],
          output: [valueInfo(`${name}_out`, ['N', 6])],
        });
        g.initializer!.push({ name: 'cond', dims: [], dataType: 9, rawData: Uint8Array.of(1) });
        g.node!.splice(2, 0, {
          name: 'branch',
          opType: 'If',
          input: ['cond'],
          output: ['hb'],
          attribute: [
            { name: 'then_branch', type: 5, g: branch('Identity', 'then') } as never,
            { name: 'else_branch', type: 5, g: branch('Frobnicate', 'else') } as never,
          ],
        });
        g.node![3]!.input = ['hb', 'W2', 'b2'];
      },
      ['ONNX Runtime cannot load this model', 'Frobnicate'],
    ),
    // 2. The user's own files in the output folder.
    {
      id: 'output-user-files',
      group: 'output',
      what: 'model.path "models/resnet.onnx" with output "models", which holds the user\'s own model.onnx, W.npy and report.json',
      build: (dir) => {
        baseNpy(dir);
        write(join(dir, 'models', 'resnet.onnx'), bytesOf(mlpProto()));
        write(join(dir, 'models', 'model.onnx'), bytesOf(mlpProto({ seed: 9 })));
        write(join(dir, 'models', 'W.npy'), readFileSync(join(dir, 'W.npy')));
        write(join(dir, 'models', 'report.json'), '{"my": "notes"}\n');
        writeConfig(dir, { ...goodConfig(), model: { kind: 'onnx', path: 'models/resnet.onnx' }, output: 'models' });
      },
      cli: configRuns([
        cfgFile,
        (dir) => `line ${lineOf(dir, '"output"')}:`,
        'output: ',
        (dir) => `${dir}/models/report.json, which this run would replace`,
        'no SelMix run wrote that folder',
      ]),
      engine: { ok: false, kind: 'config', message: [cfgFile, 'which this run would replace'] },
    },
    {
      id: 'output-user-head',
      group: 'output',
      what: "an output folder holding the user's W.npy and b.npy (not inputs of this run)",
      build: (dir) => {
        baseNpy(dir);
        write(join(dir, 'mine', 'W.npy'), readFileSync(join(dir, 'W.npy')));
        write(join(dir, 'mine', 'b.npy'), readFileSync(join(dir, 'b.npy')));
        writeConfig(dir, { ...goodConfig(), output: 'mine' });
      },
      cli: configRuns([cfgFile, (dir) => `${dir}/mine/W.npy, which this run would replace`]),
      engine: { ok: false, kind: 'config', message: [(dir) => `${dir}/mine/W.npy, which this run would replace`] },
    },
    {
      id: 'output-user-model-folder',
      group: 'output',
      what: "an output folder holding the user's own model/ folder",
      build: (dir) => {
        baseNpy(dir);
        write(join(dir, 'out', 'model', 'keep.txt'), 'mine\n');
      },
      cli: configRuns([cfgFile, (dir) => `${dir}/out/model, which this run would replace`]),
      engine: { ok: false, kind: 'config', message: [(dir) => `${dir}/out/model, which this run would replace`] },
    },
    {
      id: 'output-earlier-run-legacy',
      group: 'output',
      what: 'an output folder of a run made before the run marker (its report.json has a summary and a snapshot): replaced, marker added',
      build: (dir) => {
        baseNpy(dir);
        write(
          join(dir, 'out', 'report.json'),
          JSON.stringify({
            summary: { runId: 'r1', reportPath: join(dir, 'out', 'report.json') },
            snapshot: { history: [] },
          }),
        );
        write(join(dir, 'out', 'W.npy'), readFileSync(join(dir, 'W.npy')));
      },
      cli: [{ argv: finetune, exit: 0, stderr: [], check: wroteRun }],
      engine: { ok: true, check: wroteRun },
    },
    {
      id: 'output-outside-config-folder',
      group: 'output',
      what: 'output "../<case>-elsewhere" from the CLI: allowed, said in the first lines and in report.json',
      build: (dir) => {
        baseNpy(dir);
        writeConfig(dir, { ...goodConfig(), output: `../${basename(dir)}-elsewhere` });
      },
      cli: [
        {
          argv: finetune,
          exit: 0,
          stderr: ['warning: the output folder', "is outside the config's folder"],
          check: (dir) => {
            const first = readFileSync(join(`${dir}-elsewhere`, 'report.json'), 'utf8');
            if (!JSON.parse(first).outputOutsideConfigFolder)
              throw new Error("report.json does not say the output is outside the config's folder");
          },
        },
      ],
      engine: {
        ok: true,
        check: (dir) => {
          if (!JSON.parse(readFileSync(join(`${dir}-elsewhere`, 'report.json'), 'utf8')).outputOutsideConfigFolder)
            throw new Error('not in report.json');
        },
      },
    },
    // 5. Split classes matched by name.
    ...(
      [
        [
          'images-val-class-renamed',
          "validation folders a, b, d against train's a, b, c (d's images would be scored as c)",
          ['a', 'b', 'd'],
          'val/c',
          'class folder "c" is missing',
        ],
        [
          'images-val-class-missing',
          "validation folders a, b against train's a, b, c (the rest would shift)",
          ['a', 'b'],
          'val/c',
          'class folder "c" is missing',
        ],
        [
          'images-val-class-extra',
          "validation folders a, b, c, d against train's a, b, c",
          ['a', 'b', 'c', 'd'],
          'val/d',
          'class folder "d" is not one of the classes "a", "b", "c"',
        ],
      ] as const
    ).map(([id, what, val, folder, msg]): CorpusCase => ({
      id,
      group: 'images',
      what,
      build: (dir) => {
        imageSplits(dir, [...val]);
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig());
      },
      cli: configRuns([`{dir}/images/${folder}`, msg, 'from the training folder']),
      engine: { ok: false, kind: 'data', message: [`{dir}/images/${folder}`, msg] },
    })),
    {
      id: 'images-classes-extra-folder',
      group: 'images',
      what: 'data.classes a, b while train holds a, b, c',
      build: (dir) => {
        imageSplits(dir, ['a', 'b']);
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig({ classes: ['a', 'b'] }));
      },
      cli: configRuns([
        '{dir}/images/train/c',
        'class folder "c" is not one of the classes "a", "b" (from data.classes in',
      ]),
      engine: { ok: false, kind: 'data', message: ['{dir}/images/train/c', 'from data.classes'] },
    },
    // 4. Bounds before allocation.
    {
      id: 'images-pixel-bomb',
      group: 'images',
      what: 'a valid 8192 x 8192 PNG (a few KB on disk, 64 MiB decoded) among 4x4 images: refused from its header',
      build: (dir) => {
        imageSplits(dir, ['a', 'b', 'c']);
        write(join(dir, 'images', 'train', 'b', 'bomb.png'), blackPng(8192, 8192));
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig());
      },
      cli: configRuns([
        '{dir}/images/train/b/bomb.png',
        'is 8192 x 8192 pixels',
        'over the limit of 33554432 pixels per image (data.maxImagePixels)',
      ]),
      engine: { ok: false, kind: 'data', message: ['{dir}/images/train/b/bomb.png', 'data.maxImagePixels'] },
    },
    {
      id: 'images-max-pixels-lowered',
      group: 'images',
      what: "data.maxImagePixels 10 with 4x4 images: the config's limit is the one applied",
      build: (dir) => {
        imageSplits(dir, ['a', 'b', 'c']);
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig({ maxImagePixels: 10 }));
      },
      cli: configRuns([
        '{dir}/images/train/a/0.png',
        'is 4 x 4 pixels (16, 1 channel(s)), over the limit of 10 pixels',
      ]),
      engine: { ok: false, kind: 'data', message: ['{dir}/images/train/a/0.png', 'over the limit of 10 pixels'] },
    },
    {
      id: 'images-preprocess-size-huge',
      group: 'images',
      what: 'model.preprocess.size [8192, 8192] on 4x4 images',
      build: (dir) => {
        imageSplits(dir, ['a', 'b', 'c']);
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig({}, { preprocess: { size: [8192, 8192] } }));
      },
      cli: configRuns([
        cfgFile,
        (dir) => `line ${lineOf(dir, '"size"')}:`,
        'model.preprocess.size: resizes every image to 8192 x 8192',
        'over data.maxImagePixels',
      ]),
      engine: { ok: false, kind: 'config', message: [cfgFile, 'model.preprocess.size', 'over data.maxImagePixels'] },
    },
    // 7. Names and links in image folders.
    {
      id: 'images-name-not-utf8',
      group: 'images',
      what: 'an image whose file name is Latin-1 (not UTF-8)',
      build: (dir) => {
        imageSplits(dir, ['a', 'b', 'c']);
        writeFileSync(
          Buffer.concat([
            Buffer.from(join(dir, 'images', 'train', 'a') + '/caf'),
            Buffer.from([0xe9]),
            Buffer.from('.png'),
          ]),
          readFileSync(join(dir, 'images', 'train', 'a', '0.png')),
        );
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig());
      },
      cli: configRuns(['{dir}/images/train/a', 'holds "caf\\xe9.png", a name that is not valid UTF-8']),
      engine: { ok: false, kind: 'data', message: ['{dir}/images/train/a', 'not valid UTF-8'] },
    },
    {
      id: 'images-link-loop',
      group: 'images',
      what: 'a class folder holding a symbolic link to its parent (a loop)',
      build: (dir) => {
        imageSplits(dir, ['a', 'b', 'c']);
        symlinkSync('..', join(dir, 'images', 'train', 'b', 'up'));
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig());
      },
      cli: configRuns(['{dir}/images/train/b/up/b', 'a link loop']),
      engine: { ok: false, kind: 'data', message: ['{dir}/images/train/b/up/b', 'a link loop'] },
    },
    {
      id: 'images-link-self',
      group: 'images',
      what: 'a link in a class folder that points to itself',
      build: (dir) => {
        imageSplits(dir, ['a', 'b', 'c']);
        symlinkSync('self.png', join(dir, 'images', 'train', 'c', 'self.png'));
        write(join(dir, 'models', 'img.onnx'), bytesOf(imageModel()));
        writeConfig(dir, onnxImageConfig());
      },
      cli: configRuns(['{dir}/images/train/c/self.png', 'leads back to itself']),
      engine: { ok: false, kind: 'data', message: ['{dir}/images/train/c/self.png', 'leads back to itself'] },
    },
    // 7. Overflow and everywhere-undefined objectives.
    {
      id: 'config-temperature-1e308',
      group: 'config',
      what: 'selmix.temperature 1e308: computed safely (no NaN in P), the run finishes',
      build: (dir) => {
        baseNpy(dir);
        writeConfig(dir, { ...goodConfig(), selmix: { temperature: 1e308 } });
      },
      cli: [{ argv: finetune, exit: 0, stderr: [], check: finiteRun }],
      engine: { ok: true, check: finiteRun },
    },
    ...(
      [
        ['config-objective-div-zero', 'a custom objective divided by 0 everywhere', 'min(recall) / 0'],
        ['config-objective-log-zero', 'a custom objective that is log(0) everywhere', 'log(0 * min(recall))'],
        [
          'config-objective-sqrt-negative',
          'a custom objective that is the square root of a negative everywhere',
          'sqrt(-1 - min(recall))',
        ],
        ['config-objective-exp-overflow', 'a custom objective that overflows everywhere', 'exp(1000 + min(recall))'],
      ] as const
    ).map(([id, what, expression]): CorpusCase => ({
      id,
      group: 'config',
      what,
      build: (dir) => {
        baseNpy(dir);
        writeConfig(dir, { ...goodConfig(), customObjective: { expression } });
      },
      cli: configRuns([
        cfgFile,
        (dir) => `line ${lineOf(dir, '"expression"')}:`,
        'customObjective.expression: ',
        'is not finite at any confusion matrix tried',
      ]),
      engine: { ok: false, kind: 'config', message: [cfgFile, 'undefined everywhere'] },
    })),
  ];
}
