package sshclient

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEarlyEICUsedOnce: a key pushed by StartEIC before the transport is
// used for the same user without a second push, and the event says so.
func TestEarlyEICUsedOnce(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	pusher := &eicPusher{srv: srv}
	cfg := env.config("i-0early")
	cfg.PlatformName = "Ubuntu"
	cfg.PushKey = pusher.push
	cfg.EarlyEIC = StartEIC(context.Background(), cfg)
	if cfg.EarlyEIC.User() != "ubuntu" {
		t.Fatalf("early key for %q, want the platform default ubuntu", cfg.EarlyEIC.User())
	}
	var events []Event
	cfg.OnEvent = func(e Event) { events = append(events, e) }
	c, err := connect(t, srv, cfg)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if c.User() != "ubuntu" || len(pusher.pushes) != 1 {
		t.Fatalf("user %q, %d pushes; want ubuntu and 1", c.User(), len(pusher.pushes))
	}
	if hasEvent(events, EventPushingKey) {
		t.Fatalf("pushed again during authentication: %+v", events)
	}
	if !strings.Contains(fmt.Sprint(events), "pushed while the session opened") {
		t.Fatalf("events = %+v", events)
	}
}

// TestEarlyEICFallsBackToFreshPush: an early key for another user, or one
// too old to outlive the handshake, is not used; a new key is pushed.
func TestEarlyEICFallsBackToFreshPush(t *testing.T) {
	for _, tc := range []string{"other user", "too old"} {
		t.Run(tc, func(t *testing.T) {
			srv := startServer(t)
			env := newTestEnv(t)
			pusher := &eicPusher{srv: srv}
			cfg := env.config("i-0stale")
			cfg.PushKey = pusher.push
			early := cfg
			if tc == "other user" {
				early.User = "someone-else"
			}
			cfg.EarlyEIC = StartEIC(context.Background(), early)
			<-cfg.EarlyEIC.done
			if tc == "too old" {
				cfg.EarlyEIC.pushed = time.Now().Add(-time.Minute)
			}
			c, err := connect(t, srv, cfg)
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if c.User() != "ec2-user" || len(pusher.pushes) != 2 || !strings.HasPrefix(pusher.pushes[1], "ec2-user ") {
				t.Fatalf("user %q, pushes %q; want a second push for ec2-user", c.User(), pusher.pushes)
			}
		})
	}
}

// TestEarlyEICFailureFallsBack: an early push that failed (EIC not
// supported) leads to the agent and key files, as a failed push does.
func TestEarlyEICFailureFallsBack(t *testing.T) {
	srv := startServer(t)
	env := newTestEnv(t)
	priv, pub := newEd25519(t)
	srv.authorize("ec2-user", pub)
	pusher := &eicPusher{srv: srv, err: fmt.Errorf("send ssh public key: %w", ErrEICUnsupported)}
	cfg := env.config("i-0earlyfail")
	cfg.PushKey = pusher.push
	cfg.NoAgent = false
	cfg.AgentSocket = startAgent(t, priv)
	cfg.EarlyEIC = StartEIC(context.Background(), cfg)
	var events []Event
	cfg.OnEvent = func(e Event) { events = append(events, e) }
	if _, err := connect(t, srv, cfg); err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if len(pusher.pushes) != 1 || !hasEvent(events, EventEICFallback) {
		t.Fatalf("%d pushes, events %+v; want 1 and a fallback", len(pusher.pushes), events)
	}
}
