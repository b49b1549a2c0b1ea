#!/bin/sh
# mpirun's remote launcher for tests/test_cluster_netns.py, in place of ssh
# (`--mca plm_rsh_agent netns_agent.sh`): mpirun calls it as `netns_agent.sh HOST COMMAND`,
# where HOST is an address of the hostfile and COMMAND a line for the host's shell (the
# orted that starts the host's ranks). It runs COMMAND as "host" HOST: in the network
# namespace EMBER_NETNS_<HOST with dots as underscores> names, with a hostname of its own
# (the namespace's name) and, when EMBER_NETNS_PRIVATE names a directory, a fresh tmpfs
# on it that no other host sees (each host's local disk).
# The driver's host enters its namespace the same way: `netns_agent.sh HOST` + mpirun's line.
set -eu
host=$1
shift
var=EMBER_NETNS_$(printf %s "$host" | tr . _)
ns=$(printenv "$var") || { echo "netns_agent.sh: no namespace for host $host ($var is not set)" >&2; exit 2; }
exec ip netns exec "$ns" unshare --uts --mount sh -c '
  hostname "$1"
  if [ -n "${EMBER_NETNS_PRIVATE:-}" ]; then
    mount -t tmpfs -o size=1g ember-local "$EMBER_NETNS_PRIVATE" || exit 1
  fi
  shift
  exec sh -c "$*"' netns_agent "$ns" "$@"
