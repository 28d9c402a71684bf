package sshclient

import "sync"

// windowChanger is the part of *ssh.Session the resize watcher needs.
type windowChanger interface {
	WindowChange(h, w int) error
}

// resizer forwards terminal sizes to the remote PTY (RFC 4254 §6.7
// window-change), skipping sizes equal to the last one sent: several SIGWINCH
// signals often arrive for one user action.
type resizer struct {
	sess windowChanger

	mu   sync.Mutex
	w, h int
}

func newResizer(sess windowChanger, w, h int) *resizer {
	return &resizer{sess: sess, w: w, h: h}
}

// update sends a window-change when w×h differs from the last size sent. It
// reports whether a request was sent.
func (r *resizer) update(w, h int) (bool, error) {
	if w <= 0 || h <= 0 {
		return false, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if w == r.w && h == r.h {
		return false, nil
	}
	if err := r.sess.WindowChange(h, w); err != nil {
		return false, err
	}
	r.w, r.h = w, h
	return true, nil
}
