package sshclient

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// fakePrompter answers prompts from fixed values and records them.
type fakePrompter struct {
	mu          sync.Mutex
	trust       bool
	hostPrompts []HostKeyPrompt
	passphrases []string // answers, in order; ErrPromptCancelled when exhausted
	passAsked   []string
}

func (p *fakePrompter) ConfirmHostKey(ctx context.Context, key HostKeyPrompt) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hostPrompts = append(p.hostPrompts, key)
	return p.trust, nil
}

func (p *fakePrompter) Passphrase(ctx context.Context, prompt string) ([]byte, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.passAsked = append(p.passAsked, prompt)
	if len(p.passphrases) == 0 {
		return nil, ErrPromptCancelled
	}
	ans := p.passphrases[0]
	p.passphrases = p.passphrases[1:]
	return []byte(ans), nil
}

// authorizedClient returns a Config whose identity file the server accepts
// for ec2-user.
func authorizedConfig(t testing.TB, srv *testServer, env *testEnv, id string) Config {
	t.Helper()
	priv, pub := newEd25519(t)
	writeKey(t, filepath.Join(env.home, ".ssh", "id_ed25519"), priv, "", false)
	srv.authorize("ec2-user", pub)
	return env.config(id)
}

func TestHostKeyTrustOnFirstUse(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	const id = "i-0123456789abcdef0"
	cfg := authorizedConfig(t, srv, env, id)
	cfg.AcceptNewHostKey = false
	cfg.Name = "web-1"

	// Unknown, user says no: nothing stored, typed error.
	no := &fakePrompter{trust: false}
	cfg.Prompter = no
	if _, err := connect(t, srv, cfg); !errors.Is(err, ErrHostKeyRejected) {
		t.Fatalf("Connect after no = %v, want ErrHostKeyRejected", err)
	}
	if known, _ := env.hosts.Known(id); len(known) != 0 {
		t.Fatalf("key stored after the user said no: %v", known)
	}
	hostKey := srv.keys[0].PublicKey()
	if len(no.hostPrompts) != 1 || no.hostPrompts[0].Fingerprint != ssh.FingerprintSHA256(hostKey) ||
		no.hostPrompts[0].Name != "web-1" || no.hostPrompts[0].KeyType != ssh.KeyAlgoED25519 {
		t.Fatalf("prompts = %+v, want one with the server's fingerprint", no.hostPrompts)
	}

	// Unknown, user says yes: appended as "i-… ssh-ed25519 …".
	yes := &fakePrompter{trust: true}
	cfg.Prompter = yes
	var events []Event
	cfg.OnEvent = func(e Event) { events = append(events, e) }
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect after yes: %v", err)
	}
	data, err := os.ReadFile(env.hosts.Path())
	if err != nil {
		t.Fatal(err)
	}
	want := knownhosts.Line([]string{id}, hostKey) + "\n"
	if string(data) != want {
		t.Fatalf("known_hosts = %q, want %q", data, want)
	}
	if !hasEvent(events, EventHostKeyUnknown) || !hasEvent(events, EventHostKeyAdded) {
		t.Fatalf("events = %+v, want host key unknown and added", events)
	}
	if fi, err := os.Stat(env.hosts.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("known_hosts mode = %v, %v; want 0600", fi.Mode(), err)
	}
	if fi, err := os.Stat(filepath.Dir(env.hosts.Path())); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("known_hosts dir mode = %v, %v; want 0700", fi.Mode(), err)
	}

	// Known and matching: no prompt, no new line.
	again := &fakePrompter{trust: false}
	cfg.Prompter = again
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect with a known key: %v", err)
	}
	if len(again.hostPrompts) != 0 {
		t.Fatalf("prompted for a known key: %+v", again.hostPrompts)
	}
	if data2, _ := os.ReadFile(env.hosts.Path()); string(data2) != want {
		t.Fatalf("known_hosts changed on a match: %q", data2)
	}
}

func hasEvent(events []Event, k EventKind) bool {
	for _, e := range events {
		if e.Kind == k {
			return true
		}
	}
	return false
}

func TestHostKeyMismatchFailsClosed(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	const id = "i-0aaaaaaaaaaaaaaaa"
	cfg := authorizedConfig(t, srv, env, id)
	old := newSigner(t, "ed25519").PublicKey()
	if err := env.hosts.Add(id, old); err != nil {
		t.Fatal(err)
	}
	p := &fakePrompter{trust: true}
	cfg.Prompter = p
	cfg.AcceptNewHostKey = true // must not matter for a changed key
	_, err := connect(t, srv, cfg)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) || !errors.Is(err, ErrHostKeyMismatch) {
		t.Fatalf("Connect = %v, want *HostKeyMismatchError", err)
	}
	if len(p.hostPrompts) != 0 {
		t.Fatalf("prompted on a mismatch: %+v", p.hostPrompts)
	}
	msg := err.Error()
	for _, want := range []string{ssh.FingerprintSHA256(old), ssh.FingerprintSHA256(srv.keys[0].PublicKey()),
		ForgetCommand + " " + id, env.hosts.Path()} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}

	// The command the error names makes the next connection a first use.
	n, err := env.hosts.Forget(id)
	if err != nil || n != 1 {
		t.Fatalf("Forget = %d, %v; want 1, nil", n, err)
	}
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect after Forget: %v", err)
	}
}

