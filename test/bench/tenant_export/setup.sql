-- the source: tenant "big" with :rows rows, tenant "other" with a tenth of that
\ir schema.sql
SELECT mt.create_tenant('Big', 'big') AS big \gset
SELECT mt.create_tenant('Other', 'other') AS other \gset
INSERT INTO items SELECT :'big', g, g % 100, 'label ' || g || ' some text', '2026-01-01'::timestamptz + g * interval '1 second', g / 100.0
FROM generate_series(1, :rows) g;
INSERT INTO items SELECT :'other', g, g % 100, 'label ' || g, now(), g FROM generate_series(1, :rows / 10) g;
VACUUM ANALYZE items;
CREATE TABLE bench_tenant AS SELECT :'big'::uuid AS id;
