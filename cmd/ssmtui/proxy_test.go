package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sandbox"
)

// needTool returns the path of an external tool, skipping the test when it
// is missing and SSMTUI_E2E is unset; with SSMTUI_E2E=1 a missing tool fails.
func needTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("SSMTUI_E2E") != "" {
		t.Fatalf("SSMTUI_E2E is set but %s is not installed: %v", name, err)
	}
	t.Skipf("%s not installed (set SSMTUI_E2E=1 to make this a failure)", name)
	return ""
}

var (
	cxBinOnce sync.Once
	cxBinPath string
	cxBinErr  error
)

// cxBinary builds ./cmd/ssmtui once per test run (OpenSSH and tmux need a
// real executable). The file lives at a fixed temp path, overwritten by the
// next run.
func cxBinary(t testing.TB) string {
	t.Helper()
	cxBinOnce.Do(func() {
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("ssmtui-e2e-%d", os.Getuid()))
		if cxBinErr = os.MkdirAll(dir, 0o700); cxBinErr != nil {
			return
		}
		cxBinPath = filepath.Join(dir, "ssmtui")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, "go", "build", "-o", cxBinPath, ".").CombinedOutput()
		if err != nil {
			cxBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if cxBinErr != nil {
		t.Fatal(cxBinErr)
	}
	return cxBinPath
}

// cxUserKey writes a new ed25519 key pair (OpenSSH format) into dir and
// returns the private key path and the authorized_keys line.
func cxUserKey(t testing.TB, dir, name string) (string, string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	line := string(ssh.MarshalAuthorizedKey(sshPub))
	cxWrite(t, path, string(pem.EncodeToMemory(block)))
	cxWrite(t, path+".pub", line)
	return path, line
}

// TestProxyStdoutIsTheStream runs `proxy` in-process: the first bytes on
// stdout are the SSH server's banner (nothing printed before it), closing
// stdin ends the command cleanly, and the session is terminated.
func TestProxyStdoutIsTheStream(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan int, 1)
	go func() {
		env := &cliEnv{stdin: inR, stdout: outW, stderr: &errb, getenv: os.Getenv}
		done <- runMain(ctx, env, []string{"proxy", "web", "22"})
		_ = outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("read banner: %v (stderr %q)", err, errb.String())
	}
	if !strings.HasPrefix(line, "SSH-2.0-") {
		t.Fatalf("first stdout line %q, want the SSH banner", line)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	_ = inW.Close()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d, stderr %q", code, errb.String())
		}
	case <-ctx.Done():
		t.Fatal("proxy did not end after stdin closed")
	}
	waitCalls(t, e.sb, "ssm.TerminateSession", 1)
	if errb.Len() != 0 {
		t.Fatalf("stderr not empty on success: %q", errb.String())
	}
}

// waitCalls waits (bounded) until the sandbox saw n calls of op and fails if
// it saw another number.
func waitCalls(t *testing.T, sb *sandbox.Sandbox, op string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for sb.Stats().Calls[op] < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := sb.Stats().Calls[op]; got != n {
		t.Fatalf("%s calls = %d, want %d", op, got, n)
	}
}

// TestProxyNothingListening: a port nothing listens on ends the session at
// once; the proxy says so on stderr, prints nothing on stdout, exits 1.
func TestProxyNothingListening(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	inR, inW := io.Pipe()
	defer inW.Close()
	r := e.run(t, inR, "proxy", "appliance", "22")
	if r.code != 1 || r.stdout != "" {
		t.Fatalf("%+v", r)
	}
	wantContains(t, "stderr", r.stderr, "ended before anything answered on port 22", "ssmtui shell "+cxNoSSH)
	waitCalls(t, e.sb, "ssm.TerminateSession", 1)
}

