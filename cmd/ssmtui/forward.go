package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/session"
)

func init() {
	register(command{
		name:    "forward",
		summary: "forward a local port to a port on an instance, or on a host it reaches (like ssh -L)",
		run:     runForward,
	})
}

// forwardSpec is the [BIND:]LOCALPORT:[HOST:]REMOTEPORT argument.
type forwardSpec struct {
	bind       string // local address to listen on
	localPort  int    // 0: any free port
	host       string // "": the instance itself (AWS-StartPortForwardingSession)
	remotePort int
}

func (s forwardSpec) dest() string {
	if s.host == "" {
		return "port " + strconv.Itoa(s.remotePort)
	}
	return net.JoinHostPort(s.host, strconv.Itoa(s.remotePort))
}

// parseForwardSpec reads PORT (same port locally), LOCALPORT:REMOTEPORT,
// LOCALPORT:HOST:REMOTEPORT or BIND:LOCALPORT:HOST:REMOTEPORT; IPv6
// addresses go in brackets. bind is the default listen address.
func parseForwardSpec(s, bind string) (forwardSpec, error) {
	var parts []string
	for rest := s; ; {
		var p string
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return forwardSpec{}, fmt.Errorf("forward spec %q: unclosed [", s)
			}
			p, rest = rest[1:end], rest[end+1:]
			if rest != "" && !strings.HasPrefix(rest, ":") {
				return forwardSpec{}, fmt.Errorf("forward spec %q: want ':' after ]", s)
			}
			rest = strings.TrimPrefix(rest, ":")
			parts = append(parts, p)
			if rest == "" {
				break
			}
			continue
		}
		var found bool
		p, rest, found = strings.Cut(rest, ":")
		parts = append(parts, p)
		if !found {
			break
		}
	}
	port := func(v string, zeroOK bool) (int, error) {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
			return 0, fmt.Errorf("forward spec %q: invalid port %q", s, v)
		}
		return n, nil
	}
	sp := forwardSpec{bind: bind}
	var err error
	switch len(parts) {
	case 1:
		if sp.remotePort, err = port(parts[0], false); err != nil {
			return sp, err
		}
		sp.localPort = sp.remotePort
	case 2:
		if sp.localPort, err = port(parts[0], true); err != nil {
			return sp, err
		}
		sp.remotePort, err = port(parts[1], false)
	case 3, 4:
		if len(parts) == 4 {
			sp.bind, parts = parts[0], parts[1:]
		}
		if sp.localPort, err = port(parts[0], true); err != nil {
			return sp, err
		}
		sp.host = parts[1]
		if sp.host == "" || sp.bind == "" {
			return sp, fmt.Errorf("forward spec %q: empty host", s)
		}
		sp.remotePort, err = port(parts[2], false)
	default:
		return sp, fmt.Errorf("forward spec %q: want [BIND:]LOCALPORT:[HOST:]REMOTEPORT", s)
	}
	return sp, err
}

// runForward is `ssmtui forward TARGET SPEC`: it listens locally and
// carries every accepted connection over one port-forwarding session
// (multiplexed when the agent supports it, else one connection at a time),
// opens a new session when the service ended the last one (idle timeout,
// agent restart), and on SIGINT/SIGTERM/SIGHUP closes the listener and the
// connections and ends the session.
func runForward(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui forward",
		"usage: ssmtui forward [flags] TARGET [BIND:]LOCALPORT:[HOST:]REMOTEPORT",
		"\nForwards a local port through Session Manager, like ssh -L:",
		"  ssmtui forward web 8080:80                     localhost:8080 → port 80 on web",
		"  ssmtui forward bastion 5432:db.internal:5432   localhost:5432 → db.internal:5432 as bastion reaches it",
		"  ssmtui forward web 0:80                        any free local port (printed)",
		"LOCALPORT 0 picks a free port. Ctrl-C stops it and ends the session.",
	)
	var tf targetFlags
	tf.register(fs)
	debug := fs.Bool("debug", false, "log every step to stderr")
	bind := fs.String("bind", "127.0.0.1", "local `address` to listen on (BIND in the spec overrides it)")
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 2 || len(rest) > 0 {
		fs.Usage()
		return usageError("forward takes TARGET and [BIND:]LOCALPORT:[HOST:]REMOTEPORT")
	}
	spec, err := parseForwardSpec(pos[1], *bind)
	if err != nil {
		return usageError("%v", err)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log, closeLog := commandLogger(env, *debug)
	defer closeLog()
	tc, err := newTargetCommand(env, tf, log, terminalMFA(env))
	if err != nil {
		return err
	}

	doc := session.DocumentPortForwarding
	if spec.host != "" {
		doc = session.DocumentPortForwardingToRemote
	}
	var inst inventory.Instance
	var cfg aws.Config
	open := func(ctx context.Context) (*session.PortSession, error) {
		ps, err := session.OpenPortForward(ctx, cfg, inst.ID, session.PortForwardOptions{
			DialOptions: session.DialOptions{Logger: log},
			PortNumber:  spec.remotePort, Host: spec.host,
		})
		if err != nil {
			return nil, explainSessionError(err, inst, doc)
		}
		return ps, nil
	}
	// The first session is opened before listening, so a target that
	// cannot be reached fails at once instead of at the first connection.
	ps, err := retryStale(ctx, tc, pos[0], func(i inventory.Instance, c aws.Config) (*session.PortSession, error) {
		inst, cfg = i, c
		return open(ctx)
	})
	if err != nil {
		return transportError(err)
	}
	addr := net.JoinHostPort(spec.bind, strconv.Itoa(spec.localPort))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = ps.Close()
		return fmt.Errorf("listen on %s: %w (pick another LOCALPORT, or 0 for any free one)", addr, err)
	}
	f := &forwarder{open: open, ps: ps, log: log, out: &lockedWriter{w: env.stderr}}
	label := inst.ID
	if inst.Name != "" {
		label = fmt.Sprintf("%s (%s)", inst.Name, inst.ID)
	}
	f.say("forwarding %s → %s %s through session %s (%s mode); Ctrl-C to stop", ln.Addr(), label, spec.dest(), ps.SessionID(), ps.Mode())
	if ps.Mode() == session.PortModeBasic {
		f.say("agent %s predates multiplexing: one connection at a time", ps.AgentVersion())
	}
	if ip := net.ParseIP(spec.bind); ip == nil || !ip.IsLoopback() {
		f.say("listening on %s: anyone who can reach this machine can reach %s", spec.bind, spec.dest())
	}
	return f.serve(ctx, ln)
}

