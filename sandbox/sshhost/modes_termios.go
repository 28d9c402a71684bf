//go:build linux || darwin

package sshhost

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

type termiosField int

const (
	iflag termiosField = iota
	oflag
	lflag
	cflag
)

type termiosBit struct {
	field termiosField
	bit   uint64
}

// modeChars maps RFC 4254 §8 control-character opcodes to c_cc indices.
var modeChars = map[uint8]int{
	1: unix.VINTR, 2: unix.VQUIT, 3: unix.VERASE, 4: unix.VKILL, 5: unix.VEOF, 6: unix.VEOL,
	7: unix.VEOL2, 8: unix.VSTART, 9: unix.VSTOP, 10: unix.VSUSP, 12: unix.VREPRINT,
	13: unix.VWERASE, 14: unix.VLNEXT, 18: unix.VDISCARD,
}

// modeFlags maps RFC 4254 §8 (and RFC 8160 IUTF8) flag opcodes to termios
// bits. CS7 and CS8 are handled apart: they are values of the CSIZE field.
var modeFlags = map[uint8]termiosBit{
	30: {iflag, unix.IGNPAR}, 31: {iflag, unix.PARMRK}, 32: {iflag, unix.INPCK}, 33: {iflag, unix.ISTRIP},
	34: {iflag, unix.INLCR}, 35: {iflag, unix.IGNCR}, 36: {iflag, unix.ICRNL}, 38: {iflag, unix.IXON},
	39: {iflag, unix.IXANY}, 40: {iflag, unix.IXOFF}, 41: {iflag, unix.IMAXBEL}, 42: {iflag, unix.IUTF8},
	50: {lflag, unix.ISIG}, 51: {lflag, unix.ICANON}, 53: {lflag, unix.ECHO}, 54: {lflag, unix.ECHOE},
	55: {lflag, unix.ECHOK}, 56: {lflag, unix.ECHONL}, 57: {lflag, unix.NOFLSH}, 58: {lflag, unix.TOSTOP},
	59: {lflag, unix.IEXTEN}, 60: {lflag, unix.ECHOCTL}, 61: {lflag, unix.ECHOKE}, 62: {lflag, unix.PENDIN},
	70: {oflag, unix.OPOST}, 72: {oflag, unix.ONLCR}, 73: {oflag, unix.OCRNL}, 74: {oflag, unix.ONOCR},
	75: {oflag, unix.ONLRET}, 92: {cflag, unix.PARENB}, 93: {cflag, unix.PARODD},
}

func setBit[T ~uint32 | ~uint64](f *T, bit uint64, on bool) {
	if on {
		*f |= T(bit)
	} else {
		*f &^= T(bit)
	}
}

func setCSize[T ~uint32 | ~uint64](f *T, size uint64) {
	*f = *f&^T(unix.CSIZE) | T(size)
}

// applyModes sets the client's terminal modes on tty (the terminal side
// of a PTY) as sshd does before starting the shell. Unknown opcodes and
// speeds are ignored.
func applyModes(tty *os.File, modes []ttyMode) error {
	if len(modes) == 0 {
		return nil
	}
	sc, err := tty.SyscallConn()
	if err != nil {
		return fmt.Errorf("apply terminal modes: %w", err)
	}
	var opErr error
	err = sc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), ioctlGetTermios)
		if err != nil {
			opErr = err
			return
		}
		for _, m := range modes {
			if i, ok := modeChars[m.op]; ok {
				t.Cc[i] = uint8(m.arg)
				continue
			}
			if fb, ok := modeFlags[m.op]; ok {
				on := m.arg != 0
				switch fb.field {
				case iflag:
					setBit(&t.Iflag, fb.bit, on)
				case oflag:
					setBit(&t.Oflag, fb.bit, on)
				case lflag:
					setBit(&t.Lflag, fb.bit, on)
				case cflag:
					setBit(&t.Cflag, fb.bit, on)
				}
				continue
			}
			switch {
			case m.op == 90 && m.arg != 0:
				setCSize(&t.Cflag, unix.CS7)
			case m.op == 91 && m.arg != 0:
				setCSize(&t.Cflag, unix.CS8)
			}
		}
		opErr = unix.IoctlSetTermios(int(fd), ioctlSetTermios, t)
	})
	if err == nil {
		err = opErr
	}
	if err != nil {
		return fmt.Errorf("apply terminal modes: %w", err)
	}
	return nil
}
