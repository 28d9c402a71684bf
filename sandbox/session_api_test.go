package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

func TestStartSessionErrors(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	euAPI := ssm.NewFromConfig(awsConfig(t, sb.URL()), func(o *ssm.Options) { o.Region = "eu-west-1" })
	ctx := testContext(t, 30*time.Second)
	for name, tc := range map[string]struct {
		api    *ssm.Client
		in     ssm.StartSessionInput
		code   string
		typed  func(error) bool
		substr string
	}{
		"unknown document": {in: ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-NoSuchDocument")},
			code: "InvalidDocument", typed: func(err error) bool { var e *types.InvalidDocument; return errors.As(err, &e) }, substr: "AWS-NoSuchDocument"},
		"stopped instance": {in: ssm.StartSessionInput{Target: aws.String(instStopped)},
			code: "TargetNotConnected", typed: func(err error) bool { var e *types.TargetNotConnected; return errors.As(err, &e) }, substr: instStopped + " is not connected."},
		"agent connection lost": {in: ssm.StartSessionInput{Target: aws.String(instLost)},
			code: "TargetNotConnected", substr: instLost + " is not connected."},
		"unknown instance": {in: ssm.StartSessionInput{Target: aws.String("i-0fffffffffffffff9")},
			code: "TargetNotConnected", substr: "is not connected."},
		"instance in another region": {api: euAPI, in: ssm.StartSessionInput{Target: aws.String(instOnline)},
			code: "TargetNotConnected"},
		"not an instance id": {in: ssm.StartSessionInput{Target: aws.String("web-server")}, code: "InvalidInstanceId"},
		"unknown parameter": {in: ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
			Parameters: map[string][]string{"color": {"red"}}}, code: "InvalidParameters", substr: "color"},
		"bad port": {in: ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartPortForwardingSession"),
			Parameters: map[string][]string{"portNumber": {"99999"}}}, code: "InvalidParameters", substr: "portNumber"},
		"remote host without host": {in: ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartPortForwardingSessionToRemoteHost")},
			code: "InvalidParameters", substr: "host"},
	} {
		t.Run(name, func(t *testing.T) {
			c := api
			if tc.api != nil {
				c = tc.api
			}
			_, err := c.StartSession(ctx, &tc.in)
			var ae smithy.APIError
			if !errors.As(err, &ae) || ae.ErrorCode() != tc.code {
				t.Fatalf("err = %v, want code %s", err, tc.code)
			}
			if tc.typed != nil && !tc.typed(err) {
				t.Fatalf("err %T is not the modelled type", err)
			}
			if !strings.Contains(ae.ErrorMessage(), tc.substr) {
				t.Fatalf("message %q lacks %q", ae.ErrorMessage(), tc.substr)
			}
		})
	}
}

func TestSessionLifecycleAPIs(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	port := echoServer(t)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"), Reason: aws.String("debugging"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	id := aws.ToString(out.SessionId)
	if !regexpMatch(`^alice-[a-z0-9]{26}$`, id) {
		t.Fatalf("SessionId %q", id)
	}
	u := aws.ToString(out.StreamUrl)
	if !strings.HasPrefix(u, strings.Replace(sb.URL(), "http://", "ws://", 1)+"/v1/data-channel/"+id+"?role=publish_subscribe&cell-number=") ||
		!strings.ContainsAny(u[strings.Index(u, "cell-number="):], "+/") {
		t.Fatalf("StreamUrl %q", u)
	}
	if aws.ToString(out.TokenValue) == "" {
		t.Fatal("no token")
	}

	if _, err := api.DescribeSessions(ctx, &ssm.DescribeSessionsInput{}); err == nil {
		t.Fatal("DescribeSessions without State succeeded")
	}
	active, err := api.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateActive,
		Filters: []types.SessionFilter{{Key: types.SessionFilterKeyTargetId, Value: aws.String(instOnline)}}})
	if err != nil || len(active.Sessions) != 1 || aws.ToString(active.Sessions[0].SessionId) != id ||
		active.Sessions[0].Status != types.SessionStatusConnecting || aws.ToString(active.Sessions[0].DocumentName) != "AWS-StartSSHSession" ||
		aws.ToString(active.Sessions[0].Owner) != "arn:aws:iam::123456789012:user/alice" {
		t.Fatalf("active sessions %+v %v", active, err)
	}

	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := api.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	if err != nil || aws.ToString(res.TokenValue) == "" || aws.ToString(res.TokenValue) == aws.ToString(out.TokenValue) {
		t.Fatalf("ResumeSession %+v %v", res, err)
	}
	if _, err := api.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String(id)}); err != nil {
		t.Fatal(err)
	}
	// TerminateSession reaches the client as channel_closed.
	err = c.waitEnd(ctx)
	var cc *session.ChannelClosedError
	if !errors.As(err, &cc) || cc.SessionID != id {
		t.Fatalf("client end: %v", err)
	}
	hist, err := api.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateHistory})
	if err != nil || len(hist.Sessions) != 1 || hist.Sessions[0].Status != types.SessionStatusTerminated || hist.Sessions[0].EndDate == nil {
		t.Fatalf("history %+v %v", hist, err)
	}
	_, err = api.ResumeSession(ctx, &ssm.ResumeSessionInput{SessionId: aws.String(id)})
	var dne *types.DoesNotExistException
	if !errors.As(err, &dne) {
		t.Fatalf("resume after terminate: %v", err)
	}
	_, err = api.TerminateSession(ctx, &ssm.TerminateSessionInput{SessionId: aws.String("alice-nosuchsession")})
	if !errors.As(err, &dne) {
		t.Fatalf("terminate unknown: %v", err)
	}
}

