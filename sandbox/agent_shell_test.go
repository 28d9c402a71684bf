//go:build unix

package sandbox_test

import (
	"bytes"
	"crypto/ed25519"
	crand "crypto/rand"
	"io"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2instanceconnect"
	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sandbox"
	"github.com/ssmtui/ssmtui/session"
)

// loginFacts prints the instance ID, working directory, HOME, HOSTNAME and
// PS1 of the shell it runs in, on one line that its own echo cannot match.
const loginFacts = `printf 'R%s|%s|%s|%s|%s\n' "$SSMTUI_INSTANCE_ID" "$(pwd)" "$HOME" "$HOSTNAME" "$PS1"`

var factsRE = regexp.MustCompile(`R(i-[0-9a-f]+)\|([^|]*)\|([^|]*)\|([^|]*)\|([^\r\n]*)\r?\n`)

// TestShellSessionRunsLikeSSHHost: a Standard_Stream shell through the
// built-in agent runs in the same directory, HOME, HOSTNAME and instance
// environment as a login on the instance's SSH host, as ssm-user.
func TestShellSessionRunsLikeSSHHost(t *testing.T) {
	sb := startSandbox(t, sandbox.Options{
		Gateway: sandbox.GatewayOptions{Shell: "/bin/sh"},
		Hosts:   sandbox.HostOptions{Shell: "/bin/sh"},
	})
	cfg := awsConfig(t, sb.URL())
	ctx := testContext(t, 60*time.Second)

	// The SSH host's view, through EC2 Instance Connect.
	pub, priv, _ := ed25519.GenerateKey(crand.Reader)
	signer, _ := ssh.NewSignerFromKey(priv)
	sshPub, _ := ssh.NewPublicKey(pub)
	if _, err := ec2instanceconnect.NewFromConfig(cfg).SendSSHPublicKey(ctx, &ec2instanceconnect.SendSSHPublicKeyInput{
		InstanceId: aws.String(instOnline), InstanceOSUser: aws.String("ec2-user"),
		SSHPublicKey: aws.String(string(ssh.MarshalAuthorizedKey(sshPub))),
	}); err != nil {
		t.Fatal(err)
	}
	addr, err := sb.HostAddr(ctx, instOnline)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, _ := sb.HostPublicKey(instOnline)
	client, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User: "ec2-user", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	s, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.CombinedOutput(loginFacts)
	if err != nil {
		t.Fatalf("ssh exec: %v: %q", err, out)
	}
	want := factsRE.FindSubmatch(out)
	if want == nil {
		t.Fatalf("ssh host printed %q", out)
	}

	// The SSM shell's view.
	sh, err := session.OpenShell(ctx, cfg, instOnline, session.ShellOptions{Cols: 200, Rows: 40})
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	go func() { _, _ = io.Copy(lockedWriter{&mu, &screen}, sh) }()
	_, _ = sh.Write([]byte(loginFacts + "\r"))
	var got [][]byte
	for got == nil && ctx.Err() == nil {
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		if m := factsRE.FindSubmatch(screen.Bytes()); m != nil {
			got = m
		}
		mu.Unlock()
	}
	if got == nil {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("shell never printed its facts: %q", screen.String())
	}
	for i, name := range []string{"SSMTUI_INSTANCE_ID", "pwd", "HOME", "HOSTNAME"} {
		if !bytes.Equal(got[i+1], want[i+1]) {
			t.Errorf("%s: shell session %q, ssh host %q", name, got[i+1], want[i+1])
		}
	}
	if string(got[1]) != instOnline {
		t.Errorf("SSMTUI_INSTANCE_ID = %q, want %q", got[1], instOnline)
	}
	if string(got[5]) != "ssm-user@web$ " || string(want[5]) != "ec2-user@web$ " {
		t.Errorf("PS1: shell session %q, ssh host %q", got[5], want[5])
	}
	_, _ = sh.Write([]byte("exit\r"))
}
