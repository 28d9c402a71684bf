package sandbox

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

type peerRole int

const (
	roleNone peerRole = iota
	roleClient
	roleAgent
)

// gwSession is one Session Manager session as the gateway sees it: its API
// state, its tokens and the relay between the client and the agent.
type gwSession struct {
	gw          *gateway
	id          string
	target      string
	inst        *Instance
	document    string
	sessionType string
	params      map[string]string
	account     *Account
	region      string
	owner       string
	reason      string
	seq         int // creation order, seeds the fault injector

	toClient *faultPipe
	toAgent  *faultPipe

	connectTimer *time.Timer // ends the session if no client ever opens

	agentJoined chan struct{} // closed when an agent attaches
	done        chan struct{} // closed when the session has ended

	// pubMu orders publication changes: it is held from the attach/detach
	// state change through the pause/start_publication it causes, so the
	// control frames reach each peer in the order of the state changes (a
	// pause computed before an attach can no longer overtake the start
	// that attach sends). Lock order: pubMu before mu.
	pubMu sync.Mutex

	mu            sync.Mutex
	status        string
	start, endAt  time.Time
	output        string
	tokens        map[string]bool // outstanding single-use client tokens
	cells         map[string]bool // every cell-number issued for this session
	cell          string
	agentToken    string
	client, agent *peer
	opens         int
	clientVersion string
	isEnded       bool
	everConnected bool
}

// peer is one websocket side of the relay. Writes are serialised.
type peer struct {
	conn      *websocket.Conn
	bc        *session.BatchConn // the socket under conn; nil if not batching
	wmu       sync.Mutex
	closeOnce sync.Once
	gone      chan struct{}
}

func newPeer(c *websocket.Conn, bc *session.BatchConn) *peer {
	return &peer{conn: c, bc: bc, gone: make(chan struct{})}
}

// peerWriteTimeout: a peer that cannot take a write this long is dead.
const peerWriteTimeout = 10 * time.Second

// write sends one binary message; a peer that cannot take it within 10 s is
// treated as dead.
func (p *peer) write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(peerWriteTimeout))
	err := p.conn.WriteMessage(websocket.BinaryMessage, b)
	if err != nil {
		p.close()
	}
	return err
}

// writeBurst sends frames, each as one binary message, in order, with one
// socket write for the lot (up to batchFlushAt bytes per write).
func (p *peer) writeBurst(frames [][]byte) error {
	if len(frames) == 1 || p.bc == nil {
		for _, f := range frames {
			if err := p.write(f); err != nil {
				return err
			}
		}
		return nil
	}
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.conn.SetWriteDeadline(time.Now().Add(peerWriteTimeout))
	p.bc.StartBatch()
	var err error
	for _, f := range frames {
		if err = p.conn.WriteMessage(websocket.BinaryMessage, f); err != nil {
			break
		}
	}
	if ferr := p.bc.EndBatch(); err == nil {
		err = ferr
	}
	if err != nil {
		p.close()
	}
	return err
}

// close drops the TCP connection without a close frame, as both real ends do.
func (p *peer) close() {
	p.closeOnce.Do(func() {
		_ = p.conn.Close()
		close(p.gone)
	})
}

func (s *gwSession) mintClientToken() string {
	t := randomToken()
	s.mu.Lock()
	s.tokens[t] = true
	s.mu.Unlock()
	return t
}

func (s *gwSession) newCell() {
	c := randomCell()
	s.mu.Lock()
	s.cell = c
	s.cells[c] = true
	s.mu.Unlock()
}

func (s *gwSession) currentCell() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cell
}

func (s *gwSession) ended() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isEnded
}

func (s *gwSession) currentClient() *peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client
}

