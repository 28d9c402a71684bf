package session_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"golang.org/x/net/nettest"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/session/wire"
)

const (
	sbAKID   = "AKIDSESSIONTEST1"
	sbRegion = "us-east-1"
	sbInst   = "i-0123456789abcdef0"
)

func sbFleet() *sandbox.Fleet {
	return &sandbox.Fleet{Accounts: []sandbox.Account{{
		ID: "123456789012", AccessKeyID: sbAKID, SecretAccessKey: "secret",
		Regions:   []string{sbRegion},
		Instances: []sandbox.Instance{{ID: sbInst, Region: sbRegion, Name: "web", PrivateIP: "10.0.1.23"}},
	}}}
}

func startSB(tb testing.TB, gw sandbox.GatewayOptions) *sandbox.Sandbox {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sb, err := sandbox.Start(ctx, sandbox.Options{Fleet: sbFleet(), Gateway: gw})
	if err != nil {
		tb.Fatalf("start sandbox: %v", err)
	}
	tb.Cleanup(func() { sb.Close() })
	return sb
}

func sbConfig(tb testing.TB, endpoint string) aws.Config {
	tb.Helper()
	return sbConfigFor(tb, endpoint, sbAKID)
}

// sbConfigFor is sbConfig with another account's access key.
func sbConfigFor(tb testing.TB, endpoint, akid string) aws.Config {
	tb.Helper()
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(sbRegion),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(akid, "secret", "")),
		config.WithBaseEndpoint(endpoint),
		config.WithEC2IMDSClientEnableState(imds.ClientDisabled),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
		config.WithRetryMaxAttempts(1),
	)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

func ctxFor(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// listen starts a loopback listener whose connections go to handle.
func listen(tb testing.TB, handle func(net.Conn)) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	tb.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); handle(c) }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func dialPort(tb testing.TB, sb *sandbox.Sandbox, port int, opts session.DialOptions) *session.Conn {
	tb.Helper()
	opts.Parameters = map[string][]string{"portNumber": {strconv.Itoa(port)}}
	c, err := session.Dial(ctxFor(tb, 20*time.Second), sbConfig(tb, sb.URL()), sbInst, opts)
	if err != nil {
		tb.Fatalf("dial: %v", err)
	}
	return c
}

// TestSandboxNetConn runs nettest.TestConn over two session.Conns whose
// agents' target connections are spliced together by an in-test relay, so
// every byte crosses the gateway and both agents.
func TestSandboxNetConn(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	pending := make(chan net.Conn, 1)
	port := listen(t, func(c net.Conn) {
		select {
		case other := <-pending:
			go func() { io.Copy(c, other); c.Close() }()
			io.Copy(other, c)
			other.Close()
		case pending <- c:
		}
	})
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		c1 := dialPort(t, sb, port, session.DialOptions{})
		c2 := dialPort(t, sb, port, session.DialOptions{})
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// TestSandboxSSHBanner dials the default AWS-StartSSHSession port 22, which
// the sandbox serves with the instance's in-process SSH host.
func TestSandboxSSHBanner(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	c, err := session.Dial(ctxFor(t, 20*time.Second), sbConfig(t, sb.URL()), sbInst, session.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.RemoteAddr().String() != sbInst+":22" {
		t.Fatalf("RemoteAddr %v", c.RemoteAddr())
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("banner %q %v", line, err)
	}
	info, _ := sb.Session(c.SessionID())
	if info.ClientVersion != session.ClientVersion || info.Document != session.DocumentSSH {
		t.Fatalf("session info %+v", info)
	}
	c.Close()
	end, err := sb.WaitSessionEnd(ctxFor(t, 10*time.Second), c.SessionID())
	if err != nil || end.Status != "Terminated" {
		t.Fatalf("after Close: %+v %v", end, err)
	}
}

func echo(c net.Conn) { io.Copy(c, c); c.Close() }

func roundTrip(t *testing.T, c net.Conn, n int) {
	t.Helper()
	msg := make([]byte, n)
	rand.Read(msg)
	errc := make(chan error, 1)
	go func() { _, err := c.Write(msg); errc <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read echo: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Fatal("echo differs")
	}
}

func TestSandboxResumeAfterKill(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{NewCellOnResume: true})
	c := dialPort(t, sb, listen(t, echo), session.DialOptions{})
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	roundTrip(t, c, 10000)
	for range 2 {
		if err := sb.KillClient(c.SessionID()); err != nil {
			t.Fatal(err)
		}
		roundTrip(t, c, 50000)
	}
	info, _ := sb.Session(c.SessionID())
	if info.Opens < 3 {
		t.Fatalf("opens %d: the client did not resume", info.Opens)
	}
}

func TestSandboxFaultyRelay(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{Faults: sandbox.FaultOptions{
		Seed: 7, Drop: 0.05, Duplicate: 0.05, Reorder: 0.05, WithholdAcks: 0.05,
	}})
	c := dialPort(t, sb, listen(t, echo), session.DialOptions{})
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	roundTrip(t, c, 200<<10)
	if c.Stats().Resent == 0 {
		t.Fatal("dropped frames were not retransmitted")
	}
}

func TestSandboxTLS(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	cfg := sbConfig(t, sb.TLSURL())
	port := listen(t, echo)
	opts := session.DialOptions{Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}}}
	// Without the sandbox CA the wss dial must fail verification.
	if _, err := session.Dial(ctxFor(t, 20*time.Second), withCA(cfg, sb), sbInst, opts); err == nil {
		t.Fatal("wss dial without the CA succeeded")
	}
	opts.RootCAs = sb.CACertPool()
	c, err := session.Dial(ctxFor(t, 20*time.Second), withCA(cfg, sb), sbInst, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	roundTrip(t, c, 3000)
}

// withCA makes the SDK's HTTPS client trust the sandbox CA.
func withCA(cfg aws.Config, sb *sandbox.Sandbox) aws.Config {
	cfg.HTTPClient = awsHTTPClient(sb)
	return cfg
}

func TestSandboxShell(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{Shell: "/bin/sh"})
	sh, err := session.OpenShell(ctxFor(t, 20*time.Second), sbConfig(t, sb.URL()), sbInst, session.ShellOptions{Cols: 91, Rows: 33})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	sh.Write([]byte("stty size; echo marker-$((40+2))\n"))
	r := bufio.NewReader(sh)
	var out strings.Builder
	for !strings.Contains(out.String(), "marker-42") {
		line, err := r.ReadString('\n')
		out.WriteString(line)
		if err != nil {
			t.Fatalf("shell output %q: %v", out.String(), err)
		}
	}
	if !strings.Contains(out.String(), "33 91") {
		t.Fatalf("terminal size not applied: %q", out.String())
	}
	sh.Write([]byte("exit\n"))
	if _, err := io.ReadAll(r); err != nil {
		t.Fatalf("shell end: %v", err)
	}
	select {
	case <-sh.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("session did not end")
	}
}

func TestSandboxPortForwardModes(t *testing.T) {
	for _, tc := range []struct {
		agent string
		mode  session.PortMode
	}{
		{"3.3.1142.0", session.PortModeMux},
		{"3.1.1511.0", session.PortModeMux}, // smux keepalive on
		// An agent impersonating 3.0.196.0 (no smux) stays basic, as the
		// client decides from AgentVersion: both ends agree, and the two
		// streams below are two consecutive target connections.
		{"3.0.196.0", session.PortModeBasic},
	} {
		t.Run(tc.agent, func(t *testing.T) {
			sb := startSB(t, sandbox.GatewayOptions{AgentVersion: tc.agent})
			port := listen(t, echo)
			ctx := ctxFor(t, 30*time.Second)
			p, err := session.OpenPortForward(ctx, sbConfig(t, sb.URL()), sbInst, session.PortForwardOptions{PortNumber: port})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if p.Mode() != tc.mode {
				t.Fatalf("mode %v, want %v", p.Mode(), tc.mode)
			}
			for range 2 {
				s, err := p.DialStream(ctx)
				if err != nil {
					t.Fatal(err)
				}
				s.SetDeadline(time.Now().Add(20 * time.Second))
				roundTrip(t, s, 20000)
				s.Close()
			}
		})
	}
}

func TestSandboxMuxConnectToPortError(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there
	ctx := ctxFor(t, 30*time.Second)
	p, err := session.OpenPortForward(ctx, sbConfig(t, sb.URL()), sbInst, session.PortForwardOptions{PortNumber: port})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	s, err := p.DialStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeadline(time.Now().Add(20 * time.Second))
	s.Write([]byte("hello"))
	_, err = s.Read(make([]byte, 10))
	var ce *session.ConnectToPortError
	if !errors.As(err, &ce) || ce.Port != strconv.Itoa(port) {
		t.Fatalf("want ConnectToPortError, got %v", err)
	}
	// io.Copy takes the stream's WriteTo rather than Read: same error.
	s2, err := p.DialStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.Copy(io.Discard, s2); !errors.As(err, &ce) {
		t.Fatalf("io.Copy: want ConnectToPortError, got %v", err)
	}
}

// TestSandboxStalledReaderBounded: a target that sends without end while
// the client does not read must not grow the client's memory; backpressure
// reaches the target, and every byte arrives once the reader resumes.
func TestSandboxStalledReaderBounded(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	const total = 64 << 20
	var written atomic.Int64
	port := listen(t, func(c net.Conn) {
		defer c.Close()
		buf := make([]byte, 32<<10)
		for i := range buf {
			buf[i] = byte(i)
		}
		for written.Load() < total {
			n, err := c.Write(buf)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	c := dialPort(t, sb, port, session.DialOptions{})
	defer c.Close()
	// Wait until the pipeline is saturated: the target stops making progress.
	for last := int64(-1); ; {
		time.Sleep(200 * time.Millisecond)
		w := written.Load()
		if w == last {
			break
		}
		last = w
	}
	st := c.Stats()
	// Acked budget plus at most the agent's window held unacked.
	if st.Buffered > session.DefaultRecvBuffer+session.DefaultWindow+session.DefaultMaxPayload {
		t.Fatalf("stalled reader buffered %d bytes", st.Buffered)
	}
	if w := written.Load(); w >= total {
		t.Fatalf("no backpressure: target wrote all %d bytes", w)
	}
	c.SetReadDeadline(time.Now().Add(60 * time.Second))
	buf := make([]byte, 64<<10)
	var got int64
	for got < 8<<20 {
		n, err := c.Read(buf)
		for i := range n {
			if buf[i] != byte((got+int64(i))%(32<<10)) {
				t.Fatalf("byte %d corrupted", got+int64(i))
			}
		}
		got += int64(n)
		if err != nil {
			t.Fatal(err)
		}
	}
}

// --- benchmarks -------------------------------------------------------------

const benchChunk = 256 << 10

// benchConn dials a session whose target serves the benchmark protocol: an
// 8-byte header (direction, length), then the target either sinks length
// bytes and answers one byte (upload) or sends length bytes (download).
func benchConn(b *testing.B, gw sandbox.GatewayOptions) *session.Conn {
	sb := startSB(b, gw)
	port := listen(b, func(c net.Conn) {
		defer c.Close()
		var hdr [9]byte
		src := make([]byte, 64<<10)
		for {
			if _, err := io.ReadFull(c, hdr[:]); err != nil {
				return
			}
			n := int64(binary.BigEndian.Uint64(hdr[1:]))
			if hdr[0] == 'U' {
				if _, err := io.CopyN(io.Discard, c, n); err != nil {
					return
				}
				c.Write([]byte{1})
				continue
			}
			for n > 0 {
				k := min(n, int64(len(src)))
				if _, err := c.Write(src[:k]); err != nil {
					return
				}
				n -= k
			}
		}
	})
	return dialPort(b, sb, port, session.DialOptions{})
}

func benchThroughput(b *testing.B, upload bool, latency time.Duration, pacing sandbox.Pacing) {
	gw := sandbox.GatewayOptions{AgentPacing: pacing, Faults: sandbox.FaultOptions{LatencyToAgent: latency, LatencyToClient: latency}}
	c := benchConn(b, gw)
	defer c.Close()
	buf := make([]byte, benchChunk)
	var hdr [9]byte
	b.SetBytes(benchChunk)
	b.ResetTimer()
	start := time.Now()
	total := int64(b.N) * benchChunk
	if upload {
		hdr[0] = 'U'
		binary.BigEndian.PutUint64(hdr[1:], uint64(total))
		c.Write(hdr[:])
		for range b.N {
			if _, err := c.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := io.ReadFull(c, hdr[:1]); err != nil {
			b.Fatal(err)
		}
	} else {
		hdr[0] = 'D'
		binary.BigEndian.PutUint64(hdr[1:], uint64(total))
		c.Write(hdr[:])
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, total), buf); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	mbps := float64(total) / el.Seconds() / 1e6
	if latency > 0 {
		limit := float64(session.DefaultWindow) / (2 * latency).Seconds() / 1e6
		b.ReportMetric(mbps/limit, "ratio_window/RTT")
	}
	if pacing == sandbox.PacingReal && !upload {
		b.ReportMetric(mbps/(1024/1e-3/1e6), "ratio_pacing")
		// A 1 ms timer sleeps longer on a loaded machine; relative to the
		// pacing this box can actually deliver:
		b.ReportMetric(mbps/(1024/timerPeriod().Seconds()/1e6), "ratio_pacing_measured")
	}
}

func BenchmarkConnThroughputUpload(b *testing.B) {
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		for _, p := range []sandbox.Pacing{sandbox.PacingNone, sandbox.PacingReal} {
			b.Run(fmt.Sprintf("latency=%s/pacing=%s", lat, p), func(b *testing.B) { benchThroughput(b, true, lat, p) })
		}
	}
}

func BenchmarkConnThroughputDownload(b *testing.B) {
	for _, lat := range []time.Duration{0, 20 * time.Millisecond} {
		for _, p := range []sandbox.Pacing{sandbox.PacingNone, sandbox.PacingReal} {
			b.Run(fmt.Sprintf("latency=%s/pacing=%s", lat, p), func(b *testing.B) { benchThroughput(b, false, lat, p) })
		}
	}
}

// BenchmarkConnStalledReader measures what a session holds while its reader
// is stalled and the remote keeps sending (-benchmem): the client-side
// buffered bytes stay at the RecvBuffer cap.
func BenchmarkConnStalledReader(b *testing.B) {
	c := benchConn(b, sandbox.GatewayOptions{})
	defer c.Close()
	const perOp = 4 << 20
	var hdr [9]byte
	hdr[0] = 'D'
	buf := make([]byte, benchChunk)
	b.SetBytes(perOp)
	b.ResetTimer()
	var peak int
	for range b.N {
		binary.BigEndian.PutUint64(hdr[1:], perOp)
		c.Write(hdr[:])
		// Stall until the acked budget is full and the agent's window is
		// held unacked, then drain.
		for c.Stats().Buffered < session.DefaultRecvBuffer+session.DefaultWindow {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(20 * time.Millisecond) // would grow here if unbounded
		peak = max(peak, c.Stats().Buffered)
		if _, err := io.CopyBuffer(io.Discard, io.LimitReader(c, perOp), buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(peak), "peak_buffered_B")
}

// timerPeriod measures what a 1 ms timer really takes here.
func timerPeriod() time.Duration {
	start := time.Now()
	for range 200 {
		t := time.NewTimer(time.Millisecond)
		<-t.C
	}
	return time.Since(start) / 200
}

// TestSandboxNoGoroutineLeak: every goroutine a session starts exits on Close.
func TestSandboxNoGoroutineLeak(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	port := listen(t, echo)
	// One aws.Config (one HTTP pool), warmed up once.
	cfg := sbConfig(t, sb.URL())
	opts := session.DialOptions{Parameters: map[string][]string{"portNumber": {strconv.Itoa(port)}}}
	dial := func() *session.Conn {
		c, err := session.Dial(ctxFor(t, 20*time.Second), cfg, sbInst, opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dial().Close()
	before := runtime.NumGoroutine()
	for range 3 {
		c := dial()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		roundTrip(t, c, 5000)
		c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines %d > %d after Close:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSandboxResumeUnderLoad kills the client socket every 100 ms during a
// 2 MiB echo; nothing may be lost or duplicated.
func TestSandboxResumeUnderLoad(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	c := dialPort(t, sb, listen(t, echo), session.DialOptions{})
	defer c.Close()
	stop := make(chan struct{})
	killed := make(chan int)
	go func() {
		n := 0
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				killed <- n
				return
			case <-tick.C:
				if sb.KillClient(c.SessionID()) == nil {
					n++
				}
			}
		}
	}()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	roundTrip(t, c, 2<<20)
	close(stop)
	n := <-killed
	if info, _ := sb.Session(c.SessionID()); n > 0 && info.Opens < 2 {
		t.Fatalf("%d kills but %d opens: no resume happened", n, info.Opens)
	}
	t.Logf("%d socket kills survived", n)
}

// TestSandboxKillClientEvery uses the gateway's periodic kill knob, which
// may also strike during the handshake: the client resumes there too.
func TestSandboxKillClientEvery(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{Faults: sandbox.FaultOptions{KillClientEvery: 500 * time.Millisecond}})
	c := dialPort(t, sb, listen(t, echo), session.DialOptions{})
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	roundTrip(t, c, 1<<20)
}

// TestSandboxCorruptFrameAfterHandshake: a frame with a bad digest ends the
// Conn with a typed error, not a hang or silent loss.
func TestSandboxCorruptFrameAfterHandshake(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{})
	c := dialPort(t, sb, listen(t, echo), session.DialOptions{})
	defer c.Close()
	m := wire.Message{MessageType: wire.TypeOutputStreamData, SchemaVersion: 1, CreatedDate: 1, SequenceNumber: 99, PayloadType: wire.PayloadOutput, Payload: []byte("evil")}
	f, _ := wire.AppendMessage(nil, &m)
	f[len(f)-1] ^= 1
	if err := sb.SendToClient(c.SessionID(), f); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err := c.Read(make([]byte, 10))
	var de *wire.DigestError
	var pe *session.ProtocolError
	if !errors.As(err, &pe) || !errors.As(err, &de) || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("got %v", err)
	}
}

// TestSandboxLegacyChannelClosed: the HL-112, NUL-padded channel_closed of
// the real service ends a shell with io.EOF.
func TestSandboxLegacyChannelClosed(t *testing.T) {
	sb := startSB(t, sandbox.GatewayOptions{Shell: "/bin/sh", LegacyChannelClosed: true})
	sh, err := session.OpenShell(ctxFor(t, 20*time.Second), sbConfig(t, sb.URL()), sbInst, session.ShellOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	sh.Write([]byte("exit 0\n"))
	done := make(chan error, 1)
	go func() { _, err := io.ReadAll(sh); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ReadAll: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("shell did not end")
	}
}
