"""An executor that a driver started without an MPI launcher spawned (master
"mpi[N]", ember.context): `python -m ember._spawned SETTINGS`, SETTINGS the JSON of
the driver's conf ("conf": its pairs), each executor's task slots ("slots") and its
workers' sys.path ("path"). MPI (the shim's init) joins it to the driver that spawned
it; it runs until the driver stops, then the process ends."""
from __future__ import annotations

import json
import sys

from ember import context
from ember._early import mpi_launch
from ember.conf import SparkConf


def main(argv: list[str]) -> None:
    if len(argv) != 2:
        raise SystemExit("ember._spawned is started by a driver whose master is mpi[N], not by hand")
    settings = json.loads(argv[1])
    conf = SparkConf(loadDefaults=False).setAll([(str(k), str(v)) for k, v in settings["conf"]])
    launch = mpi_launch()  # its rank among the spawned executors; the driver is rank 0
    rank = launch[0] + 1 if launch is not None else 0
    context._run_executor(conf, int(settings["slots"]), rank, [str(p) for p in settings["path"]])


if __name__ == "__main__":
    main(sys.argv)
