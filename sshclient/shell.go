package sshclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/cancelreader"
	"golang.org/x/crypto/ssh"
	"golang.org/x/term"
)

// DefaultTerm is the terminal type requested when $TERM is empty.
const DefaultTerm = "xterm-256color"

// DefaultEscapeChar is the escape character, as in OpenSSH.
const DefaultEscapeChar = '~'

// termReset undoes terminal modes a remote full-screen program may have left
// enabled (mouse, bracketed paste, focus events, synchronized output, cursor
// keys, keypad, modifyOtherKeys, a Kitty keyboard push, the alternate screen,
// SGR attributes, a hidden cursor). Shell.Run writes it before restoring the
// terminal.
var termReset = ansi.ResetModeMouseNormal + ansi.ResetModeMouseButtonEvent +
	ansi.ResetModeMouseAnyEvent + ansi.ResetModeMouseExtSgr +
	ansi.ResetModeBracketedPaste + ansi.ResetModeFocusEvent +
	ansi.ResetModeSynchronizedOutput + ansi.ResetModeCursorKeys +
	ansi.KeypadNumericMode + ansi.ResetModifyOtherKeys + ansi.PopKittyKeyboard(1) +
	ansi.ResetModeAltScreenSaveCursor + ansi.ResetStyle + ansi.ShowCursor

