// Package assets holds files compiled into ssmtui: the demo fleet served by
// the sandbox for `ssmtui demo`, tests and screenshots. The fleet schema is
// documented in assets/README.md.
package assets

import _ "embed"

// DemoFleet is the JSON of the default demo fleet (assets/fleet.json): two
// accounts, ten regions, Amazon Linux, Ubuntu, Debian, RHEL and Windows
// instances, on-prem mi- nodes, stopped instances, a ConnectionLost agent,
// outdated agents and an AccessDenied region. Parse it with
// sandbox.ParseFleet.
//
//go:embed fleet.json
var DemoFleet []byte
