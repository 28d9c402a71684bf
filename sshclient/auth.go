package sshclient

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// ErrEICUnsupported marks a PushKey failure meaning EC2 Instance Connect does
// not work for this instance (platform not supported, or not an EC2 instance).
// The caller wraps it (fmt.Errorf("…: %w", sshclient.ErrEICUnsupported));
// Connect then falls back to the agent and key files and says so through an
// event. Any other PushKey error also falls back, and is listed in the
// authentication error if nothing else works.
var ErrEICUnsupported = errors.New("sshclient: EC2 Instance Connect is not supported for this instance")

// ErrAuthFailed is matched (errors.Is) by *AuthError.
var ErrAuthFailed = errors.New("sshclient: authentication failed")

// DefaultMaxAgentKeys bounds the agent keys offered when no identity file is
// configured, so that a full agent does not exhaust the server's MaxAuthTries
// (OpenSSH default 6) before the key files are tried.
const DefaultMaxAgentKeys = 3

// AuthError reports that the server accepted none of the keys offered. It
// names the user and where that user came from, what was tried and skipped,
// and how to choose another user.
type AuthError struct {
	InstanceID    string
	User          string
	UserSource    string   // "--user", "~/.ssh/config", "platform Ubuntu", "default"
	Tried         []string // what was offered, in order
	Skipped       []string // what could not be offered, and why
	ServerMethods []string // authentication methods the server allows
}

// Error implements error.
func (e *AuthError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ssh login to %s as %q (user from %s) was refused", e.InstanceID, e.User, e.UserSource)
	if len(e.Tried) > 0 {
		fmt.Fprintf(&b, "; tried: %s", strings.Join(e.Tried, ", "))
	} else {
		b.WriteString("; no key could be offered")
	}
	if len(e.Skipped) > 0 {
		fmt.Fprintf(&b, "; skipped: %s", strings.Join(e.Skipped, "; "))
	}
	if len(e.ServerMethods) > 0 && !slices.Contains(e.ServerMethods, "publickey") {
		fmt.Fprintf(&b, "; the server does not accept public keys (it allows: %s)", strings.Join(e.ServerMethods, ", "))
	}
	fmt.Fprintf(&b, ". If the instance uses another login, choose it with --user (for example --user ubuntu or --user admin) "+
		"or a User line under \"Host %s\" in ~/.ssh/config", e.InstanceID)
	return b.String()
}

// Is makes errors.Is(err, ErrAuthFailed) true.
func (e *AuthError) Is(target error) bool { return target == ErrAuthFailed }

// DefaultUser returns the usual login of an AMI family from its SSM platform
// name ("Amazon Linux", "Ubuntu", "Debian GNU/Linux", "Microsoft Windows Server
// 2022 Datacenter", …): Ubuntu → ubuntu, Debian → admin, CentOS → centos,
// Rocky → rocky, Windows → Administrator, FreeBSD → ec2-user, and ec2-user for
// Amazon Linux, RHEL, SUSE, Fedora, Oracle, AlmaLinux, macOS and anything
// unknown.
func DefaultUser(platformName string) string {
	p := strings.ToLower(platformName)
	switch {
	case strings.Contains(p, "ubuntu"):
		return "ubuntu"
	case strings.Contains(p, "debian"):
		return "admin"
	case strings.Contains(p, "centos"):
		return "centos"
	case strings.Contains(p, "rocky"):
		return "rocky"
	case strings.Contains(p, "windows"):
		return "Administrator"
	case strings.Contains(p, "bitnami"):
		return "bitnami"
	default:
		return "ec2-user"
	}
}

// resolveUser picks the login: the explicit option, then User from
// ~/.ssh/config for the instance ID or Name, then the platform default.
func resolveUser(explicit string, settings hostSettings, platform string) (user, source string) {
	switch {
	case explicit != "":
		return explicit, "--user"
	case settings.User != "":
		return settings.User, "~/.ssh/config"
	case platform != "":
		return DefaultUser(platform), "platform " + platform
	default:
		return DefaultUser(""), "default"
	}
}

