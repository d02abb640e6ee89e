#!/usr/bin/env bash
# bench-compare.sh — pushinator and the Node reference (the official socket.io server running
# the same product) side by side, in one run, on this machine, with the same load generator
# (cmd/pushbench). Prints every figure of both servers with its ratio pushinator/Node.
#
#   scripts/bench-compare.sh            # the short run: about 5 minutes
#   FULL=1 scripts/bench-compare.sh     # 19,500 idle sessions, 200 fan-out sends, 3 rounds: ~12 min
#
# Needs: go, node (20+) and npm (to install socket.io 4.8.4 for the reference, in a temp dir).
# REPEAT=N runs the load workloads N times, interleaved, and reports each figure's median (a
# shared machine's load comes and goes). Other knobs (environment): IDLE_N IDLE_PROCS POLL_N
# USERS INFLIGHT SIZE DURATION RATE FANOUT_N SENDS BATCH BROADCAST_N COALESCE, ANCHOR (the reference's
# source dir), WORK (a scratch dir, kept afterwards when given).
# Both servers listen on free 127.0.0.1 ports and are stopped on exit, whatever happens.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ANCHOR=${ANCHOR:-$ROOT/../shared/anchors/node-pushinator}
FULL=${FULL:-0}
if [[ $FULL == 1 ]]; then
	IDLE_N=${IDLE_N:-19500} IDLE_PROCS=${IDLE_PROCS:-2} SENDS=${SENDS:-200} REPEAT=${REPEAT:-3}
else
	IDLE_N=${IDLE_N:-5000} IDLE_PROCS=${IDLE_PROCS:-1} SENDS=${SENDS:-50} REPEAT=${REPEAT:-1}
fi
USERS=${USERS:-1000}          # 1:1 and batch: users, one connection each
INFLIGHT=${INFLIGHT:-64}      # admin requests in flight (keep-alive)
SIZE=${SIZE:-100}             # message bytes
DURATION=${DURATION:-10s}     # measured time of the 1:1 and batch runs
RATE=${RATE:-}                # offered 1:1 load for the p99 comparison; default half of Node's closed-loop rate
FANOUT_N=${FANOUT_N:-10000}   # sessions of the one fan-out user
BATCH=${BATCH:-100}           # users per {"userIds":[...]} request
BROADCAST_N=${BROADCAST_N:-10000}
POLL_N=${POLL_N:-2000}        # idle long-polling sessions (each holds a pending GET)
COALESCE=${COALESCE:-1ms}     # fan-out and broadcast clients nap this long when idle instead of blocking (pushbench -coalesce)

if [[ -n ${WORK:-} ]]; then
	mkdir -p "$WORK"
	KEEP_WORK=1
else
	WORK=$(mktemp -d /tmp/pushinator-bench.XXXXXX)
	KEEP_WORK=0
fi
RESULTS=$WORK/results.jsonl
: >"$RESULTS"

PUSH_PID= NODE_PID=
cleanup() {
	local code=$?
	trap - EXIT INT TERM
	if declare -F stop_servers >/dev/null; then stop_servers; fi
	if [[ $KEEP_WORK == 0 && $code == 0 ]]; then
		rm -rf "$WORK"
	else
		echo "logs and results kept in $WORK" >&2
	fi
	exit "$code"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '\n== %s\n' "$*" >&2; }

say "building pushinator and pushbench"
(cd "$ROOT" && go build -o "$WORK/pushinator" . && go build -o "$WORK/pushbench" ./cmd/pushbench)
BENCH=$WORK/pushbench

