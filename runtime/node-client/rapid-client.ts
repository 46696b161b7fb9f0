import { Agent, request, type IncomingHttpHeaders } from 'node:http';

/** A minimal HTTP client of the Runtime API (`AWS_LAMBDA_RUNTIME_API` = host:port). */
export interface NextInvocation {
  body: string;
  headers: IncomingHttpHeaders;
}

const BASE = '/2018-06-01/runtime';

export class RapidClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly hostname: string;
  private readonly port: number;

  constructor(hostPort: string) {
    const i = hostPort.lastIndexOf(':');
    this.hostname = hostPort.slice(0, i);
    this.port = Number(hostPort.slice(i + 1));
    if (!this.hostname || !Number.isInteger(this.port)) throw new Error(`Invalid hostnamePort: ${hostPort}`);
  }

  nextInvocation(): Promise<NextInvocation> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          hostname: this.hostname,
          port: this.port,
          path: `${BASE}/invocation/next`,
          method: 'GET',
          agent: this.agent,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode !== 200) {
              reject(
                new Error(`next invocation: HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString()}`),
              );
              return;
            }
            resolve({ body: Buffer.concat(chunks).toString('utf8'), headers: res.headers });
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  private post(path: string, body: string | Buffer, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const data = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
      const req = request(
        {
          hostname: this.hostname,
          port: this.port,
          path,
          method: 'POST',
          agent: this.agent,
          headers: { 'Content-Type': 'application/json', 'Content-Length': String(data.length), ...headers },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(data);
    });
  }

  postResponse(id: string, body: string | Buffer, contentType?: string): Promise<number> {
    const headers: Record<string, string> = contentType ? { 'Content-Type': contentType } : {};
    return this.post(`${BASE}/invocation/${encodeURIComponent(id)}/response`, body, headers);
  }

  postError(id: string, body: string, errorType: string): Promise<number> {
    return this.post(`${BASE}/invocation/${encodeURIComponent(id)}/error`, body, {
      'Lambda-Runtime-Function-Error-Type': errorType,
    });
  }

  postInitError(body: string, errorType: string): Promise<number> {
    return this.post(`${BASE}/init/error`, body, { 'Lambda-Runtime-Function-Error-Type': errorType });
  }
}
