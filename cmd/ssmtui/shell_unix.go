//go:build unix

package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"
)

// watchResize calls resize with the terminal's new size on every SIGWINCH
// until ctx is done, skipping repeats of the same size.
func watchResize(ctx context.Context, fd int, resize func(cols, rows int)) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGWINCH)
	defer signal.Stop(ch)
	lastW, lastH, _ := term.GetSize(fd)
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch:
			w, h, err := term.GetSize(fd)
			if err != nil || (w == lastW && h == lastH) {
				continue
			}
			lastW, lastH = w, h
			resize(w, h)
		}
	}
}
