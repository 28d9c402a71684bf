package ui

import (
	"fmt"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"
)

// TestGoldenPicker pins the picker at two widths on dark and light
// backgrounds. Update with: go test ./ui/ -run Golden -update
func TestGoldenPicker(t *testing.T) {
	for _, w := range []int{80, 120} {
		for _, dark := range []bool{true, false} {
			name := fmt.Sprintf("w%d_%s", w, map[bool]string{true: "dark", false: "light"}[dark])
			t.Run(name, func(t *testing.T) {
				m := loaded(t, w, 16)
				if !dark {
					m, _ = update(t, m, tea.BackgroundColorMsg{Color: lightBG{}})
				}
				m = selectName(t, m, "web-2")
				golden.RequireEqual(t, m.View().Content)
			})
		}
	}
}

// TestGoldenScreens pins the filter, the connect screen and both modals.
func TestGoldenScreens(t *testing.T) {
	for name, steps := range map[string]func(t *testing.T, m Model) Model{
		"filtering": func(t *testing.T, m Model) Model {
			for _, r := range "/eu-w" {
				m, _ = update(t, m, keyOf(r))
			}
			return m
		},
		"refused": func(t *testing.T, m Model) Model {
			m = selectName(t, m, "ad-controller")
			m, _ = update(t, m, enterKey)
			return m
		},
		"connecting": func(t *testing.T, m Model) Model {
			m = selectName(t, m, "web-1")
			m, _ = update(t, m, enterKey)
			m.phases = append(m.phases, "starting SSM session", "opening data channel")
			return m
		},
		"hostkey": func(t *testing.T, m Model) Model {
			m = selectName(t, m, "web-1")
			m, _ = update(t, m, enterKey)
			m.screen = screenHostKey
			m.hostKey = &hostKeyRequest{key: HostKey{InstanceID: "i-0a1b2c3d4e5f60001", Name: "web-1", Region: "eu-west-1",
				Account: "111122223333", KeyType: "ssh-ed25519", Fingerprint: "SHA256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU"}}
			return m
		},
		"passphrase": func(t *testing.T, m Model) Model {
			m = selectName(t, m, "web-1")
			m, _ = update(t, m, enterKey)
			m.screen = screenPassphrase
			m.passphrase = &passphraseRequest{prompt: "Passphrase for ~/.ssh/id_ed25519:"}
			m.passInput.Focus()
			m.passInput.SetValue("hunter2")
			return m
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := loaded(t, 80, 20)
			m = steps(t, m)
			golden.RequireEqual(t, m.View().Content)
		})
	}
}
