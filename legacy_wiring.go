package main

import (
	"log/slog"

	"github.com/pushinator/pushinator/config"
	"github.com/pushinator/pushinator/gateway"
	"github.com/pushinator/pushinator/internal/netpoll"
	"github.com/pushinator/pushinator/legacy"
)

// newLegacyServer serves the original's socket.io 0.9 clients (protocol 1) beside the modern
// ones, under client.path + "1/", with the same transports in the same order, and heartbeats
// derived from the Engine.IO ones so that one setting governs both.
func newLegacyServer(cfg *config.Config, gw *gateway.Gateway, log *slog.Logger, poller *netpoll.Poller) *legacy.Server {
	c := cfg.Client
	var transports []string
	for _, t := range c.Transports {
		switch t {
		case config.TransportWebSocket:
			transports = append(transports, "websocket")
		case config.TransportPolling:
			transports = append(transports, "xhr-polling")
		case config.TransportJSONP:
			transports = append(transports, "jsonp-polling")
		}
	}
	timeout := c.PingInterval + c.PingTimeout
	return legacy.NewServer(legacy.Options{
		Path:              c.Path,
		Transports:        transports,
		HeartbeatTimeout:  timeout,
		CloseTimeout:      timeout,
		HeartbeatInterval: c.PingInterval,
		MaxPayload:        c.MaxPayload,
		CORSOrigins:       c.CORSOrigins,
		QueueLimit:        cfg.Delivery.SessionQueueLimit(),
		WriteTimeout:      cfg.Delivery.WriteTimeout,
		Logger:            log,
		Poller:            poller,
	}, gw.Legacy())
}
