-- multitenant 0.2.0 -> 0.3.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.2.0 appears here too;
-- test/shell/extension_upgrade.sh checks that an updated 0.2.0 (and 0.1.0,
-- through 0.2.0) has exactly the objects of a fresh 0.3.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit
