//go:build unix

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/ssmtui/ssmtui/session/wire"
)

// shellUser is the OS user Session Manager runs shell sessions as on Linux.
const shellUser = "ssm-user"

// runShell is the shell plugin (Standard_Stream, InteractiveCommands,
// NonInteractiveCommands): a real PTY running the user's shell (or
// `shell -c command`), Size messages applied, output sent in ≤ 1024-byte
// chunks cut at UTF-8 boundaries. The session ends when the shell exits.
// The shell runs as a login of ssm-user on the target instance would: in
// the directory, HOME, environment and prompt its SSH host gives a login
// (hostPool.loginEnv), so both ways in look like the same machine.
func (a *agent) runShell(ctx context.Context) error {
	shell := a.g.opts.Shell
	if shell == "" {
		shell = a.g.sb.host.shell()
	}
	dir, env, err := a.g.sb.host.loginEnv(a.s.target, shellUser, shell, "xterm-256color")
	if err != nil {
		return failf("Unable to start shell: %v", err)
	}
	var cmd *exec.Cmd
	if c := a.s.params["command"]; c != "" {
		cmd = exec.Command(shell, "-c", c)
	} else {
		cmd = exec.Command(shell)
	}
	cmd.Dir = dir
	cmd.Env = env
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Cols: 80, Rows: 24})
	if err != nil {
		return failf("Unable to start shell: %v", err)
	}
	var once sync.Once
	kill := func() {
		once.Do(func() {
			if cmd.Process != nil {
				// pty.Start makes the shell a session leader: signal its group.
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGHUP)
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
		})
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		defer cancel()
		a.pumpShell(pctx, f)
	}()
	inDone := make(chan struct{})
	go func() {
		defer close(inDone)
		a.shellInput(pctx, f, kill)
	}()
	<-outDone
	kill()
	_ = f.Close()
	<-inDone
	waitDone := make(chan struct{})
	go func() { _ = cmd.Wait(); close(waitDone) }()
	select {
	case <-waitDone:
	case <-time.After(5 * time.Second):
	}
	return ctx.Err()
}

// pumpShell sends PTY output until the shell side closes (EIO on exit).
func (a *agent) pumpShell(ctx context.Context, f *os.File) {
	buf := make([]byte, a.readSize())
	pace := a.newPacer()
	var pending []byte
	for {
		n, err := f.Read(buf)
		if n > 0 {
			pending = append(pending, buf[:n]...)
			cut := utf8Complete(pending)
			if serr := a.sendText(ctx, pending[:cut]); serr != nil {
				return
			}
			pending = append(pending[:0], pending[cut:]...)
			pace.wait(ctx)
		}
		if err != nil {
			if len(pending) > 0 {
				_ = a.sendText(ctx, pending)
			}
			return
		}
	}
}

// shellInput applies client input: Output bytes to the PTY, Size to its
// window; TerminateSession ends the shell.
func (a *agent) shellInput(ctx context.Context, f *os.File, kill func()) {
	for {
		pt, p, err := a.st.Recv(ctx)
		if err != nil {
			kill()
			return
		}
		switch pt {
		case wire.PayloadOutput:
			if _, err := f.Write(p); err != nil && !errors.Is(err, os.ErrClosed) {
				a.log.Debug("write to pty", "err", err)
			}
		case wire.PayloadSize:
			var sz wire.Size
			if json.Unmarshal(p, &sz) == nil && sz.Cols > 0 && sz.Rows > 0 {
				_ = pty.Setsize(f, &pty.Winsize{Cols: uint16(min(sz.Cols, 65535)), Rows: uint16(min(sz.Rows, 65535))})
			}
		case wire.PayloadFlag:
			if fl, _ := wire.ParseFlag(p); fl == wire.FlagTerminateSession {
				kill()
				return
			}
		}
	}
}
