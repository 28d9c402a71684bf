package sandbox

import (
	"context"
	"unicode/utf8"

	"github.com/ssmtui/ssmtui/session/wire"
)

// utf8Complete returns the length of the longest prefix of b that does not
// end inside an incomplete UTF-8 sequence (the real agent holds such a tail
// back until the rest arrives).
func utf8Complete(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return i
			}
			break
		}
	}
	return len(b)
}

// textChunks splits b into pieces of at most maxChunk bytes that do not cut
// a UTF-8 sequence (unless a piece would otherwise be empty).
func textChunks(b []byte, yield func([]byte) error) error {
	for len(b) > 0 {
		n := min(len(b), maxChunk)
		if n < len(b) {
			k := n
			for k > 0 && !utf8.RuneStart(b[k]) {
				k--
			}
			if k > 0 {
				n = k
			}
		}
		if err := yield(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// sendText sends terminal output as Output messages cut at UTF-8 boundaries.
func (a *agent) sendText(ctx context.Context, b []byte) error {
	return textChunks(b, func(p []byte) error { return a.st.Send(ctx, wire.PayloadOutput, p) })
}
