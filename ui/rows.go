package ui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/table"
	"github.com/charmbracelet/x/ansi"
	"github.com/sahilm/fuzzy"

	"github.com/ssmtui/ssmtui/inventory"
)

// Column indexes of a row's cells, in display order.
const (
	colName = iota
	colID
	colIP
	colPlatform
	colState
	colAgent
	colRegion
	colProfile
	numCols
)

// columnSpec is a column's title, width bounds and drop order: when the
// terminal is too narrow, columns with the highest drop rank go first.
type columnSpec struct {
	title    string
	min, max int
	drop     int // 0 = never dropped
}

var columnSpecs = [numCols]columnSpec{
	colName:     {"Name", 8, 40, 0},
	colID:       {"ID", 10, 20, 0},
	colIP:       {"Private IP", 9, 15, 4},
	colPlatform: {"Platform", 8, 24, 5},
	colState:    {"State", 6, 22, 0},
	colAgent:    {"Agent", 7, 12, 7},
	colRegion:   {"Region", 9, 16, 3},
	colProfile:  {"Profile", 7, 20, 6},
}

// nameComfort is the Name width kept before minor columns are dropped.
const nameComfort = 16

// platformComfort is the Platform width kept before columns are dropped.
const platformComfort = 14

// listed is an instance together with where its data came from.
type listed struct {
	inst    inventory.Instance
	cached  bool      // read from the disk cache, not yet refreshed
	fetched time.Time // when the data was fetched from AWS
}

// row is one table row before styling: plain cell text plus the flags that
// decide its style and whether it can be connected to.
type row struct {
	inst     inventory.Instance
	cells    [numCols]string
	widths   [numCols]int // display width of each cell, for layoutColumns
	offline  bool
	outdated bool
	search   []string  // the fields the fuzzy filter matches, each on its own
	key      string    // sort key: lower-case name, ID, profile
	styled   table.Row // cells as the table shows them (set by styleRow)
}

// buildRows turns instances into plain rows sorted by name (then ID, then
// profile). It is pure: now is only used for the age of cached rows.
func buildRows(in []listed, now time.Time) []*row {
	rows := make([]*row, 0, len(in))
	for _, l := range in {
		rows = append(rows, newRow(l, now))
	}
	sortRows(rows)
	return rows
}

// sortRows sorts rows by name (case-insensitive), then ID, then profile.
func sortRows(rows []*row) {
	slices.SortFunc(rows, func(a, b *row) int { return strings.Compare(a.key, b.key) })
}

// newRow builds the plain row of one instance.
func newRow(l listed, now time.Time) *row {
	i := l.inst
	r := &row{inst: i, offline: !i.Online() || (i.State != "" && i.State != "running")}
	name := i.Name
	if name == "" {
		name = i.ComputerName
	}
	if name == "" {
		name = "—"
	}
	platform := strings.TrimSpace(i.PlatformName + " " + i.PlatformVersion)
	if platform == "" {
		platform = i.PlatformType
	}
	state := i.PingStatus
	if i.State != "" && i.State != "running" {
		state = i.State
	}
	if state == "" {
		state = "unknown"
	}
	if l.cached {
		state += " · " + age(now.Sub(l.fetched))
	}
	agent := i.AgentVersion
	if agent != "" && !i.IsLatestVersion {
		r.outdated = true
		agent += " ↑"
	}
	r.cells = [numCols]string{
		colName: name, colID: i.ID, colIP: i.PrivateIP, colPlatform: platform,
		colState: state, colAgent: agent, colRegion: i.Region, colProfile: i.Profile,
	}
	for c, v := range r.cells {
		r.widths[c] = textWidth(v)
	}
	r.search = []string{name, i.ID, i.PrivateIP, i.Region, i.Profile, platform}
	r.key = strings.ToLower(name) + "\x00" + i.ID + "\x00" + i.Profile
	return r
}

// textWidth is the display width of plain text, with a fast path for ASCII.
func textWidth(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return ansi.StringWidth(s)
		}
	}
	return len(s)
}

// age formats a cache age compactly: 42s, 5m, 3h, 2d.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(int(d.Seconds()), 0))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// fieldSource adapts every searchable field of every row to fuzzy.Source;
// index i is field i%numSearch of row i/numSearch.
type fieldSource []*row

const numSearch = 6

func (s fieldSource) String(i int) string { return s[i/numSearch].search[i%numSearch] }
func (s fieldSource) Len() int            { return len(s) * numSearch }

