package sshclient

import (
	"context"
	"fmt"
	"io"
	"time"
)

// Keepalive defaults: a request every 10 s and three unanswered intervals end
// the session, so a dead connection is reported within 40 s (under the 45 s
// budget of style.md §3.7, which 15 s × 3 can exceed by one interval).
const (
	DefaultKeepAliveInterval = 10 * time.Second
	DefaultKeepAliveMax      = 3
)

// requester is the part of *ssh.Client keepAlive needs.
type requester interface {
	SendRequest(name string, wantReply bool, payload []byte) (bool, []byte, error)
	io.Closer
}

// keepAlive sends keepalive@openssh.com global requests with wantReply on its
// own timer (OpenSSH ServerAliveInterval/ServerAliveCountMax). SendRequest has
// no timeout, so each request runs in its own goroutine that reports into a
// buffered channel; only one request is in flight at a time. Any reply, even a
// failure reply, proves the server is alive and resets the count. After max
// intervals without a reply it closes c, which unblocks Session.Wait, and
// returns an error wrapping ErrKeepAliveTimeout. It returns nil when ctx is
// done or when the connection failed on its own (Wait reports that). Every
// request goroutine exits once c is closed.
func keepAlive(ctx context.Context, c requester, every time.Duration, maxMissed int) error {
	if every <= 0 {
		return nil
	}
	if maxMissed <= 0 {
		maxMissed = DefaultKeepAliveMax
	}
	timer := time.NewTimer(every)
	defer timer.Stop()
	var inFlight chan error // nil while no request is outstanding
	missed := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-inFlight:
			inFlight = nil
			if err != nil {
				return nil // the transport is gone; Session.Wait returns that error
			}
			missed = 0
		case <-timer.C:
			if inFlight != nil {
				missed++
				if missed >= maxMissed {
					_ = c.Close()
					return fmt.Errorf("no reply to keepalive for %s (%d × %s): %w",
						time.Duration(missed)*every, missed, every, ErrKeepAliveTimeout)
				}
			} else {
				inFlight = make(chan error, 1)
				go func(done chan<- error) {
					_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
					done <- err
				}(inFlight)
			}
			timer.Reset(every)
		}
	}
}
