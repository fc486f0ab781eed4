\set t random(1, 1000)
BEGIN;
SELECT set_config('multitenant.token', token, true) FROM bench_subjects WHERE kind = 'big' AND i = :t;
SELECT mt.has_permission(E'res1\x3aread');  -- no colon: pgbench reads :name as a variable
END;
