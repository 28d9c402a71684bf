package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

// The built-in agent plays amazon-ssm-agent for one session: it opens the
// session's data channel at the gateway with its own open frame (token and
// ClientInstanceId), reports agent_session_state, performs the handshake
// (ssm-protocol.md §7) and runs the session plugin: port (stdio, basic or
// smux, chosen by the version rules of §13) or shell (a PTY). It uses the
// shared reliable stream of package session in the agent role.

// agentStream is what the agent needs of the reliable stream.
type agentStream interface {
	// Send queues one sequenced output_stream_data message; it blocks while
	// the peer is paused or the window is full.
	Send(ctx context.Context, pt wire.PayloadType, p []byte) error
	// Recv returns the next client message in sequence order.
	Recv(ctx context.Context) (wire.PayloadType, []byte, error)
	// Write sends p as consecutive messages of at most maxChunk bytes,
	// waking the writer once for the burst.
	Write(ctx context.Context, pt wire.PayloadType, p []byte) (int, error)
	// Ready is how many messages Recv would return without blocking.
	Ready() int
	// Done is closed when the stream has ended (channel_closed or failure).
	// Flush waits until every sent message has been acknowledged.
	Flush(ctx context.Context) error
	Done() <-chan struct{}
	Close() error
	// SetCipher turns KMS payload encryption on (§8).
	SetCipher(c *session.PayloadCipher)
}

// newAgentStream starts the shared reliable stream (package session) in the
// agent role on the agent's websocket. The agent never resumes, so losing
// the transport ends the stream.
func newAgentStream(fc session.FrameConn, log *slog.Logger) (agentStream, error) {
	var st *session.Stream
	st = session.NewStream(session.StreamConfig{
		Role:       session.RoleAgent,
		MaxPayload: maxChunk,
		Logger:     log,
		OnDetach:   func(err error) { st.Fail(fmt.Errorf("agent data channel lost: %w", err)) },
	})
	if err := st.Attach(fc); err != nil {
		return nil, fmt.Errorf("attach agent stream: %w", err)
	}
	return st, nil
}

// maxChunk is the agent's payload size: amazon-ssm-agent
// StreamDataPayloadSize = 1024.
const maxChunk = 1024

// agentWS is the agent's websocket as a frame transport: one binary message
// per frame, writes serialised so control frames can be written next to the
// stream's own. It implements the stream's batching hooks (StartBatch,
// EndBatch) over bc, so a burst of output and acks costs one socket write.
type agentWS struct {
	c    *websocket.Conn
	bc   *session.BatchConn // the socket under c; nil if not batching
	wmu  sync.Mutex
	slab slabReader // used by the stream's single reader only
}

// ReadMessage returns the next binary message in a buffer the caller owns.
func (w *agentWS) ReadMessage() ([]byte, error) {
	for {
		mt, r, err := w.c.NextReader()
		if err != nil {
			return nil, err
		}
		if mt == websocket.BinaryMessage {
			return w.slab.read(r)
		}
	}
}

// WriteMessage sends one binary message.
func (w *agentWS) WriteMessage(b []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	_ = w.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return w.c.WriteMessage(websocket.BinaryMessage, b)
}

// StartBatch begins coalescing writes until EndBatch.
func (w *agentWS) StartBatch() {
	if w.bc != nil {
		w.bc.StartBatch()
	}
}

// EndBatch writes everything coalesced since StartBatch.
func (w *agentWS) EndBatch() error {
	if w.bc != nil {
		return w.bc.EndBatch()
	}
	return nil
}

func (w *agentWS) Close() error { return w.c.Close() }

// agent is one run of the built-in agent.
type agent struct {
	g             *gateway
	s             *gwSession
	log           *slog.Logger
	ws            *agentWS
	st            agentStream
	clientVersion string
}

// sessionFailure is an error whose text becomes channel_closed Output.
type sessionFailure struct{ text string }

func (e *sessionFailure) Error() string { return e.text }

func failf(format string, args ...any) error {
	return &sessionFailure{text: fmt.Sprintf(format, args...)}
}

// runBuiltinAgent serves session s until it ends.
func runBuiltinAgent(g *gateway, s *gwSession) {
	ctx, cancel := context.WithCancel(g.ctx)
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-stop:
		}
	}()
	a := &agent{g: g, s: s, log: g.log.With("part", "agent", "session", s.id)}
	err := a.run(ctx)
	var sf *sessionFailure
	switch {
	case err == nil:
	case errors.As(err, &sf):
		a.log.Info("session failed", "output", sf.text)
		s.setFailure(sf.text)
	case ctx.Err() != nil:
		// The session was ended by the gateway (TerminateSession, Close).
	default:
		a.log.Info("agent error", "err", err)
		s.setFailure("The SSM Agent on " + s.target + " failed: " + err.Error())
	}
	a.finish()
}

