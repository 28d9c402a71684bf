//go:build windows

package sshclient

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/term"
)

// resizePoll is how often the console size is polled: Windows has no SIGWINCH.
const resizePoll = 500 * time.Millisecond

// watchResize polls the console size of fd and forwards changes to the remote
// PTY until ctx is done. It returns when ctx is done.
func watchResize(ctx context.Context, fd int, r *resizer, log *slog.Logger) {
	t := time.NewTicker(resizePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w, h, err := term.GetSize(fd)
			if err != nil {
				continue
			}
			if _, err := r.update(w, h); err != nil {
				log.Debug("window-change failed", "err", err)
			}
		}
	}
}
