package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/xtaci/smux"

	"github.com/ssmtui/ssmtui/session/wire"
)

// PortMode is how a port session carries connections (ssm-protocol.md §9.2).
type PortMode int

const (
	// PortModeStdio: one byte stream (AWS-StartSSHSession, no "type").
	PortModeStdio PortMode = iota
	// PortModeBasic: one connection at a time; DisconnectToPort between them.
	PortModeBasic
	// PortModeMux: any number of connections as smux v1 streams.
	PortModeMux
)

// String returns "stdio", "basic" or "mux".
func (m PortMode) String() string {
	switch m {
	case PortModeBasic:
		return "basic"
	case PortModeMux:
		return "mux"
	}
	return "stdio"
}

// Version gates of ssm-protocol.md §13 (client side, strictly greater).
const (
	muxMinAgentVersion          = "3.0.196.0"
	keepaliveOffAgentVersion    = "3.1.1511.0"
	terminateFlagMinAgentVerson = "2.3.722.0"
)

// PortForwardOptions configures OpenPortForward.
type PortForwardOptions struct {
	DialOptions
	// PortNumber is the destination port on the instance (or on Host).
	PortNumber int
	// Host, if set, forwards to this host through the instance
	// (AWS-StartPortForwardingSessionToRemoteHost).
	Host string
}

// PortSession is a port-forwarding session. DialStream opens one connection
// to the destination through it; the caller (the forward command) listens
// locally and copies bytes. Safe for concurrent use.
type PortSession struct {
	ch     *channel
	mode   PortMode
	remote Addr
	mux    *smux.Session
	muxRW  *Conn
	basic  chan struct{} // basic mode: holds a token while a stream is open
	stdio  *Conn
	used   atomic.Bool // stdio conn handed out
	// portErrors counts ConnectToPortError flags not yet matched to a stream.
	portErrors atomic.Int64
	closeOnce  sync.Once
	closeErr   error
}

// OpenPortForward starts a port-forwarding session to target
// (AWS-StartPortForwardingSession, or …ToRemoteHost when Host is set, unless
// DocumentName says otherwise), opens its data channel and picks the mode
// from the handshake exactly like the plugin: mux iff type is
// LocalPortForwarding and AgentVersion > 3.0.196.0, smux keepalive off iff
// AgentVersion > 3.1.1511.0.
func OpenPortForward(ctx context.Context, cfg aws.Config, target string, opts PortForwardOptions) (*PortSession, error) {
	d := opts.DialOptions
	d.setDefaults(cfg)
	if d.DocumentName == "" {
		d.DocumentName = DocumentPortForwarding
		if opts.Host != "" {
			d.DocumentName = DocumentPortForwardingToRemote
		}
	}
	if d.Parameters == nil {
		d.Parameters = map[string][]string{"portNumber": {strconv.Itoa(opts.PortNumber)}, "localPortNumber": {"0"}}
		if opts.Host != "" {
			d.Parameters["host"] = []string{opts.Host}
		}
	}
	sess, err := startSession(ctx, d.API, target, &d)
	if err != nil {
		return nil, err
	}
	return OpenPortForwardSession(ctx, cfg, target, sess, d)
}

// OpenPortForwardSession is OpenPortForward for an already started session.
func OpenPortForwardSession(ctx context.Context, cfg aws.Config, target string, sess StartedSession, opts DialOptions) (*PortSession, error) {
	opts.setDefaults(cfg)
	ch, err := openPortChannel(ctx, target, sess, opts)
	if err != nil {
		return nil, err
	}
	props := ch.portProperties()
	host := props.Host
	if host == "" {
		host = target
	}
	p := &PortSession{ch: ch, remote: Addr{Target: host, Port: props.PortNumber}}
	local := Addr{Target: sess.SessionID}
	switch {
	case props.Type != wire.PortTypeLocalPortForwarding:
		p.mode = PortModeStdio
		p.stdio = newConn(ch.stream, local, p.remote, p.Close)
		p.stdio.ch = ch
	case versionGreater(ch.agentVersion, muxMinAgentVersion):
		p.mode = PortModeMux
		p.muxRW = newConn(ch.stream, local, p.remote, nil)
		p.muxRW.onFlag = p.onFlag
		sc := smux.DefaultConfig()
		sc.Version = 1
		sc.KeepAliveDisabled = versionGreater(ch.agentVersion, keepaliveOffAgentVersion)
		p.mux, err = smux.Client(p.muxRW, sc)
		if err != nil {
			ch.close(wire.FlagTerminateSession)
			return nil, &HandshakeError{SessionID: sess.SessionID, Err: fmt.Errorf("start smux client: %w", err)}
		}
	default:
		p.mode = PortModeBasic
		p.basic = make(chan struct{}, 1)
	}
	ch.log.Debug("port session ready", "mode", p.mode, "agentVersion", ch.agentVersion)
	return p, nil
}

func (p *PortSession) onFlag(f wire.Flag) {
	if f == wire.FlagConnectToPortError {
		p.portErrors.Add(1)
	}
}

