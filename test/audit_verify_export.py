#!/usr/bin/env python3
"""Verify an mt.audit export outside the database (Python standard library only).

Usage:
    psql -At -c "SELECT * FROM mt.audit_export_tenant()" > audit.jsonl
    psql -At -c "SELECT jsonb_agg(d) FROM mt.audit_digest() d" > digest.json   # kept elsewhere
    python3 audit_verify_export.py audit.jsonl [--digest digest.json]

Implements the algorithm of doc/audit.md ("Canonical serialization and hash"):

    hash = SHA-256( b"mt.audit.v1\\x00" || prev_hash (32 bytes)
                    || F(id) || F(tenant_id) || F(seq) || F(at) || F(actor) || F(action)
                    || F(resource_type) || F(resource_id) || F(details)
                    || F(details_key_id) || F(details_enc) || F(client_addr) || F(db_user) )
    F(NULL) = FF FF FF FF;  F(v) = 4-byte big-endian length of v || v
    integers: ASCII decimal; at: microseconds since 1970-01-01 UTC, ASCII decimal;
    text: UTF-8; details: the export's string verbatim; details_enc: base64-decoded bytes.

Exit status: 0 every chain verifies, 1 a chain fails, 2 unreadable input.
Prints one line per chain: tenant, OK/BAD, rows checked, head seq, first bad id, problem.
"""
import argparse
import base64
import datetime
import hashlib
import json
import sys

DOMAIN = b"mt.audit.v1\x00"
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
ONE_US = datetime.timedelta(microseconds=1)


def field(b):
    if b is None:
        return b"\xff\xff\xff\xff"
    return len(b).to_bytes(4, "big") + b


def text(s):
    return None if s is None else s.encode("utf-8")


def integer(n):
    return None if n is None else str(int(n)).encode("ascii")


def at_micros(s):
    dt = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    return (dt - EPOCH) // ONE_US


def row_hash(r):
    enc = r.get("details_enc")
    msg = b"".join([
        DOMAIN,
        bytes.fromhex(r["prev_hash"]),
        field(integer(r["id"])),
        field(text(r["tenant_id"])),
        field(integer(r["seq"])),
        field(integer(at_micros(r["at"]))),
        field(text(r["actor"])),
        field(text(r["action"])),
        field(text(r.get("resource_type"))),
        field(text(r.get("resource_id"))),
        field(text(r.get("details"))),
        field(integer(r.get("details_key_id"))),
        field(None if enc is None else base64.b64decode(enc, validate=True)),
        field(text(r.get("client_addr"))),
        field(text(r.get("db_user"))),
    ])
    return hashlib.sha256(msg).hexdigest()


class Chain:
    def __init__(self, header):
        self.tenant = header["tenant_id"]
        self.base_seq = int(header["base_seq"])
        self.expect_seq = self.base_seq + 1
        self.expect_prev = header["base_hash"].lower()
        self.head_seq = self.base_seq
        self.rows = 0
        self.first_bad_id = None
        self.problem = None
        self.hashes = {}    # seq -> hash, for digest comparison

    def bad(self, row_id, problem):
        if self.problem is None:
            self.first_bad_id = row_id
            self.problem = problem

    def add(self, r):
        self.rows += 1
        problem = None
        if r["tenant_id"] != self.tenant:
            problem = "row belongs to another chain"
        elif row_hash(r) != r["hash"].lower():
            problem = "row content does not match its hash (modified)"
        elif r["seq"] > self.expect_seq:
            problem = "rows are missing before this row (sequence gap)"
        elif r["seq"] < self.expect_seq:
            problem = "duplicate or out-of-order position"
        elif r["prev_hash"].lower() != self.expect_prev:
            problem = "prev_hash does not match the hash of the previous row"
        if problem:
            self.bad(r["id"], "seq %d: %s" % (r["seq"], problem))
        self.expect_seq = r["seq"] + 1
        self.expect_prev = r["hash"].lower()
        self.head_seq = r["seq"]
        self.hashes[r["seq"]] = r["hash"].lower()

    def check_digest(self, d):
        seq, h = int(d["seq"]), d["hash"].lower().removeprefix("\\x")
        if seq > self.head_seq:
            self.bad(None, "chain ends at seq %d but the digest records seq %d: rows were removed from the tail"
                     % (self.head_seq, seq))
        elif seq in self.hashes and self.hashes[seq] != h:
            self.bad(None, "seq %d: row hash differs from the saved digest" % seq)


def load_digest(path):
    with open(path, encoding="utf-8") as f:
        data = f.read().strip()
    if not data:
        return {}
    try:
        doc = json.loads(data)
        entries = doc if isinstance(doc, list) else [doc]
    except json.JSONDecodeError:
        entries = [json.loads(line) for line in data.splitlines() if line.strip()]
    return {e["tenant_id"]: e for e in entries}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export", help="JSON lines from mt.audit_export() / mt.audit_export_tenant(); - for stdin")
    ap.add_argument("--digest", help="saved digest: jsonb_agg of mt.audit_digest(), or one object per line")
    args = ap.parse_args()

    chains = []
    try:
        src = sys.stdin if args.export == "-" else open(args.export, encoding="utf-8")
        with src:
            for n, line in enumerate(src, 1):
                if not line.strip():
                    continue
                obj = json.loads(line)
                if "format" in obj:
                    if obj["format"] != "mt.audit.v1":
                        raise ValueError("line %d: unknown format %r" % (n, obj["format"]))
                    chains.append(Chain(obj))
                elif not chains:
                    raise ValueError("line %d: row before any chain header" % n)
                else:
                    chains[-1].add(obj)
        digest = load_digest(args.digest) if args.digest else {}
    except (OSError, ValueError, KeyError) as e:
        print("unreadable input: %s" % e, file=sys.stderr)
        return 2

    ok = True
    seen = set()
    for c in chains:
        seen.add(c.tenant)
        if c.tenant in digest:
            c.check_digest(digest[c.tenant])
        ok = ok and c.problem is None
        print("%s %s rows=%d head_seq=%d%s" % (
            c.tenant, "OK" if c.problem is None else "BAD", c.rows, c.head_seq,
            "" if c.problem is None else " first_bad_id=%s problem=%s" % (c.first_bad_id, c.problem)))
    for t in sorted(set(digest) - seen):
        ok = False
        print("%s BAD rows=0 head_seq=0 problem=chain in the digest is missing from the export" % t)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
