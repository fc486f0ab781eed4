-- multitenant install script: the tenant context from a gateway's request (issue 17 item 2;
-- src/request.c, doc/identity.md "PostgREST and Supabase")
CREATE FUNCTION mt.enter_from_request() RETURNS uuid
    AS 'MODULE_PATHNAME', 'mt_enter_from_request' LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION mt.enter_from_request() IS 'PostgREST db-pre-request: the bearer token of the Authorization header in request.headers enters the verified context for the transaction (as SET LOCAL multitenant.token); no header: no context; a malformed header or a token that does not verify: 28000. Never reads request.jwt.claims. Returns the tenant or NULL.';
