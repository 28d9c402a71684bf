// Package ui is the Bubble Tea v2 picker of ssmtui: a filterable table of
// every SSM-managed instance, filled progressively as regions answer, and
// the connect flow (spinner, host-key and passphrase modals) that ends by
// handing the terminal to the remote shell with tea.Exec and coming back to
// the picker as it was. An MFA modal answers assume-role MFA prompts of the
// credential chain (MFA) whenever they come.
//
// The package talks to the rest of ssmtui through small interfaces defined
// here: Source (inventory scanning), Connector and Session (connecting and
// the shell), and Prompter (questions asked while connecting, which this
// package answers with modals).
package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/spinner"
	"charm.land/bubbles/v2/table"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/ssmtui/ssmtui/inventory"
	"github.com/ssmtui/ssmtui/sshclient"
)

// Options configures the picker.
type Options struct {
	Source    Source    // required: where instances come from
	Connector Connector // required: how Enter and s connect
	Keys      KeyMap    // zero value: DefaultKeyMap()
	Title     string    // header title; default "ssmtui"
	// EnableShell turns on s (plain Session Manager shell through the
	// Connector with ModeShell); off, the key is disabled and hidden.
	EnableShell bool
	// EnableDoctor turns on d (the Connector's ModeDoctor); off, the key is
	// disabled and hidden.
	EnableDoctor bool
	// Now is the clock used for cache ages; default time.Now. Tests pin it.
	Now func() time.Time
	// MFA, if set, is answered with a modal whenever the credential chain
	// asks for an assume-role MFA code (during a scan or a connect). The
	// picker closes it when it quits.
	MFA *MFA
}

type screen int

const (
	screenPicker screen = iota
	screenConnecting
	screenHostKey
	screenPassphrase
)

type statusKind int

const (
	statusInfo statusKind = iota
	statusOK
	statusWarn
	statusErr
)

// Model is the root model of the picker. It owns the context of the running
// scan and of the running connect attempt, and cancels them on refresh,
// cancel and quit.
type Model struct {
	src          Source
	connector    Connector
	enableShell  bool
	enableDoctor bool
	now          func() time.Time
	title        string

	keys   KeyMap
	styles Styles
	isDark bool
	width  int
	height int
	screen screen

	// inventory
	gen        int
	scanCtx    context.Context // owned: cancelled by beginLoad and quit
	scanCancel context.CancelFunc
	scanning   bool
	regions    map[regionKey]regionState
	rows       []*row // every instance, sorted by name
	visible    []*row // rows after the filter, in table order
	table      table.Model
	filter     textinput.Model
	filtering  bool
	touched    bool // the user moved the cursor: keep it on the same instance
	help       help.Model

	// connect
	attempt     int
	connCancel  context.CancelFunc // owned: cancels the running attempt
	connTarget  inventory.Instance
	connMode    Mode
	phases      []string
	spinner     spinner.Model
	hostKey     *hostKeyRequest
	passphrase  *passphraseRequest
	passInput   textinput.Model
	pendingWait tea.Cmd // re-arms the event channel once a modal is answered

	// MFA modal, shown over any screen while mfaReq is set
	mfa      *MFA
	mfaReq   *mfaRequest
	mfaInput textinput.Model
	mfaErr   string

	status     string
	statusKind statusKind
	quitting   bool
}

