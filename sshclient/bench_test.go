package sshclient

import (
	"bytes"
	"io"
	"testing"
)

// BenchmarkEscapeReader measures the keyboard filter on bulk input (a paste):
// it must never be the bottleneck of a shell.
func BenchmarkEscapeReader(b *testing.B) {
	chunk := bytes.Repeat([]byte("echo ~/x ~~ a\r"), 2340) // ~32 KiB, many line starts
	buf := make([]byte, 32*1024)
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		er := newEscapeReader(bytes.NewReader(chunk), '~', func() {}, func() {})
		for {
			_, err := er.Read(buf)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkExecCat streams stdin through a remote cat over loopback TCP:
// the cost of Exec's stdin forwarding and output copying on top of x/crypto.
func BenchmarkExecCat(b *testing.B) {
	srv := startServer(b)
	c := connected(b, srv)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		var out countingWriter
		if err := c.Exec(b.Context(), "cat", bytes.NewReader(payload), &out, nil); err != nil {
			b.Fatal(err)
		}
		if out.n != len(payload) {
			b.Fatalf("cat returned %d bytes, want %d", out.n, len(payload))
		}
	}
}

type countingWriter struct{ n int }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
