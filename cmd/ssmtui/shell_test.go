package main

import (
	"strings"
	"testing"

	"github.com/ssmtui/ssmtui/sandbox"
)

// TestShellPipedStdin: `ssmtui shell` with a non-terminal stdin forwards the
// script to the Session Manager shell (no SSH: works on the noSsh instance
// and the EIC-less one), prints its output and exits 0 when the remote shell
// exits and the service closes the channel.
func TestShellPipedStdin(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	for _, target := range []string{"appliance", cxNoEIC} {
		r := e.run(t, strings.NewReader("echo answer=$((6*7))\nexit\n"), "shell", target)
		if r.code != 0 {
			t.Fatalf("shell %s: code %d stderr %q", target, r.code, r.stderr)
		}
		wantContains(t, "stdout", r.stdout, "answer=42")
	}
	st := e.sb.Stats()
	if st.Calls["ec2-instance-connect.SendSSHPublicKey"] != 0 {
		t.Fatal("a plain shell pushed an SSH key")
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", 2)
	// An offline instance fails before any terminal change, with the reason.
	r := e.run(t, nil, "shell", "batch")
	if r.code != 255 {
		t.Fatalf("offline shell: %+v", r)
	}
	wantContains(t, "stderr", r.stderr, "offline", "ConnectionLost")
}
