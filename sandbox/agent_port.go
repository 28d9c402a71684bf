package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/xtaci/smux"

	"github.com/ssmtui/ssmtui/session/wire"
)

type portMode int

const (
	portStdio portMode = iota // no type: AWS-StartSSHSession (ProxyCommand)
	portBasic                 // LocalPortForwarding, one connection at a time
	portMux                   // LocalPortForwarding over smux
)

func (m portMode) String() string {
	return [...]string{"stdio", "basic", "mux"}[m]
}

// portMode applies the agent's rules (§9.2, §13): mux iff
// type == LocalPortForwarding and ClientVersion >= 1.1.70. An agent told to
// impersonate a version the plugin considers too old for mux (≤ 3.0.196.0)
// stays basic, like such agents did, so both ends agree.
func (a *agent) portMode() portMode {
	if a.s.document != docPortForward && a.s.document != docPortForwardHost {
		return portStdio
	}
	if versionAtLeast(a.clientVersion, muxMinClientVersion) && versionAbove(a.g.opts.AgentVersion, agentMuxMin) {
		return portMux
	}
	return portBasic
}

// errTargetUnavailable marks a failure to reach the forwarding target.
var errTargetUnavailable = errors.New("target unavailable")

// targetAddr resolves where the port plugin connects: port 22 on the
// instance itself is the instance's in-process SSH host; any other port is
// 127.0.0.1:<port>. Remote-host documents may only name loopback hosts (or
// the instance's own private IP): the sandbox never dials the network.
func (a *agent) targetAddr(ctx context.Context) (string, error) {
	port := a.s.params["portNumber"]
	host := a.s.params["host"]
	if host != "" && !a.isSelf(host) {
		return "", fmt.Errorf("dial %s: the sandbox agent only forwards to loopback hosts: %w", net.JoinHostPort(host, port), errTargetUnavailable)
	}
	if port == "22" {
		return a.g.sshAddr(ctx, a.s.target)
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

func (a *agent) isSelf(host string) bool {
	switch strings.ToLower(host) {
	case "localhost", "localhost.localdomain":
		return true
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback() || (a.s.inst.PrivateIP != "" && host == a.s.inst.PrivateIP)
	}
	return false
}

// sshAddr returns the loopback address of the instance's SSH server.
func (g *gateway) sshAddr(ctx context.Context, instanceID string) (string, error) {
	addr, err := g.sb.host.Addr(ctx, instanceID)
	if err != nil {
		return "", fmt.Errorf("reach SSH on %s: %w: %w", instanceID, errTargetUnavailable, err)
	}
	return addr, nil
}

func (a *agent) dialTarget(ctx context.Context) (net.Conn, error) {
	addr, err := a.targetAddr(ctx)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w: %w", addr, errTargetUnavailable, err)
	}
	return c, nil
}

// runPort is the port plugin after the handshake.
func (a *agent) runPort(ctx context.Context) error {
	mode := a.portMode()
	a.log.Debug("port session", "mode", mode, "client_version", a.clientVersion)
	switch mode {
	case portMux:
		return a.runMux(ctx)
	case portBasic:
		return a.runBasic(ctx)
	default:
		return a.runStdio(ctx)
	}
}

// pumpToClient copies a target connection to the client as Output messages
// until the target ends; it returns the read error (io.EOF on a clean end).
func (a *agent) pumpToClient(ctx context.Context, c net.Conn) error {
	buf := make([]byte, a.readSize())
	pace := a.newPacer()
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if serr := a.sendChunks(ctx, wire.PayloadOutput, buf[:n]); serr != nil {
				return serr
			}
			pace.wait(ctx)
		}
		if err != nil {
			return err
		}
	}
}

// targetWriter writes the client's payloads to a target connection with
// one write per burst: it buffers while the stream has more messages ready
// and flushes when it has none.
type targetWriter struct {
	bw *bufio.Writer
	st agentStream
}

func newTargetWriter(c net.Conn, st agentStream) *targetWriter {
	return &targetWriter{bw: bufio.NewWriterSize(c, 32<<10), st: st}
}

func (w *targetWriter) write(p []byte) error {
	if _, err := w.bw.Write(p); err != nil {
		return err
	}
	if w.st.Ready() == 0 {
		return w.bw.Flush()
	}
	return nil
}

// flush writes what is buffered.
func (w *targetWriter) flush() error { return w.bw.Flush() }

// runStdio serves AWS-StartSSHSession-like sessions: one target
// connection; its end ends the session (the real agent's sshd handling).
func (a *agent) runStdio(ctx context.Context) error {
	c, err := a.dialTarget(ctx)
	if err != nil {
		return failf("Unable to start the port session: %v", err)
	}
	defer c.Close()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		defer cancel()
		_ = a.pumpToClient(pctx, c)
	}()
	defer func() { <-pumpDone }()
	defer c.Close()
	tw := newTargetWriter(c, a.st)
	for {
		pt, p, err := a.st.Recv(pctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if pctx.Err() != nil {
				return nil // target ended: session over
			}
			return err
		}
		switch pt {
		case wire.PayloadOutput:
			if err := tw.write(p); err != nil {
				return nil // target gone
			}
		case wire.PayloadFlag:
			_ = tw.flush() // output before the flag reaches the target first
			if f, _ := wire.ParseFlag(p); f == wire.FlagTerminateSession {
				return nil
			}
		}
	}
}

