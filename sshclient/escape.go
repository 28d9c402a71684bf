package sshclient

import "io"

// escapeHelp is printed for ~? while the terminal is raw, hence \r\n.
const escapeHelp = "\r\nSupported escape sequences:\r\n" +
	"  ~.  - terminate the connection and go back\r\n" +
	"  ~?  - this message\r\n" +
	"  ~~  - send the escape character by typing it twice\r\n" +
	"(Note that escapes are only recognized immediately after a newline.)\r\n"

// escapeReader implements OpenSSH-style escape sequences (ssh(1) ESCAPE
// CHARACTERS) as an io.Reader wrapper over the local keyboard: the escape
// character is only special at the start of input or right after \r or \n;
// "~." ends the session, "~?" prints help, "~~" sends one "~", and any other
// "~x" is passed through unchanged. A pending escape character at the end of a
// read is held until the next byte arrives.
type escapeReader struct {
	r      io.Reader
	escape byte
	onHelp func()
	onQuit func()

	lineStart bool   // the next byte is at the start of a line
	pending   bool   // an escape character was seen at line start
	out       []byte // processed bytes; out[off:] not yet returned
	off       int
	scratch   []byte
	quit      bool
	err       error // sticky error from r
}

func newEscapeReader(r io.Reader, escape byte, onHelp, onQuit func()) *escapeReader {
	return &escapeReader{r: r, escape: escape, onHelp: onHelp, onQuit: onQuit, lineStart: true}
}

// Read implements io.Reader. After "~." it returns io.EOF without reading
// further, so nothing typed afterwards is consumed. An error from the
// underlying reader is returned once the bytes read before it are delivered.
func (e *escapeReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for e.off == len(e.out) {
		e.out, e.off = e.out[:0], 0 // reuse the buffer
		switch {
		case e.quit:
			return 0, io.EOF
		case e.err != nil:
			return 0, e.err
		}
		if cap(e.scratch) < len(p) {
			e.scratch = make([]byte, len(p))
		}
		n, err := e.r.Read(e.scratch[:len(p)])
		e.process(e.scratch[:n])
		if err != nil {
			if e.pending { // a lone escape character before EOF is sent as is
				e.pending = false
				e.out = append(e.out, e.escape)
			}
			e.err = err
		}
	}
	n := copy(p, e.out[e.off:])
	e.off += n
	return n, nil
}

func (e *escapeReader) process(in []byte) {
	for _, b := range in {
		if e.pending {
			e.pending = false
			switch b {
			case '.':
				e.quit = true
				e.onQuit()
				return
			case '?':
				e.onHelp()
				e.lineStart = true
				continue
			case e.escape:
				e.out = append(e.out, e.escape)
				e.lineStart = false
				continue
			default:
				e.out = append(e.out, e.escape)
			}
		} else if e.lineStart && b == e.escape {
			e.pending = true
			continue
		}
		e.out = append(e.out, b)
		e.lineStart = b == '\r' || b == '\n'
	}
}
