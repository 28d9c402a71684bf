//go:build unix

package sshclient

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// watchResize forwards SIGWINCH-driven size changes of the terminal fd to the
// remote PTY until ctx is done. It returns when ctx is done.
func watchResize(ctx context.Context, fd int, r *resizer, log *slog.Logger) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	defer signal.Stop(ch)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
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
