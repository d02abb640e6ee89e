package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pushinator/pushinator/admin"
	"github.com/pushinator/pushinator/config"
	"github.com/pushinator/pushinator/daemon"
	"github.com/pushinator/pushinator/engineio"
	"github.com/pushinator/pushinator/gateway"
	"github.com/pushinator/pushinator/internal/netpoll"
	"github.com/pushinator/pushinator/internal/rawio"
	"github.com/pushinator/pushinator/legacy"
	"github.com/pushinator/pushinator/limit"
	"github.com/pushinator/pushinator/logging"
	"github.com/pushinator/pushinator/push"
	"github.com/pushinator/pushinator/redisengine"
	"github.com/pushinator/pushinator/socketio"
	"github.com/pushinator/pushinator/state"
)

// Timeouts of the two HTTP servers. Header and idle bounds stop slow or abandoned connections
// from holding file descriptors (slowloris); long-polls and WebSockets are not affected, since
// a long-poll answers within pingInterval and a WebSocket leaves net/http once upgraded.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	adminReadTimeout  = 30 * time.Second // a whole admin request body
	adminWriteTimeout = 30 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 10 * time.Second // SIGTERM to exit, with every client told
	// clientsCloseTimeout is the part of shutdownTimeout given to clients to take their
	// close packet; a client gone without closing never does.
	clientsCloseTimeout = 5 * time.Second
	sweepInterval       = 5 * time.Second // how often expired kept messages are dropped
)