// Shell is an interactive login shell on the instance. It implements Bubble
// Tea v2's tea.ExecCommand: run it with tea.Exec, which hands it the terminal
// through SetStdin/SetStdout/SetStderr and calls Run. It can also be run
// directly in CLI mode (nil streams mean os.Stdin/os.Stdout/os.Stderr).
//
// When stdin is a terminal, Run requests a PTY, puts the terminal in raw mode
// and restores it before returning; otherwise it runs the shell without a PTY
// and without escapes, like ssh -T. A Shell runs once.
type Shell struct {
	// Client is the connected client.
	Client *Client
	// Term is the terminal type for the PTY; empty means $TERM, then
	// DefaultTerm.
	Term string
	// Env is sent with "env" requests in addition to LANG and LC_*; servers
	// usually accept only what sshd's AcceptEnv lists, and refusals are
	// ignored.
	Env map[string]string
	// EscapeChar starts escape sequences (~. ~? ~~); 0 means
	// DefaultEscapeChar. NoEscape disables them ("EscapeChar none").
	EscapeChar byte
	NoEscape   bool
	// KeepAliveInterval and KeepAliveMax override the Client's keepalive
	// settings when non-zero; a negative interval disables keepalives.
	KeepAliveInterval time.Duration
	KeepAliveMax      int

	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// Shell returns a Shell on c with default settings.
func (c *Client) Shell() *Shell { return &Shell{Client: c} }

// SetStdin implements tea.ExecCommand.
func (s *Shell) SetStdin(r io.Reader) { s.stdin = r }

// SetStdout implements tea.ExecCommand.
func (s *Shell) SetStdout(w io.Writer) { s.stdout = w }

// SetStderr implements tea.ExecCommand.
func (s *Shell) SetStderr(w io.Writer) { s.stderr = w }

// fder is implemented by *os.File.
type fder interface{ Fd() uintptr }

// terminalFd returns v's file descriptor when it is a terminal.
func terminalFd(v any) (int, bool) {
	f, ok := v.(fder)
	if !ok {
		return 0, false
	}
	fd := int(f.Fd())
	return fd, term.IsTerminal(fd)
}

// Run implements tea.ExecCommand. It opens a session, requests a PTY sized
// like the given terminal (80×24 if unknown) with the server's default modes,
// enters raw mode, starts the shell and forwards keystrokes (through the
// escape reader), window changes and keepalives until the shell ends. Before
// returning it stops and joins the stdin reader (so the next keystroke goes to
// whoever reads the terminal next), writes termReset and restores the
// terminal.
//
// It returns nil for exit 0 (or no status), *ExitError for a non-zero status
// or a signal, ErrDisconnected after ~., an error wrapping ErrKeepAliveTimeout
// when the server stopped answering, or the error that ended the connection.
func (s *Shell) Run() error {
	if s.Client == nil {
		return errors.New("sshclient: Shell.Client is nil")
	}
	c := s.Client
	log := c.log
	in, out, errOut := s.stdin, s.stdout, s.stderr
	if in == nil {
		in = os.Stdin
	}
	if out == nil {
		out = os.Stdout
	}
	if errOut == nil {
		errOut = os.Stderr
	}
	inFd, inTTY := terminalFd(in)

	sess, err := c.ssh.NewSession()
	if err != nil {
		return fmt.Errorf("open session on %s: %w", c.instanceID, err)
	}
	defer sess.Close()

	sendEnv(sess, s.Env, log)
	var rs *resizer
	if inTTY {
		w, h := terminalSize(out, inFd)
		termType := s.Term
		if termType == "" {
			termType = os.Getenv("TERM")
		}
		if termType == "" {
			termType = DefaultTerm
		}
		// Server-default modes: never ECHO 0 (RFC 4254 §6.2).
		if err := sess.RequestPty(termType, h, w, ssh.TerminalModes{}); err != nil {
			return fmt.Errorf("request pty on %s: %w", c.instanceID, err)
		}
		rs = newResizer(sess, w, h)
	}
	stdinPipe, err := sess.StdinPipe()
	if err != nil {
		return fmt.Errorf("open stdin of session on %s: %w", c.instanceID, err)
	}
	sess.Stdout = out
	sess.Stderr = errOut

	if inTTY {
		st, err := term.MakeRaw(inFd)
		if err != nil {
			return fmt.Errorf("make terminal raw: %w", err)
		}
		defer func() {
			_, _ = io.WriteString(out, termReset)
			if err := term.Restore(inFd, st); err != nil {
				log.Warn("restore terminal", "err", err)
			}
		}()
	}
	if err := sess.Shell(); err != nil {
		return fmt.Errorf("start shell on %s: %w", c.instanceID, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait() // runs after cancel
	defer cancel()

	// Stdin pump: cancelable, and joined before the terminal is restored
	// and Run returns, so it never steals the picker's next keystroke.
	var userQuit atomic.Bool
	cr := newStdinReader(in)
	var src io.Reader = cr
	if inTTY && !s.NoEscape {
		esc := s.EscapeChar
		if esc == 0 {
			esc = DefaultEscapeChar
		}
		src = newEscapeReader(cr, esc,
			func() { _, _ = io.WriteString(out, strings.ReplaceAll(escapeHelp, "~", string(esc))) },
			func() {
				userQuit.Store(true)
				_, _ = io.WriteString(out, "\r\nDisconnected.\r\n")
				// Like OpenSSH, ~. drops the connection, so it works even
				// when the server no longer answers.
				_ = c.Close()
			})
	}
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		if _, err := io.Copy(stdinPipe, src); err != nil && !errors.Is(err, cancelreader.ErrCanceled) {
			log.Debug("stdin copy ended", "err", err)
		}
		_ = stdinPipe.Close()
	}()
	defer func() {
		if cr.Cancel() {
			<-pumpDone
		} else {
			log.Debug("stdin reader cannot be cancelled; a keystroke may be lost")
		}
		cr.Close()
	}()

	if rs != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			watchResize(ctx, terminalSizeFd(out, inFd), rs, log)
		}()
	}

	lost := make(chan error, 1)
	every, maxMissed := c.keepAlive(s.KeepAliveInterval, s.KeepAliveMax)
	wg.Add(1)
	go func() {
		defer wg.Done()
		lost <- keepAlive(ctx, c.ssh, every, maxMissed)
	}()

	waitErr := sess.Wait()
	var lostErr error
	if waitErr != nil {
		// The keepalive may be what closed the connection; let it report.
		cancel()
		if err := <-lost; err != nil {
			lostErr = fmt.Errorf("connection to %s lost: %w", c.instanceID, err)
		}
	}
	return exitError(waitErr, userQuit.Load(), lostErr, log)
}

// sendEnv forwards LANG and LC_* from the local environment, then extra.
// Refusals are expected (sshd AcceptEnv) and only logged.
func sendEnv(sess *ssh.Session, extra map[string]string, log *slog.Logger) {
	for _, kv := range os.Environ() {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || (k != "LANG" && !strings.HasPrefix(k, "LC_")) {
			continue
		}
		if err := sess.Setenv(k, v); err != nil {
			log.Debug("env refused", "name", k, "err", err)
		}
	}
	for k, v := range extra {
		if err := sess.Setenv(k, v); err != nil {
			log.Debug("env refused", "name", k, "err", err)
		}
	}
}

// terminalSizeFd picks the fd to size the PTY from: the given stdout when it
// is a terminal, else stdin's.
func terminalSizeFd(out io.Writer, inFd int) int {
	if fd, ok := terminalFd(out); ok {
		return fd
	}
	return inFd
}

// terminalSize returns the width and height of the terminal, or 80×24.
func terminalSize(out io.Writer, inFd int) (int, int) {
	w, h, err := term.GetSize(terminalSizeFd(out, inFd))
	if err != nil || w <= 0 || h <= 0 {
		return 80, 24
	}
	return w, h
}
