package sshhost

import "encoding/binary"

// ttyMode is one encoded terminal mode of a "pty-req" (RFC 4254 §8): an
// opcode and its argument.
type ttyMode struct {
	op  uint8
	arg uint32
}

// RFC 4254 §8 opcodes that are not termios flags or characters.
const (
	ttyOpEnd    = 0
	ttyOpISpeed = 128
	ttyOpOSpeed = 129
)

// parseModes decodes the encoded terminal modes of a "pty-req". Parsing
// stops at TTY_OP_END, at an opcode of 160 or more (whose argument format
// is undefined, RFC 4254 §8) or at a truncated entry, as OpenSSH does.
func parseModes(b []byte) []ttyMode {
	var modes []ttyMode
	for len(b) >= 1 {
		op := b[0]
		if op == ttyOpEnd || op >= 160 || len(b) < 5 {
			break
		}
		modes = append(modes, ttyMode{op: op, arg: binary.BigEndian.Uint32(b[1:5])})
		b = b[5:]
	}
	return modes
}
