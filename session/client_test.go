package session

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/ssmtui/ssmtui/session/wire"
)

func readN(t *testing.T, r io.Reader, n int) string {
	t.Helper()
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(buf)
}

func TestDialStdioPortSession(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.RemoteAddr().String(); got != testTarget+":22" || c.RemoteAddr().Network() != "ssm" {
		t.Fatalf("RemoteAddr %q", got)
	}
	if c.LocalAddr() == nil || c.AgentVersion() != "3.3.1142.0" {
		t.Fatal("addresses/version")
	}
	// StartSession defaults, open frame and the verbatim StreamUrl query.
	f.mu.Lock()
	started, open, query := f.started[0], f.opens[0], f.queries[0]
	f.mu.Unlock()
	if started["DocumentName"] != DocumentSSH || started["Target"] != testTarget {
		t.Fatalf("StartSession %v", started)
	}
	if p := started["Parameters"].(map[string]any)["portNumber"].([]any); p[0] != "22" {
		t.Fatalf("parameters %v", started["Parameters"])
	}
	if !strings.HasSuffix(query, "cell-number=AB+c/d=1") {
		t.Fatalf("stream URL query re-encoded: %q", query)
	}
	if open.MessageSchemaVersion != "1.0" || open.ClientVersion != ClientVersion || open.ClientID != processClientID || uuid.Validate(open.RequestID) != nil {
		t.Fatalf("open frame %+v", open)
	}
	s := f.session(t)
	resp := <-s.hsResp
	if resp.ClientVersion != ClientVersion || len(resp.ProcessedClientActions) != 1 || resp.ProcessedClientActions[0].ActionStatus != wire.ActionSuccess {
		t.Fatalf("HandshakeResponse %+v", resp)
	}
	// Bytes round-trip; a lone "\n" is never rewritten.
	for _, msg := range []string{"hello", "\n", strings.Repeat("x", 5000)} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		if got := readN(t, c, len(msg)); got != msg {
			t.Fatalf("echo %q", got[:min(len(got), 20)])
		}
	}
	// Close sends the TerminateSession flag and calls the API.
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if fl := <-s.flags; fl != wire.FlagTerminateSession {
		t.Fatalf("flag %v", fl)
	}
	f.mu.Lock()
	term := f.terminated
	f.mu.Unlock()
	if len(term) != 1 || term[0] != c.SessionID() {
		t.Fatalf("TerminateSession calls %v", term)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
}

