package sandbox

import (
	"fmt"
	"strconv"
	"strings"
)

// version is a dotted numeric version such as 3.3.1142.0.
type version []int

func parseVersion(s string) (version, error) {
	parts := strings.Split(s, ".")
	v := make(version, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("version %q is not dotted numbers", s)
		}
		v[i] = n
	}
	return v, nil
}

// compare returns -1, 0 or 1; missing components count as 0.
func (v version) compare(w version) int {
	for i := range max(len(v), len(w)) {
		a, b := 0, 0
		if i < len(v) {
			a = v[i]
		}
		if i < len(w) {
			b = w[i]
		}
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
	}
	return 0
}

// versionAtLeast reports s >= min; an unparsable s counts as older.
func versionAtLeast(s, min string) bool {
	v, err := parseVersion(s)
	if err != nil {
		return false
	}
	m, _ := parseVersion(min)
	return v.compare(m) >= 0
}

// versionAbove reports s > min; an unparsable s counts as older.
func versionAbove(s, min string) bool {
	v, err := parseVersion(s)
	if err != nil {
		return false
	}
	m, _ := parseVersion(min)
	return v.compare(m) > 0
}

// Agent-side version gates (ssm-protocol.md §13).
const (
	// muxMinClientVersion: the agent uses smux iff the client is at least this.
	muxMinClientVersion = "1.1.70"
	// agentMuxMin: agents at or below this version had no smux (what the
	// plugin checks).
	agentMuxMin = "3.0.196.0"
	// keepalive is disabled only if the agent is above agentKeepAliveOff
	// (what the client checks) and the client above clientKeepAliveOff
	// (what the real agent checks), so both ends agree (§9.5).
	agentKeepAliveOff  = "3.1.1511.0"
	clientKeepAliveOff = "1.2.331.0"
)
