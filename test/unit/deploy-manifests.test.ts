// deploy/: every overlay renders (test/helpers/k8s-kustomize.ts), every object is valid against
// the Kubernetes schemas (kubernetes-models) and has no unknown field (TypeScript), and the
// manifests hang together: resources and probes, non-root, selectors, references, GPUs, network
// policies, the model volume, drain and autoscaling. Offline; where kubectl is installed the
// renderer is also compared with `kubectl kustomize`.
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, TMP_ROOT } from '../helpers/paths.js';
import { idOf, KustomizeError, renderKustomization, type K8sObject } from '../helpers/k8s-kustomize.js';
import { dockerInstructions, fieldErrors, schemaErrors } from '../helpers/k8s-validate.js';
import {
  allowedIngress,
  checkContainers,
  checkGptossArgs,
  checkNonRoot,
  checkReferences,
  checkSelectors,
  container,
  containerEnv,
  find,
  isGptossWorkload,
  podSpec,
  workloads,
} from '../helpers/k8s-checks.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

const DEPLOY = path.join(REPO_ROOT, 'deploy');
const OVERLAYS = readdirSync(path.join(DEPLOY, 'overlays')).sort();
const GPU_OVERLAYS = ['gpt-oss-20b', 'gpt-oss-120b'];
const EXTERNAL = 'fixture: base + external-nats + external-redis';
const EXTERNAL_DIR = path.join(TMP_ROOT, 'deploy-external');

/** The uid of the image's USER (both Dockerfiles must agree). */
function imageUid(): number {
  const uids = ['Dockerfile', 'Dockerfile.cuda'].map((f) => {
    const users = dockerInstructions(path.join(REPO_ROOT, f)).filter((i) => i.instruction === 'USER');
    return Number(users[users.length - 1]!.args.split(':')[0]);
  });
  assert.equal(uids[0], uids[1], 'Dockerfile and Dockerfile.cuda run as different users');
  return uids[0]!;
}

function get(objects: readonly K8sObject[], kind: string, name: string): Any {
  const o = find(objects, kind, name);
  assert.ok(o, `${kind}/${name} is missing`);
  return o;
}