// runBasic serves LocalPortForwarding to an old client: one target
// connection at a time, dialed on the first data after a DisconnectToPort.
func (a *agent) runBasic(ctx context.Context) error {
	var (
		mu   sync.Mutex
		conn net.Conn
		tw   *targetWriter // writes to conn; used by this goroutine only
		wg   sync.WaitGroup
	)
	closeConn := func(c net.Conn) {
		mu.Lock()
		if conn == c {
			conn = nil
		}
		mu.Unlock()
		_ = c.Close()
	}
	defer func() {
		mu.Lock()
		c := conn
		mu.Unlock()
		if c != nil {
			closeConn(c)
		}
		wg.Wait()
	}()
	for {
		pt, p, err := a.st.Recv(ctx)
		if err != nil {
			return err
		}
		switch pt {
		case wire.PayloadOutput:
			mu.Lock()
			c := conn
			mu.Unlock()
			if c == nil {
				c, err = a.dialTarget(ctx)
				if err != nil {
					return failf("Unable to start the port session: %v", err)
				}
				mu.Lock()
				conn = c
				mu.Unlock()
				tw = newTargetWriter(c, a.st)
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = a.pumpToClient(ctx, c)
					closeConn(c) // redial on the next data
				}()
			}
			if err := tw.write(p); err != nil {
				closeConn(c)
			}
		case wire.PayloadFlag:
			if tw != nil {
				_ = tw.flush() // output before the flag reaches the target first
			}
			f, _ := wire.ParseFlag(p)
			switch f {
			case wire.FlagTerminateSession:
				return nil
			case wire.FlagDisconnectToPort:
				mu.Lock()
				c := conn
				mu.Unlock()
				if c != nil {
					closeConn(c)
				}
			}
		}
	}
}

// runMux serves LocalPortForwarding over smux: the agent is the smux server
// on a byte pipe made of the client's Output payloads (in) and ≤ 1024-byte
// Output messages (out).
func (a *agent) runMux(ctx context.Context) error {
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pipe := newMuxPipe(pctx, a)
	cfg := smux.DefaultConfig()
	cfg.Version = 1
	cfg.KeepAliveDisabled = versionAbove(a.g.opts.AgentVersion, agentKeepAliveOff) && versionAbove(a.clientVersion, clientKeepAliveOff)
	sess, err := smux.Server(pipe, cfg)
	if err != nil {
		return fmt.Errorf("start smux server: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer sess.Close()
	defer pipe.Close()
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			stream, err := sess.AcceptStream()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.serveMuxStream(pctx, stream)
			}()
		}
	}()
	for {
		pt, p, err := a.st.Recv(pctx)
		if err != nil {
			return err
		}
		switch pt {
		case wire.PayloadOutput:
			if err := pipe.feed(p); err != nil {
				return err
			}
		case wire.PayloadFlag:
			if f, _ := wire.ParseFlag(p); f == wire.FlagTerminateSession {
				return nil
			}
		}
	}
}

// serveMuxStream dials the target for one smux stream and relays both ways.
// A failed dial answers Flag ConnectToPortError and closes the stream.
func (a *agent) serveMuxStream(ctx context.Context, stream *smux.Stream) {
	defer stream.Close()
	c, err := a.dialTarget(ctx)
	if err != nil {
		a.log.Info("mux stream: target unreachable", "err", err)
		_ = a.st.Send(ctx, wire.PayloadFlag, wire.AppendFlag(nil, wire.FlagConnectToPortError))
		return
	}
	defer c.Close()
	done := make(chan struct{})
	go func() {
		// client → target; on the client's FIN half-close the target.
		defer close(done)
		_, _ = io.Copy(c, stream)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}()
	buf := make([]byte, a.readSize())
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := stream.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = stream.Close()
	_ = c.Close()
	<-done
}

// muxPipe is the smux server's transport.
type muxPipe struct {
	ctx    context.Context
	a      *agent
	in     chan []byte
	cur    []byte
	closed chan struct{}
	once   sync.Once
	wmu    sync.Mutex
	pace   *pacer // guarded by wmu
}

func newMuxPipe(ctx context.Context, a *agent) *muxPipe {
	return &muxPipe{ctx: ctx, a: a, in: make(chan []byte, 256), closed: make(chan struct{}), pace: a.newPacer()}
}

// feed queues a copy of one client payload; it blocks while the smux
// session has not consumed 256 earlier payloads (bounded memory).
func (m *muxPipe) feed(p []byte) error {
	b := append([]byte(nil), p...)
	select {
	case m.in <- b:
		return nil
	case <-m.closed:
		return io.ErrClosedPipe
	case <-m.ctx.Done():
		return m.ctx.Err()
	}
}

func (m *muxPipe) Read(p []byte) (int, error) {
	for len(m.cur) == 0 {
		select {
		case b := <-m.in:
			m.cur = b
		case <-m.closed:
			return 0, io.EOF
		case <-m.ctx.Done():
			return 0, io.EOF
		}
	}
	n := copy(p, m.cur)
	m.cur = m.cur[n:]
	return n, nil
}

// Write sends smux output in ≤ 1024-byte Output messages (paced like the
// real agent if configured).
func (m *muxPipe) Write(p []byte) (int, error) {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	total := len(p)
	for len(p) > 0 {
		n := min(len(p), maxChunk)
		if err := m.a.st.Send(m.ctx, wire.PayloadOutput, p[:n]); err != nil {
			return total - len(p), err
		}
		p = p[n:]
		m.pace.wait(m.ctx)
	}
	return total, nil
}

func (m *muxPipe) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}
