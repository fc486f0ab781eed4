-- multitenant 0.3.0 -> 0.4.0 (ALTER EXTENSION multitenant UPDATE).
-- Every change to sql/install/ since 0.3.0 appears here too, in sections
-- appended in the order they landed; test/shell/extension_upgrade.sh checks
-- that an updated 0.3.0 (and 0.1.0, 0.2.0 through the earlier scripts) has
-- exactly the objects of a fresh 0.4.0 install.
\echo Use "ALTER EXTENSION multitenant UPDATE" to load this file. \quit
