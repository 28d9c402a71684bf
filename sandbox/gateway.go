package sandbox

// Owned by the gateway/agent work (issue #2). Stub so the package builds.

// GatewayOptions configures the Session Manager gateway, its fault
// injector, the built-in agent's pacing and the TLS listener.
type GatewayOptions struct{}

type gateway struct{}

func newGateway(s *Sandbox) (*gateway, error) { return &gateway{}, nil }

func (g *gateway) Close() error { return nil }

// env returns extra NAME=VALUE pairs for Sandbox.Env (e.g. the CA file).
func (g *gateway) env() []string { return nil }
