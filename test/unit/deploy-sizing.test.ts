// The sizing in deploy/README.md, from the models' real byte counts, and the overlays' numbers
// against it: the README's tables are exactly what test/helpers/k8s-sizing.ts computes, and every
// overlay's --capacity fits its GPUs, its pods' memory and the model.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { ExpertPrecision } from '../../common/experts/expert-precision.js';
import { REPO_ROOT } from '../helpers/paths.js';
import { renderKustomization, type K8sObject } from '../helpers/k8s-kustomize.js';
import { container, containerEnv, find, parseQuantity, podSpec } from '../helpers/k8s-checks.js';
import {
  coordinatorBytes,
  denseCheckpointBytes,
  expertBytes,
  expertCheckpointBytes,
  gib,
  kvBytesPerToken,
  mib,
  MODELS,
  projectExpertBytes,
  renderModelTable,
  renderWorkersTable,
  slots,
  slotsPerWorker,
  USABLE_FRACTION,
  workersNeeded,
} from '../helpers/k8s-sizing.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const m20 = MODELS['gpt-oss-20b'];
const m120 = MODELS['gpt-oss-120b'];

describe('deploy sizing', () => {
  it('per expert: 3 x 2880 x 2880 parameters; MXFP4 + bf16 biases 13,236,480 B; resident fp32 99,567,360 B, q4x2 28,028,160 B, mxfp4 13,253,760 B', () => {
    for (const c of [m20, m120]) {
      assert.equal(expertCheckpointBytes(c), 3 * 2880 * 2880 * (1 / 2 + 1 / 32) + (2 * 2880 + 2880) * 2);
      assert.equal(expertCheckpointBytes(c), 13_236_480);
      assert.equal(expertBytes(c, 'fp32'), 99_567_360);
      assert.equal(expertBytes(c, 'q4x2'), 28_028_160);
      // The same as the project's own function that the workers' reports use.
      assert.equal(expertBytes(c, 'fp32'), projectExpertBytes(c, 'fp32'));
      assert.equal(expertBytes(c, 'q4x2'), projectExpertBytes(c, 'q4x2'));
      assert.equal(expertBytes(c, 'mxfp4'), 13_253_760);
      assert.equal(expertBytes(c, 'mxfp4'), projectExpertBytes(c, 'mxfp4'));
    }
  });

  it('whole models: 768 / 4,608 slots; experts 10.17 / 60.99 GB on disk; dense 3.60 / 4.26 GB bf16 (the reference: ~13 MB per expert, ~61 GB of experts, ~4 GB dense at 120b)', () => {
    assert.equal(slots(m20), 768);
    assert.equal(slots(m120), 4608);
    assert.equal(slots(m20) * expertCheckpointBytes(m20), 10_165_616_640);
    assert.equal(slots(m120) * expertCheckpointBytes(m120), 60_993_699_840);
    assert.equal(denseCheckpointBytes(m20), 3_595_648_128);
    assert.equal(denseCheckpointBytes(m120), 4_255_115_904);
  });

  it('coordinator: embeddings bf16 + lm_head fp32 (201088 x 2880 x 4) + the rest fp32 = 6.03 / 7.35 GB; KV 96 / 144 KiB per token', () => {
    assert.equal(201088 * 2880 * 4, 2_316_533_760);
    assert.equal(coordinatorBytes(m20), 6_033_029_376);
    assert.equal(coordinatorBytes(m120), 7_351_964_928);
    assert.equal(kvBytesPerToken(m20), 98_304);
    assert.equal(kvBytesPerToken(m120), 147_456);
  });

  it('workers needed at 85% usable GPU memory: key lines', () => {
    assert.equal(USABLE_FRACTION, 0.85);
    assert.equal(slotsPerWorker(m20, 'q4x2', gib(16)), 521);
    assert.equal(slotsPerWorker(m20, 'fp32', gib(24)), 219);
    assert.equal(workersNeeded(m20, 'fp32', gib(16), 1), 6);
    assert.equal(workersNeeded(m20, 'q4x2', gib(16), 2), 3);
    assert.equal(workersNeeded(m120, 'q4x2', gib(24), 1), 6);
    assert.equal(workersNeeded(m120, 'q4x2', gib(24), 2), 12);
    // mxfp4: all of gpt-oss-120b's experts (61.07 GB) fit three 24 GiB GPUs at 85%.
    assert.equal(workersNeeded(m120, 'mxfp4', gib(24), 1), 3);
    assert.equal(workersNeeded(m20, 'mxfp4', gib(16), 1), 1);
    assert.equal(workersNeeded(m120, 'fp32', gib(80), 1), 7);
    assert.equal(workersNeeded(m120, 'fp32', gib(80), 2), 13);
    // Never fewer workers than the replication factor.
    assert.equal(workersNeeded(m20, 'q4x2', gib(80), 2), 2);
  });

  it('deploy/README.md carries exactly the computed tables', () => {
    const readme = readFileSync(path.join(REPO_ROOT, 'deploy', 'README.md'), 'utf8');
    assert.ok(readme.includes(renderModelTable()), `deploy/README.md lacks the model table:\n${renderModelTable()}`);
    assert.ok(readme.includes(renderWorkersTable()), `deploy/README.md lacks the workers table:\n${renderWorkersTable()}`);
  });

  describe('every overlay fits what it asks for', () => {
    const overlays: { name: string; model: keyof typeof MODELS }[] = [
      { name: 'cpu-demo', model: 'demo' },
      { name: 'gpt-oss-20b', model: 'gpt-oss-20b' },
      { name: 'gpt-oss-120b', model: 'gpt-oss-120b' },
    ];
    for (const { name, model } of overlays) {
      it(name, () => {
        const objects: K8sObject[] = renderKustomization(path.join(REPO_ROOT, 'deploy', 'overlays', name));
        const c = MODELS[model];
        const worker: Any = find(objects, 'StatefulSet', 'gptoss-worker');
        const wc = container(worker, 'worker');
        const env = containerEnv(objects, wc);
        const capacity = Number(env.get('GPTOSS_WORKER_CAPACITY'));
        const replication = Number(env.get('GPTOSS_REPLICATION'));
        const precision = env.get('GPTOSS_EXPERT_PRECISION') as ExpertPrecision;
        const replicas: number = worker.spec.replicas;
        const perExpert = expertBytes(c, precision);

        assert.ok(env.get('GPTOSS_MODEL_DIR')!.endsWith(`/${model}`), 'the model folder is named after the model');
        assert.ok(capacity >= 1 && capacity <= slots(c), `capacity ${capacity}`);
        assert.ok(replicas * capacity >= replication * slots(c), `${replicas} workers x ${capacity} slots cannot hold ${replication} x ${slots(c)}`);
        assert.ok((replicas - 1) * capacity >= slots(c), 'losing one worker must leave room for every expert once');
        assert.ok(replicas >= replication, 'replicas of a slot need distinct workers');
        assert.ok(Number(env.get('GPTOSS_MIN_WORKERS')) <= replicas, 'the first placement waits for more workers than there are');

        // Host memory holds the worker's experts (read, re-encoded, and on CPU also computed there)
        // + the process: 256 MiB for the demo, 1 GiB for the real models.
        const limit = parseQuantity(wc.resources.limits.memory);
        const overhead = name === 'cpu-demo' ? mib(256) : gib(1);
        assert.ok(limit >= capacity * perExpert + overhead, `worker memory limit ${wc.resources.limits.memory} < ${capacity} x ${perExpert} B + ${overhead} B`);

        const gpuTerm = podSpec(worker).affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms?.[0]?.matchExpressions?.find((e: Any) => e.key === 'nvidia.com/gpu.memory');
        if (name !== 'cpu-demo') {
          // The smallest GPU the affinity admits (MiB, as GPU feature discovery labels it) holds the capacity at 85%.
          const minGpuBytes = mib(Number(gpuTerm.values[0]) + 1);
          assert.ok(capacity <= slotsPerWorker(c, precision, minGpuBytes), `capacity ${capacity} > ${slotsPerWorker(c, precision, minGpuBytes)} slots on ${gpuTerm.values[0]} MiB`);
          // The model volume holds the checkpoint.
          const pvc: Any = find(objects, 'PersistentVolumeClaim', 'gptoss-model');
          assert.ok(parseQuantity(pvc.spec.resources.requests.storage) >= slots(c) * expertCheckpointBytes(c) + denseCheckpointBytes(c));
        } else {
          assert.equal(gpuTerm, undefined);
        }

        // Coordinators: the dense weights + max-batch-size sequences of 4,096 tokens of KV fit the limit.
        const cc = container(find(objects, 'Deployment', 'gptoss-coordinator')!, 'coordinator');
        const cenv = containerEnv(objects, cc);
        const batch = Number(cenv.get('GPTOSS_MAX_BATCH_SIZE'));
        const need = coordinatorBytes(c) + batch * 4096 * kvBytesPerToken(c);
        assert.ok(parseQuantity(cc.resources.limits.memory) >= need, `coordinator limit ${cc.resources.limits.memory} < ${need} B`);
        assert.ok(parseQuantity(cc.resources.requests.memory) >= coordinatorBytes(c), 'coordinator request below its weights');
        assert.equal(cenv.get('GPTOSS_REPLICATION'), String(replication));
      });
    }
  });
});
