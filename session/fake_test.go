package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/xtaci/smux"

	"github.com/ssmtui/ssmtui/session/wire"
)

const testTarget = "i-0123456789abcdef0"

// fakeService plays the SSM API, the gateway and the agent in one
// httptest server. Its agent uses a RoleAgent Stream.
type fakeService struct {
	t   *testing.T
	srv *httptest.Server

	// Behaviour knobs, set before use.
	startErr        string // StartSession fails with this __type
	resumeErr       string // ResumeSession fails with this __type
	agentVersion    string
	sessionType     string
	props           any
	kms             bool
	kmsBadChallenge bool // with kms on a shell: a challenge under the wrong key
	kmsRejectAnswer bool // with kms on a shell: reject the client's challenge answer
	legacyShell     bool
	rawFirst        func() []byte // if set, sent on the socket instead of the agent (bad frames)
	refuse          bool          // close every socket after the open frame

	mu         sync.Mutex
	minted     int
	sessions   map[string]*fakeSession
	tokens     map[string]string
	opens      []wire.OpenDataChannelInput
	queries    []string
	terminated []string
	resumes    int
	started    []map[string]any
}

type fakeSession struct {
	id     string
	agent  *Stream
	fc     *lockedFC
	flags  chan wire.Flag
	sizes  chan wire.Size
	hsResp chan wire.HandshakeResponse
	closed chan struct{}
}

// lockedFC lets the fake gateway write raw frames next to the agent stream.
type lockedFC struct {
	ws *websocket.Conn
	mu sync.Mutex
}

func (l *lockedFC) ReadMessage() ([]byte, error) {
	for {
		mt, b, err := l.ws.ReadMessage()
		if err != nil || mt == websocket.BinaryMessage {
			return b, err
		}
	}
}

func (l *lockedFC) WriteMessage(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ws.WriteMessage(websocket.BinaryMessage, b)
}

func (l *lockedFC) Close() error { return l.ws.Close() }

func newFakeService(t *testing.T) *fakeService {
	f := &fakeService{t: t, agentVersion: "3.3.1142.0", sessionType: wire.SessionTypePort,
		props: map[string]string{"portNumber": "22"}, sessions: map[string]*fakeSession{}, tokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /", f.api)
	mux.HandleFunc("GET /v1/data-channel/{id}", f.dataChannel)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.mu.Lock()
		for _, s := range f.sessions {
			s.agent.Close()
		}
		f.mu.Unlock()
		f.srv.Close()
	})
	return f
}

func (f *fakeService) awsConfig() aws.Config {
	f.t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", "")),
		config.WithBaseEndpoint(f.srv.URL),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		f.t.Fatal(err)
	}
	return cfg
}

func (f *fakeService) apiError(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(400)
	json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
}

// mint registers a fresh single-use token; the StreamUrl query carries an
// unescaped cell-number that must arrive verbatim.
func (f *fakeService) mint(id string) map[string]string {
	f.minted++
	tok := "tok-" + uuid.NewString()
	f.tokens[tok] = id
	u := "ws://" + f.srv.Listener.Addr().String() + "/v1/data-channel/" + id + "?role=publish_subscribe&cell-number=AB+c/d=" + fmt.Sprint(f.minted)
	return map[string]string{"SessionId": id, "TokenValue": tok, "StreamUrl": u}
}

