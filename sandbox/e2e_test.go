package sandbox_test

import (
	"bytes"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/gorilla/websocket"
	"github.com/xtaci/smux"
	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

// TestSSHOverSessionManager is the product's data path: the real SDK starts
// AWS-StartSSHSession, the data channel carries an SSH connection to the
// instance's sandbox host, a command runs with its exit status.
func TestSSHOverSessionManager(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	cfg := awsConfig(t, sb.URL())
	api := ssm.NewFromConfig(cfg)
	ctx := testContext(t, 60*time.Second)

	pub, priv, _ := ed25519.GenerateKey(crand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	sshPub, _ := ssh.NewPublicKey(pub)
	eic := ec2instanceconnect.NewFromConfig(cfg)
	if _, err := eic.SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(instOnline), InstanceOSUser: aws.String("ec2-user"),
		SSHPublicKey: aws.String(string(ssh.MarshalAuthorizedKey(sshPub))),
	}); err != nil {
		t.Fatalf("SendSSHPublicKey: %v", err)
	}
	hostKey, err := sb.HostPublicKey(instOnline)
	if err != nil {
		t.Fatal(err)
	}

	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {"22"}},
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	conn := &streamConn{c: c, ctx: ctx}
	sc, chans, reqs, err := ssh.NewClientConn(conn, instOnline+":22", &ssh.ClientConfig{
		User: "ec2-user", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey), Timeout: 30 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh handshake over the data channel: %v", err)
	}
	client := ssh.NewClient(sc, chans, reqs)
	sess, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	got, err := sess.Output("echo \"$SSMTUI_INSTANCE_ID\"; echo done; exit 3")
	var ee *ssh.ExitError
	if !errors.As(err, &ee) || ee.ExitStatus() != 3 {
		t.Fatalf("exit status: %v", err)
	}
	if string(got) != instOnline+"\ndone\n" {
		t.Fatalf("output %q", got)
	}
	_ = client.Close()
	// Closing a port session sends the TerminateSession flag (what
	// session.Conn.Close does); the gateway answers channel_closed.
	if err := c.st.Send(ctx, wire.PayloadFlag, wire.AppendFlag(nil, wire.FlagTerminateSession)); err != nil {
		t.Fatal(err)
	}
	if err := c.waitEnd(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("session end: %v", err)
	}
}

// TestShellSession drives a real PTY shell over the legacy (no handshake)
// path: Size, a command, a resize observed by stty, exit.
func TestShellSession(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{Shell: "/bin/sh"}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 60*time.Second)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{Target: aws.String(instOnline)})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c := openClient(t, api, out, nil)
	var mu sync.Mutex
	var screen bytes.Buffer
	ended := make(chan error, 1)
	go func() {
		for {
			pt, p, err := c.st.Recv(ctx)
			if err != nil {
				ended <- err
				return
			}
			if pt != wire.PayloadOutput {
				ended <- fmt.Errorf("unexpected payload type %v in a legacy shell session", pt)
				return
			}
			mu.Lock()
			screen.Write(p)
			mu.Unlock()
		}
	}()
	waitScreen := func(re *regexp.Regexp) {
		t.Helper()
		for ctx.Err() == nil {
			mu.Lock()
			ok := re.Match(screen.Bytes())
			mu.Unlock()
			if ok {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("never saw %v; screen:\n%s", re, screen.String())
	}
	resize := func(cols, rows int) {
		t.Helper()
		if err := c.st.Send(ctx, wire.PayloadSize, fmt.Appendf(nil, `{"cols":%d,"rows":%d}`, cols, rows)); err != nil {
			t.Fatal(err)
		}
	}
	typeLine := func(s string) {
		t.Helper()
		if _, err := c.st.Write(ctx, wire.PayloadOutput, []byte(s+"\r")); err != nil {
			t.Fatal(err)
		}
	}
	resize(100, 31)
	typeLine("echo sum=$((40+2)); stty size")
	waitScreen(regexp.MustCompile(`sum=42\r?\n31 100\r?\n`))
	resize(132, 43)
	typeLine("stty size")
	waitScreen(regexp.MustCompile(`43 132\r?\n`))
	typeLine("exit")
	select {
	case err := <-ended:
		var cc *session.ChannelClosedError
		if !errors.Is(err, io.EOF) || !errors.As(c.st.Err(), &cc) || cc.Output != "" {
			t.Fatalf("shell end: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("shell session did not end after exit")
	}
}

// muxConn adapts a test client to the byte pipe smux runs on.
type muxConn struct{ streamConn }

// TestSmuxPortForwarding runs 8 concurrent TCP streams through one
// AWS-StartPortForwardingSession (smux, since the client version is new
// enough) to an echo server, byte-exact.
func TestSmuxPortForwarding(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	api := ssmClient(t, sb)
	ctx := testContext(t, 90*time.Second)
	port := echoServer(t)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartPortForwardingSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}, "localPortNumber": {"0"}},
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	wantProps := fmt.Sprintf(`{"localPortNumber":"0","portNumber":"%d","type":"LocalPortForwarding"}`, port)
	if string(c.Properties) != wantProps {
		t.Fatalf("properties %s, want %s", c.Properties, wantProps)
	}
	cfg := smux.DefaultConfig()
	cfg.Version = 1
	cfg.KeepAliveDisabled = true // agent 3.3.1142.0 > 3.1.1511.0 (§9.5)
	mux, err := smux.Client(&muxConn{streamConn{c: c, ctx: ctx}}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer mux.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := mux.OpenStream()
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			data := make([]byte, 200<<10+i*777)
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for j := range data {
				data[j] = byte(r.Uint32())
			}
			go func() { _, _ = s.Write(data) }()
			got := make([]byte, len(data))
			if _, err := io.ReadFull(s, got); err != nil {
				errs <- fmt.Errorf("stream %d: %w", i, err)
				return
			}
			if !bytes.Equal(got, data) {
				errs <- fmt.Errorf("stream %d: echo differs", i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// A stream to a closed port answers ConnectToPortError on the data
	// channel; here the target is fine, so the session ends by flag.
	if err := c.st.Send(ctx, wire.PayloadFlag, wire.AppendFlag(nil, wire.FlagTerminateSession)); err != nil {
		t.Fatal(err)
	}
	end, err := sb.WaitSessionEnd(ctx, aws.ToString(out.SessionId))
	if err != nil || end.Status != "Terminated" {
		t.Fatalf("end %+v %v", end, err)
	}
}

// TestBulkTransferUnderFaults pushes 16 MiB each way through a stdio port
// session to an echo server with duplicates, reordering, withheld acks,
// latency and one client socket kill (resume) mid-transfer.
func TestBulkTransferUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB transfer")
	}
	sb := startSandbox(t, sandbox.Options{Gateway: sandbox.GatewayOptions{Faults: sandbox.FaultOptions{
		Seed: 42, Duplicate: 0.01, Reorder: 0.01, ReorderWindow: 4, WithholdAcks: 0.01,
		LatencyToAgent: time.Millisecond, LatencyToClient: time.Millisecond,
	}}})
	api := ssmClient(t, sb)
	ctx := testContext(t, 180*time.Second)
	port := echoServer(t)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}},
	})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	c := openClient(t, api, out, nil)
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	const size = 16 << 20
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.st.Write(ctx, wire.PayloadOutput, data)
		werr <- err
	}()
	got := make([]byte, 0, size)
	killed := false
	for len(got) < size {
		pt, p, err := c.st.Recv(ctx)
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
		if pt == wire.PayloadOutput {
			got = append(got, p...)
		}
		if !killed && len(got) > size/3 {
			if err := sb.KillClient(c.id); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		i := 0
		for i < len(got) && got[i] == data[i] {
			i++
		}
		t.Fatalf("echo differs at byte %d of %d", i, len(got))
	}
	if c.Resumes() < 1 {
		t.Fatal("the socket kill did not make the client resume")
	}
	info, _ := sb.Session(c.id)
	if info.Opens < 2 {
		t.Fatalf("gateway saw %d opens, want a resume", info.Opens)
	}
}

// TestTLSPort starts a session through the https port (SDK trusting the
// sandbox CA) and dials the returned wss:// StreamUrl.
func TestTLSPort(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{})
	if sb.TLSURL() == "" || sb.CAFile() == "" {
		t.Fatal("no TLS port")
	}
	env := strings.Join(sb.Env(), "\n")
	if !strings.Contains(env, "AWS_CA_BUNDLE="+sb.CAFile()) {
		t.Fatalf("Env lacks the CA bundle:\n%s", env)
	}
	api := ssm.NewFromConfig(awsConfig(t, sb.TLSURL(), config.WithCustomCABundle(mustOpen(t, sb.CAFile()))))
	ctx := testContext(t, 30*time.Second)
	port := echoServer(t)
	out, err := api.StartSession(ctx, &ssm.StartSessionInput{
		Target: aws.String(instOnline), DocumentName: aws.String("AWS-StartSSHSession"),
		Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}},
	})
	if err != nil {
		t.Fatalf("StartSession over https: %v", err)
	}
	if u := aws.ToString(out.StreamUrl); !strings.HasPrefix(u, "wss://127.0.0.1:") {
		t.Fatalf("StreamUrl %q is not wss", u)
	}
	c := openClient(t, api, out, &websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: sb.CACertPool()}})
	if err := c.handshake(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.st.Write(ctx, wire.PayloadOutput, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.readOutput(ctx, 8); err != nil || string(got) != "over tls" {
		t.Fatalf("echo %q %v", got, err)
	}
}

func mustOpen(t testing.TB, path string) io.Reader {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}
