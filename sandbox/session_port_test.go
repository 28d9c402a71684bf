package sandbox_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

func TestStdioPortSessionEcho(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	port := echoServer(t)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target:       aws.String(instOnline),
		DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters:   map[string][]string{"portNumber": {strconv.Itoa(port)}},
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	if c.SessionType != "Port" || string(c.Properties) != `{"portNumber":"`+strconv.Itoa(port)+`"}` || c.AgentVersion != sandbox.DefaultAgentVersion {
		t.Fatalf("handshake: type %q props %s agent %q", c.SessionType, c.Properties, c.AgentVersion)
	}
	msg := bytes.Repeat([]byte("hello sandbox "), 500)
	if _, err := c.st.Write(ctx, wire.PayloadOutput, msg); err != nil {
		t.Fatal(err)
	}
	got, err := c.readOutput(ctx, len(msg))
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %d bytes, err %v", len(got), err)
	}
	info, _ := sb.Session(aws.ToString(out.SessionId))
	if info.ClientVersion != "1.2.707.0" || info.Status != "Connected" {
		t.Fatalf("session info %+v", info)
	}
	// TerminateSession flag ends the session with channel_closed.
	if err := c.st.Send(ctx, wire.PayloadFlag, wire.AppendFlag(nil, wire.FlagTerminateSession)); err != nil {
		t.Fatal(err)
	}
	err = c.waitEnd(ctx)
	var cc *session.ChannelClosedError
	if !errors.As(err, &cc) || cc.Output != "" {
		t.Fatalf("end: %v", err)
	}
	end, err := sb.WaitSessionEnd(ctx, aws.ToString(out.SessionId))
	if err != nil || end.Status != "Terminated" {
		t.Fatalf("final %+v %v", end, err)
	}
}

// TestStdioTargetEOFEndsSession: in stdio mode the target closing its
// connection ends the session, after its last bytes reached the client.
func TestStdioTargetEOFEndsSession(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 30*time.Second)
	greeting := bytes.Repeat([]byte("SSH-2.0-fake\r\n"), 300)
	port := tcpServer(t, func(c net.Conn) { _, _ = c.Write(greeting) })
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target:       aws.String(instOnline),
		DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters:   map[string][]string{"portNumber": {strconv.Itoa(port)}},
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := c.readOutput(ctx, len(greeting))
	if err != nil || !bytes.Equal(got, greeting) {
		t.Fatalf("greeting: %d bytes, %v", len(got), err)
	}
	if err := c.waitEnd(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v", err)
	}
}