// New returns the picker with its first scan prepared; Init starts it.
func New(opts Options) Model {
	km := opts.Keys
	if len(km.Quit.Keys()) == 0 {
		km = DefaultKeyMap()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	title := opts.Title
	if title == "" {
		title = "ssmtui"
	}
	m := Model{
		src: opts.Source, connector: opts.Connector, enableShell: opts.EnableShell, enableDoctor: opts.EnableDoctor, now: now, title: title, mfa: opts.MFA,
		keys: km, isDark: true, width: 80, height: 24,
		regions: map[regionKey]regionState{},
		help:    help.New(),
	}
	m.table = table.New(table.WithFocused(true), table.WithKeyMap(table.KeyMap{
		LineUp: km.Up, LineDown: km.Down, PageUp: km.PageUp, PageDown: km.PageDown,
		GotoTop: km.Top, GotoBottom: km.Bottom,
	}))
	m.filter = textinput.New()
	m.filter.Prompt = "/ "
	m.filter.Placeholder = "name, id, ip, region, profile, platform"
	m.passInput = textinput.New()
	m.passInput.EchoMode = textinput.EchoPassword
	m.passInput.Prompt = "passphrase: "
	m.mfaInput = textinput.New()
	m.mfaInput.Prompt = "code: "
	m.mfaInput.Placeholder = "123456"
	m.mfaInput.CharLimit = mfaCodeLen
	m.mfaInput.SetWidth(mfaCodeLen + 1)
	m.spinner = spinner.New(spinner.WithSpinner(spinner.Dot))
	m.applyStyles()
	m.beginLoad()
	m.layout()
	return m
}

// Init starts the first scan (prepared in New), asks for the background
// colour and starts listening for MFA requests.
func (m Model) Init() tea.Cmd {
	return tea.Batch(m.scanCmd(), tea.RequestBackgroundColor, m.mfa.wait())
}

// beginLoad cancels the running scan, if any, and prepares a new generation.
func (m *Model) beginLoad() {
	if m.scanCancel != nil {
		m.scanCancel()
	}
	m.scanCtx, m.scanCancel = context.WithCancel(context.Background())
	m.gen++
	m.scanning = true
}

// scanCmd starts the scan of the current generation.
func (m Model) scanCmd() tea.Cmd {
	if m.src == nil {
		return nil
	}
	return startScan(m.scanCtx, m.src, m.gen)
}

func (m *Model) applyStyles() {
	m.styles = NewStyles(m.isDark)
	for _, s := range m.regions {
		for _, r := range s.rows {
			styleRow(r, m.styles)
		}
	}
	m.table.SetStyles(m.styles.Table)
	m.help.Styles = m.styles.Help
	m.filter.SetStyles(m.styles.Input)
	m.passInput.SetStyles(m.styles.Input)
	m.mfaInput.SetStyles(m.styles.Input)
	m.spinner.Style = m.styles.Accent
	m.refreshTable()
}

// Update implements tea.Model.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.BackgroundColorMsg:
		m.isDark = msg.IsDark()
		m.applyStyles()
		return m, nil
	case regionLoadedMsg:
		if msg.gen != m.gen {
			return m, nil // a cancelled scan; its goroutine ends on its own
		}
		m.addResult(msg.result)
		return m, waitScan(msg.ch, msg.gen)
	case scanDoneMsg:
		if msg.gen == m.gen {
			m.scanning = false
			m.dropUnreported()
		}
		return m, nil
	case connectEventMsg:
		return m.handleConnectEvent(msg)
	case sessionEndedMsg:
		m.sessionEnded(msg)
		return m, closeSession(msg.sess)
	case sessionClosedMsg:
		return m, nil
	case spinner.TickMsg:
		if m.screen == screenPicker {
			return m, nil // stop ticking outside the connect screens
		}
		var cmd tea.Cmd
		m.spinner, cmd = m.spinner.Update(msg)
		return m, cmd
	case mfaRequestMsg:
		return m.showMFA(msg.req)
	case tea.KeyPressMsg:
		if msg.String() == "ctrl+c" { // quits from every screen, even a modal
			return m.quit()
		}
	}
	if m.mfaReq != nil {
		switch msg.(type) {
		case tea.KeyPressMsg, tea.PasteMsg:
			return m.updateMFA(msg)
		}
	}

	switch m.screen {
	case screenConnecting:
		return m.updateConnecting(msg)
	case screenHostKey:
		return m.updateHostKey(msg)
	case screenPassphrase:
		return m.updatePassphrase(msg)
	default:
		return m.updatePicker(msg)
	}
}

func (m Model) quit() (tea.Model, tea.Cmd) {
	m.quitting = true
	if m.scanCancel != nil {
		m.scanCancel()
	}
	if m.connCancel != nil {
		m.connCancel()
	}
	if m.mfa != nil {
		m.mfa.Close()
	}
	return m, tea.Quit
}