func (f *fakeService) api(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	defer f.mu.Unlock()
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonSSM.")
	var out any
	switch op {
	case "StartSession":
		if f.startErr != "" {
			f.apiError(w, f.startErr, "fake "+f.startErr)
			return
		}
		f.started = append(f.started, in)
		id := fmt.Sprintf("alice-%017x", len(f.started))
		out = f.mint(id)
	case "ResumeSession":
		f.resumes++
		if f.resumeErr != "" {
			f.apiError(w, f.resumeErr, "fake "+f.resumeErr)
			return
		}
		out = f.mint(in["SessionId"].(string))
	case "TerminateSession":
		f.terminated = append(f.terminated, in["SessionId"].(string))
		out = map[string]any{"SessionId": in["SessionId"]}
	default:
		f.apiError(w, "UnknownOperationException", op)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func (f *fakeService) dataChannel(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	mt, b, err := ws.ReadMessage()
	var open wire.OpenDataChannelInput
	if err != nil || mt != websocket.TextMessage || json.Unmarshal(b, &open) != nil {
		ws.Close()
		return
	}
	id := r.PathValue("id")
	f.mu.Lock()
	f.opens = append(f.opens, open)
	f.queries = append(f.queries, r.URL.RawQuery)
	okTok := f.tokens[open.TokenValue] == id
	delete(f.tokens, open.TokenValue)
	s := f.sessions[id]
	refuse := f.refuse
	f.mu.Unlock()
	if !okTok || refuse {
		ws.Close() // the real service's signalling is unknown: just drop
		return
	}
	fc := &lockedFC{ws: ws}
	if s != nil { // resume: same agent stream, new socket
		f.mu.Lock()
		s.fc = fc
		f.mu.Unlock()
		s.agent.Attach(fc)
		return
	}
	if f.rawFirst != nil {
		fc.WriteMessage(f.rawFirst())
		go func() { io.Copy(io.Discard, ws.NetConn()) }()
		return
	}
	s = &fakeSession{id: id, fc: fc, flags: make(chan wire.Flag, 16), sizes: make(chan wire.Size, 16),
		hsResp: make(chan wire.HandshakeResponse, 1), closed: make(chan struct{})}
	s.agent = NewStream(StreamConfig{Role: RoleAgent})
	f.mu.Lock()
	f.sessions[id] = s
	f.mu.Unlock()
	s.agent.Attach(fc)
	go f.runAgent(s)
}

// channelClosed sends channel_closed on the current socket and closes it.
func (f *fakeService) channelClosed(s *fakeSession, output string) {
	f.mu.Lock()
	fc := s.fc
	f.mu.Unlock()
	p, _ := json.Marshal(wire.ChannelClosed{MessageType: wire.TypeChannelClosed, SessionID: s.id, SchemaVersion: 1, Output: output})
	m := wire.Message{MessageType: wire.TypeChannelClosed, SchemaVersion: 1, CreatedDate: 1, MessageID: uuid.New(), Payload: p}
	b, _ := wire.AppendLegacyMessage(nil, &m) // HL 112 like the service reportedly does
	for i := 4 + len(wire.TypeChannelClosed); i < 36; i++ {
		b[i] = 0
	}
	fc.WriteMessage(b)
	time.Sleep(10 * time.Millisecond)
	s.agent.Close()
}

func (f *fakeService) session(t *testing.T) *fakeSession {
	t.Helper()
	var s *fakeSession
	waitFor(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, x := range f.sessions {
			s = x
		}
		return s != nil
	})
	return s
}

func (f *fakeService) runAgent(s *fakeSession) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer close(s.closed)
	a := s.agent
	mode := "stdio"
	if f.legacyShell {
		a.Send(ctx, wire.PayloadOutput, []byte("$ "))
		mode = "shell"
	} else {
		props, _ := json.Marshal(f.props)
		params, _ := json.Marshal(wire.SessionTypeRequest{SessionType: f.sessionType, Properties: props})
		req := wire.HandshakeRequest{AgentVersion: f.agentVersion, RequestedClientActions: []wire.RequestedClientAction{{ActionType: wire.ActionSessionType, ActionParameters: params}}}
		if f.kms {
			kp, _ := json.Marshal(wire.KMSEncryptionRequest{KMSKeyID: "alias/x"})
			req.RequestedClientActions = append(req.RequestedClientActions, wire.RequestedClientAction{ActionType: wire.ActionKMSEncryption, ActionParameters: kp})
		}
		b, _ := json.Marshal(req)
		a.Send(ctx, wire.PayloadHandshakeRequest, b)
		pt, p, err := a.Recv(ctx)
		if err != nil || pt != wire.PayloadHandshakeResponse {
			return
		}
		var resp wire.HandshakeResponse
		json.Unmarshal(p, &resp)
		s.hsResp <- resp
		for _, act := range resp.ProcessedClientActions {
			if act.ActionStatus != wire.ActionSuccess {
				f.channelClosed(s, "handshake failed")
				return
			}
			if act.ActionType == wire.ActionKMSEncryption && !f.fakeKMSAgent(ctx, s, act) {
				return
			}
		}
		b, _ = json.Marshal(wire.HandshakeComplete{HandshakeTimeToComplete: time.Millisecond})
		a.Send(ctx, wire.PayloadHandshakeComplete, b)
		var pp wire.PortProperties
		json.Unmarshal(props, &pp)
		if f.sessionType != wire.SessionTypePort {
			mode = "shell"
		} else if pp.Type == wire.PortTypeLocalPortForwarding {
			mode = "basic"
			if versionGreater(f.agentVersion, "3.0.196.0") {
				mode = "mux"
			}
		}
	}
	if mode == "mux" {
		f.muxAgent(s)
		return
	}
	for {
		pt, p, err := a.Recv(context.Background())
		if err != nil {
			return
		}
		switch pt {
		case wire.PayloadOutput:
			if _, err := a.Write(context.Background(), wire.PayloadOutput, p); err != nil {
				return
			}
		case wire.PayloadSize:
			var sz wire.Size
			json.Unmarshal(p, &sz)
			s.sizes <- sz
		case wire.PayloadFlag:
			fl, _ := wire.ParseFlag(p)
			s.flags <- fl
			if fl == wire.FlagTerminateSession {
				a.Flush(ctx)
				f.channelClosed(s, "")
				return
			}
		}
	}
}

