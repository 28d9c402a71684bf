package sandbox

// Owned by the SSH hosts work: one in-process SSH server per instance.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/ssmtui/ssmtui/sandbox/sshhost"
)

// EICKeyLifetime is how long a key pushed with SendSSHPublicKey opens the
// instance's SSH server for its OS user, judged by the sandbox clock
// (Options.Now). EC2 Instance Connect documents 60 seconds.
const EICKeyLifetime = 60 * time.Second

// HostOptions configures the in-process SSH hosts.
type HostOptions struct {
	// KeySeed makes host keys stable: each instance's ed25519 host key is
	// derived from KeySeed and the instance ID, so known_hosts entries stay
	// valid across runs with the same seed. Empty: a random seed per
	// sandbox. `ssmtui demo` persists one.
	KeySeed []byte
	// AuthorizedKeysFile, if set, is an OpenSSH authorized_keys file whose
	// keys open every login user of every instance (options are ignored).
	// It is read at each authentication, so edits apply at once.
	AuthorizedKeysFile string
	// ExtraUsers are login users that exist on every instance besides the
	// platform's default user (ec2-user, ubuntu, admin, centos,
	// Administrator).
	ExtraUsers []string
	// Shell is the shell the hosts run. Default: $SHELL, else /bin/sh.
	Shell string
}

// Errors of hostPool.Addr, decided with errors.Is.
var (
	// ErrHostUnknown: no instance of the fleet has this ID.
	ErrHostUnknown = errors.New("sandbox: no such instance")
	// ErrHostNoSSH: the instance is marked NoSSH, nothing listens on its
	// port 22 (a real agent answers ConnectToPortError).
	ErrHostNoSSH = errors.New("sandbox: nothing listens on port 22 of the instance (fleet: noSsh)")
	// ErrHostNotRunning: the instance is not in the running state.
	ErrHostNotRunning = errors.New("sandbox: instance is not running")
	// ErrHostsClosed: the sandbox is closed.
	ErrHostsClosed = errors.New("sandbox: hosts are closed")
)

// hostPool owns the SSH servers of the fleet's instances, started on first
// use, and the keys pushed through EC2 Instance Connect.
type hostPool struct {
	sb   *Sandbox
	opts HostOptions
	seed []byte

	mu     sync.Mutex
	closed bool
	dir    string // temp root of the instance directories; "" until first use
	hosts  map[string]*host
	pushed map[eicSlot][]pushedKey
	wg     sync.WaitGroup // Serve goroutines
}

// host is one running SSH server.
type host struct {
	srv  *sshhost.Server
	addr string
}

type eicSlot struct{ instanceID, user string }

type pushedKey struct {
	key []byte // ssh wire format
	at  time.Time
}

func newHostPool(s *Sandbox) *hostPool {
	seed := s.opts.Hosts.KeySeed
	if len(seed) == 0 {
		seed = make([]byte, 32)
		_, _ = rand.Read(seed) // never fails (crypto/rand, Go ≥ 1.24)
	}
	return &hostPool{
		sb:     s,
		opts:   s.opts.Hosts,
		seed:   bytes.Clone(seed),
		hosts:  map[string]*host{},
		pushed: map[eicSlot][]pushedKey{},
	}
}

// Addr returns "127.0.0.1:port" of the SSH server of instanceID, starting
// it on first use. It fails with ErrHostUnknown, ErrHostNoSSH,
// ErrHostNotRunning, ErrHostsClosed, or sshhost.ErrUnsupported on systems
// without PTYs. ctx bounds the start only.
func (p *hostPool) Addr(ctx context.Context, instanceID string) (string, error) {
	inst, ok := p.sb.fleet.instanceByID(instanceID)
	if !ok {
		return "", fmt.Errorf("find ssh host %s: %w", instanceID, ErrHostUnknown)
	}
	if inst.NoSSH {
		return "", fmt.Errorf("connect to port 22 of %s: %w", instanceID, ErrHostNoSSH)
	}
	if inst.State != "" && inst.State != "running" {
		return "", fmt.Errorf("connect to port 22 of %s (%s): %w", instanceID, inst.State, ErrHostNotRunning)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", fmt.Errorf("connect to port 22 of %s: %w", instanceID, ErrHostsClosed)
	}
	if h, ok := p.hosts[instanceID]; ok {
		return h.addr, nil
	}
	h, err := p.startLocked(ctx, inst)
	if err != nil {
		return "", fmt.Errorf("start ssh host %s: %w", instanceID, err)
	}
	p.hosts[instanceID] = h
	return h.addr, nil
}

