package sandbox

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// APIRequest is one decoded AWS API call as the handlers see it.
type APIRequest struct {
	HTTP        *http.Request
	Service     string // signing name from the credential scope: ssm, ec2, sts, iam, ec2-instance-connect, kms
	Op          string // operation name: StartSession, DescribeInstances, …
	Region      string // from the credential scope
	AccessKeyID string // from the credential scope
	Account     *Account
	Body        []byte     // JSON protocols
	Form        url.Values // query protocols
	RequestID   string
	// NotBefore, when set (by the latency knob), holds the answer back until
	// then, so the configured latency includes the emulator's own work.
	NotBefore time.Time
	arrived   time.Time
}

// APIError is an AWS error as the real service would send it. Status
// defaults to 400.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

// apiErr builds a 400 APIError.
func apiErr(code, format string, args ...any) *APIError {
	return &APIError{Status: http.StatusBadRequest, Code: code, Message: fmt.Sprintf(format, args...)}
}

// jsonHandler serves an awsJson1_1 operation: the returned value is encoded
// as the JSON response body.
type jsonHandler func(r *APIRequest) (any, error)

// queryHandler serves an ec2Query/awsQuery operation: the returned value is
// XML-encoded as the whole response document.
type queryHandler func(r *APIRequest) (any, error)

// apiServer routes AWS API calls arriving on the sandbox's HTTP port.
type apiServer struct {
	sb    *Sandbox
	log   *slog.Logger
	json  map[string]jsonHandler  // key: X-Amz-Target, e.g. AmazonSSM.StartSession
	query map[string]queryHandler // key: service + "." + Action, e.g. ec2.DescribeInstances
	// admit runs before every call (latency, throttling knobs); nil = admit all.
	admit    func(r *APIRequest) error
	limits   *limiter      // latency/throttling knobs and call counters (limits.go)
	ec2XML   sync.Map      // *Instance → its rendered DescribeInstances item (instanceXML)
	byRegion sync.Map      // (account, region) → its instances (regionInstances)
	net      *networkModel // VPC and IAM model (network.go); nil in bare test servers
	kms      *kmsModel     // KMS master key (api_kms.go)
}

func newAPIServer(sb *Sandbox) *apiServer {
	a := &apiServer{sb: sb, log: sb.log.With("part", "api"), json: map[string]jsonHandler{}, query: map[string]queryHandler{}}
	a.registerSessionAPI()
	a.registerInventoryAPI()
	a.registerEICAPI()
	a.registerNetworkAPI()
	a.registerKMSAPI()
	return a
}

