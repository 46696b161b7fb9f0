/* eslint-disable no-console -- the function's patched console is its log: the client reports errors through it, as the reference client does. */
import { patchConsole } from './console.js';
import { toFormatted } from './errors.js';
import { loadHandler } from './handler.js';
import { InvokeLoop } from './invoke-loop.js';
import { RapidClient } from './rapid-client.js';
import { installAwsLambdaGlobal } from './streaming.js';

/**
 * Entry point of the built-in Node.js runtime client, spawned by sluice-runtime for the nodejs22 and
 * nodejs24 runtimes with the reserved environment variables set. It imports nothing outside Node's
 * standard library, so the function's own modules resolve exactly as they would elsewhere.
 */
function main(): void {
  const env = process.env;
  const client = new RapidClient(env.AWS_LAMBDA_RUNTIME_API ?? '');
  const loop = new InvokeLoop(client, env, env.AWS_EXECUTION_ENV !== 'AWS_Lambda_nodejs24.x');
  patchConsole(
    () => loop.requestId,
    (line) => process.stdout.write(line),
    env,
  );
  loop.install();
  installAwsLambdaGlobal();
  loadHandler(env.LAMBDA_TASK_ROOT ?? '/var/task', env._HANDLER ?? 'index.handler')
    .then((handler) => loop.start(handler))
    .catch((err: unknown) => {
      console.error('Uncaught Exception', toFormatted(err));
      loop.failInit(err);
    });
}

main();