// rawOpen dials a StreamUrl and sends an open frame with token.
func rawOpen(t *testing.T, url, token string) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	open, _ := json.Marshal(wire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: uuid.NewString(), TokenValue: token, ClientID: uuid.NewString()})
	if err := ws.WriteMessage(websocket.TextMessage, open); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	return ws
}

// rejected asserts that the gateway refuses the open with a policy close.
func rejected(t *testing.T, ws *websocket.Conn, reason string) {
	t.Helper()
	for {
		_, _, err := ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || !strings.Contains(ce.Text, reason) {
			t.Fatalf("open not rejected with %q: %v", reason, err)
		}
		return
	}
}

func TestDataChannelOpenRejected(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(echoServer(t))}}})
	if err != nil {
		t.Fatal(err)
	}
	u := aws.ToString(out.StreamUrl)
	rejected(t, rawOpen(t, u, "wrong-token"), "token")
	// A re-encoded cell-number (+ as %2B) is refused, the token stays valid.
	cut := strings.Index(u, "cell-number=") + len("cell-number=")
	reenc := u[:cut] + strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(u[cut:])
	rejected(t, rawOpen(t, reenc, aws.ToString(out.TokenValue)), "cell-number")
	// The real token works once (the agent's pause_publication arrives or
	// the handshake), then is used up.
	ws := rawOpen(t, u, aws.ToString(out.TokenValue))
	if mt, _, err := ws.ReadMessage(); err != nil || mt != websocket.BinaryMessage {
		t.Fatalf("valid open: %v", err)
	}
	rejected(t, rawOpen(t, u, aws.ToString(out.TokenValue)), "token")
	// Unknown session path.
	rejected(t, rawOpen(t, strings.Replace(u, aws.ToString(out.SessionId), "alice-unknown", 1), aws.ToString(out.TokenValue)), "unknown session")
}

// TestMalformedFramesToClient: a corrupt digest or a truncated frame from
// the service ends the client stream with a typed wire error, no hang.
func TestMalformedFramesToClient(t *testing.T) {
	for name, tc := range map[string]struct {
		mangle func([]byte) []byte
		check  func(error) bool
	}{
		"corrupt digest": {
			mangle: func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
			check:  func(err error) bool { var e *wire.DigestError; return errors.As(err, &e) },
		},
		"truncated frame": {
			mangle: func(b []byte) []byte { return b[:60] },
			check:  func(err error) bool { var e *wire.TruncatedError; return errors.As(err, &e) },
		},
	} {
		t.Run(name, func(t *testing.T) {
			sb := startSandbox(t, sandbox.Options{})
			api := ssmClient(t, sb)
			ctx := testContext(t, 30*time.Second)
			out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
				Parameters: map[string][]string{"portNumber": {strconv.Itoa(echoServer(t))}}})
			if err != nil {
				t.Fatal(err)
			}
			c := openClient(t, api, out, nil)
			if err := c.handshake(ctx); err != nil {
				t.Fatal(err)
			}
			m := wire.Message{MessageType: wire.TypeOutputStreamData, SchemaVersion: 1, CreatedDate: uint64(time.Now().UnixMilli()),
				SequenceNumber: 2, MessageID: uuid.New(), PayloadType: wire.PayloadOutput, Payload: []byte("hello")}
			frame, _ := wire.AppendMessage(nil, &m)
			if err := sb.SendToClient(aws.ToString(out.SessionId), tc.mangle(frame)); err != nil {
				t.Fatal(err)
			}
			_, _, err = c.st.Recv(ctx)
			if err == nil || !tc.check(err) || ctx.Err() != nil {
				t.Fatalf("Recv after a malformed frame: %v (%T)", err, err)
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
		})
	}
}

