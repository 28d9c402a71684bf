package session

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/session/wire"
)

// ClientVersion is the plugin version ssmtui advertises in the open frame and
// the HandshakeResponse. Agents compare it: above 1.2.331.0 they turn smux
// keepalive off, at or above 1.1.70 they use smux for port forwarding
// (ssm-protocol.md §13).
const ClientVersion = "1.2.707.0"

// Document names (ssm-protocol.md §1.3).
const (
	DocumentSSH                    = "AWS-StartSSHSession"
	DocumentPortForwarding         = "AWS-StartPortForwardingSession"
	DocumentPortForwardingToRemote = "AWS-StartPortForwardingSessionToRemoteHost"
	DocumentShell                  = "SSM-SessionManagerRunShell"
	DefaultResumeTimeout           = 60 * time.Second
	DefaultCloseTimeout            = 2 * time.Second
	wsHandshakeTimeout             = 45 * time.Second
	resumeMaxDelay                 = 5 * time.Second
	terminateAPITimeout            = 5 * time.Second
)

// processClientID is the ClientId sent in every open frame of this process
// (§2.2: one per process, reused on reconnect).
var processClientID = uuid.NewString()

// SSMAPI is the part of the SSM client a session uses; *ssm.Client
// satisfies it. Tests and callers with their own client may set
// DialOptions.API.
type SSMAPI interface {
	StartSession(ctx context.Context, in *ssm.StartSessionInput, optFns ...func(*ssm.Options)) (*ssm.StartSessionOutput, error)
	ResumeSession(ctx context.Context, in *ssm.ResumeSessionInput, optFns ...func(*ssm.Options)) (*ssm.ResumeSessionOutput, error)
	TerminateSession(ctx context.Context, in *ssm.TerminateSessionInput, optFns ...func(*ssm.Options)) (*ssm.TerminateSessionOutput, error)
}

// StartedSession is the result of a StartSession call made by someone else
// (for example `aws ssm start-session` handing over to a proxy). TokenValue
// and the StreamURL query are secrets: never log them.
type StartedSession struct {
	SessionID  string `json:"SessionId"`
	StreamURL  string `json:"StreamUrl"`
	TokenValue string `json:"TokenValue"`
}

// DialOptions configures a session. The zero value dials an SSH port session
// (AWS-StartSSHSession, portNumber 22) with the defaults below.
type DialOptions struct {
	// DocumentName is the session document; default AWS-StartSSHSession for
	// Dial, SSM-SessionManagerRunShell for OpenShell.
	DocumentName string
	// Parameters of the document; Dial defaults to {"portNumber":["22"]}.
	Parameters map[string][]string
	// Reason is recorded by SSM (optional).
	Reason string
	// RootCAs verifies wss:// stream URLs (nil: system roots). The sandbox's
	// TLS port needs its CA here.
	RootCAs *x509.CertPool
	// Window and MaxPayload tune the stream (see StreamConfig).
	Window     int
	MaxPayload int
	// ResumeTimeout is how long a lost WebSocket is retried with
	// ResumeSession before the session fails with *ResumeError; default 60 s.
	ResumeTimeout time.Duration
	// CloseTimeout bounds the goodbye on Close (flag ack wait and
	// TerminateSession call); default 2 s.
	CloseTimeout time.Duration
	// PingInterval of WebSocket keepalive pings; default 1 minute, <0 none.
	PingInterval time.Duration
	// API replaces the SSM client built from the aws.Config.
	API SSMAPI
	// KMS replaces the KMS client built from the aws.Config
	// (kms.NewFromConfig). It is used only when the agent of a shell
	// session asks for KMS encryption (the account's Session Manager
	// preferences name a key): GenerateDataKey, ssm-protocol.md §8.
	KMS KMSAPI
	// Logger receives debug logs (never tokens or URL queries); nil discards.
	Logger *slog.Logger
}