// startLocked creates the instance's directory and starts its server on a
// loopback port. p.mu is held.
func (p *hostPool) startLocked(ctx context.Context, inst Instance) (*host, error) {
	if !sshhost.Supported() {
		return nil, sshhost.ErrUnsupported
	}
	signer, err := p.hostSigner(inst.ID)
	if err != nil {
		return nil, err
	}
	dir, err := p.instanceDirLocked(inst)
	if err != nil {
		return nil, err
	}
	srv, err := sshhost.New(sshhost.Config{
		HostKey: signer,
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			return p.authenticate(inst, meta.User(), key)
		},
		Shell: p.shell(),
		Dir:   dir,
		Env: func(user string) []string {
			return instanceEnv(inst, user)
		},
		Logger: p.sb.log.With("part", "host", "instance", inst.ID),
	})
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	p.wg.Go(func() {
		if err := srv.Serve(ln); err != nil {
			p.sb.log.Debug("ssh host stopped", "instance", inst.ID, "err", err)
		}
	})
	return &host{srv: srv, addr: ln.Addr().String()}, nil
}

// instanceDirLocked returns the instance's directory (its HOME), creating
// it and its shell startup files on first use. p.mu is held.
func (p *hostPool) instanceDirLocked(inst Instance) (string, error) {
	if p.dir == "" {
		d, err := os.MkdirTemp("", "ssmtui-hosts-")
		if err != nil {
			return "", fmt.Errorf("create hosts directory: %w", err)
		}
		p.dir = d
	}
	dir := filepath.Join(p.dir, inst.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("create instance directory: %w", err)
	}
	if err := writeShellRC(dir, inst.ID, promptLabel(inst)); err != nil {
		return "", err
	}
	return dir, nil
}

// instanceEnv is what the instance adds to the environment of a login of
// user: its ID, name and region, HOSTNAME and a prompt naming it.
func instanceEnv(inst Instance, user string) []string {
	label := promptLabel(inst)
	return []string{
		"SSMTUI_INSTANCE_ID=" + inst.ID,
		"SSMTUI_INSTANCE_NAME=" + label,
		"SSMTUI_REGION=" + inst.Region,
		"HOSTNAME=" + label,
		"PS1=" + user + "@" + label + "$ ",
	}
}

// loginEnv returns the working directory and the whole environment of a
// login of user running shell on the instance, as its SSH host sets them
// up (HOME and PWD the instance directory, USER, LOGNAME, SHELL, TERM, then
// instanceEnv), creating the directory on first use but not the SSH
// server. The built-in agent's shell plugin uses it so an SSM shell and an
// SSH login of the same instance look like the same machine.
func (p *hostPool) loginEnv(instanceID, user, shell, term string) (string, []string, error) {
	inst, ok := p.sb.fleet.instanceByID(instanceID)
	if !ok {
		return "", nil, fmt.Errorf("find instance %s: %w", instanceID, ErrHostUnknown)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return "", nil, fmt.Errorf("prepare login on %s: %w", instanceID, ErrHostsClosed)
	}
	dir, err := p.instanceDirLocked(inst)
	if err != nil {
		return "", nil, fmt.Errorf("prepare login on %s: %w", instanceID, err)
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	env := []string{
		"PATH=" + path,
		"HOME=" + dir,
		"PWD=" + dir,
		"USER=" + user,
		"LOGNAME=" + user,
		"SHELL=" + shell,
		"TERM=" + term,
	}
	return dir, append(env, instanceEnv(inst, user)...), nil
}

// promptLabel is the instance's name for prompts and HOSTNAME: its Name
// tag reduced to hostname characters, else its ID.
func promptLabel(inst Instance) string {
	label := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_':
			return r
		case r == ' ':
			return '-'
		}
		return -1
	}, inst.Name)
	if label == "" {
		return inst.ID
	}
	return label
}

