package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/session/wire"
)

// GatewayOptions configures the Session Manager gateway (the role of the
// real ssmmessages service), its fault injector, the built-in agent and the
// TLS listener. The zero value is a faithful, fault-free gateway.
type GatewayOptions struct {
	// Faults are injected into the relay between client and agent.
	Faults FaultOptions

	// AgentPacing is the built-in agent's output pacing: PacingNone (default)
	// or PacingReal (1024-byte reads and a 1 ms pause per chunk, like
	// amazon-ssm-agent).
	AgentPacing Pacing
	// AgentVersion is what the built-in agent reports in its HandshakeRequest
	// (default DefaultAgentVersion). It selects the client's port mode and
	// smux keepalive (ssm-protocol.md §13).
	AgentVersion string
	// ShellHandshake makes the built-in agent perform the §7 handshake for
	// shell-type sessions; by default it takes the legacy path (output first),
	// as the real agent does without KMS.
	ShellHandshake bool
	// Shell is the program shell sessions run in a PTY (default $SHELL, else
	// /bin/sh). Interactive/NonInteractive command documents run
	// `Shell -c <command>`.
	Shell string
	// KMSNoChallenge makes the built-in agent leave the random Challenge
	// out of its KMSEncryption action (ssm-protocol.md §8.4), as older
	// agents do; by default it offers one. Only matters for accounts with
	// SessionKMSKeyID.
	KMSNoChallenge bool
	// Tap, if set, is called with a copy of every frame the gateway relays
	// between client and agent (toAgent tells the direction), before faults
	// apply: tests check what crosses the wire. It must not block.
	Tap func(toAgent bool, frame []byte)
	// HandshakeTimeout bounds the agent's wait for HandshakeResponse
	// (default 15 s, as amazon-ssm-agent).
	HandshakeTimeout time.Duration

	// LegacyChannelClosed emits channel_closed in the HeaderLength-112,
	// NUL-padded form some clients report from the real service (§3.3).
	LegacyChannelClosed bool
	// NewCellOnResume makes ResumeSession return a StreamUrl with a new
	// cell-number (clients must adopt it; old ones keep working).
	NewCellOnResume bool

	// ClientConnectTimeout ends a session whose client has not opened the
	// data channel this long after StartSession (default 2 minutes).
	ClientConnectTimeout time.Duration

	// ExternalAgentWait is how long StartSession waits for an outside agent
	// to join a session on an instance marked External (default 30 s).
	ExternalAgentWait time.Duration

	// DisableTLS turns the https/wss listener off.
	DisableTLS bool
	// TLSAddr is the loopback listen address of the https/wss port
	// (default 127.0.0.1:0).
	TLSAddr string
	// CADir is where the generated CA certificate (PEM) is written; default a
	// temporary directory removed by Close.
	CADir string
}

// Pacing selects how the built-in agent paces its output.
type Pacing string

// Pacing values.
const (
	PacingNone Pacing = "none" // read as much as is available, send without pause
	PacingReal Pacing = "real" // 1024-byte reads, 1 ms pause per chunk (amazon-ssm-agent)
)

// DefaultAgentVersion is the AgentVersion the built-in agent reports unless
// GatewayOptions.AgentVersion says otherwise (amazon-ssm-agent 3.3.1142.0:
// clients pick smux with keepalive off).
const DefaultAgentVersion = "3.3.1142.0"

// Validate checks the options and reports the first problem.
func (o GatewayOptions) Validate() error {
	switch o.AgentPacing {
	case "", PacingNone, PacingReal:
	default:
		return fmt.Errorf("sandbox: agent pacing %q: want %q or %q", o.AgentPacing, PacingNone, PacingReal)
	}
	if o.AgentVersion != "" {
		if _, err := parseVersion(o.AgentVersion); err != nil {
			return fmt.Errorf("sandbox: agent version: %w", err)
		}
	}
	if o.TLSAddr != "" {
		if err := requireLoopback(o.TLSAddr); err != nil {
			return err
		}
	}
	return o.Faults.Validate()
}

