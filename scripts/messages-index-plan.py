#!/usr/bin/env python3
"""Fills a SQLite database (schema from `realtime-hub migrate`) with a million messages and
prints the query plans and timings of the two hot queries of the messages dialect — "my unread
count" and "my newest messages" — with the indexes and without them.

    cargo build --release && python3 scripts/messages-index-plan.py [--messages 1000000]
"""
import argparse
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUERIES = {
    "unread count": ("SELECT COUNT(*) FROM messages WHERE recipient_id = ? AND read_at IS NULL", 1),
    "unread count in a community": (
        "SELECT COUNT(*) FROM messages WHERE recipient_id = ? AND read_at IS NULL AND community_id = ?", 2),
    "newest 21 received": ("SELECT * FROM messages WHERE recipient_id = ? ORDER BY id DESC LIMIT 21", 1),
    "newest 21 sent": ("SELECT * FROM messages WHERE sender_id = ? ORDER BY id DESC LIMIT 21", 1),
}


def fill(path, messages, users):
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO users (id, name, created_at, updated_at) VALUES (?, ?, '2024-01-01 00:00:00', '2024-01-01 00:00:00')",
                   [(u, f"user{u}") for u in range(1, users + 1)])
    db.execute("INSERT INTO communities (id, name, created_by, created_at) VALUES (1, 'c', 1, '2024-01-01 00:00:00')")
    rng = random.Random(7)

    def rows():
        for _ in range(messages):
            sender, recipient = rng.randint(1, users), rng.randint(1, users)
            read = None if rng.random() < 0.05 else "2024-01-02 00:00:00"
            community = 1 if rng.random() < 0.1 else None
            yield (sender, recipient, community, "subject", "body", read, "2024-01-01 00:00:00", "2024-01-01 00:00:00")

    db.executemany("INSERT INTO messages (sender_id, recipient_id, community_id, subject, body, read_at, created_at, updated_at) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows())
    db.commit()
    db.execute("ANALYZE")
    return db


def measure(db, label):
    print(f"\n## {label}")
    for name, (sql, nargs) in QUERIES.items():
        args = (42, 1)[:nargs]
        plan = "; ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))
        runs = 50
        start = time.perf_counter()
        for _ in range(runs):
            db.execute(sql, args).fetchall()
        per = (time.perf_counter() - start) / runs * 1000
        print(f"- {name}: {per:.3f} ms  [{plan}]")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "realtime-hub"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: cargo build --release first (or --bin)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "plan.db")
        env = dict(os.environ, DATABASE_URL=f"sqlite://{path}", JWT_SECRET="plan-secret-of-at-least-32-bytes-long", RUST_LOG="warn")
        subprocess.run([args.bin, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
        start = time.perf_counter()
        db = fill(path, args.messages, args.users)
        print(f"{args.messages} messages between {args.users} users inserted in {time.perf_counter() - start:.1f} s "
              f"(5% unread, 10% in a community); user 42 has ~{args.messages // args.users} received")
        measure(db, "with the migration's indexes")
        for index in ("messages_recipient", "messages_sender", "messages_unread"):
            db.execute(f"DROP INDEX {index}")
        db.execute("ANALYZE")
        measure(db, "without them")


if __name__ == "__main__":
    main()