func (a *agent) run(ctx context.Context) error {
	if err := a.connect(ctx); err != nil {
		return err
	}
	a.writeState("Connected")
	needHandshake := a.s.sessionType == typePort || a.g.opts.ShellHandshake || a.s.sessionKMSKey() != ""
	if needHandshake {
		if err := a.handshake(ctx); err != nil {
			return err
		}
	}
	switch a.s.sessionType {
	case typePort:
		return a.runPort(ctx)
	default:
		return a.runShell(ctx)
	}
}

// connect opens the data channel like amazon-ssm-agent: websocket to the
// session's path, then the text open frame with token and instance ID.
func (a *agent) connect(ctx context.Context) error {
	a.s.mu.Lock()
	token := a.s.agentToken
	a.s.mu.Unlock()
	var bc *session.BatchConn
	d := websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   64 << 10, // one read system call per many frames
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			bc = &session.BatchConn{Conn: c}
			return bc, nil
		},
	}
	c, resp, err := d.DialContext(ctx, a.g.agentURL(a.s), nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return fmt.Errorf("open data channel for session %s: %w", a.s.id, err)
	}
	open, _ := json.Marshal(wire.OpenDataChannelInput{
		MessageSchemaVersion: wire.OpenSchemaVersion,
		RequestID:            uuid.NewString(),
		TokenValue:           token,
		ClientInstanceID:     a.s.target,
	})
	if err := c.WriteMessage(websocket.TextMessage, open); err != nil {
		_ = c.Close()
		return fmt.Errorf("send open frame for session %s: %w", a.s.id, err)
	}
	a.ws = &agentWS{c: c, bc: bc}
	st, err := newAgentStream(a.ws, a.log)
	if err != nil {
		_ = c.Close()
		return err
	}
	a.st = st
	return nil
}

// writeState sends agent_session_state (not sequenced, flags 3).
func (a *agent) writeState(state string) {
	if a.ws == nil {
		return
	}
	payload, _ := json.Marshal(wire.AgentSessionState{SchemaVersion: 1, SessionState: state, SessionID: a.s.id})
	m := wire.Message{
		MessageType:   wire.TypeAgentSessionState,
		SchemaVersion: wire.SchemaVersion,
		CreatedDate:   uint64(time.Now().UnixMilli()),
		Flags:         wire.FlagsAck,
		MessageID:     uuid.New(),
		Payload:       payload,
	}
	b, _ := wire.AppendMessage(nil, &m)
	if err := a.ws.WriteMessage(b); err != nil {
		a.log.Debug("write agent_session_state", "state", state, "err", err)
	}
}

// finish drains unacknowledged output (≤ 2 s, like the real agent), reports
// Terminating so the gateway sends channel_closed, and closes the channel.
func (a *agent) finish() {
	if a.st == nil {
		if a.ws != nil {
			_ = a.ws.Close()
		}
		a.s.end("")
		return
	}
	drainCtx, cancel := context.WithTimeout(a.g.ctx, 2*time.Second)
	if err := a.st.Flush(drainCtx); err != nil {
		a.log.Debug("output not fully acknowledged before close", "err", err)
	}
	cancel()
	a.writeState("Terminating")
	t := time.NewTimer(3 * time.Second)
	select {
	case <-a.st.Done():
	case <-a.s.done:
	case <-t.C:
	}
	t.Stop()
	_ = a.st.Close()
	_ = a.ws.Close()
	a.s.end("")
}

// properties are the document properties the handshake delivers (§1.3):
// a JSON object with sorted keys, or null for shells.
func (a *agent) properties() json.RawMessage {
	p := map[string]string{}
	switch a.s.document {
	case docSSH:
		p["portNumber"] = a.s.params["portNumber"]
	case docPortForward, docPortForwardHost:
		for k, v := range a.s.params {
			p[k] = v
		}
		p["type"] = wire.PortTypeLocalPortForwarding
	case docInteractive, docNonInteractive:
		p["commands"] = a.s.params["command"]
	default:
		return json.RawMessage("null")
	}
	b, _ := json.Marshal(p) // encoding/json sorts map keys
	return b
}

