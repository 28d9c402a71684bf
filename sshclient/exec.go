package sshclient

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/muesli/cancelreader"
)

// Exec runs one command on the instance without a PTY, streaming its output
// to stdout and stderr (nil discards). stdin is forwarded when it is non-nil
// and not a terminal, and the remote side sees EOF when it ends (so "cat"
// finishes); otherwise the command gets an empty stdin. Terminals, pipes and
// sockets (*os.File) are read through a cancelable reader that is stopped and
// joined before Exec returns; other readers (a regular file, a bytes.Reader)
// may see one more Read from the forwarding goroutine after Exec returns,
// which then fails on the closed session and exits. Keepalives run while the
// command does.
//
// It returns nil for exit 0, *ExitError for a non-zero status or a signal,
// an error wrapping ErrKeepAliveTimeout when the server stopped answering, or
// ctx.Err() (wrapped) when ctx ended first, after closing the session.
func (c *Client) Exec(ctx context.Context, cmd string, stdin io.Reader, stdout, stderr io.Writer) error {
	sess, err := c.ssh.NewSession()
	if err != nil {
		return fmt.Errorf("open session on %s: %w", c.instanceID, err)
	}
	defer sess.Close()
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	sess.Stdout = stdout
	sess.Stderr = stderr

	var pump func() // joins the stdin copy, if any
	if _, isTTY := terminalFd(stdin); stdin != nil && !isTTY {
		w, err := sess.StdinPipe()
		if err != nil {
			return fmt.Errorf("open stdin of session on %s: %w", c.instanceID, err)
		}
		cr := newStdinReader(stdin)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if _, err := io.Copy(w, cr); err != nil && !errors.Is(err, cancelreader.ErrCanceled) {
				c.log.Debug("stdin copy ended", "err", err)
			}
			_ = w.Close() // EOF for the remote command
		}()
		pump = func() {
			if cr.Cancel() {
				<-done
			}
			cr.Close()
		}
	}
	if err := sess.Start(cmd); err != nil {
		if pump != nil {
			pump()
		}
		return fmt.Errorf("start command on %s: %w", c.instanceID, err)
	}

	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lost := make(chan error, 1)
	every, maxMissed := c.keepAlive(0, 0)
	go func() { lost <- keepAlive(kctx, c.ssh, every, maxMissed) }()
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })

	waitErr := sess.Wait()
	stopped := !stop()
	cancel()
	lostErr := <-lost
	if pump != nil {
		pump()
	}
	if stopped && waitErr != nil {
		return fmt.Errorf("run command on %s: %w", c.instanceID, ctx.Err())
	}
	if lostErr != nil {
		lostErr = fmt.Errorf("connection to %s lost: %w", c.instanceID, lostErr)
	}
	return exitError(waitErr, false, lostErr, c.log)
}
