// The handler of the custom-runtime example image: plain Lambda Node.js code, run by AWS's
// Runtime Interface Client (npm aws-lambda-ric), which talks to sluice-runtime's Runtime API.
//   {"fail": "x"}       throws a TypeError (a function error)
//   {"sleepMs": 5000}   sleeps first (past the function's timeout: Sandbox.Timedout)
/* global setTimeout */
export const handler = async (event, context) => {
  if (event?.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  if (event?.fail) throw new TypeError(`custom failure: ${event.fail}`);
  return {
    from: 'aws-lambda-ric',
    event,
    requestId: context.awsRequestId,
    fn: context.functionName,
    pid: process.pid,
  };
};