// handshake runs §7.2: HandshakeRequest (with a KMSEncryption action when
// the account's preferences name a key), wait ≤ HandshakeTimeout for
// HandshakeResponse (other input is dropped, the stream has acked it),
// require every ActionStatus to be Success, record ClientVersion, with KMS
// decrypt the data key and run the encryption challenge (agent_kms.go),
// send HandshakeComplete.
func (a *agent) handshake(ctx context.Context) error {
	start := time.Now()
	params, _ := json.Marshal(wire.SessionTypeRequest{SessionType: a.s.sessionType, Properties: a.properties()})
	actions := []wire.RequestedClientAction{{ActionType: wire.ActionSessionType, ActionParameters: params}}
	kmsKey := a.s.sessionKMSKey()
	var challenge string
	if kmsKey != "" {
		var act wire.RequestedClientAction
		act, challenge = a.kmsAction(kmsKey)
		actions = append(actions, act)
	}
	req, _ := json.Marshal(wire.HandshakeRequest{
		AgentVersion:           a.g.opts.AgentVersion,
		RequestedClientActions: actions,
	})
	if err := a.st.Send(ctx, wire.PayloadHandshakeRequest, req); err != nil {
		return fmt.Errorf("send handshake request: %w", err)
	}
	hctx, cancel := context.WithTimeout(ctx, a.g.opts.HandshakeTimeout)
	defer cancel()
	var resp wire.HandshakeResponse
	for {
		pt, p, err := a.st.Recv(hctx)
		if err != nil {
			if ctx.Err() == nil && hctx.Err() != nil {
				return failf("Handshake timed out. Please ensure that you have the latest version of the session manager plugin.")
			}
			return fmt.Errorf("wait for handshake response: %w", err)
		}
		if pt != wire.PayloadHandshakeResponse {
			a.log.Debug("dropping input before handshake completes", "payload_type", pt)
			continue
		}
		if err := json.Unmarshal(p, &resp); err != nil {
			return failf("Encountered error while initiating handshake. Handshake response is not valid JSON: %v", err)
		}
		break
	}
	if len(resp.ProcessedClientActions) == 0 {
		return failf("Encountered error while initiating handshake. The client processed no actions.")
	}
	for _, act := range resp.ProcessedClientActions {
		if act.ActionStatus != wire.ActionSuccess {
			msg := act.Error
			if msg == "" {
				msg = strings.Join(resp.Errors, "; ")
			}
			return failf("Encountered error while initiating handshake. %s failed on the client with status %d: %s", act.ActionType, act.ActionStatus, msg)
		}
	}
	a.clientVersion = resp.ClientVersion
	a.s.setClientVersion(resp.ClientVersion)
	hc := wire.HandshakeComplete{}
	if kmsKey != "" {
		if err := a.startEncryption(ctx, &resp, kmsKey, challenge); err != nil {
			return err
		}
		hc.CustomerMessage = kmsCustomerMessage
	}
	hc.HandshakeTimeToComplete = time.Since(start)
	done, _ := json.Marshal(hc)
	if err := a.st.Send(ctx, wire.PayloadHandshakeComplete, done); err != nil {
		return fmt.Errorf("send handshake complete: %w", err)
	}
	return nil
}

// sendChunks sends p as Output messages of at most maxChunk bytes.
func (a *agent) sendChunks(ctx context.Context, pt wire.PayloadType, p []byte) error {
	_, err := a.st.Write(ctx, pt, p) // the stream's MaxPayload is maxChunk
	return err
}

// pacer imitates amazon-ssm-agent's output pacing (a 1 ms pause after each
// 1024-byte chunk) on a schedule: chunk k may leave no earlier than k ms
// after the burst began, so per-chunk work does not add to the pause and
// the rate is the real agent's nominal 1024 B/ms. With PacingNone it never
// waits. One pacer per output pump.
type pacer struct {
	on   bool
	next time.Time
	t    *time.Timer
}

func (a *agent) newPacer() *pacer { return &pacer{on: a.g.opts.AgentPacing == PacingReal} }

// wait is called after each chunk sent.
func (p *pacer) wait(ctx context.Context) {
	if !p.on {
		return
	}
	now := time.Now()
	if p.next.Before(now.Add(-10 * time.Millisecond)) {
		// Idle (or starved) for a while: no credit for the gap beyond a
		// few chunks that absorb timer and scheduling jitter.
		p.next = now
	}
	p.next = p.next.Add(time.Millisecond)
	d := p.next.Sub(now)
	if d <= 0 {
		return
	}
	if p.t == nil {
		p.t = time.NewTimer(d)
	} else {
		p.t.Reset(d)
	}
	select {
	case <-p.t.C:
	case <-ctx.Done():
		p.t.Stop()
	}
}

// readSize is how much the agent reads from a target at once.
func (a *agent) readSize() int {
	if a.g.opts.AgentPacing == PacingReal {
		return maxChunk
	}
	return 32 << 10
}
