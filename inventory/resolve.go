package inventory

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// AmbiguousError reports a target that matches several instances; the user
// should use an instance ID or a more specific name.
type AmbiguousError struct {
	Target     string
	Rule       string // which rule matched several: "name", "name (case-insensitive)", "name prefix", "private IP", "private DNS name"
	Candidates []Instance
}

func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q matches %d instances by %s:", e.Target, len(e.Candidates), e.Rule)
	for _, c := range e.Candidates {
		fmt.Fprintf(&b, " %s (%s, %s/%s);", c.ID, c.Name, c.Profile, c.Region)
	}
	b.WriteString(" use the instance ID")
	return b.String()
}

// NotFoundError reports a target that matches no instance. Closest holds up
// to three instances with the most similar names, best first.
type NotFoundError struct {
	Target  string
	Closest []Instance
}

func (e *NotFoundError) Error() string {
	msg := fmt.Sprintf("no instance matches %q", e.Target)
	if len(e.Closest) > 0 {
		names := make([]string, len(e.Closest))
		for i, c := range e.Closest {
			names[i] = cmp.Or(c.Name, c.ID)
		}
		msg += "; did you mean " + strings.Join(names, ", ") + "?"
	} else {
		msg += "; run `ssmtui list` to see the instances"
	}
	return msg
}

// Resolve finds the instance a user means by target, trying in order:
// instance ID (i-… or mi-…), Name tag exactly, Name case-insensitively,
// private IP, private DNS name (or its first label, ip-10-0-1-23), Name
// prefix (case-insensitive). The first rule with any match decides: one match
// is returned, several give *AmbiguousError. No match gives *NotFoundError.
// The same instance seen through two profiles counts once (the first wins).
func Resolve(instances []Instance, target string) (Instance, error) {
	target = strings.TrimSpace(target)
	lower := strings.ToLower(target)
	rules := []struct {
		name  string
		match func(in *Instance) bool
	}{
		{"instance ID", func(in *Instance) bool { return strings.EqualFold(in.ID, target) }},
		{"name", func(in *Instance) bool { return in.Name == target }},
		{"name (case-insensitive)", func(in *Instance) bool { return strings.EqualFold(in.Name, target) }},
		{"private IP", func(in *Instance) bool { return in.PrivateIP == target }},
		{"private DNS name", func(in *Instance) bool {
			dns := strings.ToLower(in.PrivateDNS)
			host, _, _ := strings.Cut(dns, ".")
			return dns != "" && (dns == lower || host == lower)
		}},
		{"name prefix", func(in *Instance) bool {
			return in.Name != "" && strings.HasPrefix(strings.ToLower(in.Name), lower)
		}},
	}
	if target != "" {
		for _, r := range rules {
			var found []Instance
			for i := range instances {
				in := &instances[i]
				if r.match(in) && !slices.ContainsFunc(found, func(f Instance) bool { return f.ID == in.ID && f.Region == in.Region }) {
					found = append(found, *in)
				}
			}
			switch len(found) {
			case 0:
				continue
			case 1:
				return found[0], nil
			}
			return Instance{}, &AmbiguousError{Target: target, Rule: r.name, Candidates: found}
		}
	}
	return Instance{}, &NotFoundError{Target: target, Closest: closest(instances, lower, 3)}
}

// closest returns up to n instances whose names are within a small edit
// distance of target, best first.
func closest(instances []Instance, target string, n int) []Instance {
	type scored struct {
		in Instance
		d  int
	}
	var all []scored
	for _, in := range instances {
		if in.Name == "" {
			continue
		}
		d := editDistance(strings.ToLower(in.Name), target)
		if d <= max(2, len(target)/3) || strings.Contains(strings.ToLower(in.Name), target) && target != "" {
			all = append(all, scored{in, d})
		}
	}
	slices.SortStableFunc(all, func(a, b scored) int { return cmp.Compare(a.d, b.d) })
	out := []Instance{}
	for _, s := range all {
		if len(out) == n {
			break
		}
		if !slices.ContainsFunc(out, func(o Instance) bool { return o.ID == s.in.ID }) {
			out = append(out, s.in)
		}
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
