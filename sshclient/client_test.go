package sshclient

import (
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// A server that accepts TCP but never speaks SSH must not hang Connect: the
// handshake deadline is set on the conn (ClientConfig.Timeout does not apply).
func TestConnectHandshakeTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t)
	cfg := env.config("i-0silent")
	cfg.HandshakeTimeout = 50 * time.Millisecond
	_, err = Connect(testContext(t), conn, cfg)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Connect = %v, want a deadline error", err)
	}
	if c := <-accepted; c != nil {
		_ = c.Close()
	}
}

// slowPrompter answers yes after longer than the handshake timeout: the
// deadline must be paused while the user decides.
type slowPrompter struct{ delay time.Duration }

func (p slowPrompter) ConfirmHostKey(ctx context.Context, _ HostKeyPrompt) (bool, error) {
	select {
	case <-time.After(p.delay):
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func (p slowPrompter) Passphrase(ctx context.Context, _ string) ([]byte, error) {
	return nil, ErrPromptCancelled
}

func TestConnectPausesDeadlineWhilePrompting(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	cfg := authorizedConfig(t, srv, env, "i-0slowuser")
	cfg.AcceptNewHostKey = false
	cfg.HandshakeTimeout = time.Second
	cfg.Prompter = slowPrompter{delay: 2 * time.Second}
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect with a slow answer: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no instance":  {HostKeys: &HostKeys{path: "x"}},
		"no host keys": {InstanceID: "i-01"},
	} {
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, cfg)
		}
	}
}

// The handshake deadline must be cleared once connected, or an idle session
// dies when it passes.
func TestConnectClearsDeadline(t *testing.T) {
	srv := startServer(t)
	c := connected(t, srv, func(cfg *Config) { cfg.HandshakeTimeout = 500 * time.Millisecond })
	time.Sleep(time.Second) // past the handshake deadline
	if err := c.Exec(testContext(t), "exit 0", nil, nil, nil); err != nil {
		t.Fatalf("Exec after the handshake deadline: %v", err)
	}
}
