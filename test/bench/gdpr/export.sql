\set s random(0, :nsubj - 1)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_token;
SELECT mt.gdpr_export('user-' || :s);
END;
