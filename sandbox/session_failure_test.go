package sandbox_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

// TestHandshakeTimeoutFailsSession: a client that never answers the
// HandshakeRequest gets channel_closed with the agent's error text and the
// session lands in History as Failed.
func TestHandshakeTimeoutFailsSession(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{HandshakeTimeout: 300 * time.Millisecond}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(echoServer(t))}}})
	if err != nil {
		t.Fatal(err)
	}
	c := openClient(t, api, out, nil)
	err = c.waitEnd(ctx) // reads (and acks) the HandshakeRequest, never answers
	var cc *session.ChannelClosedError
	if !errors.As(err, &cc) || !strings.Contains(cc.Output, "Handshake timed out") {
		t.Fatalf("end: %v", err)
	}
	hist, err := api.DescribeSessions(ctx, &ssm.DescribeSessionsInput{State: types.SessionStateHistory})
	if err != nil || len(hist.Sessions) != 1 || hist.Sessions[0].Status != types.SessionStatusFailed {
		t.Fatalf("history %+v %v", hist, err)
	}
}

// TestNoSSHTargetFails: port 22 on an instance without SSH ends the stdio
// session with an explanatory channel_closed Output.
func TestNoSSHTargetFails(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instNoSSH), DocumentName: aws.String("AWS-StartSSHSession")})
	if err != nil {
		t.Fatal(err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	err = c.waitEnd(ctx)
	var cc *session.ChannelClosedError
	if !errors.As(err, &cc) || !strings.Contains(cc.Output, "port 22") {
		t.Fatalf("end: %v", err)
	}
}

// TestLegacyChannelClosed: the HL-112, NUL-padded channel_closed form is
// emitted on request and still carries its Output.
func TestLegacyChannelClosed(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{LegacyChannelClosed: true, HandshakeTimeout: 200 * time.Millisecond}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(echoServer(t))}}})
	if err != nil {
		t.Fatal(err)
	}
	ws := rawOpen(t, aws.ToString(out.StreamUrl), aws.ToString(out.TokenValue))
	var m wire.Message
	for {
		_, b, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("no channel_closed: %v", err)
		}
		if err := wire.Decode(b, &m); err != nil {
			t.Fatal(err)
		}
		if m.MessageType != wire.TypeChannelClosed {
			continue
		}
		if len(b) < 40 || b[3] != 112 || !bytes.Equal(b[4+len("channel_closed"):36], make([]byte, 36-4-len("channel_closed"))) {
			t.Fatalf("not the HL-112 NUL-padded form: % x", b[:40])
		}
		var cc wire.ChannelClosed
		if err := json.Unmarshal(m.Payload, &cc); err != nil || cc.SessionID != aws.ToString(out.SessionId) || !strings.Contains(cc.Output, "Handshake timed out") {
			t.Fatalf("payload %s: %v", m.Payload, err)
		}
		return
	}
}

// TestPublicationControl watches the agent side of the relay: the agent is
// paused while no client is attached and resumed when one is, including
// across a socket kill and resume.
func TestPublicationControl(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	agentFrames := make(chan string, 16)
	var agentWS *websocket.Conn
	joined := make(chan struct{})
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, sb.URL()+sandbox.AgentSessionsPath+instExternal, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		var as sandbox.AgentAssignment
		_ = json.NewDecoder(resp.Body).Decode(&as)
		resp.Body.Close()
		ws, r2, err := websocket.DefaultDialer.DialContext(ctx, as.StreamURL, nil)
		if r2 != nil && r2.Body != nil {
			r2.Body.Close()
		}
		if err != nil {
			return
		}
		open, _ := json.Marshal(wire.OpenDataChannelInput{MessageSchemaVersion: "1.0", RequestID: uuid.NewString(), TokenValue: as.TokenValue, ClientInstanceID: instExternal})
		_ = ws.WriteMessage(websocket.TextMessage, open)
		agentWS = ws
		close(joined)
		var m wire.Message
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				close(agentFrames)
				return
			}
			if wire.Decode(b, &m) == nil {
				agentFrames <- m.MessageType
			}
		}
	}()
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instExternal), DocumentName: aws.String("AWS-StartSSHSession")})
	if err != nil {
		t.Fatal(err)
	}
	<-joined
	t.Cleanup(func() { _ = agentWS.Close() })
	next := func(want string) {
		t.Helper()
		select {
		case got := <-agentFrames:
			if got != want {
				t.Fatalf("agent got %s, want %s", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("agent never got %s", want)
		}
	}
	next(wire.TypePausePublication) // no client yet
	c := openClient(t, api, out, nil)
	next(wire.TypeStartPublication)
	if err := sb.KillClient(c.id); err != nil {
		t.Fatal(err)
	}
	next(wire.TypePausePublication)
	next(wire.TypeStartPublication) // the test client resumed
	for c.Resumes() != 1 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond) // the counter moves just after Attach
	}
	if c.Resumes() != 1 {
		t.Fatalf("resumes %d", c.Resumes())
	}
}

// TestPeriodicKillsAndDrops: the session client survives a socket kill
// every 400 ms and 1% dropped frames; echo rounds stay byte-exact until at
// least two kills (and resumes) have happened.
func TestPeriodicKillsAndDrops(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{Faults: sandbox.FaultOptions{
		Seed: 5, Drop: 0.01, KillClientEvery: 400 * time.Millisecond,
	}}})
	cfg := awsConfig(t, sb.URL())
	ctx := testContext(t, 120*time.Second)
	port := echoServer(t)
	conn, err := session.Dial(ctx, cfg, instOnline, session.DialOptions{DocumentName: "AWS-StartSSHSession",
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Second))
	buf := make([]byte, 64<<10)
	for round := 0; ; round++ {
		if info, _ := sb.Session(conn.SessionID()); info.Opens >= 3 && round >= 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no kills happened")
		}
		data := bytes.Repeat([]byte{byte('a' + round%26)}, 256<<10)
		go func() { _, _ = conn.Write(data) }()
		got := make([]byte, 0, len(data))
		for len(got) < len(data) {
			n, err := conn.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("round %d after %d bytes: %v", round, len(got), err)
			}
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("round %d: echo differs", round)
		}
	}
}

// TestClientNeverConnects: a started session whose client never opens the
// data channel ends as Failed instead of lingering.
func TestClientNeverConnects(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{ClientConnectTimeout: 200 * time.Millisecond}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline)})
	if err != nil {
		t.Fatal(err)
	}
	end, err := sb.WaitSessionEnd(ctx, aws.ToString(out.SessionId))
	if err != nil || end.Status != "Failed" || !strings.Contains(end.Output, "did not open the data channel") {
		t.Fatalf("%+v %v", end, err)
	}
}
