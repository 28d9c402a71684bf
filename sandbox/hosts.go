package sandbox

// Owned by the SSH hosts work: one in-process SSH server per instance.

// HostOptions configures the in-process SSH hosts.
type HostOptions struct{}

type hostPool struct{}

func newHostPool(s *Sandbox) *hostPool { return &hostPool{} }

func (p *hostPool) Close() error { return nil }
