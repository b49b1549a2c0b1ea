"""What the web UI costs a context's start-up: the start-up workload's program
(workloads.STARTUP["ember"]: import, create a context, count 10 numbers, stop; each
run a fresh process) alternately with the UI off (EMBER_CONF=spark.ui.enabled=false)
and on (the default), so both see the same machine load. Prints the medians of the
wall time and of the child process's CPU time (user + system, its workers included)
and the on/off ratios.

    .venv/bin/python bench/ui_startup.py [pairs, default 20]
"""
import os
import resource
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402


def run(program, ui_on):
    """(wall seconds, CPU seconds) of one run of program."""
    import time
    env = dict(os.environ)
    if not ui_on:
        env["EMBER_CONF"] = "spark.ui.enabled=false"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", program], env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main():
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    program = workloads.STARTUP["ember"]
    runs = {False: [], True: []}
    for _ in range(pairs):
        for ui_on in (False, True):
            runs[ui_on].append(run(program, ui_on))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in runs.items()}
    for ui_on in (False, True):
        print(f"UI {'on ' if ui_on else 'off'}: wall median {1000 * med[ui_on][0]:.1f} ms, "
              f"CPU median {1000 * med[ui_on][1]:.1f} ms ({pairs} runs)")
    print(f"on/off: wall {med[True][0] / med[False][0]:.3f}, CPU {med[True][1] / med[False][1]:.3f}; "
          f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