func (o *DialOptions) setDefaults(cfg aws.Config) {
	if o.API == nil {
		o.API = ssm.NewFromConfig(cfg)
	}
	if o.KMS == nil {
		o.KMS = &lazyKMS{cfg: cfg}
	}
	if o.ResumeTimeout <= 0 {
		o.ResumeTimeout = DefaultResumeTimeout
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = DefaultCloseTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// startSession calls StartSession and maps its errors.
func startSession(ctx context.Context, api SSMAPI, target string, o *DialOptions) (StartedSession, error) {
	in := &ssm.StartSessionInput{Target: aws.String(target), Parameters: o.Parameters}
	if o.DocumentName != "" {
		in.DocumentName = aws.String(o.DocumentName)
	}
	if o.Reason != "" {
		in.Reason = aws.String(o.Reason)
	}
	out, err := api.StartSession(ctx, in)
	if err != nil {
		se := &StartError{Target: target, Document: o.DocumentName, Err: err}
		if se.Document == "" {
			se.Document = DocumentShell
		}
		var ae smithy.APIError
		if errors.As(err, &ae) {
			se.Code = ae.ErrorCode()
		}
		return StartedSession{}, se
	}
	s := StartedSession{SessionID: aws.ToString(out.SessionId), StreamURL: aws.ToString(out.StreamUrl), TokenValue: aws.ToString(out.TokenValue)}
	if s.SessionID == "" || s.StreamURL == "" {
		return s, &StartError{Target: target, Document: o.DocumentName, Err: errors.New("StartSession returned no SessionId or StreamUrl")}
	}
	return s, nil
}

// channel is one client data channel: stream, handshake result, resume.
type channel struct {
	api       SSMAPI
	opts      DialOptions
	target    string
	sessionID string
	log       *slog.Logger
	stream    *Stream
	detach    chan error

	ctx    context.Context // owned: canceled by close, bounds resume calls
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	streamURL string
	token     string

	// Set by the handshake, read-only afterwards.
	agentVersion    string
	sessionType     string
	properties      json.RawMessage
	customerMessage string
	first           []byte         // legacy shell: the Output that arrived before any handshake
	cipher          *PayloadCipher // KMS session key, nil when not encrypted
	kmsKeyID        string
	challenged      bool // the agent's encryption challenge was answered

	earlyLosses atomic.Int32 // transport losses before any frame arrived

	// Resume cycle state, owned by the resume loop goroutine.
	cycleStart time.Time
	delay      time.Duration
	attempts   int
	rxAtAttach uint64 // stream frame count when the last resume attached
	closeOnce  sync.Once
}

// openChannel dials the stream URL, sends the open frame and runs the
// handshake; on success the resume loop is running.
func openChannel(ctx context.Context, target string, sess StartedSession, o DialOptions) (*channel, error) {
	c := &channel{
		api:       o.API,
		opts:      o,
		target:    target,
		sessionID: sess.SessionID,
		log:       o.Logger.With("session", sess.SessionID, "target", target),
		detach:    make(chan error, 1),
		streamURL: sess.StreamURL,
		token:     sess.TokenValue,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.stream = NewStream(StreamConfig{
		Role:       RoleClient,
		Window:     o.Window,
		MaxPayload: o.MaxPayload,
		Logger:     c.log,
		OnDetach: func(err error) {
			if !c.stream.Received() && c.earlyLosses.Add(1) > 1 {
				// Dropped twice before any agent traffic (the second time
				// right after a resume): the service refuses the open
				// frame (bad or expired token), not a network blip.
				c.stream.Fail(fmt.Errorf("%w: %v", errChannelRefused, err))
				return
			}
			select {
			case c.detach <- err:
			default:
			}
		},
	})
	fail := func(err error) (*channel, error) {
		c.stream.Close()
		c.cancel()
		return nil, &HandshakeError{SessionID: sess.SessionID, Err: err}
	}
	fc, err := c.dialWS(ctx, sess.StreamURL, sess.TokenValue)
	if err != nil {
		return fail(err)
	}
	if err := c.stream.Attach(fc); err != nil {
		return fail(err)
	}
	// Resume works from the first agent frame on, handshake included.
	c.wg.Add(1)
	go c.resumeLoop()
	if err := c.handshake(ctx); err != nil {
		c.stream.Close()
		c.cancel()
		c.wg.Wait()
		return nil, &HandshakeError{SessionID: sess.SessionID, Err: err}
	}
	return c, nil
}

// redactURL drops the query (cell-number routing token) for logs.
func redactURL(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

func (c *channel) dialWS(ctx context.Context, streamURL, token string) (FrameConn, error) {
	var bc *BatchConn
	var nd net.Dialer
	d := websocket.Dialer{
		Proxy:            http.ProxyFromEnvironment,
		HandshakeTimeout: wsHandshakeTimeout,
		ReadBufferSize:   64 << 10,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := nd.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			bc = &BatchConn{Conn: c}
			return bc, nil
		},
	}
	if c.opts.RootCAs != nil {
		d.TLSClientConfig = &tls.Config{RootCAs: c.opts.RootCAs, MinVersion: tls.VersionTLS12}
	}
	// The URL is dialed verbatim: its query may hold '+', '/', '=' (§1.2).
	ws, resp, err := d.DialContext(ctx, streamURL, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial data channel %s: HTTP %s: %w", redactURL(streamURL), resp.Status, err)
		}
		return nil, fmt.Errorf("dial data channel %s: %w", redactURL(streamURL), err)
	}
	open, _ := json.Marshal(wire.OpenDataChannelInput{
		MessageSchemaVersion: wire.OpenSchemaVersion,
		RequestID:            uuid.NewString(),
		TokenValue:           token,
		ClientID:             processClientID,
		ClientVersion:        ClientVersion,
	})
	if dl, ok := ctx.Deadline(); ok {
		ws.SetWriteDeadline(dl)
	}
	if err := ws.WriteMessage(websocket.TextMessage, open); err != nil {
		ws.Close()
		return nil, fmt.Errorf("send open frame for session %s: %w", c.sessionID, err)
	}
	ws.SetWriteDeadline(time.Time{})
	fc := NewWebSocketFrameConn(ws, c.opts.PingInterval).(*wsFrameConn)
	fc.batch = bc
	return fc, nil
}

// handshake waits for the agent's handshake (§7) or legacy shell output.
func (c *channel) handshake(ctx context.Context) error {
	for {
		pt, p, err := c.stream.Recv(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("wait for handshake: %w", ctx.Err())
			}
			if e := c.stream.Err(); e != nil {
				var cc *ChannelClosedError
				if c.challenged && errors.As(e, &cc) {
					// The agent ended the session right after checking our
					// challenge answer: it rejected it (§8.4).
					return &ChallengeError{Err: e}
				}
				return e // channel_closed (with Output), refused socket, protocol error
			}
			return err
		}
		switch pt {
		case wire.PayloadHandshakeRequest:
			if err := c.answerHandshake(ctx, p); err != nil {
				return err
			}
		case wire.PayloadHandshakeComplete:
			if c.sessionType == "" {
				return &ProtocolError{Op: "handshake", Err: errors.New("HandshakeComplete without a SessionType action")}
			}
			var hc wire.HandshakeComplete
			if err := json.Unmarshal(p, &hc); err == nil {
				c.customerMessage = hc.CustomerMessage
			}
			c.log.Debug("handshake complete", "agentVersion", c.agentVersion, "sessionType", c.sessionType)
			return nil
		case wire.PayloadOutput:
			if c.sessionType == "" {
				// §7.6 legacy path: output before any handshake is a shell.
				c.sessionType = wire.SessionTypeStandardStream
				c.first = p
				return nil
			}
		case wire.PayloadEncChallengeRequest:
			if c.cipher == nil {
				return &ProtocolError{Op: "handshake", Err: errors.New("encryption challenge without KMS encryption")}
			}
			if err := c.answerChallenge(ctx, p); err != nil {
				return err
			}
		}
	}
}

// enableKMS answers a KMSEncryption action (§8.1): GenerateDataKey with the
// session's encryption context, encryption on at once. Port sessions never
// use KMS; a request for it there is refused with ErrEncryptionUnsupported.
func (c *channel) enableKMS(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
	if c.sessionType == "" || c.sessionType == wire.SessionTypePort {
		return nil, fmt.Errorf("%w: the agent asked for KMS encryption on a %s session, which Session Manager only encrypts for shells", ErrEncryptionUnsupported, cmp.Or(c.sessionType, "untyped"))
	}
	var req wire.KMSEncryptionRequest
	if err := json.Unmarshal(params, &req); err != nil || req.KMSKeyID == "" {
		return nil, &ProtocolError{Op: "parse KMSEncryption action", Err: cmp.Or(err, errors.New("no KMSKeyId"))}
	}
	c.kmsKeyID = req.KMSKeyID
	// §8.4: with a Challenge we bind it into the context and acknowledge,
	// so the agent adds it to its Decrypt context too. Without one (older
	// agents, or agents that do not offer it) the plain context is used.
	plain, blob, err := generateDataKey(ctx, c.opts.KMS, req.KMSKeyID, c.sessionID, c.target, req.Challenge)
	if err != nil {
		return nil, err
	}
	pc, err := NewPayloadCipher(RoleClient, plain)
	clear(plain)
	if err != nil {
		return nil, err
	}
	c.cipher = pc
	c.stream.SetCipher(pc)
	res, _ := json.Marshal(wire.KMSEncryptionResult{KMSCipherTextKey: blob, ChallengeAcknowledgement: req.Challenge != ""})
	c.log.Debug("KMS encryption on", "key", req.KMSKeyID, "randomChallenge", req.Challenge != "")
	return res, nil
}

// answerChallenge decrypts the agent's EncChallengeRequest with the
// agent→client key and returns it sealed with the client→agent key (§8.4).
func (c *channel) answerChallenge(ctx context.Context, p []byte) error {
	var ch wire.EncChallenge
	if err := json.Unmarshal(p, &ch); err != nil {
		return &ProtocolError{Op: "parse EncChallengeRequest", Err: err}
	}
	plain, err := c.cipher.Open(ch.Challenge)
	if err != nil {
		return &ChallengeError{Err: errors.New("the agent's challenge does not decrypt with the session key")}
	}
	b, _ := json.Marshal(wire.EncChallenge{Challenge: c.cipher.Seal(plain)})
	if err := c.stream.Send(ctx, wire.PayloadEncChallengeResponse, b); err != nil {
		return fmt.Errorf("send EncChallengeResponse: %w", err)
	}
	c.challenged = true
	return nil
}

func (c *channel) answerHandshake(ctx context.Context, p []byte) error {
	var req wire.HandshakeRequest
	if err := json.Unmarshal(p, &req); err != nil {
		return &ProtocolError{Op: "parse HandshakeRequest", Err: err}
	}
	c.agentVersion = req.AgentVersion
	resp := wire.HandshakeResponse{ClientVersion: ClientVersion}
	var fatal error
	for _, a := range req.RequestedClientActions {
		pa := wire.ProcessedClientAction{ActionType: a.ActionType}
		switch a.ActionType {
		case wire.ActionSessionType:
			var st wire.SessionTypeRequest
			if err := json.Unmarshal(a.ActionParameters, &st); err != nil {
				pa.ActionStatus, pa.Error = wire.ActionFailed, "malformed SessionType parameters"
				fatal = &ProtocolError{Op: "parse SessionType action", Err: err}
				break
			}
			switch st.SessionType {
			case wire.SessionTypeStandardStream, wire.SessionTypeInteractiveCommands, wire.SessionTypeNonInteractiveCommands, wire.SessionTypePort:
				c.sessionType, c.properties = st.SessionType, st.Properties
				pa.ActionStatus = wire.ActionSuccess
			default:
				pa.ActionStatus, pa.Error = wire.ActionFailed, "unsupported session type "+st.SessionType
				fatal = &ProtocolError{Op: "handshake", Err: fmt.Errorf("unsupported session type %q", st.SessionType)}
			}
		case wire.ActionKMSEncryption:
			if fatal != nil {
				pa.ActionStatus, pa.Error = wire.ActionFailed, "handshake already failed"
				break
			}
			res, err := c.enableKMS(ctx, a.ActionParameters)
			if err != nil {
				pa.ActionStatus, pa.Error = wire.ActionFailed, err.Error()
				if errors.Is(err, ErrEncryptionUnsupported) {
					pa.ActionStatus = wire.ActionUnsupported
				}
				fatal = err
				break
			}
			pa.ActionStatus, pa.ActionResult = wire.ActionSuccess, res
		default:
			pa.ActionStatus, pa.Error = wire.ActionUnsupported, "unsupported action "+a.ActionType
		}
		if pa.Error != "" {
			resp.Errors = append(resp.Errors, pa.Error)
		}
		resp.ProcessedClientActions = append(resp.ProcessedClientActions, pa)
	}
	b, _ := json.Marshal(resp)
	if err := c.stream.Send(ctx, wire.PayloadHandshakeResponse, b); err != nil {
		return fmt.Errorf("send HandshakeResponse: %w", err)
	}
	if fatal != nil {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		c.stream.Flush(fctx) // let the agent see why
		cancel()
	}
	return fatal
}

// resumeLoop reattaches the stream after transport loss (§2.4, §1.5).
func (c *channel) resumeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.stream.Done():
			return
		case cause := <-c.detach:
			c.resume(cause)
		}
	}
}

