-- Per-tenant branding (issue 17 item 4): a login page reads a tenant's
-- branding by host through a verified custom domain only; the document is
-- validated before anything is stored (unknown keys, wrong types, non-https
-- or credential-bearing URLs, malformed colours and emails, control
-- characters: 22023 naming the path, the previous document unchanged);
-- only the back office writes it, and every write is audited.
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.create_tenant('Globex', 'globex') AS globex \gset
SELECT mt.add_domain(:'acme', 'login.acme.example') IS NOT NULL, mt.verify_domain('login.acme.example') IS NOT NULL;
SELECT mt.add_domain(:'globex', 'login.globex.example') IS NOT NULL;
DROP ROLE IF EXISTS mt_test_login_page;
CREATE ROLE mt_test_login_page NOLOGIN;
\set QUIET 0

SELECT plan(34);

\set good '{"name": "Acme Corp", "logo_url": "https://cdn.acme.example/logo.svg", "primary_color": "#1A2b3C", "accent_color": "#ffcc00", "support_email": "help@acme.example", "terms_url": "https://acme.example:8443/terms?v=2#top", "login_message": "Welcome\\nback"}'
SELECT is(mt.set_branding(:'acme', :'good'), :'good'::jsonb, 'a valid document is stored and returned');
SELECT is(mt.branding_for_host('Login.Acme.Example.'), :'good'::jsonb, 'the branding resolves by host (normalized)');
SELECT is(mt.branding_for_host('unknown.example'), NULL, 'an unknown host has no branding');
SELECT lives_ok(format('SELECT mt.set_branding(%L, %L)', :'globex', '{"name": "Globex"}'), 'a tenant with an unverified domain can be branded');
SELECT is(mt.branding_for_host('login.globex.example'), NULL, 'an unverified domain shows no branding');
SELECT is(mt.branding_for_host(repeat('a', 100000)), NULL, 'a huge host is no error');

-- bad input: 22023, the path named, nothing stored
CREATE FUNCTION pg_temp.bad(doc text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mt.set_branding((SELECT id FROM mt.tenants WHERE slug = 'acme'), doc::jsonb);
    RETURN 'accepted';
EXCEPTION WHEN invalid_parameter_value THEN
    DECLARE d text; BEGIN GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL; RETURN d; END;
END $$;
SELECT is(pg_temp.bad('{"name": "A", "colour": "#000000"}'), '$.colour: unknown key', 'an unknown key is refused');
SELECT is(pg_temp.bad('{"name": 5}'), '$.name: must be a string', 'a number is refused');
SELECT is(pg_temp.bad('{"name": {"en": "A"}}'), '$.name: must be a string', 'a nested object is refused');
SELECT is(pg_temp.bad('{"logo_url": ["https://a.example/x"]}'), '$.logo_url: must be a string', 'an array is refused');
SELECT is(pg_temp.bad('[]'), '$: must be a JSON object', 'an array document is refused');
SELECT is(pg_temp.bad('"x"'), '$: must be a JSON object', 'a scalar document is refused');
SELECT is(pg_temp.bad('{"logo_url": "http://cdn.acme.example/logo.svg"}'), '$.logo_url: must be an https:// URL', 'http is refused');
SELECT is(pg_temp.bad('{"logo_url": "javascript:alert(1)"}'), '$.logo_url: must be an https:// URL', 'javascript: is refused');
SELECT is(pg_temp.bad('{"logo_url": "https://user:pw@cdn.acme.example/x"}'), '$.logo_url: a URL must not hold user information (user@host)', 'credentials in a URL are refused');
SELECT is(pg_temp.bad('{"favicon_url": "https://cdn.acme.example/a b"}'), '$.favicon_url: a URL holds only printable ASCII without spaces, quotes, <, >, \, `, {, }, |, ^ (percent-encode the rest)', 'a space in a URL is refused');
SELECT is(pg_temp.bad('{"favicon_url": "https://cdn.acme.example/\"><script>"}'), '$.favicon_url: a URL holds only printable ASCII without spaces, quotes, <, >, \, `, {, }, |, ^ (percent-encode the rest)', 'markup in a URL is refused');
SELECT is(pg_temp.bad('{"support_url": "https://-bad-.example/"}'), '$.support_url: the URL''s host is not a valid domain name', 'a bad host is refused');
SELECT is(pg_temp.bad('{"support_url": "https://аcme.example/"}'), '$.support_url: a URL holds only printable ASCII without spaces, quotes, <, >, \, `, {, }, |, ^ (percent-encode the rest)', 'a Cyrillic look-alike host is refused');
SELECT is(pg_temp.bad('{"privacy_url": "https://acme.example:99999/"}'), '$.privacy_url: the URL''s port is not a number from 1 to 65535', 'a bad port is refused');
SELECT is(pg_temp.bad('{"primary_color": "#12345"}'), '$.primary_color: a colour is #rrggbb', 'a short colour is refused');
SELECT is(pg_temp.bad('{"primary_color": "red"}'), '$.primary_color: a colour is #rrggbb', 'a colour name is refused');
SELECT is(pg_temp.bad('{"text_color": "#12345g"}'), '$.text_color: a colour is #rrggbb', 'a non-hex colour is refused');
SELECT is(pg_temp.bad('{"support_email": "help"}'), '$.support_email: must be an email address local@domain (at most 254 bytes)', 'an address without @ is refused');
SELECT is(pg_temp.bad('{"support_email": "he\"lp@acme.example"}'), '$.support_email: the local part of the address is not a dot-atom', 'a quoted local part is refused');
SELECT is(pg_temp.bad('{"name": "A\u0007B"}'), '$.name: control characters are not allowed', 'a control character is refused');
SELECT is(pg_temp.bad('{"name": ""}'), '$.name: must be 1 to 100 characters', 'an empty name is refused');
SELECT is(mt.branding_for_host('login.acme.example'), :'good'::jsonb, 'after every refusal the stored document is unchanged');

-- who may call what; audit
SELECT is((SELECT count(*) FROM mt.audit_search_tenant(:'acme') WHERE action = 'branding.set'), 1::bigint,
          'the write is in the tenant''s audit chain');
SET ROLE mt_test_login_page;
SELECT is(mt.branding_for_host('login.acme.example'), :'good'::jsonb, 'any role reads the branding by host');
SELECT is((SELECT count(*) FROM mt.branding), 0::bigint, 'a role without a tenant context sees no branding row');
SELECT throws_ok(format('SELECT mt.set_branding(%L, %L)', :'acme', '{}'), '42501', NULL, 'a role cannot set branding');
RESET ROLE;
SELECT mt.suspend_tenant(:'acme') IS NOT NULL AS suspended \gset
SELECT is(mt.branding_for_host('login.acme.example'), NULL, 'a suspended tenant shows no branding');
SELECT throws_ok(format('SELECT mt.set_branding(%L, %L)', :'acme', '{}'), '55000', NULL, 'a suspended tenant cannot be branded');

SELECT * FROM finish();
