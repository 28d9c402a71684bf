package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/cancelreader"
	"golang.org/x/term"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/session"
	"github.com/ssmtui/ssmtui/sshclient"
)

func init() {
	register(command{
		name:    "shell",
		summary: "plain Session Manager shell on an instance (no SSH, no key needed)",
		run:     runShell,
	})
}

// shellTermReset undoes terminal modes a remote full-screen program may have
// left enabled (style.md §3.4); written before the terminal is restored.
var shellTermReset = ansi.ResetModeMouseNormal + ansi.ResetModeMouseButtonEvent +
	ansi.ResetModeMouseAnyEvent + ansi.ResetModeMouseExtSgr +
	ansi.ResetModeBracketedPaste + ansi.ResetModeFocusEvent +
	ansi.ResetModeSynchronizedOutput + ansi.ResetModeCursorKeys +
	ansi.KeypadNumericMode + ansi.ResetModifyOtherKeys + ansi.PopKittyKeyboard(1) +
	ansi.ResetModeAltScreenSaveCursor + ansi.ResetStyle + ansi.ShowCursor

// runShell is `ssmtui shell TARGET`: a Standard_Stream session (the
// account's SSM-SessionManagerRunShell document), the terminal in raw mode
// so Ctrl-C and friends reach the remote shell, resizes forwarded, and the
// terminal restored when the service closes the channel.
func runShell(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlagSet(env, "ssmtui shell",
		"usage: ssmtui shell [flags] TARGET",
		"\nOpens a plain Session Manager shell on TARGET: no SSH, no key, no port 22 — what",
		"`aws ssm start-session` gives, without the plugin. The session ends when the remote shell exits.",
	)
	var tf targetFlags
	tf.register(fs)
	debug := fs.Bool("debug", false, "log every step to stderr")
	document := fs.String("document", "", "session `document` (default: the account's SSM-SessionManagerRunShell)")
	pos, rest, err := parseInterspersed(fs, args)
	if err != nil {
		return flagError(err)
	}
	if len(pos) != 1 || len(rest) > 0 {
		fs.Usage()
		return usageError("shell takes exactly one TARGET")
	}
	log, closeLog := commandLogger(env, *debug)
	defer closeLog()
	tc, err := newTargetCommand(env, tf, log, terminalMFA(env))
	if err != nil {
		return err
	}
	opts := session.DialOptions{DocumentName: *document, Logger: log}
	var inst inventory.Instance
	sess, err := retryStale(ctx, tc, pos[0], func(i inventory.Instance, cfg aws.Config) (*session.ShellSession, error) {
		inst = i
		return openSSMShell(ctx, cfg, i, opts, log)
	})
	if err != nil {
		return transportError(err)
	}
	r := &shellRunner{sess: sess}
	defer r.Close()
	stop := context.AfterFunc(ctx, func() { _ = sess.Close() })
	defer stop()
	r.SetStdin(env.stdin)
	r.SetStdout(env.stdout)
	r.SetStderr(env.stderr)
	return remoteResult(r.Run(), inst.ID)
}

// openSSMShell starts a shell session on inst.
func openSSMShell(ctx context.Context, cfg aws.Config, inst inventory.Instance, opts session.DialOptions, log *slog.Logger) (*session.ShellSession, error) {
	if opts.Logger == nil {
		opts.Logger = log
	}
	doc := opts.DocumentName
	if doc == "" {
		doc = session.DocumentShell
	}
	sess, err := session.OpenShell(ctx, cfg, inst.ID, session.ShellOptions{DialOptions: opts})
	if err != nil {
		return nil, explainSessionError(err, inst, doc)
	}
	return sess, nil
}

// shellRunner runs a Session Manager shell on the local terminal. It is a
// tea.ExecCommand (the picker's s key) and the body of `ssmtui shell`.
type shellRunner struct {
	sess           *session.ShellSession
	stdin          io.Reader
	stdout, stderr io.Writer
	closeOnce      sync.Once
	closeErr       error
}

// SetStdin implements tea.ExecCommand.
func (s *shellRunner) SetStdin(r io.Reader) { s.stdin = r }

// SetStdout implements tea.ExecCommand.
func (s *shellRunner) SetStdout(w io.Writer) { s.stdout = w }

// SetStderr implements tea.ExecCommand.
func (s *shellRunner) SetStderr(w io.Writer) { s.stderr = w }

// Close ends the session (and calls TerminateSession). Idempotent.
func (s *shellRunner) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.sess.Close() })
	return s.closeErr
}

// Run implements tea.ExecCommand. With a terminal on stdin it sends the
// terminal size (and every change), puts the terminal in raw mode — Ctrl-C,
// Ctrl-Z and Ctrl-\ go to the remote shell as bytes — and restores it before
// returning. Output is copied until the service closes the channel. A
// non-terminal stdin is forwarded; when it ends, Run keeps printing output
// until the remote shell exits (so `echo exit | ssmtui shell X` works).
//
// It returns nil on a normal end (or exit 0), *sshclient.ExitError when the
// agent reported a non-zero exit status, or the reason the session failed.
func (s *shellRunner) Run() error {
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
	if msg := s.sess.CustomerMessage(); msg != "" {
		// The agent's word, e.g. "This session is encrypted using AWS
		// KMS."; on stderr so piped output stays the remote's alone.
		_, _ = fmt.Fprintln(errOut, msg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		cols, rows := 80, 24
		if w, h, err := term.GetSize(fd); err == nil && w > 0 && h > 0 {
			cols, rows = w, h
		}
		if err := s.sess.Resize(ctx, cols, rows); err != nil {
			return fmt.Errorf("send terminal size: %w", err)
		}
		old, err := term.MakeRaw(fd)
		if err != nil {
			return fmt.Errorf("set terminal raw: %w", err)
		}
		defer func() {
			_, _ = io.WriteString(out, shellTermReset)
			_ = term.Restore(fd, old)
		}()
		resizeDone := make(chan struct{})
		go func() {
			defer close(resizeDone)
			watchResize(ctx, fd, func(c, r int) { _ = s.sess.Resize(ctx, c, r) })
		}()
		defer func() { cancel(); <-resizeDone }()
	}

	cr, err := cancelreader.NewReader(in)
	if err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	pumpDone := make(chan struct{})
	go func() {
		defer close(pumpDone)
		buf := make([]byte, 1024)
		for {
			n, rerr := cr.Read(buf)
			if n > 0 {
				if _, werr := s.sess.Write(buf[:n]); werr != nil {
					return
				}
			}
			if rerr != nil {
				return
			}
		}
	}()
	defer func() {
		if cr.Cancel() {
			<-pumpDone
		}
		_ = cr.Close()
	}()

	_, err = io.Copy(out, s.sess)
	var cc *session.ChannelClosedError
	switch {
	case err != nil && !errors.As(err, &cc):
		return fmt.Errorf("shell session %s: %w", s.sess.SessionID(), err)
	case s.sess.ClosedOutput() != "":
		return fmt.Errorf("shell session %s ended by the service: %s", s.sess.SessionID(), s.sess.ClosedOutput())
	}
	if code, ok := s.sess.ExitCode(); ok && code != 0 {
		return &sshclient.ExitError{Code: code}
	}
	return nil
}