// redeem checks an open frame's token and consumes it. It returns the role
// the opener gets, or roleNone and the reason for refusing.
func (s *gwSession) redeem(open wire.OpenDataChannelInput, cell string) (peerRole, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isEnded {
		return roleNone, "session has ended"
	}
	if open.TokenValue != "" && s.tokens[open.TokenValue] {
		if cell != "" && !s.cells[cell] {
			// Leave the token valid: the client may retry with the right URL.
			return roleNone, "cell-number does not match the StreamUrl (was the URL re-encoded?)"
		}
		delete(s.tokens, open.TokenValue)
		return roleClient, ""
	}
	if open.TokenValue != "" && open.TokenValue == s.agentToken {
		if open.ClientInstanceID != s.target {
			return roleNone, "agent open frame names instance " + strconv.Quote(open.ClientInstanceID) + ", not the session's target"
		}
		s.agentToken = "" // single use
		return roleAgent, ""
	}
	return roleNone, "invalid, expired or already used token"
}

// attachClient makes p the session's client side (replacing a previous one,
// which is dropped) and starts relaying its frames to the agent.
func (s *gwSession) attachClient(p *peer, open wire.OpenDataChannelInput) {
	s.pubMu.Lock()
	s.mu.Lock()
	if s.isEnded {
		s.mu.Unlock()
		s.pubMu.Unlock()
		p.close()
		return
	}
	old := s.client
	s.client = p
	s.opens++
	agent := s.agent
	if agent != nil {
		s.status = "Connected"
		s.everConnected = true
	}
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	s.gw.log.Info("client attached", "session", s.id, "client_version", open.ClientVersion)
	// Frames the agent sent while no client was attached were dropped by
	// the pipe (it delivers to the current client only); start_publication
	// makes the agent's stream resend every unacked message at once.
	if agent != nil {
		s.sendControl(agent, wire.TypeStartPublication)
	} else {
		s.sendControl(p, wire.TypePausePublication)
	}
	s.pubMu.Unlock()
	if every := s.gw.opts.Faults.KillClientEvery; every > 0 {
		s.scheduleKill(p, every)
	}
	s.gw.goTracked(func() { s.readLoop(p, roleClient) })
}

// attachAgent makes p the session's agent side.
func (s *gwSession) attachAgent(p *peer) {
	s.pubMu.Lock()
	s.mu.Lock()
	if s.isEnded || s.agent != nil {
		s.mu.Unlock()
		s.pubMu.Unlock()
		p.close()
		return
	}
	s.agent = p
	client := s.client
	if client != nil {
		s.status = "Connected"
		s.everConnected = true
	}
	s.mu.Unlock()
	close(s.agentJoined)
	s.gw.unwait(s)
	s.gw.log.Info("agent attached", "session", s.id)
	if client != nil {
		s.sendControl(client, wire.TypeStartPublication)
	} else {
		s.sendControl(p, wire.TypePausePublication)
	}
	s.pubMu.Unlock()
	s.gw.goTracked(func() { s.readLoop(p, roleAgent) })
}

// readLoop relays every message p sends until its socket fails.
func (s *gwSession) readLoop(p *peer, role peerRole) {
	defer s.detach(p, role)
	var (
		m    wire.Message
		slab slabReader
	)
	dst := s.toAgent
	if role == roleAgent {
		dst = s.toClient
	}
	pooled := dst.recycling()
	for {
		mt, r, err := p.conn.NextReader()
		if err != nil {
			return
		}
		if mt != websocket.BinaryMessage {
			continue // only the open frame is text; NextReader skips the rest
		}
		var b []byte
		if pooled {
			b, err = readAppend(r, dst.getBuf())
		} else {
			b, err = slab.read(r)
		}
		if err != nil {
			return
		}
		// Peek at the MessageType field before paying for a full decode
		// (digest) of every relayed frame.
		if role == roleAgent && maybeSessionState(b) && wire.Decode(b, &m) == nil && m.MessageType == wire.TypeAgentSessionState {
			s.agentState(m.Payload)
			continue // A→service only (§4.1)
		}
		if tap := s.gw.opts.Tap; tap != nil {
			tap(role != roleAgent, bytes.Clone(b))
		}
		if pooled {
			dst.pushPooled(b)
		} else {
			dst.push(b)
		}
	}
}

