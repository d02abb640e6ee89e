#!/usr/bin/env bash
# bench-cluster.sh — idle authenticated WebSocket sessions held by several pushinator nodes on one
# Redis, on this machine: past one process's open-files limit (20,000 here). Each session is
# proven by a push round trip sent through the first node's admin API (so most pushes cross
# nodes through Redis), and all are held at once when the nodes' RSS is read.
#
#   scripts/bench-cluster.sh                 # 4 nodes, 60,000 sessions: about 3 minutes
#   NODES=6 N=90000 scripts/bench-cluster.sh
#
# Needs: go, and a Redis (REDIS, default $PUSHINATOR_REDIS_ADDR or 127.0.0.1:6379). Its keys
# go under a prefix of their own, deleted afterwards when redis-cli is there.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NODES=${NODES:-4}
N=${N:-60000}
REDIS=${REDIS:-${PUSHINATOR_REDIS_ADDR:-127.0.0.1:6379}}
PREFIX="pushbench-cluster-$$-$(date +%s):"
WORK=$(mktemp -d /tmp/pushinator-cluster.XXXXXX)
PIDS=()

cleanup() {
	local code=$?
	trap - EXIT INT TERM
	for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if command -v redis-cli >/dev/null; then
		redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" --scan --pattern "$PREFIX*" |
			xargs -r -n 1000 redis-cli -h "${REDIS%:*}" -p "${REDIS##*:}" del >/dev/null || true
	fi
	if [[ $code == 0 ]]; then rm -rf "$WORK"; else echo "logs kept in $WORK" >&2; fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*" >&2; }

say "building pushinator and pushbench"
(cd "$ROOT" && go build -o "$WORK/pushinator" . && go build -o "$WORK/pushbench" ./cmd/pushbench)

read -r -a PORTS <<<"$("$WORK/pushbench" -freeports $((2 * NODES)) | tr '\n' ' ')"
CLIENTS=() NODE_PIDS=()
for i in $(seq 0 $((NODES - 1))); do
	admin=${PORTS[$((2 * i))]} client=${PORTS[$((2 * i + 1))]}
	cat >"$WORK/node$i.conf" <<EOC
{
  "pidfile": "$WORK/node$i.pid",
  "admin": { "host": "127.0.0.1", "port": $admin },
  "client": { "host": "127.0.0.1", "port": $client, "authTimeout": 0 },
  "engine": { "type": "redis", "redis": { "addr": "$REDIS", "prefix": "$PREFIX" } },
  "log": { "debug": false },
  "limits": { "maxConnections": 0, "maxSessionsPerUser": 0, "handshakesPerSecondPerIP": 0 }
}
EOC
	"$WORK/pushinator" -c "$WORK/node$i.conf" >"$WORK/node$i.log" 2>&1 &
	PIDS+=($!)
	NODE_PIDS+=($!)
	CLIENTS+=("127.0.0.1:$client")
done
say "$NODES nodes on Redis $REDIS (prefix $PREFIX)"
for i in $(seq 0 $((NODES - 1))); do
	port=${CLIENTS[$i]##*:}
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		kill -0 "${NODE_PIDS[$i]}" 2>/dev/null || { echo "node $i died; see $WORK/node$i.log" >&2; exit 1; }
		sleep 0.1
	done
done

say "$N idle sessions over $NODES nodes, one load process per node"
IFS=, CLIENT_LIST="${CLIENTS[*]}" PID_LIST="${NODE_PIDS[*]}"
unset IFS
"$WORK/pushbench" -name pushinator -tag "idle-cluster-$NODES" -mode idle -n "$N" -procs "$NODES" \
	-admin "127.0.0.1:${PORTS[0]}" -client "$CLIENT_LIST" -pid "$PID_LIST"
