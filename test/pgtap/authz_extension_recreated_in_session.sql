-- The backend remembers the OIDs of mt.roles, mt.role_assignments,
-- mt.workspaces and mt.api_key_secrets for its permission resolutions
-- (src/authz.c) and looks them up again after their invalidation: a
-- session that saw the extension dropped and created again resolves
-- permissions from the new tables (not the dropped ones' OIDs).
\set ON_ERROR_STOP 1
\set QUIET 1
SELECT mt.create_tenant('Acme', 'acme') AS acme \gset
SELECT mt.set_tenant(:'acme', false);
SELECT mt.grant_role('vic', 'viewer');
RESET multitenant.token;
\set QUIET 0

SELECT plan(4);
SELECT mt.set_tenant_subject(:'acme', 'vic', is_local => false);
SELECT ok(mt.has_permission('projects:read') AND NOT mt.has_permission('projects:write'),
          'resolved from the first tables');
RESET multitenant.token;
BEGIN;
SET LOCAL multitenant.allow_drop_extension = on;
SET LOCAL client_min_messages = error;
DROP EXTENSION multitenant;
COMMIT;
CREATE EXTENSION multitenant;
SELECT mt.create_tenant('Acme', 'acme') AS acme2 \gset
SELECT mt.set_tenant(:'acme2', false);
SELECT mt.grant_role('vic', 'member');
RESET multitenant.token;
SELECT mt.set_tenant_subject(:'acme2', 'vic', is_local => false);
SELECT lives_ok($$SELECT mt.has_permission('projects:write')$$, 'the same session resolves after the extension was re-created');
SELECT ok(mt.has_permission('projects:write'), 'from the new tables');
SELECT mt.set_tenant_subject(:'acme2', 'nobody', is_local => false);
SELECT ok(NOT mt.has_permission('projects:read'), 'and a subject without roles holds nothing');
RESET multitenant.token;
SELECT * FROM finish();
