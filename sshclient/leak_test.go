package sshclient

import (
	"errors"
	"io"
	"runtime"
	"testing"
	"time"
)

// Every goroutine Connect, Exec and Shell start must exit once the client is
// closed: connect, run a command, run a shell that ends, a shell ended by a
// keepalive timeout, then close everything and count.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("cycle", func(t *testing.T) {
		srv := startServer(t)
		c := connected(t, srv, func(cfg *Config) {
			cfg.KeepAliveInterval = 10 * time.Millisecond
			cfg.KeepAliveMax = 2
		})
		if err := c.Exec(testContext(t), "exit 3", nil, nil, nil); err == nil {
			t.Fatal("exit 3 reported success")
		}
		r, w, done := startPipedShell(t, c, io.Discard)
		if _, err := io.WriteString(w, "exit 0\n"); err != nil {
			t.Fatal(err)
		}
		if err := waitRun(t, done); err != nil {
			t.Fatal(err)
		}
		srv.ignoreKeepalive.Store(true)
		sh2 := c.Shell()
		sh2.SetStdin(r)
		sh2.SetStdout(io.Discard)
		sh2.SetStderr(io.Discard)
		if err := waitRun(t, runShell(sh2)); !errors.Is(err, ErrKeepAliveTimeout) {
			t.Fatalf("Run = %v, want ErrKeepAliveTimeout", err)
		}
		if err := c.Close(); err != nil {
			t.Logf("Close: %v", err)
		}
	})
	var now int
	waitFor(t, "goroutines to exit", func() bool {
		now = runtime.NumGoroutine()
		return now <= before
	})
}
