-- multitenant 0.7.0 -> 0.8.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.7.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.7.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.8.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------
-- Audit appends at the cost of a plain INSERT (issue 18), continued.
-- The chain index holds sealed events only: an append took an entry in
-- it (seq NULL) besides its entry in the sealer's work list, and sealing
-- took a second one.  Now every event has one index entry while unsealed
-- (audit_log_unsealed) and one once sealed (audit_log_chain), the two
-- entries a plain INSERT into a table with a primary key and a tenant
-- index takes.  The unique constraint becomes a unique partial index of
-- the same name; building it reads the table under the update's lock.
-- ---------------------------------------------------------------------
ALTER TABLE mt.audit_log DROP CONSTRAINT audit_log_chain;
CREATE UNIQUE INDEX audit_log_chain ON mt.audit_log (tenant_id, seq) WHERE seq IS NOT NULL;
COMMENT ON INDEX mt.audit_log_chain IS 'The sealed audit events, one per chain position (tenant, seq); unsealed events are in audit_log_unsealed only.';

-- ---------------------------------------------------------------------
-- The tenants' read policy on mt.audit_log spelled per partial index: the
-- same rows (tenant_id = mt.current_tenant()), read through audit_log_chain
-- and audit_log_unsealed instead of a scan of the whole table.
-- ---------------------------------------------------------------------
ALTER POLICY tenant_read ON mt.audit_log
    USING ((tenant_id = mt.current_tenant() AND seq IS NOT NULL)
           OR (tenant_id = mt.current_tenant() AND seq IS NULL));