// TestProxyUnderOpenSSH: the real ssh, scp, sftp and rsync clients use
// `ssmtui proxy` as ProxyCommand: a command runs, 8 MiB go up and down
// byte-exact, a tree syncs, and every session is terminated.
func TestProxyUnderOpenSSH(t *testing.T) {
	sshBin := needTool(t, "ssh")
	scpBin := needTool(t, "scp")
	bin := cxBinary(t)
	keyDir := t.TempDir()
	key, authLine := cxUserKey(t, keyDir, "id_test")
	authFile := filepath.Join(keyDir, "authorized_keys")
	cxWrite(t, authFile, authLine)
	e := newCxEnv(t, sandbox.Options{Hosts: sandbox.HostOptions{AuthorizedKeysFile: authFile}})
	kh := filepath.Join(keyDir, "known_hosts")
	opts := []string{
		"-F", "/dev/null",
		"-o", "ProxyCommand=" + bin + " proxy %h %p",
		"-o", "UserKnownHostsFile=" + kh,
		"-o", "StrictHostKeyChecking=accept-new",
		"-o", "IdentitiesOnly=yes", "-i", key,
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s %s: %v\nstderr: %s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
		}
		return out.String()
	}

	out := run(sshBin, append(opts, "ec2-user@"+cxWeb, "echo id=$SSMTUI_INSTANCE_ID user=$USER")...)
	if out != "id="+cxWeb+" user=ec2-user\n" {
		t.Fatalf("ssh output %q", out)
	}
	// The host key OpenSSH stored is the instance's.
	want, err := e.sb.HostPublicKey(cxWeb)
	if err != nil {
		t.Fatal(err)
	}
	khb, err := os.ReadFile(kh)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(khb), strings.TrimSpace(string(ssh.MarshalAuthorizedKey(want)))) {
		t.Fatalf("known_hosts %q lacks the instance's host key", khb)
	}

	// 8 MiB up and back down with scp (SFTP protocol), byte-exact.
	data := make([]byte, 8<<20)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	local := t.TempDir()
	src, back := filepath.Join(local, "src.bin"), filepath.Join(local, "back.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run(scpBin, append(opts, src, "ec2-user@"+cxWeb+":ssmtui-scp-test.bin")...)
	run(scpBin, append(opts, "ec2-user@"+cxWeb+":ssmtui-scp-test.bin", back)...)
	got, err := os.ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	if sha256.Sum256(got) != sha256.Sum256(data) || len(got) != len(data) {
		t.Fatalf("scp round trip: got %d bytes, want %d, content differs", len(got), len(data))
	}
	// The remote copy is exact too (checked on the instance).
	sum := run(sshBin, append(opts, "ec2-user@"+cxWeb, "sha256sum ssmtui-scp-test.bin; rm -f ssmtui-scp-test.bin")...)
	if !strings.HasPrefix(sum, fmt.Sprintf("%x", sha256.Sum256(data))) {
		t.Fatalf("remote sha256 %q", sum)
	}

	// sftp and rsync go through the same ProxyCommand (from a config file).
	cfgFile := filepath.Join(keyDir, "ssh_config")
	cxWrite(t, cfgFile, fmt.Sprintf("Host i-*\n  ProxyCommand %s proxy %%h %%p\n  User ec2-user\n  UserKnownHostsFile %s\n"+
		"  StrictHostKeyChecking accept-new\n  IdentitiesOnly yes\n  IdentityFile %s\n  BatchMode yes\n  LogLevel ERROR\n", bin, kh, key))
	sessions := 4 // ssh, scp, scp, ssh so far
	t.Run("sftp", func(t *testing.T) {
		sftpBin := needTool(t, "sftp")
		batch := filepath.Join(local, "batch")
		cxWrite(t, batch, "put "+src+" ssmtui-sftp-test.bin\nget ssmtui-sftp-test.bin "+back+".sftp\nrm ssmtui-sftp-test.bin\n")
		sessions++
		run(sftpBin, "-F", cfgFile, "-b", batch, cxWeb)
		got, err := os.ReadFile(back + ".sftp")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("sftp round trip: %d bytes, err %v", len(got), err)
		}
	})
	t.Run("rsync", func(t *testing.T) {
		rsyncBin := needTool(t, "rsync")
		tree := filepath.Join(local, "tree")
		cxWrite(t, filepath.Join(tree, "a.txt"), "alpha\n")
		cxWrite(t, filepath.Join(tree, "sub", "b.bin"), string(data[:1<<20]))
		sessions += 2
		run(rsyncBin, "-a", "-e", "ssh -F "+cfgFile, tree+"/", cxWeb+":ssmtui-rsync-test/")
		run(rsyncBin, "-a", "-e", "ssh -F "+cfgFile, cxWeb+":ssmtui-rsync-test/", filepath.Join(local, "tree-back")+"/")
		got, err := os.ReadFile(filepath.Join(local, "tree-back", "sub", "b.bin"))
		if err != nil || !bytes.Equal(got, data[:1<<20]) {
			t.Fatalf("rsync round trip: %d bytes, err %v", len(got), err)
		}
		if a, err := os.ReadFile(filepath.Join(local, "tree-back", "a.txt")); err != nil || string(a) != "alpha\n" {
			t.Fatalf("rsync a.txt = %q, %v", a, err)
		}
	})

	// Every proxy ended its session.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil && e.sb.Stats().Calls["ssm.TerminateSession"] < sessions {
		time.Sleep(50 * time.Millisecond)
	}
	st := e.sb.Stats()
	if st.Calls["ssm.StartSession"] != sessions || st.Calls["ssm.TerminateSession"] != sessions {
		t.Fatalf("StartSession %d, TerminateSession %d, want %d each", st.Calls["ssm.StartSession"], st.Calls["ssm.TerminateSession"], sessions)
	}
}