// addResult stores a (profile, region) result and rebuilds the rows. A
// cached result never replaces a live one of the same generation.
func (m *Model) addResult(r inventory.Result) {
	k := regionKey{r.Profile, r.Region}
	old, had := m.regions[k]
	if had && old.gen == m.gen && !old.result.FromCache && r.FromCache {
		return
	}
	var rows []*row
	if r.Err != nil && had {
		// Keep showing what we had for this region; the status says it failed.
		r.Instances, rows = old.result.Instances, old.rows
	} else {
		rows = make([]*row, 0, len(r.Instances))
		for _, in := range r.Instances {
			row := newRow(listed{inst: in, cached: r.FromCache, fetched: r.Fetched}, m.now())
			styleRow(row, m.styles)
			rows = append(rows, row)
		}
	}
	m.regions[k] = regionState{result: r, gen: m.gen, rows: rows}
	m.rebuildRows()
}

// dropUnreported forgets, once a scan has finished, what an earlier scan
// reported and this one did not (a region no longer enabled, a profile
// error that is fixed) — except when this scan could not list the profile
// at all: then its old rows stay, as the best information there is.
func (m *Model) dropUnreported() {
	changed := false
	for k, s := range m.regions {
		if s.gen == m.gen {
			continue
		}
		if pe, ok := m.regions[regionKey{k.profile, ""}]; ok && pe.gen == m.gen && pe.result.Err != nil {
			continue
		}
		delete(m.regions, k)
		changed = true
	}
	if changed {
		m.rebuildRows()
	}
}

// rebuildRows rebuilds every row from the region results, keeping the
// selection on the same instance when it is still listed.
func (m *Model) rebuildRows() {
	n := 0
	for _, s := range m.regions {
		n += len(s.rows)
	}
	all := make([]*row, 0, n)
	for _, s := range m.regions {
		all = append(all, s.rows...)
	}
	sortRows(all)
	m.rows = all
	m.refreshTable()
}

// refreshTable re-applies the filter and the layout to the table, keeping
// the cursor on the selected instance when possible.
func (m *Model) refreshTable() {
	selID, selProfile := "", ""
	if sel, ok := m.Selected(); ok && m.touched {
		selID, selProfile = sel.ID, sel.Profile
	}
	m.visible = filterRows(m.rows, m.filter.Value())
	m.table.SetColumns(layoutColumns(m.rows, m.width))
	trs := make([]table.Row, len(m.visible))
	cursor := 0
	for i, r := range m.visible {
		trs[i] = r.styled
		if selID != "" && r.inst.ID == selID && r.inst.Profile == selProfile {
			cursor = i
		}
	}
	m.table.SetRows(trs)
	m.table.SetCursor(cursor)
	m.updateKeys()
}

// updateKeys enables only the bindings that apply, so help stays true.
func (m *Model) updateKeys() {
	has := len(m.visible) > 0
	m.keys.Connect.SetEnabled(has)
	m.keys.Shell.SetEnabled(has && m.enableShell)
	m.keys.Doctor.SetEnabled(has && m.enableDoctor)
	m.keys.CopyID.SetEnabled(has)
	m.keys.ClearFilter.SetEnabled(m.filtering || m.filter.Value() != "")
}

// Selected returns the instance under the cursor.
func (m Model) Selected() (inventory.Instance, bool) {
	c := m.table.Cursor()
	if c < 0 || c >= len(m.visible) {
		return inventory.Instance{}, false
	}
	return m.visible[c].inst, true
}

// Status returns the status-bar message (the outcome of the last session,
// why a key did nothing, …), without styling.
func (m Model) Status() string { return m.status }

// setStatus sets the status message; the layout follows, as a long
// message takes up to maxStatusLines lines.
func (m *Model) setStatus(kind statusKind, format string, args ...any) {
	m.status = fmt.Sprintf(format, args...)
	m.statusKind = kind
	m.layout()
}

// clearStatus removes the status message.
func (m *Model) clearStatus() {
	m.status = ""
	m.layout()
}

// maxStatusLines bounds how many lines a wrapped status message takes: a
// connect error names its cause and the next step, which rarely fits one.
const maxStatusLines = 3

