package ui

import (
	"strings"
	"testing"
	"time"

	"github.com/ssmtui/ssmtui/inventory"
)

func TestBuildRows(t *testing.T) {
	online := inventory.Instance{ID: "i-1", Name: "web", PingStatus: "Online", State: "running",
		AgentVersion: "3.3.0", IsLatestVersion: true, PlatformName: "Amazon Linux", PlatformVersion: "2023",
		PrivateIP: "10.0.0.1", Region: "eu-west-1", Profile: "prod"}
	for name, tc := range map[string]struct {
		in       listed
		want     [numCols]string
		offline  bool
		outdated bool
	}{
		"online live": {
			in:   listed{inst: online},
			want: [numCols]string{"web", "i-1", "10.0.0.1", "Amazon Linux 2023", "Online", "3.3.0", "eu-west-1", "prod"},
		},
		"cached shows age": {
			in:   listed{inst: online, cached: true, fetched: testNow.Add(-5 * time.Minute)},
			want: [numCols]string{"web", "i-1", "10.0.0.1", "Amazon Linux 2023", "Online · 5m", "3.3.0", "eu-west-1", "prod"},
		},
		"stopped shows state and is offline": {
			in: listed{inst: func() inventory.Instance {
				i := online
				i.State, i.PingStatus = "stopped", "ConnectionLost"
				return i
			}()},
			want:    [numCols]string{"web", "i-1", "10.0.0.1", "Amazon Linux 2023", "stopped", "3.3.0", "eu-west-1", "prod"},
			offline: true,
		},
		"connection lost is offline": {
			in: listed{inst: func() inventory.Instance {
				i := online
				i.PingStatus = "ConnectionLost"
				return i
			}()},
			want:    [numCols]string{"web", "i-1", "10.0.0.1", "Amazon Linux 2023", "ConnectionLost", "3.3.0", "eu-west-1", "prod"},
			offline: true,
		},
		"outdated agent marked": {
			in: listed{inst: func() inventory.Instance {
				i := online
				i.IsLatestVersion = false
				return i
			}()},
			want:     [numCols]string{"web", "i-1", "10.0.0.1", "Amazon Linux 2023", "Online", "3.3.0 ↑", "eu-west-1", "prod"},
			outdated: true,
		},
		"managed node falls back to computer name and platform type": {
			in: listed{inst: inventory.Instance{ID: "mi-1", ComputerName: "rack4.local", PingStatus: "Online",
				PlatformType: "Linux", Region: "us-east-1"}},
			want: [numCols]string{"rack4.local", "mi-1", "", "Linux", "Online", "", "us-east-1", ""},
		},
	} {
		t.Run(name, func(t *testing.T) {
			rows := buildRows([]listed{tc.in}, testNow)
			if len(rows) != 1 {
				t.Fatalf("got %d rows", len(rows))
			}
			r := rows[0]
			if r.cells != tc.want {
				t.Errorf("cells = %q\nwant    %q", r.cells, tc.want)
			}
			if r.offline != tc.offline || r.outdated != tc.outdated {
				t.Errorf("offline, outdated = %v, %v; want %v, %v", r.offline, r.outdated, tc.offline, tc.outdated)
			}
		})
	}
}

func TestBuildRowsSortsByNameCaseInsensitive(t *testing.T) {
	in := []listed{
		{inst: inventory.Instance{ID: "i-3", Name: "web"}},
		{inst: inventory.Instance{ID: "i-2", Name: "Bastion"}},
		{inst: inventory.Instance{ID: "i-1", Name: "web"}},
		{inst: inventory.Instance{ID: "i-4", Name: "api"}},
	}
	var got []string
	for _, r := range buildRows(in, testNow) {
		got = append(got, r.inst.ID)
	}
	if want := "i-4 i-2 i-1 i-3"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}

