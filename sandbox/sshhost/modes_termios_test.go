//go:build linux || darwin

package sshhost

import (
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// The client's terminal modes reach the terminal, as with sshd; without
// modes the system defaults (echo on) stay.
func TestTerminalModes(t *testing.T) {
	key := newSigner(t)
	_, addr := startServer(t, key.PublicKey())
	c, err := dial(t, addr, ssh.PublicKeys(key))
	if err != nil {
		t.Fatal(err)
	}
	sttyA := func(modes ssh.TerminalModes) string {
		t.Helper()
		s, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if err := s.RequestPty("xterm", 24, 80, modes); err != nil {
			t.Fatal(err)
		}
		out, err := s.Output("stty -a")
		if err != nil {
			t.Fatalf("stty -a: %v", err)
		}
		return string(out)
	}
	echoOn := regexp.MustCompile(`(^|\s)echo(\s|$)`)
	echoOff := regexp.MustCompile(`(^|\s)-echo(\s|$)`)
	def := sttyA(ssh.TerminalModes{})
	if !echoOn.MatchString(def) {
		t.Errorf("default terminal has echo off:\n%s", def)
	}
	set := sttyA(ssh.TerminalModes{ssh.ECHO: 0, ssh.VERASE: 8})
	if !echoOff.MatchString(set) {
		t.Errorf("ECHO 0 not applied:\n%s", set)
	}
	if !strings.Contains(set, "erase = ^H") {
		t.Errorf("VERASE ^H not applied:\n%s", set)
	}
}
