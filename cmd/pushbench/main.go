// Command pushbench is a load generator for socket.io push servers with pushinator's admin API:
// pushinator itself and the Node reference server (the official socket.io server running the
// same product), so that both can be measured side by side with the same clients.
//
// Its clients speak Engine.IO v4 over WebSocket: open packet, socket.io CONNECT, the `auth`
// event with (userId, hash), pongs to the server's pings, and they time every pushed
// `message`. It registers users and sends through the admin API (POST /user/register,
// POST /user/send, keep-alive, a fixed number of requests in flight), and reads the server's
// CPU time and resident memory from /proc/PID.
//
// Modes:
//
//	idle       N idle authenticated connections, each proven by a push round trip; server RSS delta / N
//	one2one    U users with one connection each; 1:1 sends, -inflight requests in flight (or -rate per second)
//	fanout     one user with N sessions; -sends messages one at a time, each until all N received it
//	broadcast  N users with one session each; POST /broadcast one at a time (pushinator only)
//	batch      U users; one message to -batch users per request ({"userIds":[...]}, pushinator only)
//	messages   U users; -batch messages per request, each to its own user ({"messages":[...]}, pushinator only)
//
// Clients use WebSocket, or with -transport polling Engine.IO long-polling (for the memory of
// idle polling sessions). It prints a table on stderr and one JSON line on stdout. The open-files limit caps one process
// at about 20,000 connections: -procs runs idle's connections in several processes (this
// binary re-executed), and -srcaddrs spreads them over 127.0.0.x source addresses.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	mode      string
	admin     string   // host:port of the admin API
	client    string   // host:port of the socket.io server
	pid       int      // the server's pid, for CPU and RSS (0: not measured)
	clients   []string // idle: the socket.io servers of several nodes (-client a,b,…), one per worker in turn
	pids      []int    // idle: the nodes' pids; RSS is their sum
	name      string   // label of the server in the output
	n         int      // connections (idle, fanout, broadcast)
	users     int      // users (one2one, batch)
	inflight  int      // admin requests in flight
	size      int      // message size, bytes
	duration  time.Duration
	warmup    time.Duration
	rate      float64 // one2one: offered sends per second (0: as fast as -inflight allows)
	sends     int     // fanout, broadcast: messages sent one at a time
	batch     int     // batch: users per request
	procs     int     // idle: processes holding the connections
	srcaddrs  int     // loopback source addresses per process
	srcFirst  int     // first source address: 127.0.0.srcFirst
	base      int64   // first user id
	hash      string
	settle    time.Duration // idle: wait before reading RSS
	dialers   int           // connections being opened at once
	child     bool          // a -procs worker: connect, prove, report, hold until stdin closes
	tag       string        // the run's name in the JSON line (defaults to the mode)
	transport string        // "websocket" or "polling"
	goReader  bool          // WebSocket clients read by a goroutine each instead of epoll loops
	coalesce  time.Duration // epoll loops: nap this long when nothing is ready instead of blocking
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "one2one", "idle, one2one, fanout, broadcast, batch or messages")
	flag.StringVar(&o.admin, "admin", "127.0.0.1:9600", "admin API host:port")
	flag.StringVar(&o.client, "client", "127.0.0.1:9601", "socket.io server host:port; idle: several, comma-separated (the nodes of a cluster, one per -procs worker in turn)")
	pidList := flag.String("pid", "0", "server pid, to read its CPU time and RSS from /proc (0: not measured); idle: several, comma-separated (RSS summed)")
	flag.StringVar(&o.name, "name", "server", "label of the server in the output")
	flag.IntVar(&o.n, "n", 2000, "connections (idle, fanout, broadcast)")
	flag.IntVar(&o.users, "users", 1000, "users, one connection each (one2one, batch)")
	flag.IntVar(&o.inflight, "inflight", 64, "admin requests in flight (keep-alive connections)")
	flag.IntVar(&o.size, "size", 100, "message size in bytes (JSON object with padding)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time (one2one, batch)")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured load before the measured time (one2one, batch)")
	flag.Float64Var(&o.rate, "rate", 0, "one2one: offered sends per second, open loop (0: closed loop with -inflight)")
	flag.IntVar(&o.sends, "sends", 200, "messages sent one at a time (fanout, broadcast)")
	flag.IntVar(&o.batch, "batch", 100, "users per request (batch)")
	flag.IntVar(&o.procs, "procs", 1, "idle: processes holding the connections (each under the open-files limit)")
	flag.IntVar(&o.srcaddrs, "srcaddrs", 4, "loopback source addresses (127.0.0.x) per process")
	flag.IntVar(&o.srcFirst, "srcfirst", 1, "first source address 127.0.0.N")
	flag.Int64Var(&o.base, "base", 0, "first user id (0: derived from the clock, so runs never share users)")
	flag.StringVar(&o.hash, "hash", "h", "the users' hash")
	flag.DurationVar(&o.settle, "settle", 3*time.Second, "idle: wait before reading the server's RSS")
	flag.IntVar(&o.dialers, "dialers", 64, "connections being opened at once")
	flag.BoolVar(&o.child, "child", false, "internal: an idle worker process started by -procs")
	flag.StringVar(&o.transport, "transport", "websocket", "clients' transport: websocket or polling (Engine.IO v4 long-polling)")
	flag.BoolVar(&o.goReader, "goreader", false, "read each WebSocket client with its own goroutine (costlier) instead of a few epoll loops")
	flag.DurationVar(&o.coalesce, "coalesce", 0, "WebSocket clients: when no socket is ready, sleep this long (e.g. 1ms) instead of blocking in epoll_wait, like a NIC's interrupt coalescing; receipts come up to this much later (0: block)")
	flag.StringVar(&o.tag, "tag", "", "name of this run in the JSON line (default: the mode)")
	reportFile := flag.String("report", "", "print the side-by-side table of a file of JSON lines (- for stdin) and exit")
	pushName := flag.String("report-a", "pushinator", "-report: the -name of the server under test")
	nodeName := flag.String("report-b", "node", "-report: the -name of the reference server")
	ports := flag.Int("freeports", 0, "print this many free loopback ports and exit")
	figure := flag.String("figure", "", "with -report: print only this figure, SERVER/TAG/KEY (e.g. node/one2one/deliveries_per_s)")
	cpuProfile := flag.String("cpuprofile", "", "write this process's CPU profile to the file (the load generator's own cost)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "pushbench:", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *ports > 0 {
		if err := freePorts(os.Stdout, *ports); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if *reportFile != "" {
		in := os.Stdin
		if *reportFile != "-" {
			f, err := os.Open(*reportFile)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			defer f.Close()
			in = f
		}
		var err error
		if *figure != "" {
			err = printFigure(in, os.Stdout, *figure)
		} else {
			err = report(in, os.Stdout, *pushName, *nodeName)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if o.tag == "" {
		o.tag = o.mode
	}
	var err error
	if o.clients, o.pids, err = parseServers(o.client, *pidList); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	o.client, o.pid = o.clients[0], o.pids[0]
	if (len(o.clients) > 1 || len(o.pids) > 1) && o.mode != "idle" {
		fmt.Fprintln(os.Stderr, "pushbench: several -client or -pid values are for -mode idle")
		os.Exit(2)
	}
	if len(o.clients) > 1 && o.procs < len(o.clients) {
		o.procs = len(o.clients) // a worker per node at least
	}
	if o.base == 0 {
		// Distinct ids per run: a server that still holds a previous run's sessions (closing
		// them takes it a moment) must not count them in this one.
		o.base = (time.Now().UnixMilli()%100000)*100000 + 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var res *result
	switch {
	case o.child:
		err = runChild(ctx, o, os.Stdin, os.Stdout)
	case o.mode == "idle":
		res, err = runIdle(ctx, o)
	case o.mode == "one2one":
		res, err = runOne2One(ctx, o)
	case o.mode == "fanout":
		res, err = runFanout(ctx, o, false)
	case o.mode == "broadcast":
		res, err = runFanout(ctx, o, true)
	case o.mode == "messages":
		res, err = runMessages(ctx, o)
	case o.mode == "batch":
		res, err = runBatch(ctx, o)
	default:
		err = fmt.Errorf("pushbench: unknown -mode %q", o.mode)
	}
	if res != nil {
		res.print(os.Stderr, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

// result is one run's figures, in order.
type result struct {
	Tag     string
	Mode    string
	Server  string
	keys    []string
	figures map[string]any
	units   map[string]string
}

func newResult(o options) *result {
	return &result{Tag: o.tag, Mode: o.mode, Server: o.name, figures: map[string]any{}, units: map[string]string{}}
}

func (r *result) set(key string, v any, unit string) {
	if _, ok := r.figures[key]; !ok {
		r.keys = append(r.keys, key)
	}
	r.figures[key] = v
	r.units[key] = unit
}

func (r *result) print(table, jsonOut io.Writer) {
	fmt.Fprintf(table, "%s (%s) on %s\n", r.Tag, r.Mode, r.Server)
	for _, k := range r.keys {
		v := r.figures[k]
		if f, ok := v.(float64); ok {
			v = fmt.Sprintf("%.2f", f)
		}
		fmt.Fprintf(table, "  %-28s %14v %s\n", k, v, r.units[k])
	}
	out := map[string]any{"tag": r.Tag, "mode": r.Mode, "server": r.Server}
	for k, v := range r.figures {
		out[k] = v
	}
	line, _ := json.Marshal(out)
	fmt.Fprintln(jsonOut, string(line))
}

// errAborted is returned when a signal cut a run short.
var errAborted = errors.New("pushbench: interrupted")

// parseServers reads -client and -pid lists (comma-separated).
func parseServers(clients, pids string) ([]string, []int, error) {
	cs := strings.Split(clients, ",")
	for _, c := range cs {
		if c == "" {
			return nil, nil, fmt.Errorf("pushbench: -client %q: empty address", clients)
		}
	}
	var ps []int
	for _, f := range strings.Split(pids, ",") {
		p, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || p < 0 {
			return nil, nil, fmt.Errorf("pushbench: -pid %q: not a list of process ids", pids)
		}
		ps = append(ps, p)
	}
	return cs, ps, nil
}