// authChain runs the authentication order of Connect through
// ssh.ClientConfig.AuthCallback: EC2 Instance Connect, then ssh-agent, then
// one identity file at a time. Stages do their slow work (the key push, the
// agent, passphrase prompts) only when the previous ones failed, and with the
// handshake deadline paused.
type authChain struct {
	ctx    context.Context
	cfg    *Config
	user   string
	source string
	home   string
	conf   hostSettings
	pause  func() (resume func())
	emit   func(EventKind, string)

	stages  []func() (ssh.AuthMethod, error)
	next    int
	fatal   error // ends the handshake at the next callback (ctx done)
	done    bool  // every stage ran
	offered map[string]bool
	tried   []string
	skipped []string
	allowed []string

	agentConn net.Conn // closed by the Client, or by Connect on failure
}

func newAuthChain(ctx context.Context, cfg *Config, user, source, home string, conf hostSettings,
	pause func() func(), emit func(EventKind, string)) *authChain {
	a := &authChain{ctx: ctx, cfg: cfg, user: user, source: source, home: home, conf: conf,
		pause: pause, emit: emit, offered: map[string]bool{}}
	if cfg.PushKey != nil {
		a.stages = append(a.stages, a.eic)
	}
	if sock := a.agentSocket(); sock != "" {
		a.stages = append(a.stages, func() (ssh.AuthMethod, error) { return a.agent(sock) })
	}
	for _, f := range a.identityFiles() {
		a.stages = append(a.stages, func() (ssh.AuthMethod, error) { return a.file(f) })
	}
	return a
}

// callback implements ssh.ClientAuthCallback.
func (a *authChain) callback(ac *ssh.ClientAuthContext) (ssh.AuthMethod, error) {
	a.allowed = ac.AllowedMethods
	if a.fatal != nil {
		return nil, a.fatal
	}
	if !slices.Contains(ac.AllowedMethods, "publickey") {
		a.done = true
		return nil, nil
	}
	for a.next < len(a.stages) {
		stage := a.stages[a.next]
		a.next++
		m, err := stage()
		if err != nil {
			a.fatal = err
			return nil, err
		}
		if m != nil {
			return m, nil
		}
	}
	a.done = true
	return nil, nil
}

// authError builds the error for a handshake that ran out of methods.
func (a *authChain) authError() *AuthError {
	return &AuthError{InstanceID: a.cfg.InstanceID, User: a.user, UserSource: a.source,
		Tried: a.tried, Skipped: a.skipped, ServerMethods: a.allowed}
}

func (a *authChain) agentSocket() string {
	if a.cfg.NoAgent {
		return ""
	}
	if a.cfg.AgentSocket != "" {
		return a.cfg.AgentSocket
	}
	return os.Getenv("SSH_AUTH_SOCK")
}

// identityFiles lists the key files to try: Config.IdentityFiles, then the
// IdentityFile lines of ~/.ssh/config; only when there are none, the OpenSSH
// defaults id_ed25519, id_ecdsa, id_rsa (as ssh(1) does).
func (a *authChain) identityFiles() []string {
	var files []string
	add := func(f string) {
		if f != "" && !strings.EqualFold(f, "none") && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	for _, f := range a.cfg.IdentityFiles {
		add(expandIdentityPath(f, a.home, localUser(), a.cfg.InstanceID, a.user))
	}
	for _, f := range a.conf.IdentityFiles {
		add(expandIdentityPath(f, a.home, localUser(), a.cfg.InstanceID, a.user))
	}
	if len(files) > 0 || a.home == "" {
		return files
	}
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		add(filepath.Join(a.home, ".ssh", name))
	}
	return files
}

func (a *authChain) configured() bool {
	return len(a.cfg.IdentityFiles) > 0 || len(a.conf.IdentityFiles) > 0
}

// eic authenticates with an ephemeral ed25519 key pushed with PushKey
// (SendSSHPublicKey; valid about 60 s): the one Config.EarlyEIC pushed
// while the transport opened, when it is for this user and recent enough,
// else a new key pushed now.
func (a *authChain) eic() (ssh.AuthMethod, error) {
	signer, early, err := a.eicSigner()
	if err == errEICSkipped {
		return nil, nil
	}
	if err != nil {
		if ctxErr := a.ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("push key with EC2 Instance Connect: %w", ctxErr)
		}
		if errors.Is(err, ErrEICUnsupported) {
			a.skipped = append(a.skipped, "EC2 Instance Connect (not supported for this instance)")
			a.emit(EventEICFallback, "EC2 Instance Connect is not supported for this instance; trying ssh-agent and key files")
		} else {
			a.skipped = append(a.skipped, fmt.Sprintf("EC2 Instance Connect (%v)", err))
			a.emit(EventEICFallback, fmt.Sprintf("EC2 Instance Connect failed (%v); trying ssh-agent and key files", err))
		}
		return nil, nil
	}
	a.offer("EC2 Instance Connect key", signer.PublicKey())
	how := "the EC2 Instance Connect key"
	if early {
		how = "the EC2 Instance Connect key pushed while the session opened"
	}
	a.emit(EventAuthenticating, fmt.Sprintf("authenticating as %s with %s", a.user, how))
	return ssh.PublicKeys(signer), nil
}

