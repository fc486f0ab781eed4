BEGIN;
SELECT mt.set_tenant(:big, true);
SELECT bench_write();
COMMIT;
