//go:build unix

package sshhost

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

const supported = true

// outputGrace is how long a finished process's output may keep flowing
// (children that inherited the terminal or pipes) before they are killed and
// the channel is finished anyway.
const outputGrace = 2 * time.Second

// session is one "session" channel (RFC 4254 §6): at most one process or
// subsystem, started by a "shell", "exec" or "subsystem" request.
type session struct {
	srv  *Server
	ch   ssh.Channel
	user string
	log  *slog.Logger

	mu      sync.Mutex
	env     []string    // accepted "env" requests, NAME=VALUE
	pty     *ptyRequest // from "pty-req"; nil: no terminal
	ptmx    *os.File    // the terminal's controlling side while a PTY process runs
	proc    *os.Process // the process; its PID is also its process group
	exited  bool        // proc has been waited for
	started bool        // a shell, exec or subsystem request was accepted
	done    chan struct{}
}

// ptyRequest is the payload of "pty-req" (RFC 4254 §6.2).
type ptyRequest struct {
	Term   string
	Cols   uint32
	Rows   uint32
	Width  uint32
	Height uint32
	Modes  string
}

// windowChange is the payload of "window-change" (RFC 4254 §6.7).
type windowChange struct {
	Cols   uint32
	Rows   uint32
	Width  uint32
	Height uint32
}

// serve handles the channel's requests until the client closes the channel
// or the connection ends; then it kills what still runs and waits for it.
func (s *session) serve(reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok, then := s.handle(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
		if then != nil {
			then()
		}
	}
	s.kill()
	s.mu.Lock()
	done := s.done
	s.mu.Unlock()
	if done != nil {
		<-done
	}
	_ = s.ch.Close()
}

// handle decides one channel request. then, if not nil, runs after the
// reply, so that a process which ends at once cannot finish the channel
// before the client has its answer.
func (s *session) handle(req *ssh.Request) (ok bool, then func()) {
	switch req.Type {
	case "pty-req":
		var p ptyRequest
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			return false, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.started {
			return false, nil
		}
		s.pty = &p
		return true, nil
	case "window-change":
		var w windowChange
		if err := ssh.Unmarshal(req.Payload, &w); err != nil {
			return false, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.pty == nil {
			return false, nil
		}
		s.pty.Cols, s.pty.Rows, s.pty.Width, s.pty.Height = w.Cols, w.Rows, w.Width, w.Height
		if s.ptmx != nil && !s.exited {
			if err := pty.Setsize(s.ptmx, winsize(s.pty)); err != nil {
				s.log.Debug("resize terminal", "err", err)
				return false, nil
			}
		}
		return true, nil
	case "env":
		var kv struct{ Name, Value string }
		if err := ssh.Unmarshal(req.Payload, &kv); err != nil || !acceptEnv(kv.Name) {
			return false, nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.env = append(s.env, kv.Name+"="+kv.Value)
		return true, nil
	case "shell":
		if !s.begin() {
			return false, nil
		}
		return true, func() { s.runCommand("", false) }
	case "exec":
		var c struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &c); err != nil || !s.begin() {
			return false, nil
		}
		return true, func() { s.runCommand(c.Command, true) }
	case "subsystem":
		var sub struct{ Name string }
		if err := ssh.Unmarshal(req.Payload, &sub); err != nil || sub.Name != "sftp" || !s.begin() {
			return false, nil
		}
		return true, s.runSFTP
	case "signal":
		var sig struct{ Name string }
		if err := ssh.Unmarshal(req.Payload, &sig); err != nil {
			return false, nil
		}
		return s.signal(sig.Name), nil
	default:
		// auth-agent-req@openssh.com, x11-req, xon-xoff, …: refused.
		return false, nil
	}
}

// begin marks the session as started; false if it already was.
func (s *session) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return false
	}
	s.started = true
	s.done = make(chan struct{})
	return true
}

// acceptEnv is the AcceptEnv list of the host: locale variables only, as
// the sshd of the common distributions ships.
func acceptEnv(name string) bool {
	return name == "LANG" || name == "LANGUAGE" || strings.HasPrefix(name, "LC_")
}

func winsize(p *ptyRequest) *pty.Winsize {
	rows, cols := p.Rows, p.Cols
	if rows == 0 {
		rows = 24
	}
	if cols == 0 {
		cols = 80
	}
	return &pty.Winsize{Rows: uint16(min(rows, 0xffff)), Cols: uint16(min(cols, 0xffff)), X: uint16(min(p.Width, 0xffff)), Y: uint16(min(p.Height, 0xffff))}
}