func (m Model) updatePicker(msg tea.Msg) (tea.Model, tea.Cmd) {
	k, isKey := msg.(tea.KeyPressMsg)
	if m.filtering {
		if isKey {
			switch {
			case key.Matches(k, m.keys.ClearFilter):
				m.filtering = false
				m.filter.Blur()
				m.filter.SetValue("")
				m.refreshTable()
				m.layout()
				return m, nil
			case key.Matches(k, m.keys.AcceptFilter):
				m.filtering = false
				m.filter.Blur()
				m.updateKeys()
				m.layout()
				return m, nil
			case k.Code == tea.KeyUp || k.Code == tea.KeyDown || k.Code == tea.KeyPgUp || k.Code == tea.KeyPgDown:
				var cmd tea.Cmd
				m.table, cmd = m.table.Update(msg)
				m.touched = true
				return m, cmd
			}
		}
		before := m.filter.Value()
		var cmd tea.Cmd
		m.filter, cmd = m.filter.Update(msg)
		if m.filter.Value() != before {
			m.touched = false // the best match goes on top
			m.refreshTable()
		}
		return m, cmd
	}
	if !isKey {
		return m, nil
	}
	switch {
	case key.Matches(k, m.keys.Quit):
		return m.quit()
	case key.Matches(k, m.keys.Help):
		m.help.ShowAll = !m.help.ShowAll
		m.layout()
		return m, nil
	case key.Matches(k, m.keys.Filter):
		m.filtering = true
		cmd := m.filter.Focus()
		m.updateKeys()
		m.layout()
		return m, cmd
	case key.Matches(k, m.keys.ClearFilter):
		m.filter.SetValue("")
		m.refreshTable()
		m.layout()
		return m, nil
	case key.Matches(k, m.keys.Refresh):
		m.beginLoad()
		cmd := m.scanCmd()
		return m, cmd
	case key.Matches(k, m.keys.CopyID):
		inst, ok := m.Selected()
		if !ok {
			return m, nil
		}
		m.setStatus(statusInfo, "copied %s to the clipboard", inst.ID)
		return m, tea.SetClipboard(inst.ID)
	case key.Matches(k, m.keys.Connect):
		return m.connect(ModeSSH)
	case key.Matches(k, m.keys.Shell):
		return m.connect(ModeShell)
	case key.Matches(k, m.keys.Doctor):
		return m.connect(ModeDoctor)
	}
	var cmd tea.Cmd
	before := m.table.Cursor()
	m.table, cmd = m.table.Update(msg)
	if m.table.Cursor() != before {
		m.touched = true
	}
	return m, cmd
}

// connect starts a connect attempt to the selected instance, or explains in
// the status bar why it cannot.
func (m Model) connect(mode Mode) (tea.Model, tea.Cmd) {
	inst, ok := m.Selected()
	if !ok {
		return m, nil
	}
	if mode == ModeDoctor {
		if strings.HasPrefix(inst.ID, "mi-") {
			m.setStatus(statusWarn, "%s is a hybrid node: doctor checks EC2 instances", inst.ID)
			return m, nil
		}
	} else if ok, why := connectable(inst, mode, m.enableShell); !ok {
		if m.enableDoctor && !inst.Online() && !strings.HasPrefix(inst.ID, "mi-") {
			why += "; press d to diagnose"
		}
		m.setStatus(statusWarn, "%s", why)
		return m, nil
	}
	if m.connector == nil {
		m.setStatus(statusErr, "connecting is not available in this build")
		return m, nil
	}
	var ctx context.Context
	ctx, m.connCancel = context.WithCancel(context.Background())
	m.attempt++
	m.screen = screenConnecting
	m.connTarget, m.connMode = inst, mode
	m.phases = nil
	m.clearStatus()
	cmd := tea.Batch(startConnect(ctx, m.connector, inst, mode, m.attempt), m.spinner.Tick)
	return m, cmd
}