// serveForeground runs the server until SIGTERM/SIGINT, in the foreground or as the daemon
// child that `pushinator start` launched.
func serveForeground(path string, stdout, stderr io.Writer) int {
	sig := daemon.CatchSignals()
	cfg, warnings, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		daemon.Ready("", err)
		return exitError
	}
	logger, err := newLogger(cfg, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "pushinator: log: %v\n", err)
		daemon.Ready("", err)
		return exitError
	}
	defer logger.Close()
	log := logger.Slog()
	for _, w := range warnings {
		log.Warn(w)
	}

	srv, err := newServer(cfg, log)
	if err == nil {
		err = srv.listen()
	}
	if err == nil {
		err = daemon.Ready(cfg.PIDFile, nil)
	}
	if err != nil {
		log.Error("cannot start", "err", err)
		daemon.Ready("", err)
		if srv != nil {
			srv.closeListeners()
		}
		if !daemon.IsDaemonChild() {
			fmt.Fprintf(stderr, "pushinator: %v\n", err)
		}
		return exitError
	}
	log.Info("pushinator started", "version", versionString(), "config", cfg.File,
		"admin", srv.adminLn.Addr().String(), "client", srv.clientLn.Addr().String(),
		"tls", cfg.Client.UseSSL, "transports", cfg.Client.Transports)
	if cfg.Admin.Token == "" && !isLoopback(cfg.Admin.Host) {
		log.Warn("the admin port listens beyond loopback without admin.token: anyone who reaches it can send messages", "admin", srv.adminLn.Addr().String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	failed := srv.serve(ctx, cancel)
	got := sig.Wait(ctx, func() { srv.reload(path, logger) })
	if got != nil {
		log.Info("shutting down", "signal", got.String())
	}
	code := exitOK
	if err := srv.shutdown(); err != nil {
		log.Error("shutdown", "err", err)
		code = exitError
	}
	if err := <-failed; err != nil {
		log.Error("server failed", "err", err)
		code = exitError
	}
	daemon.RemovePIDFile(cfg.PIDFile)
	log.Info("pushinator stopped")
	return code
}

func newLogger(cfg *config.Config, stdout io.Writer) (*logging.Logger, error) {
	opts := logging.Options{Output: logging.OutputStdout, Writer: stdout, Debug: cfg.Log.Debug}
	if daemon.IsDaemonChild() {
		opts.Output = logging.OutputDiscard
		if cfg.Log.Syslog.Enable {
			opts.Output = logging.OutputSyslog
			opts.Syslog = logging.SyslogOptions{Tag: cfg.Log.Syslog.Tag, Facility: cfg.Log.Syslog.Facility, Address: cfg.Log.Syslog.Address}
		}
	}
	return logging.New(opts)
}

// server is one running pushinator: the hub and the two listeners.
type server struct {
	cfg    *config.Config
	log    *slog.Logger
	hub    *push.Hub
	node   *redisengine.Node // engine.type redis: the cluster engine, in place of hub
	engine *engineio.Server
	legacy *legacy.Server // socket.io 0.9 clients, under client.path + "1/"
	// poller holds idle WebSockets (both protocols) without a goroutine each; nil where
	// there is no epoll, or with TLS (a TLS connection buffers what the kernel has handed it).
	poller *netpoll.Poller
	cert   atomic.Pointer[tls.Certificate]

	adminLn, clientLn   net.Listener
	adminSrv, clientSrv *http.Server
	wg                  sync.WaitGroup
	stop                context.CancelFunc // ends serve's goroutines
}

func newServer(cfg *config.Config, log *slog.Logger) (*server, error) {
	s := &server{cfg: cfg, log: log}
	if cfg.Client.UseSSL {
		if err := s.loadCert(cfg.Client); err != nil {
			return nil, err
		}
	}
	d := cfg.Delivery
	s.hub = push.NewHub(push.Options{
		BufferSize: d.BufferSize, BufferBytes: d.BufferBytes, BufferTTL: d.BufferTTL,
		RecoveryWindow: d.RecoveryWindow, MaxSessionsPerUser: cfg.Limits.MaxSessionsPerUser,
	})
	var eng push.Engine = s.hub
	if cfg.Engine.Type == config.EngineRedis {
		node, err := newClusterNode(cfg, log)
		if err != nil {
			return nil, fmt.Errorf("engine.redis: %w", err)
		}
		s.node, eng = node, node
	} else if path := cfg.Storage.Path; path != "" {
		snap, err := state.Load(path)
		if err != nil {
			return nil, fmt.Errorf("storage.path: %w", err)
		}
		if snap != nil {
			if err := s.hub.Restore(*snap); err != nil {
				return nil, fmt.Errorf("storage.path: %s: %w", path, err)
			}
			log.Info("state restored", "path", path, "users", len(snap.Users), "saved", snap.SavedAt)
		}
	}
	gw := gateway.New(eng, gateway.Options{
		AuthTimeout: cfg.Client.AuthTimeout, Recovery: d.RecoveryWindow > 0, Logger: log,
		Failures: limit.NewFailures(cfg.Limits.AuthFailuresPerMinute, time.Minute),
	})
	sio := socketio.NewServer(socketio.Options{ConnectTimeout: connectTimeout(cfg), Logger: log}, gw)
	c := cfg.Client
	if !c.UseSSL {
		if p, err := netpoll.New(); err == nil {
			s.poller = p
		} else {
			log.Debug("idle WebSockets are read by a goroutine each", "err", err)
		}
	}
	eo := engineOptions(cfg, log)
	eo.Poller = s.poller
	if s.node != nil {
		eo.SIDPrefix = sidPrefix(s.node) // any node can tell which one holds a session
	}
	s.engine = engineio.NewServer(eo, sio)

	mux := http.NewServeMux()
	var client http.Handler = s.engine
	if s.node != nil {
		client = forwarding(s.engine, s.node, c, eo.WriteTimeout, log)
	}
	mux.Handle(c.Path, limit.NewHandshakes(client, cfg.Limits.HandshakesPerSecondPerIP))
	s.legacy = newLegacyServer(cfg, gw, log, s.poller)
	mux.Handle(c.Path+"1/", s.legacy)
	s.clientSrv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if c.UseSSL {
		s.clientSrv.TLSConfig = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
				return s.cert.Load(), nil
			},
		}
	}
	s.adminSrv = &http.Server{
		Handler: admin.New(eng, admin.Options{
			Token: cfg.Admin.Token, MaxBodyBytes: cfg.Admin.MaxBodyBytes, Logger: log,
			Connections: s.connections, Node: nodeID(s.node),
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       adminReadTimeout,
		WriteTimeout:      adminWriteTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// connectTimeout is how long a connection may stay without a socket.io CONNECT: the auth
// timeout when there is one (a connection that has not even connected has not authenticated).
func connectTimeout(cfg *config.Config) time.Duration {
	if cfg.Client.AuthTimeout > 0 {
		return cfg.Client.AuthTimeout
	}
	return socketio.DefaultConnectTimeout
}

func engineOptions(cfg *config.Config, log *slog.Logger) engineio.Options {
	c := cfg.Client
	o := engineio.Options{
		Path: c.Path, PingInterval: c.PingInterval, PingTimeout: c.PingTimeout,
		MaxPayload: c.MaxPayload, AllowEIO3: c.AllowEIO3, CORSOrigins: c.CORSOrigins,
		QueueLimit: cfg.Delivery.SessionQueueLimit(), WriteTimeout: cfg.Delivery.WriteTimeout, Logger: log,
	}
	// The configured order is the operator's preference: polling sessions are offered the
	// upgrade to WebSocket only when WebSocket comes first.
	seenPolling := false
	for _, t := range c.Transports {
		switch t {
		case config.TransportWebSocket:
			o.WebSocket = true
			o.UpgradeToWebSocket = !seenPolling
		case config.TransportPolling:
			o.Polling, seenPolling = true, true
		case config.TransportJSONP:
			o.JSONP, seenPolling = true, true
		}
	}
	return o
}

func (s *server) loadCert(c config.Client) error {
	certPEM, err := readPEMFile(c.SSLCert)
	var keyPEM []byte
	if err == nil {
		keyPEM, err = readPEMFile(c.SSLKey)
	}
	var cert tls.Certificate
	if err == nil {
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
	}
	if err != nil {
		return fmt.Errorf("client.sslCert %q / client.sslKey %q: %w", c.SSLCert, c.SSLKey, err)
	}
	s.cert.Store(&cert)
	return nil
}

// maxPEMFileSize bounds what is read of a certificate, key or CA file (a few kilobytes each).
const maxPEMFileSize = 1 << 20

// readPEMFile reads a certificate, key or CA file. Only a regular file of at most
// maxPEMFileSize bytes: a FIFO would block the start, or a reload, for ever (with the signals
// that could end it waiting behind it), and /dev/zero would fill the memory.
func readPEMFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	switch {
	case fi.IsDir():
		return nil, fmt.Errorf("%s is a directory", path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPEMFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxPEMFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxPEMFileSize)
	}
	return data, nil
}

func checkTLSFiles(cfg *config.Config) error {
	if !cfg.Client.UseSSL {
		return nil
	}
	return new(server).loadCert(cfg.Client)
}

// listen binds both ports before anything is served, so that `start` can report a taken port.
func (s *server) listen() error {
	var err error
	if s.adminLn, err = net.Listen("tcp", s.cfg.Admin.Addr()); err != nil {
		return fmt.Errorf("admin port: %w", err)
	}
	if s.clientLn, err = net.Listen("tcp", s.cfg.Client.Addr()); err != nil {
		s.adminLn.Close()
		return fmt.Errorf("client port: %w", err)
	}
	s.adminLn = rawio.Listener(s.adminLn)
	s.clientLn = limit.NewListener(rawio.Listener(s.clientLn), s.cfg.Limits.MaxConnections)
	return nil
}

func (s *server) closeListeners() {
	if s.adminLn != nil {
		s.adminLn.Close()
	}
	if s.clientLn != nil {
		s.clientLn.Close()
	}
}

// serve starts both HTTP servers and the hub's sweeper. The returned channel gets the first
// unexpected serving error (nil after a clean shutdown); such an error also cancels ctx.
func (s *server) serve(ctx context.Context, cancel context.CancelFunc) <-chan error {
	errs := make(chan error, 3)
	run := func(name string, f func() error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	run("admin port", func() error { return s.adminSrv.Serve(s.adminLn) })
	run("client port", func() error {
		if s.cfg.Client.UseSSL {
			return s.clientSrv.ServeTLS(s.clientLn, "", "")
		}
		return s.clientSrv.Serve(s.clientLn)
	})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(sweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.hub.Sweep()
			}
		}
	}()
	if s.node != nil {
		run("redis", func() error { return s.node.Run(ctx) })
	} else if path := s.cfg.Storage.Path; path != "" {
		saver := &state.Saver{Path: path, Hub: s.hub, Logger: s.log}
		run("state", func() error { return saver.Run(ctx) })
	}
	out := make(chan error, 1)
	go func() {
		<-ctx.Done()
		s.wg.Wait()
		close(errs)
		out <- <-errs
	}()
	s.stop = cancel
	return out
}

// shutdown stops accepting, tells every client (an Engine.IO close, so socket.io clients
// reconnect to the next instance), lets admin requests in flight finish, then returns.
func (s *server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	// Clients first: the engine refuses new sessions and sends each session its close
	// packet. The client port keeps serving meanwhile: a polling client between two polls
	// needs one more GET to receive it, and a closed listener would turn its clean close
	// into a "transport error".
	// A live client takes its close packet at once (a WebSocket, or a polling client, which
	// comes back within milliseconds); a session still open after clientsCloseTimeout
	// belongs to a client that vanished without a word. Nobody is left to tell: that is no
	// failure.
	engineCtx, engineCancel := context.WithTimeout(ctx, clientsCloseTimeout)
	defer engineCancel()
	legacyDone := make(chan error, 1)
	go func() { legacyDone <- s.legacy.Shutdown(engineCtx) }()
	if err := s.engine.Shutdown(engineCtx); err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			s.log.Info("shutdown: dropping sessions of clients that did not come back for their close packet", "after", clientsCloseTimeout, "err", err)
		} else {
			errs = append(errs, fmt.Errorf("closing clients: %w", err))
		}
	}
	if err := <-legacyDone; err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
		errs = append(errs, fmt.Errorf("closing socket.io 0.9 clients: %w", err))
	}
	if err := s.clientSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("client port: %w", err))
	}
	if s.poller != nil {
		// Every WebSocket is closed by now (or its session dropped): none is waiting.
		s.poller.Close()
	}
	if err := s.adminSrv.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("admin port: %w", err))
	}
	s.stop()
	return errors.Join(errs...)
}

