#!/usr/bin/env python3
"""Turns `herd play --format json` events into one recap line per host, in
Ansible's words, so the peer harness's correctness counters
(ok=4 ... failed=0, changed=N) read herd's output like Ansible's."""
import json
import sys

for line in sys.stdin:
    event = json.loads(line)
    if event.get("event") == "recap":
        for host, s in event["hosts"].items():
            print(f"{host} : ok={s['ok']} changed={s['changed']} unreachable={s['unreachable']} "
                  f"failed={s['failed']} skipped={s['skipped']} rescued={s['rescued']} ignored={s['ignored']}")
