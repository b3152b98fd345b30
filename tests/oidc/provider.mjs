// A real OpenID Connect provider for the sign-in browser tests (never for production).
//
//     node provider.mjs PORT CONFIG.json
//
// CONFIG.json: {"client_id", "client_secret", "redirect_uri", "accounts": {login: {claims…}}}.
// The issuer is http://localhost:PORT while the dashboard runs on 127.0.0.1, so the two sites'
// cookies never mix in the browser. The built-in login form (devInteractions) accepts any password
// and the login becomes the account id; there is no consent screen. Prints `ready ISSUER` once
// it listens.
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [, , port, configFile] = process.argv;
if (!port || !configFile) {
  console.error('usage: node provider.mjs PORT CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
const issuer = `http://localhost:${port}`;
const SCOPE = 'openid email profile groups';

const provider = new Provider(issuer, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: [config.redirect_uri],
    post_logout_redirect_uris: [config.redirect_uri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  async findAccount(ctx, id) {
    const person = (config.accounts ?? {})[id] ?? { email: id };
    return { accountId: id, async claims() { return { sub: id, email_verified: true, ...person }; } };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  scopes: SCOPE.split(' '),
  // Streamlit reads the person's claims from the ID token only, so put them all there.
  conformIdTokenClaims: false,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  cookies: { keys: ['pilot-health-test-only'] },
  // Every sign-in is already granted every scope: no consent screen to click through.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(SCOPE);
    await grant.save();
    return grant;
  },
});

provider.listen(Number(port), '127.0.0.1', () => console.log(`ready ${issuer}`));
