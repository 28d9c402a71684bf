package ui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/table"
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"
)

// Styles is every style the picker uses, built once from the terminal's
// background by NewStyles and rebuilt on tea.BackgroundColorMsg. Components
// receive it; nothing in ui builds ad-hoc styles or hard-codes colours.
type Styles struct {
	Title    lipgloss.Style // app name in the header
	Subtle   lipgloss.Style // counts, hints, separators
	Accent   lipgloss.Style // spinner, highlighted words
	Ok       lipgloss.Style // ✓ regions, exit 0
	Warn     lipgloss.Style // pending regions, outdated agents, exit ≠ 0
	Err      lipgloss.Style // ✗ regions, connect failures
	Dim      lipgloss.Style // offline rows
	Details  lipgloss.Style // the details line of the selected instance
	Status   lipgloss.Style // the status bar
	Modal    lipgloss.Style // host-key and passphrase boxes
	Key      lipgloss.Style // fingerprints and other values to read carefully
	Table    table.Styles
	Help     help.Styles
	Input    textinput.Styles
	Selected lipgloss.Style // selected table row
}

// NewStyles returns the styles for a dark (isDark) or light background.
func NewStyles(isDark bool) Styles {
	ld := lipgloss.LightDark(isDark)
	accent := ld(lipgloss.Color("#5A56E0"), lipgloss.Color("#7D79F6"))
	subtle := ld(lipgloss.Color("#8A8A8A"), lipgloss.Color("#6C6C6C"))
	dim := ld(lipgloss.Color("#B2B2B2"), lipgloss.Color("#585858"))
	fg := ld(lipgloss.Color("#1A1A1A"), lipgloss.Color("#DDDDDD"))
	ok := ld(lipgloss.Color("#00875F"), lipgloss.Color("#5FD787"))
	warn := ld(lipgloss.Color("#AF5F00"), lipgloss.Color("#FFAF5F"))
	bad := ld(lipgloss.Color("#D70000"), lipgloss.Color("#FF5F5F"))
	selBg := ld(lipgloss.Color("#E4E2FF"), lipgloss.Color("#33306B"))

	s := Styles{
		Title:    lipgloss.NewStyle().Bold(true).Foreground(accent),
		Subtle:   lipgloss.NewStyle().Foreground(subtle),
		Accent:   lipgloss.NewStyle().Foreground(accent),
		Ok:       lipgloss.NewStyle().Foreground(ok),
		Warn:     lipgloss.NewStyle().Foreground(warn),
		Err:      lipgloss.NewStyle().Foreground(bad),
		Dim:      lipgloss.NewStyle().Foreground(dim),
		Details:  lipgloss.NewStyle().Foreground(subtle),
		Status:   lipgloss.NewStyle().Foreground(fg),
		Modal:    lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(accent).Padding(1, 2),
		Key:      lipgloss.NewStyle().Bold(true).Foreground(fg),
		Selected: lipgloss.NewStyle().Bold(true).Foreground(fg).Background(selBg),
	}
	s.Table = table.Styles{
		Header:   lipgloss.NewStyle().Bold(true).Foreground(accent).Padding(0, 1),
		Cell:     lipgloss.NewStyle().Padding(0, 1),
		Selected: s.Selected,
	}
	s.Help = help.DefaultStyles(isDark)
	s.Input = textinput.DefaultStyles(isDark)
	s.Input.Focused.Prompt = lipgloss.NewStyle().Foreground(accent)
	s.Input.Blurred.Prompt = lipgloss.NewStyle().Foreground(subtle)
	s.Input.Cursor.Blink = false // no blink timer: fewer wake-ups, stable views
	return s
}
