//go:build unix

package sshclient

import (
	"errors"
	"io"
	"maps"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/term"
)

// ptyShell starts Shell.Run on the slave side of a fresh pty sized 100×30 and
// returns the master, the collected output and Run's result channel, once
// the terminal is in raw mode.
func ptyShell(t *testing.T, c *Client) (master, slave *os.File, out *syncBuffer, before *term.State, done <-chan error) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() {
		_ = master.Close()
		_ = slave.Close()
	})
	if err := pty.Setsize(master, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	before, err = term.GetState(int(slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	out = &syncBuffer{}
	go func() { _, _ = io.Copy(out, master) }()
	sh := c.Shell()
	sh.Term = "xterm-test"
	sh.SetStdin(slave)
	sh.SetStdout(slave)
	sh.SetStderr(slave)
	done = runShell(sh)
	waitFor(t, "raw mode", func() bool {
		st, err := term.GetState(int(slave.Fd()))
		return err == nil && !reflect.DeepEqual(st, before)
	})
	return master, slave, out, before, done
}

func TestShellUnderPTY(t *testing.T) {
	t.Setenv("LANG", "nl_NL.UTF-8")
	t.Setenv("LC_TIME", "C")
	t.Setenv("SSMTUI_NOT_FORWARDED", "x")
	srv := startServer(t)
	c := connected(t, srv)
	master, slave, out, before, done := ptyShell(t, c)

	if _, err := io.WriteString(master, "hi\r"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "echo", func() bool { return strings.Contains(out.String(), "hi") })
	if _, err := io.WriteString(master, "exit 3\r"); err != nil {
		t.Fatal(err)
	}
	var ee *ExitError
	if err := waitRun(t, done); !errors.As(err, &ee) || ee.Code != 3 {
		t.Fatalf("Run = %v, want exit 3", err)
	}
	after, err := term.GetState(int(slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Fatal("terminal mode not restored after Run")
	}
	// Raw mode: CR reaches the server as CR (cooked mode would turn it into LF).
	if got := srv.received(); got != "hi\rexit 3\r" {
		t.Fatalf("server received %q", got)
	}
	srv.mu.Lock()
	reqs := append([]ptyReq(nil), srv.ptyReqs...)
	srv.mu.Unlock()
	if len(reqs) != 1 || reqs[0] != (ptyReq{Term: "xterm-test", W: 100, H: 30}) {
		t.Fatalf("pty requests = %+v, want xterm-test 100×30", reqs)
	}
	srv.mu.Lock()
	env := maps.Clone(srv.env)
	srv.mu.Unlock()
	if env["LANG"] != "nl_NL.UTF-8" || env["LC_TIME"] != "C" || env["SSMTUI_NOT_FORWARDED"] != "" {
		t.Fatalf("env requests = %v, want LANG and LC_* only", env)
	}
	waitFor(t, "terminal reset sequence", func() bool { return strings.Contains(out.String(), termReset) })
}

func TestShellEscapeDisconnect(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	master, _, out, _, done := ptyShell(t, c)
	if _, err := io.WriteString(master, "hang\r~?"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "escape help", func() bool { return strings.Contains(out.String(), "~.  - terminate") })
	if _, err := io.WriteString(master, "~."); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, done); !errors.Is(err, ErrDisconnected) {
		t.Fatalf("Run = %v, want ErrDisconnected", err)
	}
	if got := srv.received(); got != "hang\r" {
		t.Fatalf("server received %q; escapes must not be sent", got)
	}
}

func TestShellPTYDoesNotStealNextKeystroke(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	master, slave, _, _, done := ptyShell(t, c)
	if _, err := io.WriteString(master, "exit 0\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
	// Back in cooked mode: the picker's next line must reach its reader.
	if _, err := io.WriteString(master, "q\n"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		n, _ := slave.Read(b)
		got <- string(b[:n])
	}()
	select {
	case s := <-got:
		if s != "q\n" {
			t.Fatalf("next read = %q, want %q", s, "q\n")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the keystroke after Run was stolen")
	}
}

func TestShellResize(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv)
	master, _, _, _, done := ptyShell(t, c)
	if err := pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	// SIGWINCH reaches the watcher; repeat until it is registered and sends.
	waitFor(t, "window-change 120×40", func() bool {
		_ = syscall.Kill(os.Getpid(), syscall.SIGWINCH)
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, wc := range srv.winChanges {
			if wc == [2]int{120, 40} {
				return true
			}
		}
		return false
	})
	srv.mu.Lock()
	n := len(srv.winChanges)
	srv.mu.Unlock()
	if n != 1 {
		t.Fatalf("%d window-change requests for one new size; want 1 (de-duplicated)", n)
	}
	if _, err := io.WriteString(master, "exit 0\r"); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, done); err != nil {
		t.Fatalf("Run = %v", err)
	}
}
