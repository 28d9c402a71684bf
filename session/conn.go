package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/session/wire"
)

// Addr is the address of one end of an SSM session. Network is "ssm";
// String is "target:port" (for example "i-0123456789abcdef0:22"), or the
// bare name when Port is empty.
type Addr struct {
	Target string
	Port   string
}

// Network returns "ssm".
func (a Addr) Network() string { return "ssm" }

// String returns "target:port", or the bare target when Port is empty.
func (a Addr) String() string {
	if a.Port == "" {
		return a.Target
	}
	return net.JoinHostPort(a.Target, a.Port)
}

// deadline is a settable, revivable deadline in the style of net/pipe.go: a
// timer closes the channel that blocked operations select on.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

func newDeadline() *deadline { return &deadline{ch: make(chan struct{})} }

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.ch // the timer fired: wait until its callback closed ch
	}
	d.timer = nil
	expired := isClosed(d.ch)
	if t.IsZero() {
		if expired {
			d.ch = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if expired {
			d.ch = make(chan struct{})
		}
		ch := d.ch
		d.timer = time.AfterFunc(dur, func() { close(ch) })
		return
	}
	if !expired {
		close(d.ch)
	}
}

func (d *deadline) wait() chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

// Conn is a byte stream over a Session Manager data channel: a complete
// net.Conn (style.md §4). Reads return Output payload bytes in sequence
// order through a leftover buffer; writes are split into MaxPayload-sized
// Output messages (copied, never retained). Deadlines follow net.Pipe
// semantics; timeouts wrap os.ErrDeadlineExceeded, local Close
// net.ErrClosed, a clean end of the session io.EOF; all inside *net.OpError.
// Safe for one reader, one writer and deadline setters at once.
type Conn struct {
	stream        *Stream
	local, remote Addr
	ch            *channel // nil for conns that do not own the channel

	rmu      sync.Mutex
	leftover []byte
	wmu      sync.Mutex
	rd, wd   *deadline

	closed    chan struct{}
	closeOnce sync.Once
	closeErr  error
	closeFn   func() error
	onFlag    func(wire.Flag)
	shell     *ShellSession // shell mode: StdErr is data, ExitCode recorded
}

var _ net.Conn = (*Conn)(nil)

func newConn(s *Stream, local, remote Addr, closeFn func() error) *Conn {
	return &Conn{stream: s, local: local, remote: remote, rd: newDeadline(), wd: newDeadline(), closed: make(chan struct{}), closeFn: closeFn}
}

// Dial starts a port session to target (StartSession with
// opts.DocumentName, default AWS-StartSSHSession with portNumber 22), opens
// its data channel and completes the handshake. ctx bounds only this setup.
// The result carries the bytes of the remote port (stdio mode, §9.3); Close
// ends the session. Errors: *StartError (errors.Is ErrTargetNotConnected,
// ErrAccessDenied, ErrInvalidDocument, ErrThrottled) or *HandshakeError.
func Dial(ctx context.Context, cfg aws.Config, target string, opts DialOptions) (*Conn, error) {
	opts.setDefaults(cfg)
	if opts.DocumentName == "" {
		opts.DocumentName = DocumentSSH
		if opts.Parameters == nil {
			opts.Parameters = map[string][]string{"portNumber": {"22"}}
		}
	}
	sess, err := startSession(ctx, opts.API, target, &opts)
	if err != nil {
		return nil, err
	}
	return DialSession(ctx, cfg, target, sess, opts)
}

// openPortChannel opens the data channel of a started session and checks
// that its document made a port session. On failure the session is
// terminated (or the channel closed) so nothing is left open.
func openPortChannel(ctx context.Context, target string, sess StartedSession, opts DialOptions) (*channel, error) {
	ch, err := openChannel(ctx, target, sess, opts)
	if err != nil {
		terminateQuietly(opts, sess.SessionID)
		return nil, err
	}
	if ch.sessionType != wire.SessionTypePort {
		ch.close(0)
		return nil, &HandshakeError{SessionID: sess.SessionID, Err: fmt.Errorf("document %s started a %s session, not a port session", opts.DocumentName, ch.sessionType)}
	}
	return ch, nil
}

// DialSession is Dial for a session that was already started (a proxy
// handed SessionId/StreamUrl/TokenValue). If the data channel cannot be
// opened the session is terminated.
func DialSession(ctx context.Context, cfg aws.Config, target string, sess StartedSession, opts DialOptions) (*Conn, error) {
	opts.setDefaults(cfg)
	ch, err := openPortChannel(ctx, target, sess, opts)
	if err != nil {
		return nil, err
	}
	props := ch.portProperties()
	if props.Type == wire.PortTypeLocalPortForwarding {
		ch.close(wire.FlagTerminateSession)
		return nil, &HandshakeError{SessionID: sess.SessionID, Err: errors.New("a LocalPortForwarding session is multiplexed or basic; use OpenPortForward")}
	}
	port := props.PortNumber
	if port == "" && len(opts.Parameters["portNumber"]) > 0 {
		port = opts.Parameters["portNumber"][0]
	}
	c := newConn(ch.stream, Addr{Target: sess.SessionID}, Addr{Target: target, Port: port}, func() error {
		return ch.close(wire.FlagTerminateSession)
	})
	c.ch = ch
	return c, nil
}

