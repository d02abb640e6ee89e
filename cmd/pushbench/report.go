package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
)

// goal is one line of the side-by-side table: a figure of pushinator's run of a workload
// against a figure of Node's run of the same (or, for batching, a comparable) workload.
type goal struct {
	label     string
	tag       string // pushinator's run
	key       string
	nodeTag   string // Node's run ("" when Node has no equivalent)
	nodeKey   string
	unit      string
	ratioMax  float64 // met when pushinator/Node ≤ ratioMax (0: no ratio goal)
	ratioMin  float64 // met when pushinator/Node ≥ ratioMin (0: no such goal)
	absMax    float64 // met when pushinator's figure ≤ absMax (0: no absolute goal)
	atLeast   float64 // met when pushinator's figure ≥ atLeast (0: none)
	goalLabel string
}

// goals are the targets, each measured side by side in one run.
var goals = []goal{
	{label: "idle WebSocket session memory", tag: "idle", key: "kib_per_connection", nodeTag: "idle", nodeKey: "kib_per_connection", unit: "KiB", absMax: 6, goalLabel: "≤ 6 KiB"},
	{label: "idle sessions proven (push round trip)", tag: "idle", key: "connections", nodeTag: "idle", nodeKey: "connections", unit: "", atLeast: 19500, goalLabel: "19,500 (FULL=1)"},
	{label: "idle long-polling session memory", tag: "idle-polling", key: "kib_per_connection", nodeTag: "idle-polling", nodeKey: "kib_per_connection", unit: "KiB"},
	{label: "1:1 deliveries/s (64 in flight)", tag: "one2one", key: "deliveries_per_s", nodeTag: "one2one", nodeKey: "deliveries_per_s", unit: "/s"},
	{label: "1:1 server CPU per message", tag: "one2one", key: "server_us_per_request", nodeTag: "one2one", nodeKey: "server_us_per_request", unit: "µs", ratioMax: 1.0 / 4, goalLabel: "≤ 1/4"},
	{label: "1:1 load generator CPU per message", tag: "one2one", key: "bench_us_per_request", nodeTag: "one2one", nodeKey: "bench_us_per_request", unit: "µs"},
	{label: "1:1 p99 (64 in flight, closed loop)", tag: "one2one", key: "p99_ms", nodeTag: "one2one", nodeKey: "p99_ms", unit: "ms"},
	{label: "1:1 p99 at the same offered load", tag: "one2one-rate", key: "p99_ms", nodeTag: "one2one-rate", nodeKey: "p99_ms", unit: "ms", ratioMax: 1.0 / 2, goalLabel: "≤ 1/2"},
	{label: "1:1 server CPU per message, same offered load", tag: "one2one-rate", key: "server_us_per_request", nodeTag: "one2one-rate", nodeKey: "server_us_per_request", unit: "µs", ratioMax: 1.0 / 4, goalLabel: "≤ 1/4"},
	{label: "1:1 p50 at the same offered load", tag: "one2one-rate", key: "p50_ms", nodeTag: "one2one-rate", nodeKey: "p50_ms", unit: "ms"},
	{label: "fan-out deliveries/s", tag: "fanout", key: "deliveries_per_s", nodeTag: "fanout", nodeKey: "deliveries_per_s", unit: "/s"},
	{label: "fan-out server CPU per delivery", tag: "fanout", key: "server_us_per_delivery", nodeTag: "fanout", nodeKey: "server_us_per_delivery", unit: "µs", ratioMax: 1.0 / 6, goalLabel: "≤ 1/6"},
	{label: "fan-out load generator CPU per delivery", tag: "fanout", key: "bench_us_per_delivery", nodeTag: "fanout", nodeKey: "bench_us_per_delivery", unit: "µs"},
	{label: "fan-out server + load generator CPU", tag: "fanout", key: "machine_us_per_delivery", nodeTag: "fanout", nodeKey: "machine_us_per_delivery", unit: "µs"},
	{label: "fan-out last receipt p50", tag: "fanout", key: "last_receipt_p50_ms", nodeTag: "fanout", nodeKey: "last_receipt_p50_ms", unit: "ms", ratioMax: 1.0 / 5, goalLabel: "≤ 1/5"},
	{label: "batch (userIds) deliveries/s vs Node 1:1", tag: "batch", key: "deliveries_per_s", nodeTag: "one2one", nodeKey: "deliveries_per_s", unit: "/s", ratioMin: 5, goalLabel: "≥ 5×"},
	{label: "many messages per request vs Node 1:1", tag: "messages", key: "deliveries_per_s", nodeTag: "one2one", nodeKey: "deliveries_per_s", unit: "/s", ratioMin: 5, goalLabel: "≥ 5×"},
	{label: "broadcast deliveries/s vs Node fan-out", tag: "broadcast", key: "deliveries_per_s", nodeTag: "fanout", nodeKey: "deliveries_per_s", unit: "/s"},
	{label: "broadcast server CPU per delivery", tag: "broadcast", key: "server_us_per_delivery", nodeTag: "fanout", nodeKey: "server_us_per_delivery", unit: "µs"},
}

