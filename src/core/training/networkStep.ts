// The seam between the loop and a whole-network trainer that runs outside tfjs (ONNX Runtime's training graphs, built
// by
// src/backend/onnxNetworkStep.ts): the loop hands it image rows and mixup weights, and it keeps the parameters and
// their
// momentum between steps; sync() writes them into the loop's variables (checkpoints, best weights, refreshes read
// those), reload() reads them back (after a restore).
import type { Variable } from '@tensorflow/tfjs';

/**
 * One whole-network step's batch: B anchor images and B partner images (rows, flat), their lambda and the anchors'
 * labels.
 */
export interface NetworkBatch {
  xa: Float32Array;
  xp: Float32Array;
  lam: Float32Array;
  ya: Int32Array;
  /**
   * Soft targets (B x K, each row summing to 1) when xa is already mixed (CutMix, PuzzleMix): xp and lam are then
   * unused and the step runs one backbone pass of the B images.
   */
  y?: Float32Array;
}

/**
 * The step's hyper-parameters: the head's learning rate, momentum, weight decay and the backbone's learning-rate
 * factor.
 */
export interface NetworkStepParams {
  lr: number;
  momentum: number;
  wd: number;
  backboneLrFactor: number;
}

/** A whole-network trainer bound to the loop's variables ([W, b, ...backbone]) and momentum buffers. */
export interface NetworkTrainer {
  /** One SGD step; returns the batch's loss before the update. With lr 0 nothing changes. */
  step(batch: NetworkBatch, p: NetworkStepParams): number;
  /** Writes the parameters and momentum into the loop's variables. */
  sync(): void;
  /** Reads the parameters and momentum back from the loop's variables. */
  reload(): void;
  /**
   * The gradient of each image's cross-entropy with its label with respect to the image (n images, flat, the model's
   * layout), at the current parameters: the saliency of PuzzleMix-style mixing.
   */
  saliency?(x: Float32Array, y: Int32Array): Float32Array;
  /** The current parameters in the loop's order and layout ([W (d x K), b, ...backbone]), not copies: read only. */
  values?(): Float32Array[];
  dispose?(): void;
}

/** Makes a trainer for the loop's variables ([W, b, ...backbone.variables]) and their momentum buffers (same order). */
export type NetworkTrainerFactory = (vars: Variable[], momentum: Variable[]) => NetworkTrainer;
