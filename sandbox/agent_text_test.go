package sandbox

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUTF8Complete(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want int
	}{
		"ascii":          {"hello", 5},
		"empty":          {"", 0},
		"full 2-byte":    {"hé", 3},
		"cut 2-byte":     {"h\xc3", 1},
		"cut 3-byte":     {"ab\xe2\x82", 2},
		"full 4-byte":    {"😀", 4},
		"cut 4-byte":     {"x\xf0\x9f\x98", 1},
		"invalid byte":   {"a\xff", 2},
		"stray trailing": {"a\x80\x80", 3},
	} {
		t.Run(name, func(t *testing.T) {
			if got := utf8Complete([]byte(tc.in)); got != tc.want {
				t.Fatalf("utf8Complete(%q) = %d, want %d", tc.in, got, tc.want)
			}
		})
	}
}

func TestTextChunks(t *testing.T) {
	in := []byte(strings.Repeat("aé😀", 700)) // 7 bytes per unit, 4900 bytes
	var out [][]byte
	_ = textChunks(in, func(p []byte) error {
		out = append(out, append([]byte(nil), p...))
		return nil
	})
	if !bytes.Equal(bytes.Join(out, nil), in) {
		t.Fatal("chunks do not reassemble the input")
	}
	for i, c := range out {
		if len(c) > maxChunk || len(c) == 0 {
			t.Fatalf("chunk %d has %d bytes", i, len(c))
		}
		if !utf8.Valid(c) {
			t.Fatalf("chunk %d cuts a UTF-8 sequence", i)
		}
	}
}