// errEICSkipped: no key could be made; the reason is in a.skipped.
var errEICSkipped = errors.New("eic skipped")

// eicSigner returns the key to authenticate with and whether it is the
// early one.
func (a *authChain) eicSigner() (ssh.Signer, bool, error) {
	if e := a.cfg.EarlyEIC; e != nil && e.user == a.user {
		resume := a.pause()
		select {
		case <-e.done:
		case <-a.ctx.Done():
		}
		resume()
		if err := a.ctx.Err(); err != nil {
			return nil, false, err
		}
		if e.err != nil {
			return nil, true, e.err
		}
		if time.Since(e.pushed) < earlyEICMaxAge {
			return e.signer, true, nil
		}
		// Too old to outlive the handshake (a long prompt): push anew.
	}
	signer, authorized, err := newEICKey()
	if err != nil {
		a.skipped = append(a.skipped, fmt.Sprintf("EC2 Instance Connect (%v)", err))
		return nil, false, errEICSkipped
	}
	a.emit(EventPushingKey, fmt.Sprintf("pushing a temporary key for %s with EC2 Instance Connect", a.user))
	resume := a.pause()
	err = a.cfg.PushKey(a.ctx, a.user, authorized)
	resume()
	if err != nil {
		return nil, false, err
	}
	return signer, false, nil
}

