// What a newcomer copies from the README: every request example bounds its output (the demo model
// never ends a turn by itself), and the prerequisites name everything CI has to install.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/paths.js';

const readme = readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

describe('README', () => {
  it('readme - every generating request example sets a token limit', () => {
    const blocks = [...readme.matchAll(/```(?:js|sh|ts)\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const requests = blocks.filter((b) => /\/v1\/(chat\/)?completions|\/v1\/responses|\.create\(/.test(b));
    assert.ok(requests.length >= 2, 'found the curl and JavaScript examples');
    for (const b of requests) assert.match(b, /max_tokens|max_output_tokens|max_completion_tokens|--max-tokens/, b);
  });

  it('readme - the prerequisites name every package .ci/run installs', () => {
    const ci = readFileSync(path.join(REPO_ROOT, '.ci', 'run'), 'utf8');
    const installed = [...ci.matchAll(/missing\+=\(([\w-]+)\)/g)].map((m) => m[1]!);
    assert.ok(installed.length >= 3, `.ci/run installs ${installed.join(', ')}`);
    const prerequisites = readme.slice(readme.indexOf('Prerequisites:'), readme.indexOf('Prerequisites:') + 600);
    for (const pkg of installed) assert.ok(prerequisites.includes(pkg), `README prerequisites lack ${pkg}`);
  });
});
