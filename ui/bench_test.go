package ui

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/ssmtui/ssmtui/inventory"
)

// benchFleet is n instances over 30 regions and 2 profiles.
func benchFleet(n int) []inventory.Result {
	byKey := map[string]*inventory.Result{}
	var order []string
	for i := range n {
		region := fmt.Sprintf("xx-region-%d", i%30)
		profile := []string{"prod", "dev"}[i%2]
		k := profile + "/" + region
		r, ok := byKey[k]
		if !ok {
			r = &inventory.Result{Profile: profile, Region: region, Fetched: testNow}
			byKey[k] = r
			order = append(order, k)
		}
		r.Instances = append(r.Instances, inventory.Instance{
			ID: fmt.Sprintf("i-%017x", i), Name: fmt.Sprintf("svc-%d-%s", i%500, []string{"api", "web", "db", "worker"}[i%4]),
			Profile: profile, Region: region, PingStatus: "Online", PlatformType: "Linux", PlatformName: "Amazon Linux",
			PlatformVersion: "2023", AgentVersion: "3.3.1142.0", IsLatestVersion: i%7 != 0,
			PrivateIP: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255),
		})
	}
	out := make([]inventory.Result, 0, len(order))
	for _, k := range order {
		out = append(out, *byKey[k])
	}
	return out
}

// BenchmarkLoad10k feeds 60 region results totalling 10,000 instances into
// the model: the cost of the table filling up as regions answer.
func BenchmarkLoad10k(b *testing.B) {
	res := benchFleet(10000)
	for b.Loop() {
		m := New(Options{Source: &fakeSource{}})
		m.width, m.height = 160, 50
		for _, r := range res {
			next, _ := m.Update(regionLoadedMsg{gen: m.gen, result: r, ch: closedResults()})
			m = next.(Model)
		}
	}
}

// BenchmarkFilterKeystroke10k is one keystroke in the filter over 10,000
// instances (fuzzy match over every field, sort, table refresh).
func BenchmarkFilterKeystroke10k(b *testing.B) {
	m := New(Options{Source: &fakeSource{}})
	next, _ := m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
	m = next.(Model)
	for _, r := range benchFleet(10000) {
		next, _ := m.Update(regionLoadedMsg{gen: m.gen, result: r, ch: closedResults()})
		m = next.(Model)
	}
	next, _ = m.Update(tea.KeyPressMsg{Code: '/', Text: "/"})
	m = next.(Model)
	for _, r := range "svc-4" {
		next, _ = m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
		m = next.(Model)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Alternate adding and removing a character so every iteration filters.
		k := tea.KeyPressMsg{Code: '2', Text: "2"}
		if i%2 == 1 {
			k = tea.KeyPressMsg{Code: tea.KeyBackspace}
		}
		next, _ := m.Update(k)
		m = next.(Model)
	}
}

// BenchmarkView10k renders the picker with 10,000 instances loaded.
func BenchmarkView10k(b *testing.B) {
	m := New(Options{Source: &fakeSource{}})
	next, _ := m.Update(tea.WindowSizeMsg{Width: 160, Height: 50})
	m = next.(Model)
	for _, r := range benchFleet(10000) {
		next, _ := m.Update(regionLoadedMsg{gen: m.gen, result: r, ch: closedResults()})
		m = next.(Model)
	}
	for b.Loop() {
		_ = m.View()
	}
}