say "installing the Node reference (socket.io $(sed -n 's/.*"socket.io": *"\([^"]*\)".*/\1/p' "$ANCHOR/package.json")) in $WORK/anchor"
mkdir -p "$WORK/anchor"
cp "$ANCHOR/server.js" "$ANCHOR/package.json" "$WORK/anchor/"
if [[ ! -d $WORK/anchor/node_modules/socket.io ]]; then
	(cd "$WORK/anchor" && npm install --no-audit --no-fund --silent >/dev/null)
fi

read -r PA PC NA NC <<<"$("$BENCH" -freeports 4 | tr '\n' ' ')"
cat >"$WORK/pushinator.conf" <<EOF
{
  "pidfile": "$WORK/pushinator.pid",
  "admin": { "host": "127.0.0.1", "port": $PA },
  "client": { "host": "127.0.0.1", "port": $PC, "authTimeout": 0 },
  "log": { "debug": false },
  "limits": { "maxConnections": 0, "maxSessionsPerUser": 0, "handshakesPerSecondPerIP": 0 }
}
EOF

# start_servers: a fresh pushinator and a fresh Node. Each idle-memory figure is taken on fresh
# servers, so that neither reuses memory an earlier workload freed (Go and V8 keep freed heap
# for a while, which would make a later RSS delta too small).
start_servers() {
	say "starting pushinator (admin $PA, client $PC) and Node (admin $NA, client $NC)"
	"$WORK/pushinator" -c "$WORK/pushinator.conf" >>"$WORK/pushinator.log" 2>&1 &
	PUSH_PID=$!
	(cd "$WORK/anchor" && exec node server.js "$NA" "$NC") >>"$WORK/node.log" 2>&1 &
	NODE_PID=$!
	for p in "$PA $PUSH_PID" "$PC $PUSH_PID" "$NA $NODE_PID" "$NC $NODE_PID"; do wait_port $p; done
}

stop_servers() {
	for pid in $PUSH_PID $NODE_PID; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in $PUSH_PID $NODE_PID; do
		# Give each server 10 s to close its clients, then kill it.
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	PUSH_PID= NODE_PID=
}

wait_port() { # port pid
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		kill -0 "$2" 2>/dev/null || { echo "server $2 died; see $WORK" >&2; return 1; }
		sleep 0.1
	done
	echo "port $1 never opened" >&2
	return 1
}

# bench SERVER TAG ARGS...: one pushbench run against pushinator or node; its JSON line goes
# to the results, its table to the terminal.
bench() {
	local server=$1 tag=$2
	shift 2
	local admin client pid
	if [[ $server == pushinator ]]; then
		admin=127.0.0.1:$PA client=127.0.0.1:$PC pid=$PUSH_PID
	else
		admin=127.0.0.1:$NA client=127.0.0.1:$NC pid=$NODE_PID
	fi
	say "$tag on $server"
	"$BENCH" -name "$server" -tag "$tag" -admin "$admin" -client "$client" -pid "$pid" \
		-inflight "$INFLIGHT" -size "$SIZE" "$@" | tee -a "$RESULTS"
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
start_servers
for s in pushinator node; do
	bench "$s" idle -mode idle -n "$IDLE_N" -procs "$IDLE_PROCS"
done
stop_servers
start_servers
for s in pushinator node; do
	bench "$s" idle-polling -mode idle -transport polling -n "$POLL_N"
done
stop_servers
start_servers
# Each round: every workload on pushinator, then on Node, so that both see the same machine.
for r in $(seq "$REPEAT"); do
	for s in pushinator node; do
		bench "$s" "one2one#$r" -mode one2one -users "$USERS" -duration "$DURATION"
	done
	if [[ -z $RATE ]]; then
		# The offered load of the p99 comparison: half of Node's closed-loop rate, which both
		# servers sustain, so that the figure is the servers' latency rather than a queue's.
		RATE=$("$BENCH" -report "$RESULTS" -figure node/one2one/deliveries_per_s | awk '{printf "%d", $1 * 0.5}')
	fi
	for s in pushinator node; do
		bench "$s" "one2one-rate#$r" -mode one2one -users "$USERS" -duration "$DURATION" -rate "$RATE"
	done
	for s in pushinator node; do
		bench "$s" "fanout#$r" -mode fanout -n "$FANOUT_N" -sends "$SENDS" -coalesce "$COALESCE"
	done
	# Node has no equivalent of these (its admin API is register/send/list): the batch figure
	# is compared with Node's 1:1 deliveries per second, broadcast with its fan-out.
	bench pushinator "batch#$r" -mode batch -users "$USERS" -batch "$BATCH" -duration "$DURATION"
	bench pushinator "messages#$r" -mode messages -users "$USERS" -batch "$BATCH" -duration "$DURATION"
	bench pushinator "broadcast#$r" -mode broadcast -n "$BROADCAST_N" -sends "$SENDS" -coalesce "$COALESCE"
done

say "machine"
{
	echo "cpu: $(nproc) × $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
	echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r)"
	echo "go: $(go version | cut -d' ' -f3); node: $(node --version); socket.io (reference): $(node -p 'require("'"$WORK"'/anchor/node_modules/socket.io/package.json").version')"
	echo "load average at the start: $LOAD_START, at the end: $(cut -d' ' -f1-3 /proc/loadavg) (the machine may be shared)"
	echo "offered 1:1 load for the p99 comparison: $RATE requests/s; idle connections: $IDLE_N; fan-out: $FANOUT_N sessions × $SENDS sends, clients coalescing $COALESCE; load workloads run $REPEAT time(s), medians shown"
} >&2
say "pushinator vs Node (ratio = pushinator / Node); every JSON line is in $RESULTS"
"$BENCH" -report "$RESULTS"