// TestExternalAgent: an instance marked External is served by whatever
// agent polls the assignment endpoint and joins with the agent token.
func TestExternalAgent(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{ExternalAgentWait: 10 * time.Second}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	joined := make(chan error, 1)
	go func() { joined <- runExternalAgent(ctx, sb.URL()+sandbox.AgentSessionsPath+instExternal) }()
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instExternal), DocumentName: aws.String("AWS-StartSSHSession")})
	if err != nil {
		t.Fatalf("StartSession with an external agent: %v", err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	if c.AgentVersion != "9.9.9.9" {
		t.Fatalf("agent version %q: not the external agent", c.AgentVersion)
	}
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	// Without an agent, StartSession gives up with TargetNotConnected.
	sb2 := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{ExternalAgentWait: 200 * time.Millisecond}})
	_, err = ssmClient(t, sb2).StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instExternal)})
	var tnc *types.TargetNotConnected
	if !errors.As(err, &tnc) {
		t.Fatalf("no agent: %v", err)
	}
}

// runExternalAgent plays a minimal outside agent: poll, join, handshake.
func runExternalAgent(ctx context.Context, pollURL string) error {
	var as sandbox.AgentAssignment
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, pollURL, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		if resp.StatusCode == http.StatusOK {
			err = json.NewDecoder(resp.Body).Decode(&as)
			resp.Body.Close()
			if err != nil {
				return err
			}
			break
		}
		resp.Body.Close()
	}
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, as.StreamURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return err
	}
	open, _ := json.Marshal(wire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: uuid.NewString(), TokenValue: as.TokenValue, ClientInstanceID: instExternal})
	if err := ws.WriteMessage(websocket.TextMessage, open); err != nil {
		return err
	}
	st := session.NewStream(session.StreamConfig{Role: session.RoleAgent})
	if err := st.Attach(session.NewWebSocketFrameConn(ws, 0)); err != nil {
		return err
	}
	go func() { <-ctx.Done(); st.Close() }()
	params, _ := json.Marshal(wire.SessionTypeRequest{SessionType: as.SessionType, Properties: json.RawMessage(`{"portNumber":"22"}`)})
	req, _ := json.Marshal(wire.HandshakeRequest{AgentVersion: "9.9.9.9", RequestedClientActions: []wire.RequestedClientAction{{ActionType: "SessionType", ActionParameters: params}}})
	if err := st.Send(ctx, wire.PayloadHandshakeRequest, req); err != nil {
		return err
	}
	pt, _, err := st.Recv(ctx)
	if err != nil || pt != wire.PayloadHandshakeResponse {
		return fmt.Errorf("external agent: got %v, %v", pt, err)
	}
	return st.Send(ctx, wire.PayloadHandshakeComplete, []byte(`{"HandshakeTimeToComplete":1,"CustomerMessage":""}`))
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// TestUpgradeWithSigV4AndPing: newer plugins SigV4-sign the upgrade (the
// gateway ignores the headers) and ping with "keepalive" (answered).
func TestUpgradeWithSigV4AndPing(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(echoServer(t))}}})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+testAKID+"/20261128/us-east-1/ssmmessages/aws4_request, SignedHeaders=host;x-amz-date, Signature=00")
	h.Set("X-Amz-Date", "20261128T120000Z")
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, aws.ToString(out.StreamUrl), h)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		t.Fatalf("signed upgrade: %v", err)
	}
	defer ws.Close()
	open, _ := json.Marshal(wire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: uuid.NewString(), TokenValue: aws.ToString(out.TokenValue)})
	if err := ws.WriteMessage(websocket.TextMessage, open); err != nil {
		t.Fatal(err)
	}
	pong := make(chan string, 1)
	ws.SetPongHandler(func(p string) error {
		select {
		case pong <- p:
		default:
		}
		return nil
	})
	if err := ws.WriteControl(websocket.PingMessage, []byte("keepalive"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case p := <-pong:
		if p != "keepalive" {
			t.Fatalf("pong payload %q", p)
		}
	case <-ctx.Done():
		t.Fatal("no pong")
	}
}

// TestCommandDocuments: AWS-StartInteractiveCommand runs its command in a
// PTY (legacy shell path) and the session ends when it exits.
func TestCommandDocuments(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{Shell: "/bin/sh"}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	for _, doc := range []string{"AWS-StartInteractiveCommand", "AWS-StartNonInteractiveCommand"} {
		out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String(doc),
			Parameters: map[string][]string{"command": {"echo ran-$((6*7)) on $SSMTUI_INSTANCE_ID"}}})
		if err != nil {
			t.Fatal(err)
		}
		c := openClient(t, api, out, nil)
		var screen []byte
		for {
			_, p, err := c.st.Recv(ctx)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("%s: %v", doc, err)
				}
				break
			}
			screen = append(screen, p...)
		}
		if !strings.Contains(string(screen), "ran-42 on "+instOnline) {
			t.Fatalf("%s output %q", doc, screen)
		}
	}
}