// maybeSessionState reports whether frame's MessageType field starts with
// agent_session_state (frame layout §3.1: the type is bytes 4..36).
func maybeSessionState(frame []byte) bool {
	const off = 4
	return len(frame) >= off+len(wire.TypeAgentSessionState) &&
		string(frame[off:off+len(wire.TypeAgentSessionState)]) == wire.TypeAgentSessionState
}

// detach handles the loss of a side: the other side is paused; losing the
// agent ends the session.
func (s *gwSession) detach(p *peer, role peerRole) {
	p.close()
	s.pubMu.Lock()
	s.mu.Lock()
	var other *peer
	switch role {
	case roleClient:
		if s.client != p {
			s.mu.Unlock()
			s.pubMu.Unlock()
			return // replaced by a resumed connection
		}
		s.client = nil
		other = s.agent
		if !s.isEnded && s.everConnected {
			s.status = "Disconnected"
		}
	case roleAgent:
		s.agent = nil
	}
	ended := s.isEnded
	s.mu.Unlock()
	if ended {
		s.pubMu.Unlock()
		return
	}
	if role == roleAgent {
		s.pubMu.Unlock()
		s.end("The SSM Agent on " + s.target + " closed the data channel unexpectedly.")
		return
	}
	s.gw.log.Info("client detached", "session", s.id)
	if other != nil {
		s.sendControl(other, wire.TypePausePublication)
	}
	s.pubMu.Unlock()
}

// agentState handles agent_session_state: Terminating ends the session.
func (s *gwSession) agentState(payload []byte) {
	var st wire.AgentSessionState
	if err := json.Unmarshal(payload, &st); err != nil {
		s.gw.log.Warn("bad agent_session_state", "session", s.id, "err", err)
		return
	}
	s.gw.log.Debug("agent session state", "session", s.id, "state", st.SessionState)
	if st.SessionState == "Terminating" {
		s.mu.Lock()
		out := s.output
		s.mu.Unlock()
		s.end(out)
	}
}

// setFailure records a failure text for the coming channel_closed (used by
// the built-in agent before it reports Terminating).
func (s *gwSession) setFailure(text string) {
	s.mu.Lock()
	if !s.isEnded && s.output == "" {
		s.output = text
	}
	s.mu.Unlock()
}

func (s *gwSession) setClientVersion(v string) {
	s.mu.Lock()
	s.clientVersion = v
	s.mu.Unlock()
}

func (s *gwSession) sendControl(p *peer, msgType string) {
	m := wire.Message{
		MessageType:   msgType,
		SchemaVersion: wire.SchemaVersion,
		CreatedDate:   uint64(time.Now().UnixMilli()),
		Flags:         wire.FlagsAck,
		MessageID:     uuid.New(),
	}
	b, err := wire.AppendMessage(nil, &m)
	if err != nil {
		s.gw.log.Error("encode control frame", "type", msgType, "err", err)
		return
	}
	_ = p.write(b)
}

// terminate ends the session on a TerminateSession call.
func (s *gwSession) terminate() {
	s.mu.Lock()
	if !s.isEnded {
		s.status = "Terminating"
	}
	s.mu.Unlock()
	s.end("")
}

