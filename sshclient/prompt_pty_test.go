//go:build unix

package sshclient

import (
	"context"
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/term"
)

func openPTY(t *testing.T) (master, slave *os.File, out *syncBuffer) {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	t.Cleanup(func() {
		_ = master.Close()
		_ = slave.Close()
	})
	out = &syncBuffer{}
	go func() { _, _ = io.Copy(out, master) }()
	return master, slave, out
}

type lineResult struct {
	line []byte
	err  error
}

func TestReadTTYLineSecret(t *testing.T) {
	master, slave, out := openPTY(t)
	before, err := term.GetState(int(slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan lineResult, 1)
	go func() {
		l, err := readTTYLine(testContext(t), slave, slave, true)
		done <- lineResult{l, err}
	}()
	waitFor(t, "echo off", func() bool {
		st, err := term.GetState(int(slave.Fd()))
		return err == nil && !reflect.DeepEqual(st, before)
	})
	// Typing with a correction: "hunter3", backspace, "2".
	if _, err := io.WriteString(master, "hunter3\x7f2\r"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || string(r.line) != "hunter2" {
		t.Fatalf("readTTYLine = %q, %v; want hunter2", r.line, r.err)
	}
	after, _ := term.GetState(int(slave.Fd()))
	if !reflect.DeepEqual(after, before) {
		t.Fatal("terminal mode not restored")
	}
	if strings.Contains(out.String(), "hunter") {
		t.Fatalf("passphrase echoed: %q", out.String())
	}
}

func TestReadTTYLineCancelled(t *testing.T) {
	_, slave, _ := openPTY(t)
	before, err := term.GetState(int(slave.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(testContext(t))
	done := make(chan lineResult, 1)
	go func() {
		l, err := readTTYLine(ctx, slave, slave, true)
		done <- lineResult{l, err}
	}()
	waitFor(t, "echo off", func() bool {
		st, err := term.GetState(int(slave.Fd()))
		return err == nil && !reflect.DeepEqual(st, before)
	})
	cancel()
	if r := <-done; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("readTTYLine = %q, %v; want context.Canceled", r.line, r.err)
	}
	after, _ := term.GetState(int(slave.Fd()))
	if !reflect.DeepEqual(after, before) {
		t.Fatal("terminal mode not restored after cancel")
	}
}

func TestReadTTYLineAnswers(t *testing.T) {
	for name, tc := range map[string]struct {
		typed  string
		secret bool
		want   string
		err    error
	}{
		"yes line":     {typed: "yes\n", want: "yes"},
		"ctrl-c":       {typed: "abc\x03", secret: true, err: ErrPromptCancelled},
		"ctrl-d empty": {typed: "\x04", secret: true, err: ErrPromptCancelled},
		"ctrl-u":       {typed: "wrong\x15right\r", secret: true, want: "right"},
	} {
		t.Run(name, func(t *testing.T) {
			master, slave, _ := openPTY(t)
			before, _ := term.GetState(int(slave.Fd()))
			done := make(chan lineResult, 1)
			go func() {
				l, err := readTTYLine(testContext(t), slave, slave, tc.secret)
				done <- lineResult{l, err}
			}()
			if tc.secret {
				waitFor(t, "echo off", func() bool {
					st, err := term.GetState(int(slave.Fd()))
					return err == nil && !reflect.DeepEqual(st, before)
				})
			}
			if _, err := io.WriteString(master, tc.typed); err != nil {
				t.Fatal(err)
			}
			r := <-done
			if tc.err != nil {
				if !errors.Is(r.err, tc.err) {
					t.Fatalf("readTTYLine = %q, %v; want %v", r.line, r.err, tc.err)
				}
				return
			}
			if r.err != nil || string(r.line) != tc.want {
				t.Fatalf("readTTYLine = %q, %v; want %q", r.line, r.err, tc.want)
			}
		})
	}
}
