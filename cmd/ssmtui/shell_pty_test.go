//go:build linux

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/ui"
)

// lockedBuffer collects what a pty master reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls buf until it contains want after offset from and returns
// the offset just past it.
func waitFor(ctx context.Context, t *testing.T, buf *lockedBuffer, from int, want string) int {
	t.Helper()
	for {
		s := buf.String()
		if i := strings.Index(s[from:], want); i >= 0 {
			return from + i + len(want)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %q; output since offset %d:\n%q", want, from, s[from:])
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// canonEcho reports the ICANON and ECHO bits of a terminal.
func canonEcho(t *testing.T, f *os.File) (icanon, echo bool) {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio.Lflag&unix.ICANON != 0, tio.Lflag&unix.ECHO != 0
}

// TestShellOnTerminalThroughConnector runs the picker's ModeShell session
// (the same shellRunner as `ssmtui shell`) on a real pty: the initial size
// and a SIGWINCH resize reach the remote pty, Ctrl-C interrupts the remote
// command without ending the session, `exit` ends it, and the local terminal
// is back in canonical mode with echo.
func TestShellOnTerminalThroughConnector(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	defer tty.Close()
	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 30, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	var screen lockedBuffer
	go func() { _, _ = io.Copy(&screen, ptm) }()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := &sshConnector{
		loadConfig: func(ctx context.Context, profile string) (aws.Config, error) {
			return loadAWSConfig(ctx, cxCLIEnv(), awsOptions{Profile: profile})
		},
	}
	inst := inventory.Instance{ID: cxWeb, Name: "web", Region: "us-east-1", Profile: cxProfile}
	sess, err := c.Connect(ctx, inst, ui.ModeShell, nil, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	sess.SetStdin(tty)
	sess.SetStdout(tty)
	sess.SetStderr(tty)
	runDone := make(chan error, 1)
	go func() { runDone <- sess.Run() }()

	off := 0
	type_ := func(s string) {
		if _, err := io.WriteString(ptm, s); err != nil {
			t.Fatal(err)
		}
	}
	type_("stty size\r")
	off = waitFor(ctx, t, &screen, off, "30 100")
	if icanon, echo := canonEcho(t, tty); icanon || echo {
		t.Fatalf("local terminal not raw during the session: icanon=%v echo=%v", icanon, echo)
	}

	if err := pty.Setsize(ptm, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGWINCH); err != nil {
		t.Fatal(err)
	}
	// The resize is asynchronous: ask until the remote pty reports it.
	for i := 0; ; i++ {
		type_("stty size\r")
		s := screen.String()
		if strings.Contains(s[off:], "40 120") {
			off = len(s)
			break
		}
		if i > 100 || ctx.Err() != nil {
			t.Fatalf("resize never reached the remote pty:\n%q", s[off:])
		}
		time.Sleep(50 * time.Millisecond)
	}

	type_("sleep 30; echo not-$((1+1))-interrupted\r")
	time.Sleep(300 * time.Millisecond)
	type_("\x03")
	type_("echo after-$((40+2))\r")
	waitFor(ctx, t, &screen, off, "after-42")
	if strings.Contains(screen.String(), "not-2-interrupted") {
		t.Fatal("Ctrl-C did not reach the remote command")
	}

	type_("exit\r")
	select {
	case err := <-runDone:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the session did not end after exit")
	}
	if icanon, echo := canonEcho(t, tty); !icanon || !echo {
		t.Fatalf("terminal not restored: icanon=%v echo=%v", icanon, echo)
	}
	if n := e.sb.Stats().Calls["ssm.StartSession"]; n != 1 {
		t.Fatalf("StartSession calls %d, want 1", n)
	}
}
