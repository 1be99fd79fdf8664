import { initBackend, tf } from '../src/backend/backend';
(async () => {
  await initBackend({ choice: 'wasm' });
  const B = 64, d = 512, K = 100;
  const fA = new Float32Array(B * d).map(Math.random), WA = new Float32Array(d * K).map(Math.random);
  const f = tf.tensor2d(fA, [B, d]); const W = tf.tensor2d(WA, [d, K]);
  const T = (name: string, fn: () => void, it = 400) => { for (let i = 0; i < 50; i++) fn(); const t = performance.now(); for (let i = 0; i < it; i++) fn(); console.log(name.padEnd(44), ((performance.now() - t) / it * 1000).toFixed(0), 'µs'); };
  T('resident f, W', () => tf.matMul(f, W).dispose());
  T('upload f, resident W', () => { const a = tf.tensor2d(fA, [B, d]); tf.matMul(a, W).dispose(); a.dispose(); });
  T('resident f, upload W', () => { const b = tf.tensor2d(WA, [d, K]); tf.matMul(f, b).dispose(); b.dispose(); });
  T('upload both', () => { const a = tf.tensor2d(fA, [B, d]); const b = tf.tensor2d(WA, [d, K]); tf.matMul(a, b).dispose(); a.dispose(); b.dispose(); });
  T('upload both in tidy', () => { tf.tidy(() => tf.matMul(tf.tensor2d(fA, [B, d]), tf.tensor2d(WA, [d, K]))).dispose(); });
  T('upload W only', () => { tf.tensor2d(WA, [d, K]).dispose(); });
  T('upload W, touch (add 0?) no: reshape', () => { const b = tf.tensor2d(WA, [d, K]); tf.reshape(b, [K, d]).dispose(); b.dispose(); });
})();
