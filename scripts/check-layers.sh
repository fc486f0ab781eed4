#!/usr/bin/env bash
# check-layers.sh: the #include "..." edges between the modules of src/
# (a module is x.c plus x.h) must form no cycle.  Prints every edge, one
# "from -> to" a line, then either "no cycle" (exit 0) or each cycle found,
# "cycle: a -> b -> ... -> a" (exit 1).  Usage: scripts/check-layers.sh [srcdir]
set -euo pipefail
SRC=${1:-"$(dirname "$0")/../src"}
exec python3 - "$SRC" <<'PY'
import os, re, sys

src = sys.argv[1]
files = sorted(f for f in os.listdir(src) if f.endswith(('.c', '.h')))
modules = {os.path.splitext(f)[0] for f in files}
edges = {m: set() for m in modules}
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)\.h"', re.M)
for f in files:
    m = os.path.splitext(f)[0]
    with open(os.path.join(src, f), encoding='utf-8', errors='replace') as fh:
        for target in inc.findall(fh.read()):
            # only headers of src/ itself ("catalog/pg_type.h" is PostgreSQL's)
            if target in modules and os.path.exists(os.path.join(src, target + '.h')) and target != m:
                edges[m].add(target)

for m in sorted(edges):
    for t in sorted(edges[m]):
        print(f"{m} -> {t}")

# depth-first search; a back edge closes a cycle
WHITE, GREY, BLACK = 0, 1, 2
color = {m: WHITE for m in modules}
stack, cycles = [], []

def visit(m):
    color[m] = GREY
    stack.append(m)
    for t in sorted(edges[m]):
        if color[t] == GREY:
            cycles.append(stack[stack.index(t):] + [t])
        elif color[t] == WHITE:
            visit(t)
    stack.pop()
    color[m] = BLACK

sys.setrecursionlimit(10000)
for m in sorted(modules):
    if color[m] == WHITE:
        visit(m)

if cycles:
    for c in cycles:
        print("cycle: " + " -> ".join(c))
    sys.exit(1)
print(f"no cycle ({len(modules)} modules, {sum(len(v) for v in edges.values())} edges)")
PY
