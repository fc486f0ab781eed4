#!/usr/bin/env bash
# Makes a private, relocated copy of the PostgreSQL 15 tree under $1 so a
# second checkout can `make install` and run tests without touching the
# system installation:  MT_PG_PREFIX=$1 MT_ROOT=... MT_PORT=... make test
set -euo pipefail
dest=${1:?usage: private-pg.sh DIR}
bash "$(dirname "$0")/deps.sh"
rm -rf "$dest"
mkdir -p "$dest/usr/lib/postgresql" "$dest/usr/share/postgresql"
cp -a /usr/lib/postgresql/15 "$dest/usr/lib/postgresql/"
cp -a /usr/share/postgresql/15 "$dest/usr/share/postgresql/"
mkdir -p "$dest/usr/include"
cp -a /usr/include/postgresql "$dest/usr/include/"
echo "private PostgreSQL tree: $dest (pg_config: $dest/usr/lib/postgresql/15/bin/pg_config)"
