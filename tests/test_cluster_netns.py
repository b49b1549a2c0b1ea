"""Cluster mode across hosts: 3 ranks on 3 "hosts" made of network namespaces on this
machine. The test creates the namespaces, joins them by veth pairs to a bridge in a
fourth (private addresses 10.77.0.1-3, nothing in the machine's own namespace), writes
a hostfile of those addresses and runs tests/cluster/jobs.py under
`mpirun --hostfile ... --mca plm_rsh_agent tests/cluster/netns_agent.sh` (the agent
enters a host's namespace where ssh would log in). Each host has its own hostname and
its own temp dir (a tmpfs no other host sees); only the input and the result file are
on a directory all hosts share, as on a cluster with a shared filesystem. The results
must equal local mode's, the executors must be the two other hosts, and the bytes must
have crossed the veth links. Everything is removed at the end.

Skipped, saying why, without Open MPI's mpirun or ember's MPI shim, or where namespaces
cannot be made (not root, a container without CAP_SYS_ADMIN/CAP_NET_ADMIN, no `ip` or `unshare`)."""
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

import ember

from conftest import cluster_and_local_results

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, "cluster", "netns_agent.sh")
SHIM = glob.glob(os.path.join(os.path.dirname(ember.__file__), "_mpi_shim*.so"))
MPIRUN = shutil.which("mpirun")
SUBNET = "10.77.0"


def cannot_run():
    """Why this test cannot run here, or None."""
    if not MPIRUN:
        return "mpirun not found"
    if not SHIM:
        return "ember was built without MPI (no _mpi_shim.so)"
    version = subprocess.run([MPIRUN, "--version"], capture_output=True, text=True).stdout
    if "Open MPI" not in version:
        return f"the launch uses Open MPI's mpirun options (plm_rsh_agent, --display-map); {MPIRUN} is not Open MPI"
    for tool in ("ip", "unshare", "mount"):
        if not shutil.which(tool):
            return f"`{tool}` not found (iproute2, util-linux)"
    probe = f"emberprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"cannot create a network namespace (`ip netns add`: {made.stderr.strip()}); needs root or " \
               "CAP_SYS_ADMIN and CAP_NET_ADMIN"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


why = cannot_run()
if why:
    pytest.skip(why, allow_module_level=True)


def ip(*args, ns=None):
    cmd = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
    subprocess.run(cmd, check=True, capture_output=True, text=True)


