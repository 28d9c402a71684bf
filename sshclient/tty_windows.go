//go:build windows

package sshclient

import (
	"fmt"
	"os"
)

// openTTY opens the console input and output buffers.
func openTTY() (in, out *os.File, err error) {
	in, err = os.OpenFile("CONIN$", os.O_RDWR, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open console input to prompt: %w", err)
	}
	out, err = os.OpenFile("CONOUT$", os.O_WRONLY, 0)
	if err != nil {
		_ = in.Close()
		return nil, nil, fmt.Errorf("open console output to prompt: %w", err)
	}
	return in, out, nil
}