describe('deploy manifests', function () {
  this.timeout(120_000);
  const rendered = new Map<string, K8sObject[]>();

  before(() => {
    mkdirSync(EXTERNAL_DIR, { recursive: true });
    const rel = (p: string): string => path.relative(EXTERNAL_DIR, path.join(DEPLOY, p));
    writeFileSync(
      path.join(EXTERNAL_DIR, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${rel('base')}`,
        'components:',
        `  - ${rel('components/external-nats')}`,
        `  - ${rel('components/external-redis')}`,
        'images:',
        '  - name: gptoss-cluster',
        '    newTag: 0.1.0',
        '',
      ].join('\n'),
    );
    for (const o of OVERLAYS) rendered.set(o, renderKustomization(path.join(DEPLOY, 'overlays', o)));
    rendered.set(EXTERNAL, renderKustomization(EXTERNAL_DIR));
  });

  after(() => rmSync(EXTERNAL_DIR, { recursive: true, force: true }));

  it('has the three overlays', () => {
    assert.deepEqual(OVERLAYS, ['cpu-demo', 'gpt-oss-120b', 'gpt-oss-20b']);
  });

  for (const overlay of [...OVERLAYS, EXTERNAL]) {
    describe(overlay, () => {
      it('every object is valid against the Kubernetes schemas', async () => {
        const objects = rendered.get(overlay)!;
        assert.ok(objects.length >= 10, `only ${objects.length} objects`);
        const errors = (await Promise.all(objects.map(schemaErrors))).flat();
        assert.deepEqual(errors, []);
      });

      it('every container has resources and probes; every pod runs as non-root, gptoss as the image user', () => {
        const objects = rendered.get(overlay)!;
        assert.deepEqual([...checkContainers(objects), ...checkNonRoot(objects, imageUid())], []);
      });

      it('selectors select, references resolve, and the gptoss args are flags the CLI knows', () => {
        const objects = rendered.get(overlay)!;
        const { errors, resolved } = checkGptossArgs(objects);
        assert.deepEqual([...checkSelectors(objects), ...checkReferences(objects), ...errors], []);
        assert.equal(resolved.get('Deployment/gptoss-coordinator/coordinator')?.command, 'coordinator');
        assert.equal(resolved.get('StatefulSet/gptoss-worker/worker')?.command, 'worker');
      });

      it('coordinators: 2+ replicas, Service, PDB, HPA on vllm:num_requests_waiting (Pods), preStop and a grace period for the drain', () => {
        const objects = rendered.get(overlay)!;
        const d = get(objects, 'Deployment', 'gptoss-coordinator');
        assert.ok(d.spec.replicas >= 2);
        assert.equal(d.spec.strategy.rollingUpdate.maxUnavailable, 0);
        get(objects, 'Service', 'gptoss-coordinator');
        assert.equal(get(objects, 'PodDisruptionBudget', 'gptoss-coordinator').spec.minAvailable, 1);
        const hpa = get(objects, 'HorizontalPodAutoscaler', 'gptoss-coordinator');
        assert.equal(hpa.apiVersion, 'autoscaling/v2');
        assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
        assert.deepEqual(
          hpa.spec.metrics.map((m: Any) => [m.type, m.pods?.metric?.name, m.pods?.target?.type]),
          [['Pods', 'vllm:num_requests_waiting', 'AverageValue']],
        );
        const c = container(d, 'coordinator');
        assert.deepEqual(c.lifecycle.preStop.exec.command.slice(0, 1), ['sleep']);
        assert.ok(podSpec(d).terminationGracePeriodSeconds >= 60);
        assert.equal(c.readinessProbe.httpGet.path, '/health');
        assert.equal(c.readinessProbe.httpGet.port, 'http');
        // Startup must outlast loading the dense weights: at least 10 minutes.
        assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 600);
      });

      it('workers: a StatefulSet behind a headless Service, advertising $(POD_NAME).<headless svc>:50051, TCP probes on 50051', () => {
        const objects = rendered.get(overlay)!;
        const s = get(objects, 'StatefulSet', 'gptoss-worker');
        const svc = get(objects, 'Service', s.spec.serviceName);
        assert.equal(svc.spec.clusterIP, 'None');
        assert.equal(svc.spec.publishNotReadyAddresses, true);
        const c = container(s, 'worker');
        const advertise = c.args.find((a: string) => a.startsWith('--advertise='));
        assert.equal(advertise, `--advertise=$(POD_NAME).${s.spec.serviceName}.$(POD_NAMESPACE).svc:50051`);
        assert.ok(c.args.includes('--listen=0.0.0.0:50051'));
        const env = containerEnv(objects, c);
        assert.equal(env.get('POD_NAME'), '<metadata.name>');
        assert.equal(env.get('POD_NAMESPACE'), '<metadata.namespace>');
        assert.deepEqual(c.ports.map((p: Any) => [p.name, p.containerPort]), [['grpc', 50051]]);
        for (const p of ['startupProbe', 'readinessProbe', 'livenessProbe']) assert.equal(c[p].tcpSocket.port, 'grpc', p);
        assert.ok(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold >= 600);
        assert.ok(podSpec(s).terminationGracePeriodSeconds >= 30);
        assert.equal(get(objects, 'PodDisruptionBudget', 'gptoss-worker').spec.maxUnavailable, 1);
        assert.equal(s.spec.podManagementPolicy, 'Parallel');
      });

      it('network policies: only coordinators reach workers:50051 and Redis:6379; only coordinators and workers reach NATS:4222', () => {
        const objects = rendered.get(overlay)!;
        const policies = new Map(objects.filter((o) => o.kind === 'NetworkPolicy').map((np) => [np.metadata.name, allowedIngress(objects, np)]));
        assert.deepEqual(policies.get('gptoss-worker'), [{ from: ['gptoss-coordinator'], ports: [50051] }]);
        assert.deepEqual(policies.get('gptoss-coordinator'), [{ from: ['*'], ports: [8000] }]);
        if (find(objects, 'StatefulSet', 'gptoss-nats')) {
          assert.deepEqual(policies.get('gptoss-nats'), [{ from: ['gptoss-coordinator', 'gptoss-worker'], ports: [4222] }]);
        }
        if (find(objects, 'Deployment', 'gptoss-redis')) {
          assert.deepEqual(policies.get('gptoss-redis'), [{ from: ['gptoss-coordinator'], ports: [6379] }]);
        }
        // Every workload is behind exactly one policy, and each policy is Ingress-only.
        for (const w of workloads(objects)) {
          const covering = objects.filter((np: Any) => np.kind === 'NetworkPolicy' && Object.entries(np.spec.podSelector.matchLabels).every(([k, v]) => (w as Any).spec.template.metadata.labels[k] === v));
          assert.equal(covering.length, 1, `${idOf(w)} is selected by ${covering.length} policies`);
          assert.deepEqual((covering[0] as Any).spec.policyTypes, ['Ingress']);
        }
      });

      it('the model is mounted read-only at /models in every gptoss container; the Secret holds placeholders only', () => {
        const objects = rendered.get(overlay)!;
        for (const w of workloads(objects).filter(isGptossWorkload)) {
          for (const c of podSpec(w).containers) {
            const m = c.volumeMounts.find((v: Any) => v.name === 'model');
            assert.deepEqual([m?.mountPath, m?.readOnly], ['/models', true], `${idOf(w)} ${c.name}`);
            assert.ok(containerEnv(objects, c).get('GPTOSS_MODEL_DIR')!.startsWith('/models/'));
          }
          const vol = podSpec(w).volumes.find((v: Any) => v.name === 'model');
          if (overlay === 'cpu-demo') {
            assert.ok(vol.emptyDir && !vol.persistentVolumeClaim, `${idOf(w)}: the demo model lives in an emptyDir`);
            const init = podSpec(w).initContainers.find((c: Any) => c.name === 'demo-model');
            assert.deepEqual(init.args, ['make-checkpoint', '--out', '/models/demo']);
          } else {
            assert.deepEqual([vol.persistentVolumeClaim?.claimName, vol.persistentVolumeClaim?.readOnly], ['gptoss-model', true], idOf(w));
            assert.deepEqual(get(objects, 'PersistentVolumeClaim', 'gptoss-model').spec.accessModes, ['ReadOnlyMany']);
          }
        }
        const secret = get(objects, 'Secret', 'gptoss-secrets');
        assert.equal(secret.data, undefined, 'Secret values belong in stringData as placeholders');
        for (const [k, v] of Object.entries(secret.stringData as Record<string, string>)) assert.match(v, /REPLACE_ME/, `secret key ${k} is not a placeholder`);
      });

      it('all gptoss containers use one image; everything lives in one namespace', () => {
        const objects = rendered.get(overlay)!;
        const images = new Set<string>();
        for (const w of workloads(objects).filter(isGptossWorkload)) {
          for (const c of [...(podSpec(w).initContainers ?? []), ...podSpec(w).containers]) images.add(c.image);
        }
        assert.equal(images.size, 1, [...images].join(', '));
        const expected = GPU_OVERLAYS.includes(overlay) ? /^gptoss-cluster-cuda:[0-9]/ : /^gptoss-cluster:[0-9]/;
        assert.match([...images][0]!, expected);
        const namespaces = new Set(objects.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace));
        assert.deepEqual([...namespaces], ['gptoss']);
        assert.equal(get(objects, 'Namespace', 'gptoss').metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted');
      });
    });
  }

  it('no object has an unknown or mistyped field (TypeScript against the kubernetes-models interfaces)', () => {
    const all = [...rendered.values()].flat();
    assert.deepEqual(fieldErrors(all), []);
  });

  it('GPU overlays: workers request and limit nvidia.com/gpu, tolerate the GPU taint and require GPU nodes; coordinators and cpu-demo ask for no GPU', () => {
    for (const overlay of OVERLAYS) {
      const objects = rendered.get(overlay)!;
      const s = get(objects, 'StatefulSet', 'gptoss-worker');
      const c = container(s, 'worker');
      if (GPU_OVERLAYS.includes(overlay)) {
        assert.equal(c.resources.limits['nvidia.com/gpu'], 1, overlay);
        assert.equal(c.resources.requests['nvidia.com/gpu'], 1, overlay);
        assert.ok(podSpec(s).tolerations.some((t: Any) => t.key === 'nvidia.com/gpu' && t.operator === 'Exists'), overlay);
        const terms = podSpec(s).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
        const exprs = terms[0].matchExpressions.map((e: Any) => `${e.key} ${e.operator}`);
        assert.deepEqual(exprs, ['nvidia.com/gpu.present In', 'nvidia.com/gpu.memory Gt'], overlay);
        assert.equal(containerEnv(objects, c).get('GPTOSS_EXPERT_PRECISION'), 'q4x2');
        get(objects, 'ServiceMonitor', 'gptoss-coordinator');
      } else {
        assert.equal(find(objects, 'ServiceMonitor', 'gptoss-coordinator'), undefined, 'cpu-demo must apply without the Prometheus Operator CRDs');
      }
      for (const w of workloads(objects)) {
        if (GPU_OVERLAYS.includes(overlay) && w.metadata.name === 'gptoss-worker') continue;
        for (const ct of podSpec(w).containers) {
          assert.equal(JSON.stringify(ct.resources).includes('nvidia.com/gpu'), false, `${overlay} ${idOf(w)}`);
        }
      }
    }
  });

  it('NATS runs JetStream with token auth; the external-nats/-redis components remove the bundled servers and repoint NATS_URL/REDIS_URL', () => {
    const base = rendered.get('cpu-demo')!;
    const conf = get(base, 'ConfigMap', 'gptoss-nats').data['nats.conf'] as string;
    assert.match(conf, /jetstream \{[\s\S]*store_dir: \/data/);
    assert.match(conf, /token: \$NATS_TOKEN/);
    assert.equal(get(base, 'ConfigMap', 'gptoss-config').data.NATS_URL, 'nats://gptoss-nats:4222');
    assert.equal(get(base, 'ConfigMap', 'gptoss-config').data.REDIS_URL, 'redis://gptoss-redis:6379');

    const ext = rendered.get(EXTERNAL)!;
    for (const [kind, name] of [['StatefulSet', 'gptoss-nats'], ['Service', 'gptoss-nats'], ['Service', 'gptoss-nats-headless'], ['ConfigMap', 'gptoss-nats'], ['NetworkPolicy', 'gptoss-nats'], ['Deployment', 'gptoss-redis'], ['Service', 'gptoss-redis'], ['NetworkPolicy', 'gptoss-redis']] as const) {
      assert.equal(find(ext, kind, name), undefined, `${kind}/${name} should be gone`);
    }
    const cfg = get(ext, 'ConfigMap', 'gptoss-config').data;
    assert.notEqual(cfg.NATS_URL, 'nats://gptoss-nats:4222');
    assert.match(cfg.NATS_URL, /^nats:\/\//);
    assert.equal(cfg.REDIS_URL, undefined);
    const coordinator = container(get(ext, 'Deployment', 'gptoss-coordinator'), 'coordinator');
    assert.match(containerEnv(ext, coordinator).get('REDIS_URL')!, /^redis:\/\//);
    assert.equal(containerEnv(ext, container(get(ext, 'StatefulSet', 'gptoss-worker'), 'worker')).get('REDIS_URL'), undefined);
  });

  describe('negative checks: a deliberately broken copy is caught', () => {
    const deployment = (): Any => structuredClone(get(rendered.get('gpt-oss-20b')!, 'Deployment', 'gptoss-coordinator'));

    it('schema: a string replica count, a bad quantity and a missing selector fail validation', async () => {
      const a = deployment();
      a.spec.replicas = 'two';
      const b = deployment();
      b.spec.template.spec.containers[0].resources.limits.memory = 'lots';
      const c = deployment();
      delete c.spec.selector;
      for (const broken of [a, b, c]) assert.notDeepEqual(await schemaErrors(broken), []);
      assert.deepEqual(await schemaErrors(deployment()), []);
      const unknown = { apiVersion: 'example.com/v1', kind: 'Gadget', metadata: { name: 'x' } } as K8sObject;
      assert.match((await schemaErrors(unknown))[0]!, /no schema/);
    });

    it('fields: a misspelt field, a field at the wrong level and a wrong type are reported', () => {
      const a = deployment();
      a.spec.template.spec.containers[0].readinesProbe = a.spec.template.spec.containers[0].readinessProbe;
      delete a.spec.template.spec.containers[0].readinessProbe;
      const b = deployment();
      b.spec.tolerations = [{ key: 'nvidia.com/gpu', operator: 'Exists' }];
      const c = deployment();
      c.spec.template.spec.terminationGracePeriodSeconds = '180';
      const errors = fieldErrors([a, b, c]);
      assert.equal(errors.length, 3, errors.join('\n'));
      assert.match(errors[0]!, /readinesProbe/);
      assert.match(errors[1]!, /tolerations/);
      assert.match(errors[2]!, /terminationGracePeriodSeconds|not assignable/);
    });

    it('consistency: a container without resources or probes, a root pod, a dangling selector, an unknown flag', () => {
      const objects = rendered.get('gpt-oss-20b')!;
      const broken = structuredClone(objects) as Any[];
      const d = broken.find((o) => o.kind === 'Deployment' && o.metadata.name === 'gptoss-coordinator');
      delete d.spec.template.spec.containers[0].resources;
      delete d.spec.template.spec.containers[0].livenessProbe;
      d.spec.template.spec.securityContext.runAsUser = 0;
      d.spec.template.spec.containers[0].args.push('--no-such-flag=1');
      broken.find((o) => o.kind === 'Service' && o.metadata.name === 'gptoss-worker-headless').spec.selector = { 'app.kubernetes.io/component': 'wrker' };
      broken.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'gptoss-redis').spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/component'] = 'coordinatr';
      const errors = [...checkContainers(broken), ...checkNonRoot(broken, imageUid()), ...checkSelectors(broken), ...checkGptossArgs(broken).errors];
      for (const expected of [/no cpu request/, /no memory limit/, /no livenessProbe/, /runAsUser is not a non-zero uid/, /gptoss-worker-headless: selector/, /peer podSelector/, /no flag --no-such-flag/]) {
        assert.ok(errors.some((e) => expected.test(e)), `expected ${expected} in:\n${errors.join('\n')}`);
      }
    });

    it('the renderer refuses kustomize features it does not implement, and patches that match nothing', () => {
      const dir = path.join(TMP_ROOT, 'deploy-unsupported');
      mkdirSync(dir, { recursive: true });
      try {
        writeFileSync(path.join(dir, 'kustomization.yaml'), 'resources: []\ncommonLabels:\n  a: b\n');
        assert.throws(() => renderKustomization(dir), KustomizeError);
        writeFileSync(path.join(dir, 'kustomization.yaml'), `resources:\n  - ${path.relative(dir, path.join(DEPLOY, 'base'))}\npatches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata:\n        name: no-such-deployment\n      spec:\n        replicas: 3\n`);
        assert.throws(() => renderKustomization(dir), /no object matches/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