// end finishes the session once: channel_closed (with output as its failure
// text) goes to the client after everything already queued for it, and to
// the agent; then both sockets are dropped. Sessions that never reached the
// client end as Failed when output is set.
func (s *gwSession) end(output string) {
	s.mu.Lock()
	if s.isEnded {
		s.mu.Unlock()
		return
	}
	s.isEnded = true
	if output == "" {
		output = s.output
	}
	s.output = output
	s.endAt = s.gw.sb.now()
	if output != "" {
		s.status = "Failed"
	} else {
		s.status = "Terminated"
	}
	s.tokens = map[string]bool{}
	s.agentToken = ""
	agent := s.agent
	s.mu.Unlock()
	s.gw.unwait(s)
	if s.connectTimer != nil {
		s.connectTimer.Stop()
	}
	s.gw.log.Info("session ended", "session", s.id, "status", s.status, "output", output)

	frame := s.channelClosed(output)
	if agent != nil {
		_ = agent.write(frame)
	}
	var once sync.Once
	finish := func() {
		once.Do(func() {
			s.mu.Lock()
			c, a := s.client, s.agent
			s.mu.Unlock()
			if c != nil {
				c.close()
			}
			if a != nil {
				a.close()
			}
			s.toClient.stop()
			s.toAgent.stop()
			close(s.done)
		})
	}
	// Deliver channel_closed behind any frames still queued (latency), but
	// never wait long for a stuck client: the timer stops the pipes, which
	// also unblocks the push below.
	t := time.AfterFunc(3*time.Second, finish)
	s.gw.goTracked(func() {
		<-s.done
		t.Stop()
	})
	s.toClient.pushControl(frame, finish)
}

// channelClosed encodes the §10.1 frame, in the legacy HL-112 NUL-padded
// form if configured.
func (s *gwSession) channelClosed(output string) []byte {
	id := uuid.New()
	now := time.Now()
	payload, _ := json.Marshal(wire.ChannelClosed{
		MessageID:     id.String(),
		CreatedDate:   now.UTC().Format("2006-01-02T15:04:05.000Z"),
		DestinationID: s.target,
		SessionID:     s.id,
		MessageType:   wire.TypeChannelClosed,
		SchemaVersion: 1,
		Output:        output,
	})
	m := wire.Message{
		MessageType:   wire.TypeChannelClosed,
		SchemaVersion: wire.SchemaVersion,
		CreatedDate:   uint64(now.UnixMilli()),
		MessageID:     id,
		Payload:       payload,
	}
	if s.gw.opts.LegacyChannelClosed {
		b, _ := wire.AppendLegacyMessage(nil, &m)
		// NUL padding instead of spaces in the MessageType field.
		for i := 4 + len(wire.TypeChannelClosed); i < 36; i++ {
			b[i] = 0
		}
		return b
	}
	b, _ := wire.AppendMessage(nil, &m)
	return b
}

// killClient drops the client socket; it reports whether one was connected.
func (s *gwSession) killClient() bool {
	s.mu.Lock()
	c := s.client
	s.mu.Unlock()
	if c == nil {
		return false
	}
	s.gw.log.Info("fault: killing client socket", "session", s.id)
	// Detach now (pausing the agent) rather than when the read loop
	// notices, so pause always precedes the resumed client's start.
	s.detach(c, roleClient)
	return true
}

// scheduleKill drops client p once it has been attached for every (the
// KillClientEvery fault): each connection, including resumed ones, lives
// that long, so a kill never lands in the middle of a fresh open.
func (s *gwSession) scheduleKill(p *peer, every time.Duration) {
	time.AfterFunc(every, func() {
		if s.currentClient() == p {
			s.killClient()
		}
	})
}

func (s *gwSession) info() SessionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SessionInfo{
		ID: s.id, Target: s.target, Document: s.document, Status: s.status,
		Output: s.output, ClientVersion: s.clientVersion, Opens: s.opens,
	}
}

func (s *gwSession) describe() sessionOut {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := sessionOut{
		SessionId:          s.id,
		Target:             s.target,
		Status:             s.status,
		StartDate:          float64(s.start.UnixMilli()) / 1000,
		DocumentName:       s.document,
		Owner:              s.owner,
		Reason:             s.reason,
		MaxSessionDuration: "20",
		AccessType:         "Standard",
	}
	if s.isEnded {
		e := float64(s.endAt.UnixMilli()) / 1000
		o.EndDate = &e
	}
	return o
}
