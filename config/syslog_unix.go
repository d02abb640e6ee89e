//go:build !windows && !plan9

package config

import (
	"fmt"
	"log/syslog"
	"strings"
)

// Priority is the facility as a log/syslog priority (a facility, with
// severity 0): pass it to syslog.New or syslog.Dial, whose writer's Info,
// Err, etc. add the severity. It accepts the names the file does ("LOG_DAEMON",
// "daemon").
func (s Syslog) Priority() (syslog.Priority, error) {
	code, ok := facilityCode(strings.TrimPrefix(strings.ToLower(s.Facility), "log_"))
	if !ok {
		return 0, fmt.Errorf("config: unknown syslog facility %q", s.Facility)
	}
	return syslog.Priority(code << 3), nil
}
