package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

const (
	testAKID     = "AKIDSANDBOXTEST1"
	testSecret   = "sandbox-secret"
	testRegion   = "us-east-1"
	instOnline   = "i-0123456789abcdef0"
	instStopped  = "i-0aaaaaaaaaaaaaaa1"
	instLost     = "i-0bbbbbbbbbbbbbbb2"
	instExternal = "i-0ccccccccccccccc3"
	instNoSSH    = "i-0ddddddddddddddd4"
)

// testFleet is a small fleet covering the StartSession cases.
func testFleet() *sandbox.Fleet {
	return &sandbox.Fleet{Accounts: []sandbox.Account{{
		ID:              "123456789012",
		AccessKeyID:     testAKID,
		SecretAccessKey: testSecret,
		UserARN:         "arn:aws:iam::123456789012:user/alice",
		Regions:         []string{testRegion, "eu-west-1"},
		Instances: []sandbox.Instance{
			{ID: instOnline, Region: testRegion, Name: "web", PlatformName: "Amazon Linux", PrivateIP: "10.0.1.23"},
			{ID: instStopped, Region: testRegion, State: "stopped"},
			{ID: instLost, Region: testRegion, PingStatus: "ConnectionLost"},
			{ID: instExternal, Region: testRegion, External: true},
			{ID: instNoSSH, Region: testRegion, NoSSH: true},
		},
	}}}
}

