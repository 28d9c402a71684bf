//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ssmtui/ssmtui/sandbox"
)

// TestUnknownHostKeyWithoutTerminal runs the binary in a new session (no
// controlling terminal, so no one can confirm a key): an unknown host key
// fails closed with exit 255 and names --accept-new-host-key, and nothing
// is stored.
func TestUnknownHostKeyWithoutTerminal(t *testing.T) {
	bin := cxBinary(t)
	e := newCxEnv(t, sandbox.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "exec", "web", "--", "echo should-not-run")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 255 {
		t.Fatalf("exit: %v (stderr %q)", err, errb.String())
	}
	if out.Len() != 0 {
		t.Fatalf("stdout %q", out.String())
	}
	wantContains(t, "stderr", errb.String(), cxWeb, "--accept-new-host-key")
	r := e.run(t, nil, "known-hosts", "list", cxWeb)
	if r.stdout != "" {
		t.Fatalf("a key was stored without confirmation: %q", r.stdout)
	}
}

// TestProxyEndsOnSIGHUP: OpenSSH ends its ProxyCommand with SIGHUP when it
// exits; the proxy then terminates the session and exits 0, with nothing
// but the stream (the server's banner) on stdout.
func TestProxyEndsOnSIGHUP(t *testing.T) {
	bin := cxBinary(t)
	e := newCxEnv(t, sandbox.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "proxy", cxWeb, "22")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	banner := make([]byte, 8)
	if _, err := io.ReadFull(stdout, banner); err != nil || string(banner) != "SSH-2.0-" {
		t.Fatalf("stdout starts %q (%v), stderr %q", banner, err, errb.String())
	}
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("proxy after SIGHUP: %v (stderr %q)", err, errb.String())
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", 1)
}
