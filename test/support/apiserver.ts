import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { KubeConfig, KubernetesObjectApi, loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

/**
 * A real kube-apiserver with its own etcd, on loopback, for tests of what the poller does
 * through the Kubernetes API (leases, status, finalizers, the scale subresource). No nodes, no
 * controllers: objects are stored and served exactly as on a cluster. Sluice's CRDs are
 * installed. Binaries come from the local cluster's cache (`make cluster-up` builds them).
 */
export function binary(prefix: string, name: string): string {
  const cache = path.join(homedir(), '.cache', 'sluice', 'bin');
  if (existsSync(cache)) {
    for (const d of readdirSync(cache)
      .filter((n) => n.startsWith(prefix))
      .sort()
      .reverse()) {
      const bin = path.join(cache, d, name);
      if (existsSync(bin)) return bin;
    }
  }
  throw new Error(`${name} not found in ${cache}: build it with \`make cluster-up\``);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

const ROOT = path.resolve(new URL('../..', import.meta.url).pathname);

export class ApiServer {
  private constructor(
    private readonly dir: string,
    private readonly procs: ChildProcess[],
    readonly url: string,
    private readonly token: string,
  ) {}

  /** `authorizationMode: 'RBAC'` for tests of who may do what (the admin token is in system:masters). */
  static async start(opts: { authorizationMode?: 'AlwaysAllow' | 'RBAC' } = {}): Promise<ApiServer> {
    const dir = mkdtempSync(path.join(tmpdir(), 'sluice-kas-'));
    const procs: ChildProcess[] = [];
    try {
      const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
      const etcd = spawn(
        binary('etcd-', 'etcd'),
        [
          '--data-dir',
          path.join(dir, 'etcd'),
          '--listen-client-urls',
          `http://127.0.0.1:${etcdPort}`,
          '--advertise-client-urls',
          `http://127.0.0.1:${etcdPort}`,
          '--listen-peer-urls',
          `http://127.0.0.1:${peerPort}`,
          '--initial-advertise-peer-urls',
          `http://127.0.0.1:${peerPort}`,
          '--initial-cluster',
          `default=http://127.0.0.1:${peerPort}`,
        ],
        { stdio: 'ignore' },
      );
      procs.push(etcd);
      const { publicKey, privateKey } = generateKeyPairSync('rsa', {
        modulusLength: 2048,
        publicKeyEncoding: { type: 'spki', format: 'pem' },
        privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      });
      writeFileSync(path.join(dir, 'sa.pub'), publicKey);
      writeFileSync(path.join(dir, 'sa.key'), privateKey);
      const token = `t${Math.random().toString(36).slice(2)}`;
      writeFileSync(path.join(dir, 'tokens.csv'), `${token},admin,admin,system:masters\n`);
      const kas = spawn(
        binary('k8s-', 'kube-apiserver'),
        [
          '--etcd-servers',
          `http://127.0.0.1:${etcdPort}`,
          '--bind-address',
          '127.0.0.1',
          '--secure-port',
          String(apiPort),
          '--cert-dir',
          path.join(dir, 'certs'),
          '--service-account-issuer',
          'https://kubernetes.default.svc',
          '--service-account-key-file',
          path.join(dir, 'sa.pub'),
          '--service-account-signing-key-file',
          path.join(dir, 'sa.key'),
          '--token-auth-file',
          path.join(dir, 'tokens.csv'),
          '--authorization-mode',
          opts.authorizationMode ?? 'AlwaysAllow',
          '--service-cluster-ip-range',
          '10.96.0.0/24',
          '--disable-admission-plugins',
          'ServiceAccount',
        ],
        { stdio: 'ignore' },
      );
      procs.push(kas);
      const s = new ApiServer(dir, procs, `https://127.0.0.1:${apiPort}`, token);
      await s.waitReady();
      await s.installCrds();
      return s;
    } catch (err) {
      for (const p of procs) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'test', server: this.url, skipTLSVerify: true }],
      users: [{ name: 'admin', token: this.token }],
      contexts: [{ name: 'test', cluster: 'test', user: 'admin' }],
      currentContext: 'test',
    });
    return kc;
  }

  private readyz(): Promise<number> {
    return new Promise((resolve) => {
      const req = httpsGet(
        `${this.url}/readyz`,
        { rejectUnauthorized: false, headers: { authorization: `Bearer ${this.token}` }, timeout: 2000 },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', () => resolve(0));
      req.on('timeout', () => req.destroy());
    });
  }

  private async waitReady(): Promise<void> {
    const end = Date.now() + 60_000;
    while (Date.now() < end) {
      if ((await this.readyz()) === 200) return;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('kube-apiserver did not become ready');
  }

  private async installCrds(): Promise<void> {
    const api = KubernetesObjectApi.makeApiClient(this.kubeConfig());
    const dir = path.join(ROOT, 'charts/sluice/crds');
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) {
      // loadAllYaml gives typed objects: the client serializes those with every field (CEL rules
      // included); a plain object would lose the ones its model spells differently.
      for (const obj of loadAllYaml(readFileSync(path.join(dir, f), 'utf8')) as (KubernetesObject | null)[]) {
        if (obj) await api.create(obj);
      }
    }
    // Wait until the new kinds are served.
    const end = Date.now() + 30_000;
    for (;;) {
      try {
        await api.list('sluice.dev/v1alpha1', 'EventSourceMapping', 'default');
        await api.list('sluice.dev/v1alpha1', 'Alias', 'default');
        return;
      } catch (err) {
        if (Date.now() > end) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGTERM');
            setTimeout(() => p.kill('SIGKILL'), 5000).unref();
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
