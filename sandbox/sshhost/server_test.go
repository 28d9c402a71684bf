//go:build unix

package sshhost

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

func newSigner(t testing.TB) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// startServer serves a Server on a loopback port that accepts only
// clientKey for user "tester"; it is closed (and checked) at cleanup.
func startServer(t testing.TB, clientKey ssh.PublicKey) (*Server, string) {
	t.Helper()
	srv, err := New(Config{
		HostKey: newSigner(t),
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() == "tester" && bytes.Equal(key.Marshal(), clientKey.Marshal()) {
				return nil, nil
			}
			return nil, errors.New("denied")
		},
		Dir: t.TempDir(),
		Env: func(user string) []string { return []string{"GREETING=hello " + user} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Close, want nil", err)
		}
	})
	return srv, ln.Addr().String()
}

// connectNew starts a server that trusts a new key and logs in with it.
func connectNew(t testing.TB) *ssh.Client {
	t.Helper()
	key := newSigner(t)
	_, addr := startServer(t, key.PublicKey())
	c, err := dial(t, addr, ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func dial(t testing.TB, addr string, auth ...ssh.AuthMethod) (*ssh.Client, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User: "tester", Auth: auth, HostKeyCallback: ssh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Time{})
	client := ssh.NewClient(c, chans, reqs)
	t.Cleanup(func() { _ = client.Close() })
	return client, nil
}

func TestNewValidates(t *testing.T) {
	ok := Config{HostKey: newSigner(t), PublicKeyCallback: func(ssh.ConnMetadata, ssh.PublicKey) (*ssh.Permissions, error) { return nil, nil }, Dir: t.TempDir()}
	for name, mutate := range map[string]func(*Config){
		"no host key": func(c *Config) { c.HostKey = nil },
		"no callback": func(c *Config) { c.PublicKeyCallback = nil },
		"no dir":      func(c *Config) { c.Dir = "" },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	if _, err := New(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestOnlyPublicKeyAuth(t *testing.T) {
	key := newSigner(t)
	_, addr := startServer(t, key.PublicKey())
	var asked bool
	_, err := dial(t, addr,
		ssh.Password("secret"),
		ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) {
			asked = true
			return nil, nil
		}),
		ssh.PublicKeys(newSigner(t)), // not the accepted key
	)
	if err == nil {
		t.Fatal("login without the accepted key succeeded")
	}
	if asked {
		t.Error("the server offered keyboard-interactive")
	}
	if !strings.Contains(err.Error(), "[none publickey]") {
		t.Errorf("attempted methods in %q, want only none and publickey", err)
	}
	if _, err := dial(t, addr, ssh.PublicKeys(key)); err != nil {
		t.Errorf("login with the accepted key: %v", err)
	}
}

func TestOnlySessionChannels(t *testing.T) {
	c := connectNew(t)
	_, _, err := c.OpenChannel("x11", nil)
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.UnknownChannelType {
		t.Errorf("x11 channel: %v, want an UnknownChannelType rejection", err)
	}
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestSubsystem("netconf"); err == nil {
		t.Error("unknown subsystem accepted")
	}
}

func TestExecEnvAndSignals(t *testing.T) {
	c := connectNew(t)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Output(`echo "$GREETING|$USER|$LOGNAME|$TERM"`)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello tester|tester|tester|\n" {
		t.Errorf("environment %q", out)
	}

	// A client "signal" request reaches the process group.
	s, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var buf syncBuffer
	s.Stdout = &buf
	if err := s.Start("echo started; sleep 1000"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf.waitFor(ctx, t, regexp.MustCompile("started"))
	if err := s.Signal(ssh.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	var ee *ssh.ExitError
	if err := s.Wait(); !errors.As(err, &ee) || ee.Signal() != "USR1" {
		t.Errorf("Wait after SIGUSR1: %v, want exit-signal USR1", err)
	}
}

// direct-tcpip (ssh -L) reaches loopback targets only.
func TestForwardToLoopbackOnly(t *testing.T) {
	c := connectNew(t)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	targetDone := make(chan struct{})
	go func() {
		conn, err := echo.Accept()
		if err != nil {
			return
		}
		defer close(targetDone)
		defer conn.Close()
		_, _ = io.Copy(conn, conn)
	}()

	conn, err := c.Dial("tcp", echo.Addr().String())
	if err != nil {
		t.Fatalf("forward to loopback: %v", err)
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := []byte("through the sandbox host")
	if _, err := conn.Write(msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %q, %v", got, err)
	}
	// Closing our end ends the forward and the target connection.
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-targetDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the target connection outlived the forward")
	}

	_, err = c.Dial("tcp", "192.0.2.1:80")
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
		t.Errorf("forward to a non-loopback address: %v, want a Prohibited rejection", err)
	}
}

// A background process that keeps the terminal or the pipes open must not
// keep the session (or Close) waiting forever: after a grace period the
// session's process group is killed and the exit status still arrives.
func TestBackgroundHolderIsHungUp(t *testing.T) {
	c := connectNew(t)
	for _, withPTY := range []bool{false, true} {
		t.Run("pty="+strconv.FormatBool(withPTY), func(t *testing.T) {
			s, err := c.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if withPTY {
				if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
					t.Fatal(err)
				}
			}
			var buf syncBuffer
			s.Stdout = &buf
			if err := s.Start(`(trap '' HUP TERM; sleep 1000) & echo bg=$!.; exit 7`); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Wait() }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("session never ended")
			}
			var ee *ssh.ExitError
			if !errors.As(err, &ee) || ee.ExitStatus() != 7 {
				t.Fatalf("Wait: %v, want exit status 7", err)
			}
			m := regexp.MustCompile(`bg=(\d+)\.`).FindStringSubmatch(buf.String())
			if m == nil {
				t.Fatalf("no background pid in %q", buf.String())
			}
			pid, _ := strconv.Atoi(m[1])
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for syscall.Kill(pid, 0) == nil {
				select {
				case <-ctx.Done():
					t.Fatalf("background process %d survived its session", pid)
				case <-time.After(10 * time.Millisecond):
				}
			}
		})
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) waitFor(ctx context.Context, t *testing.T, re *regexp.Regexp) {
	t.Helper()
	for !re.MatchString(b.String()) {
		select {
		case <-ctx.Done():
			t.Fatalf("output never matched %s: %q", re, b.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Close ends running sessions and every goroutine the server started.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	key := newSigner(t)
	srv, err := New(Config{
		HostKey: newSigner(t),
		PublicKeyCallback: func(meta ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
			return nil, nil
		},
		Dir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c, err := dial(t, ln.Addr().String(), ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	// One finished exec, one running PTY shell, one running pipe command.
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run("true"); err != nil {
		t.Fatal(err)
	}
	var waits []chan error
	for _, withPTY := range []bool{true, false} {
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		if withPTY {
			if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
				t.Fatal(err)
			}
		}
		var buf syncBuffer
		s.Stdout = &buf
		if err := s.Start("echo up; sleep 1000"); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		buf.waitFor(ctx, t, regexp.MustCompile("up"))
		cancel()
		w := make(chan error, 1)
		go func() { w <- s.Wait() }()
		waits = append(waits, w)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve after Close: %v", err)
	}
	for _, w := range waits {
		if err := <-w; err == nil {
			t.Error("a running session ended cleanly when the server closed")
		}
	}
	_ = c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for runtime.NumGoroutine() > before {
		select {
		case <-ctx.Done():
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		case <-time.After(10 * time.Millisecond):
		}
	}
}