// gateway is the sandbox's Session Manager side: the session registry, the
// data-channel websocket endpoints and the relay.
type gateway struct {
	sb   *Sandbox
	opts GatewayOptions
	log  *slog.Logger
	up   websocket.Upgrader

	ctx    context.Context // cancelled by Close; owned here
	cancel context.CancelFunc
	wg     sync.WaitGroup

	tls *tlsServer

	stopPolls     chan struct{} // closed when the HTTP server shuts down
	stopPollsOnce sync.Once

	mu       sync.Mutex
	sessions map[string]*gwSession
	order    []*gwSession
	nextSeq  int
	waiting  map[string][]*gwSession // instance ID → sessions awaiting an external agent
	waitCond chan struct{}           // closed and replaced when waiting changes
}

func newGateway(s *Sandbox) (*gateway, error) {
	opts := s.opts.Gateway
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.AgentPacing == "" {
		opts.AgentPacing = PacingNone
	}
	if opts.AgentVersion == "" {
		opts.AgentVersion = DefaultAgentVersion
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 15 * time.Second
	}
	if opts.ClientConnectTimeout <= 0 {
		opts.ClientConnectTimeout = 2 * time.Minute
	}
	if opts.ExternalAgentWait <= 0 {
		opts.ExternalAgentWait = 30 * time.Second
	}
	g := &gateway{
		sb:        s,
		opts:      opts,
		log:       s.log.With("part", "gateway"),
		sessions:  map[string]*gwSession{},
		waiting:   map[string][]*gwSession{},
		waitCond:  make(chan struct{}),
		stopPolls: make(chan struct{}),
		up: websocket.Upgrader{
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   64 << 10, // one read system call per many frames
			// No browser ever talks to the sandbox; tokens authenticate.
			CheckOrigin: func(*http.Request) bool { return true },
		},
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	s.mux.HandleFunc("GET /v1/data-channel/{id}", g.serveDataChannel)
	s.mux.HandleFunc("GET "+AgentSessionsPath+"{instance}", g.serveAgentSessions)
	if !opts.DisableTLS {
		t, err := startTLS(g)
		if err != nil {
			g.cancel()
			return nil, err
		}
		g.tls = t
	}
	return g, nil
}

// Close ends every session (channel_closed to connected clients), stops the
// TLS listener and waits for the relay and agent goroutines.
func (g *gateway) Close() error {
	g.mu.Lock()
	all := append([]*gwSession(nil), g.order...)
	g.mu.Unlock()
	for _, s := range all {
		s.end("The sandbox is shutting down.")
	}
	g.cancel()
	var err error
	if g.tls != nil {
		err = g.tls.close()
	}
	g.wg.Wait()
	if g.tls != nil {
		if rerr := g.tls.removeFiles(); err == nil {
			err = rerr
		}
	}
	return err
}

// env returns extra NAME=VALUE pairs for Sandbox.Env: the CA bundle of the
// TLS port and that port's URL.
func (g *gateway) env() []string {
	if g.tls == nil {
		return nil
	}
	return []string{
		"AWS_CA_BUNDLE=" + g.tls.caFile,
		"SSMTUI_SANDBOX_CA=" + g.tls.caFile,
		"SSMTUI_SANDBOX_TLS_URL=" + g.tls.url,
	}
}

// go runs f on a goroutine the gateway waits for in Close.
func (g *gateway) goTracked(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// newSession registers a session for a StartSession call.
func (g *gateway) newSession(r *APIRequest, inst *Instance, doc, sessionType string, params map[string]string, reason string) *gwSession {
	owner := r.Account.arn()
	caller := owner[strings.LastIndexByte(owner, '/')+1:]
	if caller == "" || strings.ContainsAny(caller, ":") {
		caller = "sandbox"
	}
	s := &gwSession{
		gw:          g,
		id:          caller + "-" + randomAlnum(26),
		target:      inst.ID,
		inst:        inst,
		document:    doc,
		sessionType: sessionType,
		params:      params,
		account:     r.Account,
		region:      r.Region,
		owner:       owner,
		reason:      reason,
		status:      "Connecting",
		start:       g.sb.now(),
		tokens:      map[string]bool{},
		cells:       map[string]bool{},
		agentToken:  randomToken(),
		agentJoined: make(chan struct{}),
		done:        make(chan struct{}),
	}
	s.newCell()
	g.mu.Lock()
	s.seq = g.nextSeq
	g.nextSeq++
	g.sessions[s.id] = s
	g.order = append(g.order, s)
	g.mu.Unlock()
	s.connectTimer = time.AfterFunc(g.opts.ClientConnectTimeout, func() {
		s.mu.Lock()
		opened := s.opens > 0
		s.mu.Unlock()
		if !opened {
			s.end("The client did not open the data channel within " + g.opts.ClientConnectTimeout.String() + " of StartSession.")
		}
	})
	s.toClient = newFaultPipe(g, s, dirToClient)
	s.toAgent = newFaultPipe(g, s, dirToAgent)
	g.log.Info("session started", "session", s.id, "instance", s.target, "document", doc)
	return s
}

func (g *gateway) session(id string) (*gwSession, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.sessions[id]
	return s, ok
}

func (g *gateway) sessionsOf(a *Account, region string) []*gwSession {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*gwSession
	for _, s := range g.order {
		if s.account == a && s.region == region {
			out = append(out, s)
		}
	}
	return out
}

// streamURL is the StreamUrl for s as seen from the port r arrived on:
// ws:// on the plain port, wss:// on the TLS port.
func (g *gateway) streamURL(r *APIRequest, s *gwSession) string {
	scheme := "ws"
	if r.HTTP.TLS != nil {
		scheme = "wss"
	}
	host := r.HTTP.Host
	if la, ok := r.HTTP.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		host = la.String()
	}
	// The cell-number is deliberately left unescaped (+ / =), like the real
	// service's: clients must dial the URL verbatim.
	return scheme + "://" + host + "/v1/data-channel/" + s.id + "?role=publish_subscribe&cell-number=" + s.currentCell()
}

// agentURL is where an agent opens the data channel of s (the path the real
// agent builds itself, §1.2).
func (g *gateway) agentURL(s *gwSession) string {
	return "ws://" + g.sb.ln.Addr().String() + "/v1/data-channel/" + s.id + "?role=publish_subscribe"
}

// launchAgent starts the built-in agent for s, or, for an instance served by
// an external agent, waits until one has joined the session.
func (g *gateway) launchAgent(ctx context.Context, s *gwSession) error {
	if !s.inst.External {
		g.goTracked(func() { runBuiltinAgent(g, s) })
		return nil
	}
	g.mu.Lock()
	g.waiting[s.target] = append(g.waiting[s.target], s)
	close(g.waitCond)
	g.waitCond = make(chan struct{})
	g.mu.Unlock()
	t := time.NewTimer(g.opts.ExternalAgentWait)
	defer t.Stop()
	select {
	case <-s.agentJoined:
		return nil
	case <-t.C:
	case <-ctx.Done():
	case <-g.ctx.Done():
	}
	g.unwait(s)
	s.end("No agent joined the session.")
	return apiErr("TargetNotConnected", "%s is not connected.", s.target)
}

func (g *gateway) unwait(s *gwSession) {
	g.mu.Lock()
	defer g.mu.Unlock()
	list := g.waiting[s.target]
	for i, w := range list {
		if w == s {
			g.waiting[s.target] = append(list[:i:i], list[i+1:]...)
			break
		}
	}
}

// AgentSessionsPath is the long-poll endpoint through which an external
// agent learns about sessions on its instance (instances marked External in
// the fleet). `GET <sandbox URL>/sandbox/v1/agent-sessions/<instance-id>`
// waits up to 25 s and answers 204 when nothing is pending, or 200 with an
// [AgentAssignment]. The agent then dials StreamUrl (a websocket, no
// subprotocol), sends the text open frame
// {"MessageSchemaVersion":"1.0","RequestId":"<uuid>","TokenValue":"<TokenValue>","ClientInstanceId":"<instance-id>"}
// (amazon-ssm-agent's OpenDataChannelInput) and speaks the data-channel
// protocol in the agent role (output_stream_data, agent_session_state
// Connected/Terminating). The token is single-use; StartSession fails with
// TargetNotConnected if no agent joins within ExternalAgentWait.
const AgentSessionsPath = "/sandbox/v1/agent-sessions/"

// AgentAssignment tells an external agent which session to serve.
type AgentAssignment struct {
	SessionID    string            `json:"SessionId"`
	StreamURL    string            `json:"StreamUrl"`
	TokenValue   string            `json:"TokenValue"`
	DocumentName string            `json:"DocumentName"`
	SessionType  string            `json:"SessionType"`
	Parameters   map[string]string `json:"Parameters"`
}

func (g *gateway) serveAgentSessions(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("instance")
	t := time.NewTimer(25 * time.Second)
	defer t.Stop()
	for {
		g.mu.Lock()
		var s *gwSession
		if list := g.waiting[id]; len(list) > 0 {
			s, g.waiting[id] = list[0], list[1:]
		}
		cond := g.waitCond
		g.mu.Unlock()
		if s != nil {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(AgentAssignment{
				SessionID: s.id, StreamURL: g.agentURL(s), TokenValue: s.agentToken,
				DocumentName: s.document, SessionType: s.sessionType, Parameters: s.params,
			})
			return
		}
		select {
		case <-cond:
		case <-t.C:
			w.WriteHeader(http.StatusNoContent)
			return
		case <-r.Context().Done():
			return
		case <-g.ctx.Done():
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		case <-g.stopPolls:
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
	}
}

// shutdown ends pending agent long-polls so an HTTP server shutdown does
// not wait for them (registered with http.Server.RegisterOnShutdown).
func (g *gateway) shutdown() {
	g.stopPollsOnce.Do(func() { close(g.stopPolls) })
}

// serveDataChannel is the websocket endpoint of both roles. The first
// message (text, OpenDataChannelInput) decides the role by its token: a
// client token from StartSession/ResumeSession, or the session's agent token
// together with the target's ClientInstanceId.
func (g *gateway) serveDataChannel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// SigV4 headers on the upgrade (newer plugins) are accepted and ignored.
	hj := &batchHijacker{ResponseWriter: w}
	conn, err := g.up.Upgrade(hj, r, nil)
	if err != nil {
		g.log.Info("data channel upgrade failed", "session", id, "err", err)
		return
	}
	conn.SetReadLimit(1 << 20)
	reject := func(reason string, args ...any) {
		g.log.Warn("data channel open rejected", append([]any{"session", id, "reason", reason}, args...)...)
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, "data channel open rejected: "+reason), time.Now().Add(time.Second))
		_ = conn.Close()
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, msg, err := conn.ReadMessage()
	if err != nil {
		g.log.Info("data channel closed before open frame", "session", id, "err", err)
		_ = conn.Close()
		return
	}
	_ = conn.SetReadDeadline(time.Time{})
	if mt != websocket.TextMessage {
		reject("first message is not a text OpenDataChannelInput")
		return
	}
	var open wire.OpenDataChannelInput
	if err := json.Unmarshal(msg, &open); err != nil {
		reject("open frame is not JSON")
		return
	}
	if open.MessageSchemaVersion != wire.OpenSchemaVersion {
		reject("unsupported MessageSchemaVersion", "version", open.MessageSchemaVersion)
		return
	}
	s, ok := g.session(id)
	if !ok {
		reject("unknown session")
		return
	}
	role, why := s.redeem(open, rawQueryValue(r.URL.RawQuery, "cell-number"))
	switch role {
	case roleClient:
		s.attachClient(newPeer(conn, hj.conn), open)
	case roleAgent:
		s.attachAgent(newPeer(conn, hj.conn))
	default:
		reject(why)
	}
}

