// The small kustomize renderer behind the deploy tests (test/helpers/k8s-kustomize.ts): its patch
// primitives on their own, including the JSON 6902 path that no overlay uses today.
import assert from 'node:assert/strict';
import { applyJson6902, KustomizeError, rewriteImage, strategicMerge } from '../helpers/k8s-kustomize.js';

describe('deploy kustomize renderer', () => {
  it('strategic merge: maps merge, keyed lists merge in kustomize order, null deletes, $patch: delete removes an element', () => {
    const base = {
      spec: {
        replicas: 1,
        containers: [{ name: 'a', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }], args: ['x', 'y'] }],
        volumes: [{ name: 'm', persistentVolumeClaim: { claimName: 'c' } }, { name: 't', emptyDir: {} }],
      },
    };
    const patch = {
      spec: {
        containers: [{ name: 'b', image: 'i' }, { name: 'a', env: [{ name: 'X', value: 'x' }, { name: 'B', value: '22' }], args: ['z'] }],
        volumes: [{ name: 'm', persistentVolumeClaim: null, emptyDir: {} }, { name: 't', $patch: 'delete' }],
      },
    };
    assert.deepEqual(strategicMerge(base as never, patch as never, ''), {
      spec: {
        replicas: 1,
        containers: [
          { name: 'b', image: 'i' },
          { name: 'a', env: [{ name: 'X', value: 'x' }, { name: 'B', value: '22' }, { name: 'A', value: '1' }], args: ['z'] },
        ],
        volumes: [{ name: 'm', emptyDir: {} }],
      },
    });
    assert.deepEqual(strategicMerge({ a: { b: 1, c: 2 } }, { a: { $patch: 'replace', d: 3 } } as never, ''), { a: { d: 3 } });
  });

  it('JSON 6902: add (index and -), replace, remove, test; a failed test or a missing path throws', () => {
    const doc = { spec: { args: ['a', 'b'], labels: { x: '1' } } };
    const out = applyJson6902(structuredClone(doc), [
      { op: 'add', path: '/spec/args/-', value: 'c' },
      { op: 'add', path: '/spec/args/0', value: 'first' },
      { op: 'replace', path: '/spec/labels/x', value: '2' },
      { op: 'add', path: '/spec/labels/a~1b', value: 'slash' },
      { op: 'remove', path: '/spec/args/1' },
      { op: 'test', path: '/spec/labels/x', value: '2' },
    ], 't');
    assert.deepEqual(out, { spec: { args: ['first', 'b', 'c'], labels: { x: '2', 'a/b': 'slash' } } });
    assert.throws(() => applyJson6902(structuredClone(doc), [{ op: 'test', path: '/spec/labels/x', value: '9' }], 't'), KustomizeError);
    assert.throws(() => applyJson6902(structuredClone(doc), [{ op: 'replace', path: '/spec/nope', value: 1 }], 't'), KustomizeError);
    assert.throws(() => applyJson6902(structuredClone(doc), [{ op: 'move', path: '/spec/args', from: '/x' }], 't'), /not supported/);
  });

  it('images: name, tag and digest rewriting, registries with ports', () => {
    assert.equal(rewriteImage('gptoss-cluster', { name: 'gptoss-cluster', newTag: '0.1.0' }), 'gptoss-cluster:0.1.0');
    assert.equal(rewriteImage('gptoss-cluster:old', { name: 'gptoss-cluster', newName: 'reg:5000/team/gptoss-cluster-cuda' }), 'reg:5000/team/gptoss-cluster-cuda:old');
    assert.equal(rewriteImage('reg:5000/x:1', { name: 'reg:5000/x', newTag: '2' }), 'reg:5000/x:2');
    assert.equal(rewriteImage('x:1', { name: 'x', digest: 'sha256:abc' }), 'x@sha256:abc');
    assert.equal(rewriteImage('nats:2.11-alpine', { name: 'gptoss-cluster', newTag: '0.1.0' }), 'nats:2.11-alpine');
  });
});
