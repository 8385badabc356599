#!/usr/bin/env bash
# A daisy fleet on this machine, for a first look: the patent's figure 2
# (without D5) run by six processes on 127.0.0.1 over mutual TLS 1.3 —
# daisy server, three daisy agents (clients c1..c3) and two daisy
# media-agents (m1 runs the backup group, m2 both mirror levels, so every
# chain crosses hosts); see scripts/fleet-lib.sh. It prints each daisy
# command as it runs it; the commands are those an administrator runs on
# real hosts.
#
#   scripts/fleet-demo.sh [DIR]    (default /tmp/daisy-fleet-demo, made anew)
#
# DIR gets the configuration, the PKI, the catalog and volumes, the
# sources (D1 and D3 copies of docs/, D2 and D4 of examples/), the
# restored tree, and a log per process. It uses ./daisy when there is one
# (the README's set-up command builds it), else builds it; it needs jq and
# curl. The processes are stopped at the end, also on failure.
#
#   PORT=N   look for 7 free TCP ports from N (default 17470)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(realpath -m "${1:-/tmp/daisy-fleet-demo}")
for t in jq curl; do
	command -v "$t" >/dev/null || { echo "fleet-demo.sh needs $t" >&2; exit 2; }
done
daisy=$PWD/daisy
[ -x "$daisy" ] || go build -o "$daisy" ./cmd/daisy
# shellcheck source=scripts/fleet-lib.sh
. scripts/fleet-lib.sh

rm -rf "$dir" && mkdir -p "$dir/data"
for d in D1 D3; do cp -a docs "$dir/data/$d"; done
for d in D2 D4; do cp -a examples "$dir/data/$d"; done
cfg=$dir/daisy.yaml
say() { printf '\n# %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

fleet_ports "${PORT:-17470}"
fleet_config "$dir" "$dir/data" 1 4MiB
say "daisy.yaml names the server, the clients and media hosts with their addresses; devices name their host"
run "$daisy" -c "$cfg" check
run "$daisy" -c "$cfg" graph
say "a CA and a certificate for every host of daisy.yaml, and a bearer token for the API"
printf '$ %s\n' "daisy -c $cfg cert --dir $dir/pki init && daisy -c $cfg cert --dir $dir/pki issue && daisy token --dir $dir/pki create fleet"
fleet_pki "$dir" "$dir/pki"
run "$daisy" -c "$cfg" cert --dir "$dir/pki" ls
say "the daemons: daisy server (gRPC on ${addr[srv]}, HTTP API on ${addr[api]}), daisy media-agent on m1 and m2, daisy agent on c1..c3 (logs in $dir/*.log)"
printf '$ %s\n' "daisy -c $cfg server --pki $dir/pki &" \
	"daisy media-agent --name m1 --listen ${addr[m1]} --server ${addr[srv]} --server-name srv --pki $dir/pki &   # and m2" \
	"daisy agent --name c1 --listen ${addr[c1]} --server ${addr[srv]} --server-name srv --pki $dir/pki &        # and c2, c3"
trap fleet_down EXIT
fleet_up "$dir" "$dir/pki" "$dir"
export DAISY_TOKEN=$token DAISY_CA=$dir/pki/ca.crt
printf '$ %s\n' "curl --cacert \$DAISY_CA -H \"Authorization: Bearer \$DAISY_TOKEN\" https://${addr[api]}/v1/topology"
api "https://${addr[api]}/v1/topology" | jq -r '.hosts[] | "\(.role) \(.name) connected=\(.connected)"'


say "the CLI's job commands go through the server (server: api: of daisy.yaml; DAISY_TOKEN and DAISY_CA are set)"
run "$daisy" -c "$cfg" backup
run "$daisy" -c "$cfg" ls objects
say "restore D2's third copy (pool copy3, written on m2) back onto its client c1"
run "$daisy" -c "$cfg" restore --source D2 --copy 3 --to "$dir/restore"
run diff -r "$dir/data/D2" "$dir/restore$dir/data/D2"
echo "identical"
say "Prometheus metrics of the server: bytes per device"
printf '$ %s\n' "curl --cacert \$DAISY_CA -H \"Authorization: Bearer \$DAISY_TOKEN\" https://${addr[api]}/metrics | grep ^daisy_device_written_bytes_total"
api "https://${addr[api]}/metrics" | grep '^daisy_device_written_bytes_total' || { echo "no daisy_device_written_bytes_total in /metrics" >&2; exit 1; }
run "$daisy" -c "$cfg" ls jobs
say "stopping the daemons (SIGTERM)"
fleet_down
trap - EXIT
