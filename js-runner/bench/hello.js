// The ONES template's function (ts-hello), with the SDK's parts it uses
// reduced to what they do: Logger.info formats and logs through __op.log.
const Logger = {
  info: (...args) => console.info(...args),
};

export async function jackFunc(request) {
  Logger.info('[Plugin] body %s', request.body);
  return { body: { res: 'hello world', requestBody: request.body } };
}

export async function quiet(request) {
  return { body: { res: 'hello world', requestBody: request.body } };
}

export function plain() {
  return { body: 'ok' };
}
