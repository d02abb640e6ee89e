package logging

import (
	"fmt"
	"log/syslog"
	"net"
	"strings"
)

// ParseAddress splits a log.syslog.address value into the network and address that
// syslog.Dial takes. "" is the local syslog (network and address both empty).
func ParseAddress(addr string) (network, raddr string, err error) {
	if addr == "" {
		return "", "", nil
	}
	network, raddr, ok := strings.Cut(addr, ":")
	if !ok || raddr == "" {
		return "", "", fmt.Errorf("address %q: want unixgram:/path, unix:/path, udp:host:port or tcp:host:port", addr)
	}
	switch network {
	case "unixgram", "unix":
		if !strings.HasPrefix(raddr, "/") {
			return "", "", fmt.Errorf("address %q: socket path must be absolute", addr)
		}
	case "udp", "tcp":
		host, port, err := net.SplitHostPort(raddr)
		if err != nil || host == "" || port == "" {
			return "", "", fmt.Errorf("address %q: want %s:host:port", addr, network)
		}
	default:
		return "", "", fmt.Errorf("address %q: unknown network %q (want unixgram, unix, udp or tcp)", addr, network)
	}
	return network, raddr, nil
}

// ParseFacility maps a facility name to its syslog.Priority. It accepts the seed's spelling
// ("LOG_DAEMON", "LOG_LOCAL3") and the short one ("daemon", "local3"), in any case.
func ParseFacility(name string) (syslog.Priority, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.TrimPrefix(n, "log_")
	switch n {
	case "kern":
		return syslog.LOG_KERN, nil
	case "user":
		return syslog.LOG_USER, nil
	case "mail":
		return syslog.LOG_MAIL, nil
	case "daemon":
		return syslog.LOG_DAEMON, nil
	case "auth":
		return syslog.LOG_AUTH, nil
	case "syslog":
		return syslog.LOG_SYSLOG, nil
	case "lpr":
		return syslog.LOG_LPR, nil
	case "news":
		return syslog.LOG_NEWS, nil
	case "uucp":
		return syslog.LOG_UUCP, nil
	case "cron":
		return syslog.LOG_CRON, nil
	case "authpriv":
		return syslog.LOG_AUTHPRIV, nil
	case "ftp":
		return syslog.LOG_FTP, nil
	case "local0":
		return syslog.LOG_LOCAL0, nil
	case "local1":
		return syslog.LOG_LOCAL1, nil
	case "local2":
		return syslog.LOG_LOCAL2, nil
	case "local3":
		return syslog.LOG_LOCAL3, nil
	case "local4":
		return syslog.LOG_LOCAL4, nil
	case "local5":
		return syslog.LOG_LOCAL5, nil
	case "local6":
		return syslog.LOG_LOCAL6, nil
	case "local7":
		return syslog.LOG_LOCAL7, nil
	}
	return 0, fmt.Errorf("unknown facility %q (want LOG_DAEMON, LOG_USER, LOG_LOCAL0..LOG_LOCAL7, ...)", name)
}