func terminateQuietly(o DialOptions, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), terminateAPITimeout)
	defer cancel()
	if _, err := o.API.TerminateSession(ctx, terminateInput(id)); err != nil {
		o.Logger.Debug("terminate session after failed open", "session", id, "err", err)
	}
}

func (ch *channel) portProperties() wire.PortProperties {
	var p wire.PortProperties
	if len(ch.properties) > 0 {
		_ = json.Unmarshal(ch.properties, &p)
	}
	return p
}

// SessionID returns the SSM session ID.
func (c *Conn) SessionID() string { return c.local.Target }

// AgentVersion returns the agent version from the handshake ("" if none).
func (c *Conn) AgentVersion() string {
	if c.ch == nil {
		return ""
	}
	return c.ch.agentVersion
}

// CustomerMessage returns the HandshakeComplete CustomerMessage ("" if none).
func (c *Conn) CustomerMessage() string {
	if c.ch == nil {
		return ""
	}
	return c.ch.customerMessage
}

// Stats returns the reliability state of the underlying stream.
func (c *Conn) Stats() StreamStats { return c.stream.Stats() }

// LocalAddr returns the session ID as an "ssm" address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns "target:port" as an "ssm" address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: "ssm", Source: c.local, Addr: c.remote, Err: err}
}

// Read implements net.Conn. It returns buffered stream bytes in order and
// io.EOF only after the service closed the channel and the buffer is drained.
func (c *Conn) Read(p []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := c.read(p)
	if err != nil && err != io.EOF {
		err = c.opErr("read", err)
	}
	return n, err
}

func (c *Conn) read(p []byte) (int, error) {
	switch {
	case isClosed(c.closed):
		return 0, net.ErrClosed
	case isClosed(c.rd.wait()):
		return 0, os.ErrDeadlineExceeded
	case len(p) == 0:
		return 0, nil
	}
	for len(c.leftover) == 0 {
		pt, b, err := c.stream.recv(c.rd.wait(), c.closed)
		if err == errCanceled {
			if isClosed(c.closed) {
				return 0, net.ErrClosed
			}
			return 0, os.ErrDeadlineExceeded
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, err
		}
		switch pt {
		case wire.PayloadOutput:
			c.leftover = b
		case wire.PayloadFlag:
			if f, err := wire.ParseFlag(b); err == nil && c.onFlag != nil {
				c.onFlag(f)
			}
		case wire.PayloadStdErr:
			if c.shell != nil {
				c.leftover = b
			}
		case wire.PayloadExitCode:
			if c.shell != nil {
				c.shell.setExit(b)
			}
		}
	}
	n := copy(p, c.leftover)
	c.leftover = c.leftover[n:]
	return n, nil
}

// Write implements net.Conn: p is sent as Output messages of at most
// MaxPayload bytes (never rewritten). It blocks while the send window is
// full, publication is paused or the channel is being resumed, until the
// write deadline or Close. On error it reports the bytes already queued.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case isClosed(c.closed):
		return 0, c.opErr("write", net.ErrClosed)
	case isClosed(c.wd.wait()):
		return 0, c.opErr("write", os.ErrDeadlineExceeded)
	case len(p) == 0:
		return 0, nil
	}
	n, err := c.stream.write(wire.PayloadOutput, p, c.wd.wait(), c.closed)
	if err == errCanceled {
		if isClosed(c.closed) {
			err = net.ErrClosed
		} else {
			err = os.ErrDeadlineExceeded
		}
	}
	if err != nil {
		return n, c.opErr("write", err)
	}
	return n, nil
}

// Close ends the session: it sends the TerminateSession flag, waits briefly
// for its acknowledgement, closes the WebSocket and calls the
// TerminateSession API (all bounded by DialOptions.CloseTimeout). Pending
// Read and Write return net.ErrClosed. Idempotent; safe from any goroutine.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		if c.closeFn != nil {
			c.closeErr = c.closeFn()
		}
	})
	return c.closeErr
}

// SetDeadline sets the read and write deadlines (net.Conn).
func (c *Conn) SetDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

// SetReadDeadline sets the read deadline (net.Conn).
func (c *Conn) SetReadDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", net.ErrClosed)
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline (net.Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if isClosed(c.closed) {
		return c.opErr("set", net.ErrClosed)
	}
	c.wd.set(t)
	return nil
}