// handleConnectEvent applies an event of a connect attempt. Events of an
// abandoned attempt are drained until its channel closes: prompts are
// declined and a session that arrives anyway is closed.
func (m Model) handleConnectEvent(msg connectEventMsg) (tea.Model, tea.Cmd) {
	ev := msg.ev
	wait := waitConnect(msg.ch, msg.attempt)
	if msg.attempt != m.attempt || m.screen == screenPicker {
		switch {
		case ev.hostKey != nil:
			ev.hostKey.reply <- false
		case ev.passphrase != nil:
			ev.passphrase.reply <- passphraseReply{err: ErrPromptCancelled}
		case ev.done && ev.sess != nil:
			return m, tea.Batch(closeSession(ev.sess), wait)
		}
		return m, wait
	}
	switch {
	case ev.progress != "":
		m.phases = append(m.phases, ev.progress)
		return m, wait
	case ev.hostKey != nil:
		m.screen = screenHostKey
		m.hostKey = ev.hostKey
		m.pendingWait = wait
		return m, nil
	case ev.passphrase != nil:
		m.screen = screenPassphrase
		m.passphrase = ev.passphrase
		m.pendingWait = wait
		m.passInput.SetValue("")
		cmd := m.passInput.Focus()
		return m, cmd
	case ev.done:
		m.screen = screenPicker
		m.connCancel = nil
		if ev.err != nil {
			m.setStatus(statusErr, "%s: %v", label(m.connTarget), ev.err)
			return m, nil
		}
		inst, mode, sess := m.connTarget, m.connMode, ev.sess
		m.setStatus(statusInfo, "%s: session open", label(inst))
		return m, tea.Exec(sess, func(err error) tea.Msg {
			return sessionEndedMsg{inst: inst, mode: mode, err: err, sess: sess}
		})
	}
	return m, wait
}

// label names an instance for the status bar: "web-1 (i-0abc…)".
func label(i inventory.Instance) string {
	if i.Name == "" {
		return i.ID
	}
	return i.Name + " (" + i.ID + ")"
}

// sessionEnded puts the outcome of a finished shell in the status bar.
func (m *Model) sessionEnded(msg sessionEndedMsg) {
	who := label(msg.inst)
	var ee *sshclient.ExitError
	switch {
	case msg.mode == ModeDoctor && msg.err == nil:
		m.setStatus(statusInfo, "%s: doctor done", who)
	case msg.err == nil:
		m.setStatus(statusOK, "%s: exit 0", who)
	case errors.Is(msg.err, sshclient.ErrDisconnected):
		m.setStatus(statusInfo, "%s: disconnected (~.)", who)
	case errors.As(msg.err, &ee) && ee.Signal != "":
		m.setStatus(statusWarn, "%s: killed by SIG%s (exit %d)", who, ee.Signal, ee.Code)
	case errors.As(msg.err, &ee):
		m.setStatus(statusWarn, "%s: exit %d", who, ee.Code)
	default:
		m.setStatus(statusErr, "%s: %v", who, msg.err)
	}
}

func (m Model) updateConnecting(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && (k.Code == tea.KeyEscape || key.Matches(k, m.keys.Quit)) {
		m.cancelConnect("cancelled")
	}
	return m, nil
}

// cancelConnect abandons the running attempt and returns to the picker.
func (m *Model) cancelConnect(why string) {
	if m.connCancel != nil {
		m.connCancel()
		m.connCancel = nil
	}
	m.screen = screenPicker
	m.hostKey, m.passphrase, m.pendingWait = nil, nil, nil
	m.passInput.Blur()
	m.setStatus(statusWarn, "%s: connect %s", label(m.connTarget), why)
}

func (m Model) updateHostKey(msg tea.Msg) (tea.Model, tea.Cmd) {
	k, ok := msg.(tea.KeyPressMsg)
	if !ok || m.hostKey == nil {
		return m, nil
	}
	var answer bool
	switch {
	case key.Matches(k, m.keys.Yes):
		answer = true
	case key.Matches(k, m.keys.No):
		answer = false
	default:
		return m, nil
	}
	m.hostKey.reply <- answer
	m.hostKey = nil
	m.screen = screenConnecting
	if answer {
		m.phases = append(m.phases, "host key trusted")
	} else {
		m.phases = append(m.phases, "host key rejected")
	}
	cmd := m.pendingWait
	m.pendingWait = nil
	return m, cmd
}

