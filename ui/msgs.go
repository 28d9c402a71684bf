package ui

import (
	"github.com/ssmtui/ssmtui/inventory"
)

// regionLoadedMsg carries one (profile, region) result of scan generation
// gen; results of an older generation are dropped. ch is the scan's channel,
// re-armed while gen is current.
type regionLoadedMsg struct {
	gen    int
	result inventory.Result
	ch     <-chan inventory.Result
}

// scanDoneMsg says that scan generation gen has delivered every result.
type scanDoneMsg struct{ gen int }

// connectEventMsg carries one event of connect attempt number attempt:
// progress, a prompt, or the outcome. ch is re-armed by Update except while
// a prompt waits for the user.
type connectEventMsg struct {
	attempt int
	ev      connectEvent
	ch      <-chan connectEvent
}

// sessionEndedMsg is delivered by the tea.Exec callback when the remote
// shell has ended and the terminal is back. sess is closed by a command.
type sessionEndedMsg struct {
	inst inventory.Instance
	mode Mode
	err  error
	sess Session
}

// sessionClosedMsg reports the outcome of closing a finished session; the
// error is informational (the shell already ended).
type sessionClosedMsg struct{ err error }