// environ builds the process environment: a clean login-like base, the
// configured extras, then the variables the client sent.
func (s *session) environ() []string {
	cfg := s.srv.cfg
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{
		"PATH=" + path,
		"HOME=" + cfg.Dir,
		"PWD=" + cfg.Dir,
		"USER=" + s.user,
		"LOGNAME=" + s.user,
		"SHELL=" + cfg.Shell,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pty != nil {
		t := s.pty.Term
		if t == "" {
			t = "vt100"
		}
		env = append(env, "TERM="+t)
	}
	if cfg.Env != nil {
		env = append(env, cfg.Env(s.user)...)
	}
	return append(env, s.env...)
}

// runCommand starts the shell (interactive when command is empty and not
// exec) in a PTY if one was requested, else on pipes.
func (s *session) runCommand(command string, isExec bool) {
	cfg := s.srv.cfg
	args := []string{}
	if isExec {
		args = append(args, "-c", command)
	}
	cmd := exec.Command(cfg.Shell, args...)
	cmd.Dir = cfg.Dir
	cmd.Env = s.environ()
	s.mu.Lock()
	p := s.pty
	var ws *pty.Winsize
	var modes []ttyMode
	if p != nil {
		ws = winsize(p)
		modes = parseModes([]byte(p.Modes))
	}
	s.mu.Unlock()
	if p != nil {
		s.runPTY(cmd, ws, modes)
		return
	}
	s.runPipes(cmd)
}

// startOnTerminal opens a PTY with the client's size and modes and starts
// cmd on it as the leader of a new session (so its PID is its process
// group), returning the controlling side.
func (s *session) startOnTerminal(cmd *exec.Cmd, ws *pty.Winsize, modes []ttyMode) (*os.File, error) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		return nil, fmt.Errorf("open a terminal: %w", err)
	}
	defer func() { _ = tty.Close() }() // the child has its own copies
	if err := pty.Setsize(ptmx, ws); err != nil {
		_ = ptmx.Close()
		return nil, fmt.Errorf("size the terminal: %w", err)
	}
	if err := applyModes(tty, modes); err != nil {
		s.log.Debug("terminal modes not applied", "err", err) // defaults stay, as with sshd
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		_ = ptmx.Close()
		return nil, fmt.Errorf("start %s on a terminal: %w", cmd.Path, err)
	}
	return ptmx, nil
}

// runPTY runs cmd on a fresh terminal.
func (s *session) runPTY(cmd *exec.Cmd, ws *pty.Winsize, modes []ttyMode) {
	ptmx, err := s.startOnTerminal(cmd, ws, modes)
	if err != nil {
		s.failStart(err)
		return
	}
	s.mu.Lock()
	s.ptmx, s.proc = ptmx, cmd.Process
	s.mu.Unlock()
	s.log.Debug("session started", "pty", true, "pid", cmd.Process.Pid)
	outDone := make(chan struct{})
	s.srv.wg.Go(func() { copyTo(s.ch, ptmx, outDone) })
	s.srv.wg.Go(func() { _, _ = io.Copy(ptmx, s.ch) })
	s.srv.wg.Go(func() {
		_ = cmd.Wait()
		s.drain(outDone, cmd.Process.Pid)
		s.hangUp(cmd.Process.Pid)
		_ = ptmx.Close()
		s.finish(cmd.ProcessState)
	})
}

// runPipes runs cmd in its own process group with stdin, stdout and stderr
// on the channel (stderr as extended data, RFC 4254 §5.2).
func (s *session) runPipes(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = s.ch
	cmd.Stderr = s.ch.Stderr()
	cmd.WaitDelay = outputGrace
	stdin, err := cmd.StdinPipe()
	if err != nil {
		s.failStart(fmt.Errorf("open stdin of %s: %w", cmd.Path, err))
		return
	}
	if err := cmd.Start(); err != nil {
		s.failStart(fmt.Errorf("start %s: %w", cmd.Path, err))
		return
	}
	s.mu.Lock()
	s.proc = cmd.Process
	s.mu.Unlock()
	s.log.Debug("session started", "pty", false, "pid", cmd.Process.Pid)
	s.srv.wg.Go(func() {
		_, _ = io.Copy(stdin, s.ch)
		_ = stdin.Close()
	})
	s.srv.wg.Go(func() {
		_ = cmd.Wait() // waits for output up to WaitDelay
		s.hangUp(cmd.Process.Pid)
		s.finish(cmd.ProcessState)
	})
}

