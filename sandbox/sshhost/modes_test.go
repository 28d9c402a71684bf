package sshhost

import (
	"reflect"
	"testing"
)

func TestParseModes(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []byte
		want []ttyMode
	}{
		"empty":              {nil, nil},
		"end only":           {[]byte{0}, nil},
		"two then end":       {[]byte{53, 0, 0, 0, 0, 3, 0, 0, 0, 8, 0, 1, 0, 0, 0, 3}, []ttyMode{{53, 0}, {3, 8}}},
		"no end":             {[]byte{53, 0, 0, 0, 1}, []ttyMode{{53, 1}}},
		"truncated entry":    {[]byte{53, 0, 0, 0, 1, 54, 0, 0}, []ttyMode{{53, 1}}},
		"undefined opcode":   {[]byte{53, 0, 0, 0, 1, 160, 0, 0, 0, 1, 54, 0, 0, 0, 1}, []ttyMode{{53, 1}}},
		"speeds are entries": {[]byte{128, 0, 0, 0x96, 0, 129, 0, 0, 0x96, 0, 0}, []ttyMode{{128, 38400}, {129, 38400}}},
	} {
		t.Run(name, func(t *testing.T) {
			if got := parseModes(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseModes(%v) = %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}
