package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	tea "charm.land/bubbletea/v2"
)

// ErrMFAClosed is returned by MFA.Code once the picker has quit (or the MFA
// was closed): no one is left to type a code.
var ErrMFAClosed = errors.New("ui: the picker is closed, no MFA code can be asked for")

// mfaCodeLen is the length of an MFA one-time code (TOTP devices and
// AWS virtual MFA).
const mfaCodeLen = 6

// MFA asks for assume-role MFA codes in a modal of the picker. Create one
// with NewMFA, pass it in Options.MFA, and hand Code (or Func) to the
// credential chain as its MFA token provider. Code may be called from any
// goroutine; requests are shown one at a time, in order.
type MFA struct {
	reqs chan *mfaRequest
	done chan struct{}
	once sync.Once
}

// mfaRequest asks for the code of one profile; reply has room for one answer.
type mfaRequest struct {
	profile string
	reply   chan mfaReply
}

type mfaReply struct {
	code string
	err  error
}

// mfaRequestMsg brings a request to the model.
type mfaRequestMsg struct{ req *mfaRequest }

// NewMFA returns an MFA prompt for one picker.
func NewMFA() *MFA {
	return &MFA{reqs: make(chan *mfaRequest), done: make(chan struct{})}
}

// Code shows the MFA modal for profile and blocks until the user submits a
// 6-digit code (returned), dismisses the modal (ErrPromptCancelled), ctx is
// done (ctx.Err()) or the picker quits (ErrMFAClosed).
func (p *MFA) Code(ctx context.Context, profile string) (string, error) {
	req := &mfaRequest{profile: profile, reply: make(chan mfaReply, 1)}
	select {
	case p.reqs <- req:
	case <-ctx.Done():
		return "", fmt.Errorf("ask for the MFA code of profile %s: %w", profile, ctx.Err())
	case <-p.done:
		return "", fmt.Errorf("ask for the MFA code of profile %s: %w", profile, ErrMFAClosed)
	}
	select {
	case r := <-req.reply:
		if r.err != nil {
			return "", fmt.Errorf("MFA code of profile %s: %w", profile, r.err)
		}
		return r.code, nil
	case <-ctx.Done():
		return "", fmt.Errorf("wait for the MFA code of profile %s: %w", profile, ctx.Err())
	case <-p.done:
		return "", fmt.Errorf("wait for the MFA code of profile %s: %w", profile, ErrMFAClosed)
	}
}

// Func returns Code without a context, the shape of an assume-role token
// provider (stscreds.AssumeRoleOptions.TokenProvider has no context); it
// still ends when the picker quits.
func (p *MFA) Func() func(profile string) (string, error) {
	return func(profile string) (string, error) { return p.Code(context.Background(), profile) }
}

// Close ends every waiting and future Code call with ErrMFAClosed. It is
// idempotent; the picker calls it when it quits.
func (p *MFA) Close() {
	p.once.Do(func() { close(p.done) })
}

// wait returns the command that delivers the next request, or nothing once
// the MFA is closed.
func (p *MFA) wait() tea.Cmd {
	if p == nil {
		return nil
	}
	return func() tea.Msg {
		select {
		case req := <-p.reqs:
			return mfaRequestMsg{req: req}
		case <-p.done:
			return nil
		}
	}
}

// showMFA puts a request on screen (over whatever screen is current).
func (m Model) showMFA(req *mfaRequest) (tea.Model, tea.Cmd) {
	m.mfaReq = req
	m.mfaErr = ""
	m.mfaInput.SetValue("")
	cmd := m.mfaInput.Focus()
	m.layout()
	return m, cmd
}

// updateMFA handles keys while the MFA modal is up: digits, editing keys,
// enter (submit a complete code) and esc (decline). Other keys do nothing.
func (m Model) updateMFA(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		switch msg.Code {
		case tea.KeyEnter:
			code := m.mfaInput.Value()
			if len(code) != mfaCodeLen {
				m.mfaErr = fmt.Sprintf("the code has %d digits", mfaCodeLen)
				return m, nil
			}
			return m.answerMFA(mfaReply{code: code})
		case tea.KeyEscape:
			return m.answerMFA(mfaReply{err: ErrPromptCancelled})
		case tea.KeyBackspace, tea.KeyDelete, tea.KeyLeft, tea.KeyRight, tea.KeyHome, tea.KeyEnd:
		default:
			if msg.Text == "" || strings.Trim(msg.Text, "0123456789") != "" {
				return m, nil
			}
		}
		m.mfaErr = ""
		var cmd tea.Cmd
		m.mfaInput, cmd = m.mfaInput.Update(msg)
		return m, cmd
	case tea.PasteMsg:
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, msg.Content)
		var cmd tea.Cmd
		m.mfaInput, cmd = m.mfaInput.Update(tea.PasteMsg{Content: digits})
		return m, cmd
	}
	var cmd tea.Cmd
	m.mfaInput, cmd = m.mfaInput.Update(msg)
	return m, cmd
}

// answerMFA replies to the request on screen and waits for the next one.
func (m Model) answerMFA(r mfaReply) (tea.Model, tea.Cmd) {
	m.mfaReq.reply <- r
	m.mfaReq = nil
	m.mfaErr = ""
	m.mfaInput.SetValue("")
	m.mfaInput.Blur()
	m.layout()
	return m, m.mfa.wait()
}

// mfaView is the body of the MFA modal.
func (m Model) mfaView() string {
	st := m.styles
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\n", st.Title.Render("MFA code needed"))
	fmt.Fprintf(&b, "Profile %s assumes a role that needs a code\nfrom its MFA device (mfa_serial).\n\n", st.Key.Render(m.mfaReq.profile))
	b.WriteString(m.mfaInput.View())
	if m.mfaErr != "" {
		fmt.Fprintf(&b, "\n%s", st.Err.Render(m.mfaErr))
	}
	box := st.Modal
	if w := m.width - 4; w > 20 {
		box = box.MaxWidth(w)
	}
	return box.Render(b.String())
}