// muxAgent runs an smux server over the agent stream: streams echo, except
// that a stream whose first bytes are "FAIL" gets ConnectToPortError.
func (f *fakeService) muxAgent(s *fakeSession) {
	rw := newConn(s.agent, Addr{Target: "agent"}, Addr{Target: "client"}, nil)
	rw.onFlag = func(fl wire.Flag) {
		s.flags <- fl
		if fl == wire.FlagTerminateSession {
			go func() {
				s.agent.Flush(context.Background())
				f.channelClosed(s, "")
			}()
		}
	}
	cfg := smux.DefaultConfig()
	cfg.KeepAliveDisabled = true
	srv, err := smux.Server(rw, cfg)
	if err != nil {
		return
	}
	defer srv.Close()
	for {
		st, err := srv.AcceptStream()
		if err != nil {
			return
		}
		go func() {
			defer st.Close()
			buf := make([]byte, 4)
			if _, err := io.ReadFull(st, buf); err != nil {
				return
			}
			if string(buf) == "FAIL" {
				s.agent.Send(context.Background(), wire.PayloadFlag, wire.AppendFlag(nil, wire.FlagConnectToPortError))
				return
			}
			st.Write(buf)
			io.Copy(st, st)
		}()
	}
}

// dialFake dials through the fake service with small timeouts.
func dialFake(t *testing.T, f *fakeService, opts DialOptions) (*Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if opts.CloseTimeout == 0 {
		opts.CloseTimeout = 2 * time.Second
	}
	return Dial(ctx, f.awsConfig(), testTarget, opts)
}

var _ = net.ErrClosed

// fakeKMSAgent enables encryption on the fake agent: with fakeKMS the
// "ciphertext" is the data key itself. It runs the challenge and reports
// whether the handshake may complete.
func (f *fakeService) fakeKMSAgent(ctx context.Context, s *fakeSession, act wire.ProcessedClientAction) bool {
	var res wire.KMSEncryptionResult
	json.Unmarshal(act.ActionResult, &res)
	pc, err := NewPayloadCipher(RoleAgent, res.KMSCipherTextKey)
	if err != nil {
		f.channelClosed(s, "bad data key")
		return false
	}
	s.agent.SetCipher(pc)
	sealer := pc
	if f.kmsBadChallenge {
		other := make([]byte, DataKeySize)
		sealer, _ = NewPayloadCipher(RoleAgent, other)
	}
	plain := []byte(strings.Repeat("c", 64))
	b, _ := json.Marshal(wire.EncChallenge{Challenge: sealer.Seal(plain)})
	s.agent.Send(ctx, wire.PayloadEncChallengeRequest, b)
	pt, p, err := s.agent.Recv(ctx)
	if err != nil || pt != wire.PayloadEncChallengeResponse {
		return false
	}
	var ch wire.EncChallenge
	json.Unmarshal(p, &ch)
	if got, err := pc.Open(ch.Challenge); err != nil || string(got) != string(plain) || f.kmsRejectAnswer {
		f.channelClosed(s, "Encryption challenge failed")
		return false
	}
	return true
}

// fakeKMS is a KMSAPI whose CiphertextBlob is the plain data key.
type fakeKMS struct {
	err error
	mu  sync.Mutex
	in  []*kms.GenerateDataKeyInput
}

func (k *fakeKMS) GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, _ ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	k.mu.Lock()
	k.in = append(k.in, in)
	k.mu.Unlock()
	if k.err != nil {
		return nil, k.err
	}
	key := make([]byte, DataKeySize)
	for i := range key {
		key[i] = byte(i * 7)
	}
	return &kms.GenerateDataKeyOutput{Plaintext: key, CiphertextBlob: append([]byte(nil), key...), KeyId: in.KeyId}, nil
}
