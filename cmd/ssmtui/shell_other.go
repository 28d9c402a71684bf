//go:build !unix

package main

import (
	"context"
	"time"

	"golang.org/x/term"
)

// watchResize polls the terminal size (no SIGWINCH here) until ctx is done
// and calls resize when it changes.
func watchResize(ctx context.Context, fd int, resize func(cols, rows int)) {
	lastW, lastH, _ := term.GetSize(fd)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w, h, err := term.GetSize(fd)
			if err != nil || (w == lastW && h == lastH) {
				continue
			}
			lastW, lastH = w, h
			resize(w, h)
		}
	}
}