func TestDialStartSessionErrors(t *testing.T) {
	for code, want := range map[string]struct {
		sentinel error
		text     string
	}{
		"TargetNotConnected":    {ErrTargetNotConnected, "is not connected to SSM (agent offline?) — check `ssmtui doctor " + testTarget + "`"},
		"AccessDeniedException": {ErrAccessDenied, "ssm:StartSession on the instance and on the document"},
		"InvalidDocument":       {ErrInvalidDocument, "session document AWS-StartSSHSession is not usable"},
		"ThrottlingException":   {ErrThrottled, "throttling"},
	} {
		t.Run(code, func(t *testing.T) {
			f := newFakeService(t)
			f.startErr = code
			_, err := dialFake(t, f, DialOptions{})
			var se *StartError
			if !errors.As(err, &se) || !errors.Is(err, want.sentinel) || !strings.Contains(err.Error(), want.text) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestDialWrongTokenIsRefused(t *testing.T) {
	f := newFakeService(t)
	f.refuse = true
	_, err := dialFake(t, f, DialOptions{})
	var he *HandshakeError
	if !errors.As(err, &he) || !errors.Is(err, errChannelRefused) || !strings.Contains(err.Error(), "token rejected") {
		t.Fatalf("got %v", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.terminated) != 1 {
		t.Fatal("a session whose channel failed must be terminated")
	}
}

func TestDialBadFrames(t *testing.T) {
	good := func() []byte {
		m := wire.Message{MessageType: wire.TypeOutputStreamData, SchemaVersion: 1, CreatedDate: 1, MessageID: uuid.New(), PayloadType: wire.PayloadOutput, Payload: []byte("hi")}
		b, _ := wire.AppendMessage(nil, &m)
		return b
	}
	for name, tc := range map[string]struct {
		frame func() []byte
		as    any
	}{
		"corrupt digest": {func() []byte { b := good(); b[len(b)-1] ^= 1; return b }, new(*wire.DigestError)},
		"truncated":      {func() []byte { return good()[:100] }, new(*wire.TruncatedError)},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFakeService(t)
			f.rawFirst = tc.frame
			_, err := dialFake(t, f, DialOptions{})
			var pe *ProtocolError
			if !errors.As(err, &pe) || !errors.As(err, tc.as) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestDialKMSUnsupported(t *testing.T) {
	f := newFakeService(t)
	f.kms = true
	_, err := dialFake(t, f, DialOptions{})
	if !errors.Is(err, ErrEncryptionUnsupported) {
		t.Fatalf("got %v", err)
	}
	resp := <-f.session(t).hsResp
	if len(resp.ProcessedClientActions) != 2 || resp.ProcessedClientActions[1].ActionStatus != wire.ActionUnsupported || resp.ProcessedClientActions[1].Error == "" {
		t.Fatalf("KMS action answer %+v", resp)
	}
}

func TestDialRejectsShellDocument(t *testing.T) {
	f := newFakeService(t)
	f.legacyShell = true
	_, err := dialFake(t, f, DialOptions{})
	if !errors.As(err, new(*HandshakeError)) || !strings.Contains(err.Error(), "not a port session") {
		t.Fatalf("got %v", err)
	}
}

func TestShellLegacyPath(t *testing.T) {
	f := newFakeService(t)
	f.legacyShell = true
	ctx := testCtx(t)
	sh, err := OpenShell(ctx, f.awsConfig(), testTarget, ShellOptions{Cols: 100, Rows: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	s := f.session(t)
	if sz := <-s.sizes; sz != (wire.Size{Cols: 100, Rows: 30}) {
		t.Fatalf("initial size %+v", sz)
	}
	if got := readN(t, sh, 2); got != "$ " {
		t.Fatalf("first output %q", got)
	}
	sh.Write([]byte("ls\n"))
	if got := readN(t, sh, 3); got != "ls\n" {
		t.Fatalf("echo %q", got)
	}
	if err := sh.Resize(ctx, 120, 40); err != nil {
		t.Fatal(err)
	}
	if sz := <-s.sizes; sz != (wire.Size{Cols: 120, Rows: 40}) {
		t.Fatalf("resize %+v", sz)
	}
	f.channelClosed(s, "exit status 3")
	if _, err := io.ReadAll(sh); err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if sh.ClosedOutput() != "exit status 3" {
		t.Fatalf("ClosedOutput %q", sh.ClosedOutput())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.started[0]["DocumentName"]; ok {
		t.Fatal("shell sessions use the service's default document")
	}
}

func TestShellHandshakePath(t *testing.T) {
	f := newFakeService(t)
	f.sessionType = wire.SessionTypeStandardStream
	f.props = nil
	sh, err := OpenShell(testCtx(t), f.awsConfig(), testTarget, ShellOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	if sz := <-f.session(t).sizes; sz != (wire.Size{Cols: 80, Rows: 24}) {
		t.Fatalf("default size %+v", sz)
	}
	sh.Write([]byte("x"))
	if got := readN(t, sh, 1); got != "x" {
		t.Fatal(got)
	}
}

func TestConnResumeAfterSocketKill(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := f.session(t)
	c.Write([]byte("before"))
	readN(t, c, 6)
	for round := range 3 {
		f.mu.Lock()
		fc := s.fc
		f.mu.Unlock()
		fc.ws.NetConn().Close() // abnormal loss, no close frame
		// Writes during the reconnect are queued, not failed.
		msg := bytes.Repeat([]byte{byte('a' + round)}, 3000)
		if _, err := c.Write(msg); err != nil {
			t.Fatalf("write during reconnect: %v", err)
		}
		if got := readN(t, c, len(msg)); got != string(msg) {
			t.Fatal("data lost across resume")
		}
	}
	f.mu.Lock()
	resumes, queries, opens := f.resumes, f.queries, f.opens
	f.mu.Unlock()
	if resumes < 3 {
		t.Fatalf("ResumeSession calls %d", resumes)
	}
	// The new StreamUrl (new cell-number) was adopted, with a new RequestId.
	if queries[len(queries)-1] == queries[0] || opens[1].RequestID == opens[0].RequestID || opens[1].ClientID != opens[0].ClientID {
		t.Fatalf("resume open frames %v %+v", queries, opens)
	}
}

func TestConnResumeGivesUp(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{ResumeTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := f.session(t)
	f.mu.Lock()
	f.resumeErr = "InternalServerError"
	f.mu.Unlock()
	s.fc.ws.NetConn().Close()
	_, err = c.Read(make([]byte, 10))
	var re *ResumeError
	if !errors.As(err, &re) || re.Attempts < 2 || !strings.Contains(err.Error(), "InternalServerError") {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Write([]byte("x")); !errors.As(err, &re) {
		t.Fatalf("Write after failed resume: %v", err)
	}
}

func TestConnResumeSessionGone(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.mu.Lock()
	f.resumeErr = "DoesNotExistException"
	f.mu.Unlock()
	f.session(t).fc.ws.NetConn().Close()
	_, err = c.Read(make([]byte, 10))
	if !errors.As(err, new(*SessionTerminatedError)) {
		t.Fatalf("got %v", err)
	}
}

func TestConnDeadlinesAndClose(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err = c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, new(*net.OpError)) {
		t.Fatalf("timeout error %v", err)
	}
	// A later deadline revives the conn; data is not lost.
	c.SetReadDeadline(time.Time{})
	c.Write([]byte("ok"))
	if got := readN(t, c, 2); got != "ok" {
		t.Fatal(got)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Read(make([]byte, 1)); done <- err }()
	time.Sleep(10 * time.Millisecond)
	c.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read unblocked by Close: %v", err)
	}
	if err := c.SetDeadline(time.Now()); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("SetDeadline after Close: %v", err)
	}
}

func TestConnRemoteCloseIsEOF(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := f.session(t)
	s.agent.Send(context.Background(), wire.PayloadOutput, []byte("bye"))
	s.agent.Flush(testCtx(t))
	f.channelClosed(s, "")
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "bye" {
		t.Fatalf("ReadAll %q %v", b, err)
	}
}

func TestPortForwardMux(t *testing.T) {
	f := newFakeService(t)
	f.props = map[string]string{"portNumber": "8080", "localPortNumber": "0", "type": wire.PortTypeLocalPortForwarding}
	p, err := OpenPortForward(testCtx(t), f.awsConfig(), testTarget, PortForwardOptions{PortNumber: 8080})
	if err != nil {
		t.Fatal(err)
	}
	if p.Mode() != PortModeMux {
		t.Fatalf("mode %v", p.Mode())
	}
	ctx := testCtx(t)
	var conns []net.Conn
	for i := range 3 {
		c, err := p.DialStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		msg := []byte{'m', 's', 'g', byte('0' + i)}
		c.Write(msg)
		if got := readN(t, c, 4); got != string(msg) {
			t.Fatalf("stream %d echo %q", i, got)
		}
	}
	bad, _ := p.DialStream(ctx)
	bad.Write([]byte("FAIL"))
	_, err = bad.Read(make([]byte, 1))
	var ce *ConnectToPortError
	if !errors.As(err, &ce) || ce.Port != "8080" {
		t.Fatalf("want ConnectToPortError, got %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	s := f.session(t)
	for fl := range s.flags {
		if fl == wire.FlagTerminateSession {
			break
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started[0]["DocumentName"] != DocumentPortForwarding {
		t.Fatalf("document %v", f.started[0]["DocumentName"])
	}
}

func TestPortForwardBasic(t *testing.T) {
	f := newFakeService(t)
	f.agentVersion = "3.0.196.0" // not greater: basic mode
	f.props = map[string]string{"portNumber": "80", "type": wire.PortTypeLocalPortForwarding}
	p, err := OpenPortForward(testCtx(t), f.awsConfig(), testTarget, PortForwardOptions{PortNumber: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.Mode() != PortModeBasic {
		t.Fatalf("mode %v", p.Mode())
	}
	ctx := testCtx(t)
	c1, _ := p.DialStream(ctx)
	c1.Write([]byte("one"))
	readN(t, c1, 3)
	// Only one connection at a time.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := p.DialStream(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second basic stream: %v", err)
	}
	c1.Close()
	s := f.session(t)
	if fl := <-s.flags; fl != wire.FlagDisconnectToPort {
		t.Fatalf("flag %v", fl)
	}
	// Late output of the old target connection must not reach the next one.
	s.agent.Send(ctx, wire.PayloadOutput, []byte("stale"))
	waitFor(t, func() bool { return p.ch.stream.Stats().Buffered > 0 })
	c2, err := p.DialStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c2.Write([]byte("two"))
	if got := readN(t, c2, 3); got != "two" {
		t.Fatal(got)
	}
}

func TestVersionGates(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"3.3.1142.0", "3.0.196.0", true},
		{"3.0.196.0", "3.0.196.0", false},
		{"3.0.196.1", "3.0.196.0", true},
		{"3.1.1511.0", "3.1.1511.0", false},
		{"3.1", "3.0.196.0", false},
		{"x.1.2.3", "1.0.0.0", false},
		{ClientVersion, "1.2.331.0", true},
	} {
		if got := versionGreater(tc.a, tc.b); got != tc.want {
			t.Errorf("versionGreater(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

// TestConnResumeFlapping: the service accepts every resumed socket but
// drops it at once; the budget must not restart on each "successful"
// reattach, so the Conn fails with *ResumeError instead of looping forever.
func TestConnResumeFlapping(t *testing.T) {
	f := newFakeService(t)
	c, err := dialFake(t, f, DialOptions{ResumeTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f.mu.Lock()
	f.refuse = true
	f.mu.Unlock()
	f.session(t).fc.ws.NetConn().Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = c.Read(make([]byte, 1))
	var re *ResumeError
	if !errors.As(err, &re) || re.Attempts < 2 {
		t.Fatalf("got %v", err)
	}
}