func (m Model) updatePassphrase(msg tea.Msg) (tea.Model, tea.Cmd) {
	if m.passphrase == nil {
		return m, nil
	}
	if k, ok := msg.(tea.KeyPressMsg); ok {
		var reply *passphraseReply
		switch k.Code {
		case tea.KeyEnter:
			reply = &passphraseReply{secret: []byte(m.passInput.Value())}
		case tea.KeyEscape:
			reply = &passphraseReply{err: ErrPromptCancelled}
		}
		if reply != nil {
			m.passphrase.reply <- *reply
			m.passphrase = nil
			m.passInput.SetValue("")
			m.passInput.Blur()
			m.screen = screenConnecting
			cmd := m.pendingWait
			m.pendingWait = nil
			return m, cmd
		}
	}
	var cmd tea.Cmd
	m.passInput, cmd = m.passInput.Update(msg)
	return m, cmd
}

// Layout ------------------------------------------------------------------

// layout sizes the table to what the header and footer leave.
func (m *Model) layout() {
	m.help.SetWidth(m.width)
	m.filter.SetWidth(max(min(m.width-40, 40), 8))
	m.table.SetWidth(m.width)
	m.table.SetColumns(layoutColumns(m.rows, m.width))
	h := m.height - lipgloss.Height(m.headerView()) - lipgloss.Height(m.footerView())
	m.table.SetHeight(max(h, 2))
}

func (m Model) headerView() string {
	st := m.styles
	left := st.Title.Render(m.title)
	count := fmt.Sprintf("%d instances", len(m.rows))
	if m.filter.Value() != "" {
		count = fmt.Sprintf("%d/%d instances", len(m.visible), len(m.rows))
	}
	parts := []string{left, st.Subtle.Render(count)}
	if m.scanning {
		parts = append(parts, st.Warn.Render("scanning…"))
	}
	line := strings.Join(parts, st.Subtle.Render(" · "))
	if m.filtering || m.filter.Value() != "" {
		line += "  " + m.filter.View()
	}
	return ansi.Truncate(line, m.width, "…")
}

func (m Model) detailsView() string {
	inst, ok := m.Selected()
	if !ok {
		if len(m.rows) == 0 && m.scanning {
			return m.styles.Subtle.Render("waiting for the first region…")
		}
		if len(m.rows) > 0 {
			return m.styles.Subtle.Render("no instance matches the filter")
		}
		return m.styles.Subtle.Render("no instances")
	}
	var parts []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	add(st(m.styles.Key, inst.Name))
	add(inst.PrivateIP)
	add(inst.PlatformName + " " + inst.PlatformVersion)
	if inst.AgentVersion != "" {
		add("agent " + inst.AgentVersion)
	}
	add(inst.InstanceType)
	add(inst.VPCID)
	add(inst.AvailabilityZone)
	if !inst.LaunchTime.IsZero() {
		add("launched " + inst.LaunchTime.UTC().Format("2006-01-02"))
	}
	add(inst.Account)
	add(inst.Profile)
	for _, t := range sortedTags(inst.Tags) {
		add(t)
	}
	if len(parts) == 0 {
		add(inst.ID)
	}
	return ansi.Truncate(m.styles.Details.Render(strings.Join(parts, " · ")), m.width, "…")
}

// st renders s with style unless s is empty.
func st(style lipgloss.Style, s string) string {
	if s == "" {
		return ""
	}
	return style.Render(s)
}

// sortedTags renders tags as k=v sorted by key, without Name (already shown).
func sortedTags(tags map[string]string) []string {
	out := make([]string, 0, len(tags))
	for k, v := range tags {
		if k == "Name" {
			continue
		}
		out = append(out, k+"="+v)
	}
	sortStrings(out)
	return out
}