// drain waits for a finished PTY process's output to reach the client. If
// something else still holds the terminal after outputGrace, the process
// group is killed and drain waits once more.
func (s *session) drain(outDone <-chan struct{}, pgid int) {
	t := time.NewTimer(outputGrace)
	defer t.Stop()
	select {
	case <-outDone:
		return
	case <-t.C:
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	t.Reset(outputGrace)
	select {
	case <-outDone:
	case <-t.C:
	}
}

// hangUp ends what the finished process left running in its process group
// (background jobs, daemons), as a logout with KillUserProcesses would: a
// session never outlives its channel. pgid is the leader's PID, which just
// exited, so the group is still this session's.
func (s *session) hangUp(pgid int) {
	s.mu.Lock()
	s.exited = true
	s.mu.Unlock()
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// runSFTP serves the sftp subsystem rooted at the host's directory.
func (s *session) runSFTP() {
	srv, err := sftp.NewServer(s.ch, sftp.WithServerWorkingDirectory(s.srv.cfg.Dir))
	if err != nil {
		s.failStart(fmt.Errorf("start sftp server: %w", err))
		return
	}
	s.log.Debug("sftp subsystem started")
	s.srv.wg.Go(func() {
		err := srv.Serve()
		code := uint32(0)
		if err != nil && !errors.Is(err, io.EOF) {
			s.log.Debug("sftp subsystem ended", "err", err)
			code = 1
		}
		s.sendExitStatus(code)
		_ = srv.Close()
		s.mu.Lock()
		close(s.done)
		s.mu.Unlock()
	})
}

// failStart reports a process that could not start the way a shell would:
// a message on stderr and exit status 127.
func (s *session) failStart(err error) {
	s.log.Debug("session start failed", "err", err)
	_, _ = fmt.Fprintf(s.ch.Stderr(), "sandbox host: %v\r\n", err)
	s.sendExitStatus(127)
	_ = s.ch.Close()
	s.mu.Lock()
	close(s.done)
	s.mu.Unlock()
}

// finish sends EOF, then exit-status or exit-signal (RFC 4254 §6.10), and
// closes the channel.
func (s *session) finish(ps *os.ProcessState) {
	_ = s.ch.CloseWrite()
	ws, ok := ps.Sys().(syscall.WaitStatus)
	switch {
	case ok && ws.Signaled():
		msg := struct {
			Signal     string
			CoreDumped bool
			Message    string
			Lang       string
		}{signalName(ws.Signal()), ws.CoreDump(), "", ""}
		_, _ = s.ch.SendRequest("exit-signal", false, ssh.Marshal(&msg))
	case ok:
		s.sendExitStatus(uint32(ws.ExitStatus()))
	default:
		s.sendExitStatus(uint32(ps.ExitCode()))
	}
	s.log.Debug("session ended", "status", ps.String())
	_ = s.ch.Close()
	s.mu.Lock()
	close(s.done)
	s.mu.Unlock()
}

func (s *session) sendExitStatus(code uint32) {
	msg := struct{ Status uint32 }{code}
	_, _ = s.ch.SendRequest("exit-status", false, ssh.Marshal(&msg))
}

// kill ends a still-running process group: the client went away.
func (s *session) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil && !s.exited {
		_ = syscall.Kill(-s.proc.Pid, syscall.SIGKILL)
	}
}

// signal delivers a client "signal" request (RFC 4254 §6.9) to the process
// group.
func (s *session) signal(name string) bool {
	sig, ok := signalByName[name]
	if !ok {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil || s.exited {
		return false
	}
	return syscall.Kill(-s.proc.Pid, sig) == nil
}

// signalByName maps RFC 4254 §6.10 signal names (and a few more) to signals.
var signalByName = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2, "BUS": syscall.SIGBUS, "CHLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT,
	"STOP": syscall.SIGSTOP, "TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
	"SYS": syscall.SIGSYS, "TRAP": syscall.SIGTRAP, "XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ,
	"WINCH": syscall.SIGWINCH, "PROF": syscall.SIGPROF, "VTALRM": syscall.SIGVTALRM,
}

// signalName is the RFC 4254 name of sig ("TERM"), or its number for
// signals without one.
func signalName(sig syscall.Signal) string {
	for name, s := range signalByName {
		if s == sig {
			return name
		}
	}
	return fmt.Sprintf("%d", int(sig))
}
