//go:build unix

package sandbox

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// requireTool finds a command-line tool; it skips only when the tool is
// missing and SSMTUI_E2E is unset (CI sets it, so there a missing tool fails).
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("SSMTUI_E2E") != "" {
			t.Fatalf("SSMTUI_E2E is set but %s is missing: %v", name, err)
		}
		t.Skipf("%s not installed (set SSMTUI_E2E=1 to require this test)", name)
	}
	return p
}

// TestOpenSSHClientInterop drives the hosts with the OpenSSH client: a key
// pushed through EC2 Instance Connect, strict host key checking against the
// derived key, exec with exit status, SendEnv, scp (sftp) both ways, and a
// wrong user refused the way sshd refuses it.
func TestOpenSSHClientInterop(t *testing.T) {
	sshBin := requireTool(t, "ssh")
	scpBin := requireTool(t, "scp")
	sb := startHostsSandbox(t, Options{})
	dir := t.TempDir()

	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "interop")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pushKey(t, eicClient(t, sb, hostsRegion), hostAL, "ec2-user", string(ssh.MarshalAuthorizedKey(pub)))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr, err := sb.HostAddr(ctx, hostAL)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(addr)
	hostKey, err := sb.HostPublicKey(hostAL)
	if err != nil {
		t.Fatal(err)
	}
	knownHosts := filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostKey) + "\n"
	if err := os.WriteFile(knownHosts, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"-F", "/dev/null", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
		"-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + knownHosts,
		"-o", "GlobalKnownHostsFile=/dev/null", "-o", "ConnectTimeout=20"}
	sshCmd := func(user string, args ...string) (string, string, error) {
		all := append(append([]string{}, common...), "-p", port, "-o", "SendEnv=LANG", "-l", user, "127.0.0.1")
		cmd := exec.CommandContext(ctx, sshBin, append(all, args...)...)
		cmd.Env = append(os.Environ(), "LANG=C.UTF-8")
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		return out.String(), errOut.String(), err
	}

	out, errOut, err := sshCmd("ec2-user", `echo "$SSMTUI_INSTANCE_ID $LANG"; exit 4`)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 4 {
		t.Fatalf("ssh exec: %v (stderr %q), want exit code 4", err, errOut)
	}
	if out != hostAL+" C.UTF-8\n" {
		t.Errorf("ssh exec output %q, want %q", out, hostAL+" C.UTF-8\n")
	}

	// -tt: a PTY without a local terminal (size 0×0 means the 80×24 default).
	out, errOut, err = sshCmd("ec2-user", "-tt", `echo "size=$(stty size) tty=$(tty)."`)
	if err != nil {
		t.Fatalf("ssh -tt: %v (stderr %q)", err, errOut)
	}
	if !strings.Contains(out, "size=24 80 tty=/dev/") {
		t.Errorf("ssh -tt output %q, want a 24×80 terminal", out)
	}

	_, errOut, err = sshCmd("root", "true")
	if !errors.As(err, &ee) || ee.ExitCode() != 255 || !strings.Contains(errOut, "Permission denied (publickey)") {
		t.Errorf("ssh as root: %v, stderr %q; want exit 255 and Permission denied (publickey)", err, errOut)
	}

	data := make([]byte, 1<<20+3)
	_, _ = rand.Read(data)
	local := filepath.Join(dir, "up.bin")
	if err := os.WriteFile(local, data, 0o600); err != nil {
		t.Fatal(err)
	}
	scp := func(args ...string) {
		t.Helper()
		all := append(append([]string{}, common...), "-P", port)
		cmd := exec.CommandContext(ctx, scpBin, append(all, args...)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("scp %v: %v\n%s", args, err, b)
		}
	}
	scp(local, "ec2-user@127.0.0.1:copied.bin")
	back := filepath.Join(dir, "back.bin")
	scp("ec2-user@127.0.0.1:copied.bin", back)
	got, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("scp round trip changed the file (%d bytes back, %d sent)", len(got), len(data))
	}
}
