package sshclient

import (
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

var _ tea.ExecCommand = (*Shell)(nil)

// syncBuffer collects output written from another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// waitFor polls cond until it holds or the test's deadline nears; it asserts
// nothing about how long that takes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *testServer) received() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.input.String()
}

func runShell(sh *Shell) <-chan error {
	done := make(chan error, 1)
	go func() { done <- sh.Run() }()
	return done
}

// startPipedShell runs c's Shell with an os.Pipe as stdin (a file, as a
// terminal is) and out as stdout and stderr. It returns the pipe's read
// and write ends and Run's result; both are closed when the test ends.
func startPipedShell(t *testing.T, c *Client, out io.Writer) (r, w *os.File, done <-chan error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		_ = w.Close()
	})
	sh := c.Shell()
	sh.SetStdin(r)
	sh.SetStdout(out)
	sh.SetStderr(out)
	return r, w, runShell(sh)
}

func waitRun(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("Shell.Run did not return")
		return nil
	}
}

// Without a terminal the shell runs like ssh -T: no PTY, no escapes.
func TestShellWithoutTerminal(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	var out syncBuffer
	_, w, done := startPipedShell(t, c, &out)
	if _, err := io.WriteString(w, "~.\nexit 4\n"); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := waitRun(t, done); !errors.As(err, &ee) || ee.Code != 4 {
		t.Fatalf("Run = %v, want exit 4", err)
	}
	if got := srv.received(); got != "~.\nexit 4\n" {
		t.Fatalf("server received %q; escapes must be off without a terminal", got)
	}
	srv.mu.Lock()
	npty := len(srv.ptyReqs)
	srv.mu.Unlock()
	if npty != 0 {
		t.Fatal("requested a PTY although stdin is not a terminal")
	}
}

// The lost-first-keystroke regression (style.md §2.5): once Run returns,
// nothing may still be reading stdin, or the first key typed in the picker
// is swallowed.
func TestShellDoesNotStealNextKeystroke(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	r, w, done := startPipedShell(t, c, io.Discard)
	if _, err := io.WriteString(w, "exit 0\n"); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	if _, err := w.Write([]byte("j")); err != nil {
		t.Fatal(err)
	}
	// Read in a goroutine: Run took the pipe's fd (blocking mode), so read
	// deadlines no longer apply.
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 8)
		n, _ := r.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if s != "j" {
			t.Fatalf("next read = %q, want %q", s, "j")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the keystroke after Run was stolen")
	}
}

func TestShellKeepAliveEndsDeadSession(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv, func(cfg *Config) {
		cfg.KeepAliveInterval = 20 * time.Millisecond
		cfg.KeepAliveMax = 3
	})
	srv.ignoreKeepalive.Store(true)
	_, _, done := startPipedShell(t, c, io.Discard)
	err := waitRun(t, done)
	if !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("Run = %v, want ErrKeepAliveTimeout", err)
	}
	if !strings.Contains(err.Error(), c.InstanceID()) {
		t.Fatalf("error %q does not name the instance", err)
	}
}

func TestShellAnsweredKeepAlivesKeepSession(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv, func(cfg *Config) {
		cfg.KeepAliveInterval = 5 * time.Millisecond
		cfg.KeepAliveMax = 2
	})
	_, w, done := startPipedShell(t, c, io.Discard)
	waitFor(t, "ten keepalives", func() bool { return srv.keepalives.Load() >= 10 })
	if _, err := io.WriteString(w, "exit 0\n"); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
}
