package sshclient

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ForgetCommand is the command the CLI exposes to remove a stored host key;
// error messages tell the user to run it (with the instance ID appended).
const ForgetCommand = "ssmtui known-hosts forget"

// ErrHostKeyMismatch is matched (errors.Is) by *HostKeyMismatchError.
var ErrHostKeyMismatch = errors.New("sshclient: host key mismatch")

// ErrHostKeyRevoked is returned (wrapped) when the server's key is marked
// @revoked in the known_hosts file.
var ErrHostKeyRevoked = errors.New("sshclient: host key is revoked")

// ErrHostKeyRejected is returned (wrapped) when the user answered no to an
// unknown host key.
var ErrHostKeyRejected = errors.New("sshclient: host key not trusted by the user")

// ErrHostKeyUnknown is returned (wrapped) when a host key is unknown, no
// Prompter can ask the user and AcceptNewHostKey is off.
var ErrHostKeyUnknown = errors.New("sshclient: host key unknown and no one to confirm it")

// HostKeyMismatchError reports that an instance offered a host key other than
// the one stored for it. Connecting fails closed: the user is never asked.
type HostKeyMismatchError struct {
	InstanceID string
	Offered    string   // type and SHA256 fingerprint of the key the server offered
	Known      []string // type and SHA256 fingerprint of each stored key, "file:line" after it
	File       string   // the known_hosts file
}

// Error implements error. It names both fingerprints and the command that
// forgets the stored key.
func (e *HostKeyMismatchError) Error() string {
	return fmt.Sprintf("host key for %s has changed: the server offered %s but known_hosts has %s; "+
		"the instance may have been replaced, or someone may be intercepting the connection. "+
		"If you expect the change, run: %s %s",
		e.InstanceID, e.Offered, strings.Join(e.Known, ", "), ForgetCommand, e.InstanceID)
}

// Is makes errors.Is(err, ErrHostKeyMismatch) true.
func (e *HostKeyMismatchError) Is(target error) bool { return target == ErrHostKeyMismatch }

// HostKeyPrompt describes an unknown host key for trust on first use.
type HostKeyPrompt struct {
	InstanceID  string
	Name        string // Name tag, if known
	KeyType     string // ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa, …
	Fingerprint string // ssh.FingerprintSHA256 form: "SHA256:…"
}

// HostKeys is ssmtui's own known_hosts file (OpenSSH format), keyed by
// instance ID: "i-0123… ssh-ed25519 AAAA…". It never touches
// ~/.ssh/known_hosts. Appends and rewrites are serialised across processes
// with a lock file next to it. A HostKeys is safe for concurrent use.
type HostKeys struct {
	path string
}

// DefaultKnownHostsPath returns os.UserConfigDir()/ssmtui/known_hosts.
func DefaultKnownHostsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the user config directory: %w", err)
	}
	return filepath.Join(dir, "ssmtui", "known_hosts"), nil
}

// OpenHostKeys returns the known_hosts file at path (DefaultKnownHostsPath
// when empty), creating its directory (0700) and an empty file (0600) when
// missing.
func OpenHostKeys(path string) (*HostKeys, error) {
	if path == "" {
		p, err := DefaultKnownHostsPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create known_hosts directory %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open known_hosts %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open known_hosts %s: %w", path, err)
	}
	return &HostKeys{path: path}, nil
}

// Path returns the file's path, for messages.
func (h *HostKeys) Path() string { return h.path }

func (h *HostKeys) lock() (func(), error) { return lockFile(h.path + ".lock") }

// hostAlias is the name a host's lines carry: the instance ID (port 22 is
// dropped by knownhosts.Normalize).
func hostAlias(instanceID string) string {
	return knownhosts.Normalize(net.JoinHostPort(instanceID, "22"))
}

// Known returns the keys stored for instanceID, in file order.
func (h *HostKeys) Known(instanceID string) ([]knownhosts.KnownKey, error) {
	cb, err := knownhosts.New(h.path)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts %s: %w", h.path, err)
	}
	// Asking about a key nobody has makes knownhosts list every stored key
	// for the host in KeyError.Want.
	probe, err := probeKey()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort(instanceID, "22")
	err = cb(addr, fixedAddr(addr), probe)
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		return keyErr.Want, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up %s in %s: %w", instanceID, h.path, err)
	}
	return nil, nil
}

