// Differentiable building blocks whose gradients avoid what the wasm backend lacks or does slowly:
// wasm has no Conv2DBackpropFilter kernel, and matMul with transposeA/transposeB runs 30-50x slower
// there than with an explicit tf.transpose (README, "Backends").
import * as tf from '@tensorflow/tfjs';

/** x (N x din) times w (din x dout), with a gradient that uses explicit transposes only. */
export function dense(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
    save([xs, ws]);
    return {
      value: tf.matMul(xs, ws),
      gradFunc: (dy, saved) => {
        const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
        const g = dy as tf.Tensor2D;
        return [tf.matMul(g, tf.transpose(sw)), tf.matMul(tf.transpose(sx), g)];
      },
    };
  });
  return f(x, w) as tf.Tensor2D;
}

/** Explicit (top, bottom, left, right) padding that reproduces tfjs's 'same' or 'valid' for a conv. */
export function convPadding(
  inH: number,
  inW: number,
  kH: number,
  kW: number,
  stride: number,
  padding: 'same' | 'valid',
): [number, number, number, number] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const outH = Math.ceil(inH / stride);
  const outW = Math.ceil(inW / stride);
  const padH = Math.max((outH - 1) * stride + kH - inH, 0);
  const padW = Math.max((outW - 1) * stride + kW - inW, 0);
  const top = Math.floor(padH / 2);
  const left = Math.floor(padW / 2);
  return [top, padH - top, left, padW - left];
}

/**
 * 2-D convolution (NHWC, filter kH x kW x cin x cout) whose filter gradient is itself a forward
 * convolution: dW[kh,kw,ci,co] = sum_{n,oh,ow} x[n, oh*s+kh, ow*s+kw, ci] dy[n,oh,ow,co], i.e. a
 * convolution of x (channels as batch) with dy (batch as input channels) at dilation s. With inputGrad
 * false (the first layer, whose input is data) dL/dx is not computed.
 */
export function conv2d(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  stride: number,
  padding: 'same' | 'valid',
  inputGrad = true,
): tf.Tensor4D {
  const [, inH, inW] = x.shape;
  const [kH, kW] = w.shape;
  const [t, b, l, r] = convPadding(inH, inW, kH, kW, stride, padding);
  const xp =
    t + b + l + r > 0
      ? tf.pad(x, [
          [0, 0],
          [t, b],
          [l, r],
          [0, 0],
        ])
      : x;
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xs, ws, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
    save([xs, ws]);
    return {
      value: tf.conv2d(xs, ws, stride, 'valid'),
      gradFunc: (dyIn, saved) => {
        const [sx, sw] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dy = dyIn as tf.Tensor4D;
        const dx = inputGrad ? inputGradient(dy, sw, sx.shape, stride) : tf.zerosLike(sx);
        const xT = tf.transpose(sx, [3, 1, 2, 0]); // cin x H x W x N
        const dyT = tf.transpose(dy, [1, 2, 0, 3]); // oh x ow x N x cout
        let dw = tf.conv2d(xT, dyT, 1, 'valid', 'NHWC', stride); // cin x H' x W' x cout
        const [, hh, ww] = dw.shape;
        if (hh !== kH || ww !== kW) dw = tf.slice(dw, [0, 0, 0, 0], [-1, kH, kW, -1]);
        return [dx, tf.transpose(dw, [1, 2, 0, 3])];
      },
    };
  });
  return f(xp, w) as tf.Tensor4D;
}

/**
 * dL/dx of a 'valid' convolution. At stride 1 it is a forward convolution of dy, padded by k-1, with the
 * kernel flipped in space and its channel axes swapped (several times faster on wasm than Conv2DBackpropInput).
 */
function inputGradient(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  xShape: [number, number, number, number],
  stride: number,
): tf.Tensor4D {
  if (stride !== 1) return tf.conv2dTranspose(dy, w, xShape, stride, 'valid');
  const [kH, kW] = w.shape;
  const padded = tf.pad(dy, [
    [0, 0],
    [kH - 1, kH - 1],
    [kW - 1, kW - 1],
    [0, 0],
  ]);
  const flipped = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]);
  return tf.conv2d(padded, flipped as tf.Tensor4D, 1, 'valid');
}

/** Mean softmax cross-entropy of logits against integer labels (one-hot built here). */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D, K: number): tf.Scalar {
  const oneHot = tf.oneHot(labels, K).toFloat();
  const logp = tf.logSoftmax(logits);
  return tf.neg(tf.mean(tf.sum(tf.mul(oneHot, logp), 1))) as tf.Scalar;
}
