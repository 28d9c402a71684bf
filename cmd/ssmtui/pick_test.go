package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParsePickFlags(t *testing.T) {
	for name, tc := range map[string]struct {
		args    []string
		want    pickFlags
		code    int // exit code of a usage error, 0 for none
		help    bool
		errText string
	}{
		"none":         {args: nil},
		"lists":        {args: []string{"--profile", "a,b", "--region", "eu-west-1, us-east-1"}, want: pickFlags{profiles: "a,b", regions: []string{"eu-west-1", "us-east-1"}}},
		"all profiles": {args: []string{"--all-profiles"}, want: pickFlags{allProfiles: true}},
		"exclusive":    {args: []string{"--all-profiles", "--profile", "a"}, code: 2, errText: "exclude each other"},
		"stray arg":    {args: []string{"i-0123"}, code: 2, errText: "ssmtui connect i-0123"},
		"bad flag":     {args: []string{"--nope"}, code: 2},
		"help":         {args: []string{"-h"}, help: true},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			got, help, err := parsePickFlags(tc.args, &stderr)
			if help != tc.help {
				t.Errorf("help = %v", help)
			}
			if tc.code != 0 {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != tc.code || !strings.Contains(ee.Error(), tc.errText) {
					t.Fatalf("err = %v, want exit %d mentioning %q", err, tc.code, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.profiles != tc.want.profiles ||
				strings.Join(got.regions, ",") != strings.Join(tc.want.regions, ",") || got.allProfiles != tc.want.allProfiles {
				t.Errorf("flags = %+v, want %+v", got, tc.want)
			}
		})
	}
}
