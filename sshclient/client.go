package sshclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// DefaultHandshakeTimeout bounds the SSH handshake and authentication, not
// counting the time the user spends answering prompts.
const DefaultHandshakeTimeout = 30 * time.Second

// EventKind classifies progress events.
type EventKind int

// Progress events, in the order they usually happen.
const (
	EventHandshake      EventKind = iota // SSH handshake started
	EventHostKeyUnknown                  // host key not in known_hosts; asking or accepting
	EventHostKeyAdded                    // host key stored in known_hosts
	EventPushingKey                      // EC2 Instance Connect push in progress
	EventEICFallback                     // EC2 Instance Connect unavailable; using agent/key files
	EventAuthenticating                  // offering a key (method named in Message)
	EventConnected                       // authenticated
)

// Event is a progress report for the TUI spinner or a CLI log line. Message is
// a short human sentence and never contains secrets.
type Event struct {
	Kind    EventKind
	Message string
}

// Config configures Connect. Zero values give the documented defaults; only
// InstanceID and HostKeys are required.
type Config struct {
	// InstanceID ("i-…" or "mi-…") names the host: known_hosts lines and
	// ~/.ssh/config Host patterns are matched against it.
	InstanceID string
	// Name is the instance's Name tag: also matched against ~/.ssh/config
	// Host patterns, and shown in prompts.
	Name string
	// PlatformName is SSM's PlatformName ("Ubuntu", …), used to pick the
	// default login (DefaultUser).
	PlatformName string
	// User is the explicit login (--user); it wins over ~/.ssh/config and
	// the platform default.
	User string

	// HostKeys is the ssmtui known_hosts file.
	HostKeys *HostKeys
	// AcceptNewHostKey stores unknown host keys without asking
	// (--accept-new-host-key). Changed keys still fail.
	AcceptNewHostKey bool
	// Prompter asks about unknown host keys and passphrases. Nil means
	// nobody can answer: unknown keys fail (unless AcceptNewHostKey) and
	// encrypted key files are skipped.
	Prompter Prompter

	// PushKey, when set, pushes an OpenSSH authorized_keys line for osUser
	// with EC2 Instance Connect (SendSSHPublicKey). Wrap ErrEICUnsupported
	// when the instance cannot use it.
	PushKey func(ctx context.Context, osUser, authorizedKey string) error
	// EarlyEIC is a key StartEIC began pushing while the transport was
	// being opened; Connect uses it instead of pushing during
	// authentication when it was pushed for the same user less than 40 s
	// before. Nil: push during authentication.
	EarlyEIC *EarlyEIC
	// AgentSocket is the ssh-agent socket; empty means $SSH_AUTH_SOCK.
	AgentSocket string
	// NoAgent disables ssh-agent.
	NoAgent bool
	// MaxAgentKeys bounds the agent keys offered (DefaultMaxAgentKeys).
	MaxAgentKeys int
	// IdentityFiles are key files to offer before those of ~/.ssh/config (-i).
	IdentityFiles []string
	// HomeDir locates ~/.ssh; empty means os.UserHomeDir().
	HomeDir string
	// SSHConfigPath is the OpenSSH client config to read; empty means
	// HomeDir/.ssh/config, "none" reads none.
	SSHConfigPath string

	// HandshakeTimeout bounds handshake and authentication
	// (DefaultHandshakeTimeout); prompts pause it.
	HandshakeTimeout time.Duration
	// KeepAliveInterval is how often Shell and Exec send keepalive requests
	// (DefaultKeepAliveInterval; negative disables); after KeepAliveMax
	// (DefaultKeepAliveMax) intervals without an answer the connection is
	// closed as dead.
	KeepAliveInterval time.Duration
	KeepAliveMax      int
	// OnEvent receives progress events while Connect runs, one at a time
	// (host-key events come from x/crypto's key-exchange goroutine); it
	// must not block for long.
	OnEvent func(Event)
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}

// Validate reports a Config that Connect cannot use.
func (c *Config) Validate() error {
	switch {
	case c.InstanceID == "":
		return errors.New("sshclient: Config.InstanceID is empty")
	case c.HostKeys == nil:
		return errors.New("sshclient: Config.HostKeys is nil")
	}
	return nil
}

// Client is an authenticated SSH connection to one instance. Close it when
// done; Close is idempotent and also closes the ssh-agent connection.
type Client struct {
	ssh        *ssh.Client
	instanceID string
	user       string
	log        *slog.Logger

	keepAliveEvery time.Duration
	keepAliveMax   int

	closeOnce sync.Once
	closeErr  error
	closers   []io.Closer
}

// SSH returns the underlying x/crypto client (for SFTP and port forwards).
func (c *Client) SSH() *ssh.Client { return c.ssh }

// User returns the login that authenticated.
func (c *Client) User() string { return c.user }

// InstanceID returns the instance this client is connected to.
func (c *Client) InstanceID() string { return c.instanceID }

