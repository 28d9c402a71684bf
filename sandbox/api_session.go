package sandbox

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Session Manager documents the sandbox knows (ssm-protocol.md §1.3).
const (
	docShell           = "SSM-SessionManagerRunShell"
	docSSH             = "AWS-StartSSHSession"
	docPortForward     = "AWS-StartPortForwardingSession"
	docPortForwardHost = "AWS-StartPortForwardingSessionToRemoteHost"
	docInteractive     = "AWS-StartInteractiveCommand"
	docNonInteractive  = "AWS-StartNonInteractiveCommand"
)

// Session types of the documents (the agent plugin that serves them).
const (
	typeStandardStream = "Standard_Stream"
	typePort           = "Port"
	typeInteractive    = "InteractiveCommands"
	typeNonInteractive = "NonInteractiveCommands"
)

// docSpec describes one managed document: its session type and parameters
// with defaults ("" = no default; required if listed in required).
type docSpec struct {
	sessionType string
	params      map[string]string
	required    []string
}

var documents = map[string]docSpec{
	docShell:           {sessionType: typeStandardStream},
	docSSH:             {sessionType: typePort, params: map[string]string{"portNumber": "22"}},
	docPortForward:     {sessionType: typePort, params: map[string]string{"portNumber": "80", "localPortNumber": "0"}},
	docPortForwardHost: {sessionType: typePort, params: map[string]string{"host": "", "portNumber": "80", "localPortNumber": "0"}, required: []string{"host"}},
	docInteractive:     {sessionType: typeInteractive, params: map[string]string{"command": ""}, required: []string{"command"}},
	docNonInteractive:  {sessionType: typeNonInteractive, params: map[string]string{"command": ""}, required: []string{"command"}},
}

