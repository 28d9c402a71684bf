package sshclient

import (
	"errors"
	"fmt"
	"log/slog"

	"golang.org/x/crypto/ssh"
)

// ErrDisconnected is returned by Shell.Run when the user ended the session
// with the ~. escape. It is a normal way back to the picker, not a failure.
var ErrDisconnected = errors.New("sshclient: disconnected by the user (~.)")

// ErrKeepAliveTimeout is wrapped by the error Shell.Run and Client.Exec return
// when the server stopped answering keepalive requests and the connection was
// closed (OpenSSH ServerAliveInterval × ServerAliveCountMax semantics).
var ErrKeepAliveTimeout = errors.New("sshclient: server stopped answering keepalives")

// ExitError reports a remote command or shell that ended with a non-zero exit
// status or was killed by a signal (RFC 4254 §6.10). Code is the exit status;
// when the server sent exit-signal instead, Signal names it ("TERM", "KILL",
// …, without "SIG") and Code is 128 + the signal number (128 alone for a
// signal name without a standard number). In CLI mode main alone turns it into os.Exit(Code).
type ExitError struct {
	Code   int
	Signal string
}

// Error implements error.
func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("remote process killed by signal %s (exit %d)", e.Signal, e.Code)
	}
	return fmt.Sprintf("remote process exited with status %d", e.Code)
}

// exitError maps the result of ssh.Session.Wait to this package's errors. It
// is the one place where remote exit statuses are interpreted (style.md §3.9).
// lost, when non-nil, is the reason the connection was torn down locally (a
// keepalive timeout); it wins over the transport error it caused.
func exitError(err error, userQuit bool, lost error, log *slog.Logger) error {
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case userQuit:
		return ErrDisconnected
	case lost != nil:
		return lost
	case err == nil:
		return nil
	case errors.As(err, &ee):
		// x/crypto already turns exit-signal into 128 + the signal number
		// (128 alone for names it does not know).
		return &ExitError{Code: ee.ExitStatus(), Signal: ee.Signal()}
	case errors.As(err, &missing):
		// RFC 4254 §6.10 allows a channel to close without a status.
		log.Debug("remote session ended without exit status")
		return nil
	default:
		return fmt.Errorf("session: %w", err)
	}
}
