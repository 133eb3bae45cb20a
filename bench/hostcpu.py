#!/usr/bin/env python3
"""Host CPU of the peer-bench fleet: user+sys of every per-host sshd
listener and of all its reaped descendants (sshd waits for each session
process, which waits for the user's shell, so /proc/PID/stat's cutime and
cstime hold every finished session). Prints milliseconds; run it before
and after a workload (after its connections closed) and subtract.

    bench/hostcpu.py RUN_DIR
"""
import glob
import os
import sys

run = sys.argv[1]
tick = os.sysconf("SC_CLK_TCK")
total = 0
for pidfile in glob.glob(os.path.join(run, "pids", "*.pid")):
    try:
        pid = open(pidfile).read().strip()
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    # After ")": state is fields[0]; utime, stime, cutime, cstime are 14-17 of stat.
    total += sum(int(f) for f in fields[11:15])
print(total * 1000 // tick)
