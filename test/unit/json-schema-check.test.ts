// The structured-output tests' oracle (test/helpers/json-schema-check.ts) must enforce every
// keyword a schema carries, or a wrong output passes unseen: each case below is a violation.
import assert from 'node:assert/strict';
import { schemaViolation } from '../helpers/json-schema-check.js';

const VIOLATIONS: Array<[string, Record<string, unknown>, unknown]> = [
  ['oneOf: both branches match', { oneOf: [{ type: 'integer' }, { type: 'number', minimum: 0 }] }, 3],
  ['oneOf: no branch matches', { oneOf: [{ type: 'string' }, { type: 'boolean' }] }, 3],
  ['allOf: the second branch fails', { allOf: [{ type: 'integer' }, { minimum: 10 }] }, 3],
  ['uniqueItems', { type: 'array', uniqueItems: true }, [1, 2, 1]],
  ['format: date-time', { type: 'string', format: 'date-time' }, 'yesterday'],
  ['format: email', { type: 'string', format: 'email' }, 'not an address'],
  ['format: uuid', { type: 'string', format: 'uuid' }, '1234'],
  ['not', { not: { type: 'null' } }, null],
  ['minProperties', { type: 'object', minProperties: 2 }, { a: 1 }],
  ['$ref into $defs', { $defs: { n: { type: 'integer' } }, type: 'object', properties: { x: { $ref: '#/$defs/n' } } }, { x: 'one' }],
];

describe('json schema oracle', () => {
  for (const [name, schema, value] of VIOLATIONS) {
    it(`json schema oracle - reports ${name}`, () => {
      const v = schemaViolation(value, schema);
      assert.ok(v !== null, `${JSON.stringify(value)} passed ${JSON.stringify(schema)}`);
    });
  }

  it('json schema oracle - accepts valid values, naming the path of an invalid one', () => {
    const schema = { type: 'object', properties: { when: { type: 'string', format: 'date-time' }, tags: { type: 'array', items: { type: 'string' }, uniqueItems: true } }, required: ['when'], additionalProperties: false };
    assert.equal(schemaViolation({ when: '2026-12-05T10:00:00Z', tags: ['a', 'b'] }, schema), null);
    assert.match(schemaViolation({ when: '2026-12-05T10:00:00Z', tags: ['a', 'a'] }, schema) ?? '', /\/tags/);
  });

  it('json schema oracle - a schema with an unknown keyword is refused, not silently ignored', () => {
    assert.throws(() => schemaViolation(1, { type: 'integer', minimun: 0 }), /minimun/);
  });
});
