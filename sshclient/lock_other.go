//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package sshclient

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// lockFile emulates an exclusive lock on platforms without flock(2) by
// creating path exclusively, retrying for up to 10 s. A lock left by a crashed
// process must be removed by hand; the error names the file.
func lockFile(path string) (func(), error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_ = f.Close()
			return func() { _ = os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) || time.Now().After(deadline) {
			return nil, fmt.Errorf("lock %s (remove it if no ssmtui is running): %w", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
