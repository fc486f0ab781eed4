-- The row-change trigger of mt.audit_table() records each row image with
-- the same details whatever way it builds them: every kind of column
-- (booleans and domains over them, integers, floats and numerics with
-- their special values, json and jsonb and domains over them, text with
-- quotes and control characters, arrays, composites, timestamps, bytea),
-- the 4096-byte cap (larger values become {"sha256", "bytes"}), dropped
-- columns, NULLs, UPDATE images holding only the changed columns, DELETE,
-- and the primary-key resource_id (columns in table order).  The expected
-- details are the ones the trigger wrote when it still built JSON text and
-- parsed it (0.5.0): a change in how details are built must not change a
-- byte of them (they are hashed into the chain).
\set ON_ERROR_STOP 1
\set QUIET 1
SET TimeZone = 'UTC';
CREATE DOMAIN public.flag AS boolean;
CREATE DOMAIN public.doc AS jsonb;
CREATE TYPE public.pair AS (a int, b text);
CREATE TABLE public.img (
    k1 int, k2 text, gone int, b boolean, f public.flag, s2 smallint, i4 int, i8 bigint, o oid,
    r4 real, r8 double precision, n numeric, t text, vc varchar(10), bp char(3), u uuid,
    ts timestamptz, iv interval, by bytea, arr int[], p public.pair, j json, jb jsonb, d public.doc,
    PRIMARY KEY (k2, k1));
ALTER TABLE public.img DROP COLUMN gone;
SELECT mt.audit_table('public.img', NULL);
\set QUIET 0

SELECT plan(14);

INSERT INTO public.img VALUES (1, 'a', true, false, 2, 4, 8, 16, 1.5, 2.25, 3.125, 'q"b\s' || chr(9) || chr(1) || 'é€😀', 'vc', 'x',
    '00000000-0000-0000-0000-0000000000aa', '2020-01-02 03:04:05.123456+00', '1 day 2 hours', '\x00ff', '{1,NULL,3}', '(5,"z y")',
    '{"x": 1, "x": 2, "y": [1.50, true, null]}', '{"b": 1, "a": "2"}', '"scalar"');
INSERT INTO public.img (k1, k2, r4, r8, n, j, jb, d) VALUES (2, 'b', 'NaN', '-Infinity', 'NaN', '7', '1e2', '{"n": -0.0}');
INSERT INTO public.img (k1, k2, r8, n, t, j, i8) VALUES (3, 'c', '1e20', '-0.000100', repeat('long', 1025), ('[' || repeat('1,', 2100) || '1]')::json, -9223372036854775808);
INSERT INTO public.img (k1, k2, r8, n) VALUES (4, 'd', '-0', 'Infinity');
INSERT INTO public.img (k1, k2, r4, r8, n) VALUES (5, 'e', '3.4e38', '1.7976931348623157e308', 1e-30);
UPDATE public.img SET b = NULL, t = 'changed', jb = jb, i4 = i4 + 1 WHERE k1 = 1;
UPDATE public.img SET j = '{"x": 3}' WHERE k1 = 2;
DELETE FROM public.img WHERE k1 = 2;
-- (added in 0.6.0: empty containers inside json values)
INSERT INTO public.img (k1, k2, j) VALUES (6, 'f', '{"e": {}, "a": [], "n": [[], {"x": []}]}');
-- (added in 0.6.0: primary keys of uuid and oid, an oid above 2^31)
CREATE TABLE public.img2 (u uuid, o oid, s smallint, PRIMARY KEY (u, o, s));
SELECT mt.audit_table('public.img2', NULL) \gset
INSERT INTO public.img2 VALUES ('0aa00000-0000-4000-8000-0000000000ff', 4294967295, -32768);
CREATE TEMP VIEW ev AS
    SELECT row_number() OVER (ORDER BY id) AS n, * FROM mt.audit_log WHERE resource_type = 'public.img';

SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 1),
          $exp$INSERT 1,a {"new": {"b": true, "d": "scalar", "f": false, "j": {"x": 2, "y": [1.50, true, null]}, "n": 3.125, "o": 16, "p": "(5,\"z y\")", "t": "q\"b\\s\t\u0001é€😀", "u": "00000000-0000-0000-0000-0000000000aa", "bp": "x  ", "by": "\\x00ff", "i4": 4, "i8": 8, "iv": "1 day 02:00:00", "jb": {"a": "2", "b": 1}, "k1": 1, "k2": "a", "r4": 1.5, "r8": 2.25, "s2": 2, "ts": "2020-01-02 03:04:05.123456+00", "vc": "vc", "arr": "{1,NULL,3}"}}$exp$,
          'event 1: INSERT of 1,a');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 2),
          $exp$INSERT 2,b {"new": {"b": null, "d": {"n": 0.0}, "f": null, "j": 7, "n": "NaN", "o": null, "p": null, "t": null, "u": null, "bp": null, "by": null, "i4": null, "i8": null, "iv": null, "jb": 100, "k1": 2, "k2": "b", "r4": "NaN", "r8": "-Infinity", "s2": null, "ts": null, "vc": null, "arr": null}}$exp$,
          'event 2: INSERT of 2,b');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 3),
          $exp$INSERT 3,c {"new": {"b": null, "d": null, "f": null, "j": {"bytes": 4203, "sha256": "c621485bd5a089859c9ec9d39e8f1dd672fbc26bb6bed6fa8510aa047a372bce"}, "n": -0.000100, "o": null, "p": null, "t": {"bytes": 4100, "sha256": "22aed1ae01ef148b5f502e21d9bef41f80d9533c0c60f6022a7dda02a986a751"}, "u": null, "bp": null, "by": null, "i4": null, "i8": -9223372036854775808, "iv": null, "jb": null, "k1": 3, "k2": "c", "r4": null, "r8": 100000000000000000000, "s2": null, "ts": null, "vc": null, "arr": null}}$exp$,
          'event 3: INSERT of 3,c');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 4),
          $exp$INSERT 4,d {"new": {"b": null, "d": null, "f": null, "j": null, "n": "Infinity", "o": null, "p": null, "t": null, "u": null, "bp": null, "by": null, "i4": null, "i8": null, "iv": null, "jb": null, "k1": 4, "k2": "d", "r4": null, "r8": 0, "s2": null, "ts": null, "vc": null, "arr": null}}$exp$,
          'event 4: INSERT of 4,d');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 5),
          $exp$INSERT 5,e {"new": {"b": null, "d": null, "f": null, "j": null, "n": 0.000000000000000000000000000001, "o": null, "p": null, "t": null, "u": null, "bp": null, "by": null, "i4": null, "i8": null, "iv": null, "jb": null, "k1": 5, "k2": "e", "r4": 340000000000000000000000000000000000000, "r8": 179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000, "s2": null, "ts": null, "vc": null, "arr": null}}$exp$,
          'event 5: INSERT of 5,e');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 6),
          $exp$UPDATE 1,a {"new": {"b": null, "t": "changed", "i4": 5}, "old": {"b": true, "t": "q\"b\\s\t\u0001é€😀", "i4": 4}}$exp$,
          'event 6: UPDATE of 1,a');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 7),
          $exp$UPDATE 2,b {"new": {"j": {"x": 3}}, "old": {"j": 7}}$exp$,
          'event 7: UPDATE of 2,b');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 8),
          $exp$DELETE 2,b {"old": {"b": null, "d": {"n": 0.0}, "f": null, "j": {"x": 3}, "n": "NaN", "o": null, "p": null, "t": null, "u": null, "bp": null, "by": null, "i4": null, "i8": null, "iv": null, "jb": 100, "k1": 2, "k2": "b", "r4": "NaN", "r8": "-Infinity", "s2": null, "ts": null, "vc": null, "arr": null}}$exp$,
          'event 8: DELETE of 2,b');
SELECT is((SELECT action || ' ' || resource_id || ' ' || details::text FROM pg_temp.ev WHERE n = 9),
          $exp$INSERT 6,f {"new": {"b": null, "d": null, "f": null, "j": {"a": [], "e": {}, "n": [[], {"x": []}]}, "n": null, "o": null, "p": null, "t": null, "u": null, "bp": null, "by": null, "i4": null, "i8": null, "iv": null, "jb": null, "k1": 6, "k2": "f", "r4": null, "r8": null, "s2": null, "ts": null, "vc": null, "arr": null}}$exp$,
          'event 9: INSERT of 6,f (empty containers)');
SELECT is((SELECT resource_id || ' ' || details::text FROM mt.audit_log WHERE resource_type = 'public.img2'),
          $exp$0aa00000-0000-4000-8000-0000000000ff,4294967295,-32768 {"new": {"o": 4294967295, "s": -32768, "u": "0aa00000-0000-4000-8000-0000000000ff"}}$exp$,
          'uuid, oid and smallint primary-key columns print as their output functions do');
SELECT is((SELECT count(*)::int FROM pg_temp.ev), 9, 'one event per row change, no more');
SELECT ok((SELECT resource_type = 'public.img' AND tenant_id = '00000000-0000-0000-0000-000000000000' FROM pg_temp.ev WHERE n = 1),
          'resource_type is the qualified table name; no tenant column: the no-tenant chain');
SELECT is((SELECT bool_and(ok) FROM mt.audit_verify()), true, 'every chain verifies (the details text is what was hashed)');
SELECT is((SELECT count(*)::int FROM mt.audit_log WHERE seq IS NULL), 0, 'verification sealed every event');

SELECT * FROM finish();
