package sshclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// startAgent serves an in-memory keyring holding keys on a unix socket.
func startAgent(t *testing.T, keys ...any) string {
	t.Helper()
	kr := agent.NewKeyring()
	for i, k := range keys {
		if err := kr.Add(agent.AddedKey{PrivateKey: k, Comment: fmt.Sprintf("key%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "agent") // short path: unix socket names are limited
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = agent.ServeAgent(kr, c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		wg.Wait()
		_ = os.RemoveAll(dir)
	})
	return sock
}

func TestAuthAgent(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	priv, pub := newEd25519(t)
	srv.authorize("ec2-user", pub)
	cfg := env.config("i-0agent")
	cfg.NoAgent = false
	cfg.AgentSocket = startAgent(t, priv)
	c, err := connect(t, srv, cfg)
	if err != nil {
		t.Fatalf("Connect with agent: %v", err)
	}
	if c.User() != "ec2-user" {
		t.Fatalf("User = %q", c.User())
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// A full agent must not exhaust MaxAuthTries: at most MaxAgentKeys are offered,
// and the key file after them still gets its turn.
func TestAuthAgentKeysBounded(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	var agentKeys []any
	for range 8 {
		k, _ := newEd25519(t)
		agentKeys = append(agentKeys, k)
	}
	filePriv, filePub := newEd25519(t)
	writeKey(t, filepath.Join(env.home, ".ssh", "id_ed25519"), filePriv, "", false)
	srv.authorize("ec2-user", filePub)
	cfg := env.config("i-0bounded")
	cfg.NoAgent = false
	cfg.AgentSocket = startAgent(t, agentKeys...)
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect: %v (offered %v)", err, srv.offeredKeys())
	}
	if n := len(srv.offeredKeys()); n != DefaultMaxAgentKeys+1 {
		t.Fatalf("server saw %d keys, want %d agent keys + the file", n, DefaultMaxAgentKeys)
	}
}

// With an IdentityFile configured and the same key in the agent, only that
// agent key is offered, and its passphrase is never asked.
func TestAuthAgentPrefersConfiguredIdentity(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	other1, _ := newEd25519(t)
	other2, _ := newEd25519(t)
	want, wantPub := testKey(t, "enc_ed25519_a", filepath.Join(env.home, ".ssh", "work"), true)
	srv.authorize("ec2-user", wantPub)
	writeFile(t, filepath.Join(env.home, ".ssh", "config"), "Host i-*\n  IdentityFile ~/.ssh/work\n")
	cfg := env.config("i-0prefer")
	cfg.NoAgent = false
	cfg.AgentSocket = startAgent(t, other1, other2, want)
	p := &fakePrompter{}
	cfg.Prompter = p
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if got := srv.offeredKeys(); len(got) != 1 || !strings.HasSuffix(got[0], ssh.FingerprintSHA256(wantPub)) {
		t.Fatalf("offered %v, want only the configured key", got)
	}
	if len(p.passAsked) != 0 {
		t.Fatalf("asked for a passphrase the agent made unnecessary: %v", p.passAsked)
	}
}

// testKey copies the encrypted test key name (passphrase "correct horse") to
// dst, with its .pub when withPub, and returns the unencrypted private key and
// the public key.
func testKey(t *testing.T, name, dst string, withPub bool) (any, ssh.PublicKey) {
	t.Helper()
	enc, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dst, string(enc))
	plain, err := os.ReadFile(filepath.Join("testdata", name+".plain"))
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ssh.ParseRawPrivateKey(plain)
	if err != nil {
		t.Fatal(err)
	}
	pubText, err := os.ReadFile(filepath.Join("testdata", name+".pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(pubText)
	if err != nil {
		t.Fatal(err)
	}
	if withPub {
		writeFile(t, dst+".pub", string(pubText))
	}
	return priv, pub
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAuthEncryptedIdentityFile(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	// No .pub next to it: the key is only known after decryption.
	_, pub := testKey(t, "enc_ed25519_b", filepath.Join(env.home, ".ssh", "id_ecdsa"), false)
	srv.authorize("ec2-user", pub)
	cfg := env.config("i-0pass")
	p := &fakePrompter{passphrases: []string{"wrong", "correct horse"}}
	cfg.Prompter = p
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if len(p.passAsked) != 2 || !strings.Contains(p.passAsked[0], "~/.ssh/id_ecdsa") {
		t.Fatalf("passphrase prompts = %q, want two naming ~/.ssh/id_ecdsa", p.passAsked)
	}
}

func TestAuthEncryptedIdentityFileCancelled(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	_, pub := testKey(t, "enc_ed25519_a", filepath.Join(env.home, ".ssh", "id_ed25519"), true)
	srv.authorize("ec2-user", pub)
	cfg := env.config("i-0cancel")
	cfg.Prompter = &fakePrompter{} // declines
	_, err := connect(t, srv, cfg)
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Connect = %v, want *AuthError", err)
	}
	if !slices.ContainsFunc(ae.Skipped, func(s string) bool { return strings.Contains(s, "no passphrase given") }) {
		t.Fatalf("Skipped = %q, want the declined key", ae.Skipped)
	}
}

// eicPusher simulates SendSSHPublicKey: it authorizes the pushed key on the
// server, and records what was pushed.
type eicPusher struct {
	srv    *testServer
	err    error
	mu     sync.Mutex
	pushes []string // "user key"
}

func (p *eicPusher) push(ctx context.Context, user, authorizedKey string) error {
	p.mu.Lock()
	p.pushes = append(p.pushes, user+" "+authorizedKey)
	p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorizedKey))
	if err != nil {
		return err
	}
	p.srv.authorize(user, pub)
	return nil
}

func TestAuthEC2InstanceConnect(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	pusher := &eicPusher{srv: srv}
	cfg := env.config("i-0eic")
	cfg.PlatformName = "Ubuntu"
	cfg.PushKey = pusher.push
	var events []Event
	cfg.OnEvent = func(e Event) { events = append(events, e) }
	c, err := connect(t, srv, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if c.User() != "ubuntu" {
		t.Fatalf("User = %q, want the platform default ubuntu", c.User())
	}
	if len(pusher.pushes) != 1 || !strings.HasPrefix(pusher.pushes[0], "ubuntu ssh-ed25519 ") {
		t.Fatalf("pushes = %q, want one ed25519 key for ubuntu", pusher.pushes)
	}
	pub, _, _, _, _ := ssh.ParseAuthorizedKey([]byte(strings.TrimPrefix(pusher.pushes[0], "ubuntu ")))
	if got := srv.offeredKeys(); len(got) != 1 || got[0] != "ubuntu "+ssh.FingerprintSHA256(pub) {
		t.Fatalf("server saw %v, want only the pushed key", got)
	}
	if !hasEvent(events, EventPushingKey) || !hasEvent(events, EventConnected) {
		t.Fatalf("events = %+v", events)
	}
}

func TestAuthEC2InstanceConnectUnsupportedFallsBack(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	priv, pub := newEd25519(t)
	srv.authorize("ec2-user", pub)
	pusher := &eicPusher{srv: srv, err: fmt.Errorf("send ssh public key: %w", ErrEICUnsupported)}
	cfg := env.config("i-0fallback")
	cfg.PushKey = pusher.push
	cfg.NoAgent = false
	cfg.AgentSocket = startAgent(t, priv)
	var events []Event
	cfg.OnEvent = func(e Event) { events = append(events, e) }
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if len(pusher.pushes) != 1 {
		t.Fatalf("pushes = %d, want 1", len(pusher.pushes))
	}
	if !hasEvent(events, EventEICFallback) {
		t.Fatalf("no fallback event in %+v", events)
	}
}

func TestAuthWrongUser(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	priv, pub := newEd25519(t)
	srv.authorize("admin", pub) // a Debian instance that was tagged as Amazon Linux
	writeKey(t, filepath.Join(env.home, ".ssh", "id_ed25519"), priv, "", false)
	cfg := env.config("i-0wrong")
	cfg.PlatformName = "Amazon Linux"
	cfg.PushKey = (&eicPusher{srv: srv, err: errors.New("AccessDeniedException")}).push
	_, err := connect(t, srv, cfg)
	var ae *AuthError
	if !errors.As(err, &ae) || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("Connect = %v, want *AuthError", err)
	}
	if ae.User != "ec2-user" || ae.UserSource != "platform Amazon Linux" {
		t.Fatalf("AuthError user = %q from %q", ae.User, ae.UserSource)
	}
	msg := err.Error()
	for _, want := range []string{`"ec2-user"`, "platform Amazon Linux", "~/.ssh/id_ed25519", "AccessDeniedException", "--user"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}

	// The same connection with the right user works.
	cfg.User = "admin"
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect as admin: %v", err)
	}
}

func TestAuthUserFromSSHConfig(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	priv, pub := newEd25519(t)
	srv.authorize("deploy", pub)
	writeKey(t, filepath.Join(env.home, "keys", "deploy"), priv, "", false)
	writeFile(t, filepath.Join(env.home, ".ssh", "config"),
		"Host web-*\n  User deploy\n  IdentityFile ~/keys/deploy\nHost *\n  User nobody\n")
	cfg := env.config("i-0cfg")
	cfg.Name = "web-7"
	cfg.PlatformName = "Ubuntu"
	c, err := connect(t, srv, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if c.User() != "deploy" {
		t.Fatalf("User = %q, want deploy from ~/.ssh/config", c.User())
	}
}

func TestResolveUserOrder(t *testing.T) {
	for name, tc := range map[string]struct {
		explicit, cfgUser, platform string
		want, source                string
	}{
		"flag wins":        {"root", "deploy", "Ubuntu", "root", "--user"},
		"ssh config next":  {"", "deploy", "Ubuntu", "deploy", "~/.ssh/config"},
		"platform default": {"", "", "Debian GNU/Linux", "admin", "platform Debian GNU/Linux"},
		"nothing known":    {"", "", "", "ec2-user", "default"},
		"windows":          {"", "", "Microsoft Windows Server 2022 Datacenter", "Administrator", "platform Microsoft Windows Server 2022 Datacenter"},
	} {
		t.Run(name, func(t *testing.T) {
			got, src := resolveUser(tc.explicit, hostSettings{User: tc.cfgUser}, tc.platform)
			if got != tc.want || src != tc.source {
				t.Fatalf("resolveUser = %q, %q; want %q, %q", got, src, tc.want, tc.source)
			}
		})
	}
}

func TestDefaultUser(t *testing.T) {
	for platform, want := range map[string]string{
		"Amazon Linux":                  "ec2-user",
		"Red Hat Enterprise Linux":      "ec2-user",
		"SLES":                          "ec2-user",
		"SUSE Linux Enterprise Server":  "ec2-user",
		"Fedora":                        "ec2-user",
		"Ubuntu":                        "ubuntu",
		"Debian GNU/Linux":              "admin",
		"CentOS Linux":                  "centos",
		"Rocky Linux":                   "rocky",
		"Microsoft Windows Server 2019": "Administrator",
		"":                              "ec2-user",
	} {
		if got := DefaultUser(platform); got != want {
			t.Errorf("DefaultUser(%q) = %q, want %q", platform, got, want)
		}
	}
}

func TestConnectCancelledDuringHostKeyPrompt(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	cfg := authorizedConfig(t, srv, env, "i-0ctx")
	cfg.AcceptNewHostKey = false
	ctx, cancel := context.WithCancel(testContext(t))
	cfg.Prompter = blockingPrompter{cancel: cancel}
	_, err := Connect(ctx, srv.dial(t), cfg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect = %v, want context.Canceled", err)
	}
}

// blockingPrompter cancels the connection's context and then waits for it,
// as a user who closes the picker while the modal is open.
type blockingPrompter struct{ cancel context.CancelFunc }

func (p blockingPrompter) ConfirmHostKey(ctx context.Context, _ HostKeyPrompt) (bool, error) {
	p.cancel()
	<-ctx.Done()
	return false, ctx.Err()
}

func (p blockingPrompter) Passphrase(ctx context.Context, _ string) ([]byte, error) {
	p.cancel()
	<-ctx.Done()
	return nil, ctx.Err()
}
