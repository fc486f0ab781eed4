-- Custom domains (issue 17 item 4): a host resolves to its tenant only once
-- verified, one tenant per domain (a second tenant cannot claim or take
-- over a domain, verified or not), names normalized once (case, trailing
-- dot) and refused when they cannot be normalized (non-ASCII U-labels,
-- mixed-script or malformed punycode A-labels, IP addresses, bad labels);
-- the admin functions are privileged, tenant_by_host is for every role.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.create_tenant('Initech', 'initech') AS initech \gset
DROP ROLE IF EXISTS mt_test_router;
CREATE ROLE mt_test_router NOLOGIN;
\set QUIET 0

SELECT plan(37);

-- claim, unverified: never resolves
SELECT matches(mt.add_domain(:'acme', 'App.Acme.EXAMPLE.'), '^mt-domain-verification=[0-9a-f]{40}$',
               'add_domain returns a verification token');
SELECT is((SELECT host FROM mt.domains WHERE tenant_id = :'acme'), 'app.acme.example',
          'the host is stored normalized (lowercase, no trailing dot)');
SELECT is(mt.tenant_by_host('app.acme.example'), NULL, 'an unverified domain does not resolve');
-- a second claim by the same tenant re-issues the token
SELECT isnt((SELECT verification_token FROM mt.domains WHERE host = 'app.acme.example'),
            mt.add_domain(:'acme', 'app.acme.example'), 'claiming again issues a new token');
-- another tenant cannot take an unverified claim either
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'APP.acme.example'), '23505',
                 'domain "app.acme.example" is already claimed by another tenant',
                 'a second tenant cannot claim a pending domain');
SELECT is(mt.verify_domain('app.acme.example.'), :'acme'::uuid, 'verify_domain returns the tenant');
SELECT is(mt.verify_domain('app.acme.example'), :'acme'::uuid, 'verifying again is a no-op');
SELECT is(mt.tenant_by_host('app.acme.example'), :'acme'::uuid, 'a verified domain resolves');
SELECT is(mt.tenant_by_host('APP.Acme.Example.'), :'acme'::uuid, 'case and a trailing dot resolve the same');
SELECT is(mt.tenant_by_host('app.acme.example..'), NULL, 'two trailing dots do not');
SELECT is(mt.tenant_by_host('xapp.acme.example'), NULL, 'another host does not');
SELECT is(mt.tenant_by_host(repeat('a', 100000)), NULL, 'a huge host does not (and is not an error)');
SELECT is(mt.tenant_by_host('аpp.acme.example'), NULL, 'a Cyrillic look-alike does not');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'app.acme.example'), '23505',
                 'domain "app.acme.example" is already claimed by another tenant',
                 'a second tenant cannot claim a verified domain');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'acme', 'app.acme.example'), '42710', NULL,
                 're-claiming a verified domain is refused (its token stays)');
SELECT is(mt.tenant_by_host('app.acme.example'), :'acme'::uuid, 'the domain still resolves to its tenant');

-- normalization and refusals (22023, nothing stored)
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'аpple.example'), '22023', 'invalid domain name',
                 'a non-ASCII name (U-label) is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'xn--pple-43d.example'), '22023', 'invalid domain name',
                 'a mixed-script A-label (Cyrillic a + Latin) is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'xn--exmple-qta498d.example'), '22023', 'invalid domain name',
                 'a mixed-script A-label (Latin with accents + Cyrillic) is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'xn--xample-hy68a.example'), '22023', 'invalid domain name',
                 'a full-width Latin letter is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'xn--bc-20w.example'), '22023', 'invalid domain name',
                 'a symbol (circled letter) is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'xn--99999999999.example'), '22023', 'invalid domain name',
                 'malformed punycode is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'ab--cd.example'), '22023', 'invalid domain name',
                 'hyphens in positions 3-4 of a non-A-label are refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', '-a.example'), '22023', 'invalid domain name',
                 'a label starting with a hyphen is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'a..example'), '22023', 'invalid domain name',
                 'an empty label is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'localhost'), '22023', 'invalid domain name',
                 'a single label is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', '10.0.0.1'), '22023', 'invalid domain name',
                 'an IP address is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'a_b.example'), '22023', 'invalid domain name',
                 'an underscore is refused');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', repeat('a.', 127) || 'ex'), '22023', 'invalid domain name',
                 'a name over 253 characters is refused');
SELECT is((SELECT count(*) FROM mt.domains WHERE tenant_id = :'globex'), 0::bigint, 'no refused name was stored');
-- internationalized names in one script are accepted as A-labels
SELECT lives_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'XN--MNCHEN-3YA.example'), 'a Latin A-label (münchen) is accepted');
SELECT lives_ok(format('SELECT mt.add_domain(%L, %L), mt.add_domain(%L, %L)', :'globex', 'xn--e1afmkfd.example',
                       :'globex', 'xn--fiqs8s.xn--hxajbheg2az3al'), 'Cyrillic, Han and Greek A-labels are accepted');

-- who may call what
SET ROLE mt_test_router;
SELECT is(mt.tenant_by_host('app.acme.example'), :'acme'::uuid, 'any role can route by host');
SELECT throws_ok(format('SELECT mt.add_domain(%L, %L)', :'globex', 'evil.example'), '42501', NULL, 'a role cannot claim domains');
SELECT throws_ok('SELECT mt.verify_domain(''xn--mnchen-3ya.example'')', '42501', NULL, 'a role cannot verify domains');
SELECT is((SELECT count(*) FROM mt.domains), 0::bigint, 'a role without a tenant context sees no domain row');
RESET ROLE;
-- a tenant dropped for good: its row cascades only on a hard delete; removing the claim
SELECT ok(mt.remove_domain('App.Acme.Example'), 'remove_domain removes a verified domain');

SELECT * FROM finish();