func startSandbox(t testing.TB, opts sandbox.Options) *sandbox.Sandbox {
	t.Helper()
	if opts.Fleet == nil {
		opts.Fleet = testFleet()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start sandbox: %v", err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

func awsConfig(t testing.TB, endpoint string, opts ...func(*config.LoadOptions) error) aws.Config {
	t.Helper()
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	base := []func(*config.LoadOptions) error{
		config.WithRegion(testRegion),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(testAKID, testSecret, "")),
		config.WithBaseEndpoint(endpoint),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	}
	cfg, err := config.LoadDefaultConfig(context.Background(), append(base, opts...)...)
	if err != nil {
		t.Fatalf("load aws config: %v", err)
	}
	return cfg
}

func ssmClient(t testing.TB, sb *sandbox.Sandbox) *ssm.Client {
	return ssm.NewFromConfig(awsConfig(t, sb.URL()))
}

func testContext(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// echoServer listens on loopback and echoes every connection; cleanup
// closes the listener and every connection.
func echoServer(t testing.TB) int {
	return tcpServer(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
}

// tcpServer serves every loopback connection with h.
func tcpServer(t testing.TB, h func(net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				h(c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// testClient is a minimal Session Manager client on top of session.Stream
// (the role the plugin plays): open frame, handshake, resume on socket loss.
type testClient struct {
	t         testing.TB
	api       *ssm.Client
	id        string
	streamURL string
	dialer    *websocket.Dialer
	st        *session.Stream
	clientID  string

	mu        sync.Mutex
	resumes   int
	resumeErr error

	AgentVersion string
	Properties   json.RawMessage
	SessionType  string
}

const testClientVersion = "1.2.707.0"

// openClient dials out's StreamUrl verbatim and attaches a client stream.
func openClient(t testing.TB, api *ssm.Client, out *ssm.StartSessionOutput, dialer *websocket.Dialer) *testClient {
	t.Helper()
	if dialer == nil {
		dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	}
	c := &testClient{t: t, api: api, id: aws.ToString(out.SessionId), streamURL: aws.ToString(out.StreamUrl), dialer: dialer, clientID: uuid.NewString()}
	c.st = session.NewStream(session.StreamConfig{Role: session.RoleClient, OnDetach: c.onDetach})
	fc, err := c.dial(aws.ToString(out.TokenValue))
	if err != nil {
		t.Fatalf("open data channel: %v", err)
	}
	if err := c.st.Attach(fc); err != nil {
		t.Fatalf("attach: %v", err)
	}
	t.Cleanup(func() { _ = c.st.Close() })
	return c
}

func (c *testClient) dial(token string) (session.FrameConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, resp, err := c.dialer.DialContext(ctx, c.streamURL, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, err
	}
	open, _ := json.Marshal(wire.OpenDataChannelInput{
		MessageSchemaVersion: "1.0", RequestID: uuid.NewString(), TokenValue: token,
		ClientID: c.clientID, ClientVersion: testClientVersion,
	})
	if err := ws.WriteMessage(websocket.TextMessage, open); err != nil {
		_ = ws.Close()
		return nil, err
	}
	return session.NewWebSocketFrameConn(ws, 0), nil
}

// onDetach resumes like the plugin: ResumeSession, then redial with the new
// token (adopting a new StreamUrl), keeping all stream state.
func (c *testClient) onDetach(error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var last error
	for attempt := 0; attempt < 20 && ctx.Err() == nil; attempt++ {
		out, err := c.api.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(c.id)})
		if err != nil {
			last = err
			break
		}
		if u := aws.ToString(out.StreamUrl); u != "" {
			c.streamURL = u
		}
		fc, err := c.dial(aws.ToString(out.TokenValue))
		if err != nil {
			last = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if err := c.st.Attach(fc); err != nil {
			return
		}
		c.mu.Lock()
		c.resumes++
		c.mu.Unlock()
		return
	}
	c.mu.Lock()
	c.resumeErr = last
	c.mu.Unlock()
	c.st.Fail(fmt.Errorf("resume session %s: %w", c.id, last))
}

func (c *testClient) Resumes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resumes
}

// handshake answers the agent's HandshakeRequest and waits for
// HandshakeComplete.
func (c *testClient) handshake(ctx context.Context) error {
	for {
		pt, p, err := c.st.Recv(ctx)
		if err != nil {
			return fmt.Errorf("handshake: %w", err)
		}
		switch pt {
		case wire.PayloadHandshakeRequest:
			var req wire.HandshakeRequest
			if err := json.Unmarshal(p, &req); err != nil {
				return err
			}
			c.AgentVersion = req.AgentVersion
			var acts []wire.ProcessedClientAction
			for _, a := range req.RequestedClientActions {
				if a.ActionType == wire.ActionSessionType {
					var st wire.SessionTypeRequest
					_ = json.Unmarshal(a.ActionParameters, &st)
					c.SessionType, c.Properties = st.SessionType, st.Properties
				}
				acts = append(acts, wire.ProcessedClientAction{ActionType: a.ActionType, ActionStatus: wire.ActionSuccess})
			}
			resp, _ := json.Marshal(wire.HandshakeResponse{ClientVersion: testClientVersion, ProcessedClientActions: acts})
			if err := c.st.Send(ctx, wire.PayloadHandshakeResponse, resp); err != nil {
				return err
			}
		case wire.PayloadHandshakeComplete:
			return nil
		default:
			return fmt.Errorf("unexpected %v before handshake complete", pt)
		}
	}
}

// readOutput collects Output payloads until n bytes have arrived.
func (c *testClient) readOutput(ctx context.Context, n int) ([]byte, error) {
	var got []byte
	for len(got) < n {
		pt, p, err := c.st.Recv(ctx)
		if err != nil {
			return got, err
		}
		if pt == wire.PayloadOutput {
			got = append(got, p...)
		}
	}
	return got, nil
}

// waitEnd reads until the stream ends and returns its terminal error.
func (c *testClient) waitEnd(ctx context.Context) error {
	for {
		_, _, err := c.st.Recv(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return c.st.Err()
			}
			return err
		}
	}
}

// streamConn is a net.Conn over a test client's Output stream (enough for
// x/crypto/ssh and smux; deadlines are not supported).
type streamConn struct {
	c   *testClient
	ctx context.Context
	buf []byte
}

func (s *streamConn) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		pt, b, err := s.c.st.Recv(s.ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			return 0, err
		}
		if pt == wire.PayloadOutput {
			s.buf = b
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *streamConn) Write(p []byte) (int, error)      { return s.c.st.Write(s.ctx, wire.PayloadOutput, p) }
func (s *streamConn) Close() error                     { return nil }
func (s *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (s *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 22} }
func (s *streamConn) SetDeadline(time.Time) error      { return nil }
func (s *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }
