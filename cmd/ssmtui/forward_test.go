package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/ssmtui/ssmtui/sandbox"
)

func TestParseForwardSpec(t *testing.T) {
	for _, c := range []struct {
		in   string
		want forwardSpec
	}{
		{"5432", forwardSpec{"127.0.0.1", 5432, "", 5432}},
		{"8080:80", forwardSpec{"127.0.0.1", 8080, "", 80}},
		{"0:80", forwardSpec{"127.0.0.1", 0, "", 80}},
		{"5432:db.internal:5432", forwardSpec{"127.0.0.1", 5432, "db.internal", 5432}},
		{"0.0.0.0:5432:10.0.0.5:5432", forwardSpec{"0.0.0.0", 5432, "10.0.0.5", 5432}},
		{"[::1]:8080:[fd00::5]:80", forwardSpec{"::1", 8080, "fd00::5", 80}},
		{"8080:[fd00::5]:80", forwardSpec{"127.0.0.1", 8080, "fd00::5", 80}},
	} {
		got, err := parseForwardSpec(c.in, "127.0.0.1")
		if err != nil || got != c.want {
			t.Errorf("%q: %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "0", "x:80", "8080:0", "8080:70000", "1:2:3:4:5", "8080::80", "[::1:8080:80", "[::1]x:1:h:2", "-1:80"} {
		if sp, err := parseForwardSpec(bad, "127.0.0.1"); err == nil {
			t.Errorf("%q: accepted as %+v", bad, sp)
		}
	}
}

// echoServer listens on loopback (where the sandbox agent forwards ports
// other than 22) and echoes every connection. It returns its port.
func echoServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls the buffer until re matches and returns the submatches.
func (s *syncBuffer) waitFor(t *testing.T, re *regexp.Regexp, done <-chan int) []string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(s.String()); m != nil {
			return m
		}
		select {
		case code := <-done:
			t.Fatalf("forward exited with %d before %q appeared; stderr:\n%s", code, re, s.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("%q never appeared; stderr:\n%s", re, s.String())
	return nil
}

type runningForward struct {
	addr    string // local listen address
	session string // first session ID
	mode    string // port mode of the first session
	stderr  *syncBuffer
	done    chan int
	stop    context.CancelFunc
}

var forwardingRE = regexp.MustCompile(`forwarding (\S+) → .* through session (\S+) \((\w+) mode\)`)

// startForward runs `ssmtui forward args…` in-process until stop.
func startForward(t *testing.T, args ...string) *runningForward {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &runningForward{stderr: &syncBuffer{}, done: make(chan int, 1), stop: cancel}
	go func() {
		env := &cliEnv{stdin: strings.NewReader(""), stdout: io.Discard, stderr: f.stderr, getenv: os.Getenv}
		f.done <- runMain(ctx, env, append([]string{"forward"}, args...))
	}()
	t.Cleanup(cancel)
	m := f.stderr.waitFor(t, forwardingRE, f.done)
	f.addr, f.session, f.mode = m[1], m[2], m[3]
	return f
}

// finish stops the command and returns its exit code.
func (f *runningForward) finish(t *testing.T) int {
	t.Helper()
	f.stop()
	select {
	case code := <-f.done:
		return code
	case <-time.After(30 * time.Second):
		t.Fatalf("forward did not stop; stderr:\n%s", f.stderr.String())
		return -1
	}
}

// echoRoundTrip sends n random bytes through addr and checks they come back.
func echoRoundTrip(addr string, n int) error {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	want := make([]byte, n)
	_, _ = rand.Read(want)
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		werr <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("read echo: %w", err)
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo of %d bytes differs", n)
	}
	return nil
}

// TestForwardConcurrentConnections: eight connections at once share one
// multiplexed session and each gets its own bytes back; stopping closes
// the listener and ends the session.
func TestForwardConcurrentConnections(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	port := echoServer(t)
	f := startForward(t, "web", "0:"+strconv.Itoa(port))
	if f.mode != "mux" {
		t.Fatalf("mode %s, want mux with the sandbox's current agent", f.mode)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() { errs <- echoRoundTrip(f.addr, 64<<10+i*4093) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := e.sb.Stats().Calls["ssm.StartSession"]; n != 1 {
		t.Fatalf("%d StartSession calls for 8 connections, want 1", n)
	}
	if code := f.finish(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, f.stderr.String())
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", 1)
	if c, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still listening after stop")
	}
	wantContains(t, "stderr", f.stderr.String(), "web ("+cxWeb+") port "+strconv.Itoa(port), "session "+f.session+" ended")
}

// TestForwardBasicModeOneAtATime: with an agent that predates smux the
// session carries one connection at a time; a second connection waits for
// the first to close, and each gets its own bytes.
func TestForwardBasicModeOneAtATime(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{Gateway: sandbox.GatewayOptions{AgentVersion: "3.0.161.0"}})
	port := echoServer(t)
	f := startForward(t, "web", "0:"+strconv.Itoa(port))
	if f.mode != "basic" {
		t.Fatalf("mode %s, want basic for agent 3.0.161.0", f.mode)
	}
	wantContains(t, "stderr", f.stderr.String(), "one connection at a time")
	first, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Write([]byte("one")); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	go func() { second <- echoRoundTrip(f.addr, 3000) }()
	buf := make([]byte, 3)
	_ = first.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(first, buf); err != nil || string(buf) != "one" {
		t.Fatalf("first connection read %q, %v", buf, err)
	}
	first.Close()
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("second connection: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second connection never served after the first closed")
	}
	if n := e.sb.Stats().Calls["ssm.StartSession"]; n != 1 {
		t.Fatalf("%d StartSession calls, want 1", n)
	}
	f.finish(t)
}

// TestForwardReopensEndedSession: when the service ends the session (an
// idle timeout, an admin), the next connection gets a new one.
func TestForwardReopensEndedSession(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	port := echoServer(t)
	f := startForward(t, "web", "0:"+strconv.Itoa(port))
	if err := echoRoundTrip(f.addr, 1000); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadAWSConfig(context.Background(), cxCLIEnv(), awsOptions{Profile: cxProfile, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ssm.NewFromConfig(cfg).TerminateSession(context.Background(), &ssm.TerminateSessionInput{SessionId: aws.String(f.session)}); err != nil {
		t.Fatal(err)
	}
	// A connection made while the end is still on its way may fail; the
	// next ones must work, over a second session.
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := echoRoundTrip(f.addr, 1000)
		if err == nil && e.sb.Stats().Calls["ssm.StartSession"] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no working connection over a new session: %v; stderr:\n%s", err, f.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantContains(t, "stderr", f.stderr.String(), "session "+f.session+" ended", "opening a new one")
	if code := f.finish(t); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

// TestForwardRemoteHostAndRefusedPort: HOST in the spec goes through
// AWS-StartPortForwardingSessionToRemoteHost; a destination nobody listens
// on closes the local connection and says why.
func TestForwardRemoteHostAndRefusedPort(t *testing.T) {
	newCxEnv(t, sandbox.Options{})
	port := echoServer(t)
	f := startForward(t, "web", "0:localhost:"+strconv.Itoa(port))
	if err := echoRoundTrip(f.addr, 50000); err != nil {
		t.Fatal(err)
	}
	wantContains(t, "stderr", f.stderr.String(), "localhost:"+strconv.Itoa(port))
	f.finish(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	g := startForward(t, "web", "0:"+strconv.Itoa(closed))
	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d bytes from a refused destination", n)
	}
	c.Close()
	g.stderr.waitFor(t, regexp.MustCompile(`could not connect to destination port `+strconv.Itoa(closed)), g.done)
	g.finish(t)
}

func TestForwardFailures(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	port := echoServer(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	r := e.run(t, nil, "forward", "nosuchhost", "0:80")
	if r.code == 0 || !strings.Contains(r.stderr, "nosuchhost") {
		t.Errorf("unknown target: code %d, stderr %q", r.code, r.stderr)
	}
	r = e.run(t, nil, "forward", "batch", "0:80")
	if r.code == 0 || !strings.Contains(r.stderr, "ConnectionLost") && !strings.Contains(r.stderr, "not connected") {
		t.Errorf("offline agent: code %d, stderr %q", r.code, r.stderr)
	}
	r = e.run(t, nil, "forward", "web", "8080:0")
	if r.code != 2 || !strings.Contains(r.stderr, "invalid port") {
		t.Errorf("bad spec: code %d, stderr %q", r.code, r.stderr)
	}
	before := e.sb.Stats().Calls["ssm.TerminateSession"]
	r = e.run(t, nil, "forward", "web", busyPort+":"+strconv.Itoa(port))
	if r.code == 0 || !strings.Contains(r.stderr, "listen on 127.0.0.1:"+busyPort) || !strings.Contains(r.stderr, "pick another LOCALPORT") {
		t.Errorf("port in use: code %d, stderr %q", r.code, r.stderr)
	}
	// The session opened before listening is not left behind.
	waitCalls(t, e.sb, "ssm.TerminateSession", before+1)
}