// TestProxyPushesEICKeyForOpenSSH: with --eic-key and --user %r, OpenSSH
// logs in with the user's own key pushed through EC2 Instance Connect (no
// authorized_keys on the instance).
func TestProxyPushesEICKeyForOpenSSH(t *testing.T) {
	sshBin := needTool(t, "ssh")
	bin := cxBinary(t)
	e := newCxEnv(t, sandbox.Options{})
	key, _ := cxUserKey(t, filepath.Join(e.home, ".ssh"), "id_ed25519")
	// The printed ssh-config block is what the user pastes.
	r := e.run(t, nil, "ssh-config", "--binary", bin, "--profile", cxProfile, "--eic-key", key+".pub")
	if r.code != 0 {
		t.Fatalf("ssh-config: %+v", r)
	}
	wantContains(t, "ssh-config", r.stdout, "Host i-* mi-*\n",
		"ProxyCommand "+bin+" proxy --profile cx --eic-key "+key+".pub --user %r %h %p\n")
	cfgFile := filepath.Join(e.home, ".ssh", "config")
	cxWrite(t, cfgFile, r.stdout+"    UserKnownHostsFile "+filepath.Join(e.home, ".ssh", "known_hosts")+"\n    BatchMode yes\n    IdentitiesOnly yes\n    IdentityFile "+key+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, "-F", cfgFile, "ubuntu@"+cxAPI, "echo $USER on $SSMTUI_INSTANCE_ID")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, errb.String())
	}
	if string(out) != "ubuntu on "+cxAPI+"\n" {
		t.Fatalf("ssh output %q", out)
	}
	if n := e.sb.Stats().Calls["ec2-instance-connect.SendSSHPublicKey"]; n != 1 {
		t.Fatalf("SendSSHPublicKey calls = %d, want 1", n)
	}
}

// TestSSHConfigBlock: the printed block uses `ssmtui proxy %h %p` for i-*
// and mi-*, passes --profile and --region through (quoted for the shell) and
// rejects stray arguments.
func TestSSHConfigBlock(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	r := e.run(t, nil, "ssh-config", "--binary", "/opt/my tools/ssmtui")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	wantContains(t, "block", r.stdout, "Host i-* mi-*\n", "    ProxyCommand '/opt/my tools/ssmtui' proxy %h %p\n",
		"ServerAliveInterval", "--profile P and --region R")
	r = e.run(t, nil, "ssh-config", "--binary", "ssmtui", "--profile", "prod", "--region", "eu-west-1", "--host", "i-* prod-*")
	wantContains(t, "block", r.stdout, "Host i-* prod-*\n", "    ProxyCommand ssmtui proxy --profile prod --region eu-west-1 %h %p\n")
	if strings.Contains(r.stdout, "--profile P and") {
		t.Error("pinned block still suggests --profile")
	}
	if r := e.run(t, nil, "ssh-config", "extra"); r.code != 2 {
		t.Fatalf("stray argument: %+v", r)
	}
}

// TestKnownHostsCommand: list shows the stored fingerprint, path names the
// file, forget removes it (and says so when nothing was stored).
func TestKnownHostsCommand(t *testing.T) {
	e := newCxEnv(t, sandbox.Options{})
	e.trustHost(t, cxWeb)
	key, err := e.sb.HostPublicKey(cxWeb)
	if err != nil {
		t.Fatal(err)
	}
	r := e.run(t, nil, "known-hosts", "list", cxWeb)
	if r.code != 0 || r.stdout != cxWeb+" ssh-ed25519 "+ssh.FingerprintSHA256(key)+"\n" {
		t.Fatalf("list: %+v", r)
	}
	if r := e.run(t, nil, "known-hosts", "path"); r.stdout != e.knownHostsPath()+"\n" {
		t.Fatalf("path: %+v", r)
	}
	if r := e.run(t, nil, "known-hosts", "forget", cxWeb); r.code != 0 || !strings.Contains(r.stderr, "removed 1") {
		t.Fatalf("forget: %+v", r)
	}
	if r := e.run(t, nil, "known-hosts", "forget", cxWeb); r.code != 0 || !strings.Contains(r.stderr, "no host key stored") {
		t.Fatalf("forget again: %+v", r)
	}
	if r := e.run(t, nil, "known-hosts", "list", cxWeb); r.stdout != "" {
		t.Fatalf("list after forget: %+v", r)
	}
	if r := e.run(t, nil, "known-hosts", "bogus"); r.code != 2 {
		t.Fatalf("bogus: %+v", r)
	}
}
