//go:build unix && !linux && !darwin

package sshhost

import "os"

// applyModes is a no-op where the termios ioctls are not wired up: the
// terminal keeps the system defaults.
func applyModes(tty *os.File, modes []ttyMode) error { return nil }