// writeShellRC gives the common interactive shells a prompt naming the
// instance, and spares zsh its new-user wizard (which runs when $HOME has no
// startup files). An interactive bash reads the system bashrc (which sets
// its own PS1) and then $HOME/.bashrc; zsh reads $HOME/.zshrc. Existing
// files are kept.
func writeShellRC(dir, instanceID, label string) error {
	head := fmt.Sprintf("# Written by the ssmtui sandbox: this is the home directory of instance %s.\n", instanceID)
	files := map[string]string{
		".bashrc": head + fmt.Sprintf("PS1='$USER@%s:\\w\\$ '\n", label),
		".zshrc":  head + fmt.Sprintf("PROMPT=\"${USER}@%s:%%~%%# \"\n", label),
	}
	for name, content := range files {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %s of %s: %w", name, instanceID, err)
		}
		_, werr := f.WriteString(content)
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("write %s of %s: %w", name, instanceID, werr)
		}
	}
	return nil
}

func (p *hostPool) shell() string {
	if p.opts.Shell != "" {
		return p.opts.Shell
	}
	if sh := os.Getenv("SHELL"); sh != "" && filepath.IsAbs(sh) {
		return sh
	}
	return "/bin/sh"
}

// hostSigner derives the instance's ed25519 host key from the pool seed
// and the instance ID (HKDF-SHA256), so it is stable for a given seed.
func (p *hostPool) hostSigner(instanceID string) (ssh.Signer, error) {
	keySeed, err := hkdf.Key(sha256.New, p.seed, []byte(instanceID), "ssmtui sandbox ssh host key v1", ed25519.SeedSize)
	if err != nil {
		return nil, fmt.Errorf("derive host key of %s: %w", instanceID, err)
	}
	signer, err := ssh.NewSignerFromKey(ed25519.NewKeyFromSeed(keySeed))
	if err != nil {
		return nil, fmt.Errorf("derive host key of %s: %w", instanceID, err)
	}
	return signer, nil
}

// HostPublicKey returns the SSH host key of an instance of the fleet (an
// ed25519 key, stable for a given HostOptions.KeySeed), e.g. to write a
// known_hosts line in tests or in `ssmtui demo`. The host need not have
// started.
func (s *Sandbox) HostPublicKey(instanceID string) (ssh.PublicKey, error) {
	if _, ok := s.fleet.instanceByID(instanceID); !ok {
		return nil, fmt.Errorf("host key of %s: %w", instanceID, ErrHostUnknown)
	}
	signer, err := s.host.hostSigner(instanceID)
	if err != nil {
		return nil, err
	}
	return signer.PublicKey(), nil
}

// HostAddr returns "127.0.0.1:port" of the instance's in-process SSH server
// (started on first use), for tests that reach the host without a Session
// Manager session. Errors as for the agent's view: ErrHostUnknown,
// ErrHostNoSSH, ErrHostNotRunning, ErrHostsClosed.
func (s *Sandbox) HostAddr(ctx context.Context, instanceID string) (string, error) {
	return s.host.Addr(ctx, instanceID)
}

// LoginUsers returns the OS users that exist on an instance: the platform's
// default login user plus HostOptions.ExtraUsers.
func (s *Sandbox) LoginUsers(instanceID string) ([]string, error) {
	inst, ok := s.fleet.instanceByID(instanceID)
	if !ok {
		return nil, fmt.Errorf("login users of %s: %w", instanceID, ErrHostUnknown)
	}
	return s.host.loginUsers(inst), nil
}

