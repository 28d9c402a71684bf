package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sandbox"
)

// TestConnectInTmux runs the built binary in a real terminal (a detached
// tmux session): `connect` reaches the sandbox host's interactive shell with
// a PTY after the host key was confirmed at the /dev/tty prompt, a typed
// command's output appears, `exit` returns with status 0, and
// afterwards the terminal is sane (`stty -a` shows icanon and echo).
func TestConnectInTmux(t *testing.T) {
	tmux := needTool(t, "tmux")
	bin := cxBinary(t)
	e := newCxEnv(t, sandbox.Options{})
	sock := filepath.Join(e.home, "tmux.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tm := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, tmux, append([]string{"-S", sock, "-f", "/dev/null"}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}
	script := bin + " connect web; echo SSMTUI-EXIT=$?; stty -a; exec sleep 600"
	tm("new-session", "-d", "-s", "cx", "-x", "120", "-y", "40", "sh", "-c", script)
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() })

	screen := func() string { return tm("capture-pane", "-p", "-J", "-S", "-200", "-t", "cx") }
	waitScreen := func(want string) string {
		t.Helper()
		for {
			s := screen()
			if strings.Contains(s, want) {
				return s
			}
			select {
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %q; screen:\n%s", want, s)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	// Trust on first use, asked on the terminal with the instance's key.
	key, err := e.sb.HostPublicKey(cxWeb)
	if err != nil {
		t.Fatal(err)
	}
	s := waitScreen("continue connecting (yes/no)?")
	wantContains(t, "host-key prompt", s, cxWeb+" (web)", ssh.FingerprintSHA256(key))
	tm("send-keys", "-t", "cx", "-l", "yes")
	tm("send-keys", "-t", "cx", "Enter")
	waitScreen("ec2-user@web")
	tm("send-keys", "-t", "cx", "-l", "echo ID=$SSMTUI_INSTANCE_ID TERM=$TERM")
	tm("send-keys", "-t", "cx", "Enter")
	s = waitScreen("ID=" + cxWeb)
	if strings.Contains(s, "TERM= ") || strings.Contains(s, "TERM=dumb") {
		t.Errorf("no terminal type reached the remote PTY:\n%s", s)
	}
	tm("send-keys", "-t", "cx", "-l", "exit")
	tm("send-keys", "-t", "cx", "Enter")
	waitScreen("SSMTUI-EXIT=0")
	s = waitScreen("speed")
	after := s[strings.Index(s, "SSMTUI-EXIT=0"):]
	for _, mode := range []string{"icanon", "echo", "isig"} {
		if !regexp.MustCompile(`(^|\s)` + mode + `(\s|$)`).MatchString(after) {
			t.Errorf("after the session, stty -a lacks %q (terminal left raw):\n%s", mode, after)
		}
	}
	kh, err := os.ReadFile(e.knownHostsPath())
	if err != nil || !strings.Contains(string(kh), cxWeb+" "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))) {
		t.Fatalf("accepted host key not stored: %q %v", kh, err)
	}
}