func TestHostKeyUnknownWithoutPrompterFails(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	cfg := authorizedConfig(t, srv, env, "i-0bbbbbbbbbbbbbbbb")
	cfg.AcceptNewHostKey = false
	if _, err := connect(t, srv, cfg); !errors.Is(err, ErrHostKeyUnknown) {
		t.Fatalf("Connect = %v, want ErrHostKeyUnknown", err)
	}
}

func TestHostKeyRevoked(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	cfg := authorizedConfig(t, srv, env, "i-0cccccccccccccccc")
	line := "@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.keys[0].PublicKey()))) + "\n"
	if err := os.WriteFile(env.hosts.Path(), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := connect(t, srv, cfg); !errors.Is(err, ErrHostKeyRevoked) {
		t.Fatalf("Connect = %v, want ErrHostKeyRevoked", err)
	}
}

// A server with several host keys must be asked for the stored key's type,
// or it presents its preferred one and the check fails (golang/go#49631).
func TestHostKeyAlgorithmsPinned(t *testing.T) {
	srv := startServer(t, "ed25519", "ecdsa", "rsa")
	for i, name := range []string{"ed25519", "ecdsa", "rsa"} {
		t.Run(name, func(t *testing.T) {
			env := newTestEnv(t)
			const id = "i-0dddddddddddddddd"
			cfg := authorizedConfig(t, srv, env, id)
			cfg.AcceptNewHostKey = false // an unknown key would fail
			if err := env.hosts.Add(id, srv.keys[i].PublicKey()); err != nil {
				t.Fatal(err)
			}
			if _, err := connect(t, srv, cfg); err != nil {
				t.Fatalf("Connect with a stored %s key: %v", name, err)
			}
		})
	}
}

func TestHostKeyAlgorithmsMapping(t *testing.T) {
	rsaKey := newSigner(t, "rsa").PublicKey()
	edKey := newSigner(t, "ed25519").PublicKey()
	got := hostKeyAlgorithms([]knownhosts.KnownKey{{Key: rsaKey}, {Key: edKey}, {Key: rsaKey}})
	want := []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoED25519}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("hostKeyAlgorithms = %v, want %v", got, want)
	}
	if hostKeyAlgorithms(nil) != nil {
		t.Fatal("no stored key must leave x/crypto's defaults")
	}
}

func TestForgetKeepsOtherHosts(t *testing.T) {
	env := newTestEnv(t)
	k1 := newSigner(t, "ed25519").PublicKey()
	k2 := newSigner(t, "ed25519").PublicKey()
	content := "# comment\n" +
		knownhosts.Line([]string{"i-01", "i-02"}, k1) + "\n" +
		knownhosts.Line([]string{"i-01"}, k2) + "\n" +
		knownhosts.Line([]string{"i-03"}, k2) + "\n"
	if err := os.WriteFile(env.hosts.Path(), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := env.hosts.Forget("i-01")
	if err != nil || n != 2 {
		t.Fatalf("Forget = %d, %v; want 2", n, err)
	}
	want := "# comment\n" + knownhosts.Line([]string{"i-02"}, k1) + "\n" + knownhosts.Line([]string{"i-03"}, k2) + "\n"
	got, _ := os.ReadFile(env.hosts.Path())
	if string(got) != want {
		t.Fatalf("after Forget:\n%s\nwant:\n%s", got, want)
	}
	if fi, _ := os.Stat(env.hosts.Path()); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after Forget = %v", fi.Mode())
	}
	if n, err := env.hosts.Forget("i-09"); n != 0 || err != nil {
		t.Fatalf("Forget of an absent host = %d, %v", n, err)
	}
}

// Concurrent first connections to different instances must all land in the
// file, each line whole.
func TestHostKeysAddConcurrent(t *testing.T) {
	env := newTestEnv(t)
	const n = 16
	keys := make([]ssh.PublicKey, n)
	for i := range keys {
		keys[i] = newSigner(t, "ed25519").PublicKey()
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A separate HostKeys per goroutine, as separate processes would have.
			hk, err := OpenHostKeys(env.hosts.Path())
			if err != nil {
				t.Error(err)
				return
			}
			if err := hk.Add("i-"+strings.Repeat("0", i+1), keys[i]); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range n {
		known, err := env.hosts.Known("i-" + strings.Repeat("0", i+1))
		if err != nil || len(known) != 1 || !keyEqual(known[0].Key, keys[i]) {
			t.Fatalf("host %d: known = %v, %v", i, known, err)
		}
	}
}

func keyEqual(a, b ssh.PublicKey) bool { return string(a.Marshal()) == string(b.Marshal()) }

// A server that no longer has a key of the stored type cannot be pinned; that
// is a changed key too and must fail closed with the same explanation.
func TestHostKeyTypeChangedFailsClosed(t *testing.T) {
	srv := startServer(t, "ecdsa")
	env := newTestEnv(t)
	const id = "i-0eeeeeeeeeeeeeeee"
	cfg := authorizedConfig(t, srv, env, id)
	old := newSigner(t, "ed25519").PublicKey()
	if err := env.hosts.Add(id, old); err != nil {
		t.Fatal(err)
	}
	_, err := connect(t, srv, cfg)
	var mm *HostKeyMismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Connect = %v, want *HostKeyMismatchError", err)
	}
	for _, want := range []string{ssh.FingerprintSHA256(old), "ecdsa-sha2-nistp256", ForgetCommand + " " + id} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