// keepAlive returns the keepalive interval and count to use, preferring the
// non-zero overrides. A zero interval from keepAlive means disabled.
func (c *Client) keepAlive(every time.Duration, maxMissed int) (time.Duration, int) {
	if every == 0 {
		every = c.keepAliveEvery
	}
	if maxMissed == 0 {
		maxMissed = c.keepAliveMax
	}
	switch {
	case every < 0:
		every = 0
	case every == 0:
		every = DefaultKeepAliveInterval
	}
	if maxMissed <= 0 {
		maxMissed = DefaultKeepAliveMax
	}
	return every, maxMissed
}

// Close closes the SSH connection (and with it the net.Conn) and then the
// ssh-agent connection. It returns the first error; later calls return the
// same result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.ssh.Close()
		if errors.Is(c.closeErr, net.ErrClosed) {
			c.closeErr = nil
		}
		for _, cl := range c.closers {
			if err := cl.Close(); err != nil && c.closeErr == nil && !errors.Is(err, net.ErrClosed) {
				c.closeErr = err
			}
		}
	})
	return c.closeErr
}

// Connect runs the SSH handshake and authentication over conn, which reaches
// the instance's sshd (for example a Session Manager port session). It owns
// conn from then on: on failure conn is closed, on success Client.Close closes
// it. The address given to SSH is "<InstanceID>:22", so host keys are checked
// against the instance ID. The handshake deadline is set on conn (x/crypto's
// ClientConfig.Timeout does not apply to NewClientConn), paused while the user
// answers prompts, and cleared on success. Cancelling ctx aborts the handshake
// by closing conn.
//
// Authentication order: EC2 Instance Connect (when PushKey is set), ssh-agent,
// then the identity files (Config.IdentityFiles and ~/.ssh/config IdentityFile
// lines, else id_ed25519, id_ecdsa, id_rsa). Errors: *HostKeyMismatchError,
// *AuthError, ErrHostKeyRejected, ErrHostKeyUnknown, ErrHostKeyRevoked
// (wrapped), or the transport error.
func Connect(ctx context.Context, conn net.Conn, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		_ = conn.Close()
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("instance", cfg.InstanceID)
	emit := func(kind EventKind, msg string) {
		log.Debug(msg)
		if cfg.OnEvent != nil {
			cfg.OnEvent(Event{Kind: kind, Message: msg})
		}
	}
	timeout := cfg.HandshakeTimeout
	if timeout <= 0 {
		timeout = DefaultHandshakeTimeout
	}

	home, settings, err := sshSettings(cfg)
	if err != nil {
		// A config we cannot read must not block connecting; say so.
		log.Warn("ignoring ssh config", "err", err)
	}
	user, source := resolveUser(cfg.User, settings, cfg.PlatformName)

	addr := net.JoinHostPort(cfg.InstanceID, "22")
	known, err := cfg.HostKeys.Known(cfg.InstanceID)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}

	var deadlineMu sync.Mutex
	arm := func() { _ = conn.SetDeadline(time.Now().Add(timeout)) }
	pause := func() func() {
		deadlineMu.Lock()
		_ = conn.SetDeadline(time.Time{})
		deadlineMu.Unlock()
		return func() {
			deadlineMu.Lock()
			arm()
			deadlineMu.Unlock()
		}
	}

	chain := newAuthChain(ctx, &cfg, user, source, home, settings, pause, emit)
	closeAgent := func() {
		if chain.agentConn != nil {
			_ = chain.agentConn.Close()
		}
	}
	hk := &hostKeyChecker{ctx: ctx, cfg: &cfg, pause: pause, emit: emit}
	clientCfg := &ssh.ClientConfig{
		User:              user,
		HostKeyCallback:   hk.check,
		HostKeyAlgorithms: hostKeyAlgorithms(known),
		AuthCallback:      chain.callback,
		ClientVersion:     "SSH-2.0-ssmtui",
	}

	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	arm()
	emit(EventHandshake, fmt.Sprintf("ssh handshake with %s as %s", cfg.InstanceID, user))
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, clientCfg) // closes conn on failure
	if !stop() {
		// ctx ended: conn is closed, whatever the handshake said.
		if err == nil {
			_ = c.Close()
		}
		closeAgent()
		return nil, fmt.Errorf("ssh handshake with %s: %w", cfg.InstanceID, ctx.Err())
	}
	if err != nil {
		closeAgent()
		if hk.err != nil {
			return nil, hk.err
		}
		var neg *ssh.AlgorithmNegotiationError
		if errors.As(err, &neg) && neg.What == "host key" && len(known) > 0 {
			// Pinned to the stored key's type, and the server no longer has
			// one: a changed key, so fail closed the same way.
			mm := &HostKeyMismatchError{InstanceID: cfg.InstanceID, File: cfg.HostKeys.Path(),
				Offered: "only " + strings.Join(neg.RequestedAlgorithms, ", ") + " host keys"}
			for _, k := range known {
				mm.Known = append(mm.Known, fmt.Sprintf("%s (%s:%d)", describeKey(k.Key), k.Filename, k.Line))
			}
			return nil, mm
		}
		if chain.fatal != nil {
			return nil, fmt.Errorf("ssh handshake with %s: %w", cfg.InstanceID, chain.fatal)
		}
		if chain.done {
			return nil, chain.authError()
		}
		if len(chain.tried) > 0 {
			// The server gave up during authentication (for example after
			// MaxAuthTries): say what was offered.
			return nil, fmt.Errorf("ssh login to %s as %q (user from %s) failed after offering %s: %w",
				cfg.InstanceID, user, source, strings.Join(chain.tried, ", "), err)
		}
		return nil, fmt.Errorf("ssh handshake with %s: %w", cfg.InstanceID, err)
	}
	_ = conn.SetDeadline(time.Time{})
	emit(EventConnected, fmt.Sprintf("logged in to %s as %s", cfg.InstanceID, user))
	client := &Client{ssh: ssh.NewClient(c, chans, reqs), instanceID: cfg.InstanceID, user: user, log: log,
		keepAliveEvery: cfg.KeepAliveInterval, keepAliveMax: cfg.KeepAliveMax}
	if chain.agentConn != nil {
		client.closers = append(client.closers, chain.agentConn)
	}
	return client, nil
}