func (c *channel) resume(cause error) {
	c.log.Debug("data channel lost, resuming", "err", cause)
	// A socket that dies again before delivering a single frame (the
	// service accepts, then drops us) continues the previous cycle: same
	// budget, growing delay. Only a socket that carried traffic resets it.
	if c.stream.framesReceived() != c.rxAtAttach || c.cycleStart.IsZero() {
		c.cycleStart = time.Now()
		c.delay = time.Duration(100+rand.IntN(100)) * time.Millisecond
		c.attempts = 0
	} else {
		if time.Since(c.cycleStart)+c.delay > c.opts.ResumeTimeout {
			c.stream.Fail(&ResumeError{SessionID: c.sessionID, Attempts: c.attempts, Elapsed: time.Since(c.cycleStart), Err: cause})
			return
		}
		if !c.sleep(c.delay) {
			return
		}
		c.delay = min(c.delay*2, resumeMaxDelay)
	}
	last := cause
	for {
		c.attempts++
		err, fatal := c.resumeOnce()
		if err == nil {
			c.log.Debug("data channel resumed", "attempt", c.attempts)
			return
		}
		if c.ctx.Err() != nil {
			return
		}
		last = err
		c.log.Debug("resume attempt failed", "attempt", c.attempts, "err", err)
		if fatal {
			c.stream.Fail(err)
			return
		}
		if time.Since(c.cycleStart)+c.delay > c.opts.ResumeTimeout {
			c.stream.Fail(&ResumeError{SessionID: c.sessionID, Attempts: c.attempts, Elapsed: time.Since(c.cycleStart), Err: last})
			return
		}
		if !c.sleep(c.delay) {
			return
		}
		c.delay = min(c.delay*2, resumeMaxDelay)
	}
}

