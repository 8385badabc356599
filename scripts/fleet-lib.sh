# Shared by scripts/bench-fleet.sh and scripts/fleet-demo.sh (sourced, not
# run): a daisy fleet of six processes on 127.0.0.1 (daisy server, three
# daisy agents c1..c3, two daisy media-agents m1 and m2) running the
# patent's figure 2 without D5, with mutual TLS 1.3 from daisy cert.
#
# Figure 2 without D5: D1..D4 keep their chains (D1 and D2 three copies,
# D4 two, D3 one: 9 copies of 4 sources in one pass). The backup group's
# media agents (BMA124, BMA126) run on media host m1, both mirror levels'
# (BMA138, BMA140, BMA144, BMA146) on m2, so every chain crosses hosts.
# Clients: c1 holds D1 and D2, c2 D3, c3 D4.
#
# The caller sets daisy (the binary), and calls, in order:
#   fleet_ports BASE      7 free TCP ports from BASE on 127.0.0.1 (the first
#                         free run of them at or above BASE): addr[srv], addr[api],
#                         addr[c1..c3], addr[m1], addr[m2]
#   fleet_config DIR SRC FLEET BUFFER
#                         DIR/daisy.yaml for sources SRC/D1..D4; FLEET=1 adds
#                         the server, clients, media hosts and the devices'
#                         hosts, FLEET=0 is the same backup in one process
#   fleet_pki DIR PKI     the CA and every host's certificate in PKI, for
#                         DIR/daisy.yaml, and a bearer token in $token
#   fleet_up DIR PKI LOGS the six processes, until every host is connected
#   fleet_down            SIGTERM to each of them, and wait
# and api ARGS... (curl of the API with the CA and the token).
# EXTRA_FLAGS (an array) is given to each daemon before its subcommand.

declare -A addr pid
fleet_procs=(srv c1 c2 c3 m1 m2)
EXTRA_FLAGS=()

fleet_ports() {
	local p=$1 i n ok
	while :; do
		ok=1
		for i in 0 1 2 3 4 5 6; do
			if (exec 3<>"/dev/tcp/127.0.0.1/$((p + i))") 2>/dev/null; then
				ok=0
				p=$((p + i + 1))
				break
			fi
		done
		[ "$ok" = 1 ] && break
		[ "$p" -lt 65000 ] || { echo "no 7 free ports on 127.0.0.1" >&2; return 1; }
	done
	i=0
	for n in srv api c1 c2 c3 m1 m2; do
		addr[$n]=127.0.0.1:$((p + i))
		i=$((i + 1))
	done
}

fleet_config() {
	local d=$1 src=$2 fleet=$3 buffer=$4 h1="" h2="" c s p r
	if [ "$fleet" = 1 ]; then h1=", host: m1" h2=", host: m2"; fi
	mkdir -p "$d"
	{
		if [ "$fleet" = 1 ]; then
			echo "server: {host: srv, address: ${addr[srv]}, api: ${addr[api]}}"
			echo "clients:"
			for c in c1 c2 c3; do echo "  - {name: $c, address: ${addr[$c]}}"; done
			echo "media_hosts:"
			for m in m1 m2; do echo "  - {name: $m, address: ${addr[$m]}}"; done
		fi
		echo "catalog: {sqlite: $d/state/catalog.db}"
		echo "defaults: {buffer_size: $buffer, pool: copy1}"
		echo "sources:"
		for s in D1:c1 D2:c1 D3:c2 D4:c3; do
			if [ "$fleet" = 1 ]; then
				echo "  - {name: ${s%:*}, client: ${s#*:}, paths: [$src/${s%:*}]}"
			else
				echo "  - {name: ${s%:*}, paths: [$src/${s%:*}]}"
			fi
		done
		echo "pools:"
		for p in copy1 copy2 copy3; do echo "  - {name: $p, type: vtape, directory: $d/state/volumes/$p, volume_capacity: 8GiB}"; done
		echo "devices:"
		for r in R1 R2; do echo "  - {name: $r, type: vtape$h1}"; done
		for r in R3 R5 R6 R8; do echo "  - {name: $r, type: vtape$h2}"; done
		cat <<-EOF
		backup_group:
		  - name: BMA124
		    device: R1
		    pool: copy1
		    buffers: [{name: B1, source: D3}, {name: B2, source: D2}, {name: B3, source: D4}]
		  - name: BMA126
		    device: R2
		    pool: copy1
		    buffers: [{name: B3, source: D1}]
		mirror_groups:
		  - media_agents:
		      - name: BMA138
		        device: R5
		        pool: copy2
		        buffers: [{name: B2, follows: BMA124.B2}, {name: B3, follows: BMA124.B3}]
		      - name: BMA140
		        device: R8
		        pool: copy2
		        buffers: [{name: B1, follows: BMA126.B3}]
		  - media_agents:
		      - name: BMA144
		        device: R3
		        pool: copy3
		        buffers: [{name: B2, follows: BMA138.B2}]
		      - name: BMA146
		        device: R6
		        pool: copy3
		        buffers: [{name: B1, follows: BMA140.B1}]
		EOF
	} >"$d/daisy.yaml"
}