// filterRows returns the rows matching query, best match first (ties keep
// name order); an empty query returns rows unchanged. A row matches when one
// of its fields (name, ID, IP, region, profile, platform) matches on its own,
// so letters scattered over several fields do not make a match.
func filterRows(rows []*row, query string) []*row {
	query = strings.TrimSpace(query)
	if query == "" {
		return rows
	}
	best := map[int]int{} // row index → best score
	for _, m := range fuzzy.FindFromNoSort(query, fieldSource(rows)) {
		ri := m.Index / numSearch
		if sc, ok := best[ri]; !ok || m.Score > sc {
			best[ri] = m.Score
		}
	}
	idx := make([]int, 0, len(best))
	for ri := range best {
		idx = append(idx, ri)
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Or(cmp.Compare(best[b], best[a]), cmp.Compare(a, b)) })
	out := make([]*row, 0, len(idx))
	for _, ri := range idx {
		out = append(out, rows[ri])
	}
	return out
}

// layoutColumns picks which columns to show and how wide, for a table of
// width cells. Widths come from all rows (not only the filtered ones) so the
// layout does not jump while typing. Each shown column costs 2 cells of
// padding. Name and Platform may shrink first; then columns are dropped by
// their drop rank until the rest fit; what is left grows Name and Platform
// back towards their natural width, and any slack goes to the last column
// so the header spans the width.
func layoutColumns(rows []*row, width int) []table.Column {
	var want, base [numCols]int
	for c := range numCols {
		want[c] = ansi.StringWidth(columnSpecs[c].title)
	}
	for _, r := range rows {
		for c := range numCols {
			want[c] = max(want[c], r.widths[c])
		}
	}
	var shown [numCols]bool
	for c := range numCols {
		shown[c] = true
		want[c] = min(max(want[c], columnSpecs[c].min), columnSpecs[c].max)
		base[c] = want[c]
	}
	base[colName] = min(want[colName], nameComfort)
	base[colPlatform] = min(want[colPlatform], platformComfort)
	used := func() int {
		total := 0
		for c := range numCols {
			if shown[c] {
				total += base[c] + 2
			}
		}
		return total
	}
	for rank := 7; used() > width && rank > 0; rank-- {
		for c := range numCols {
			if columnSpecs[c].drop == rank {
				shown[c] = false
			}
		}
	}
	if used() > width { // still too narrow: squeeze Name to its minimum
		base[colName] = max(columnSpecs[colName].min, base[colName]-(used()-width))
	}
	for _, c := range []int{colName, colPlatform} {
		if shown[c] {
			base[c] += max(min(want[c]-base[c], width-used()), 0)
		}
	}
	if slack := width - used(); slack > 0 {
		for c := numCols - 1; c >= 0; c-- {
			if shown[c] {
				base[c] += slack
				break
			}
		}
	}
	cols := make([]table.Column, numCols)
	for c := range numCols {
		cols[c] = table.Column{Title: columnSpecs[c].title}
		if shown[c] {
			cols[c].Width = base[c]
		}
	}
	return cols
}

// styleRow renders a row's cells for the table into r.styled: offline rows
// dimmed, outdated agents marked. Plain cells are used as they are.
func styleRow(r *row, st Styles) {
	out := make(table.Row, numCols)
	for c := range numCols {
		v := r.cells[c]
		switch {
		case v == "":
		case r.offline:
			v = st.Dim.Render(v)
		case c == colAgent && r.outdated:
			v = st.Warn.Render(v)
		}
		out[c] = v
	}
	r.styled = out
}

// connectable says whether mode can be used on inst, and if not, why.
// shell says whether the plain SSM shell (s) is available to suggest.
func connectable(inst inventory.Instance, mode Mode, shell bool) (bool, string) {
	if inst.State != "" && inst.State != "running" {
		return false, fmt.Sprintf("%s is %s: start it first", inst.ID, inst.State)
	}
	if !inst.Online() {
		status := inst.PingStatus
		if status == "" {
			status = "not reporting"
		}
		return false, fmt.Sprintf("%s is %s: its SSM agent is not answering (try `ssmtui doctor %s`)", inst.ID, status, inst.ID)
	}
	if mode == ModeSSH && strings.EqualFold(inst.PlatformType, "Windows") {
		if shell {
			return false, fmt.Sprintf("%s runs Windows: no SSH; press s for an SSM shell", inst.ID)
		}
		return false, fmt.Sprintf("%s runs Windows: no SSH (try `ssmtui shell %s`)", inst.ID, inst.ID)
	}
	return true, ""
}

func sortStrings(s []string) { slices.Sort(s) }
