// The image branch of "SelMix: New Config File", as data: the choices a user made (folders, model, preprocessing
// preset, whether to train the whole network) -> the config written. Pure (no vscode), unit-tested.
import type { SelmixConfigInput } from '../core/config';

/** The preprocessing presets of an ONNX model's images (model.preprocess.preset): what the model was trained on. */
export const PREPROCESS_PRESETS = [
  {
    id: 'imagenet',
    label: 'ImageNet',
    detail:
      "torchvision's ImageNet normalisation (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225): most pretrained backbones",
  },
  { id: 'cifar', label: 'CIFAR', detail: 'the CIFAR-10/100 mean and std, common in CIFAR training scripts' },
  { id: 'mnist', label: 'MNIST', detail: 'the MNIST mean and std (0.1307, 0.3081)' },
  { id: 'none', label: 'None', detail: 'pixels in [0, 1] as they are (transforms.ToTensor() only)' },
] as const;

/** A preprocessing preset's id. */
export type PreprocessPreset = (typeof PREPROCESS_PRESETS)[number]['id'];

/** What the user chose in the image branch of the wizard. */
export interface ImageChoices {
  train: string;
  val?: string;
  test?: string;
  model?: string;
  /** For an ONNX model: its preprocessing preset. */
  preset?: PreprocessPreset;
  /** Train the whole network (false: the head only, on the backbone's features). */
  wholeNetwork?: boolean;
}

/** The kind of a model file: ONNX or a tfjs LayersModel. */
export function modelKind(path: string): 'onnx' | 'tfjs' {
  return /\.onnx$/i.test(path) ? 'onnx' : 'tfjs';
}

/** The config of the image branch: the template with the chosen folders, model, preset and what to train. */
export function imageConfig(template: SelmixConfigInput, c: ImageChoices): SelmixConfigInput {
  let model: SelmixConfigInput['model'] | undefined;
  if (c.model) {
    // ONNX models get model.preprocess.preset and model.freezeBackbone (the whole network unless the user said no).
    const freeze = c.wholeNetwork === undefined ? {} : { freezeBackbone: !c.wholeNetwork };
    model =
      modelKind(c.model) === 'onnx'
        ? ({
            kind: 'onnx',
            path: c.model,
            ...(c.preset ? { preprocess: { preset: c.preset } } : {}),
            ...freeze,
          } as unknown as SelmixConfigInput['model'])
        : { kind: 'tfjs', path: c.model, ...freeze };
  }
  return {
    ...template,
    data: { kind: 'images', train: c.train, ...(c.val ? { val: c.val } : {}), ...(c.test ? { test: c.test } : {}) },
    ...(model ? { model } : {}),
  };
}
