/**
 * What can be checked of the deployment files without a container runtime or a cluster: the Kubernetes manifests'
 * key fields (and what kustomize would check of them), the Dockerfile's shape, and that HAProxy
 * accepts its configuration.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { requireTool, skipWithout } from '../support/require-tool.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const K8S = path.join(ROOT, 'deploy/k8s');

type Doc = Record<string, any>;

function manifests(): Doc[] {
  const kustomization = parse(fs.readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  return kustomization.resources.flatMap((file) => parseAllDocuments(fs.readFileSync(path.join(K8S, file), 'utf8')).map((d) => d.toJS() as Doc));
}

function one(docs: Doc[], kind: string): Doc {
  const found = docs.filter((d) => d.kind === kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0]!;
}

function env(container: Doc, name: string): string | undefined {
  return (container.env as Array<{ name: string; value?: string }> | undefined)?.find((e) => e.name === name)?.value;
}

const bytes = (q: string) => Number(/^(\d+)(Mi|Gi)$/.exec(q)![1]) * (q.endsWith('Gi') ? 1024 : 1) * 1024 * 1024;

test('Deployment: probes on /ready and /health, drain fits the grace period, non-root, read-only root, models from an init container', () => {
  const docs = manifests();
  const deployment = one(docs, 'Deployment');
  const pod = deployment.spec.template.spec;
  const [server] = pod.containers as Doc[];
  assert.equal(server!.readinessProbe.httpGet.path, '/ready');
  assert.equal(server!.livenessProbe.httpGet.path, '/health');
  const preStopSleep = Number(server!.lifecycle.preStop.exec.command.at(-1));
  const drain = Number(env(server!, 'EARSHOT_DRAIN_SECONDS'));
  assert.ok(pod.terminationGracePeriodSeconds >= preStopSleep + drain + 5, 'preStop + drain + exit fit in terminationGracePeriodSeconds');
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.ok(pod.securityContext.runAsUser > 0);
  for (const c of [...pod.initContainers, ...pod.containers] as Doc[]) {
    assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
    assert.ok(c.volumeMounts.some((m: Doc) => m.mountPath === '/models'), `${c.name} mounts the model cache`);
    assert.equal(env(c, 'EARSHOT_MODELS_DIR'), '/models', c.name);
  }
  const [init] = pod.initContainers as Doc[];
  assert.deepEqual(init!.command.slice(-3), ['models', 'pull', '--default']);
  // Sized from the measured RSS (480-560 MB under load) and 2 CPUs for the sessions allowed.
  assert.ok(bytes(server!.resources.limits.memory) >= 700 * 1024 * 1024);
  assert.ok(bytes(server!.resources.requests.memory) >= 560 * 1024 * 1024);
  assert.equal(server!.resources.limits.cpu, server!.resources.requests.cpu, 'workers follow the CPU limit (cgroup quota)');
  assert.equal(env(server!, 'EARSHOT_HOST'), '0.0.0.0');
});

test('Service, PodDisruptionBudget and HorizontalPodAutoscaler point at the Deployment', () => {
  const docs = manifests();
  const deployment = one(docs, 'Deployment');
  const labels = deployment.spec.template.metadata.labels as Record<string, string>;
  const selects = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
  assert.ok(selects(one(docs, 'Service').spec.selector));
  assert.equal(one(docs, 'Service').spec.ports[0].targetPort, 'http');
  assert.ok(selects(one(docs, 'PodDisruptionBudget').spec.selector.matchLabels));
  const hpa = one(docs, 'HorizontalPodAutoscaler');
  assert.equal(hpa.spec.scaleTargetRef.name, deployment.metadata.name);
  const metricNames = (hpa.spec.metrics as Doc[]).map((m) => m.pods?.metric.name ?? m.resource?.name);
  assert.deepEqual(metricNames, ['earshot_sessions', 'cpu']);
});

// What `kubectl kustomize` checks, without kubectl (not a Debian package): the kustomization uses only the fields
// handled here, every resource parses as a named Kubernetes object, and the image it sets is the one the pods run.
test('the kustomization renders the four objects, each named and labelled, running the image it sets', () => {
  const kustomization = parse(fs.readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8')) as Doc;
  assert.deepEqual(Object.keys(kustomization).sort(), ['apiVersion', 'images', 'kind', 'labels', 'resources']);
  assert.equal(kustomization.kind, 'Kustomization');
  assert.match(kustomization.apiVersion, /^kustomize\.config\.k8s\.io\//);
  const docs = manifests();
  assert.deepEqual(docs.map((d) => d.kind).sort(), ['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service']);
  for (const d of docs) {
    assert.match(d.apiVersion, /^([a-z.]+\/)?v\d+(beta\d+)?$/, `${d.kind} apiVersion`);
    assert.match(d.metadata?.name ?? '', /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${d.kind} metadata.name`);
  }
  for (const { pairs } of kustomization.labels as Array<{ pairs: Record<string, string> }>) {
    for (const [k, v] of Object.entries(pairs)) assert.match(`${k}=${v}`, /^[a-z0-9./-]+=[a-z0-9.-]+$/);
  }
  const pod = one(docs, 'Deployment').spec.template.spec;
  const images = new Set([...pod.initContainers, ...pod.containers].map((c: Doc) => c.image));
  const set = (kustomization.images as Doc[]).map((i) => i.name);
  assert.deepEqual([...images], set, 'every container runs the image the kustomization sets');
});

test('Dockerfile: multi-stage, production dependencies, models in their own layer, non-root, HEALTHCHECK', () => {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  assert.ok((text.match(/^FROM /gm) ?? []).length >= 3, 'multi-stage');
  assert.match(text, /npm ci [^\n]*--omit=dev/);
  assert.match(text, /models pull --default/);
  assert.match(text, /^COPY --from=models [^\n]*\/models \/models$/m);
  assert.match(text, /^USER node$/m);
  assert.match(text, /^HEALTHCHECK /m);
  assert.match(text, /onnxruntime-node\/bin/, 'other platforms\' onnxruntime binaries pruned');
});

test('HAProxy accepts deploy/haproxy/haproxy.cfg, with and without the Wyoming frontend', { skip: skipWithout('haproxy') }, () => {
  const haproxy = requireTool('haproxy');
  const http = { EARSHOT_LB_BIND: '127.0.0.1:8000', EARSHOT_BACKEND_1: '127.0.0.1:8001', EARSHOT_BACKEND_2: '127.0.0.1:8002', EARSHOT_BACKEND_3: '127.0.0.1:8003' };
  const wyoming = { EARSHOT_LB_WYOMING_BIND: '127.0.0.1:10300', EARSHOT_WYOMING_BACKEND_1: '127.0.0.1:10301', EARSHOT_WYOMING_BACKEND_2: '127.0.0.1:10302', EARSHOT_WYOMING_BACKEND_3: '127.0.0.1:10303' };
  for (const env of [http, { ...http, ...wyoming }]) {
    const r = spawnSync(haproxy, ['-c', '-f', path.join(ROOT, 'deploy/haproxy/haproxy.cfg')], { env: { ...process.env, ...env }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /WARNING|ALERT/, 'no warnings');
  }
});
