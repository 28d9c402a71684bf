package sshclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// connected returns a client authenticated with a key file.
func connected(t testing.TB, srv *testServer, mutate ...func(*Config)) *Client {
	t.Helper()
	env := newTestEnv(t)
	cfg := authorizedConfig(t, srv, env, "i-0exec")
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := connect(t, srv, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	return c
}

func TestExecExitStatus(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	for name, tc := range map[string]struct {
		cmd  string
		want *ExitError // nil: success
	}{
		"exit 0":             {"exit 0", nil},
		"exit 3":             {"exit 3", &ExitError{Code: 3}},
		"exit 130":           {"exit 130", &ExitError{Code: 130}},
		"signal TERM":        {"signal TERM", &ExitError{Code: 143, Signal: "TERM"}},
		"signal KILL":        {"signal KILL", &ExitError{Code: 137, Signal: "KILL"}},
		"unknown signal":     {"signal WINCH", &ExitError{Code: 128, Signal: "WINCH"}},
		"no status (RFC ok)": {"quiet", nil},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.Exec(testContext(t), tc.cmd, nil, nil, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Exec(%q) = %v, want nil", tc.cmd, err)
				}
				return
			}
			var ee *ExitError
			if !errors.As(err, &ee) || *ee != *tc.want {
				t.Fatalf("Exec(%q) = %#v, want %#v", tc.cmd, err, tc.want)
			}
		})
	}
}

func TestExecStreams(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	var out, errOut bytes.Buffer
	if err := c.Exec(testContext(t), "echo hello", nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello" || errOut.String() != "err" {
		t.Fatalf("stdout %q stderr %q", out.String(), errOut.String())
	}
}

func TestExecForwardsStdin(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	t.Run("reader", func(t *testing.T) {
		var out bytes.Buffer
		in := strings.Repeat("0123456789", 10000)
		if err := c.Exec(testContext(t), "cat", strings.NewReader(in), &out, nil); err != nil {
			t.Fatal(err)
		}
		if out.String() != in {
			t.Fatalf("cat returned %d bytes, want %d", out.Len(), len(in))
		}
	})
	t.Run("regular file", func(t *testing.T) {
		// epoll refuses regular files: the input is read without a watcher.
		path := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(path, []byte("from a file"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var out bytes.Buffer
		if err := c.Exec(testContext(t), "cat", f, &out, nil); err != nil {
			t.Fatal(err)
		}
		if out.String() != "from a file" {
			t.Fatalf("cat returned %q", out.String())
		}
	})
	t.Run("pipe", func(t *testing.T) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			_, _ = io.WriteString(w, "through a pipe")
			_ = w.Close() // EOF must reach the remote cat, or Exec never returns
		}()
		var out bytes.Buffer
		if err := c.Exec(testContext(t), "cat", r, &out, nil); err != nil {
			t.Fatal(err)
		}
		if out.String() != "through a pipe" {
			t.Fatalf("cat returned %q", out.String())
		}
	})
}

// After Exec returns, nothing may still be reading the caller's stdin.
func TestExecDoesNotKeepReadingStdin(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := c.Exec(testContext(t), "exit 0", r, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("k")); err != nil {
		t.Fatal(err)
	}
	_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, 1)
	if n, err := r.Read(b); n != 1 || b[0] != 'k' {
		t.Fatalf("read after Exec = %q, %v; the byte was stolen", b[:n], err)
	}
}

func TestExecKeepAliveTimeout(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv, func(cfg *Config) {
		cfg.KeepAliveInterval = 20 * time.Millisecond
		cfg.KeepAliveMax = 3
	})
	srv.ignoreKeepalive.Store(true)
	r, w, err := os.Pipe() // stdin that never ends: only the keepalive can end cat
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	err = c.Exec(testContext(t), "cat", r, nil, nil)
	if !errors.Is(err, ErrKeepAliveTimeout) {
		t.Fatalf("Exec = %v, want ErrKeepAliveTimeout", err)
	}
}

func TestExitErrorMapping(t *testing.T) {
	lost := errors.New("lost")
	other := errors.New("boom")
	log := slog.New(slog.DiscardHandler)
	for name, tc := range map[string]struct {
		err      error
		quit     bool
		lost     error
		wantIs   error
		wantNil  bool
		wantWrap bool
	}{
		"clean":                 {wantNil: true},
		"user quit wins":        {err: other, quit: true, lost: lost, wantIs: ErrDisconnected},
		"keepalive loss wins":   {err: other, lost: lost, wantIs: lost},
		"transport error":       {err: other, wantIs: other, wantWrap: true},
		"missing status is ok":  {err: missingErr(), wantNil: true},
		"user quit, clean exit": {quit: true, wantIs: ErrDisconnected},
	} {
		t.Run(name, func(t *testing.T) {
			got := exitError(tc.err, tc.quit, tc.lost, log)
			if tc.wantNil {
				if got != nil {
					t.Fatalf("exitError = %v, want nil", got)
				}
				return
			}
			if !errors.Is(got, tc.wantIs) {
				t.Fatalf("exitError = %v, want %v", got, tc.wantIs)
			}
			if tc.wantWrap && !strings.HasPrefix(got.Error(), "session: ") {
				t.Fatalf("exitError = %q, want it wrapped", got)
			}
		})
	}
}

func missingErr() error { return &ssh.ExitMissingError{} }

func TestExecContextCancel(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	r, w, err := os.Pipe() // stdin that never ends: cat runs until cancelled
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ctx, cancel := context.WithCancel(testContext(t))
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- c.Exec(ctx, "cat", r, &out, nil) }()
	if _, err := io.WriteString(w, "ping"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "cat output", func() bool { return out.String() == "ping" })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Exec = %v, want context.Canceled", err)
	}
	// The connection is still usable.
	if err := c.Exec(testContext(t), "exit 0", nil, nil, nil); err != nil {
		t.Fatalf("Exec after a cancelled one: %v", err)
	}
}
