// node-oidc-provider as a peer of our token endpoint, for `python -m bench --peer`.
//
//   node server.js --alg ES256 --port 3000      (or ALG=ES256 PORT=3000 node server.js)
//
// One process on 127.0.0.1, NODE_ENV=production, the provider's default settings except:
// one client `client`/`secret` (client_credentials, client_secret_basic, scope api1), and
// resource indicators with a default resource, so that our exact request bytes
// (`grant_type=client_credentials&scope=api1`, no `resource`) get an RFC 9068 JWT access
// token signed with --alg (ES256 or RS256) by a key made at start. Port 0 picks a free one;
// the line `listening on http://127.0.0.1:PORT` says which.

import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

process.env.NODE_ENV = 'production'; // before the provider and koa are loaded

const { default: Provider } = await import('oidc-provider');

const { values } = parseArgs({
  options: {
    alg: { type: 'string', default: process.env.ALG ?? 'ES256' },
    port: { type: 'string', default: process.env.PORT ?? '3000' },
  },
});
const KEYS = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
};
if (!(values.alg in KEYS) || !/^\d+$/.test(values.port)) {
  console.error('usage: node server.js --alg ES256|RS256 --port PORT');
  process.exit(2);
}
const alg = values.alg;
const signingKey = { ...KEYS[alg]().privateKey.export({ format: 'jwk' }), alg, use: 'sig' };

// RFC 8707 wants an absolute URI as the indicator; the token's aud is api1, as ours.
const RESOURCE = 'urn:api1';
const server = createServer();
server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: 'client',
      client_secret: 'secret',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api1',
      id_token_signed_response_alg: alg, // the only key is of --alg (no ID tokens here)
    }],
    scopes: ['openid', 'offline_access', 'api1'], // the defaults, and api1 for the client
    jwks: { keys: [signingKey] },
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => RESOURCE,
        getResourceServerInfo: async () => ({
          scope: 'api1',
          audience: 'api1',
          accessTokenTTL: 3600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        }),
      },
    },
  });
  server.on('request', provider.callback());
  console.log(`node-oidc-provider ${alg}: listening on ${issuer}`);
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(0)); // at once: keep-alive clients may still be connected
}
