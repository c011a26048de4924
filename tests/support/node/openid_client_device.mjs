// The RFC 8628 device grant with npm `openid-client` v6, run by tests/integration/test_rp_openid_client_fapi.py.
//   stdin  (first line): {"issuer", "client_id", "scope"}
//   stdout: {"user_code", "verification_uri", "interval"}   — Python approves the code as the person
//   stdin : {"approved": true}
//   stdout: {"ok": true, "claims", "token_type"} or {"ok": false, "error", "step"}
import * as client from "openid-client";
import * as readline from "node:readline";

const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const nextJson = async () => JSON.parse((await lines.next()).value);
const say = (value) => process.stdout.write(JSON.stringify(value) + "\n");

let step = "discovery";
try {
  const input = await nextJson();
  const config = await client.discovery(new URL(input.issuer), input.client_id,
    { id_token_signed_response_alg: "ES256" }, client.None(), { execute: [client.allowInsecureRequests] });
  client.enableNonRepudiationChecks(config);
  step = "device-authorization";
  const started = await client.initiateDeviceAuthorization(config, { scope: input.scope });
  say({ user_code: started.user_code, verification_uri: started.verification_uri, interval: started.interval });
  await nextJson();
  step = "poll";
  const tokens = await client.pollDeviceAuthorizationGrant(config, started);
  say({ ok: true, claims: tokens.claims(), token_type: tokens.token_type, has_refresh: !!tokens.refresh_token });
} catch (error) {
  say({ ok: false, step, error: `${error.name}: ${error.message}`, code: error.code ?? null,
        cause: error.cause ? JSON.stringify(error.cause) : null });
}
