import type { RequestHandler } from 'express';

/** `GET /healthz`: the process serves HTTP. */
export function makeHealthzHandler(): RequestHandler {
  return (_req, res) => {
    res.status(200).json({ status: 'ok' });
  };
}

/** `GET /readyz`: the watches have synced (routing and permissions are known) and no shutdown began. */
export function makeReadyzHandler(ready: () => boolean): RequestHandler {
  return (_req, res) => {
    const ok = ready();
    res.status(ok ? 200 : 503).json({ status: ok ? 'ready' : 'not ready' });
  };
}
