import assert from 'node:assert/strict';
import { ConfigError } from '../../common/errors.js';
import { SessionKeys } from '../../coordinator/session/keys.js';
import { parseKvSessionStoreOptions } from '../../coordinator/session/options.js';

const required = { modelFingerprint: 'fp', numLayers: 2, kvDim: 32 };

describe('session options and keys', () => {
  it('session - options take their documented defaults', () => {
    const o = parseKvSessionStoreOptions(required);
    assert.equal(o.url, 'redis://127.0.0.1:6379');
    assert.equal(o.keyPrefix, 'gptoss');
    assert.equal(o.blockSize, 16);
    assert.equal(o.ttlSeconds, 3600);
    assert.equal(o.maxMemoryBytes, 1024 ** 3);
    assert.equal(o.connectTimeoutMs, 1000);
    assert.equal(o.commandTimeoutMs, 2000);
    assert.equal(o.reconnectMaxDelayMs, 1000);
  });

  it('session - a bad option is rejected with ConfigError naming the field', () => {
    const bad = (input: object, field: string): void => {
      assert.throws(
        () => parseKvSessionStoreOptions({ ...required, ...input } as never),
        (err: unknown) => err instanceof ConfigError && err.field === field,
        field,
      );
    };
    bad({ kvDim: 0 }, 'kvDim');
    bad({ numLayers: 1.5 }, 'numLayers');
    bad({ numLayers: undefined }, 'numLayers');
    bad({ modelFingerprint: '' }, 'modelFingerprint');
    bad({ blockSize: -16 }, 'blockSize');
    bad({ ttlSeconds: '60' }, 'ttlSeconds');
    bad({ maxMemoryBytes: -1 }, 'maxMemoryBytes');
    bad({ url: 'http://localhost:6379' }, 'url');
    bad({ keyPrefix: '' }, 'keyPrefix');
  });

  it('session - every key is built under the prefix', () => {
    const k = new SessionKeys('t1');
    assert.equal(k.kvBlock('fp', 'ab12'), 't1:kv:fp:ab12');
    assert.equal(k.kvBlockPattern('fp'), 't1:kv:fp:*');
    assert.equal(k.response('resp_1'), 't1:resp:resp_1');
    assert.equal(k.kvLru(), 't1:meta:kv-lru');
    assert.equal(k.kvSizes(), 't1:meta:kv-sizes');
    assert.equal(k.kvBytes(), 't1:meta:kv-bytes');
    assert.equal(new SessionKeys().response('x'), 'gptoss:resp:x');
  });
});