fleet_pki() {
	local d=$1 pki=$2
	"$daisy" -c "$d/daisy.yaml" cert --dir "$pki" init >/dev/null
	"$daisy" -c "$d/daisy.yaml" cert --dir "$pki" issue >/dev/null
	token=$("$daisy" -c "$d/daisy.yaml" --json token --dir "$pki" create fleet | jq -r .token)
	fleet_ca=$pki/ca.crt
}

api() { curl -sS --fail-with-body --cacert "$fleet_ca" -H "Authorization: Bearer $token" "$@"; }

# flags NAME: EXTRA_FLAGS with @NAME@ replaced by the process's name.
flags() { local f; for f in "${EXTRA_FLAGS[@]}"; do printf '%s\n' "${f//@NAME@/$1}"; done; }

fleet_up() {
	local d=$1 pki=$2 logs=$3 n i
	local -a fl
	mapfile -t fl < <(flags srv)
	"$daisy" -c "$d/daisy.yaml" --log-level warn "${fl[@]}" server --pki "$pki" >>"$logs/srv.log" 2>&1 &
	pid[srv]=$!
	for n in m1 m2; do
		mapfile -t fl < <(flags "$n")
		"$daisy" --log-level warn "${fl[@]}" media-agent --name "$n" --listen "${addr[$n]}" --server "${addr[srv]}" --server-name srv --pki "$pki" >>"$logs/$n.log" 2>&1 &
		pid[$n]=$!
	done
	for n in c1 c2 c3; do
		mapfile -t fl < <(flags "$n")
		"$daisy" --log-level warn "${fl[@]}" agent --name "$n" --listen "${addr[$n]}" --server "${addr[srv]}" --server-name srv --pki "$pki" >>"$logs/$n.log" 2>&1 &
		pid[$n]=$!
	done
	for i in $(seq 1 300); do
		if [ "$(api "https://${addr[api]}/v1/topology" 2>/dev/null | jq '[.hosts[] | select(.connected)] | length' 2>/dev/null || echo 0)" = 6 ]; then
			return 0
		fi
		sleep 0.1
	done
	echo "the fleet is not up after 30 s; logs in $logs/*.log" >&2
	fleet_down
	return 1
}

fleet_down() {
	local n
	for n in "${fleet_procs[@]}"; do
		[ -n "${pid[$n]:-}" ] && kill -TERM "${pid[$n]}" 2>/dev/null || true
	done
	for n in "${fleet_procs[@]}"; do
		[ -n "${pid[$n]:-}" ] && wait "${pid[$n]}" 2>/dev/null || true
		pid[$n]=""
	done
}
