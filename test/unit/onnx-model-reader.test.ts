// The model reader the CUDA coverage check relies on reads back exactly what the graph builder
// wrote: opsets, typed inputs, outputs and initializers, nodes in order with their domain and
// attributes (negative int64s included, as axes = -1 is written), external initializers by name.
import assert from 'node:assert/strict';
import { GraphBuilder } from '../../common/onnx/graph-builder.js';
import { readOnnxModel } from '../../common/onnx/onnx-model-reader.js';
import { OnnxModelError } from '../../common/errors.js';

describe('onnx model reader', () => {
  it('onnx model reader - reads back opsets, values, nodes and attributes as built', () => {
    const g = new GraphBuilder('probe');
    const x = g.input('x', 'float32', ['n', 4]);
    const big = g.initializer('big', 'uint8', [2 ** 20], new Uint8Array(2 ** 20)); // external data
    const r = g.op('ReduceMax', [x], { axes: { ints: [-1, 3] }, keepdims: { i: -2 } });
    g.node('Cast', [big], ['c'], { to: { i: 6 }, alpha: { f: 1.5 }, mode: { s: 'fp4' } }, 'com.microsoft');
    g.node('Identity', [r], ['y']);
    g.output('y', 'float32', ['n', 1]);
    const built = g.build();
    assert.equal(built.externalData.length, 1);
    const m = readOnnxModel(built.model);
    assert.equal(m.graphName, 'probe');
    assert.deepEqual([...m.opsets], [['', 17], ['com.microsoft', 1]]);
    assert.deepEqual(m.inputs, [{ name: 'x', type: 'float' }]);
    assert.deepEqual(m.outputs, [{ name: 'y', type: 'float' }]);
    assert.deepEqual(m.initializers, [{ name: 'big', type: 'uint8' }]);
    assert.deepEqual(m.nodes.map((n) => [n.name, n.opType, n.domain, n.inputs, n.outputs]), [
      ['ReduceMax:reducemax_0', 'ReduceMax', '', ['x'], ['reducemax_0']],
      ['Cast:c', 'Cast', 'com.microsoft', ['big'], ['c']],
      ['Identity:y', 'Identity', '', ['reducemax_0'], ['y']],
    ]);
    assert.deepEqual(m.nodes[0]!.attributes.get('axes'), { ints: [-1, 3] });
    assert.deepEqual(m.nodes[0]!.attributes.get('keepdims'), { i: -2 });
    assert.deepEqual(Object.fromEntries(m.nodes[1]!.attributes), { to: { i: 6 }, alpha: { f: 1.5 }, mode: { s: 'fp4' } });
  });

  it('onnx model reader - refuses truncated bytes with a clear error', () => {
    const g = new GraphBuilder('probe');
    g.node('Identity', [g.input('x', 'float32', [1])], ['y']);
    g.output('y', 'float32', [1]);
    const bytes = g.build().model;
    assert.throws(() => readOnnxModel(bytes.subarray(0, bytes.length - 3)), OnnxModelError);
  });
});