func TestFilterRows(t *testing.T) {
	var in []listed
	for _, r := range fixture() {
		for _, i := range r.Instances {
			in = append(in, listed{inst: i})
		}
	}
	rows := buildRows(in, testNow)
	for name, tc := range map[string]struct {
		query string
		first string // ID of the best match
		n     int
	}{
		"empty keeps all":   {query: "", first: "i-0f00000000000aaaa", n: 6},
		"by name":           {query: "db-prim", first: "i-0a1b2c3d4e5f60003", n: 1},
		"by ip":             {query: "192.168.4", first: "mi-0123456789abcdef0", n: 1},
		"by profile":        {query: "staging", first: "mi-0123456789abcdef0", n: 1},
		"fuzzy by platform": {query: "wndws", first: "i-0f00000000000aaaa", n: 1},
		"by region":         {query: "us-east-1", first: "", n: 2},
		"no match":          {query: "zzzzzz", n: 0},
	} {
		t.Run(name, func(t *testing.T) {
			got := filterRows(rows, tc.query)
			if len(got) != tc.n {
				var ids []string
				for _, r := range got {
					ids = append(ids, r.inst.ID)
				}
				t.Fatalf("%q matched %d rows %v, want %d", tc.query, len(got), ids, tc.n)
			}
			if tc.first != "" && got[0].inst.ID != tc.first {
				t.Errorf("best match %s, want %s", got[0].inst.ID, tc.first)
			}
		})
	}
}

func TestLayoutColumns(t *testing.T) {
	var in []listed
	for _, r := range fixture() {
		for _, i := range r.Instances {
			in = append(in, listed{inst: i})
		}
	}
	rows := buildRows(in, testNow)
	for name, tc := range map[string]struct {
		width  int
		hidden []int
	}{
		"wide shows all":          {width: 200},
		"120 shows all":           {width: 120},
		"100 drops agent profile": {width: 100, hidden: []int{colAgent, colProfile}},
		"80 keeps the essentials": {width: 80, hidden: []int{colAgent, colProfile, colPlatform}},
		"60 keeps name id state":  {width: 60, hidden: []int{colAgent, colProfile, colPlatform, colIP, colRegion}},
	} {
		t.Run(name, func(t *testing.T) {
			cols := layoutColumns(rows, tc.width)
			total := 0
			hidden := map[int]bool{}
			for _, h := range tc.hidden {
				hidden[h] = true
			}
			for c, col := range cols {
				if (col.Width == 0) != hidden[c] {
					t.Errorf("column %s width %d, hidden want %v", col.Title, col.Width, hidden[c])
				}
				if col.Width > 0 {
					total += col.Width + 2
				}
			}
			if total != tc.width {
				t.Errorf("columns use %d cells, want exactly %d", total, tc.width)
			}
		})
	}
}

func TestConnectable(t *testing.T) {
	linux := inventory.Instance{ID: "i-1", PingStatus: "Online", State: "running", PlatformType: "Linux"}
	win := linux
	win.PlatformType = "Windows"
	lost := linux
	lost.PingStatus = "ConnectionLost"
	stopped := linux
	stopped.State = "stopped"
	for name, tc := range map[string]struct {
		inst inventory.Instance
		mode Mode
		ok   bool
		why  string
	}{
		"linux ssh":         {inst: linux, mode: ModeSSH, ok: true},
		"windows ssh":       {inst: win, mode: ModeSSH, why: "Windows"},
		"windows ssm shell": {inst: win, mode: ModeShell, ok: true},
		"connection lost":   {inst: lost, mode: ModeShell, why: "ConnectionLost"},
		"stopped":           {inst: stopped, mode: ModeSSH, why: "stopped"},
	} {
		t.Run(name, func(t *testing.T) {
			ok, why := connectable(tc.inst, tc.mode, true)
			if ok != tc.ok || !strings.Contains(why, tc.why) {
				t.Errorf("connectable = %v, %q; want %v, containing %q", ok, why, tc.ok, tc.why)
			}
		})
	}
}