// sleep waits d unless the stream ends first (then it reports false).
func (c *channel) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stream.Done():
		return false
	}
}

func (c *channel) resumeOnce() (err error, fatal bool) {
	ctx, cancel := context.WithTimeout(c.ctx, 30*time.Second)
	defer cancel()
	out, err := c.api.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(c.sessionID)})
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && ae.ErrorCode() == "DoesNotExistException" {
			return &SessionTerminatedError{SessionID: c.sessionID, Reason: "the service no longer knows it (ResumeSession: DoesNotExist)"}, true
		}
		return fmt.Errorf("resume session %s: %w", c.sessionID, err), false
	}
	if aws.ToString(out.TokenValue) == "" {
		return &SessionTerminatedError{SessionID: c.sessionID, Reason: "timed out (ResumeSession returned no token)"}, true
	}
	c.mu.Lock()
	if u := aws.ToString(out.StreamUrl); u != "" {
		c.streamURL = u
	}
	c.token = aws.ToString(out.TokenValue)
	u, tok := c.streamURL, c.token
	c.mu.Unlock()
	fc, err := c.dialWS(ctx, u, tok)
	if err != nil {
		return err, false
	}
	c.rxAtAttach = c.stream.framesReceived()
	if err := c.stream.Attach(fc); err != nil {
		return err, true
	}
	return nil, false
}

