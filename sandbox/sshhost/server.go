// Package sshhost is the SSH server behind each simulated instance of the
// sandbox: public-key authentication decided by a callback, "session"
// channels that run a real local shell in a PTY, commands with their exit
// status, and the sftp subsystem, all inside one working directory, and
// "direct-tcpip" forwards (ssh -L) to loopback targets.
//
// It is a test and demo host, not a hardened sshd: it listens wherever it is
// told (the sandbox gives it loopback listeners only) and runs commands as the
// user running the process. The process code needs a unix system; elsewhere
// New returns ErrUnsupported.
package sshhost

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// ErrUnsupported is returned by New on systems without PTYs and process
// groups (Windows): the sandbox hosts run a real local shell.
var ErrUnsupported = errors.New("sshhost: sandbox hosts need a unix system (Linux, macOS or BSD)")

// Supported reports whether this system can run the hosts' sessions; when
// false, New returns ErrUnsupported.
func Supported() bool { return supported }

// handshakeTimeout bounds the SSH version exchange, key exchange and
// authentication of one connection.
const handshakeTimeout = 30 * time.Second

// Config configures a Server. HostKey, PublicKeyCallback and Dir are required.
type Config struct {
	// HostKey is the server's host key.
	HostKey ssh.Signer
	// PublicKeyCallback decides public-key authentication (the only method
	// offered: no passwords, no keyboard-interactive). See
	// ssh.ServerConfig.PublicKeyCallback.
	PublicKeyCallback func(conn ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error)
	// Shell is the absolute path of the shell for "shell" and "exec"
	// requests. Default: /bin/sh.
	Shell string
	// Dir is the working directory and HOME of every process and the sftp
	// subsystem's starting directory. It must exist.
	Dir string
	// Env returns extra NAME=VALUE pairs for the processes of an
	// authenticated user (e.g. SSMTUI_INSTANCE_ID, PS1). Optional.
	Env func(user string) []string
	// ServerVersion is the SSH identification string. Default
	// "SSH-2.0-OpenSSH_9.6 ssmtui-sandbox".
	ServerVersion string
	// Logger receives debug events. Default: discard. Keys are never logged.
	Logger *slog.Logger
}

// Server is a running SSH host. It serves any number of listeners until
// Close.
type Server struct {
	cfg    Config
	sshCfg *ssh.ServerConfig
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	lns    map[net.Listener]struct{}
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup // connection, channel and process goroutines
}

// New validates cfg and returns a Server ready to Serve. It returns
// ErrUnsupported on systems that cannot run the sessions.
func New(cfg Config) (*Server, error) {
	if !supported {
		return nil, ErrUnsupported
	}
	if cfg.HostKey == nil {
		return nil, errors.New("sshhost: Config.HostKey is required")
	}
	if cfg.PublicKeyCallback == nil {
		return nil, errors.New("sshhost: Config.PublicKeyCallback is required")
	}
	if cfg.Dir == "" {
		return nil, errors.New("sshhost: Config.Dir is required")
	}
	if cfg.Shell == "" {
		cfg.Shell = "/bin/sh"
	}
	if cfg.ServerVersion == "" {
		cfg.ServerVersion = "SSH-2.0-OpenSSH_9.6 ssmtui-sandbox"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	sc := &ssh.ServerConfig{
		PublicKeyCallback: cfg.PublicKeyCallback,
		ServerVersion:     cfg.ServerVersion,
	}
	sc.AddHostKey(cfg.HostKey)
	return &Server{
		cfg:    cfg,
		sshCfg: sc,
		log:    cfg.Logger,
		lns:    map[net.Listener]struct{}{},
		conns:  map[net.Conn]struct{}{},
	}, nil
}

// Serve accepts connections on ln until ln fails or the Server is closed;
// Close closes ln. It returns nil after Close, else the accept error.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.lns, ln)
		s.mu.Unlock()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			return fmt.Errorf("sshhost: accept: %w", err)
		}
		if !s.track(c) {
			_ = c.Close()
			return nil
		}
		go func() {
			defer s.wg.Done()
			s.handleConn(c)
		}()
	}
}

// track registers an accepted conn and counts its goroutine in s.wg under
// the same lock Close takes, so Close never misses it; false if the server
// is closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// Close stops every listener and connection, kills every session's
// processes and waits for all goroutines of the server. It is idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	var first error
	if !s.closed {
		s.closed = true
		for ln := range s.lns {
			if err := ln.Close(); err != nil && first == nil && !errors.Is(err, net.ErrClosed) {
				first = fmt.Errorf("sshhost: close listener: %w", err)
			}
		}
		for c := range s.conns {
			_ = c.Close()
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return first
}

// handleConn runs one SSH connection: handshake and authentication, then
// its channels until the connection ends.
func (s *Server) handleConn(c net.Conn) {
	defer func() {
		_ = c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	_ = c.SetDeadline(time.Now().Add(handshakeTimeout))
	sc, chans, reqs, err := ssh.NewServerConn(c, s.sshCfg)
	if err != nil {
		s.log.Debug("ssh handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	_ = c.SetDeadline(time.Time{})
	user := sc.User()
	log := s.log.With("user", user, "remote", c.RemoteAddr().String())
	log.Debug("ssh connection authenticated")
	s.wg.Go(func() { ssh.DiscardRequests(reqs) })
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
		case "direct-tcpip":
			s.wg.Go(func() { s.forward(nc, log) })
			continue
		default:
			// RFC 4254 §5.1: unknown or refused channel types.
			_ = nc.Reject(ssh.UnknownChannelType, "the sandbox host supports session and direct-tcpip channels only")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			log.Debug("accept session channel", "err", err)
			continue
		}
		sess := &session{srv: s, ch: ch, user: user, log: log}
		s.wg.Go(func() { sess.serve(chReqs) })
	}
	_ = sc.Close()
	log.Debug("ssh connection closed")
}

// forward serves a "direct-tcpip" channel (RFC 4254 §7.2, ssh -L) to a
// loopback target only: the sandbox never dials the network.
func (s *Server) forward(nc ssh.NewChannel, log *slog.Logger) {
	var req struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(nc.ExtraData(), &req); err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, "malformed direct-tcpip request")
		return
	}
	if !isLoopbackHost(req.Host) || req.Port == 0 || req.Port > 65535 {
		_ = nc.Reject(ssh.Prohibited, "the sandbox host only forwards to loopback addresses")
		return
	}
	addr := net.JoinHostPort(req.Host, strconv.FormatUint(uint64(req.Port), 10))
	d := net.Dialer{Timeout: 10 * time.Second}
	target, err := d.Dial("tcp", addr)
	if err != nil {
		_ = nc.Reject(ssh.ConnectionFailed, fmt.Sprintf("connect to %s: %v", addr, err))
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		_ = target.Close()
		return
	}
	log.Debug("forwarding", "target", addr)
	s.wg.Go(func() {
		ssh.DiscardRequests(reqs) // returns once the channel is closed
		_ = target.Close()        // which unblocks the copy from target
	})
	up := make(chan struct{})
	s.wg.Go(func() {
		_, _ = io.Copy(target, ch)
		if tc, ok := target.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		close(up)
	})
	_, _ = io.Copy(ch, target)
	_ = ch.CloseWrite()
	<-up
	_ = ch.Close()
	_ = target.Close()
}

// isLoopbackHost reports whether host names this machine's loopback.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// copyTo copies src to dst until either fails, then closes done.
func copyTo(dst io.Writer, src io.Reader, done chan<- struct{}) {
	_, _ = io.Copy(dst, src)
	close(done)
}
