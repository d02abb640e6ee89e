package config

import "time"

// Every default of pushinator, in one place, with its reason. Default()
// assembles them; the example config (pushinator.example.conf) and the README
// document them, and a test keeps the example in step with this file.

// DefaultPath is the config file used when the command line names none, as
// in the original pushinator.
const DefaultPath = "/etc/pushinator.conf"

const (
	// defaultPIDFile is in /run, the place for a system daemon's runtime
	// state: only root can write there, so no other user can plant a
	// pidfile that makes `pushinator stop` signal their process, which a
	// world-writable /tmp would allow. A developer running as themselves
	// sets pidfile in the config, as the example config does.
	defaultPIDFile = "/run/pushinator.pid"

	// The seed's ports; applications and firewalls already use them.
	defaultAdminPort  = 9600
	defaultClientPort = 9601

	// defaultMaxBodyBytes bounds an admin request body: far above any sane
	// message, far below what would hurt the process.
	defaultMaxBodyBytes = 1 << 20

	// defaultClientPath is where every socket.io client looks by default.
	defaultClientPath = "/socket.io/"

	// Heartbeats and payload limit: the official socket.io server's
	// defaults, so that clients tuned for it behave the same here.
	defaultPingInterval = 25 * time.Second
	defaultPingTimeout  = 20 * time.Second
	defaultMaxPayload   = 1_000_000

	// defaultAllowEIO3 serves socket.io-client 2.x, which the seed's
	// users are most likely to still run.
	defaultAllowEIO3 = true

	// defaultAuthTimeout closes connections that never authenticate, so an
	// idle or hostile client cannot hold a slot forever; 30 s is ample for
	// a connect followed by an `auth` emit over a slow mobile link.
	defaultAuthTimeout = 30 * time.Second

	// Delivery: a user briefly offline (a page reload, a network switch)
	// gets what was sent meanwhile. 100 messages and 1 MiB per user over
	// 2 minutes cover a reconnect without letting abandoned users pile up
	// memory; the recovery window matches socket.io's own default.
	defaultBufferSize     = 100
	defaultBufferBytes    = 1 << 20
	defaultBufferTTL      = 2 * time.Minute
	defaultRecoveryWindow = 2 * time.Minute

	// defaultQueueSize is the number of packets waiting for one session's
	// writer; a client that falls this far behind is cut as a slow client
	// (it can recover) instead of growing the server's memory.
	defaultQueueSize = 1024

	// defaultWriteTimeout is the deadline of every network write to a
	// client; a stalled peer is given up on after it.
	defaultWriteTimeout = 10 * time.Second

	defaultEngineType  = "memory"         // one node, no dependency
	defaultRedisAddr   = "127.0.0.1:6379" // Redis's own default
	defaultRedisPrefix = "pushinator:"    // keeps our keys apart in a shared Redis
	defaultSyslogTag   = "pushinator"     // the seed's tag
	defaultFacility    = "daemon"         // the seed's LOG_DAEMON
)

// defaultTransports is the seed's list without its obsolete entries, in its
// order: WebSocket first, then long-polling, then JSONP for old clients.
var defaultTransports = []string{TransportWebSocket, TransportPolling, TransportJSONP}

// defaultCORSOrigins allows any origin, as the seed (socket.io 0.8) did; an
// operator narrows it with client.corsOrigins.
var defaultCORSOrigins = []string{"*"}

// Default returns the configuration used for every key a file leaves out.
// Logging to syslog is off by default: a daemon without a syslog config logs
// nowhere, as in the seed, and a missing /dev/log (containers) cannot stop
// the start. Limits that could refuse legitimate traffic are off (0).
func Default() *Config {
	return &Config{
		PIDFile: defaultPIDFile,
		Admin: Admin{
			Port:         defaultAdminPort,
			MaxBodyBytes: defaultMaxBodyBytes,
		},
		Client: Client{
			Port:         defaultClientPort,
			Path:         defaultClientPath,
			Transports:   append([]string(nil), defaultTransports...),
			PingInterval: defaultPingInterval,
			PingTimeout:  defaultPingTimeout,
			AuthTimeout:  defaultAuthTimeout,
			MaxPayload:   defaultMaxPayload,
			AllowEIO3:    defaultAllowEIO3,
			CORSOrigins:  append([]string(nil), defaultCORSOrigins...),
		},
		Log: Log{
			Syslog: Syslog{Tag: defaultSyslogTag, Facility: defaultFacility},
		},
		Delivery: Delivery{
			BufferSize:     defaultBufferSize,
			BufferBytes:    defaultBufferBytes,
			BufferTTL:      defaultBufferTTL,
			RecoveryWindow: defaultRecoveryWindow,
			QueueSize:      defaultQueueSize,
			WriteTimeout:   defaultWriteTimeout,
		},
		Engine: Engine{
			Type:  defaultEngineType,
			Redis: Redis{Addr: defaultRedisAddr, Prefix: defaultRedisPrefix},
		},
	}
}