// forwarder carries accepted connections over a port session, replacing
// the session when it ends.
type forwarder struct {
	open func(context.Context) (*session.PortSession, error)
	log  *slog.Logger
	out  io.Writer

	mu sync.Mutex
	ps *session.PortSession // nil after an end, until the next connection
}

func (f *forwarder) say(format string, args ...any) {
	fmt.Fprintf(f.out, "ssmtui forward: "+format+"\n", args...)
}

// session returns the live port session, opening a new one if the last
// ended.
func (f *forwarder) session(ctx context.Context) (*session.PortSession, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ps != nil {
		select {
		case <-f.ps.Done():
			f.say("session %s ended (%v); opening a new one", f.ps.SessionID(), f.ps.Err())
			_ = f.ps.Close()
			f.ps = nil
		default:
			return f.ps, nil
		}
	}
	ps, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	f.ps = ps
	f.log.Debug("port session open", "session", ps.SessionID(), "mode", ps.Mode())
	return ps, nil
}

// serve accepts until ctx is done, then closes the listener and every
// connection, waits for them and ends the session.
func (f *forwarder) serve(ctx context.Context, ln net.Listener) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	stop := context.AfterFunc(ctx, func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var err error
	for {
		c, aerr := ln.Accept()
		if aerr != nil {
			if ctx.Err() == nil {
				err = fmt.Errorf("accept on %s: %w", ln.Addr(), aerr)
			}
			break
		}
		mu.Lock()
		if ctx.Err() != nil {
			mu.Unlock()
			_ = c.Close()
			break
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Go(func() {
			f.handle(ctx, c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		})
	}
	_ = ln.Close()
	wg.Wait()
	f.mu.Lock()
	if f.ps != nil {
		if cerr := f.ps.Close(); cerr != nil && err == nil && !errors.Is(cerr, net.ErrClosed) {
			err = fmt.Errorf("end session %s: %w", f.ps.SessionID(), cerr)
		}
		f.say("session %s ended", f.ps.SessionID())
	}
	f.mu.Unlock()
	return err
}

// handle carries one local connection over a new stream of the session.
// When either side ends, both are closed (as the plugin does).
func (f *forwarder) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	var st net.Conn
	for attempt := 0; ; attempt++ {
		ps, err := f.session(ctx)
		if err != nil {
			f.say("connection from %s: %v", c.RemoteAddr(), err)
			return
		}
		st, err = ps.DialStream(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-ps.Done(): // ended under us: once more on a new session
			if attempt == 0 {
				continue
			}
		default:
		}
		f.say("connection from %s: %v", c.RemoteAddr(), err)
		return
	}
	defer st.Close()
	f.log.Debug("stream open", "from", c.RemoteAddr())
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(st, c)
		done <- err
	}()
	go func() {
		_, err := io.Copy(c, st)
		var cpe *session.ConnectToPortError
		if errors.As(err, &cpe) {
			f.say("connection from %s: %v", c.RemoteAddr(), err)
		}
		done <- err
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// lockedWriter serializes writes from concurrent connections.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
