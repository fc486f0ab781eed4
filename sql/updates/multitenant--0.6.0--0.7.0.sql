-- multitenant 0.6.0 -> 0.7.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.6.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.6.0 (and every earlier release, through the chain of
-- scripts) has exactly the objects of a fresh 0.7.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit

-- ---------------------------------------------------------------------
-- Audit appends at the cost of a plain INSERT (issue 18).
-- mt.audit_log loses its primary key: the sealer rewrites every row once,
-- and the index on id took an entry per append and per rewrite.  Ids stay
-- unique by construction (mt.audit_log_id_seq; imports write only into a
-- free range); events are found by tenant (audit_log_chain).  The
-- table's replica identity becomes FULL, so that publications carrying it
-- still identify the rows the sealer updates.  mt.audit() and
-- mt.audit_many() run as the caller: their C code appends as the extension
-- owner itself, and the per-call SECURITY DEFINER / search_path switch cost
-- about 8,000 instructions per append.
-- ---------------------------------------------------------------------
ALTER TABLE mt.audit_log DROP CONSTRAINT audit_log_pkey;
ALTER TABLE mt.audit_log REPLICA IDENTITY FULL;
ALTER FUNCTION mt.audit(text, text, text, jsonb, text) SECURITY INVOKER RESET search_path;
ALTER FUNCTION mt.audit_many(text[], text[], text[], jsonb[]) SECURITY INVOKER RESET search_path;
