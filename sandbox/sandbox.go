// Package sandbox is a local AWS for ssmtui: an API server speaking the real
// wire protocols (SSM JSON 1.1, EC2 query, STS, EC2 Instance Connect), the
// Session Manager gateway with a fault injector, a built-in agent, and
// in-process SSH hosts. Tests, `ssmtui demo` and `ssmtui sandbox` use it; the
// real aws-sdk-go-v2 clients reach it through endpoint overrides.
//
// Every listener binds to loopback only.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options configures a Sandbox. The zero value (plus a Fleet) is usable.
type Options struct {
	Fleet  *Fleet       // required; not to be changed while the sandbox runs (answers are cached per instance)
	Addr   string       // listen address for API + gateway (default 127.0.0.1:0); must be loopback
	Logger *slog.Logger // default: discard
	// Now is the sandbox clock (EC2 Instance Connect key expiry, timestamps).
	// Default time.Now.
	Now func() time.Time

	Gateway GatewayOptions // gateway, faults, agent pacing, TLS
	Limits  LimitOptions   // API latency, throttling
	Hosts   HostOptions    // in-process SSH hosts
}

// Sandbox is a running local AWS. Close stops every listener, session,
// agent and host it started.
type Sandbox struct {
	opts  Options
	fleet *Fleet
	log   *slog.Logger
	now   func() time.Time

	ln   net.Listener
	srv  *http.Server
	mux  *http.ServeMux
	api  *apiServer
	url  string
	gw   *gateway
	host *hostPool

	closeOnce sync.Once
	closers   []func() error // run in reverse order by Close

	// closeGrace bounds how long Close lets API calls in flight finish;
	// forcedClose records that it ran out (tests).
	closeGrace  time.Duration
	forcedClose bool
	connMu      sync.Mutex
	newConns    map[net.Conn]struct{} // accepted, no request read yet (http.StateNew)
}

// Start starts a sandbox on loopback. ctx bounds startup only.
func Start(ctx context.Context, opts Options) (*Sandbox, error) {
	if opts.Fleet == nil {
		return nil, errors.New("sandbox: Options.Fleet is required")
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if err := requireLoopback(opts.Addr); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sandbox{opts: opts, fleet: opts.Fleet, log: opts.Logger, now: opts.Now, mux: http.NewServeMux()}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox: listen on %s: %w", opts.Addr, err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.host = newHostPool(s)
	s.closers = append(s.closers, s.host.Close)
	s.api = newAPIServer(s)
	s.mux.Handle("/", s.api)
	gw, err := newGateway(s)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	s.gw = gw
	s.closers = append(s.closers, gw.Close)
	s.closeGrace = 2 * time.Second
	s.newConns = map[net.Conn]struct{}{}
	s.ln = &onceCloseListener{Listener: ln}
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ConnState: s.trackConn}
	s.srv.RegisterOnShutdown(gw.shutdown)
	go func() { _ = s.srv.Serve(s.ln) }()
	s.closers = append(s.closers, s.stopHTTP)
	return s, nil
}

// trackConn keeps the set of connections that have not sent a request yet.
// http.Server.Shutdown waits 5 s for those before it counts them as idle,
// and HTTP clients leave such connections behind whenever a dial they
// started loses the race against a connection that became idle first.
func (s *Sandbox) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if st == http.StateNew {
		s.newConns[c] = struct{}{}
	} else {
		delete(s.newConns, c)
	}
}

// stopHTTP stops the HTTP server without waiting on idle clients: no new
// connections, keep-alives off (which closes idle connections and makes
// answers in flight close theirs), connections that never sent a request
// closed, then Shutdown waits for the calls in flight (a call sleeping in
// an API latency knob is answered when its sleep ends) for at most
// closeGrace; then the rest are closed, which cancels their requests. The gateway's websockets
// end through its shutdown hook.
func (s *Sandbox) stopHTTP() error {
	lnErr := s.ln.Close()
	s.srv.SetKeepAlivesEnabled(false)
	s.connMu.Lock()
	for c := range s.newConns {
		_ = c.Close()
	}
	clear(s.newConns)
	s.connMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), s.closeGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.forcedClose = true
		return s.srv.Close()
	}
	if lnErr != nil && !errors.Is(lnErr, net.ErrClosed) {
		return fmt.Errorf("sandbox: close listener: %w", lnErr)
	}
	return nil
}

// onceCloseListener lets Close close the listener before Shutdown does
// (so no connection is accepted after the StateNew sweep) without Shutdown
// reporting the second close as an error.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// URL is the endpoint for every AWS API (AWS_ENDPOINT_URL), e.g. http://127.0.0.1:41234.
func (s *Sandbox) URL() string { return s.url }

// Fleet returns the fleet the sandbox serves.
func (s *Sandbox) Fleet() *Fleet { return s.fleet }

// Close stops the sandbox and everything it started. It is idempotent.
// Idle keep-alive connections and connections that never sent a request
// are closed at once; only API calls in flight are waited for (at most 2 s).
func (s *Sandbox) Close() error {
	var first error
	s.closeOnce.Do(func() {
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil && first == nil {
				first = err
			}
		}
	})
	return first
}

// Env returns the environment, as NAME=VALUE pairs, that points AWS SDKs and
// the AWS CLI at this sandbox with the credentials of the first account.
func (s *Sandbox) Env() []string {
	var akid, secret, region string
	if len(s.fleet.Accounts) > 0 {
		a := s.fleet.Accounts[0]
		akid, secret = a.AccessKeyID, a.SecretAccessKey
		if len(a.Regions) > 0 {
			region = a.Regions[0]
		}
	}
	if secret == "" {
		secret = "sandbox-secret"
	}
	if region == "" {
		region = "us-east-1"
	}
	env := []string{
		"AWS_ENDPOINT_URL=" + s.url,
		"AWS_ACCESS_KEY_ID=" + akid,
		"AWS_SECRET_ACCESS_KEY=" + secret,
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return append(env, s.gw.env()...)
}

// requireLoopback refuses listen addresses that are not loopback: a sandbox
// host runs a real shell and must never be reachable from the network.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("sandbox: bad listen address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sandbox: listen address %q is not loopback", addr)
	}
	return nil
}