// terminate calls the TerminateSession API (best effort, bounded).
func (c *channel) terminate(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, err := c.api.TerminateSession(ctx, terminateInput(c.sessionID))
	if err != nil {
		return fmt.Errorf("terminate session %s: %w", c.sessionID, err)
	}
	return nil
}

// close ends the channel: optional flag with a short wait for its ack, the
// stream, the resume loop, then TerminateSession unless the service already
// closed the channel. It returns the first error.
func (c *channel) close(flag wire.Flag) error {
	var err error
	c.closeOnce.Do(func() {
		ended := c.stream.Err() != nil
		budget := c.opts.CloseTimeout
		if flag != 0 && !ended {
			ctx, cancel := context.WithTimeout(context.Background(), budget/2)
			if e := c.stream.Send(ctx, wire.PayloadFlag, wire.AppendFlag(nil, flag)); e == nil {
				c.stream.Flush(ctx)
			}
			cancel()
		}
		var cc *ChannelClosedError
		remoteClosed := errors.As(c.stream.Err(), &cc)
		c.stream.Close()
		c.cancel()
		c.wg.Wait()
		// Always terminate so no session is left open; after channel_closed
		// the session is already over and a failure does not matter.
		if e := c.terminate(max(budget/2, 500*time.Millisecond)); e != nil {
			c.log.Debug("terminate session failed", "err", e)
			if !remoteClosed {
				err = e
			}
		}
	})
	return err
}

// version parses a four-part numeric version; ok is false otherwise.
func version(s string) (v [4]uint64, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 10, 64)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// versionGreater reports a > b for four-part versions, like the plugin:
// anything unparsable is "not greater".
func versionGreater(a, b string) bool {
	va, ok1 := version(a)
	vb, ok2 := version(b)
	if !ok1 || !ok2 {
		return false
	}
	for i := range va {
		if va[i] != vb[i] {
			return va[i] > vb[i]
		}
	}
	return false
}

func terminateInput(id string) *ssm.TerminateSessionInput {
	return &ssm.TerminateSessionInput{SessionId: aws.String(id)}
}