// reload applies what can change without a restart (SIGHUP): log.debug, the TLS certificate,
// and the log connection. Everything else needs a restart; a config that no longer loads is
// reported and changes nothing.
func (s *server) reload(path string, logger *logging.Logger) {
	cfg, _, err := config.Load(path)
	if err != nil {
		s.log.Error("reload: config not reloaded", "err", err)
		return
	}
	if err := logger.Reopen(); err != nil {
		s.log.Error("reload: reopening the log", "err", err)
	}
	logger.SetDebug(cfg.Log.Debug)
	if s.cfg.Client.UseSSL {
		if err := s.loadCert(cfg.Client); err != nil {
			s.log.Error("reload: TLS certificate not reloaded", "err", err)
		}
	}
	s.log.Info("reloaded", "debug", cfg.Log.Debug)
}

// connections counts client connections by transport and protocol: Engine.IO 3 and 4, and 1
// for socket.io 0.9 clients (socket.io protocol 1, no Engine.IO).
func (s *server) connections() admin.Connections {
	st, old := s.engine.Stats(), s.legacy.Stats()
	return admin.Connections{
		Total:       st.Sessions + old.Sockets,
		ByTransport: map[string]int{"websocket": st.WebSocket + old.WebSocket, "polling": st.Polling + old.XHR, "jsonp": st.JSONP + old.JSONP},
		ByProtocol:  map[int]int{1: old.Sockets, 3: st.EIO3, 4: st.EIO4},
	}
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
