package ui

import (
	"context"
	"errors"

	tea "charm.land/bubbletea/v2"

	"github.com/ssmtui/ssmtui/inventory"
)

// Source discovers instances. Scan calls emit once per (profile, region)
// result as results become known — cached results first (FromCache set),
// then live ones — and returns when every region has answered or ctx is
// done. emit may block; Scan must stop calling it once ctx is done.
type Source interface {
	Scan(ctx context.Context, emit func(inventory.Result))
}

// Mode says what kind of session Enter or s opens.
type Mode int

const (
	// ModeSSH is SSH carried over an SSM port session (the default, Enter).
	ModeSSH Mode = iota
	// ModeShell is a plain Session Manager shell without SSH (s).
	ModeShell
	// ModeDoctor diagnoses the instance (d): the Session it returns shows
	// the report on the terminal and returns on Enter. It is offered for
	// every EC2 instance, offline and stopped ones above all.
	ModeDoctor
)

// String names the mode for the status bar.
func (m Mode) String() string {
	switch m {
	case ModeShell:
		return "ssm shell"
	case ModeDoctor:
		return "doctor"
	}
	return "ssh"
}

// Connector opens a session to one instance. Connect runs outside the
// terminal hand-off, as an ordinary command: it may report phases through
// progress and ask the user through p, and must return promptly once ctx is
// done. The returned Session is run with tea.Exec and then closed by the UI.
type Connector interface {
	Connect(ctx context.Context, inst inventory.Instance, mode Mode, p Prompter, progress func(string)) (Session, error)
}

// Session is a connected shell ready to take over the terminal: Run blocks
// until the remote shell ends and returns nil for exit 0, a typed exit error
// otherwise. Close releases the SSH client and the SSM session; it is
// idempotent and called once Run has returned (or if Run never happens).
type Session interface {
	tea.ExecCommand
	Close() error
}

// HostKey describes an unknown host key shown to the user for trust on
// first use. Fingerprint is the SHA256 form (ssh.FingerprintSHA256).
type HostKey struct {
	InstanceID  string
	Name        string
	Region      string
	Account     string
	KeyType     string // ssh-ed25519, ecdsa-sha2-nistp256, …
	Fingerprint string
}

// Prompter asks the user a question in the picker while Connect runs. Both
// methods block until the user answers or ctx is done (then they return
// ctx.Err()). The UI implements it with modals.
type Prompter interface {
	// ConfirmHostKey reports whether the user trusts an unknown host key.
	ConfirmHostKey(ctx context.Context, key HostKey) (bool, error)
	// Passphrase asks for the passphrase of an encrypted private key; prompt
	// names the key file. ErrPromptCancelled means the user declined.
	Passphrase(ctx context.Context, prompt string) ([]byte, error)
}

// ErrPromptCancelled is returned by Prompter.Passphrase when the user
// dismissed the modal instead of answering.
var ErrPromptCancelled = errors.New("ui: prompt cancelled by the user")
