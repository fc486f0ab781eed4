-- multitenant 0.4.0 -> 0.5.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.4.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.4.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.5.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- PostgREST db-pre-request: mt.enter_from_request() (issue 17 item 2; src/request.c)
CREATE FUNCTION mt.enter_from_request() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_enter_from_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mt.enter_from_request() IS 'PostgREST db-pre-request: the bearer token of the Authorization header in request.headers enters the verified context for the transaction (as SET LOCAL multitenant.token); no header: no context; a malformed header or a token that does not verify: 28000. Never reads request.jwt.claims. Returns the tenant or NULL.';
