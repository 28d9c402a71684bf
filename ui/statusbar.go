package ui

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/ssmtui/ssmtui/inventory"
)

// regionKey identifies one scanned (profile, region).
type regionKey struct{ profile, region string }

// regionState is the latest result for a (profile, region) and the scan
// generation that delivered it.
type regionState struct {
	result inventory.Result
	gen    int
	rows   []*row // the result's rows, built once when it arrived
}

// pending reports whether a fresher answer is still expected for this region:
// it holds cached rows or rows from a previous scan while a scan runs.
func (s regionState) pending(gen int, scanning bool) bool {
	return scanning && (s.result.FromCache || s.gen != gen)
}

// shortError names the cause of a region failure in a word or a few: the
// inventory's classification (AccessDenied, Throttled, RegionNotEnabled,
// Timeout), else the AWS error code, else the first line of the message.
func shortError(err error) string {
	var sso *inventory.SSOExpiredError
	if errors.As(err, &sso) {
		return "SSO expired: aws sso login --profile " + sso.Profile
	}
	var cred *inventory.CredentialsError
	if errors.As(err, &cred) {
		return "no credentials"
	}
	var re *inventory.RegionError
	if errors.As(err, &re) {
		switch re.Kind {
		case inventory.KindAccessDenied:
			return "AccessDenied"
		case inventory.KindThrottled:
			return "Throttled"
		case inventory.KindRegionDisabled:
			return "RegionNotEnabled"
		case inventory.KindTimeout:
			return "Timeout"
		}
	}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		return coded.ErrorCode()
	}
	msg, _, _ := strings.Cut(err.Error(), "\n")
	// "AccessDenied: not authorized …" → "AccessDenied"
	if code, _, ok := strings.Cut(msg, ":"); ok && code != "" && len(code) <= 40 && !strings.ContainsAny(code, " \t") {
		return code
	}
	return ansi.Truncate(msg, 48, "…")
}

// regionSummary renders the region line of the status bar, e.g.
// "eu-west-1 ✓ 12 · us-east-1 … · ap-south-1 ✗ AccessDenied". Labels carry
// the profile when more than one profile was scanned. When the full line
// does not fit in width it falls back to counts plus the failures.
func regionSummary(states map[regionKey]regionState, gen int, scanning bool, now time.Time, st Styles, width int) string {
	if len(states) == 0 {
		if scanning {
			return st.Subtle.Render("scanning regions…")
		}
		return st.Subtle.Render("no regions scanned")
	}
	keys := make([]regionKey, 0, len(states))
	profiles := map[string]bool{}
	for k := range states {
		keys = append(keys, k)
		profiles[k.profile] = true
	}
	slices.SortFunc(keys, func(a, b regionKey) int {
		return cmp.Or(cmp.Compare(a.profile, b.profile), cmp.Compare(a.region, b.region))
	})
	sep := st.Subtle.Render(" · ")
	var parts, failures []string
	var nOK, nPending, nFailed int
	for _, k := range keys {
		s := states[k]
		label := k.region
		switch {
		case k.region == "": // the profile itself failed (credentials)
			label = k.profile
		case len(profiles) > 1:
			label = k.profile + "/" + k.region
		}
		switch {
		case s.result.Err != nil:
			nFailed++
			why := shortError(s.result.Err)
			parts = append(parts, label+" "+st.Err.Render("✗ "+why))
			failures = append(failures, label+" "+why)
		case s.pending(gen, scanning):
			nPending++
			txt := fmt.Sprintf("… %d", len(s.result.Instances))
			if s.result.FromCache {
				txt += " (" + age(now.Sub(s.result.Fetched)) + " old)"
			}
			parts = append(parts, label+" "+st.Warn.Render(txt))
		default:
			nOK++
			txt := fmt.Sprintf("✓ %d", len(s.result.Instances))
			if s.result.FromCache {
				txt += " (" + age(now.Sub(s.result.Fetched)) + " old)"
			}
			parts = append(parts, label+" "+st.Ok.Render(txt))
		}
	}
	full := strings.Join(parts, sep)
	if ansi.StringWidth(full) <= width {
		return full
	}
	compact := []string{st.Ok.Render(fmt.Sprintf("%d ✓", nOK))}
	if nPending > 0 {
		compact = append(compact, st.Warn.Render(fmt.Sprintf("%d …", nPending)))
	}
	if nFailed > 0 {
		compact = append(compact, st.Err.Render(fmt.Sprintf("%d ✗ ", nFailed))+strings.Join(failures, ", "))
	}
	line := fmt.Sprintf("%d regions: ", len(keys)) + strings.Join(compact, sep)
	return ansi.Truncate(line, width, "…")
}
