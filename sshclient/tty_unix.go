//go:build !windows

package sshclient

import (
	"fmt"
	"os"
)

// openTTY opens the controlling terminal for reading and writing.
func openTTY() (in, out *os.File, err error) {
	f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/tty to prompt: %w", err)
	}
	return f, f, nil
}