// rawQueryValue returns the undecoded value of key in a raw query string,
// so a re-encoded cell-number can be told apart from the issued one.
func rawQueryValue(raw, key string) string {
	for _, kv := range strings.Split(raw, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// randomAlnum returns n random lower-case alphanumerics.
func randomAlnum(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// randomToken returns an opaque session token like the service's.
func randomToken() string {
	b := make([]byte, 96)
	_, _ = rand.Read(b)
	return "AAEAA" + base64.StdEncoding.EncodeToString(b)
}

// randomCell returns an opaque base64 routing token that always contains the
// characters + / and = (clients must not re-encode them).
func randomCell() string {
	for {
		b := make([]byte, 22)
		_, _ = rand.Read(b)
		c := base64.StdEncoding.EncodeToString(b)
		if strings.Contains(c, "+") && strings.Contains(c, "/") {
			return c
		}
	}
}

// KillClient drops the client's websocket of a session once, like a network
// failure would (no close frame): the client must resume. It fails if the
// session is unknown or no client is connected.
func (s *Sandbox) KillClient(sessionID string) error {
	gs, ok := s.gw.session(sessionID)
	if !ok {
		return fmt.Errorf("kill client of session %s: %w", sessionID, os.ErrNotExist)
	}
	if !gs.killClient() {
		return fmt.Errorf("kill client of session %s: no client connected", sessionID)
	}
	return nil
}

// SendToClient writes raw bytes as one binary websocket message to the
// client of a session, bypassing the relay and its faults. Tests use it to
// feed malformed frames (bad digest, truncated) to a client.
func (s *Sandbox) SendToClient(sessionID string, frame []byte) error {
	gs, ok := s.gw.session(sessionID)
	if !ok {
		return fmt.Errorf("send to client of session %s: %w", sessionID, os.ErrNotExist)
	}
	p := gs.currentClient()
	if p == nil {
		return fmt.Errorf("send to client of session %s: no client connected", sessionID)
	}
	if err := p.write(frame); err != nil {
		return fmt.Errorf("send to client of session %s: %w", sessionID, err)
	}
	return nil
}

// SessionInfo is a snapshot of one gateway session, for tests.
type SessionInfo struct {
	ID            string
	Target        string
	Document      string
	Status        string // Connecting, Connected, Disconnected, Terminating, Terminated, Failed
	Output        string // channel_closed Output text once ended (failure reason)
	ClientVersion string // from the client's handshake, if any
	Opens         int    // accepted client opens (1 + resumes)
}

// Session returns a snapshot of a session, or false if it is unknown.
func (s *Sandbox) Session(id string) (SessionInfo, bool) {
	gs, ok := s.gw.session(id)
	if !ok {
		return SessionInfo{}, false
	}
	return gs.info(), true
}

// WaitSessionEnd blocks until the session has ended (channel_closed sent)
// or ctx is done, and returns its final snapshot.
func (s *Sandbox) WaitSessionEnd(ctx context.Context, id string) (SessionInfo, error) {
	gs, ok := s.gw.session(id)
	if !ok {
		return SessionInfo{}, fmt.Errorf("wait for session %s: %w", id, os.ErrNotExist)
	}
	select {
	case <-gs.done:
		return gs.info(), nil
	case <-ctx.Done():
		return gs.info(), fmt.Errorf("wait for session %s to end: %w", id, ctx.Err())
	}
}
