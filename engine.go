package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pushinator/pushinator/cluster"
	"github.com/pushinator/pushinator/config"
	"github.com/pushinator/pushinator/redisengine"
)

// newClusterNode connects to the Redis of `engine: {type: 'redis'}`; it fails when Redis does
// not answer, so that a wrong address stops the start instead of running a lone node.
func newClusterNode(cfg *config.Config, log *slog.Logger) (*redisengine.Node, error) {
	d, r := cfg.Delivery, cfg.Engine.Redis
	// go-redis reports every failed dial through a process-wide logger; the node logs the
	// link's changes of state itself, once each, so the library's lines go to debug.
	redis.SetLogger(redisLogger{log})
	advertise := advertiseAddr(cfg.Client, r.Advertise)
	tlsConf, err := redisTLS(r)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	node, err := redisengine.New(ctx, redisengine.Options{
		Addr: r.Addr, Password: r.Password, DB: r.DB, Prefix: r.Prefix, TLS: tlsConf,
		ClientAddr: advertise, Logger: log,
		BufferSize: d.BufferSize, BufferBytes: d.BufferBytes, BufferTTL: d.BufferTTL,
		RecoveryWindow: d.RecoveryWindow, MaxSessionsPerUser: cfg.Limits.MaxSessionsPerUser,
	})
	if err != nil {
		return nil, err
	}
	if cfg.Storage.Path != "" {
		log.Warn("storage.path is for the memory engine: with engine.type redis, Redis holds the state; the file is not used", "path", cfg.Storage.Path)
	}
	log.Info("cluster node on redis", "node", node.ID(), "redis", r.Addr, "tls", r.TLS, "prefix", r.Prefix, "advertise", advertise)
	return node, nil
}

// redisTLS is the TLS configuration of engine.redis, nil without tls. The certificate Redis
// presents is always verified: against tlsCA when set, else the system's roots.
func redisTLS(r config.Redis) (*tls.Config, error) {
	if !r.TLS {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: r.TLSServerName}
	if conf.ServerName == "" {
		host, _, err := net.SplitHostPort(r.Addr)
		if err != nil {
			return nil, fmt.Errorf("engine.redis.addr: %w", err)
		}
		conf.ServerName = host
	}
	if r.TLSCA != "" {
		pem, err := readPEMFile(r.TLSCA)
		if err != nil {
			return nil, fmt.Errorf("engine.redis.tlsCA: %w", err)
		}
		conf.RootCAs = x509.NewCertPool()
		if !conf.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("engine.redis.tlsCA: %s holds no PEM certificate", r.TLSCA)
		}
	}
	return conf, nil
}

// forwarding puts the cluster forwarder in front of the engine: a polling request for another
// node's session goes to that node.
// Forwarding speaks plain HTTP between nodes: with TLS on the client port, polling needs
// sticky sessions (or TLS terminated at the balancer).
func forwarding(engine http.Handler, node *redisengine.Node, c config.Client, bodyTimeout time.Duration, log *slog.Logger) http.Handler {
	if c.UseSSL {
		log.Info("client.useSSL: polling requests are not forwarded between nodes; use sticky sessions for polling clients")
		return engine
	}
	return cluster.New(engine, cluster.Options{
		Self: node.ID(), Lookup: node.NodeAddr, Logger: log,
		Timeout:     c.PingInterval + c.PingTimeout + 10*time.Second,
		BodyTimeout: bodyTimeout,
	})
}

// advertiseAddr is where the other nodes reach this node's client port: engine.redis.advertise
// when set, else its host, or the machine's name when it listens on every interface.
func advertiseAddr(c config.Client, advertise string) string {
	if advertise != "" {
		return advertise
	}
	host := c.Host
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if name, err := os.Hostname(); err == nil {
			host = name
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(c.Port))
}

func nodeID(n *redisengine.Node) string {
	if n == nil {
		return ""
	}
	return n.ID()
}

// redisLogger sends go-redis's own messages to the debug log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	l.log.Debug("redis client: " + fmt.Sprintf(format, v...))
}

// sidPrefix starts the Engine.IO session ids of node: the forwarder reads it back.
func sidPrefix(n *redisengine.Node) string { return n.ID() + cluster.SIDSeparator }