// readSSHConfigFor evaluates ~/.ssh/config (or Config.SSHConfigPath) for the
// instance ID and the Name tag.
// sshSettings returns the home directory and the ~/.ssh/config settings
// for cfg's host; an unreadable config gives empty settings and the error.
func sshSettings(cfg Config) (string, hostSettings, error) {
	home := cfg.HomeDir
	if home == "" {
		if h, err := os.UserHomeDir(); err == nil {
			home = h
		}
	}
	settings, err := readSSHConfigFor(cfg, home)
	if err != nil {
		return home, hostSettings{}, err
	}
	return home, settings, nil
}

func readSSHConfigFor(cfg Config, home string) (hostSettings, error) {
	p := cfg.SSHConfigPath
	switch {
	case p == "none":
		return hostSettings{}, nil
	case p == "" && home == "":
		return hostSettings{}, nil
	case p == "":
		p = filepath.Join(home, ".ssh", "config")
	}
	return readSSHConfig(p, []string{cfg.InstanceID, cfg.Name})
}

// hostKeyChecker verifies the server's host key against the ssmtui
// known_hosts file: match → ok; unknown → ask (or AcceptNewHostKey) and
// append; changed → fail closed without asking; revoked → fail.
type hostKeyChecker struct {
	ctx   context.Context
	cfg   *Config
	pause func() func()
	emit  func(EventKind, string)
	err   error // the typed error returned to x/crypto, reported by Connect
}

func (h *hostKeyChecker) check(hostname string, _ net.Addr, key ssh.PublicKey) error {
	h.err = h.verify(hostname, key)
	return h.err
}

func (h *hostKeyChecker) verify(hostname string, key ssh.PublicKey) error {
	id := h.cfg.InstanceID
	store := h.cfg.HostKeys
	cb, err := knownhosts.New(store.Path())
	if err != nil {
		return fmt.Errorf("read known_hosts %s: %w", store.Path(), err)
	}
	// Check against the instance ID whatever conn.RemoteAddr says.
	err = cb(hostname, fixedAddr(hostname), key)
	var revoked *knownhosts.RevokedError
	var keyErr *knownhosts.KeyError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &revoked):
		return fmt.Errorf("host key %s of %s is marked @revoked in %s:%d: %w",
			describeKey(key), id, revoked.Revoked.Filename, revoked.Revoked.Line, ErrHostKeyRevoked)
	case !errors.As(err, &keyErr):
		return fmt.Errorf("check host key of %s: %w", id, err)
	case len(keyErr.Want) > 0:
		mm := &HostKeyMismatchError{InstanceID: id, Offered: describeKey(key), File: store.Path()}
		for _, w := range keyErr.Want {
			mm.Known = append(mm.Known, fmt.Sprintf("%s (%s:%d)", describeKey(w.Key), w.Filename, w.Line))
		}
		return mm
	}

	prompt := HostKeyPrompt{InstanceID: id, Name: h.cfg.Name, KeyType: key.Type(), Fingerprint: ssh.FingerprintSHA256(key)}
	h.emit(EventHostKeyUnknown, fmt.Sprintf("host key of %s is unknown: %s %s", id, prompt.KeyType, prompt.Fingerprint))
	switch {
	case h.cfg.AcceptNewHostKey:
	case h.cfg.Prompter == nil:
		return fmt.Errorf("host key %s of %s: %w; connect interactively or pass --accept-new-host-key",
			describeKey(key), id, ErrHostKeyUnknown)
	default:
		resume := h.pause()
		ok, err := h.cfg.Prompter.ConfirmHostKey(h.ctx, prompt)
		resume()
		if err != nil && !errors.Is(err, ErrPromptCancelled) {
			return fmt.Errorf("confirm host key of %s: %w", id, err)
		}
		if !ok || err != nil { // a cancelled prompt is a no, whatever it says
			return fmt.Errorf("host key %s of %s: %w", describeKey(key), id, ErrHostKeyRejected)
		}
	}
	if err := store.Add(id, key); err != nil {
		return err
	}
	h.emit(EventHostKeyAdded, fmt.Sprintf("stored host key of %s in %s", id, store.Path()))
	return nil
}