// statusView is two lines: the message (the outcome of the last session,
// why a key did nothing; blank when none, so the layout never jumps) and
// the region summary.
func (m Model) statusView() string {
	st := m.styles
	line := regionSummary(m.regions, m.gen, m.scanning, m.now(), st, m.width)
	style := st.Status
	switch m.statusKind {
	case statusOK:
		style = st.Ok
	case statusWarn:
		style = st.Warn
	case statusErr:
		style = st.Err
	}
	var msg []string
	if m.status != "" {
		lines := strings.Split(ansi.Wrap(m.status, max(m.width, 1), " "), "\n")
		if len(lines) > maxStatusLines {
			lines = lines[:maxStatusLines]
			lines[maxStatusLines-1] = ansi.Truncate(lines[maxStatusLines-1]+" …", m.width, "…")
		}
		for _, l := range lines {
			msg = append(msg, style.Render(l))
		}
	}
	return strings.Join(msg, "\n") + "\n" + line
}

func (m Model) footerView() string {
	var keys help.KeyMap = m.keys
	if m.filtering {
		keys = filterKeys{m.keys}
	}
	cancel := key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel"))
	switch {
	case m.mfaReq != nil:
		keys = connectKeys{cancel: cancel, submit: true}
	case m.screen == screenHostKey:
		keys = modalKeys{m.keys}
	case m.screen == screenConnecting:
		keys = connectKeys{cancel: cancel}
	case m.screen == screenPassphrase:
		keys = connectKeys{cancel: cancel, submit: true}
	}
	return m.detailsView() + "\n" + m.statusView() + "\n" + m.help.View(keys)
}

// View implements tea.Model.
func (m Model) View() tea.View {
	var body string
	h := m.table.Height() + 1 // the table's header line
	switch {
	case m.mfaReq != nil:
		body = lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, m.mfaView())
	case m.screen == screenConnecting, m.screen == screenHostKey, m.screen == screenPassphrase:
		body = lipgloss.Place(m.width, h, lipgloss.Center, lipgloss.Center, m.modalView())
	default:
		body = m.table.View()
	}
	content := m.headerView() + "\n" + body + "\n" + m.footerView()
	if m.quitting {
		content = ""
	}
	v := tea.NewView(clip(content, m.width, m.height))
	v.AltScreen = true
	v.WindowTitle = m.title
	return v
}

// clip cuts every line to width and the whole to height, so that a layout
// that cannot fit never scrolls the screen.
func clip(s string, width, height int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > height && height > 0 {
		lines = lines[:height]
	}
	for i, l := range lines {
		if ansi.StringWidth(l) > width {
			lines[i] = ansi.Truncate(l, width, "")
		}
	}
	return strings.Join(lines, "\n")
}

func (m Model) modalView() string {
	st := m.styles
	target := st.Key.Render(label(m.connTarget))
	var b strings.Builder
	switch m.screen {
	case screenHostKey:
		k := m.hostKey.key
		fmt.Fprintf(&b, "%s\n\n", st.Title.Render("Unknown host key"))
		fmt.Fprintf(&b, "%s has not been seen before.\n", target)
		where := strings.Join(nonEmpty(k.Region, k.Account), " · ")
		if where != "" {
			fmt.Fprintf(&b, "%s\n", st.Subtle.Render(where))
		}
		fmt.Fprintf(&b, "\n%s %s\n\n", k.KeyType, st.Key.Render(k.Fingerprint))
		fmt.Fprintf(&b, "Trust it and remember it? %s", st.Accent.Render("[y/n]"))
	case screenPassphrase:
		fmt.Fprintf(&b, "%s\n\n", st.Title.Render("Passphrase needed"))
		fmt.Fprintf(&b, "%s\n\n%s", m.passphrase.prompt, m.passInput.View())
	default:
		fmt.Fprintf(&b, "%s Connecting to %s %s\n\n", m.spinner.View(), target, st.Subtle.Render("("+m.connMode.String()+")"))
		phases := m.phases
		if len(phases) > 6 {
			phases = phases[len(phases)-6:]
		}
		for i, p := range phases {
			mark := st.Ok.Render("✓")
			if i == len(phases)-1 {
				mark = st.Accent.Render("›")
			}
			fmt.Fprintf(&b, "%s %s\n", mark, p)
		}
	}
	box := st.Modal
	if w := m.width - 4; w > 20 {
		box = box.MaxWidth(w)
	}
	return box.Render(strings.TrimRight(b.String(), "\n"))
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
