package sshclient

import (
	"errors"
	"testing"
)

type recordingChanger struct {
	sizes [][2]int
	err   error
}

func (r *recordingChanger) WindowChange(h, w int) error {
	if r.err != nil {
		return r.err
	}
	r.sizes = append(r.sizes, [2]int{w, h})
	return nil
}

func TestResizerDeduplicates(t *testing.T) {
	rc := &recordingChanger{}
	r := newResizer(rc, 80, 24)
	steps := []struct {
		w, h int
		sent bool
	}{
		{80, 24, false},  // the size the PTY was requested with
		{100, 30, true},  // grow
		{100, 30, false}, // a second SIGWINCH for the same drag
		{100, 31, true},
		{0, 0, false}, // GetSize glitch: never send 0×0
		{80, 24, true},
	}
	for i, s := range steps {
		sent, err := r.update(s.w, s.h)
		if err != nil || sent != s.sent {
			t.Fatalf("step %d update(%d, %d) = %v, %v; want %v", i, s.w, s.h, sent, err, s.sent)
		}
	}
	want := [][2]int{{100, 30}, {100, 31}, {80, 24}}
	if len(rc.sizes) != len(want) {
		t.Fatalf("sent %v, want %v", rc.sizes, want)
	}
	for i := range want {
		if rc.sizes[i] != want[i] {
			t.Fatalf("sent %v, want %v", rc.sizes, want)
		}
	}

	// A failed request is retried on the next signal with the same size.
	rc.err = errors.New("channel closed")
	if _, err := r.update(90, 20); err == nil {
		t.Fatal("update hid the error")
	}
	rc.err = nil
	if sent, _ := r.update(90, 20); !sent {
		t.Fatal("a size that failed to send was treated as sent")
	}
}
