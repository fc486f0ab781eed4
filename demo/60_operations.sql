\pset footer off
\set QUIET on
\echo
\echo '--- 9. Operations: the server keys and their rotation ------------------'
\echo 'Fingerprints of the keys derived from $PGDATA/multitenant.secret (compare'
\echo 'them on a restored cluster or a standby before cut-over; no key material):'
SELECT purpose, version, fingerprint, state, in_use FROM mt.secret_fingerprints() ORDER BY 1, 2;
\echo
\echo 'Rotate the token signing key: new tokens carry version 2 in their "kid",'
\echo 'tokens of version 1 keep working until version 1 is retired.'
SELECT mt.rotate_secret('token') AS new_version;
SELECT convert_from(decode(rpad(translate(split_part(mt.tenant_token(id, '5 min'), '.', 1), '-_', '+/'),
                                4 * ceil(length(split_part(mt.tenant_token(id, '5 min'), '.', 1)) / 4.0)::int, '='),
                           'base64'), 'UTF8') AS new_token_header
FROM mt.tenants WHERE slug = 'acme';
SELECT mt.retire_secret('token', 1);
SELECT purpose, version, state FROM mt.secret_fingerprints() WHERE purpose = 'token' ORDER BY 2;
\echo
\echo 'On a hot standby every function either works or refuses with one clear'
\echo 'error (SQLSTATE 25006, "Run it on the primary server."): doc/operations.md.'
