-- multitenant install script, part 60: compliance checks and reports.

CREATE SEQUENCE mt.compliance_run_seq;
CREATE TABLE mt.compliance_checks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      bigint NOT NULL,
    check_id    text NOT NULL,
    title       text NOT NULL,
    standards   text[] NOT NULL,
    controls    text[] NOT NULL,
    severity    text NOT NULL CHECK (severity IN ('high', 'medium', 'low')),
    status      text NOT NULL CHECK (status IN ('pass', 'warn', 'fail')),
    details     jsonb NOT NULL,
    checked_at  timestamptz NOT NULL
);
CREATE INDEX ON mt.compliance_checks (checked_at);
CREATE INDEX ON mt.compliance_checks (check_id, checked_at);
SELECT pg_catalog.pg_extension_config_dump('mt.compliance_checks', '');
SELECT pg_catalog.pg_extension_config_dump('mt.compliance_run_seq', '');
SELECT pg_catalog.pg_extension_config_dump('mt.compliance_checks_id_seq', '');

CREATE FUNCTION mt.run_compliance_checks(
    OUT check_id text, OUT title text, OUT standards text[], OUT severity text,
    OUT status text, OUT details jsonb, OUT checked_at timestamptz) RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_run_compliance_checks' LANGUAGE C VOLATILE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.compliance_catalog(
    OUT check_id text, OUT title text, OUT standards text[], OUT controls text[], OUT severity text)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'mt_compliance_catalog' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION mt.compliance_report(standard text DEFAULT NULL,
                                     "from" timestamptz DEFAULT now() - interval '30 days',
                                     "to" timestamptz DEFAULT now()) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'mt_compliance_report' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION mt.compliance_report_text(standard text DEFAULT NULL,
                                          "from" timestamptz DEFAULT now() - interval '30 days',
                                          "to" timestamptz DEFAULT now()) RETURNS text
    AS 'MODULE_PATHNAME', 'mt_compliance_report_text' LANGUAGE C STABLE PARALLEL UNSAFE
    SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION mt.run_compliance_checks() FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.compliance_report(text, timestamptz, timestamptz) FROM PUBLIC;
REVOKE ALL ON FUNCTION mt.compliance_report_text(text, timestamptz, timestamptz) FROM PUBLIC;

-- ---------------------------------------------------------------------
-- Comments: \d+ documents every object (wording from doc/compliance.md;
-- test/pgtap/catalog_comments.sql requires one on every object)
-- ---------------------------------------------------------------------
COMMENT ON TABLE mt.compliance_checks IS 'History of compliance check results, one row per check and run; not readable by PUBLIC.';
COMMENT ON FUNCTION mt.run_compliance_checks() IS 'Privileged (admins, auditors): runs every compliance check, stores the results in mt.compliance_checks and returns them.';
COMMENT ON FUNCTION mt.compliance_catalog() IS 'The compliance checks with their standards, controls and severity.';
COMMENT ON FUNCTION mt.compliance_report(text, timestamptz, timestamptz) IS 'Privileged (admins, auditors): compliance report as jsonb, per standard and control, over the check runs in a time window.';
COMMENT ON FUNCTION mt.compliance_report_text(text, timestamptz, timestamptz) IS 'Privileged (admins, auditors): the compliance report rendered as text for people.';
