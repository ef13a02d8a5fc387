#!/usr/bin/env python3
"""A Faultline client adapter (runner/src/adapter.rs) for raftkv, through
its command line: each op runs `raftkv get|put|delete|append|cas|txn`.

It shows what an adapter for a system with no Rust client looks like:
read JSON requests from stdin, one per line; run the op; answer one JSON
line with the same id: ok, fail (certainly not applied) or info (maybe
applied). The runner gives the nodes in FAULTLINE_ENDPOINTS.

    checker run --endpoints A,B,C --adapter "python3 runner/adapters/raftkv-cli.py target/release/raftkv"
"""
import json
import os
import subprocess
import sys

RAFTKV = sys.argv[1] if len(sys.argv) > 1 else "raftkv"
ENDPOINTS = os.environ["FAULTLINE_ENDPOINTS"]


def raftkv(*args):
    p = subprocess.run([RAFTKV, args[0], "--endpoints", ENDPOINTS, "--timeout", "2s", *args[1:]],
                       capture_output=True, text=True)
    return p.returncode, p.stdout.rstrip("\n"), p.stderr.strip()


def answer(req):
    f, key = req["f"], req.get("key")
    if f == "txn":
        words = []
        for op, k, v in req["ops"]:
            words += [op, k] if op == "r" else [op, k, v]
        code, out, err = raftkv("txn", *words)
        if code == 0:
            return {"type": "ok", "reads": [json.loads(r)["value"] for r in out.splitlines()]}
        maybe = "outcome unknown" in err or "timed out" in err
        if all(op == "r" for op, _, _ in req["ops"]):
            maybe = False  # reads change nothing
        return {"type": "info" if maybe else "fail", "error": err}
    if f == "read":
        code, out, err = raftkv("get", key)
        if code == 0:
            return {"type": "ok", "value": out}
        if code == 1:
            return {"type": "ok", "value": None}  # absent
        return {"type": "fail", "error": err}  # a read changes nothing
    if f == "cas":
        if req["expected"] is None:
            code, _, err = raftkv("cas", "--absent", key, req["value"])
        else:
            code, _, err = raftkv("cas", key, req["expected"], req["value"])
        if code == 1:
            return {"type": "fail", "mismatch": True, "error": err}
    elif f in ("write", "append"):
        code, _, err = raftkv("put" if f == "write" else "append", key, req["value"])
    elif f == "delete":
        code, _, err = raftkv("delete", key)
    else:
        return {"type": "fail", "error": f"unknown op {f}"}
    if code == 0:
        return {"type": "ok"}
    # raftkv's client says "outcome unknown" or "timed out" when a write
    # may have been applied; every other error is definite.
    maybe = "outcome unknown" in err or "timed out" in err
    return {"type": "info" if maybe else "fail", "error": err}


for line in sys.stdin:
    req = json.loads(line)
    reply = answer(req)
    reply["id"] = req["id"]
    print(json.dumps(reply), flush=True)