// takePortError consumes one pending ConnectToPortError.
func (p *PortSession) takePortError() bool {
	for {
		n := p.portErrors.Load()
		if n <= 0 {
			return false
		}
		if p.portErrors.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Mode returns the forwarding mode chosen from the handshake.
func (p *PortSession) Mode() PortMode { return p.mode }

// SessionID returns the SSM session ID.
func (p *PortSession) SessionID() string { return p.ch.sessionID }

// AgentVersion returns the AgentVersion from the handshake.
func (p *PortSession) AgentVersion() string { return p.ch.agentVersion }

// Done is closed when the session has ended; Err says why.
func (p *PortSession) Done() <-chan struct{} { return p.ch.stream.Done() }

// Err returns why the session ended (nil while alive).
func (p *PortSession) Err() error { return p.ch.stream.Err() }

// DialStream opens one connection to the destination. Mux: a new smux
// stream per call; if the agent cannot reach the destination the stream's
// Read returns *ConnectToPortError. Basic: one connection at a time — the
// call waits (ctx) until the previous one is closed; closing it sends
// DisconnectToPort, and output of the old target connection still buffered
// when the next one opens is discarded. Stdio: the single stream, once.
func (p *PortSession) DialStream(ctx context.Context) (net.Conn, error) {
	if err := p.ch.stream.Err(); err != nil {
		return nil, fmt.Errorf("open stream on session %s: %w", p.ch.sessionID, err)
	}
	switch p.mode {
	case PortModeMux:
		s, err := p.mux.OpenStream()
		if err != nil {
			if e := p.ch.stream.Err(); e != nil {
				err = e
			}
			return nil, fmt.Errorf("open stream on session %s: %w", p.ch.sessionID, err)
		}
		return &muxConn{Stream: s, p: p}, nil
	case PortModeBasic:
		select {
		case p.basic <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the basic-mode connection of session %s: %w", p.ch.sessionID, ctx.Err())
		case <-p.ch.stream.Done():
			return nil, fmt.Errorf("open stream on session %s: %w", p.ch.sessionID, p.ch.stream.Err())
		}
		// Output that arrived while no connection was open belongs to the
		// previous target connection: drop it, never hand it to this one.
		closedCh := make(chan struct{})
		close(closedCh)
		for {
			if _, _, err := p.ch.stream.recv(closedCh, nil); err != nil {
				break
			}
		}
		c := newConn(p.ch.stream, Addr{Target: p.ch.sessionID}, p.remote, func() error {
			defer func() { <-p.basic }()
			if p.ch.stream.Err() != nil {
				return nil
			}
			fctx, cancel := context.WithTimeout(context.Background(), p.ch.opts.CloseTimeout)
			defer cancel()
			if err := p.ch.stream.Send(fctx, wire.PayloadFlag, wire.AppendFlag(nil, wire.FlagDisconnectToPort)); err != nil {
				return fmt.Errorf("send DisconnectToPort: %w", err)
			}
			return nil
		})
		return c, nil
	default:
		if !p.used.CompareAndSwap(false, true) {
			return nil, errors.New("a stdio port session carries a single stream")
		}
		return p.stdio, nil
	}
}

// Close ends the session: smux streams are closed, the TerminateSession
// flag is sent (or, for agents ≤ 2.3.722.0 in basic mode, only the API is
// used) and the TerminateSession API is called. Idempotent.
func (p *PortSession) Close() error {
	p.closeOnce.Do(func() {
		if p.mux != nil {
			p.mux.Close()
		}
		flag := wire.FlagTerminateSession
		if p.mode == PortModeBasic && !versionGreater(p.ch.agentVersion, terminateFlagMinAgentVerson) {
			flag = 0
		}
		p.closeErr = p.ch.close(flag)
		if p.muxRW != nil {
			p.muxRW.Close()
		}
	})
	return p.closeErr
}

// muxConn is one smux stream; it turns the agent's ConnectToPortError into
// a typed error on a stream that ended before receiving any data.
type muxConn struct {
	*smux.Stream
	p       *PortSession
	gotData atomic.Bool
}

// Read reads from the smux stream; see muxConn for ConnectToPortError.
func (m *muxConn) Read(b []byte) (int, error) {
	n, err := m.Stream.Read(b)
	if n > 0 {
		m.gotData.Store(true)
	}
	if err == io.EOF && !m.gotData.Load() && m.p.takePortError() {
		return n, m.portError()
	}
	return n, err
}

// WriteTo is smux's WriteTo (io.Copy prefers it to Read), reporting
// ConnectToPortError the way Read does; without it io.Copy would see a
// refused destination as a clean, empty stream.
func (m *muxConn) WriteTo(w io.Writer) (int64, error) {
	n, err := m.Stream.WriteTo(w)
	if n > 0 {
		m.gotData.Store(true)
	}
	if err == nil && !m.gotData.Load() && m.p.takePortError() {
		return n, m.portError()
	}
	return n, err
}

func (m *muxConn) portError() error {
	return &net.OpError{Op: "read", Net: "ssm", Addr: m.p.remote, Err: &ConnectToPortError{Target: m.p.ch.target, Port: m.p.remote.Port}}
}

// SetDeadline etc. are provided by *smux.Stream.
var _ net.Conn = (*muxConn)(nil)
