// Command pushinator is a push server: an application registers users and sends them messages
// over an HTTP admin API, and browsers and apps receive them with any socket.io client.
//
// Usage:
//
//	pushinator [start|stop|restart|status|check] [-c FILE]
//
// Without a command it runs in the foreground and logs to stdout; see usage below and the
// README for the rest.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/pushinator/pushinator/config"
	"github.com/pushinator/pushinator/daemon"
)

// version is stamped by the build (-ldflags "-X main.version=v1.2.3"); go install stamps the
// module version instead, which versionString reads.
var version = ""

// Exit codes besides the LSB ones `status` uses.
const (
	exitOK    = 0
	exitError = 1 // the command failed: bad config, port taken, already running...
	exitUsage = 2 // the command line is wrong
)

const usageText = `Usage: pushinator [COMMAND] [-c FILE]

pushinator pushes messages from your application to browsers and apps in real time.
Clients connect with any socket.io client; the application uses the admin HTTP API.

Commands:
  (none)    run in the foreground, logging to stdout
  start     run as a daemon: detach, write the pidfile, return once the ports listen
  stop      stop the daemon named in the pidfile (SIGTERM, wait, remove the pidfile)
  restart   stop, then start
  status    say whether the daemon runs; exit 0 running, 1 dead with a pidfile,
            3 not running, 4 unknown (the config cannot be read)
  check     check the config file and exit (same as -t)

Flags:
  -c FILE   config file (default /etc/pushinator.conf)
  -t        check the config file and exit: 0 valid, 1 invalid
  --version print the version and exit
  -h, --help
            print this help and exit

Signals: SIGTERM and SIGINT stop gracefully; SIGHUP reloads log.debug and the TLS
certificate and reopens the log.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command line; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pushinator", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfgPath := fs.String("c", config.DefaultPath, "")
	check := fs.Bool("t", false, "")
	showVersion := fs.Bool("version", false, "")
	help := fs.Bool("help", false, "")
	fs.BoolVar(help, "h", false, "")

	// The command may stand before or after the flags: "start -c f" and "-c f start".
	var command string
	for {
		if err := fs.Parse(args); err != nil {
			fmt.Fprintf(stderr, "pushinator: %v\n\n%s", err, usageText)
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		if command != "" {
			fmt.Fprintf(stderr, "pushinator: unexpected argument %q\n\n%s", fs.Arg(0), usageText)
			return exitUsage
		}
		command, args = fs.Arg(0), fs.Args()[1:]
	}
	switch {
	case *help:
		fmt.Fprint(stdout, usageText)
		return exitOK
	case *showVersion:
		fmt.Fprintf(stdout, "pushinator %s\n", versionString())
		return exitOK
	case *check:
		command = "check"
	}
	path, err := filepath.Abs(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "pushinator: %v\n", err)
		return exitError
	}

	switch command {
	case "":
		return serveForeground(path, stdout, stderr)
	case "check":
		return checkConfig(path, stdout, stderr)
	case "start":
		return startDaemon(path, stdout, stderr)
	case "stop":
		return stopDaemon(path, stdout, stderr)
	case "restart":
		// A config that would not start must not stop the running server: check first.
		if _, err := loadForStart(path); err != nil {
			fmt.Fprintf(stderr, "pushinator: restart: not stopping the running server: %v\n", err)
			return exitError
		}
		if code := stopDaemon(path, stdout, stderr); code != exitOK {
			return code
		}
		return startDaemon(path, stdout, stderr)
	case "status":
		cfg, _, err := config.Load(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return daemon.StatusUnknown
		}
		st := daemon.Status(cfg.PIDFile)
		fmt.Fprintln(stdout, st.Message)
		return st.Code
	}
	fmt.Fprintf(stderr, "pushinator: unknown command %q\n\n%s", command, usageText)
	return exitUsage
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

func checkConfig(path string, stdout, stderr io.Writer) int {
	cfg, warnings, err := config.Load(path)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if err := checkTLSFiles(cfg); err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	fmt.Fprintf(stdout, "config %s is valid\n", cfg.File)
	return exitOK
}

func startDaemon(path string, stdout, stderr io.Writer) int {
	cfg, warnings, err := config.Load(path)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "warning:", w)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	if _, err := loadForStart(path); err != nil {
		fmt.Fprintf(stderr, "pushinator: start: %v\n", err)
		return exitError
	}
	pid, err := daemon.Start(daemon.StartOptions{Args: []string{"-c", path}, PIDFile: cfg.PIDFile})
	if err != nil {
		// The daemon package names itself ("daemon: start: ..."); the operator ran "start".
		fmt.Fprintf(stderr, "pushinator: start: %s\n", strings.TrimPrefix(err.Error(), "daemon: start: "))
		return exitError
	}
	fmt.Fprintf(stdout, "pushinator started (pid %d)\n", pid)
	return exitOK
}

// loadForStart loads the config and checks, before anything is stopped or spawned, what
// would make the daemon fail: the config itself, its pidfile, the TLS files.
func loadForStart(path string) (*config.Config, error) {
	cfg, _, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	switch {
	case cfg.PIDFile == "":
		return nil, errors.New("the config names no pidfile, so the daemon could not be stopped")
	case !filepath.IsAbs(cfg.PIDFile):
		// The daemon runs in "/", status and stop in the caller's directory: a relative
		// pidfile would name different files.
		return nil, fmt.Errorf("pidfile %q must be an absolute path", cfg.PIDFile)
	}
	if err := checkTLSFiles(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func stopDaemon(path string, stdout, stderr io.Writer) int {
	cfg, _, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError
	}
	res, err := daemon.Stop(cfg.PIDFile, 0)
	if err != nil {
		fmt.Fprintf(stderr, "pushinator: stop: %s\n", strings.TrimPrefix(err.Error(), "daemon: stop: "))
		return exitError
	}
	switch {
	case !res.WasRunning:
		fmt.Fprintln(stdout, "pushinator is not running")
	case res.Killed:
		fmt.Fprintf(stdout, "pushinator (pid %d) ignored SIGTERM and was killed\n", res.PID)
	default:
		fmt.Fprintf(stdout, "pushinator stopped (pid %d)\n", res.PID)
	}
	return exitOK
}