// ServeHTTP dispatches one call: JSON protocols by X-Amz-Target, query
// protocols by the credential scope's service and the form's Action.
func (a *apiServer) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	r := &APIRequest{HTTP: hr, RequestID: uuid.NewString(), arrived: time.Now()}
	w = &pacedWriter{ResponseWriter: w, r: r}
	r.AccessKeyID, r.Region, r.Service = parseScope(hr.Header.Get("Authorization"))
	body, err := io.ReadAll(io.LimitReader(hr.Body, 8<<20))
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	target := hr.Header.Get("X-Amz-Target")
	if target != "" {
		r.Body = body
		r.Op = target[strings.LastIndexByte(target, '.')+1:]
		h, ok := a.json[target]
		if !ok {
			a.writeJSONError(w, r, &APIError{Status: 400, Code: "UnknownOperationException", Message: "unknown operation " + target})
			return
		}
		if err := a.prepare(r); err != nil {
			a.writeJSONError(w, r, err)
			return
		}
		out, err := h(r)
		if err != nil {
			a.writeJSONError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-RequestId", r.RequestID)
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	r.Form = form
	r.Op = form.Get("Action")
	h, ok := a.query[r.Service+"."+r.Op]
	if !ok {
		a.writeQueryError(w, r, &APIError{Status: 400, Code: "InvalidAction", Message: fmt.Sprintf("The action %s is not valid for this web service.", r.Op)})
		return
	}
	if err := a.prepare(r); err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	out, err := h(r)
	if err != nil {
		a.writeQueryError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-RequestId", r.RequestID)
	if xb, ok := out.(xmlBody); ok {
		bp := xmlBufs.Get().(*[]byte)
		b := xb.appendXML(append((*bp)[:0], xml.Header...))
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
		*bp = b
		xmlBufs.Put(bp)
		return
	}
	_, _ = io.WriteString(w, xml.Header)
	_ = xml.NewEncoder(w).Encode(out)
}

// pacedWriter holds an answer back until its request's NotBefore.
type pacedWriter struct {
	http.ResponseWriter
	r      *APIRequest
	waited bool
}

func (p *pacedWriter) wait() {
	if p.waited {
		return
	}
	p.waited = true
	if d := time.Until(p.r.NotBefore); d > 0 {
		_ = sleepCtx(p.r.HTTP.Context(), d) // a client that left gets nothing anyway
	}
}

func (p *pacedWriter) WriteHeader(code int) {
	p.wait()
	p.ResponseWriter.WriteHeader(code)
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	p.wait()
	return p.ResponseWriter.Write(b)
}

// prepare resolves the caller's account and applies the admission knobs.
func (a *apiServer) prepare(r *APIRequest) error {
	if a.limits != nil {
		a.limits.pace(r) // errors take their round trip too
	}
	acct, ok := a.sb.fleet.AccountByKey(r.AccessKeyID)
	if !ok {
		return &APIError{Status: 403, Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
	}
	r.Account = acct
	if acct.RegionDenied(r.Region) {
		return &APIError{Status: 400, Code: accessDeniedCode(r.Service), Message: fmt.Sprintf("User: %s is not authorized to perform: %s:%s in region %s", acct.arn(), r.Service, r.Op, r.Region)}
	}
	if a.admit != nil {
		return a.admit(r)
	}
	return nil
}

func accessDeniedCode(service string) string {
	if service == "ec2" {
		return "UnauthorizedOperation"
	}
	return "AccessDeniedException"
}

func (a *Account) arn() string {
	if a.UserARN != "" {
		return a.UserARN
	}
	return "arn:aws:iam::" + a.ID + ":user/sandbox"
}

func asAPIError(err error) *APIError {
	var ae *APIError
	if errors.As(err, &ae) {
		if ae.Status == 0 {
			ae.Status = http.StatusBadRequest
		}
		return ae
	}
	return &APIError{Status: 500, Code: "InternalServerError", Message: err.Error()}
}

func (a *apiServer) writeJSONError(w http.ResponseWriter, r *APIRequest, err error) {
	ae := asAPIError(err)
	a.log.Debug("api error", "op", r.Op, "region", r.Region, "code", ae.Code)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", r.RequestID)
	w.WriteHeader(ae.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": ae.Code, "message": ae.Message})
}

func (a *apiServer) writeQueryError(w http.ResponseWriter, r *APIRequest, err error) {
	ae := asAPIError(err)
	a.log.Debug("api error", "op", r.Op, "region", r.Region, "code", ae.Code)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("X-Amzn-RequestId", r.RequestID)
	w.WriteHeader(ae.Status)
	var buf strings.Builder
	if r.Service == "ec2" {
		// ec2Query: <Response><Errors><Error>…</Error></Errors><RequestID>…</RequestID></Response>
		buf.WriteString("<Response><Errors><Error><Code>")
		xml.EscapeText(&buf, []byte(ae.Code))
		buf.WriteString("</Code><Message>")
		xml.EscapeText(&buf, []byte(ae.Message))
		buf.WriteString("</Message></Error></Errors><RequestID>" + r.RequestID + "</RequestID></Response>")
	} else {
		// awsQuery (sts, iam)
		buf.WriteString("<ErrorResponse><Error><Type>Sender</Type><Code>")
		xml.EscapeText(&buf, []byte(ae.Code))
		buf.WriteString("</Code><Message>")
		xml.EscapeText(&buf, []byte(ae.Message))
		buf.WriteString("</Message></Error><RequestId>" + r.RequestID + "</RequestId></ErrorResponse>")
	}
	_, _ = io.WriteString(w, buf.String())
}

// parseScope extracts access key ID, region and service from a SigV4
// Authorization header: "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, …".
func parseScope(auth string) (akid, region, service string) {
	i := strings.Index(auth, "Credential=")
	if i < 0 {
		return "", "", ""
	}
	cred := auth[i+len("Credential="):]
	if j := strings.IndexAny(cred, ", "); j >= 0 {
		cred = cred[:j]
	}
	parts := strings.Split(cred, "/")
	if len(parts) < 4 {
		return "", "", ""
	}
	return parts[0], parts[2], parts[3]
}

// decodeJSON unmarshals a JSON 1.1 request body into v, answering the
// SerializationException the real services send for malformed input.
func decodeJSON(r *APIRequest, v any) error {
	if len(r.Body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		return apiErr("SerializationException", "could not parse request body: %v", err)
	}
	return nil
}