// defaultLoginUser is the user the platform's official images create.
func defaultLoginUser(inst Instance) string {
	if strings.EqualFold(inst.PlatformType, "Windows") {
		return "Administrator"
	}
	name := strings.ToLower(inst.PlatformName)
	switch {
	case strings.Contains(name, "windows"):
		return "Administrator"
	case strings.Contains(name, "ubuntu"):
		return "ubuntu"
	case strings.Contains(name, "debian"):
		return "admin"
	case strings.Contains(name, "centos"):
		return "centos"
	default: // Amazon Linux, Red Hat, SUSE, Fedora, macOS, unknown
		return "ec2-user"
	}
}

func (p *hostPool) loginUsers(inst Instance) []string {
	users := []string{defaultLoginUser(inst)}
	for _, u := range p.opts.ExtraUsers {
		if !slices.Contains(users, u) {
			users = append(users, u)
		}
	}
	return users
}

// authenticate decides a public key for user on inst: the user must exist,
// and the key must have been pushed through EC2 Instance Connect for
// (instance, user) within EICKeyLifetime, or be in the authorized_keys file.
func (p *hostPool) authenticate(inst Instance, user string, key ssh.PublicKey) (*ssh.Permissions, error) {
	if !slices.Contains(p.loginUsers(inst), user) {
		return nil, fmt.Errorf("invalid user %q", user)
	}
	wire := key.Marshal()
	if p.eicKeyValid(inst.ID, user, wire) {
		return &ssh.Permissions{Extensions: map[string]string{"ssmtui-auth": "ec2-instance-connect"}}, nil
	}
	if p.authorizedKey(wire) {
		return &ssh.Permissions{Extensions: map[string]string{"ssmtui-auth": "authorized_keys"}}, nil
	}
	return nil, fmt.Errorf("public key %s not authorized for %q", ssh.FingerprintSHA256(key), user)
}

// pushKey records a key pushed through SendSSHPublicKey at the sandbox
// time at, dropping expired pushes.
func (p *hostPool) pushKey(instanceID, user string, key ssh.PublicKey, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := eicSlot{instanceID, user}
	keys := slices.DeleteFunc(p.pushed[k], func(pk pushedKey) bool { return at.Sub(pk.at) > EICKeyLifetime })
	p.pushed[k] = append(keys, pushedKey{key: key.Marshal(), at: at})
}

func (p *hostPool) eicKeyValid(instanceID, user string, wire []byte) bool {
	now := p.sb.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pk := range p.pushed[eicSlot{instanceID, user}] {
		if bytes.Equal(pk.key, wire) && !now.After(pk.at.Add(EICKeyLifetime)) {
			return true
		}
	}
	return false
}

// authorizedKey reports whether wire is a key of the authorized_keys file.
func (p *hostPool) authorizedKey(wire []byte) bool {
	if p.opts.AuthorizedKeysFile == "" {
		return false
	}
	b, err := os.ReadFile(p.opts.AuthorizedKeysFile)
	if err != nil {
		p.sb.log.Debug("read authorized_keys", "err", err)
		return false
	}
	for len(bytes.TrimSpace(b)) > 0 {
		key, _, _, rest, err := ssh.ParseAuthorizedKey(b)
		if err != nil {
			return false // no more parsable keys
		}
		if bytes.Equal(key.Marshal(), wire) {
			return true
		}
		b = rest
	}
	return false
}

// Close stops every SSH server and its sessions, waits for them and
// removes the instance directories.
func (p *hostPool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	hosts := p.hosts
	p.hosts = map[string]*host{}
	dir := p.dir
	p.mu.Unlock()
	var first error
	for _, h := range hosts {
		if err := h.srv.Close(); err != nil && first == nil {
			first = err
		}
	}
	p.wg.Wait()
	if dir != "" {
		if err := os.RemoveAll(dir); err != nil && first == nil {
			first = fmt.Errorf("remove hosts directory: %w", err)
		}
	}
	return first
}

// instanceByID finds an instance of any account and region by ID (IDs are
// unique in a valid fleet).
func (f *Fleet) instanceByID(id string) (Instance, bool) {
	for i := range f.Accounts {
		for j := range f.Accounts[i].Instances {
			if f.Accounts[i].Instances[j].ID == id {
				return f.Accounts[i].Instances[j], true
			}
		}
	}
	return Instance{}, false
}