// report reads the JSON lines of a comparison run (each with "tag" and "server") and prints
// the side-by-side table: pushinator, Node, ratio, goal, met.
func report(in io.Reader, out io.Writer, pushName, nodeName string) error {
	runs, warnings, err := readRuns(in)
	if err != nil {
		return err
	}
	defer func() {
		for _, w := range warnings {
			fmt.Fprintln(out, "note:", w)
		}
	}()
	fmt.Fprintf(out, "%-42s %14s %14s %8s  %-16s %s\n", "figure", pushName, nodeName, "ratio", "goal", "met")
	fmt.Fprintln(out, strings.Repeat("-", 104))
	for _, g := range goals {
		p, okP := runs[pushName+"/"+g.tag][g.key]
		if !okP {
			continue
		}
		n, okN := runs[nodeName+"/"+g.nodeTag][g.nodeKey]
		nodeCol, ratioCol, met := "—", "", ""
		ratio := math.NaN()
		if okN {
			nodeCol = num(n) + " " + g.unit
			if n != 0 {
				ratio = p / n
				ratioCol = fmt.Sprintf("%.3f", ratio)
			}
		}
		switch {
		case g.ratioMax > 0:
			met = yesNo(!math.IsNaN(ratio) && ratio <= g.ratioMax)
		case g.ratioMin > 0:
			met = yesNo(!math.IsNaN(ratio) && ratio >= g.ratioMin)
		case g.absMax > 0:
			met = yesNo(p <= g.absMax)
		case g.atLeast > 0:
			met = yesNo(p >= g.atLeast)
		}
		fmt.Fprintf(out, "%-42s %14s %14s %8s  %-16s %s\n", g.label, num(p)+" "+g.unit, nodeCol, ratioCol, g.goalLabel, met)
	}
	return nil
}

// printFigure prints one figure, "SERVER/TAG/KEY", of a file of JSON lines.
func printFigure(in io.Reader, out io.Writer, which string) error {
	runs, _, err := readRuns(in)
	if err != nil {
		return err
	}
	i := strings.LastIndexByte(which, '/')
	if i < 0 {
		return fmt.Errorf("pushbench: -figure %q: want SERVER/TAG/KEY", which)
	}
	v, ok := runs[which[:i]][which[i+1:]]
	if !ok {
		return fmt.Errorf("pushbench: -figure %q: no such figure", which)
	}
	fmt.Fprintln(out, v)
	return nil
}

// readRuns reads JSON lines into "server/tag" → figure name → value; other lines are skipped.
// Repeated runs of a workload are tagged "tag#N": each figure is then their median, which a
// shared machine's passing load moves less than a mean. warnings name the open-loop runs whose
// server did not keep up with the offered rate: their latencies are a queue's.
func readRuns(in io.Reader) (runs map[string]map[string]float64, warnings []string, err error) {
	all := map[string]map[string][]float64{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			return nil, nil, fmt.Errorf("pushbench: report: %w in %q", err, line)
		}
		server, _ := m["server"].(string)
		tag, _ := m["tag"].(string)
		offered, _ := m["offered_rate"].(float64)
		if done, _ := m["requests_per_s"].(float64); offered > 0 && done < 0.97*offered {
			warnings = append(warnings, fmt.Sprintf("%s on %s: %.0f of %.0f requests/s offered were sent; its latencies there are a queue's, not the server's", tag, server, done, offered))
		}
		tag, _, _ = strings.Cut(tag, "#")
		key := server + "/" + tag
		if all[key] == nil {
			all[key] = map[string][]float64{}
		}
		for k, v := range m {
			if f, ok := v.(float64); ok {
				all[key][k] = append(all[key][k], f)
			}
		}
	}
	runs = map[string]map[string]float64{}
	for key, figs := range all {
		runs[key] = map[string]float64{}
		for k, vs := range figs {
			runs[key][k] = median(vs)
		}
	}
	return runs, warnings, sc.Err()
}

func median(v []float64) float64 {
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func num(f float64) string {
	switch {
	case f >= 1000:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	default:
		return fmt.Sprintf("%.2f", f)
	}
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

// freePorts prints n loopback TCP ports that were free a moment ago (all held at once, so
// they are distinct). They are below the kernel's ephemeral range: the load generator's
// thousands of connections take their source ports from that range, and a server restarted
// between workloads could otherwise find its port held by one of them.
func freePorts(out io.Writer, n int) error {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	const first = 10000
	top := ephemeralLow()
	for tries := 0; len(lns) < n; tries++ {
		if tries == 1000 {
			return fmt.Errorf("pushbench: no free port between %d and %d", first, top)
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(first+rand.IntN(top-first))))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		fmt.Fprintln(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

// ephemeralLow is the first port the kernel hands out as a source port (32768 when it
// cannot be read, Linux's default).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil || lo <= 10001 {
		return 32768
	}
	return lo
}
