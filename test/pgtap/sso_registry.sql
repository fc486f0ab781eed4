-- SSO providers and external identities (issue 17 item 3): an email
-- domain leads to one provider (a second tenant cannot claim it), a
-- login page finds the provider by email (case, trailing dot, no answer
-- for unknown, malformed or suspended tenants), external ids map to one
-- subject per provider (relinking to another subject refused), the client
-- secret is stored sealed and readable in clear only through the
-- privileged function; bad input (kind, issuer, mapping, domains) 22023.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
DROP ROLE IF EXISTS mt_test_login;
CREATE ROLE mt_test_login NOLOGIN;
\set QUIET 0

SELECT plan(30);

SELECT mt.add_sso_provider(:'acme', 'oidc', 'Acme Okta', 'https://acme.okta.example/oauth2/default',
                           ARRAY['Acme.COM.', 'acme-corp.example'], '{"email": "email", "groups": "groups"}',
                           'client-123', 's3cr3t-client-value') AS p_acme \gset
SELECT ok(:'p_acme' IS NOT NULL, 'a provider is registered');
SELECT is((SELECT array_agg(domain ORDER BY domain) FROM mt.sso_email_domains WHERE provider_id = :'p_acme'),
          ARRAY['acme-corp.example', 'acme.com']::text[], 'email domains are stored normalized');
SELECT ok((SELECT position(convert_to('s3cr3t-client-value', 'UTF8') IN client_secret_enc) = 0
           FROM mt.sso_providers WHERE id = :'p_acme'), 'the client secret is not stored in clear');
SELECT is(mt.sso_client_secret(:'p_acme'), 's3cr3t-client-value', 'the login service reads the client secret back');

-- login page
SELECT results_eq(format('SELECT tenant_id, provider_id, kind FROM mt.sso_provider_for(%L)', 'Alice@ACME.com'),
                  format('VALUES (%L::uuid, %L::uuid, %L::text)', :'acme', :'p_acme', 'oidc'),
                  'an email of the domain finds the tenant and provider (case-insensitive domain)');
SELECT is_empty($$SELECT * FROM mt.sso_provider_for('alice@sub.acme.com')$$, 'a subdomain is another domain');
SELECT is_empty($$SELECT * FROM mt.sso_provider_for('alice@gmail.com')$$, 'an unknown domain: no row');
SELECT is_empty($$SELECT * FROM mt.sso_provider_for('no-at-sign')$$, 'a malformed address: no row, no error');
SELECT is_empty($$SELECT * FROM mt.sso_provider_for('alice@аcme.com')$$, 'a look-alike domain: no row');
SELECT is_empty(format('SELECT * FROM mt.sso_provider_for(%L)', repeat('a', 100000) || '@acme.com'), 'a huge address: no row');

-- one provider per email domain
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'saml', 'Evil', 'https://evil.example/metadata', ARRAY['acme.com'])$$, :'globex'),
                 '23505', 'email domain "acme.com" already has an SSO provider', 'a second tenant cannot claim an email domain');
SELECT is((SELECT count(*) FROM mt.sso_providers WHERE tenant_id = :'globex'), 0::bigint, 'nothing of the refused provider is stored');

-- bad input
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'ldap', 'x', 'https://x.example', ARRAY['globex.com'])$$, :'globex'), '22023', NULL, 'an unknown kind is refused');
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'oidc', 'x', 'http://x.example', ARRAY['globex.com'])$$, :'globex'), '22023', NULL, 'an OIDC issuer that is not https is refused');
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'oidc', 'x', 'https://x.example', ARRAY['globex.com'], '[1]')$$, :'globex'), '22023', NULL, 'a mapping that is not an object is refused');
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'oidc', 'x', 'https://x.example', ARRAY['globex.com'], '{"email": {"a": 1}}')$$, :'globex'), '22023', NULL, 'a nested mapping is refused');
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'oidc', 'x', 'https://x.example', ARRAY['globex.com'], '{"email": 5}')$$, :'globex'), '22023', NULL, 'a mapping value that is not a string is refused');
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'oidc', 'x', 'https://x.example', ARRAY['glоbex.com'])$$, :'globex'), '22023', NULL, 'a non-ASCII email domain is refused');
SELECT throws_ok(format($$SELECT mt.add_sso_provider(%L, 'oidc', 'x', 'https://x.example', ARRAY[]::text[])$$, :'globex'), '22023', NULL, 'a provider without email domains is refused');
SELECT throws_ok($$SELECT mt.add_sso_provider(gen_random_uuid(), 'oidc', 'x', 'https://x.example', ARRAY['nobody.example'])$$, '42704', NULL, 'an unknown tenant is refused');

-- external identities
SELECT lives_ok(format($$SELECT mt.link_identity(%L, '00u1abc', 'alice')$$, :'p_acme'), 'an external id is linked');
SELECT lives_ok(format($$SELECT mt.link_identity(%L, '00u1abc', 'alice')$$, :'p_acme'), 'linking it again to the same subject is a no-op');
SELECT throws_ok(format($$SELECT mt.link_identity(%L, '00u1abc', 'mallory')$$, :'p_acme'), '23505', NULL, 'relinking it to another subject is refused');
SELECT results_eq(format($$SELECT tenant_id, subject FROM mt.resolve_identity(%L, '00u1abc')$$, :'p_acme'),
                  format($$VALUES (%L::uuid, 'alice'::text)$$, :'acme'), 'the external id resolves to its tenant and subject');
SELECT is_empty(format($$SELECT * FROM mt.resolve_identity(%L, '00u1ABC')$$, :'p_acme'), 'external ids are exact');

-- suspended tenants do not resolve
SELECT 1 AS x FROM mt.suspend_tenant(:'acme') \gset
SELECT is_empty($$SELECT * FROM mt.sso_provider_for('alice@acme.com')$$, 'a suspended tenant''s provider is not offered');
SELECT is_empty(format($$SELECT * FROM mt.resolve_identity(%L, '00u1abc')$$, :'p_acme'), 'a suspended tenant''s identity does not resolve');
SELECT 1 AS x FROM mt.resume_tenant(:'acme') \gset

-- who may call what
SET ROLE mt_test_login;
SELECT is((SELECT count(*) FROM mt.sso_provider_for('bob@acme.com')), 1::bigint, 'any role can ask which provider serves an email');
SELECT throws_ok(format('SELECT mt.sso_client_secret(%L)', :'p_acme'), '42501', NULL, 'a role cannot read client secrets');
SELECT throws_ok(format($$SELECT * FROM mt.resolve_identity(%L, '00u1abc')$$, :'p_acme'), '42501', NULL, 'a role cannot resolve identities');
RESET ROLE;

SELECT * FROM finish();
