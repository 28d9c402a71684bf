package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the picker answers to. Build it with DefaultKeyMap;
// bindings that do not apply are disabled so that help stays true.
type KeyMap struct {
	Up, Down         key.Binding
	PageUp, PageDown key.Binding
	Top, Bottom      key.Binding
	Filter           key.Binding // open the fuzzy filter
	ClearFilter      key.Binding // esc: leave/clear the filter, cancel a connect
	AcceptFilter     key.Binding // enter while filtering: keep the filter, back to the table
	Connect          key.Binding // SSH over SSM
	Shell            key.Binding // plain Session Manager shell
	Doctor           key.Binding // diagnose why an instance is unreachable
	CopyID           key.Binding
	Refresh          key.Binding
	Help             key.Binding
	Quit             key.Binding
	Yes, No          key.Binding // modal answers
}

// DefaultKeyMap returns the standard bindings. It is a function, not a
// package variable, so that callers may change their copy freely.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:           key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:         key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PageUp:       key.NewBinding(key.WithKeys("pgup", "ctrl+b"), key.WithHelp("pgup", "page up")),
		PageDown:     key.NewBinding(key.WithKeys("pgdown", "ctrl+f"), key.WithHelp("pgdn", "page down")),
		Top:          key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "first")),
		Bottom:       key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "last")),
		Filter:       key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		ClearFilter:  key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
		AcceptFilter: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply filter")),
		Connect:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "ssh")),
		Shell:        key.NewBinding(key.WithKeys("s"), key.WithHelp("s", "ssm shell")),
		Doctor:       key.NewBinding(key.WithKeys("d"), key.WithHelp("d", "doctor")),
		CopyID:       key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "copy id")),
		Refresh:      key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "refresh")),
		Help:         key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Quit:         key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Yes:          key.NewBinding(key.WithKeys("y", "Y"), key.WithHelp("y", "yes")),
		No:           key.NewBinding(key.WithKeys("n", "N", "esc"), key.WithHelp("n/esc", "no")),
	}
}

// ShortHelp implements help.KeyMap: the one-line help under the table.
func (k KeyMap) ShortHelp() []key.Binding {
	move := key.NewBinding(key.WithKeys(append(k.Up.Keys(), k.Down.Keys()...)...), key.WithHelp("↑↓", "move"))
	return []key.Binding{move, k.Filter, k.Connect, k.Shell, k.Refresh, k.Help, k.Quit}
}

// FullHelp implements help.KeyMap, grouped by purpose: navigation, filter,
// actions, app.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Filter, k.ClearFilter},
		{k.Connect, k.Shell, k.Doctor, k.CopyID, k.Refresh},
		{k.Help, k.Quit},
	}
}

// filterKeys is the help shown while the filter input has focus.
type filterKeys struct{ k KeyMap }

func (f filterKeys) ShortHelp() []key.Binding {
	move := key.NewBinding(key.WithKeys("up", "down"), key.WithHelp("↑↓", "move"))
	return []key.Binding{f.k.AcceptFilter, f.k.ClearFilter, move}
}
func (f filterKeys) FullHelp() [][]key.Binding { return [][]key.Binding{f.ShortHelp()} }

// modalKeys is the help shown under a yes/no modal.
type modalKeys struct{ k KeyMap }

func (m modalKeys) ShortHelp() []key.Binding  { return []key.Binding{m.k.Yes, m.k.No} }
func (m modalKeys) FullHelp() [][]key.Binding { return [][]key.Binding{m.ShortHelp()} }

// connectKeys is the help shown while connecting or asking a passphrase.
type connectKeys struct {
	cancel key.Binding
	submit bool
}

func (c connectKeys) ShortHelp() []key.Binding {
	if c.submit {
		return []key.Binding{key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "submit")), c.cancel}
	}
	return []key.Binding{c.cancel}
}
func (c connectKeys) FullHelp() [][]key.Binding { return [][]key.Binding{c.ShortHelp()} }
