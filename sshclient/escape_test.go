package sshclient

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestEscapeReader(t *testing.T) {
	for name, tc := range map[string]struct {
		in   string
		want string
		quit bool
		help int
	}{
		"plain text passes":        {in: "ls -l\r", want: "ls -l\r"},
		"tilde mid-line passes":    {in: "a~.", want: "a~."},
		"disconnect at start":      {in: "~.", want: "", quit: true},
		"disconnect after CR":      {in: "ls\r~.rest", want: "ls\r", quit: true},
		"disconnect after LF":      {in: "ls\n~.", want: "ls\n", quit: true},
		"pasted newline-tilde-dot": {in: "echo a\necho b\n~.\n", want: "echo a\necho b\n", quit: true},
		"double tilde sends one":   {in: "~~.", want: "~."},
		"double tilde then text":   {in: "\r~~x", want: "\r~x"},
		"help":                     {in: "~?", want: "", help: 1},
		"help then disconnect":     {in: "~?~.", want: "", help: 1, quit: true},
		"unknown escape passes":    {in: "~x", want: "~x"},
		"tilde then newline":       {in: "~\r~.", want: "~\r", quit: true},
		"lone tilde at EOF":        {in: "\r~", want: "\r~"},
		"after quit nothing read":  {in: "~.abc", want: "", quit: true},
		"mid-line tilde-question":  {in: "x~?", want: "x~?"},
	} {
		t.Run(name, func(t *testing.T) {
			for _, split := range []string{"whole", "byte at a time"} {
				var src io.Reader = strings.NewReader(tc.in)
				if split != "whole" {
					src = iotest.OneByteReader(src)
				}
				quit, help := false, 0
				er := newEscapeReader(src, '~', func() { help++ }, func() { quit = true })
				got, err := io.ReadAll(er)
				if err != nil {
					t.Fatalf("%s: ReadAll: %v", split, err)
				}
				if string(got) != tc.want || quit != tc.quit || help != tc.help {
					t.Fatalf("%s: got %q quit=%v help=%d; want %q quit=%v help=%d",
						split, got, quit, help, tc.want, tc.quit, tc.help)
				}
			}
		})
	}
}

// After ~. the reader must not consume anything else from the keyboard.
func TestEscapeReaderStopsReadingAfterQuit(t *testing.T) {
	src := strings.NewReader("~.typed later")
	er := newEscapeReader(iotest.OneByteReader(src), '~', func() {}, func() {})
	if _, err := io.ReadAll(er); err != nil {
		t.Fatal(err)
	}
	if src.Len() != len("typed later") {
		t.Fatalf("%d bytes left unread, want %d", src.Len(), len("typed later"))
	}
}

func TestEscapeReaderSmallBuffer(t *testing.T) {
	er := newEscapeReader(strings.NewReader("x~y\r~~z"), '~', func() {}, func() {})
	var got []byte
	b := make([]byte, 1)
	for {
		n, err := er.Read(b)
		got = append(got, b[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != "x~y\r~z" {
		t.Fatalf("got %q", got)
	}
}