@pytest.fixture
def hosts():
    """Three namespaces h1..h3 on a bridge in a fourth; yields [(address, namespace)],
    then removes them all (their veth links go with them)."""
    tag = f"ember{os.getpid()}"
    switch = f"{tag}sw"
    made = []
    try:
        ip("netns", "add", switch)
        made.append(switch)
        ip("link", "add", "br0", "type", "bridge", ns=switch)
        ip("link", "set", "br0", "up", ns=switch)
        out = []
        for i in (1, 2, 3):
            ns, addr = f"{tag}h{i}", f"{SUBNET}.{i}"
            ip("netns", "add", ns)
            made.append(ns)
            ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"port{i}", "netns", switch)
            ip("link", "set", f"port{i}", "master", "br0", "up", ns=switch)
            ip("addr", "add", f"{addr}/24", "dev", "eth0", ns=ns)
            ip("link", "set", "eth0", "up", ns=ns)
            ip("link", "set", "lo", "up", ns=ns)
            out.append((addr, ns))
        yield out
    finally:
        for ns in reversed(made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def rx_bytes(ns):
    """Bytes the host's link (eth0 in namespace ns) has received."""
    r = subprocess.run(["ip", "netns", "exec", ns, "cat", "/sys/class/net/eth0/statistics/rx_bytes"],
                       check=True, capture_output=True, text=True)
    return int(r.stdout)


def run_on_hosts(hosts, tmp_path, extra_env=None):
    """Runs tests/cluster/jobs.py under mpirun on the three hosts, each with a private
    temp dir (TMPDIR on a tmpfs of its own); the input and the results on a shared dir.
    Returns (mpirun's CompletedProcess, the shared dir, the input's path, bytes each
    host's link received meanwhile)."""
    shared, local = tmp_path / "shared", tmp_path / "local"
    shared.mkdir()
    local.mkdir()
    data = shared / "words.txt"
    data.write_text("the quick brown fox\njumps over the lazy dog\nthe end\n" * 40 + "x" * 100 + "\n")
    hostfile = shared / "hosts"
    hostfile.write_text("".join(f"{addr} slots=1\n" for addr, _ in hosts))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", TMPDIR=str(local),
               EMBER_NETNS_PRIVATE=str(local), EMBER_CONF="")
    env.update(extra_env or {})
    env.update({"EMBER_NETNS_" + addr.replace(".", "_"): ns for addr, ns in hosts})
    net = f"{SUBNET}.0/24"
    mpirun = [MPIRUN, "-np", "3", "--hostfile", str(hostfile), "--map-by", "node", "--display-map",
              "--mca", "plm_rsh_agent", AGENT, "--mca", "btl", "tcp,self",
              "--mca", "btl_tcp_if_include", net, "--mca", "oob_tcp_if_include", net,
              "-x", "TMPDIR", "-x", "EMBER_CONF",
              sys.executable, os.path.join(HERE, "cluster", "jobs.py"), str(shared / "cluster.json"), str(data)]
    before = {ns: rx_bytes(ns) for _, ns in hosts}
    # mpirun runs on the first host, as the driver's rank 0; the agent starts the others.
    run = subprocess.run([AGENT, hosts[0][0], shlex.join(mpirun)], env=env, capture_output=True, text=True,
                         timeout=300)
    moved = {ns: rx_bytes(ns) - before[ns] for _, ns in hosts}
    assert os.listdir(local) == []  # the hosts' temp dirs were on their own tmpfs
    return run, shared, data, moved


def check_like_local_mode(hosts, run, shared, data, tmp_path, moved):
    """The cluster's results equal local mode's; each rank ran on its own host; bytes
    crossed every host's link."""
    assert run.returncode == 0, run.stdout + run.stderr
    # --display-map: rank r alone on host r + 1 (mpirun names its own host by hostname)
    for rank, node in enumerate([hosts[0][1], hosts[1][0], hosts[2][0]]):
        assert re.search(rf"Data for node: {re.escape(node)}\tNum slots: 1\tMax slots: 0\tNum procs: 1\s+"
                         rf"Process OMPI jobid: \[[0-9,]+\] App: 0 Process rank: {rank} ", run.stdout), run.stdout
    cluster, plain = cluster_and_local_results(shared / "cluster.json", data, tmp_path)
    # jobs.py removes the map outputs it can see to check they are computed again; the
    # executors' are on their own disks here, so only the answers are compared.
    assert cluster.pop("lost_shuffle")[1:] == plain.pop("lost_shuffle")[1:]
    # what jobs.py sees of the executors' files (released map outputs, broadcast copies,
    # where tasks found added files) needs their disks: tests/test_cluster.py checks it
    for seen_on_disk in ("released_shuffle", "broadcast_copies", "shared_roots"):
        cluster.pop(seen_on_disk), plain.pop(seen_on_disk)
    assert cluster == plain
    assert all(n > 10_000 for n in moved.values()), moved


def test_three_hosts_sharing_a_scratch_dir(hosts, tmp_path):
    """spark.local.dir on a directory every host sees at the same path (here a
    directory all namespaces see)."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    run, shared, data, moved = run_on_hosts(hosts, tmp_path, {"EMBER_CONF": f"spark.local.dir={scratch}"})
    check_like_local_mode(hosts, run, shared, data, tmp_path, moved)
    assert os.listdir(scratch) == []  # every rank's temp dir removed


def test_three_hosts_sharing_only_the_input(hosts, tmp_path):
    """Nothing shared but the input and the result file: every temp dir is a host's own."""
    run, shared, data, moved = run_on_hosts(hosts, tmp_path)
    check_like_local_mode(hosts, run, shared, data, tmp_path, moved)