// Add appends a line for instanceID and key under the file lock, unless an
// identical line is already there.
func (h *HostKeys) Add(instanceID string, key ssh.PublicKey) error {
	unlock, err := h.lock()
	if err != nil {
		return err
	}
	defer unlock()
	line := knownhosts.Line([]string{hostAlias(instanceID)}, key)
	data, err := os.ReadFile(h.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read known_hosts %s: %w", h.path, err)
	}
	for l := range strings.Lines(string(data)) {
		if strings.TrimSpace(l) == line {
			return nil
		}
	}
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open known_hosts %s: %w", h.path, err)
	}
	prefix := ""
	if len(data) > 0 && data[len(data)-1] != '\n' {
		prefix = "\n"
	}
	if _, err := f.WriteString(prefix + line + "\n"); err != nil {
		_ = f.Close()
		return fmt.Errorf("append to known_hosts %s: %w", h.path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append to known_hosts %s: %w", h.path, err)
	}
	return nil
}

// Forget removes every line whose host list names instanceID (other hosts on
// a shared line are kept) and reports how many keys were removed. The file is
// rewritten atomically under the lock. It backs the "known-hosts forget"
// command that mismatch errors point to.
func (h *HostKeys) Forget(instanceID string) (int, error) {
	unlock, err := h.lock()
	if err != nil {
		return 0, err
	}
	defer unlock()
	data, err := os.ReadFile(h.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, fmt.Errorf("read known_hosts %s: %w", h.path, err)
	}
	alias := hostAlias(instanceID)
	var out bytes.Buffer
	removed := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		kept, dropped := dropHost(line, alias)
		removed += dropped
		if kept != "" {
			out.WriteString(kept)
			out.WriteByte('\n')
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read known_hosts %s: %w", h.path, err)
	}
	if removed == 0 {
		return 0, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(h.path), ".known_hosts-*")
	if err != nil {
		return 0, fmt.Errorf("rewrite known_hosts %s: %w", h.path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(out.Bytes()); err != nil {
		_ = tmp.Close()
		return 0, fmt.Errorf("rewrite known_hosts %s: %w", h.path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("rewrite known_hosts %s: %w", h.path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o600); err != nil {
		return 0, fmt.Errorf("rewrite known_hosts %s: %w", h.path, err)
	}
	if err := os.Rename(tmp.Name(), h.path); err != nil {
		return 0, fmt.Errorf("rewrite known_hosts %s: %w", h.path, err)
	}
	return removed, nil
}

// dropHost removes alias from the host list of one known_hosts line. It
// returns the line to keep ("" to delete it) and 1 if alias was there.
// Comments, markers (@revoked, @cert-authority) and hashed names are kept.
func dropHost(line, alias string) (string, int) {
	fields := strings.Fields(line)
	if len(fields) < 3 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], "@") {
		return line, 0
	}
	hosts := strings.Split(fields[0], ",")
	kept := hosts[:0]
	found := false
	for _, h := range hosts {
		if h == alias {
			found = true
			continue
		}
		kept = append(kept, h)
	}
	if !found {
		return line, 0
	}
	if len(kept) == 0 {
		return "", 1
	}
	fields[0] = strings.Join(kept, ",")
	return strings.Join(fields, " "), 1
}

// hostKeyAlgorithms maps stored keys to the ClientConfig.HostKeyAlgorithms
// that make the server present one of them (golang/go#49631): an ssh-rsa key
// is used with the SHA-2 signature algorithms. Nil means "no key stored", so
// x/crypto's defaults apply.
func hostKeyAlgorithms(keys []knownhosts.KnownKey) []string {
	var algos []string
	add := func(a ...string) {
		for _, s := range a {
			if !slices.Contains(algos, s) {
				algos = append(algos, s)
			}
		}
	}
	for _, k := range keys {
		switch t := k.Key.Type(); t {
		case ssh.KeyAlgoRSA:
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256)
		default:
			add(t)
		}
	}
	return algos
}

// probeKey returns a fixed ed25519 public key no host has (derived from an
// all-zero seed), used to list the keys stored for a host.
func probeKey() (ssh.PublicKey, error) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	k, err := ssh.NewPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("make probe key: %w", err)
	}
	return k, nil
}

// describeKey formats a key as "ssh-ed25519 SHA256:…".
func describeKey(k ssh.PublicKey) string {
	return k.Type() + " " + ssh.FingerprintSHA256(k)
}

// fixedAddr is a net.Addr whose String is the given host:port, so that
// knownhosts checks the instance ID whatever the conn's RemoteAddr says.
type fixedAddr string

func (a fixedAddr) Network() string { return "tcp" }
func (a fixedAddr) String() string  { return string(a) }
