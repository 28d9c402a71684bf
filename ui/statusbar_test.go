package ui

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/ssmtui/ssmtui/inventory"
)

type codedErr struct{ code string }

func (e codedErr) Error() string     { return "api error " + e.code + ": something long" }
func (e codedErr) ErrorCode() string { return e.code }

func TestShortError(t *testing.T) {
	for name, tc := range map[string]struct {
		err  error
		want string
	}{
		"classified access denied": {
			err:  &inventory.RegionError{Profile: "p", Region: "r", Op: "ssm:DescribeInstanceInformation", Kind: inventory.KindAccessDenied, Err: codedErr{"AccessDeniedException"}},
			want: "AccessDenied",
		},
		"classified throttling": {
			err:  fmt.Errorf("scan: %w", &inventory.RegionError{Kind: inventory.KindThrottled, Err: codedErr{"ThrottlingException"}}),
			want: "Throttled",
		},
		"aws error code through wrapping": {
			err:  &inventory.RegionError{Profile: "p", Region: "r", Kind: inventory.KindOther, Err: codedErr{"InternalServerError"}},
			want: "InternalServerError",
		},
		"sso expired names the fix": {
			err:  &inventory.SSOExpiredError{Profile: "dev", Err: errors.New("token expired")},
			want: "SSO expired: aws sso login --profile dev",
		},
		"credentials": {
			err:  &inventory.CredentialsError{Profile: "dev", Err: errors.New("boom")},
			want: "no credentials",
		},
		"code prefix":   {err: errors.New("AccessDenied: nope"), want: "AccessDenied"},
		"plain message": {err: errors.New("connection refused by peer"), want: "connection refused by peer"},
		"long message truncated": {
			err:  errors.New("the quick brown fox jumps over the lazy dog and keeps running far away"),
			want: "the quick brown fox jumps over the lazy dog and…",
		},
	} {
		t.Run(name, func(t *testing.T) {
			if got := shortError(tc.err); got != tc.want {
				t.Errorf("shortError = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRegionSummary(t *testing.T) {
	st := NewStyles(true)
	ok := func(p, r string, n int, gen int) (regionKey, regionState) {
		return regionKey{p, r}, regionState{gen: gen, result: inventory.Result{Profile: p, Region: r, Instances: make([]inventory.Instance, n)}}
	}
	cached := func(p, r string, n int, age time.Duration) (regionKey, regionState) {
		return regionKey{p, r}, regionState{gen: 1, result: inventory.Result{Profile: p, Region: r, FromCache: true,
			Fetched: testNow.Add(-age), Instances: make([]inventory.Instance, n)}}
	}
	failed := func(p, r string, err error) (regionKey, regionState) {
		return regionKey{p, r}, regionState{gen: 1, result: inventory.Result{Profile: p, Region: r, Err: err}}
	}
	build := func(entries ...func() (regionKey, regionState)) map[regionKey]regionState {
		out := map[regionKey]regionState{}
		for _, e := range entries {
			k, s := e()
			out[k] = s
		}
		return out
	}
	e := func(k regionKey, s regionState) func() (regionKey, regionState) {
		return func() (regionKey, regionState) { return k, s }
	}
	for name, tc := range map[string]struct {
		states   map[regionKey]regionState
		scanning bool
		width    int
		want     string
	}{
		"nothing yet": {states: nil, scanning: true, width: 80, want: "scanning regions…"},
		"one profile mixed": {
			states: build(e(ok("p", "eu-west-1", 12, 1)), e(cached("p", "us-east-1", 3, 5*time.Minute)),
				e(failed("p", "ap-south-1", errors.New("AccessDenied: no")))),
			scanning: true, width: 120,
			want: "ap-south-1 ✗ AccessDenied · eu-west-1 ✓ 12 · us-east-1 … 3 (5m old)",
		},
		"previous generation is pending during a refresh": {
			states:   build(e(ok("p", "eu-west-1", 2, 0))),
			scanning: true, width: 80,
			want: "eu-west-1 … 2",
		},
		"cache that was never refreshed shows its age once done": {
			states: build(e(cached("p", "eu-west-1", 2, 3*time.Hour))),
			width:  80,
			want:   "eu-west-1 ✓ 2 (3h old)",
		},
		"two profiles label with profile": {
			states: build(e(ok("a", "eu-west-1", 1, 1)), e(ok("b", "eu-west-1", 2, 1))),
			width:  80,
			want:   "a/eu-west-1 ✓ 1 · b/eu-west-1 ✓ 2",
		},
		"profile failure has no region": {
			states: build(e(failed("dev", "", &inventory.SSOExpiredError{Profile: "dev"})), e(ok("prod", "eu-west-1", 1, 1))),
			width:  100,
			want:   "dev ✗ SSO expired: aws sso login --profile dev · prod/eu-west-1 ✓ 1",
		},
		"too narrow falls back to counts and failures": {
			states: func() map[regionKey]regionState {
				m := map[regionKey]regionState{}
				for i := range 10 {
					k, s := ok("p", fmt.Sprintf("xx-region-%d", i), i, 1)
					m[k] = s
				}
				k, s := failed("p", "ap-south-1", errors.New("AccessDenied: no"))
				m[k] = s
				return m
			}(),
			width: 60,
			want:  "11 regions: 10 ✓ · 1 ✗ ap-south-1 AccessDenied",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := ansi.Strip(regionSummary(tc.states, 1, tc.scanning, testNow, st, tc.width))
			if got != tc.want {
				t.Errorf("summary\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}
