package sshclient

import (
	"io"

	"github.com/muesli/cancelreader"
)

// stdinReader wraps the local input so that a pump goroutine blocked in Read
// can be stopped and joined (muesli/cancelreader: epoll, kqueue, select or
// the Windows console API). Inputs it cannot watch (a regular file, where
// epoll refuses, or a plain io.Reader) are read as they are; Cancel then
// reports false and the caller must not wait for the pump if it may block.
type stdinReader struct {
	io.Reader
	cr cancelreader.CancelReader // nil when not cancelable
}

func newStdinReader(in io.Reader) *stdinReader {
	cr, err := cancelreader.NewReader(in)
	if err != nil {
		return &stdinReader{Reader: in}
	}
	return &stdinReader{Reader: cr, cr: cr}
}

// Cancel stops a pending or future Read and reports whether it could.
func (s *stdinReader) Cancel() bool {
	if s.cr == nil {
		return false
	}
	return s.cr.Cancel()
}

// Close releases the watcher; it does not close the underlying input.
func (s *stdinReader) Close() {
	if s.cr != nil {
		_ = s.cr.Close()
	}
}
