package sshclient

import (
	"context"
	"time"

	"golang.org/x/crypto/ssh"
)

// earlyEICMaxAge is how old an early key may be when authentication
// starts: EC2 Instance Connect keys are valid for 60 s, and the server
// checks them once more during the handshake.
const earlyEICMaxAge = 40 * time.Second

// EarlyEIC is an EC2 Instance Connect key pushed in the background while
// the caller opens the transport (StartEIC), so that SendSSHPublicKey's
// round trip overlaps the Session Manager setup instead of following the
// key exchange.
type EarlyEIC struct {
	user   string
	done   chan struct{}
	signer ssh.Signer
	pushed time.Time
	err    error
}

// StartEIC resolves the login user the way Connect will for cfg (User,
// then ~/.ssh/config, then the platform default), makes an ephemeral key
// and pushes it with cfg.PushKey in the background. Pass the result as
// Config.EarlyEIC. It returns nil when cfg.PushKey is nil. Cancelling ctx
// abandons the push.
func StartEIC(ctx context.Context, cfg Config) *EarlyEIC {
	if cfg.PushKey == nil {
		return nil
	}
	_, settings, _ := sshSettings(cfg) // Connect reports an unreadable config
	user, _ := resolveUser(cfg.User, settings, cfg.PlatformName)
	e := &EarlyEIC{user: user, done: make(chan struct{})}
	go func() {
		defer close(e.done)
		signer, authorized, err := newEICKey()
		if err != nil {
			e.err = err
			return
		}
		if err := cfg.PushKey(ctx, user, authorized); err != nil {
			e.err = err
			return
		}
		e.signer, e.pushed = signer, time.Now()
	}()
	return e
}

// User is the login the key was pushed for.
func (e *EarlyEIC) User() string { return e.user }
