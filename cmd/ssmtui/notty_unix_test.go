//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
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
