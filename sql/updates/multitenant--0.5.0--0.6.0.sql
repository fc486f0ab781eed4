-- multitenant 0.5.0 -> 0.6.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.5.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.5.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.6.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------
-- mt.rewrap_audit_keys re-seals TOTP and SSO secrets too (its comment).
-- ---------------------------------------------------------------------
COMMENT ON FUNCTION mt.rewrap_audit_keys(integer) IS 'Privileged (DBAs, operators, pg_cron): re-wraps up to batch audit subject keys, then TOTP secrets and SSO client secrets, under the active audit_kek version; returns how many; resumable, schedulable with pg_cron.';
