package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/ssmtui/ssmtui/session/wire"
)

// ShellOptions configures OpenShell.
type ShellOptions struct {
	DialOptions
	// Cols and Rows are the initial terminal size (default 80×24); it is
	// sent once when the session is ready and again on Resize.
	Cols, Rows int
}

// ShellSession is a plain Session Manager shell (Standard_Stream,
// InteractiveCommands or NonInteractiveCommands): Write sends keystrokes,
// Read returns the terminal output (Output and StdErr payloads) and io.EOF
// once the service closes the channel.
type ShellSession struct {
	ch   *Conn
	chn  *channel
	mu   sync.Mutex
	exit *int
}

// OpenShell starts a shell session on target (default document: the
// account's SSM-SessionManagerRunShell) and returns once the agent
// completed the handshake or sent its first output (§7.6).
func OpenShell(ctx context.Context, cfg aws.Config, target string, opts ShellOptions) (*ShellSession, error) {
	d := opts.DialOptions
	d.setDefaults(cfg)
	sess, err := startSession(ctx, d.API, target, &d)
	if err != nil {
		return nil, err
	}
	return OpenShellSession(ctx, cfg, target, sess, opts)
}

// OpenShellSession is OpenShell for an already started session.
func OpenShellSession(ctx context.Context, cfg aws.Config, target string, sess StartedSession, opts ShellOptions) (*ShellSession, error) {
	d := opts.DialOptions
	d.setDefaults(cfg)
	ch, err := openChannel(ctx, target, sess, d)
	if err != nil {
		terminateQuietly(d, sess.SessionID)
		return nil, err
	}
	if ch.sessionType == wire.SessionTypePort {
		ch.close(wire.FlagTerminateSession)
		return nil, &HandshakeError{SessionID: sess.SessionID, Err: errors.New("the document started a port session, not a shell")}
	}
	s := &ShellSession{chn: ch}
	s.ch = newConn(ch.stream, Addr{Target: sess.SessionID}, Addr{Target: target}, func() error { return ch.close(0) })
	s.ch.ch = ch
	s.ch.leftover = ch.first
	s.ch.shell = s
	cols, rows := opts.Cols, opts.Rows
	if cols <= 0 || rows <= 0 {
		cols, rows = 80, 24
	}
	if err := s.Resize(ctx, cols, rows); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// SessionID returns the SSM session ID.
func (s *ShellSession) SessionID() string { return s.chn.sessionID }

// Encrypted reports whether the session is KMS-encrypted (the account's
// Session Manager preferences name a key; ssm-protocol.md §8), and with
// which key.
func (s *ShellSession) Encrypted() (keyID string, ok bool) {
	return s.chn.kmsKeyID, s.chn.cipher != nil
}

// CustomerMessage returns the agent's HandshakeComplete text, for example
// "This session is encrypted using AWS KMS." ("" if none, and always for
// shells that skipped the handshake).
func (s *ShellSession) CustomerMessage() string { return s.chn.customerMessage }

// Read returns terminal output bytes; io.EOF after channel_closed (see
// ClosedOutput for the service's text).
func (s *ShellSession) Read(p []byte) (int, error) { return s.ch.Read(p) }

// Write sends input bytes as Output messages (chunked, never rewritten).
func (s *ShellSession) Write(p []byte) (int, error) { return s.ch.Write(p) }

// Resize sends the terminal size (PayloadType Size, {"cols":…,"rows":…}).
func (s *ShellSession) Resize(ctx context.Context, cols, rows int) error {
	b, _ := json.Marshal(wire.Size{Cols: uint32(cols), Rows: uint32(rows)})
	if err := s.chn.stream.Send(ctx, wire.PayloadSize, b); err != nil {
		return fmt.Errorf("resize shell of session %s: %w", s.chn.sessionID, err)
	}
	return nil
}

// ClosedOutput returns the Output text of the service's channel_closed
// ("" while open or on a normal end).
func (s *ShellSession) ClosedOutput() string {
	var cc *ChannelClosedError
	if errors.As(s.chn.stream.Err(), &cc) {
		return cc.Output
	}
	return ""
}

// Done is closed when the session has ended.
func (s *ShellSession) Done() <-chan struct{} { return s.chn.stream.Done() }

// ExitCode returns the remote exit status if the agent reported one
// (NonInteractiveCommands with separate output streams, PayloadType 12).
func (s *ShellSession) ExitCode() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.exit == nil {
		return 0, false
	}
	return *s.exit, true
}

func (s *ShellSession) setExit(p []byte) {
	t := strings.TrimSpace(string(p))
	t = strings.TrimPrefix(t, "EXIT_CODE:")
	if n, err := strconv.Atoi(strings.TrimSpace(t)); err == nil {
		s.mu.Lock()
		s.exit = &n
		s.mu.Unlock()
	}
}

// Close ends the session and calls the TerminateSession API. Idempotent.
func (s *ShellSession) Close() error { return s.ch.Close() }
