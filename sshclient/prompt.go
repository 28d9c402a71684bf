package sshclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/muesli/cancelreader"
	"golang.org/x/term"
)

// ErrPromptCancelled is returned by a Prompter when the user declined to
// answer (closed the modal, pressed Ctrl-D). For a passphrase it skips that
// key; for a host key it is a "no".
var ErrPromptCancelled = errors.New("sshclient: prompt cancelled by the user")

// Prompter asks the user while Connect runs. Both methods block until the user
// answers or ctx is done, and then return ctx.Err(). Connect clears the
// handshake deadline while a prompt is open. The TUI implements Prompter with
// modals; TTYPrompter is the CLI implementation.
type Prompter interface {
	// ConfirmHostKey reports whether the user trusts an unknown host key
	// (trust on first use). It is never called for a changed key.
	ConfirmHostKey(ctx context.Context, key HostKeyPrompt) (bool, error)
	// Passphrase asks for the passphrase of an encrypted private key; prompt
	// names the key file. The returned slice is not retained.
	Passphrase(ctx context.Context, prompt string) ([]byte, error)
}

// TTYPrompter asks on the controlling terminal (/dev/tty, or CONIN$/CONOUT$
// on Windows), so it works when stdin and stdout are redirected. Passphrases
// are read without echo (x/term ReadPassword). It is for CLI mode only: never
// use it while the TUI owns the terminal.
type TTYPrompter struct{}

// ConfirmHostKey implements Prompter: it shows the fingerprint and reads a
// line; only "yes" or "y" is a yes. Ctrl-D is ErrPromptCancelled.
func (TTYPrompter) ConfirmHostKey(ctx context.Context, key HostKeyPrompt) (bool, error) {
	in, out, err := openTTY()
	if err != nil {
		return false, err
	}
	defer closeTTY(in, out)
	name := key.InstanceID
	if key.Name != "" {
		name = fmt.Sprintf("%s (%s)", key.InstanceID, key.Name)
	}
	fmt.Fprintf(out, "The authenticity of host %s can't be established.\n%s key fingerprint is %s.\n"+
		"Are you sure you want to continue connecting (yes/no)? ", name, key.KeyType, key.Fingerprint)
	line, err := readTTYLine(ctx, in, out, false)
	if err != nil {
		return false, err
	}
	answer := strings.ToLower(strings.TrimSpace(string(line)))
	return answer == "yes" || answer == "y", nil
}

// Passphrase implements Prompter by reading without echo from the terminal.
// Ctrl-C, or Ctrl-D on an empty line, is ErrPromptCancelled.
func (TTYPrompter) Passphrase(ctx context.Context, prompt string) ([]byte, error) {
	in, out, err := openTTY()
	if err != nil {
		return nil, err
	}
	defer closeTTY(in, out)
	fmt.Fprint(out, prompt)
	return readTTYLine(ctx, in, out, true)
}

// readTTYLine reads one line from the terminal in. With secret the terminal is
// raw (no echo; restored before returning) and backspace, Ctrl-U, Ctrl-C and
// Ctrl-D are interpreted here. The read is cancelable, so when ctx ends it
// returns ctx.Err() with no goroutine left reading the terminal and the
// terminal mode restored.
func readTTYLine(ctx context.Context, in *os.File, out io.Writer, secret bool) ([]byte, error) {
	cr, err := cancelreader.NewReader(in)
	if err != nil {
		return nil, fmt.Errorf("read from terminal: %w", err)
	}
	defer cr.Close()
	if secret {
		fd := int(in.Fd())
		st, err := term.MakeRaw(fd)
		if err != nil {
			return nil, fmt.Errorf("turn off terminal echo: %w", err)
		}
		defer func() {
			_ = term.Restore(fd, st)
			fmt.Fprint(out, "\r\n")
		}()
	}
	stop := context.AfterFunc(ctx, func() { cr.Cancel() })
	defer stop()
	var line []byte
	buf := make([]byte, 64)
	for {
		n, err := cr.Read(buf)
		for _, b := range buf[:n] {
			if !secret {
				if b == '\n' {
					return bytes.TrimRight(line, "\r"), nil
				}
				line = append(line, b)
				continue
			}
			switch b {
			case '\r', '\n':
				return line, nil
			case 0x03: // Ctrl-C
				clear(line)
				return nil, ErrPromptCancelled
			case 0x04: // Ctrl-D
				if len(line) == 0 {
					return nil, ErrPromptCancelled
				}
			case 0x7f, 0x08: // backspace
				if len(line) > 0 {
					line = line[:len(line)-1]
				}
			case 0x15: // Ctrl-U
				clear(line)
				line = line[:0]
			default:
				line = append(line, b)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, cancelreader.ErrCanceled):
			clear(line)
			return nil, ctx.Err()
		case errors.Is(err, io.EOF):
			if !secret && len(line) > 0 {
				return line, nil
			}
			clear(line)
			return nil, ErrPromptCancelled
		default:
			clear(line)
			return nil, fmt.Errorf("read from terminal: %w", err)
		}
	}
}

func closeTTY(in, out *os.File) {
	_ = in.Close()
	if out != in {
		_ = out.Close()
	}
}
