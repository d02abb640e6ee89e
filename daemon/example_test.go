package daemon_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/pushinator/pushinator/daemon"
	"github.com/pushinator/pushinator/logging"
)

// conf stands for what main reads from the config file.
type conf struct {
	PIDFile       string
	Debug         bool
	SyslogEnabled bool
	Syslog        logging.SyslogOptions
	AdminAddr     string
}

func loadConfig(path string) (conf, error) { return conf{PIDFile: "/run/pushinator.pid"}, nil }

// Example shows how main drives the package: the control commands run in the terminal,
// serve runs in the foreground and in the daemon child alike.
func Example() {
	cmd, configPath := "status", "/etc/pushinator.conf"
	os.Exit(control(cmd, configPath))
}

func control(cmd, configPath string) int {
	// The daemon runs in "/": hand it an absolute config path.
	configPath, _ = filepath.Abs(configPath)
	cfg, err := loadConfig(configPath) // in the terminal, so a config error is seen at once
	if err != nil {
		fmt.Fprintln(os.Stderr, "pushinator:", err)
		return 1
	}
	start := func() int {
		pid, err := daemon.Start(daemon.StartOptions{Args: []string{"-c", configPath}, PIDFile: cfg.PIDFile})
		if err != nil {
			fmt.Fprintln(os.Stderr, "pushinator:", err) // e.g. "daemon: start: listen tcp :9600: bind: address already in use"
			return 1
		}
		fmt.Printf("pushinator started (pid %d)\n", pid)
		return 0
	}
	stop := func() int {
		res, err := daemon.Stop(cfg.PIDFile, daemon.DefaultStopTimeout)
		switch {
		case err != nil:
			fmt.Fprintln(os.Stderr, "pushinator:", err)
			return 1
		case res.Killed:
			fmt.Printf("pushinator killed (pid %d did not exit within %v of SIGTERM)\n", res.PID, daemon.DefaultStopTimeout)
		case res.WasRunning:
			fmt.Printf("pushinator stopped (pid %d)\n", res.PID)
		default:
			fmt.Println("pushinator is not running")
		}
		return 0
	}
	switch cmd {
	case "start":
		return start()
	case "stop":
		return stop()
	case "restart":
		if code := stop(); code != 0 {
			return code
		}
		return start()
	case "status":
		st := daemon.Status(cfg.PIDFile)
		fmt.Println(st.Message)
		return st.Code
	}
	return serve(configPath)
}

func serve(configPath string) int {
	sigs := daemon.CatchSignals() // first: from now on SIGTERM/SIGHUP cannot kill us mid-start

	fail := func(pidfile string, err error) int {
		// In a daemon child this reaches the terminal through `pushinator start`.
		err = daemon.Ready(pidfile, err)
		fmt.Fprintln(os.Stderr, "pushinator:", err)
		return 1
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		return fail("", err)
	}
	logger, err := logging.New(logging.Options{
		Output: logging.Choose(daemon.IsDaemonChild(), cfg.SyslogEnabled),
		Debug:  cfg.Debug,
		Syslog: cfg.Syslog,
	})
	if err != nil {
		return fail("", err)
	}
	defer logger.Close()
	log := logger.Slog()

	ln, err := net.Listen("tcp", cfg.AdminAddr) // ... and the client port
	if err != nil {
		return fail("", err)
	}
	defer ln.Close()
	if err := daemon.Ready(cfg.PIDFile, nil); err != nil { // pidfile written, `start` returns 0
		log.Error("start-up failed", "err", err)
		fmt.Fprintln(os.Stderr, "pushinator:", err)
		return 1
	}
	defer daemon.RemovePIDFile(cfg.PIDFile)
	log.Info("pushinator started", "pid", os.Getpid())

	sig := sigs.Wait(context.Background(), func() {
		if c, err := loadConfig(configPath); err == nil {
			logger.SetDebug(c.Debug)
		}
		if err := logger.Reopen(); err != nil {
			log.Error("reopening the log", "err", err)
		}
	})
	log.Info("shutting down", "signal", sig.String())
	// ... graceful shutdown of the servers ...
	return 0
}