// newEICKey makes an ed25519 key in memory and its authorized_keys line.
func newEICKey() (ssh.Signer, string, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, "", fmt.Errorf("generate key: %w", err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, "", fmt.Errorf("signer: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, "", fmt.Errorf("public key: %w", err)
	}
	return signer, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " ssmtui-eic", nil
}

// agent offers keys from ssh-agent. Keys matching a configured identity file
// go first; with IdentitiesOnly only those; otherwise at most MaxAgentKeys,
// so that MaxAuthTries is not exhausted by a full agent.
func (a *authChain) agent(sock string) (ssh.AuthMethod, error) {
	conn, err := net.Dial("unix", sock)
	if err != nil {
		a.skipped = append(a.skipped, fmt.Sprintf("ssh-agent (connect to %s: %v)", sock, err))
		return nil, nil
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		_ = conn.Close()
		a.skipped = append(a.skipped, fmt.Sprintf("ssh-agent (list keys: %v)", err))
		return nil, nil
	}
	if len(signers) == 0 {
		_ = conn.Close()
		a.skipped = append(a.skipped, "ssh-agent (no keys)")
		return nil, nil
	}
	a.agentConn = conn
	wanted := map[string]bool{}
	for _, f := range a.identityFiles() {
		if pub := a.knownPublicKey(f); pub != nil {
			wanted[string(pub.Marshal())] = true
		}
	}
	var first, rest []ssh.Signer
	for _, s := range signers {
		if wanted[string(s.PublicKey().Marshal())] {
			first = append(first, s)
		} else {
			rest = append(rest, s)
		}
	}
	limit := a.cfg.MaxAgentKeys
	if limit <= 0 {
		limit = DefaultMaxAgentKeys
	}
	chosen := first
	switch {
	case a.conf.IdentitiesOnly && a.configured():
	case len(first) > 0:
		// The configured key is in the agent: offer it alone, as the user
		// asked for that identity.
	default:
		if len(rest) > limit {
			a.skipped = append(a.skipped, fmt.Sprintf("%d more ssh-agent keys (at most %d are offered)", len(rest)-limit, limit))
			rest = rest[:limit]
		}
		chosen = rest
	}
	if len(chosen) == 0 {
		return nil, nil
	}
	for _, s := range chosen {
		a.offer("ssh-agent key "+ssh.FingerprintSHA256(s.PublicKey()), s.PublicKey())
	}
	a.emit(EventAuthenticating, fmt.Sprintf("authenticating as %s with ssh-agent (%d keys)", a.user, len(chosen)))
	return ssh.PublicKeys(chosen...), nil
}

// knownPublicKey returns the public key of an identity file without asking
// for a passphrase: from file.pub, the unencrypted key, or the public part of
// an encrypted OpenSSH key. Nil when it cannot tell.
func (a *authChain) knownPublicKey(file string) ssh.PublicKey {
	if data, err := os.ReadFile(file + ".pub"); err == nil {
		if pub, _, _, _, err := ssh.ParseAuthorizedKey(data); err == nil {
			return pub
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err == nil {
		return signer.PublicKey()
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return missing.PublicKey
	}
	return nil
}

// maxPassphraseTries is how often a wrong passphrase is asked again.
const maxPassphraseTries = 3

// file offers one identity file, asking for its passphrase when it is
// encrypted. A key already offered through the agent is not offered again
// (and its passphrase is not asked).
func (a *authChain) file(path string) (ssh.AuthMethod, error) {
	show := a.tildePath(path)
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) || a.configured() {
			a.skipped = append(a.skipped, fmt.Sprintf("%s (%v)", show, unwrapPathError(err)))
		}
		return nil, nil
	}
	if pub := a.knownPublicKey(path); pub != nil && a.offered[string(pub.Marshal())] {
		return nil, nil
	}
	signer, err := ssh.ParsePrivateKey(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case err == nil:
	case errors.As(err, &missing):
		signer, err = a.decrypt(path, show, data)
		if err != nil {
			return nil, err
		}
		if signer == nil {
			return nil, nil
		}
	default:
		a.skipped = append(a.skipped, fmt.Sprintf("%s (not a private key: %v)", show, err))
		return nil, nil
	}
	if a.offered[string(signer.PublicKey().Marshal())] {
		return nil, nil
	}
	a.offer(show, signer.PublicKey())
	a.emit(EventAuthenticating, fmt.Sprintf("authenticating as %s with %s", a.user, show))
	return ssh.PublicKeys(signer), nil
}

// decrypt asks for the passphrase of an encrypted key, up to
// maxPassphraseTries times. It returns (nil, nil) to skip the key and an
// error only when ctx is done.
func (a *authChain) decrypt(path, show string, data []byte) (ssh.Signer, error) {
	if a.cfg.Prompter == nil {
		a.skipped = append(a.skipped, fmt.Sprintf("%s (encrypted, and no way to ask for its passphrase)", show))
		return nil, nil
	}
	resume := a.pause()
	defer resume()
	for try := 0; try < maxPassphraseTries; try++ {
		pass, err := a.cfg.Prompter.Passphrase(a.ctx, fmt.Sprintf("Enter passphrase for key '%s': ", show))
		if err != nil {
			if ctxErr := a.ctx.Err(); ctxErr != nil {
				return nil, fmt.Errorf("ask passphrase for %s: %w", show, ctxErr)
			}
			a.skipped = append(a.skipped, fmt.Sprintf("%s (no passphrase given)", show))
			return nil, nil
		}
		signer, err := ssh.ParsePrivateKeyWithPassphrase(data, pass)
		clear(pass)
		if err == nil {
			return signer, nil
		}
		if !errors.Is(err, x509.IncorrectPasswordError) {
			a.skipped = append(a.skipped, fmt.Sprintf("%s (decrypt: %v)", show, err))
			return nil, nil
		}
	}
	a.skipped = append(a.skipped, fmt.Sprintf("%s (wrong passphrase %d times)", show, maxPassphraseTries))
	return nil, nil
}

func (a *authChain) offer(what string, pub ssh.PublicKey) {
	a.offered[string(pub.Marshal())] = true
	a.tried = append(a.tried, what)
}

// tildePath shows paths under the home directory as ~/….
func (a *authChain) tildePath(p string) string {
	if a.home != "" {
		if rel, err := filepath.Rel(a.home, p); err == nil && !strings.HasPrefix(rel, "..") {
			return "~/" + filepath.ToSlash(rel)
		}
	}
	return p
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// localUser is the local login name for %u in IdentityFile.
func localUser() string {
	for _, k := range []string{"USER", "USERNAME", "LOGNAME"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}