var (
	docNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_\-.:/]{3,128}$`)
	targetPattern  = regexp.MustCompile(`^(i|mi)-[0-9a-f]{8,17}$`)
)

type startSessionInput struct {
	Target       string
	DocumentName string
	Reason       string
	Parameters   map[string][]string
}

type sessionIDInput struct {
	SessionId string
}

type sessionTokenOutput struct {
	SessionId  string
	TokenValue string
	StreamUrl  string
}

type describeSessionsInput struct {
	State      string
	MaxResults *int
	NextToken  string
	Filters    []struct {
		Key   string `json:"key"`
		Value string `json:"value"`
	}
}

type sessionOut struct {
	SessionId          string
	Target             string
	Status             string
	StartDate          float64
	EndDate            *float64 `json:",omitempty"`
	DocumentName       string
	Owner              string
	Reason             string `json:",omitempty"`
	MaxSessionDuration string
	AccessType         string
}

func (a *apiServer) registerSessionAPI() {
	a.json["AmazonSSM.StartSession"] = a.startSession
	a.json["AmazonSSM.ResumeSession"] = a.resumeSession
	a.json["AmazonSSM.TerminateSession"] = a.terminateSession
	a.json["AmazonSSM.DescribeSessions"] = a.describeSessions
}

func validationErr(format string, args ...any) *APIError {
	return apiErr("ValidationException", "1 validation error detected: "+format, args...)
}

func (a *apiServer) startSession(r *APIRequest) (any, error) {
	var in startSessionInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if in.Target == "" || len(in.Target) > 400 {
		return nil, validationErr("Value '%s' at 'target' failed to satisfy constraint: Member must have length between 1 and 400", in.Target)
	}
	if in.Reason != "" && len(in.Reason) > 256 {
		return nil, validationErr("Value at 'reason' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	if in.DocumentName == "" {
		in.DocumentName = docShell
	}
	if !docNamePattern.MatchString(in.DocumentName) {
		return nil, validationErr("Value '%s' at 'documentName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_\\-.:/]{3,128}$", in.DocumentName)
	}
	spec, ok := documents[in.DocumentName]
	if !ok {
		return nil, apiErr("InvalidDocument", "Document %s does not exist in your account or you do not have access to it.", in.DocumentName)
	}
	params, err := resolveParams(in.DocumentName, spec, in.Parameters)
	if err != nil {
		return nil, err
	}
	if !targetPattern.MatchString(in.Target) {
		return nil, apiErr("InvalidInstanceId", "Instance Id %s is not a valid instance or managed node ID.", in.Target)
	}
	inst, ok := r.Account.Instance(r.Region, in.Target)
	if !ok || !inst.Online() {
		// The real service answers the same for unknown and offline targets.
		return nil, apiErr("TargetNotConnected", "%s is not connected.", in.Target)
	}
	s := a.sb.gw.newSession(r, inst, in.DocumentName, spec.sessionType, params, in.Reason)
	tok := s.mintClientToken()
	if err := a.sb.gw.launchAgent(r.HTTP.Context(), s); err != nil {
		return nil, err
	}
	return sessionTokenOutput{SessionId: s.id, TokenValue: tok, StreamUrl: a.sb.gw.streamURL(r, s)}, nil
}

// resolveParams validates StartSession parameters against the document and
// fills in defaults. Every value is a single-element list.
func resolveParams(doc string, spec docSpec, in map[string][]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range in {
		if _, ok := spec.params[k]; !ok {
			return nil, apiErr("InvalidParameters", "Parameter %q is not defined in document %s.", k, doc)
		}
		if len(v) != 1 || v[0] == "" || len(v[0]) > 65535 {
			return nil, apiErr("InvalidParameters", "Parameter %q of document %s needs exactly one non-empty value.", k, doc)
		}
		out[k] = v[0]
	}
	for k, def := range spec.params {
		if _, ok := out[k]; !ok && def != "" {
			out[k] = def
		}
	}
	for _, k := range spec.required {
		if out[k] == "" {
			return nil, apiErr("InvalidParameters", "Parameter %q is required by document %s.", k, doc)
		}
	}
	for _, k := range []string{"portNumber", "localPortNumber"} {
		v, ok := out[k]
		if !ok {
			continue
		}
		n, err := strconv.Atoi(v)
		min := 1
		if k == "localPortNumber" {
			min = 0
		}
		if err != nil || n < min || n > 65535 {
			return nil, apiErr("InvalidParameters", "Parameter %q of document %s must be a port number, got %q.", k, doc, v)
		}
	}
	return out, nil
}

func (a *apiServer) lookupSession(r *APIRequest) (*gwSession, error) {
	var in sessionIDInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if in.SessionId == "" || len(in.SessionId) > 96 {
		return nil, validationErr("Value '%s' at 'sessionId' failed to satisfy constraint: Member must have length between 1 and 96", in.SessionId)
	}
	s, ok := a.sb.gw.session(in.SessionId)
	if !ok || s.account != r.Account || s.region != r.Region {
		return nil, apiErr("DoesNotExistException", "Session %s does not exist", in.SessionId)
	}
	return s, nil
}

func (a *apiServer) resumeSession(r *APIRequest) (any, error) {
	s, err := a.lookupSession(r)
	if err != nil {
		return nil, err
	}
	if s.ended() {
		return nil, apiErr("DoesNotExistException", "Session %s does not exist", s.id)
	}
	if a.sb.gw.opts.NewCellOnResume {
		s.newCell()
	}
	tok := s.mintClientToken()
	return sessionTokenOutput{SessionId: s.id, TokenValue: tok, StreamUrl: a.sb.gw.streamURL(r, s)}, nil
}

func (a *apiServer) terminateSession(r *APIRequest) (any, error) {
	s, err := a.lookupSession(r)
	if err != nil {
		return nil, err
	}
	s.terminate()
	return map[string]string{"SessionId": s.id}, nil
}

func (a *apiServer) describeSessions(r *APIRequest) (any, error) {
	var in describeSessionsInput
	if err := decodeJSON(r, &in); err != nil {
		return nil, err
	}
	if in.State != "Active" && in.State != "History" {
		return nil, validationErr("Value '%s' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]", in.State)
	}
	max := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 200 {
			return nil, validationErr("Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 200", *in.MaxResults)
		}
		max = *in.MaxResults
	}
	type filter func(s sessionOut) bool
	var filters []filter
	for _, f := range in.Filters {
		v := f.Value
		switch f.Key {
		case "Target":
			filters = append(filters, func(s sessionOut) bool { return s.Target == v })
		case "Owner":
			filters = append(filters, func(s sessionOut) bool { return s.Owner == v })
		case "Status":
			filters = append(filters, func(s sessionOut) bool { return s.Status == v })
		case "SessionId":
			filters = append(filters, func(s sessionOut) bool { return s.SessionId == v })
		case "AccessType":
			filters = append(filters, func(s sessionOut) bool { return s.AccessType == v })
		case "InvokedAfter", "InvokedBefore":
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return nil, apiErr("InvalidFilterValue", "The filter value %q for %s is not a valid date, use 2018-08-29T00:00:00Z.", v, f.Key)
			}
			sec := float64(t.UnixMilli()) / 1000
			if f.Key == "InvokedAfter" {
				filters = append(filters, func(s sessionOut) bool { return s.StartDate >= sec })
			} else {
				filters = append(filters, func(s sessionOut) bool { return s.StartDate <= sec })
			}
		default:
			return nil, apiErr("InvalidFilterKey", "The filter key %q is not valid.", f.Key)
		}
	}
	var all []sessionOut
	for _, s := range a.sb.gw.sessionsOf(r.Account, r.Region) {
		o := s.describe()
		active := o.EndDate == nil
		if active != (in.State == "Active") {
			continue
		}
		keep := true
		for _, f := range filters {
			keep = keep && f(o)
		}
		if keep {
			all = append(all, o)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].StartDate > all[j].StartDate })
	start := 0
	if in.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(in.NextToken)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "sessions:"))
		if err != nil || err2 != nil || n < 0 || n > len(all) {
			return nil, apiErr("InvalidNextToken", "The specified token is not valid.")
		}
		start = n
	}
	end := min(start+max, len(all))
	out := struct {
		Sessions  []sessionOut
		NextToken string `json:",omitempty"`
	}{Sessions: all[start:end]}
	if out.Sessions == nil {
		out.Sessions = []sessionOut{}
	}
	if end < len(all) {
		out.NextToken = base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "sessions:%d", end))
	}
	return out, nil
}
