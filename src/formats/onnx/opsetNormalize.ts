// The forward nodes of a model, rewritten into their opset-17 forms so the training graph is emitted at one opset:
// axes and split sizes that were attributes before opset 13 become inputs (and opset 18's axes inputs of ReduceMean
// become attributes again), Softmax before 13 (coerced to 2-D at its axis) becomes a Softmax on the last axis, Dropout
// becomes Identity (inference), Clip before 11 gets its bounds as inputs, BatchNormalization keeps its inference form,
// and every MaxPool gets its Indices output (its gradient scatters through them). Pure: shapes and int values come in.
import type { OnnxNode } from './proto';
import { ai, aints, attrFloat, attrInt, attrInts, withAttrs, numel, type GraphBuilder } from './graph';

/** The opset the training graphs are emitted at. */
export const TRAINING_OPSET = 17;

/** Rewrites nodes of a model at `opset` into opset-17 forms; new constants go to b. */
export function normaliseNodes(
  nodes: OnnxNode[],
  opset: number,
  b: GraphBuilder,
  shape: (name: string) => number[],
  ints: (name: string) => number[] | null,
): OnnxNode[] {
  const out: OnnxNode[] = [];
  for (const n of nodes) {
    const op = n.opType ?? '';
    const ins = n.input ?? [];
    if ((n.domain ?? '') !== '') {
      out.push(n);
      continue;
    }
    switch (op) {
      case 'Dropout':
        out.push({ ...n, opType: 'Identity', input: [ins[0]!], output: [n.output![0]!], attribute: [] });
        break;
      case 'Squeeze':
      case 'Unsqueeze':
      case 'ReduceSum': {
        const axes = attrInts(n, 'axes', null);
        if (opset < 13 && axes) out.push({ ...withAttrs(n, {}, ['axes']), input: [ins[0]!, b.constI(axes)] });
        else out.push(n);
        break;
      }
      case 'ReduceMean': {
        if (opset >= 18 && ins[1]) {
          const axes = ints(ins[1]);
          if (!axes) throw new Error(`node "${n.name}" (ReduceMean): its axes are not a constant`);
          out.push({ ...withAttrs(n, { axes: aints(axes) }), input: [ins[0]!] });
        } else out.push(n);
        break;
      }
      case 'Split': {
        if (opset < 13 || opset >= 18) {
          const rank = shape(ins[0]!).length;
          const a0 = attrInt(n, 'axis', 0);
          const axis = a0 < 0 ? a0 + rank : a0;
          const sizes = n.output!.map((o) => shape(o)[axis]!);
          out.push({ ...withAttrs(n, {}, ['split', 'num_outputs']), input: [ins[0]!, b.constI(sizes)] });
        } else out.push(n);
        break;
      }
      case 'Softmax':
      case 'LogSoftmax': {
        if (opset >= 13) {
          out.push(n);
          break;
        }
        const s = shape(ins[0]!);
        const a0 = attrInt(n, 'axis', 1);
        const axis = a0 < 0 ? a0 + s.length : a0;
        if (axis === s.length - 1) {
          out.push(withAttrs(n, { axis: ai(-1) }));
          break;
        }
        // Before opset 13 the input is coerced to 2-D at the axis: a softmax over all the trailing axes together.
        const flat = b.reshape(ins[0]!, [numel(s.slice(0, axis)), numel(s.slice(axis))]);
        const y = b.fresh('softmax2d');
        out.push(...b.nodes.splice(0));
        out.push({ ...withAttrs(n, { axis: ai(-1) }), input: [flat], output: [y] });
        const back = b.op('Reshape', [y, b.constI(s)], {}, n.output![0]!);
        void back;
        out.push(...b.nodes.splice(0));
        break;
      }
      case 'Clip': {
        if (opset >= 11) {
          out.push(n);
          break;
        }
        const lo = attrFloat(n, 'min', Number.NEGATIVE_INFINITY);
        const hi = attrFloat(n, 'max', Number.POSITIVE_INFINITY);
        out.push({
          ...withAttrs(n, {}, ['min', 'max']),
          input: [ins[0]!, Number.isFinite(lo) ? b.constF([lo]) : '', Number.isFinite(hi) ? b.constF([hi]) : ''],
        });
        break;
      }
      case 'Slice': {
        if (opset >= 10) {
          out.push(n);
          break;
        }
        const starts = attrInts(n, 'starts', null) ?? [];
        const ends = attrInts(n, 'ends', null) ?? [];
        const axes = attrInts(n, 'axes', null) ?? starts.map((_, i) => i);
        out.push({
          ...withAttrs(n, {}, ['starts', 'ends', 'axes']),
          input: [ins[0]!, b.constI(starts), b.constI(ends), b.constI(axes)],
        });
        break;
      }
      case 'Pad': {
        if (opset >= 11) {
          out.push(n);
          break;
        }
        const pads = attrInts(n, 'pads', null) ?? [];
        out.push({
          ...withAttrs(n, {}, ['pads', 'value']),
          input: [ins[0]!, b.constI(pads), b.constF([attrFloat(n, 'value', 0)])],
        });
        break;
      }
      case 'BatchNormalization':
        out.push({
          ...n,
          input: ins.slice(0, 5),
          output: [n.output![0]!],
          attribute: [{ name: 'epsilon', type: 1, f: attrFloat(n, 'epsilon', 1e-5) }],
        });
        break;
      case 'MaxPool':
        out.push(
          n.output!.length >= 2 && n.output![1]
            ? n
            : { ...n, output: [n.output![0]!, `${n.output![0]!}__selmix_indices`] },
        );
        break;
      default:
        out.push(n);
    }
    // Any node the builder emitted for a rewrite goes before the rewritten node.
    if (b.nodes.length) out.splice(out.length - 1, 0, ...b.nodes.splice(0));
  }
  return out;
}
